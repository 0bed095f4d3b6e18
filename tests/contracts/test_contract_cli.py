"""``recoup-mock contract`` end to end, its failure output, and ``pytest contracts``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from contract_variants import ALICE, BOB, DropFirstTextStart, faithful

from mockserver.cli import main
from mockserver.contracts.operations import SURFACE, spec_operations
from mockserver.serving import ServedApp
from mockserver.settings import DEFAULT_SPEC

ROOT = Path(__file__).resolve().parents[2]


def passing_contract_run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[str, float]:
    """``recoup-mock contract`` against the bundled mock, as Alice and Bob: it must pass. Returns its
    output and the time it says it took, which is no more than the time it did take."""
    started = time.monotonic()
    code = main(["contract", "--api-key", ALICE, "--other-api-key", BOB, *args])
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 0, out
    took = re.search(r"took (\d+\.\d) s", out)
    assert took is not None and float(took.group(1)) <= elapsed + 0.1, out
    return out, float(took.group(1))


#: ``make test`` runs the whole suite with fewer generated examples (the coverage phase, every flow and every
#: operation are the same whatever the count); ``make stress`` runs it as a user does, with the default count.
FULL_SUITE_EXAMPLES = [pytest.param(("--max-examples", "15"), id="15-examples"),
                       pytest.param((), id="default-examples", marks=pytest.mark.stress)]


@pytest.mark.parametrize("examples", FULL_SUITE_EXAMPLES)
def test_full_suite_passes_on_the_bundled_mock(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               examples: tuple[str, ...]) -> None:
    """No --base-url: every operation, every phase, every flow, against the bundled mock at full speed. The
    JUnit report lists every operation of chat.yaml, and the flows reach each one of the front end's surface."""
    junit = tmp_path / "contract.xml"
    out, _ = passing_contract_run(capsys, "--seed", "4", "--junit", str(junit), *examples)
    assert "recoup-mock contract PASSED: 0 failure(s)" in out
    for part in ("flows", "phase:examples", "phase:coverage", "phase:fuzzing", "phase:stateful"):
        assert re.search(rf"{re.escape(part)} \d+", out), part
    for check in ("stream_ordering", "stream_closes", "workflow_run_id", "ignored_auth", "object_level_authorization",
                  "response_schema_conformance", "negative_data_rejection"):
        assert re.search(rf"{check} [1-9]\d*", out), check
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "0"
    assert int(suite.get("tests", "0")) > 20
    cases = [(case.get("classname", ""), case.get("name")) for case in suite.iter("testcase")]
    every = {operation.label for operation in spec_operations(DEFAULT_SPEC)}
    # (and the stateful phase's own group, "Stateful tests")
    assert len(every) == 29 and every <= {name for _, name in cases}, sorted(every - {name for _, name in cases})
    by_flows = {name for part, name in cases if part.startswith("flow:")}
    assert set(SURFACE) <= by_flows, sorted(set(SURFACE) - by_flows)
    assert "FAILURES" not in out and "cleanup: not cleaned up" not in out


def test_failures_print_operation_check_and_curl(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECOUP_CONTRACT_PHASES", "none")
    monkeypatch.setenv("RECOUP_CONTRACT_FLOWS", "chat_turn")
    junit = tmp_path / "junit.xml"
    with ServedApp(DropFirstTextStart(faithful())) as served:
        code = main(["contract", "--base-url", served.base_url, "--api-key", ALICE, "--junit", str(junit)])
    out = capsys.readouterr().out
    assert code == 1
    assert "1. POST /api/chat  --  check: stream_ordering  [flow:chat_turn]" in out
    assert "reproduce:" in out
    assert re.search(r"curl -N -X POST -H 'x-api-key: '\"\$RECOUP_API_KEY\" .* http://127\.0\.0\.1:\d+/api/chat", out)
    assert ALICE not in out  # keys are printed as $RECOUP_API_KEY
    assert "recoup-mock contract FAILED" in out
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert failures and all(failure.get("type") == "stream_ordering" for failure in failures)


def test_api_key_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["contract"])
    assert exit_info.value.code == 2
    assert "--api-key" in capsys.readouterr().err


def test_serve_and_validate_never_import_schemathesis() -> None:
    """The parser's contract flags come from the suite's option table, and that (with the spec's operations,
    which the options name) is all it loads of it."""
    code = ("import sys; from mockserver.cli import _parser; _parser().parse_args(['serve']); import mockserver.app; "
            "print(sorted(m for m in sys.modules "
            "if m.startswith(('schemathesis', 'hypothesis', 'mockserver.contracts'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == ("['mockserver.contracts', 'mockserver.contracts.operations', "
                                     "'mockserver.contracts.options']")


def _pytest_contracts(base_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECOUP_CONTRACT_PHASES": "none", "RECOUP_CONTRACT_FLOWS": "chat_turn,resume_idle"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "contracts", "-q", "-p", "no:cacheprovider", "--base-url", base_url,
         "--api-key", ALICE, *extra],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=120,
    )


def test_pytest_contracts_runs_the_same_suite(tmp_path: Path) -> None:
    summary = tmp_path / "contract.md"
    with ServedApp(faithful()) as served:
        passing = _pytest_contracts(served.base_url, "--seed", "3", "--report", str(summary))
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "recoup-mock contract PASSED" in passing.stdout
    # The same caps as the command, printed before anything is sent, and the same Markdown summary.
    assert passing.stdout.index("at most 20 requests that could start an agent run") < passing.stdout.index("PASSED")
    assert "Requests that could start an agent run: 4 sent (flows 4), at most 20" in passing.stdout
    assert summary.read_text(encoding="utf-8").startswith("## recoup-mock contract: PASSED")
    with ServedApp(DropFirstTextStart(faithful())) as served:
        failing = _pytest_contracts(served.base_url)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "test_contract[flow:chat_turn]" in failing.stdout
    assert "check stream_ordering" in failing.stdout


def test_max_time_bounds_the_whole_run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    budget, request_timeout = 4.0, 5.0
    monkeypatch.setenv("RECOUP_CONTRACT_REQUEST_TIMEOUT", str(request_timeout))
    out, took = passing_contract_run(capsys, "--seed", "5", "--max-time", str(budget))
    assert "--max-time was reached" in out
    # The run kept to its budget by its own clock: at most one request in flight after it, which the
    # request timeout bounds.
    assert took <= budget + request_timeout, out
