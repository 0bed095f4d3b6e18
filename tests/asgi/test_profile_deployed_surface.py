"""The `deployed` profile on the front end's surface (sessions, session chats, read marks, /api/chats, the
sandbox), in process: each row of docs/drift.md it reproduces, over HTTP, in both profiles
(recoup-surface.md sections 1 and 3 to 6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from support import (
    ALICE_ACCOUNT,
    CHAT_BUSY,
    CHAT_IDLE,
    CHAT_NO_SANDBOX,
    SESSION_BOB,
    SESSION_READY,
    UNKNOWN_SESSION,
    assert_cors,
    assert_error,
    assert_json,
    chat_body,
)
from surface import (
    ALICE_H,
    ARTIST,
    BOB_H,
    HIBERNATE_MS,
    advance,
    new_session,
    provision,
    ready_chat,
    reconnect,
    sandbox_status,
    session_chats,
    session_of,
    sidebar,
    turn,
)

from mockserver.state.fixture_ids import BOB_ACCOUNT

ROOM_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
OTHER_ROOM_ID = "0c11e470-0000-4000-8000-00000000c11e"
UNKNOWN_UUID = "9b0e7d63-4b40-4e53-9f44-1d5d3f0c0b11"
SERVER_MODEL = "moonshotai/kimi-k3"
JSON = {"content-type": "application/json"}




def server_says(response: httpx.Response, status: int, body: dict[str, Any]) -> None:
    """The deployed server's answer, exactly: this status and this JSON body (with CORS)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert_cors(response)
    assert response.json() == body


def e(text: str) -> dict[str, str]:
    """E(msg) of recoup-surface.md: ``{"status":"error","error":msg}``."""
    return {"status": "error", "error": text}


