"""Known drift (contracts/baselines/) tells the deployed server's documented differences from new regressions."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from contract_variants import (
    ALICE,
    BOB,
    DEFECTS,
    ASGIApp,
    DropFirstTextStart,
    faithful,
)
from schemathesis.baseline import Baseline

from mockserver import Settings, create_app
from mockserver.cli import main
from mockserver.contracts import baseline as baselines
from mockserver.contracts.options import ContractOptions
from mockserver.contracts.report import ContractReport, format_report
from mockserver.contracts.runner import run_contract
from mockserver.serving import ServedApp

DRIFT_DOC = Path(__file__).resolve().parents[2] / "docs" / "drift.md"


def deployed() -> ASGIApp:
    """The mock under the deployed profile: production's drift (docs/drift.md), from the profile itself."""
    return create_app(Settings(speed=0, access_log=False, profile="deployed"))


def run(app: Any, **config: Any) -> ContractReport:
    with ServedApp(app) as served:
        return run_contract(ContractOptions(api_key=ALICE, other_api_key=BOB, base_url=served.base_url, seed=7,
                                            max_examples=5, **config))


@pytest.fixture(scope="module")
def drift_report() -> ContractReport:
    """Every flow, and the coverage phase on two operations whose drift no flow meets (the flows reach every
    operation of the surface, and a failure found twice is reported once, as the flow's): an unknown run's
    404 body, the legacy preflight's 404, against the deployed profile."""
    return run(deployed(), baseline="none", phases=("coverage",),
               include=("getChatRunStatus", "legacyChatOptions"))


def test_drift_fails_without_the_baseline(drift_report: ContractReport) -> None:
    assert not drift_report.passed
    assert {"response_schema_conformance", "busy_chat_conflict", "chat_turn_streams",
            "foreign_chat_forbidden"} <= drift_report.checks_failed


def test_the_bundled_baseline_accounts_for_all_of_it(drift_report: ContractReport) -> None:
    report = ContractReport(base_url=drift_report.base_url, target=drift_report.target, seed=drift_report.seed,
                            findings=[dataclasses.replace(finding) for finding in drift_report.findings])
    baselines.apply(report, baselines.BUNDLED)
    assert report.passed, format_report(report)
    assert report.known_findings
    assert all(finding.drift for finding in report.known_findings)
    assert {f.source for f in report.known_findings} >= {"flow:chat_turn", "phase:coverage"}


def test_a_new_regression_still_fails_on_top_of_known_drift() -> None:
    report = run(DropFirstTextStart(deployed()), baseline=baselines.BUNDLED,
                 flows=("chat_turn",), phases=())
    assert report.checks_failed == {"stream_ordering"}, format_report(report)
    assert any(f.identity[1] == "chat_turn_streams" for f in report.known_findings)
    text = format_report(report)
    assert "FAILURES (1)" in text and "KNOWN DRIFT (baseline)" in text


def _drift_rows() -> set[str]:
    rows = set()
    for line in DRIFT_DOC.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (.+?) \| ", line)
        if match and match.group(1) not in ("what", "---"):
            rows.add(match.group(1))
    return rows


def test_the_bundled_baseline_is_a_schemathesis_baseline_naming_drift_rows() -> None:
    loaded = Baseline.load(baselines.BUNDLED)
    assert loaded.entries
    rows = _drift_rows()
    for entry in loaded.entries:
        drift = entry.extra.get("drift", "")
        assert drift in rows or drift.startswith("not deployed:"), (entry.id, drift)
        assert entry.extra.get("why")
    document = json.loads(baselines.BUNDLED.read_text(encoding="utf-8"))
    assert document["format_version"] == 1
    assert document["targets"]


def test_the_bundled_baseline_applies_to_its_targets_only() -> None:
    production = baselines.targets(baselines.BUNDLED)[0]
    assert baselines.select(production + "/", explicit=None, bundled_mock=False) == baselines.BUNDLED
    assert baselines.select("http://127.0.0.1:4010", explicit=None, bundled_mock=False) is None
    assert baselines.select(production, explicit="none", bundled_mock=False) is None
    mine = Path("mine.json")
    assert baselines.select("http://127.0.0.1:4010", explicit=mine, bundled_mock=False) == mine


def test_baseline_update_records_new_failures(tmp_path: Path, drift_report: ContractReport) -> None:
    path = tmp_path / "baseline.json"
    added = baselines.update(drift_report, path)
    assert added == len({f.identity for f in drift_report.findings})
    assert baselines.update(drift_report, path) == 0
    assert all(entry.extra["drift"] == "unclassified" for entry in Baseline.load(path).entries)


#: Planted defects (those of the defect tests) a team accepts as today's drift; the flows and the coverage
#: of resume reach them all.
ACCEPTED = ("run-id-header-missing", "no-content-as-empty-stream", "error-message-renamed", "status-outside-enum",
            "server-error-on-edge-input")


def planted(*names: str) -> ASGIApp:
    app = faithful()
    for name in names:
        app = DEFECTS[name][0](app)
    return app


def test_update_baseline_then_only_new_regressions_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    accepted, summary = tmp_path / "staging-baseline.json", tmp_path / "contract.md"

    def contract(app: ASGIApp, *extra: str) -> tuple[int, str]:
        with ServedApp(app) as served:
            code = main(["contract", "--base-url", served.base_url, "--api-key", ALICE, "--other-api-key", BOB,
                         "--seed", "3", "--flows", "chat_turn,resume_idle,credentials,run_lifecycle",
                         "--phases", "coverage", "--include", "resumeChatStream", *extra])
        return code, capsys.readouterr().out

    code, out = contract(planted(*ACCEPTED), "--update-baseline", str(accepted))
    assert code == 1, out
    entries = Baseline.load(accepted).entries
    assert {DEFECTS[name][1] for name in ACCEPTED} <= {entry.check for entry in entries}, out
    assert all(entry.extra["why"] == "" for entry in entries)  # for a person to fill in
    assert f"baseline {accepted}: {len(entries)} new entr(y/ies) recorded (fill in each `why`)" in out

    code, out = contract(planted(*ACCEPTED), "--baseline", str(accepted), "--report", str(summary))
    assert code == 0, out
    assert f"recoup-mock contract PASSED: 0 failure(s), {len(entries)} known drift" in out
    markdown = summary.read_text(encoding="utf-8")
    assert "## recoup-mock contract: PASSED" in markdown
    assert f"<details><summary>Known drift: {len(entries)} failure(s)" in markdown

    code, out = contract(DropFirstTextStart(planted(*ACCEPTED)), "--baseline", str(accepted))
    assert code == 1, out
    failures = out.split("==================== FAILURES")[1].split("==================== KNOWN DRIFT")[0]
    assert "check: stream_ordering" in failures
    assert all(check not in failures for check in ("resume_no_content", "not_a_server_error"))
