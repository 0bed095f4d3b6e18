"""``pytest contracts --base-url URL --api-key KEY [--other-api-key KEY] [--max-examples N] [--seed N] [--max-time S]``.

The same run as ``recoup-mock contract`` (without ``--base-url`` it starts the bundled mock), reported
as one pytest test per flow and per Schemathesis phase; the full report is printed at the end.
``RECOUP_CONTRACT_*`` variables apply here too (see `contracts.options`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from .options import ContractOptions

_OPTIONS = (
    ("--base-url", "base_url", str, "the API to test (default: the bundled mock on a free port)"),
    ("--api-key", "contract_api_key", str, "the account the suite acts as (required)"),
    ("--other-api-key", "contract_other_api_key", str, "a second account (403s, object_level_authorization)"),
    ("--max-examples", "contract_max_examples", int, "test cases per operation and phase"),
    ("--seed", "contract_seed", int, "seed of the generated data"),
    ("--max-time", "contract_max_time", float, "stop sending after S seconds"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("recoup-contract", "recoup-mock contract suite")
    for flag, dest, kind, help_text in _OPTIONS:
        # Another plugin (pytest-base-url) may already define --base-url, with the same dest.
        with contextlib.suppress(ValueError):
            group.addoption(flag, dest=dest, type=kind, default=None, help=help_text)


def contract_options(config: pytest.Config) -> ContractOptions:
    def get(dest: str) -> Any:
        return config.getoption(dest, default=None)

    api_key = get("contract_api_key")
    if not api_key:
        raise pytest.UsageError("pytest contracts needs --api-key KEY (and usually --other-api-key KEY)")
    return ContractOptions.from_env(
        api_key=api_key, base_url=get("base_url"), other_api_key=get("contract_other_api_key"),
        max_examples=get("contract_max_examples"), seed=get("contract_seed"), max_time=get("contract_max_time"),
    )


_REPORTS: list[Any] = []


@pytest.fixture(scope="session")
def contract_report(pytestconfig: pytest.Config) -> Any:
    from .runner import run_contract

    report = run_contract(contract_options(pytestconfig))
    _REPORTS.append(report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from .report import format_report

    for report in _REPORTS:
        terminalreporter.section("recoup-mock contract")
        terminalreporter.write_line(format_report(report))