def v(response: httpx.Response, fields: list[str]) -> str:
    """V of recoup-surface.md: a 400 ``{"status":"error","missing_fields":[...],"error":...}``; its text."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"status", "missing_fields", "error"} and body["status"] == "error", body
    assert body["missing_fields"] == fields
    assert isinstance(body["error"], str) and body["error"]
    return str(body["error"])


def make_room(client: TestClient, headers: dict[str, str] = ALICE_H, **body: Any) -> dict[str, Any]:
    made = assert_json(client.post("/api/chats", json=body, headers=headers))
    assert made["status"] == "success"
    room: dict[str, Any] = made["chat"]
    return room


# ---------------------------------------------------------------- rows: Error texts, the surface's bodies


def test_sessions_answer_in_the_servers_words(deployed: TestClient, client: TestClient) -> None:
    server_says(deployed.get(f"/api/sessions/{UNKNOWN_SESSION}", headers=ALICE_H), 404, e("Session not found"))
    server_says(deployed.get(f"/api/sessions/{SESSION_BOB}", headers=ALICE_H), 403, e("Forbidden"))
    # A chat of another session (the caller's own) is a 404, never a 403, in both.
    server_says(deployed.get(f"/api/sessions/{SESSION_READY}/chats/{CHAT_NO_SANDBOX}", headers=ALICE_H), 404,
                e("Chat not found"))
    assert_error(client.get(f"/api/sessions/{UNKNOWN_SESSION}", headers=ALICE_H), 404, contains=UNKNOWN_SESSION)
    assert_error(client.get(f"/api/sessions/{SESSION_READY}/chats/{CHAT_NO_SANDBOX}", headers=ALICE_H), 404,
                 contains=CHAT_NO_SANDBOX)
    session, only = new_session(deployed)
    server_says(deployed.request("DELETE", f"/api/sessions/{session['id']}/chats/{only['id']}", headers=ALICE_H),
                400, e("Cannot delete the only chat in a session"))
    session, only = new_session(client)
    assert_error(client.request("DELETE", f"/api/sessions/{session['id']}/chats/{only['id']}", headers=ALICE_H),
                 400, contains=f"chat {only['id']} is the only chat of session {session['id']}")


def test_patch_session_says_path(deployed: TestClient, client: TestClient) -> None:
    url = f"/api/sessions/{SESSION_READY}"
    bad = deployed.patch(url, json={"status": "paused"}, headers=ALICE_H)
    assert bad.status_code == 400
    assert set(bad.json()) == {"status", "path", "error"} and bad.json()["path"] == ["status"]
    assert_error(client.patch(url, json={"status": "paused"}, headers=ALICE_H), 400, contains="status")


def test_patch_session_chat_says_the_first_message(deployed: TestClient, client: TestClient) -> None:
    url = f"/api/sessions/{SESSION_READY}/chats/{CHAT_IDLE}"
    server_says(deployed.patch(url, json={"title": "  "}, headers=ALICE_H), 400, e("title cannot be empty"))
    server_says(deployed.patch(url, json={"modelId": ""}, headers=ALICE_H), 400, e("modelId cannot be empty"))
    assert_error(client.patch(url, json={"title": "  "}, headers=ALICE_H), 400, contains="title cannot be empty")
    renamed = assert_json(deployed.patch(url, json={"title": " Tour "}, headers=ALICE_H))
    assert renamed["chat"]["title"] == "Tour"


def test_creating_a_session_chat(deployed: TestClient, client: TestClient) -> None:
    url = f"/api/sessions/{SESSION_READY}/chats"
    for bad in ({"id": ""}, {"id": 5}, {"id": None}):
        server_says(deployed.post(url, json=bad, headers=ALICE_H), 400, {"error": "Invalid chat id"})
    server_says(deployed.post(url, json={"id": CHAT_NO_SANDBOX}, headers=ALICE_H), 409, {"error": "Chat ID conflict"})
    assert_error(client.post(url, json={"id": CHAT_NO_SANDBOX}, headers=ALICE_H), 409, contains="Chat ID conflict")
    # Any non-empty id (chats.id is TEXT), and the chat answers under it on the session routes.
    chat = assert_json(deployed.post(url, json={"id": "tab-1"}, headers=ALICE_H))["chat"]
    assert chat["id"] == "tab-1"
    assert assert_json(deployed.get(f"{url}/tab-1", headers=ALICE_H))["chat"]["id"] == "tab-1"
    assert_json(deployed.post(f"{url}/tab-1/read", headers=ALICE_H))
    assert_error(client.post(url, json={"id": "tab-1"}, headers=ALICE_H), 400, contains="id")


def test_the_sandbox_routes_say_missing_session_id(deployed: TestClient, client: TestClient) -> None:
    for path in ("/api/sandbox/status", "/api/sandbox/reconnect"):
        server_says(deployed.get(path, headers=ALICE_H), 400, e("Missing sessionId"))
        # Not format-checked: an id that is no session is a 404.
        server_says(deployed.get(path, params={"sessionId": "s-1"}, headers=ALICE_H), 404, e("Session not found"))
        assert_error(client.get(path, params={"sessionId": "s-1"}, headers=ALICE_H), 400, contains="sessionId")
        assert deployed.get(path).status_code == 401  # the credentials first


# ---------------------------------------------------------------- rows: Validation order on the surface, Malformed JSON


def test_patch_session_checks_the_credentials_first_and_reads_a_blank_body_as_empty(
        deployed: TestClient, client: TestClient) -> None:
    url = f"/api/sessions/{SESSION_READY}"
    for profile in (deployed, client):
        assert profile.patch(url, json={"status": "paused"}).status_code == 401
    before = session_of(deployed, SESSION_READY)
    blank = assert_json(deployed.patch(url, content=b"  \n", headers={**ALICE_H, **JSON}))
    assert blank["session"] == before
    server_says(deployed.patch(url, content=b"{", headers={**ALICE_H, **JSON}), 400, e("Invalid JSON body"))
    assert_error(client.patch(url, content=b"  \n", headers={**ALICE_H, **JSON}), 400, contains="JSON")


def test_the_session_chat_routes_find_the_chat_before_reading_the_body(deployed: TestClient,
                                                                        client: TestClient) -> None:
    url = f"/api/sessions/{SESSION_READY}/chats"
    unknown = f"{url}/{CHAT_NO_SANDBOX}"
    server_says(deployed.patch(unknown, json={"title": "  "}, headers=ALICE_H), 404, e("Chat not found"))
    assert_error(client.patch(unknown, json={"title": "  "}, headers=ALICE_H), 400, contains="title")
    server_says(deployed.patch(f"{url}/{CHAT_IDLE}", content=b"{", headers={**ALICE_H, **JSON}), 400,
                e("Invalid JSON body"))
    server_says(deployed.post(f"/api/sessions/{UNKNOWN_SESSION}/chats", json={"id": ""}, headers=ALICE_H), 404,
                e("Session not found"))
    assert_error(client.post(f"/api/sessions/{UNKNOWN_SESSION}/chats", json={"id": ""}, headers=ALICE_H), 400)
    # Malformed JSON, an array: read as {} (a new chat); the documented server refuses them.
    for body in (b"{nope", b"[1]"):
        made = assert_json(deployed.post(url, content=body, headers={**ALICE_H, **JSON}))["chat"]
        assert made["title"] == "New chat"
        assert_error(client.post(url, content=body, headers={**ALICE_H, **JSON}), 400)


def test_create_session_checks_the_body_before_the_credentials(deployed: TestClient, client: TestClient) -> None:
    assert v(deployed.post("/api/sessions", json={"title": 5}), ["title"])
    assert_error(client.post("/api/sessions", json={"title": 5}), 401)
    # Malformed JSON is {}: a personal session.
    made = assert_json(deployed.post("/api/sessions", content=b"{title:", headers={**ALICE_H, **JSON}))
    assert made["session"]["userId"] == ALICE_ACCOUNT
    assert_error(client.post("/api/sessions", content=b"{title:", headers={**ALICE_H, **JSON}), 400, contains="JSON")


def test_the_sidebar_checks_its_query_first(deployed: TestClient, client: TestClient) -> None:
    server_says(deployed.get("/api/chats", params={"account_id": "nope"}), 400,
                e("account_id must be a valid UUID"))
    server_says(deployed.get("/api/chats", params={"artist_account_id": "x"}, headers=ALICE_H), 400,
                e("artist_account_id must be a valid UUID"))
    assert_error(client.get("/api/chats", params={"account_id": "nope"}), 401)
    server_says(deployed.get("/api/chats", params={"account_id": BOB_ACCOUNT}, headers=ALICE_H), 403,
                e("Access denied to specified account_id"))


@pytest.mark.parametrize("path", ["/api/chats/not-a-uuid/messages", "/api/chats/not-a-uuid/artist",
                                  f"/api/chats/not-a-uuid/messages/trailing?from_message_id={UNKNOWN_UUID}"])
def test_a_room_id_that_is_no_uuid_is_400_before_the_credentials(deployed: TestClient, client: TestClient,
                                                                   path: str) -> None:
    method = "DELETE" if "trailing" in path else "GET"
    answer = deployed.request(method, path)
    assert answer.status_code == 400 and answer.json()["error"] == "id must be a valid UUID", answer.text
    assert_error(client.request(method, path), 401)


# ---------------------------------------------------------------- rows: Two chat stores, the rooms' answers


def test_a_session_chat_is_no_room(deployed: TestClient, client: TestClient) -> None:
    not_a_room = e("Chat room not found")
    room = make_room(deployed, topic="Scratch")["id"]
    server_says(deployed.get(f"/api/chats/{CHAT_IDLE}/messages", headers=ALICE_H), 404, not_a_room)
    server_says(deployed.get(f"/api/chats/{CHAT_IDLE}/artist", headers=ALICE_H), 404, not_a_room)
    server_says(deployed.patch("/api/chats", json={"chatId": CHAT_IDLE, "topic": "Renamed"}, headers=ALICE_H), 404,
                not_a_room)
    server_says(deployed.request("DELETE", "/api/chats", json={"id": CHAT_IDLE}, headers=ALICE_H), 404, not_a_room)
    server_says(deployed.post(f"/api/chats/{CHAT_IDLE}/messages/copy", json={"targetChatId": room}, headers=ALICE_H),
                404, not_a_room)
    server_says(deployed.delete(f"/api/chats/{CHAT_IDLE}/messages/trailing",
                                params={"from_message_id": UNKNOWN_UUID}, headers=ALICE_H), 404, not_a_room)
    server_says(deployed.post("/api/chats/compact", json={"chatId": [room, CHAT_IDLE]}, headers=ALICE_H), 404,
                {"error": 404, "message": f"Chat(s) not found or not accessible: {CHAT_IDLE}"})
    # The session chat is untouched; documented, the same chat is a room.
    assert next(c["title"] for c in session_chats(deployed, SESSION_READY)) == "Idle chat"
    assert assert_json(client.get(f"/api/chats/{CHAT_IDLE}/messages", headers=ALICE_H)) == {"data": []}


def test_a_room_is_a_raw_row_that_never_shows_in_the_sidebar(deployed: TestClient, client: TestClient) -> None:
    made = assert_json(deployed.post("/api/chats", json={"topic": "Pulse Feb 2", "artistId": ARTIST},
                                     headers=ALICE_H))
    room = made["chat"]
    assert made["status"] == "success"
    assert set(room) == {"id", "account_id", "artist_id", "topic", "updated_at"}
    assert (room["account_id"], room["artist_id"], room["topic"]) == (ALICE_ACCOUNT, ARTIST, "Pulse Feb 2")
    assert sidebar(deployed) == []
    assert assert_json(deployed.get(f"/api/chats/{room['id']}/messages", headers=ALICE_H)) == {"data": []}
    server_says(deployed.get(f"/api/sessions/{SESSION_READY}/chats/{room['id']}", headers=ALICE_H), 404,
                e("Chat not found"))
    artist = assert_json(deployed.get(f"/api/chats/{room['id']}/artist", headers=ALICE_H))
    assert artist == {"status": "success", "room_id": room["id"], "artist_id": ARTIST, "artist_exists": True}
    # The topic: as given, else the start of firstMessage, else null.
    assert make_room(deployed, firstMessage="  Plan the   release ")["topic"] == "Plan the release"
    assert make_room(deployed)["topic"] is None
    # Documented: a ChatRoom in a session of its own.
    documented = assert_json(client.post("/api/chats", json={"topic": "Pulse Feb 2"}, headers=ALICE_H))["chat"]
    assert set(documented) == {"id", "title", "accountId", "sessionId", "updatedAt", "artistId"}


def test_the_sidebar_lists_the_session_chats_with_messages(deployed: TestClient) -> None:
    make_room(deployed, topic="Never listed")
    sid, cid = ready_chat(deployed, title="Listed")
    new_session(deployed)  # no message: not listed
    turn(deployed, sid, cid)
    assert [(r["id"], r["sessionId"]) for r in sidebar(deployed)] == [(cid, sid)]
    assert_json(deployed.patch(f"/api/sessions/{sid}", json={"status": "archived"}, headers=ALICE_H))
    assert sidebar(deployed) == []


def test_an_existing_room_id_is_written_over(deployed: TestClient, client: TestClient) -> None:
    make_room(deployed, chatId=ROOM_ID, topic="Alice's")
    taken = make_room(deployed, BOB_H, chatId=ROOM_ID, topic="Bob's")
    assert (taken["id"], taken["account_id"], taken["topic"]) == (ROOM_ID, BOB_ACCOUNT, "Bob's")
    server_says(deployed.get(f"/api/chats/{ROOM_ID}/messages", headers=ALICE_H), 403, e("Access denied to this chat"))
    make_room(client, chatId=ROOM_ID)
    assert_error(client.post("/api/chats", json={"chatId": ROOM_ID}, headers=BOB_H), 409, contains=ROOM_ID)


def test_the_room_operations(deployed: TestClient) -> None:
    room = make_room(deployed, chatId=ROOM_ID, topic="Scratch")
    other = make_room(deployed, chatId=OTHER_ROOM_ID)
    renamed = assert_json(deployed.patch("/api/chats", json={"chatId": ROOM_ID, "topic": "Tour dates"},
                                         headers=ALICE_H))
    assert renamed == {"status": "success", "chat": {**room, "topic": "Tour dates"}}  # updated_at as it was
    copied = assert_json(deployed.post(f"/api/chats/{ROOM_ID}/messages/copy", json={"targetChatId": OTHER_ROOM_ID},
                                       headers=ALICE_H))
    assert copied == {"status": "success", "source_chat_id": ROOM_ID, "target_chat_id": other["id"],
                      "copied_count": 0, "cleared_existing": True}
    server_says(deployed.post(f"/api/chats/{ROOM_ID}/messages/copy", json={"targetChatId": ROOM_ID},
                              headers=ALICE_H), 400, e("source and target chats must be different"))
    compacted = assert_json(deployed.post("/api/chats/compact", json={"chatId": [ROOM_ID]}, headers=ALICE_H))
    assert compacted == {"chats": [{"chatId": ROOM_ID, "compacted": ""}]}
    trailing = f"/api/chats/{ROOM_ID}/messages/trailing"
    server_says(deployed.delete(trailing, params={"from_message_id": UNKNOWN_UUID}, headers=ALICE_H), 404,
                e("Message not found"))
    assert v(deployed.delete(trailing, headers=ALICE_H), ["from_message_id"])
    # The room is looked up (and its owner checked) before the query is read.
    server_says(deployed.delete(trailing, headers=BOB_H), 403, e("Access denied to this chat"))
    deleted = assert_json(deployed.request("DELETE", "/api/chats", json={"id": ROOM_ID}, headers=ALICE_H))
    assert deleted == {"status": "success", "id": ROOM_ID, "message": "Chat deleted successfully"}
    server_says(deployed.get(f"/api/chats/{ROOM_ID}/messages", headers=ALICE_H), 404, e("Chat room not found"))


def test_the_room_bodies_are_checked_before_the_credentials(deployed: TestClient, client: TestClient) -> None:
    for method, path, body in (("PATCH", "/api/chats", {"chatId": ROOM_ID}), ("DELETE", "/api/chats", {}),
                               ("POST", "/api/chats", {"chatId": "room-1"}), ("POST", "/api/chats/compact", {}),
                               ("POST", f"/api/chats/{ROOM_ID}/messages/copy", {})):
        assert deployed.request(method, path, json=body).status_code == 400, (method, path)
        assert client.request(method, path, json=body).status_code == 401, (method, path)
    # A validation failure says its first problem, naming the field when the rule does not.
    assert v(deployed.request("DELETE", "/api/chats", json={"id": "x"}, headers=ALICE_H), ["id"]).startswith("id: ")
    # Malformed JSON is {}: the fields it lacks are named.
    assert v(deployed.patch("/api/chats", content=b"{", headers={**ALICE_H, **JSON}), ["chatId", "topic"])
    assert v(deployed.post("/api/chats/compact", content=b"{", headers={**ALICE_H, **JSON}), ["chatId"])


def test_compact_and_create_chat_error_bodies(deployed: TestClient) -> None:
    server_says(deployed.post("/api/chats/compact", json={"chatId": [UNKNOWN_UUID]}, headers=ALICE_H), 404,
                {"error": 404, "message": f"Chat(s) not found or not accessible: {UNKNOWN_UUID}"})
    failed = deployed.post("/api/chats/compact", json={"chatId": [UNKNOWN_UUID]},
                           headers={**ALICE_H, "prefer": "scenario=http-500"})
    assert failed.status_code == 500 and set(failed.json()) == {"error", "message"} and failed.json()["error"] == 500
    # POST /api/chats' 500 says message, where the other routes say error.
    made = deployed.post("/api/chats", json={}, headers={**ALICE_H, "prefer": "scenario=http-500"})
    assert made.status_code == 500 and set(made.json()) == {"status", "message"}, made.text
    other = deployed.post("/api/sessions", json={}, headers={**ALICE_H, "prefer": "scenario=http-500"})
    assert other.status_code == 500 and set(other.json()) == {"status", "error"}, other.text


# ---------------------------------------------------------------- rows: the sandbox


def test_a_new_session_has_the_stub_sandbox_state(deployed: TestClient, client: TestClient) -> None:
    session, chat = new_session(deployed)
    assert (session["lifecycleState"], session["sandboxState"]) == ("provisioning", {"type": "vercel"})
    assert sandbox_status(deployed, session["id"])["status"] == "no_sandbox"
    documented, _ = new_session(client)
    assert (documented["lifecycleState"], documented["sandboxState"]) == ("provisioning", None)
    # The server's one model, for the new chat and as the session's default.
    assert chat["modelId"] == SERVER_MODEL
    listing = assert_json(deployed.get(f"/api/sessions/{session['id']}/chats", headers=ALICE_H))
    assert listing["defaultModelId"] == SERVER_MODEL
    assert assert_json(client.get(f"/api/sessions/{documented['id']}/chats", headers=ALICE_H))["defaultModelId"] == \
        "openai/gpt-5-mini"


def test_a_hibernated_sandbox_reports_active(deployed: TestClient, client: TestClient) -> None:
    for profile, status in ((deployed, "active"), (client, "no_sandbox")):
        sid, cid = ready_chat(profile)
        advance(profile, HIBERNATE_MS)
        now = sandbox_status(profile, sid)
        assert (now["status"], now["hasSnapshot"], now["lifecycle"]["state"]) == (status, True, "hibernated")
        assert session_of(profile, sid)["sandboxState"] == {"type": "vercel", "sandboxName": f"session-{sid}"}
    # The deployed server lets a turn stream on it (its isSandboxActive reads the name).
    sid, cid = ready_chat(client)
    advance(client, HIBERNATE_MS)
    assert_error(client.post("/api/chat", json=chat_body(cid, sid), headers=ALICE_H), 400, contains="Sandbox")
    sid, cid = ready_chat(deployed)
    advance(deployed, HIBERNATE_MS)
    assert turn(deployed, sid, cid)[-1]["type"] == "finish"


def test_an_archived_sandbox_reports_active(deployed: TestClient, client: TestClient) -> None:
    for profile, status in ((deployed, "active"), (client, "no_sandbox")):
        sid, _ = ready_chat(profile)
        assert_json(profile.patch(f"/api/sessions/{sid}", json={"status": "archived"}, headers=ALICE_H))
        now = sandbox_status(profile, sid)
        assert (now["status"], now["hasSnapshot"], now["lifecycle"]["state"]) == (status, False, "archived")


def test_reconnect_writes_a_stopped_sandbox_back_as_hibernated(deployed: TestClient, client: TestClient) -> None:
    sid, _ = ready_chat(deployed)
    assert reconnect(deployed, sid)["status"] == "connected"
    now = advance(deployed, HIBERNATE_MS)
    answer = reconnect(deployed, sid)
    assert answer == {"status": "expired", "hasSnapshot": False,
                      "lifecycle": {"serverTime": now, "state": "hibernated", "lastActivityAt": None,
                                    "hibernateAfter": None, "sandboxExpiresAt": None}}
    # An archived one is probed too, and written back as hibernated.
    archived, _ = ready_chat(deployed)
    assert_json(deployed.patch(f"/api/sessions/{archived}", json={"status": "archived"}, headers=ALICE_H))
    assert reconnect(deployed, archived)["status"] == "expired"
    assert session_of(deployed, archived)["lifecycleState"] == "hibernated"
    # Documented: reading only; an archived sandbox is gone.
    sid, _ = ready_chat(client)
    advance(client, HIBERNATE_MS)
    assert (reconnect(client, sid)["status"], reconnect(client, sid)["hasSnapshot"]) == ("expired", True)
    archived, _ = ready_chat(client)
    assert_json(client.patch(f"/api/sessions/{archived}", json={"status": "archived"}, headers=ALICE_H))
    assert reconnect(client, archived)["status"] == "no_sandbox"
    assert session_of(client, archived)["lifecycleState"] == "archived"


def test_unarchiving_while_the_sandbox_runs_is_409(deployed: TestClient, client: TestClient) -> None:
    for profile in (deployed, client):
        sid, _ = ready_chat(profile)
        url = f"/api/sessions/{sid}"
        assert_json(profile.patch(url, json={"status": "archived"}, headers=ALICE_H))
        provision(profile, sid)  # a sandbox bound again while archived
        answer = profile.patch(url, json={"status": "running"}, headers=ALICE_H)
        if profile is deployed:
            server_says(answer, 409, e("Sandbox is still being paused, try again in a few seconds."))
            assert session_of(profile, sid)["status"] == "archived"  # nothing written
        else:  # unarchived, its new sandbox kept
            assert (assert_json(answer)["session"]["status"], session_of(profile, sid)["lifecycleState"]) == (
                "running", "active")
    # After a plain archive the state is `archived`: no 409.
    sid, _ = ready_chat(deployed)
    assert_json(deployed.patch(f"/api/sessions/{sid}", json={"status": "archived"}, headers=ALICE_H))
    back = assert_json(deployed.patch(f"/api/sessions/{sid}", json={"status": "running"}, headers=ALICE_H))
    assert (back["session"]["status"], back["session"]["lifecycleState"]) == ("running", None)


def test_a_sandbox_close_to_its_expiry_is_no_longer_active(deployed: TestClient, client: TestClient) -> None:
    # The fixture session's busy chat streams for ever: its sandbox never hibernates, and meets its expiry.
    for profile, status in ((deployed, "no_sandbox"), (client, "active")):
        lifecycle = sandbox_status(profile, SESSION_READY)["lifecycle"]
        advance(profile, lifecycle["sandboxExpiresAt"] - lifecycle["serverTime"] - 5_000)
        assert sandbox_status(profile, SESSION_READY)["status"] == status
        assert any(c["id"] == CHAT_BUSY and c["isStreaming"] for c in session_chats(profile, SESSION_READY))


@pytest.mark.parametrize("path", ["/api/sandbox", "/api/sandbox/status", "/api/sandbox/reconnect"])
def test_the_sandbox_preflights_are_204(deployed: TestClient, client: TestClient, path: str) -> None:
    preflight = {"origin": "http://localhost:5173", "access-control-request-method": "GET"}
    answer = deployed.options(path, headers=preflight)
    assert (answer.status_code, answer.content) == (204, b"")
    assert_cors(answer)
    assert client.options(path, headers=preflight).status_code == 200
    assert deployed.options(f"/api/sessions/{SESSION_READY}/chats", headers=preflight).status_code == 200


def test_provisioning_is_unchanged(deployed: TestClient) -> None:
    session, _ = new_session(deployed)
    created = provision(deployed, session["id"])
    assert created["mode"] == "vercel" and created["timeout"] > 0
    assert sandbox_status(deployed, session["id"])["status"] == "active"
    assert reconnect(deployed, session["id"])["expiresAt"] == sandbox_status(deployed, session["id"])["lifecycle"][
        "sandboxExpiresAt"]
