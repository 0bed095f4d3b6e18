"""Sessions: POST /api/sessions, GET and PATCH /api/sessions/{sessionId}, on one world's store."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    ALICE_ACCOUNT,
    SESSION_BOB,
    SESSION_READY,
    UNKNOWN_SESSION,
    Scheme,
    assert_error,
    assert_json,
)
from surface import (
    ALICE_H,
    ARTIST,
    BOB_H,
    CHAT_KEYS,
    SESSION_KEYS,
    new_session,
    ready_chat,
    sandbox_status,
    session_of,
    sidebar,
    turn,
)


def test_a_new_session_is_provisioning_with_its_first_chat(client: TestClient, scheme: Scheme) -> None:
    session, chat = new_session(client, scheme(ALICE), title="Release plan", artistId=ARTIST)
    assert set(session) == SESSION_KEYS
    assert (session["title"], session["userId"], session["artistId"]) == ("Release plan", ALICE_ACCOUNT, ARTIST)
    assert (session["status"], session["lifecycleState"], session["lifecycleVersion"]) == ("running", "provisioning", 0)
    assert session["sandboxState"] is None
    assert (session["lastActivityAt"], session["hibernateAfter"], session["sandboxExpiresAt"]) == (None, None, None)
    assert (session["linesAdded"], session["linesRemoved"]) == (0, 0)
    assert (session["repoOwner"], session["repoName"]) == ("recoupable", ALICE_ACCOUNT)
    assert set(chat) == CHAT_KEYS
    assert (chat["sessionId"], chat["title"]) == (session["id"], "New chat")
    assert session_of(client, session["id"]) == session


@pytest.mark.parametrize(("body", "title"), [({}, "New session"), ({"title": "   "}, "New session"),
                                             ({"title": "  Tour  "}, "Tour")])
def test_a_blank_title_gives_the_default(client: TestClient, body: dict[str, Any], title: str) -> None:
    session, _ = new_session(client, **body)
    assert session["title"] == title


def test_an_organisation_session_uses_its_repository(client: TestClient) -> None:
    org = "0a9a0000-0000-4000-8000-0000000000a9"
    session, _ = new_session(client, organizationId=org)
    assert session["repoName"] == org
    assert session["userId"] == ALICE_ACCOUNT


def test_rename_is_read_back(client: TestClient) -> None:
    session, _ = new_session(client, title="Draft")
    renamed = assert_json(client.patch(f"/api/sessions/{session['id']}", json={"title": "Release plan v2"},
                                       headers=ALICE_H))["session"]
    assert renamed["title"] == "Release plan v2"
    assert renamed["updatedAt"] > session["updatedAt"]
    assert session_of(client, session["id"]) == renamed


def test_line_counts_are_set(client: TestClient) -> None:
    session, _ = new_session(client)
    patched = assert_json(client.patch(f"/api/sessions/{session['id']}", json={"linesAdded": 12, "linesRemoved": 3.0},
                                       headers=ALICE_H))["session"]
    assert (patched["linesAdded"], patched["linesRemoved"]) == (12, 3)
    assert isinstance(patched["linesRemoved"], int)


@pytest.mark.parametrize("body", [{}, {"title": "Draft"}, {"unknown": 1}])
def test_a_patch_that_changes_nothing_writes_nothing(client: TestClient, body: dict[str, Any]) -> None:
    session, _ = new_session(client, title="Draft")
    same = assert_json(client.patch(f"/api/sessions/{session['id']}", json=body, headers=ALICE_H))["session"]
    assert same == session


def test_archive_stops_the_sandbox_and_hides_the_chats_and_unarchive_starts_over(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid)
    assert [c["id"] for c in sidebar(client)] == [cid]
    before = session_of(client, sid)
    assert (before["lifecycleState"], before["lifecycleVersion"]) == ("active", 1)

    archive = client.patch(f"/api/sessions/{sid}", json={"status": "archived"}, headers=ALICE_H)
    archived = assert_json(archive)["session"]
    assert (archived["status"], archived["lifecycleState"], archived["lifecycleVersion"]) == ("archived", "archived", 2)
    assert (archived["sandboxState"], archived["hibernateAfter"], archived["sandboxExpiresAt"]) == (None, None, None)
    assert sidebar(client) == []
    assert sandbox_status(client, sid)["status"] == "no_sandbox"
    assert_error(client.post("/api/chat", json={"chatId": cid, "sessionId": sid, "messages": []}, headers=ALICE_H),
                 400, contains="Sandbox not initialized")
    # Archiving again is no change at all.
    assert assert_json(client.patch(f"/api/sessions/{sid}", json={"status": "archived"}, headers=ALICE_H)) == {
        "session": archived}

    running = assert_json(client.patch(f"/api/sessions/{sid}", json={"status": "running"}, headers=ALICE_H))["session"]
    assert (running["status"], running["lifecycleState"], running["lifecycleVersion"]) == ("running", None, 3)
    assert [c["id"] for c in sidebar(client)] == [cid]
    assert sandbox_status(client, sid)["status"] == "no_sandbox"  # a new sandbox is needed


@pytest.mark.parametrize(("body", "names"), [
    ({"title": 5}, "title"),
    ({"status": "paused"}, "status"),
    ({"linesAdded": -1}, "linesAdded"),
    ({"linesRemoved": 1.5}, "linesRemoved"),
    ([{"title": "x"}], "object"),
])
def test_a_bad_patch_is_400_and_changes_nothing(client: TestClient, body: Any, names: str) -> None:
    session, _ = new_session(client, title="Draft")
    assert_error(client.patch(f"/api/sessions/{session['id']}", json=body, headers=ALICE_H), 400, contains=names)
    assert session_of(client, session["id"]) == session


def test_a_body_that_is_not_json_is_400(client: TestClient) -> None:
    session, _ = new_session(client)
    response = client.patch(f"/api/sessions/{session['id']}", content=b"{title:", headers={
        **ALICE_H, "content-type": "application/json"})
    assert_error(response, 400, contains="not valid JSON")


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("PATCH", {"title": "Mine now"})])
def test_another_accounts_session_is_403_and_unchanged(client: TestClient, method: str, body: Any) -> None:
    before = session_of(client, SESSION_BOB, BOB_H)
    assert_error(client.request(method, f"/api/sessions/{SESSION_BOB}", json=body, headers=ALICE_H), 403)
    assert session_of(client, SESSION_BOB, BOB_H) == before


@pytest.mark.parametrize(("method", "body"), [("GET", None), ("PATCH", {"title": "x"})])
def test_unknown_and_malformed_session_ids(client: TestClient, method: str, body: Any) -> None:
    assert_error(client.request(method, f"/api/sessions/{UNKNOWN_SESSION}", json=body, headers=ALICE_H), 404)
    assert_error(client.request(method, "/api/sessions/not-a-uuid", json=body, headers=ALICE_H), 400,
                 contains="sessionId")


def test_create_session_rejects_a_bad_body(client: TestClient) -> None:
    assert_error(client.post("/api/sessions", json={"artistId": "nope"}, headers=ALICE_H), 400, contains="artistId")
    assert_error(client.post("/api/sessions", json={"title": ["x"]}, headers=ALICE_H), 400, contains="title")
    assert_error(client.post("/api/sessions", json={}), 401)


def test_a_failing_rename_on_demand_changes_nothing(client: TestClient) -> None:
    session, _ = new_session(client, title="Draft")
    path = f"/api/sessions/{session['id']}"
    response = client.patch(path, json={"title": "New"}, headers={**ALICE_H, "prefer": "scenario=http-502"})
    assert_error(response, 502)
    assert session_of(client, session["id"])["title"] == "Draft"
    # Queued for this operation: a front end that cannot send Prefer. Other operations leave it alone.
    queued = assert_json(client.post("/__mock/scenarios/next", json={"name": "http-500", "operation": "patchSession"}))
    assert queued == {"queued": [], "byOperation": {"patchSession": ["http-500"]}}
    assert session_of(client, session["id"])["title"] == "Draft"
    assert_error(client.patch(path, json={"title": "New"}, headers=ALICE_H), 500)
    assert assert_json(client.patch(path, json={"title": "New"}, headers=ALICE_H))["session"]["title"] == "New"


def test_the_same_requests_after_a_reset_give_the_same_answers(client: TestClient) -> None:
    def sequence() -> list[Any]:
        session, chat = new_session(client, title="QA", artistId=ARTIST)
        patched = client.patch(f"/api/sessions/{session['id']}", json={"status": "archived"}, headers=ALICE_H).json()
        fixture = client.get(f"/api/sessions/{SESSION_READY}", headers=ALICE_H).json()
        return [session, chat, patched, fixture]

    first = sequence()
    assert_json(client.post("/__mock/reset"))
    assert sequence() == first
