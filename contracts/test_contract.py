"""The contract run as pytest tests: one per flow and one per Schemathesis phase.

The whole suite runs once (session fixture); each test fails with the new failures of its part.
Known drift (a baseline entry) never fails a test.
"""

from __future__ import annotations

from typing import Any

import pytest

from .options import FLOWS, PHASES

PARTS = ["flow:provision", *(f"flow:{name}" for name in FLOWS), *(f"phase:{name}" for name in PHASES), "phase:run",
         "flow:cleanup"]


@pytest.mark.parametrize("part", PARTS)
def test_contract(contract_report: Any, part: str) -> None:
    failures = [finding for finding in contract_report.new_findings if finding.source == part]
    if failures:
        lines = [f"{len(failures)} failure(s) in {part}:"]
        for finding in failures:
            lines.append(f"- {finding.operation} -- check {finding.check}: {finding.title}")
            lines.extend(f"    {line}" for line in finding.message.strip().splitlines()[:8])
            if finding.curl:
                lines.append(f"    reproduce: {finding.curl}")
        pytest.fail("\n".join(lines), pytrace=False)
