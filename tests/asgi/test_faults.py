"""HTTP fault scenarios on every operation of the chat API, by ``Prefer: scenario=NAME`` and by the
queue of one operation (``POST /__mock/scenarios/next`` with ``operation``): one mechanism."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    CHAT_BUSY,
    CHAT_IDLE,
    PINNED_RUN,
    SESSION_READY,
    assert_error,
    assert_json,
    chat_body,
)
from surface import ALICE_H, REPO

from mockserver.settings import DEFAULT_SPEC
from mockserver.spec import ApiSpec

S, C = SESSION_READY, CHAT_IDLE
#: A request each operation would answer with success: method, path, and the keyword arguments.
VALID: dict[str, tuple[str, str, dict[str, Any]]] = {
    "postChat": ("POST", "/api/chat", {"json": chat_body()}),
    "postChatWorkflow": ("POST", "/api/chat/workflow", {"json": chat_body()}),
    "resumeChatStream": ("GET", f"/api/chat/{CHAT_BUSY}/stream", {}),
    "stopChat": ("POST", f"/api/chat/{C}/stop", {}),
    "startChatRun": ("POST", "/api/chat/runs", {"json": {"prompt": "Hi"}}),
    "getChatRunStatus": ("GET", f"/api/chat/runs/{PINNED_RUN}", {}),
    "legacyChat": ("POST", "/legacy/api/chat", {"json": {"prompt": "Hi"}}),
    "createSession": ("POST", "/api/sessions", {"json": {}}),
    "getSession": ("GET", f"/api/sessions/{S}", {}),
    "patchSession": ("PATCH", f"/api/sessions/{S}", {"json": {"title": "Renamed"}}),
    "listSessionChats": ("GET", f"/api/sessions/{S}/chats", {}),
    "createSessionChat": ("POST", f"/api/sessions/{S}/chats", {"json": {}}),
    "getSessionChat": ("GET", f"/api/sessions/{S}/chats/{C}", {}),
    "patchSessionChat": ("PATCH", f"/api/sessions/{S}/chats/{C}", {"json": {"title": "Renamed"}}),
    "deleteSessionChat": ("DELETE", f"/api/sessions/{S}/chats/{C}", {}),
    "markSessionChatRead": ("POST", f"/api/sessions/{S}/chats/{C}/read", {}),
    "createSandbox": ("POST", "/api/sandbox", {"json": {"repoUrl": REPO, "sessionId": S}}),
    "getSandboxStatus": ("GET", "/api/sandbox/status", {"params": {"sessionId": S}}),
    "reconnectSandbox": ("GET", "/api/sandbox/reconnect", {"params": {"sessionId": S}}),
    "listChats": ("GET", "/api/chats", {}),
    "createChat": ("POST", "/api/chats", {"json": {"topic": "Room"}}),
    "updateChat": ("PATCH", "/api/chats", {"json": {"chatId": C, "topic": "Renamed"}}),
    "deleteChat": ("DELETE", "/api/chats", {"json": {"id": C}}),
    "compactChats": ("POST", "/api/chats/compact", {"json": {"chatId": [C]}}),
    "getChatMessages": ("GET", f"/api/chats/{C}/messages", {}),
    "copyChatMessages": ("POST", f"/api/chats/{C}/messages/copy", {"json": {"targetChatId": CHAT_BUSY}}),
    "deleteTrailingChatMessages": ("DELETE", f"/api/chats/{C}/messages/trailing",
                                   {"params": {"from_message_id": C}}),
    "getChatArtist": ("GET", f"/api/chats/{C}/artist", {}),
}
#: The preflight is answered before routing; no scenario reaches it.
UNREACHABLE = {"legacyChatOptions"}
STREAM_PLAYERS = {"postChat", "postChatWorkflow", "startChatRun", "legacyChat"}


def state(client: TestClient) -> Any:
    """What a fault must leave as it was: the fixture session, its chats and their messages."""
    return [client.get(f"/api/sessions/{S}", headers=ALICE_H).json(),
            client.get(f"/api/sessions/{S}/chats", headers=ALICE_H).json(),
            client.get(f"/api/chats/{C}/messages", headers=ALICE_H).json(),
            client.get("/api/chats", headers=ALICE_H).json()]


def test_the_table_covers_every_operation() -> None:
    assert set(VALID) | UNREACHABLE == {op.operation_id for op in ApiSpec(DEFAULT_SPEC).operations}


@pytest.mark.parametrize("operation", sorted(VALID))
def test_prefer_an_http_scenario_answers_every_operation_and_changes_nothing(client: TestClient,
                                                                            operation: str) -> None:
    method, path, extra = VALID[operation]
    before = state(client)
    response = client.request(method, path, headers={**ALICE_H, "prefer": "scenario=http-429"}, **extra)
    assert_error(response, 429, contains="Rate limit")
    assert response.headers["retry-after"] == "2"
    assert state(client) == before
    journal = assert_json(client.get("/__mock/requests", params={"status": 429}))["requests"]
    assert [(e["path"], e["scenario"]) for e in journal] == [(path, "http-429")]


@pytest.mark.parametrize("operation", sorted(set(VALID) - STREAM_PLAYERS - {"resumeChatStream"}))
def test_a_stream_scenario_is_a_400_where_no_stream_plays(client: TestClient, operation: str) -> None:
    method, path, extra = VALID[operation]
    before = state(client)
    response = client.request(method, path, headers={**ALICE_H, "prefer": "scenario=slow"}, **extra)
    assert_error(response, 400, contains="takes an http-status scenario")
    assert state(client) == before
    assert_error(client.request(method, path, headers={**ALICE_H, "prefer": "scenario=nope"}, **extra), 400,
                 contains="nope")


def test_a_resume_ignores_the_stream_scenario_its_transport_sends_again(client: TestClient) -> None:
    method, path, extra = VALID["resumeChatStream"]
    assert client.request(method, path, headers={**ALICE_H, "prefer": "scenario=slow"}, **extra).status_code == 200


@pytest.mark.parametrize("operation", sorted(set(VALID) - STREAM_PLAYERS))
def test_a_scenario_queued_for_an_operation_waits_for_it(client: TestClient, operation: str) -> None:
    method, path, extra = VALID[operation]
    queued = assert_json(client.post("/__mock/scenarios/next", json={"name": "http-503", "operation": operation,
                                                                     "count": 2}))
    assert queued == {"queued": [], "byOperation": {operation: ["http-503", "http-503"]}}
    # Another operation, and a stream request, leave it alone.
    other = "getSession" if operation != "getSession" else "listChats"
    assert client.request(VALID[other][0], VALID[other][1], headers=ALICE_H, **VALID[other][2]).status_code == 200
    assert_error(client.request(method, path, headers=ALICE_H, **extra), 503)
    assert_error(client.request(method, path, headers=ALICE_H, **extra), 503)
    assert assert_json(client.get("/__mock/scenarios/next")) == {"queued": []}
    assert client.request(method, path, headers=ALICE_H, **extra).status_code != 503  # used up


def test_a_queued_stream_scenario_for_a_stream_operation(client: TestClient) -> None:
    assert_json(client.post("/__mock/scenarios/next", json={"name": "reasoning", "operation": "postChat"}))
    assert_json(client.post("/__mock/scenarios/next", json={"name": "http-500"}))  # the general queue
    assert_error(client.post("/api/chat/runs", json={"prompt": "Hi"}, headers=ALICE_H), 500)  # general: next stream
    stream = client.post("/api/chat", json=chat_body(), headers=ALICE_H)
    assert b"reasoning-start" in stream.content


@pytest.mark.parametrize(("body", "says"), [
    ({"name": "slow", "operation": "patchSession"}, "takes an http-status scenario"),
    ({"name": "http-500", "operation": "renameEverything"}, "the chat contract's operations are"),
    ({"name": "http-500", "operation": "resetMock"}, "createSandbox"),
])
def test_the_queue_refuses_what_an_operation_cannot_play(client: TestClient, body: dict[str, Any], says: str) -> None:
    assert_error(client.post("/__mock/scenarios/next", json=body), 400, contains=says)
    assert assert_json(client.get("/__mock/scenarios/next")) == {"queued": []}


def test_a_reset_empties_the_operation_queues(client: TestClient) -> None:
    assert_json(client.post("/__mock/scenarios/next", json={"name": "http-502", "operation": "createSandbox"}))
    assert assert_json(client.get("/__mock/status"))["queued"] == 1
    assert_json(client.post("/__mock/reset"))
    assert assert_json(client.get("/__mock/scenarios/next")) == {"queued": []}
