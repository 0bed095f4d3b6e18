"""State answers come before the scenario: a busy chat is 409 whatever scenario is asked for, and a
queued scenario is used only by the request it then answers."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    CHAT_BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    CHAT_NO_SANDBOX,
    SESSION_NO_SANDBOX,
    SESSION_READY,
    assert_error,
    chat_body,
)

H = {"x-api-key": ALICE}
#: A request that the fixture world itself answers, and how.
STATE_ANSWERS = {
    "busy chat": (chat_body(CHAT_BUSY), 409, "already streaming"),
    "another account's chat": (chat_body(CHAT_BOB), 403, "another account"),
    "no sandbox": (chat_body(CHAT_NO_SANDBOX, SESSION_NO_SANDBOX), 400, "Sandbox not initialized"),
    "unknown chat": (chat_body("c4a70000-0000-4000-8000-0000000000ff", SESSION_READY), 404, "Chat not found"),
}


def queue(client: TestClient) -> list[str]:
    queued: list[str] = client.get("/__mock/scenarios/next").json()["queued"]
    return queued


@pytest.mark.parametrize("case", sorted(STATE_ANSWERS))
def test_a_queued_scenario_waits_for_a_request_it_answers(client: TestClient, case: str) -> None:
    body, status, words = STATE_ANSWERS[case]
    client.post("/__mock/scenarios/next", json={"name": "http-500"})
    assert_error(client.post("/api/chat", json=body, headers=H), status, words)
    assert queue(client) == ["http-500"]
    # The request it was meant for gets it, once.
    assert_error(client.post("/api/chat", json=chat_body(CHAT_IDLE), headers=H), 500)
    assert queue(client) == []
    assert client.post("/api/chat", json=chat_body(CHAT_IDLE), headers=H).status_code == 200


@pytest.mark.parametrize("case", sorted(STATE_ANSWERS))
@pytest.mark.parametrize("scenario", ["http-429", "slow", "no-such-scenario"])
def test_a_state_answer_wins_over_the_prefer_header(client: TestClient, case: str, scenario: str) -> None:
    body, status, words = STATE_ANSWERS[case]
    assert_error(client.post("/api/chat", json=body, headers={**H, "prefer": f"scenario={scenario}"}),
                 status, words)


def test_a_state_answer_wins_over_the_marker(client: TestClient) -> None:
    body = chat_body(CHAT_BUSY, text="[scenario:http-503] hello")
    assert_error(client.post("/api/chat", json=body, headers=H), 409, "already streaming")


def test_the_queue_is_taken_by_an_http_status_answer_and_by_a_stream(client: TestClient) -> None:
    client.post("/__mock/scenarios/next", json={"name": "http-429"})
    client.post("/__mock/scenarios/next", json={"name": "reasoning"})
    assert queue(client) == ["http-429", "reasoning"]
    assert_error(client.post("/api/chat", json=chat_body(), headers=H), 429)
    assert queue(client) == ["reasoning"]
    assert b"reasoning-start" in client.post("/api/chat", json=chat_body(), headers=H).content
    assert queue(client) == []


def test_an_invalid_request_leaves_the_queue(client: TestClient) -> None:
    client.post("/__mock/scenarios/next", json={"name": "http-500"})
    assert_error(client.post("/api/chat", json={"chatId": CHAT_IDLE}, headers=H), 400, "sessionId")
    assert_error(client.post("/api/chat", json=chat_body()), 401)
    assert queue(client) == ["http-500"]
