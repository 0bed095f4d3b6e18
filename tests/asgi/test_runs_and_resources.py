"""Headless runs, the session/chat/sandbox/messages resources, and scenario selection."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    ALICE_ACCOUNT,
    BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    CHAT_NO_SANDBOX,
    RUN_ID,
    SCHEMES,
    SESSION_NO_SANDBOX,
    SESSION_READY,
    UNKNOWN_CHAT,
    UNKNOWN_SESSION,
    Scheme,
    assert_cors,
    assert_error,
    assert_json,
    assert_stream,
    chat_body,
    user_message,
)

DEFAULT_MODEL = "openai/gpt-5-mini"  # fixtures/world.yaml defaults.model
DEFAULT_TEXT = "Here's a draft tweet for the new single: \"Out now, turn it up.\""  # scenarios/default.yaml
SCENARIO_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
CLIENT_CHAT_ID = "0c11e470-0000-4000-8000-00000000c11e"
REPO = "https://github.com/recoupable/mock-workspace"


def text_of(chunks: list[dict[str, Any]], kind: str = "text") -> str:
    return "".join(str(c["delta"]) for c in chunks if c["type"] == f"{kind}-delta")


def is_uuid(value: Any) -> bool:
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def is_timestamp(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def run_status(client: TestClient, run_id: str, headers: dict[str, str]) -> str:
    """The run's status, from one GET /api/chat/runs/{runId}. This app runs at speed 0, where a run
    plays out before its 202 is sent: its status is already final (tests/live/test_run_lifecycle.py
    sees a run `running` and then final)."""
    body = assert_json(client.get(f"/api/chat/runs/{run_id}", headers=headers))
    assert set(body) == {"runId", "status"}
    assert body["runId"] == run_id
    return str(body["status"])


def start_run(client: TestClient, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/chat/runs", json=body, headers=headers)
    accepted = assert_json(response, 202)
    assert set(accepted) == {"runId", "chatId", "sessionId"}
    assert RUN_ID.match(accepted["runId"])
    assert is_uuid(accepted["chatId"])
    assert is_uuid(accepted["sessionId"])
    assert response.headers["location"] == f"/api/chat/runs/{accepted['runId']}"
    return accepted


# ---------------------------------------------------------------- headless runs


def test_run_is_accepted_and_completes(client: TestClient, scheme: Scheme) -> None:
    accepted = start_run(client, {"prompt": "Draft a tweet"}, scheme(ALICE))
    assert run_status(client, accepted["runId"], scheme(ALICE)) == "completed"
    resume = client.get(f"/api/chat/{accepted['chatId']}/stream", headers=scheme(ALICE))
    assert resume.status_code == 204, resume.text
    assert resume.content == b""
    assert_cors(resume)


def test_run_location_is_the_status_resource(client: TestClient) -> None:
    headers = SCHEMES["x-api-key"](ALICE)
    response = client.post("/api/chat/runs", json={"prompt": "Hi"}, headers=headers)
    assert response.status_code == 202, response.text
    status = assert_json(client.get(response.headers["location"], headers=headers))
    assert status["runId"] == response.json()["runId"]


def test_run_ids_are_distinct(client: TestClient) -> None:
    headers = SCHEMES["x-api-key"](ALICE)
    first = start_run(client, {"prompt": "One"}, headers)
    second = start_run(client, {"prompt": "Two"}, headers)
    assert first["runId"] != second["runId"]
    assert first["chatId"] != second["chatId"]
    assert first["sessionId"] != second["sessionId"]


def test_run_with_messages_stores_them(client: TestClient) -> None:
    headers = SCHEMES["bearer"](ALICE)
    message = user_message("From history", "hist-1")
    accepted = start_run(client, {"messages": [message]}, headers)
    assert run_status(client, accepted["runId"], headers) == "completed"
    rows = assert_json(client.get(f"/api/chats/{accepted['chatId']}/messages", headers=headers))["data"]
    assert [r["content"]["role"] for r in rows] == ["user", "assistant"]
    assert rows[0]["content"] == message


def test_run_prompt_becomes_the_user_message_and_the_answer_is_stored(client: TestClient) -> None:
    headers = SCHEMES["x-api-key"](ALICE)
    accepted = start_run(client, {"prompt": "Draft a tweet", "artistId": str(uuid.UUID(int=7))}, headers)
    assert run_status(client, accepted["runId"], headers) == "completed"
    rows = assert_json(client.get(f"/api/chats/{accepted['chatId']}/messages", headers=headers))["data"]
    assert len(rows) == 2
    user, assistant = rows[0]["content"], rows[1]["content"]
    assert user["role"] == "user"
    assert [p for p in user["parts"] if p["type"] == "text"] == [{"type": "text", "text": "Draft a tweet"}]
    assert assistant["role"] == "assistant"
    assert [p["text"] for p in assistant["parts"] if p["type"] == "text"] == [DEFAULT_TEXT]


@pytest.mark.parametrize(("scenario", "status"), [
    ("default", "completed"),
    ("reasoning", "completed"),
    ("tool-call", "completed"),
    ("error-mid-stream", "failed"),
    ("abort", "cancelled"),
])
def test_at_speed_0_a_run_is_over_when_accepted_with_the_scenarios_outcome(client: TestClient, scenario: str,
                                                                           status: str) -> None:
    headers = {**SCHEMES["x-api-key"](ALICE), "prefer": f"scenario={scenario}"}
    accepted = start_run(client, {"prompt": "Go"}, headers)
    assert run_status(client, accepted["runId"], SCHEMES["x-api-key"](ALICE)) == status


def test_run_session_and_chat_belong_to_the_caller(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    accepted = start_run(client, {"prompt": "Hi"}, alice)
    assert run_status(client, accepted["runId"], alice) == "completed"
    session = assert_json(client.get(f"/api/sessions/{accepted['sessionId']}", headers=alice))["session"]
    assert session["id"] == accepted["sessionId"]
    assert session["userId"] == ALICE_ACCOUNT
    assert session["sandboxState"] is not None
    chats = assert_json(client.get(f"/api/sessions/{accepted['sessionId']}/chats", headers=alice))["chats"]
    assert [c["id"] for c in chats] == [accepted["chatId"]]
    bob = SCHEMES["x-api-key"](BOB)
    assert_error(client.get(f"/api/sessions/{accepted['sessionId']}", headers=bob), 403)
    assert_error(client.get(f"/api/chat/{accepted['chatId']}/stream", headers=bob), 403)


def test_bob_gets_404_for_alices_run(client: TestClient, scheme: Scheme) -> None:
    accepted = start_run(client, {"prompt": "Secret plans"}, scheme(ALICE))
    assert run_status(client, accepted["runId"], scheme(ALICE)) == "completed"
    assert_error(client.get(f"/api/chat/runs/{accepted['runId']}", headers=scheme(BOB)), 404)


def test_run_http_scenario_answers_instead_of_starting(client: TestClient) -> None:
    headers = {**SCHEMES["x-api-key"](ALICE), "prefer": "scenario=http-503"}
    response = client.post("/api/chat/runs", json={"prompt": "Hi"}, headers=headers)
    assert_error(response, 503)
    assert response.headers["retry-after"] == "5"
    assert "location" not in response.headers


# ---------------------------------------------------------------- sessions, chats, sandbox, messages


def test_session_flow(client: TestClient, scheme: Scheme) -> None:
    alice = scheme(ALICE)
    created = assert_json(client.post("/api/sessions", json={"title": "Release plan"}, headers=alice))
    assert set(created) == {"session", "chat"}
    session, first_chat = created["session"], created["chat"]
    sid = session["id"]
    assert is_uuid(sid)
    assert session["userId"] == ALICE_ACCOUNT
    assert session["title"] == "Release plan"
    assert session["sandboxState"] is None
    assert is_timestamp(session["createdAt"])
    assert is_uuid(first_chat["id"])
    assert first_chat["sessionId"] == sid
    assert first_chat["title"] == "New chat"
    assert first_chat["modelId"] == DEFAULT_MODEL
    assert first_chat["activeStreamId"] is None
    assert first_chat["lastAssistantMessageAt"] is None

    assert assert_json(client.get(f"/api/sessions/{sid}", headers=alice)) == {"session": session}

    listing = assert_json(client.get(f"/api/sessions/{sid}/chats", headers=alice))
    assert listing == {"chats": [{**first_chat, "hasUnread": False, "isStreaming": False}],
                       "defaultModelId": DEFAULT_MODEL}

    generated = assert_json(client.post(f"/api/sessions/{sid}/chats", json={}, headers=alice))["chat"]
    assert is_uuid(generated["id"])
    assert generated["id"] != first_chat["id"]
    assert generated["sessionId"] == sid
    chosen = assert_json(client.post(f"/api/sessions/{sid}/chats", json={"id": CLIENT_CHAT_ID}, headers=alice))
    assert chosen["chat"]["id"] == CLIENT_CHAT_ID
    assert chosen["chat"]["sessionId"] == sid
    # The same id again in the same session: that chat, nothing new (documented: idempotent).
    again = client.post(f"/api/sessions/{sid}/chats", json={"id": CLIENT_CHAT_ID}, headers=alice)
    assert assert_json(again) == chosen
    assert_error(client.post(f"/api/sessions/{sid}/chats", json={"id": CHAT_IDLE}, headers=alice), 409)

    chats = assert_json(client.get(f"/api/sessions/{sid}/chats", headers=alice))["chats"]
    assert [c["id"] for c in chats] == [first_chat["id"], generated["id"], CLIENT_CHAT_ID]
    assert all(c["isStreaming"] is False and c["hasUnread"] is False for c in chats)

    cid = first_chat["id"]
    body = chat_body(cid, sid, text="Plan my release")
    assert_error(client.post("/api/chat", json=body, headers=alice), 400, contains="Sandbox not initialized")
    before = assert_json(client.get(f"/api/sessions/{sid}/chats/{cid}", headers=alice))
    assert before["messages"] == []
    assert before["isStreaming"] is False

    sandbox = assert_json(client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": sid}, headers=alice))
    assert {"createdAt", "timeout", "currentBranch", "mode", "timing"} <= set(sandbox)
    assert sandbox["mode"] == "vercel"
    provisioned = assert_json(client.get(f"/api/sessions/{sid}", headers=alice))["session"]
    assert provisioned["sandboxState"] is not None
    assert provisioned["lifecycleState"] == "active"

    stream = client.post("/api/chat", json=body, headers=alice)
    chunks = assert_stream(stream)
    answer = text_of(chunks)
    assert answer == DEFAULT_TEXT

    after = assert_json(client.get(f"/api/sessions/{sid}/chats/{cid}", headers=alice))
    assert after["isStreaming"] is False
    assert after["chat"]["id"] == cid
    assert after["chat"]["activeStreamId"] is None
    assert is_timestamp(after["chat"]["lastAssistantMessageAt"])
    user, assistant = after["messages"]
    assert user == body["messages"][-1]
    assert assistant["role"] == "assistant"
    assert assistant["id"] == chunks[0]["messageId"]
    assert [p["text"] for p in assistant["parts"] if p["type"] == "text"] == [answer]

    rows = assert_json(client.get(f"/api/chats/{cid}/messages", headers=alice))["data"]
    assert len(rows) == 2
    for row in rows:
        assert set(row) == {"id", "room_id", "content", "updated_at"}
        assert is_uuid(row["id"])
        assert row["room_id"] == cid
        assert is_timestamp(row["updated_at"])
    assert rows[0]["id"] != rows[1]["id"]
    assert rows[0]["content"] == user
    assert rows[1]["content"] == assistant
    assert rows[1]["content"]["role"] == "assistant"
    text_parts = [p for p in rows[1]["content"]["parts"] if p["type"] == "text"]
    assert len(text_parts) == 1
    assert text_parts[0]["text"] == DEFAULT_TEXT
    assert rows[0]["updated_at"] <= rows[1]["updated_at"]


def test_create_session_with_the_body_left_out(client: TestClient) -> None:
    # openapi/chat.yaml: "An empty or omitted body creates a personal session".
    alice = SCHEMES["x-api-key"](ALICE)
    created = assert_json(client.post("/api/sessions", headers=alice))
    assert set(created) == {"session", "chat"}
    assert created["chat"]["sessionId"] == created["session"]["id"]


def test_create_session_chat_with_the_body_left_out(client: TestClient) -> None:
    # openapi/chat.yaml: "Both an empty body and an omitted body are valid".
    alice = SCHEMES["x-api-key"](ALICE)
    chat = assert_json(client.post(f"/api/sessions/{SESSION_READY}/chats", headers=alice))["chat"]
    assert is_uuid(chat["id"])
    assert chat["sessionId"] == SESSION_READY


def test_create_session_chat_with_a_non_uuid_id_is_400(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    response = client.post(f"/api/sessions/{SESSION_READY}/chats", json={"id": "my-chat"}, headers=alice)
    assert_error(response, 400, contains="id")


def test_sandbox_without_repo_url_is_400(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    response = client.post("/api/sandbox", json={"sessionId": SESSION_NO_SANDBOX}, headers=alice)
    assert_error(response, 400, contains="repoUrl")


def test_sandbox_makes_the_no_sandbox_chat_stream(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    body = chat_body(CHAT_NO_SANDBOX, SESSION_NO_SANDBOX)
    assert_error(client.post("/api/chat", json=body, headers=alice), 400, contains="Sandbox not initialized")
    assert_json(client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": SESSION_NO_SANDBOX}, headers=alice))
    assert_stream(client.post("/api/chat", json=body, headers=alice))


def test_session_chat_of_another_session_is_404(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    assert_error(client.get(f"/api/sessions/{SESSION_READY}/chats/{CHAT_NO_SANDBOX}", headers=alice), 404)


def test_fixture_chat_messages_start_empty(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    assert assert_json(client.get(f"/api/chats/{CHAT_IDLE}/messages", headers=alice)) == {"data": []}


def alice_session_requests(session: str, chat: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", f"/api/sessions/{session}", None),
        ("GET", f"/api/sessions/{session}/chats", None),
        ("POST", f"/api/sessions/{session}/chats", {}),
        ("GET", f"/api/sessions/{session}/chats/{chat}", None),
        ("POST", "/api/sandbox", {"repoUrl": REPO, "sessionId": session}),
        ("GET", f"/api/chats/{chat}/messages", None),
        ("POST", "/api/chat", chat_body(chat, session)),
    ]


@pytest.mark.parametrize("index", range(len(alice_session_requests(SESSION_READY, CHAT_IDLE))))
def test_bob_gets_403_on_alices_session_endpoints(client: TestClient, scheme: Scheme, index: int) -> None:
    fixture_request = alice_session_requests(SESSION_READY, CHAT_IDLE)[index]
    created = assert_json(client.post("/api/sessions", json={}, headers=scheme(ALICE)))
    new_request = alice_session_requests(created["session"]["id"], created["chat"]["id"])[index]
    for method, path, body in (fixture_request, new_request):
        assert_error(client.request(method, path, json=body, headers=scheme(BOB)), 403)
    # ... and nothing changed for Alice.
    chats = assert_json(client.get(f"/api/sessions/{created['session']['id']}/chats", headers=scheme(ALICE)))
    assert [c["id"] for c in chats["chats"]] == [created["chat"]["id"]]


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", f"/api/sessions/{UNKNOWN_SESSION}", None),
    ("GET", f"/api/sessions/{UNKNOWN_SESSION}/chats", None),
    ("POST", f"/api/sessions/{UNKNOWN_SESSION}/chats", {}),
    ("GET", f"/api/sessions/{UNKNOWN_SESSION}/chats/{CHAT_IDLE}", None),
    ("GET", f"/api/sessions/{SESSION_READY}/chats/{UNKNOWN_CHAT}", None),
    ("POST", "/api/sandbox", {"repoUrl": REPO, "sessionId": UNKNOWN_SESSION}),
    ("GET", f"/api/chats/{UNKNOWN_CHAT}/messages", None),
])
def test_unknown_resources_are_404(client: TestClient, method: str, path: str, body: Any) -> None:
    assert_error(client.request(method, path, json=body, headers=SCHEMES["x-api-key"](ALICE)), 404)


# ---------------------------------------------------------------- scenario selection


def test_prefer_http_429(client: TestClient, scheme: Scheme) -> None:
    headers = {**scheme(ALICE), "prefer": "scenario=http-429"}
    response = client.post("/api/chat", json=chat_body(), headers=headers)
    assert_error(response, 429)
    assert response.headers["retry-after"] == "2"
    assert "x-workflow-run-id" not in response.headers
    # No run was started: nothing to resume, and the chat is free.
    assert client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=scheme(ALICE)).status_code == 204
    assert_stream(client.post("/api/chat", json=chat_body(), headers=scheme(ALICE)))


@pytest.mark.parametrize(("scenario", "status"), [("http-500", 500), ("http-502", 502), ("http-503", 503)])
def test_prefer_other_http_scenarios(client: TestClient, scenario: str, status: int) -> None:
    headers = {**SCHEMES["x-api-key"](ALICE), "prefer": f"scenario={scenario}"}
    assert_error(client.post("/api/chat", json=chat_body(), headers=headers), status)


def test_marker_in_user_text_selects_reasoning(client: TestClient, scheme: Scheme) -> None:
    body = chat_body(text="When should I release? [scenario:reasoning]")
    chunks = assert_stream(client.post("/api/chat", json=body, headers=scheme(ALICE)))
    types = [c["type"] for c in chunks]
    assert {"reasoning-start", "reasoning-delta", "reasoning-end"} <= set(types)
    assert types.index("reasoning-start") < types.index("text-start")
    assert text_of(chunks, "reasoning")
    assert text_of(chunks) != DEFAULT_TEXT


def test_prefer_selects_a_stream_scenario(client: TestClient) -> None:
    headers = {**SCHEMES["bearer"](ALICE), "prefer": "scenario=reasoning"}
    chunks = assert_stream(client.post("/api/chat", json=chat_body(), headers=headers))
    assert any(c["type"] == "reasoning-delta" for c in chunks)


def test_prefer_unknown_scenario_is_400_listing_the_names(client: TestClient, scheme: Scheme) -> None:
    headers = {**scheme(ALICE), "prefer": "scenario=nope"}
    message = assert_error(client.post("/api/chat", json=chat_body(), headers=headers), 400, contains="nope")
    names = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    assert names
    for name in names:
        assert name in message


def test_unknown_scenario_marker_is_400(client: TestClient) -> None:
    body = chat_body(text="[scenario:nope]")
    assert_error(client.post("/api/chat", json=body, headers=SCHEMES["x-api-key"](ALICE)), 400, contains="default")


def test_prefer_is_not_sticky(client: TestClient, scheme: Scheme) -> None:
    with_prefer = {**scheme(ALICE), "prefer": "scenario=reasoning"}
    first = assert_stream(client.post("/api/chat", json=chat_body(), headers=with_prefer))
    assert any(c["type"].startswith("reasoning-") for c in first)
    second = assert_stream(client.post("/api/chat", json=chat_body(), headers=scheme(ALICE)))
    assert not any(c["type"].startswith("reasoning-") for c in second)
    assert text_of(second) == DEFAULT_TEXT


def test_http_prefer_is_not_sticky(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    assert_error(client.post("/api/chat", json=chat_body(), headers={**alice, "prefer": "scenario=http-429"}), 429)
    chunks = assert_stream(client.post("/api/chat", json=chat_body(), headers=alice))
    assert text_of(chunks) == DEFAULT_TEXT


def test_marker_is_not_sticky(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    first = assert_stream(client.post("/api/chat", json=chat_body(text="[scenario:reasoning]"), headers=alice))
    assert any(c["type"].startswith("reasoning-") for c in first)
    second = assert_stream(client.post("/api/chat", json=chat_body(text="plain"), headers=alice))
    assert text_of(second) == DEFAULT_TEXT


def test_busy_chat_is_409_with_a_stream_scenario(client: TestClient) -> None:
    # The busy chat is busy whatever scenario is asked for.
    headers = {**SCHEMES["x-api-key"](ALICE), "prefer": "scenario=reasoning"}
    assert_error(client.post("/api/chat", json=chat_body(CHAT_BUSY), headers=headers), 409)
