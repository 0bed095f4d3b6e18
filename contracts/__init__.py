"""Schemathesis contract suites that check the mock, or a real deployment, against ``openapi/chat.yaml``
(or any version of the spec: ``--spec FILE``, OpenAPI 3.1 or 3.2).

``recoup-mock contract`` and ``pytest contracts`` both run `run_contract`: scripted flows (409, 403,
401, 204, the run lifecycle, whole streams, and the state behind the front end's surface) and the
Schemathesis phases (examples, coverage, fuzzing, stateful) with the built-in checks plus custom
stream checks, then a cleanup of what the flows made. Importing this package is cheap; Schemathesis
is imported when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .options import ContractOptions
    from .report import ContractReport

__all__ = ["ContractOptions", "ContractReport", "run_contract"]


def run_contract(options: ContractOptions, progress: Any = None) -> ContractReport:
    """Run the suite (see `contracts.runner.run_contract`)."""
    from .runner import run_contract as run

    return run(options, progress)


def __getattr__(name: str) -> Any:
    if name == "ContractOptions":
        from .options import ContractOptions

        return ContractOptions
    if name == "ContractReport":
        from .report import ContractReport

        return ContractReport
    raise AttributeError(name)
