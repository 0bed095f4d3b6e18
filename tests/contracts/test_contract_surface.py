"""The flows over the front end's surface (contracts/surface.py), beyond their planted defects
(test_contract_defects.py): what they leave behind on a target, how they wait for a sandbox that
takes real time, what they do on a spec without an operation they need, and what they cost.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from contract_variants import ALICE, BOB, JsonRewriter, Scope, faithful

from mockserver.contracts.operations import SURFACE
from mockserver.contracts.options import ContractOptions
from mockserver.contracts.report import ContractReport, format_report
from mockserver.contracts.runner import run_contract
from mockserver.serving import ServedApp
from mockserver.settings import DEFAULT_SPEC

SURFACE_FLOWS = ("sandbox_active", "read_back", "turn_persisted", "read_marks", "rename_visible", "delete_gone",
                 "cross_account")


def options(base_url: str, **config: Any) -> ContractOptions:
    return ContractOptions(api_key=ALICE, other_api_key=BOB, base_url=base_url, seed=7, baseline="none",
                           request_timeout=5.0, **{"flows": SURFACE_FLOWS, "phases": (), **config})


def created(report: ContractReport) -> dict[str, list[str]]:
    """The ids the run says it created, by kind ("session", "chat", "room"); the other account's sessions
    under "other"."""
    note = next(note for note in report.notes if note.startswith("created: "))
    found: dict[str, list[str]] = {"session": [], "other": [], "chat": [], "room": []}
    for item in note.removeprefix("created: ").split(", "):
        match = re.match(r"(session|chat|room) ([0-9a-f-]{36})( \(other account\))?", item)
        if match:
            found["other" if match.group(3) else match.group(1)].append(match.group(2))
    return found


def test_the_flows_clean_up_what_they_made() -> None:
    """Every chat and room the flows made is deleted, every session they made (ours, the other account's,
    the headless run's) archived, so that the sidebar shows none of them; nothing is said to be left."""
    with ServedApp(faithful()) as served:
        report = run_contract(options(served.base_url, flows=(*SURFACE_FLOWS, "run_lifecycle")))
        assert report.passed, format_report(report)
        made = created(report)
        with httpx.Client(base_url=served.base_url, timeout=5) as client:
            alice, bob = {"x-api-key": ALICE}, {"x-api-key": BOB}
            for chat in made["chat"] + made["room"]:
                assert client.get(f"/api/chats/{chat}/messages", headers=alice).status_code == 404, chat
            for who, sessions in ((alice, made["session"]), (bob, made["other"])):
                for session in sessions:
                    answer = client.get(f"/api/sessions/{session}", headers=who)
                    assert answer.json()["session"]["status"] == "archived", answer.text
            sidebar = client.get("/api/chats", headers=alice).json()["chats"]
    assert len(made["session"]) >= 4 and made["other"] and len(made["chat"]) >= 5 and len(made["room"]) >= 3, made
    assert not {row["sessionId"] for row in sidebar} & set(made["session"]), sidebar
    assert not any(note.startswith("cleanup:") for note in report.notes), report.notes
    assert {label for part, label in report.groups if part == "flow:cleanup"} == {
        "DELETE /api/sessions/{sessionId}/chats/{chatId}", "DELETE /api/chats", "PATCH /api/sessions/{sessionId}"}


def test_what_could_not_be_cleaned_up_is_named() -> None:
    """An operation the run may not call (--exclude) leaves the sessions as they are: the note says which."""
    with ServedApp(faithful()) as served:
        report = run_contract(options(served.base_url, flows=("read_back",), exclude=("patchSession",)))
    assert report.passed, format_report(report)
    (note,) = [note for note in report.notes if note.startswith("cleanup: not cleaned up: ")]
    sessions = created(report)["session"]
    assert sessions and all(f"session {session} (--exclude)" in note for session in sessions), note


class ActivatesLate(JsonRewriter):
    """Not a defect: a sandbox whose status reads `no_sandbox` for the first three reads after `POST
    /api/sandbox` answered (a deployment that records the sandbox a little after answering)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.reads = 0

    def applies(self, scope: Scope, status: int) -> bool:
        return status == 200 and scope["method"] == "GET" and scope["path"] == "/api/sandbox/status"

    def rewrite(self, body: Any) -> Any:
        self.reads += 1
        return {**body, "status": "no_sandbox"} if self.reads <= 3 else body


def test_the_sandbox_is_polled_until_it_is_active() -> None:
    """Paced like a deployment (the provisioning wait is real) and slow to report it: the flow reads the
    status until it says `active`, within the wait the POST reported and the request timeout."""
    app = ActivatesLate(faithful(speed=1.0))
    with ServedApp(app) as served:
        report = run_contract(options(served.base_url, flows=("sandbox_active",)))
    assert report.passed, format_report(report)
    assert app.reads == 4
    assert report.check_runs["status_code_conformance"] >= 6  # provisioning, four status reads, session, reconnect


def test_a_flow_is_skipped_when_the_spec_lacks_an_operation_it_needs(tmp_path: Path) -> None:
    document = yaml.safe_load(DEFAULT_SPEC.read_text(encoding="utf-8"))
    del document["paths"]["/api/sandbox/reconnect"]
    spec = tmp_path / "no-reconnect.yaml"
    spec.write_text(yaml.safe_dump(document), encoding="utf-8")
    with ServedApp(faithful()) as served:
        report = run_contract(options(served.base_url, spec=spec))
    assert report.passed, format_report(report)
    for flow in ("sandbox_active", "cross_account"):
        assert (f"flow {flow}: skipped, no-reconnect.yaml does not have GET /api/sandbox/reconnect"
                in report.notes), report.notes
        assert not any(part == f"flow:{flow}" for part, _ in report.groups)
    assert any(part == "flow:read_marks" for part, _ in report.groups)  # the others ran


def test_the_surface_flows_reach_every_operation_of_the_surface_with_one_agent_run() -> None:
    with ServedApp(faithful()) as served:
        report = run_contract(options(served.base_url, max_streams=20))
    assert report.passed, format_report(report)
    reached = {label for part, label in report.groups if part.startswith("flow:")}
    assert set(SURFACE) <= reached, sorted(set(SURFACE) - reached)
    assert report.streams_sent == {"flows": 1}  # the turn they share


@pytest.mark.parametrize("flow", SURFACE_FLOWS)
def test_each_surface_flow_runs_alone(flow: str) -> None:
    """Each flow makes what it needs (a turn, when it needs one) when it runs alone."""
    with ServedApp(faithful()) as served:
        report = run_contract(options(served.base_url, flows=(flow,)))
    assert report.passed, format_report(report)
    assert any(part == f"flow:{flow}" for part, _ in report.groups)
