"""Proof that the contract suite works: each planted defect fails it, naming the right check; the mock passes.

Each defect run is restricted to the flows, phases and operations that reach the defect, so that
the whole module stays fast; the faithful mock then passes every one of those configurations (and
`test_contract_cli.py` runs the full suite against it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from contract_variants import ALICE, BOB, DEFECTS, EndlessStream, HideFixtureWorld, PostResumesLiveRun, faithful
from schemathesis.transport import requests as schemathesis_transport

from mockserver.contracts.options import ContractOptions
from mockserver.contracts.report import ContractReport, format_report
from mockserver.contracts.runner import run_contract
from mockserver.serving import ServedApp

SEED = 20261122
STREAM_FLOWS: dict[str, Any] = {"flows": ("chat_turn",), "phases": ()}
#: The read bound of the runs whose defect is a condition that never comes (a sandbox never active, a chat
#: never unread): the flow polls for it up to the request timeout, so it waits this out in full. The faithful
#: mock at full speed meets each condition on its first read.
NEVER_S = 1.5

#: What each defect run exercises: the smallest part of the suite that reaches the defect.
CONFIGS: dict[str, dict[str, Any]] = {
    "run-id-header-missing": STREAM_FLOWS,
    "no-content-as-empty-stream": {"flows": ("resume_idle",), "phases": ()},
    "text-start-dropped": STREAM_FLOWS,
    "unknown-chunk-type": STREAM_FLOWS,
    "extra-chunk-key": STREAM_FLOWS,
    "credentials-ignored": {"flows": (), "phases": ("fuzzing",), "include": ("createSession",)},
    "error-message-renamed": {"flows": ("credentials",), "phases": ()},
    "ok-instead-of-accepted": {"flows": ("run_lifecycle",), "phases": ()},
    "status-outside-enum": {"flows": ("run_lifecycle",), "phases": ()},
    # `startIndex=0` is the boundary value the coverage phase sends.
    "server-error-on-edge-input": {"flows": (), "phases": ("coverage",), "include": ("resumeChatStream",)},
    "stream-never-closes": {**STREAM_FLOWS, "request_timeout": 1.5},
    "peer-reads-sessions": {"flows": (), "phases": ("fuzzing",), "include": ("createSession", "getSession")},
    "sandbox-never-active": {"flows": ("sandbox_active",), "phases": (), "request_timeout": NEVER_S},
    "session-title-lost": {"flows": ("read_back",), "phases": ()},
    "answer-stored-under-another-id": {"flows": ("turn_persisted",), "phases": ()},
    "answer-text-altered": {"flows": ("turn_persisted",), "phases": ()},
    "deep-event": {"flows": ("turn_persisted",), "phases": ()},
    "session-chats-as-array": {"flows": ("read_back",), "phases": ()},
    "rename-not-in-sidebar": {"flows": ("rename_visible",), "phases": ()},
    "delete-keeps-chat": {"flows": ("delete_gone",), "phases": ()},
    "read-mark-ignored": {"flows": ("read_marks",), "phases": ()},
    "never-unread": {"flows": ("read_marks",), "phases": (), "request_timeout": NEVER_S},
    "peer-deletes-session-chats": {"flows": ("cross_account",), "phases": ()},
    "peer-renames-rooms": {"flows": ("cross_account",), "phases": ()},
}


def options(base_url: str, **config: Any) -> ContractOptions:
    return ContractOptions(api_key=ALICE, other_api_key=BOB, base_url=base_url, seed=SEED, max_examples=5,
                           request_timeout=config.pop("request_timeout", 5.0), baseline="none", **config)


def run(app: Any, **config: Any) -> ContractReport:
    with ServedApp(app) as served:
        return run_contract(options(served.base_url, **config))


def test_every_defect_has_a_configuration() -> None:
    assert set(CONFIGS) == set(DEFECTS)


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_planted_defect_is_caught_by_its_check(name: str) -> None:
    wrapper, check = DEFECTS[name]
    report = run(wrapper(faithful()), **CONFIGS[name])
    assert not report.passed, f"{name} went unnoticed:\n{format_report(report)}"
    assert check in report.checks_failed, f"{name} was not named by {check}:\n{format_report(report)}"
    caught = [finding for finding in report.new_findings if finding.check == check]
    # Every failure says where, what and how to reproduce it.
    assert all(finding.operation and finding.message and finding.curl for finding in caught)
    assert report.exit_code == 1
    if name == "stream-never-closes":
        # Streams that never close are each cut at the configured read bound, and said so.
        bound = CONFIGS[name]["request_timeout"]
        assert caught and all(finding.identity[3] == "timeout" for finding in caught)
        assert all(f"({bound:g} s)" in finding.message for finding in caught)


@pytest.fixture(scope="module")
def faithful_server() -> Any:
    with ServedApp(faithful()) as served:
        yield served


@pytest.mark.parametrize("config", sorted({json.dumps(c, sort_keys=True) for c in CONFIGS.values()}))
def test_faithful_mock_passes_each_configuration(faithful_server: ServedApp, config: str) -> None:
    settings = {key: tuple(value) if isinstance(value, list) else value for key, value in json.loads(config).items()}
    report = run_contract(options(faithful_server.base_url, **settings))
    assert report.passed, format_report(report)


def test_conflict_by_two_overlapping_posts_on_any_target() -> None:
    """Without the fixture world the 409 comes from two overlapping POSTs (first one `Prefer: scenario=slow`)."""
    config = {"flows": ("busy_conflict",), "phases": ()}
    paced = run(HideFixtureWorld(faithful(speed=1.0)), **config)
    assert paced.passed, format_report(paced)
    assert not any("fixture world" in note for note in paced.notes)
    assert paced.check_runs.get("stream_ordering", 0) >= 1  # the live run's resume was judged

    replaying = run(PostResumesLiveRun(HideFixtureWorld(faithful(speed=1.0))), **config)
    assert "busy_chat_conflict" in replaying.checks_failed, format_report(replaying)


def test_an_endless_stream_is_cut_at_the_byte_cap() -> None:
    """A stream that never stops sending is bounded by bytes too, not only by time: it is cut at the
    byte cap, long before its 30 s read bound. The cap is the run's own: Schemathesis' stock reader is
    back after it."""
    stock = schemathesis_transport._iter_event_stream
    assert stock.__module__ == schemathesis_transport.__name__
    report = run(EndlessStream(faithful()), flows=("chat_turn",), phases=(), request_timeout=30.0,
                 stream_byte_cap=256 * 1024)
    assert schemathesis_transport._iter_event_stream is stock
    closes = [finding for finding in report.new_findings if finding.check == "stream_closes"]
    assert closes and all(finding.identity[3] == "byte-cap" for finding in closes), format_report(report)
    assert "262144 bytes" in closes[0].message
