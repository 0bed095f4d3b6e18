"""The sandbox of a session (POST /api/sandbox, GET /api/sandbox/status and /reconnect) over its
lifecycle on the world's clock, and the clock call (POST /__mock/clock) that moves it."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    SESSION_BOB,
    SESSION_READY,
    UNKNOWN_SESSION,
    Scheme,
    assert_error,
    assert_json,
    chat_body,
)
from surface import (
    ALICE_H,
    BOB_H,
    EXPIRE_MS,
    HIBERNATE_MS,
    PROVISION_MS,
    REPO,
    advance,
    new_session,
    provision,
    ready_chat,
    reconnect,
    sandbox_status,
    session_of,
    turn,
    world_time,
)

EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z, where every world's clock starts


def test_a_new_session_has_no_sandbox(client: TestClient, scheme: Scheme) -> None:
    session, _ = new_session(client, scheme(ALICE))
    now = world_time(client)
    assert sandbox_status(client, session["id"], scheme(ALICE)) == {
        "status": "no_sandbox", "hasSnapshot": False, "lifecycleVersion": 0,
        "lifecycle": {"serverTime": now, "state": "provisioning", "lastActivityAt": None, "hibernateAfter": None,
                      "sandboxExpiresAt": None}}
    assert reconnect(client, session["id"], scheme(ALICE))["status"] == "no_sandbox"


def test_provisioning_takes_its_time_on_the_worlds_clock_then_the_sandbox_is_active(client: TestClient) -> None:
    session, _ = new_session(client)
    before = world_time(client)
    created = provision(client, session["id"])
    assert created["createdAt"] >= before + PROVISION_MS  # the clock moved on by the provisioning time
    assert (created["timeout"], created["timing"], created["mode"]) == (EXPIRE_MS, {"readyMs": PROVISION_MS}, "vercel")
    status = sandbox_status(client, session["id"])
    started = created["createdAt"]
    assert status == {"status": "active", "hasSnapshot": False, "lifecycleVersion": 1,
                      "lifecycle": {"serverTime": status["lifecycle"]["serverTime"], "state": "active",
                                    "lastActivityAt": started, "hibernateAfter": started + HIBERNATE_MS,
                                    "sandboxExpiresAt": started + EXPIRE_MS}}
    again = reconnect(client, session["id"])
    assert (again["status"], again["expiresAt"], again["hasSnapshot"]) == ("connected", started + EXPIRE_MS, False)
    shown = session_of(client, session["id"])
    assert (shown["lifecycleState"], shown["lifecycleVersion"]) == ("active", 1)
    assert shown["sandboxState"] == {"type": "vercel", "sandboxName": f"session-{session['id']}",
                                     "expiresAt": started + EXPIRE_MS}
    # Already active: answered at once, no transition, the clock not moved by a provisioning time.
    at = world_time(client)
    second = provision(client, session["id"])
    assert (second["createdAt"], second["timing"]) == (started, {"readyMs": 0})
    assert world_time(client) < at + PROVISION_MS
    assert sandbox_status(client, session["id"])["lifecycleVersion"] == 1


def test_idle_past_five_minutes_hibernates_and_post_resumes(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    started = sandbox_status(client, sid)["lifecycle"]["lastActivityAt"]
    advance(client, HIBERNATE_MS - 10)
    assert sandbox_status(client, sid)["status"] == "active"
    advance(client, 10)
    status = sandbox_status(client, sid)
    assert (status["status"], status["hasSnapshot"], status["lifecycleVersion"]) == ("no_sandbox", True, 2)
    assert status["lifecycle"] | {"serverTime": 0} == {"serverTime": 0, "state": "hibernated",
                                                      "lastActivityAt": started, "hibernateAfter": None,
                                                      "sandboxExpiresAt": None}
    assert reconnect(client, sid) | {"lifecycle": None} == {"status": "expired", "hasSnapshot": True,
                                                            "lifecycle": None}
    assert session_of(client, sid)["sandboxState"] == {"type": "vercel", "sandboxName": f"session-{sid}"}
    assert_error(client.post("/api/chat", json=chat_body(cid, sid), headers=ALICE_H), 400,
                 contains="Sandbox not initialized")
    provision(client, sid)
    resumed = sandbox_status(client, sid)
    assert (resumed["status"], resumed["hasSnapshot"], resumed["lifecycleVersion"]) == ("active", False, 3)
    turn(client, sid, cid)


def test_a_turn_is_activity(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    first = sandbox_status(client, sid)["lifecycle"]
    advance(client, HIBERNATE_MS - 1000)
    turn(client, sid, cid)
    moved = sandbox_status(client, sid)["lifecycle"]
    assert moved["lastActivityAt"] > first["lastActivityAt"] + HIBERNATE_MS - 1000
    assert moved["hibernateAfter"] == moved["lastActivityAt"] + HIBERNATE_MS
    assert moved["sandboxExpiresAt"] == first["sandboxExpiresAt"]  # activity never moves the expiry
    advance(client, 2000)
    assert sandbox_status(client, sid)["status"] == "active"  # would have hibernated without the turn


def test_a_streaming_chat_keeps_the_sandbox_awake_until_it_expires(client: TestClient) -> None:
    # The fixture session's busy chat has a run that never ends: it never hibernates, but it expires.
    before = sandbox_status(client, SESSION_READY)
    assert (before["status"], before["lifecycleVersion"]) == ("active", 1)
    advance(client, HIBERNATE_MS * 3)
    assert sandbox_status(client, SESSION_READY)["status"] == "active"
    advance(client, EXPIRE_MS)
    gone = sandbox_status(client, SESSION_READY)
    assert (gone["status"], gone["hasSnapshot"], gone["lifecycleVersion"]) == ("no_sandbox", False, 2)
    assert gone["lifecycle"]["state"] == "hibernated"
    assert reconnect(client, SESSION_READY)["status"] == "expired"
    assert session_of(client, SESSION_READY)["sandboxState"] is None


def test_the_clock_call(client: TestClient) -> None:
    start = assert_json(client.get("/__mock/clock"))
    assert start["world"] == "default" and start["nowMs"] > EPOCH_MS
    moved = assert_json(client.post("/__mock/clock", json={"advanceMs": 60_000}))
    assert (moved["nowMs"], moved["advancedMs"]) == (start["nowMs"] + 60_000, 60_000)
    assert moved["now"].endswith("Z")
    target = moved["nowMs"] + 5
    assert assert_json(client.post("/__mock/clock", json={"toMs": target}))["nowMs"] == target
    assert_error(client.post("/__mock/clock", json={"toMs": target - 1}), 400, contains="never goes back")
    for bad in ({}, {"advanceMs": 1, "toMs": target}, {"advanceMs": -1}, {"advanceMs": "1"}, {"hours": 1}):
        assert_error(client.post("/__mock/clock", json=bad), 400)
    assert world_time(client) == target
    # Per world: another world's clock did not move; a reset starts this one again.
    other = assert_json(client.get("/__mock/clock", headers={"x-mock-world": "other"}))
    assert other["nowMs"] < start["nowMs"] + 60_000
    assert_json(client.post("/__mock/reset"))
    assert world_time(client) < start["nowMs"] + 60_000


def test_the_clock_of_another_world_leaves_this_one_alone(client: TestClient) -> None:
    sid, _ = ready_chat(client)
    advance(client, EXPIRE_MS * 2, world="elsewhere")
    assert sandbox_status(client, sid)["status"] == "active"


@pytest.mark.parametrize("path", ["/api/sandbox/status", "/api/sandbox/reconnect"])
def test_reads_refuse_a_missing_unknown_foreign_or_bad_session(client: TestClient, path: str) -> None:
    assert_error(client.get(path, headers=ALICE_H), 400, contains="sessionId")
    assert_error(client.get(path, params={"sessionId": "nope"}, headers=ALICE_H), 400, contains="sessionId")
    assert_error(client.get(path, params={"sessionId": UNKNOWN_SESSION}, headers=ALICE_H), 404)
    assert_error(client.get(path, params={"sessionId": SESSION_BOB}, headers=ALICE_H), 403)
    assert_error(client.get(path, params={"sessionId": SESSION_READY}), 401)


def test_create_refuses_a_foreign_or_unknown_session_and_a_bad_body(client: TestClient) -> None:
    before = sandbox_status(client, SESSION_BOB, BOB_H)
    assert_error(client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": SESSION_BOB}, headers=ALICE_H), 403)
    assert_error(client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": UNKNOWN_SESSION}, headers=ALICE_H),
                 404)
    assert_error(client.post("/api/sandbox", json={"sessionId": SESSION_BOB}, headers=BOB_H), 400, contains="repoUrl")
    assert sandbox_status(client, SESSION_BOB, BOB_H) == {**before, "lifecycle": {
        **before["lifecycle"], "serverTime": sandbox_status(client, SESSION_BOB, BOB_H)["lifecycle"]["serverTime"]}}


def test_a_sandbox_without_a_session_keeps_nothing(client: TestClient) -> None:
    at = world_time(client)
    created = assert_json(client.post("/api/sandbox", json={"repoUrl": REPO}, headers=ALICE_H))
    assert (created["timeout"], created["timing"]) == (EXPIRE_MS, {"readyMs": PROVISION_MS})
    assert world_time(client) == at


@pytest.mark.parametrize("how", ["prefer", "queue"])
def test_a_502_on_create_on_demand_leaves_no_sandbox(client: TestClient, how: str) -> None:
    session, _ = new_session(client)
    headers = dict(ALICE_H)
    if how == "prefer":
        headers["prefer"] = "scenario=http-502"
    else:
        assert_json(client.post("/__mock/scenarios/next", json={"name": "http-502", "operation": "createSandbox"}))
        sandbox_status(client, session["id"])  # another operation does not take it
    at = world_time(client)
    response = client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": session["id"]}, headers=headers)
    assert_error(response, 502)
    assert world_time(client) == at
    assert sandbox_status(client, session["id"])["status"] == "no_sandbox"
    assert assert_json(client.get("/__mock/scenarios/next")) == {"queued": []}
    provision(client, session["id"])
    assert sandbox_status(client, session["id"])["status"] == "active"


@pytest.mark.parametrize("path", ["/api/sandbox/status", "/api/sandbox/reconnect"])
def test_a_fault_on_demand_answers_the_reads(client: TestClient, path: str) -> None:
    response = client.get(path, params={"sessionId": SESSION_READY}, headers={**ALICE_H, "prefer": "scenario=http-503"})
    assert_error(response, 503)
    assert response.headers["retry-after"] == "5"


def test_the_same_requests_after_a_reset_give_the_same_answers(client: TestClient) -> None:
    def sequence() -> list[Any]:
        session, chat = new_session(client)
        seen: list[Any] = [client.get("/api/sandbox/status", params={"sessionId": session["id"]},
                                      headers=ALICE_H).json()]
        seen.append(client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": session["id"]},
                                headers=ALICE_H).json())
        turn(client, session["id"], chat["id"])
        client.post("/__mock/clock", json={"advanceMs": HIBERNATE_MS})
        for path in ("/api/sandbox/status", "/api/sandbox/reconnect"):
            seen.append(client.get(path, params={"sessionId": session["id"]}, headers=ALICE_H).json())
        seen.append(client.get(f"/api/sessions/{session['id']}", headers=ALICE_H).json())
        return seen

    first = sequence()
    assert_json(client.post("/__mock/reset"))
    assert sequence() == first
