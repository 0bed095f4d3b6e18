"""``pytest contracts --api-key KEY [--base-url URL] [...]``: the options of ``recoup-mock contract``.

The same run as ``recoup-mock contract`` (without ``--base-url`` it starts the bundled mock),
reported as one pytest test per flow and per Schemathesis phase; the full report is printed at the
end. The flags are built from the same table (`contracts.options.OPTIONS`), and read and checked by
the same code: a bad value stops the session with the flag, the value and what is expected.
The plan (target, caps, scope, baseline) is printed before the tests run, at every verbosity;
``--dry-run`` prints all of it and skips every test.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest

from .options import ContractOptions, OptionError, argument_specs, flag_values

_OPTIONS = pytest.StashKey[ContractOptions]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("recoup-contract", "recoup-mock contract suite")
    for flag, kwargs in argument_specs():
        # Another plugin (pytest-base-url) may already define --base-url, with the same dest.
        with contextlib.suppress(ValueError):
            group.addoption(flag, **kwargs)


def contract_options(config: pytest.Config) -> ContractOptions:
    if _OPTIONS not in config.stash:
        try:
            options = ContractOptions.from_sources(flag_values(lambda dest: config.getoption(dest, default=None)))
        except OptionError as exc:
            raise pytest.UsageError(f"pytest contracts: {exc}") from None
        config.stash[_OPTIONS] = options
    return config.stash[_OPTIONS]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    contract_options(session.config)  # a bad option stops the session before anything is collected or sent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if contract_options(config).dry_run:
        for item in items:
            item.add_marker(pytest.mark.skip(reason="--dry-run: nothing was sent"))


def pytest_collection_finish(session: pytest.Session) -> None:
    """The plan, caps included, before anything is sent (not in the report header, which -q hides)."""
    from .plan import describe

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    options = contract_options(session.config)
    reporter.ensure_newline()
    for line in describe(options, full=options.dry_run):
        reporter.write_line(line)


_REPORTS: list[Any] = []


@pytest.fixture(scope="session")
def contract_report(pytestconfig: pytest.Config) -> Any:
    from .runner import run_contract, write_outputs

    options = contract_options(pytestconfig)
    report = run_contract(options)
    write_outputs(report, options)
    _REPORTS.append(report)
    return report


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from .report import format_report

    for report in _REPORTS:
        terminalreporter.section("recoup-mock contract")
        terminalreporter.write_line(format_report(report))
