"""The fixture world, row by row, with both credential schemes (the README's "Fixture world" table)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    BOB,
    CHAT_BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    CHAT_NO_SANDBOX,
    PINNED_RUN,
    SESSION_BOB,
    SESSION_NO_SANDBOX,
    SESSION_READY,
    UNKNOWN_CHAT,
    UNKNOWN_RUN,
    UNKNOWN_SESSION,
    Scheme,
    assert_cors,
    assert_error,
    assert_no_content,
    assert_stream,
    chat_body,
)

#: The pinned run's message id, from fixtures/world.yaml.
PINNED_MESSAGE_ID = "pinnedMsg0000002"
POST_PATHS = ["/api/chat", "/api/chat/workflow"]


# ---------------------------------------------------------------- the idle chat


@pytest.mark.parametrize("path", POST_PATHS)
def test_idle_chat_post_streams(client: TestClient, scheme: Scheme, path: str) -> None:
    response = client.post(path, json=chat_body(), headers=scheme(ALICE))
    chunks = assert_stream(response)
    assert set(chunks[0]) == {"type", "messageId"}
    text = "".join(str(c["delta"]) for c in chunks if c["type"] == "text-delta")
    assert text == "Here's a draft tweet for the new single: \"Out now, turn it up.\""


def test_idle_chat_post_run_ids_differ(client: TestClient, scheme: Scheme) -> None:
    first = client.post("/api/chat", json=chat_body(), headers=scheme(ALICE))
    second = client.post("/api/chat", json=chat_body(), headers=scheme(ALICE))
    assert_stream(first)
    assert_stream(second)
    assert first.headers["x-workflow-run-id"] != second.headers["x-workflow-run-id"]


def test_idle_chat_resume_before_any_post_is_204(client: TestClient, scheme: Scheme) -> None:
    assert_no_content(client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=scheme(ALICE)))


@pytest.mark.parametrize("path", POST_PATHS)
def test_idle_chat_resume_after_post_is_204(client: TestClient, scheme: Scheme, path: str) -> None:
    assert_stream(client.post(path, json=chat_body(), headers=scheme(ALICE)))
    assert_no_content(client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=scheme(ALICE)))


def test_idle_chat_stop_stops_nothing(client: TestClient, scheme: Scheme) -> None:
    response = client.post(f"/api/chat/{CHAT_IDLE}/stop", json={}, headers=scheme(ALICE))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "stopped": False}
    assert_cors(response)


# ---------------------------------------------------------------- the busy chat (pinned run)


@pytest.mark.parametrize("path", POST_PATHS)
def test_busy_chat_post_is_409(client: TestClient, scheme: Scheme, path: str) -> None:
    assert_error(client.post(path, json=chat_body(CHAT_BUSY), headers=scheme(ALICE)), 409)


def test_busy_chat_resume_replays_pinned_run(client: TestClient, scheme: Scheme) -> None:
    response = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE))
    chunks = assert_stream(response, run_id=PINNED_RUN)
    assert chunks[0] == {"type": "start", "messageId": PINNED_MESSAGE_ID}
    assert response.headers["x-workflow-stream-tail-index"] == str(len(chunks) - 1)


def test_busy_chat_resume_is_byte_identical_every_time(client: TestClient, scheme: Scheme) -> None:
    bodies = []
    for _ in range(3):
        response = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE))
        assert_stream(response, run_id=PINNED_RUN)
        bodies.append(response.content)
    assert bodies[0] == bodies[1] == bodies[2]


def test_busy_chat_resume_is_byte_identical_across_reset(client: TestClient, scheme: Scheme) -> None:
    before = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE))
    assert_stream(before, run_id=PINNED_RUN)
    reset = client.post("/__mock/reset")
    assert reset.status_code == 200, reset.text
    after = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE))
    assert_stream(after, run_id=PINNED_RUN)
    assert after.content == before.content
    assert after.headers["x-workflow-stream-tail-index"] == before.headers["x-workflow-stream-tail-index"]


def test_pinned_run_status_stays_running(client: TestClient, scheme: Scheme) -> None:
    for _ in range(2):
        assert_stream(client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE)), run_id=PINNED_RUN)
        response = client.get(f"/api/chat/runs/{PINNED_RUN}", headers=scheme(ALICE))
        assert response.status_code == 200, response.text
        assert response.json() == {"runId": PINNED_RUN, "status": "running"}
        assert_cors(response)


def test_busy_chat_stop_does_not_stop_the_pinned_run(client: TestClient, scheme: Scheme) -> None:
    before = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE))
    response = client.post(f"/api/chat/{CHAT_BUSY}/stop", json={}, headers=scheme(ALICE))
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "stopped": False}
    assert_cors(response)
    # Still busy: POST is refused, the replay is unchanged, the run is still running.
    assert_error(client.post("/api/chat", json=chat_body(CHAT_BUSY), headers=scheme(ALICE)), 409)
    after = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(ALICE))
    assert_stream(after, run_id=PINNED_RUN)
    assert after.content == before.content
    status = client.get(f"/api/chat/runs/{PINNED_RUN}", headers=scheme(ALICE))
    assert status.json() == {"runId": PINNED_RUN, "status": "running"}


def test_busy_chat_is_streaming_in_the_listing(client: TestClient, scheme: Scheme) -> None:
    response = client.get(f"/api/sessions/{SESSION_READY}/chats", headers=scheme(ALICE))
    assert response.status_code == 200, response.text
    chats = {c["id"]: c for c in response.json()["chats"]}
    assert chats[CHAT_BUSY]["isStreaming"] is True
    assert chats[CHAT_BUSY]["activeStreamId"] == PINNED_RUN
    assert chats[CHAT_IDLE]["isStreaming"] is False
    assert chats[CHAT_IDLE]["activeStreamId"] is None


# ---------------------------------------------------------------- Bob's chat


@pytest.mark.parametrize("path", POST_PATHS)
def test_bobs_chat_post_by_alice_is_403(client: TestClient, scheme: Scheme, path: str) -> None:
    assert_error(client.post(path, json=chat_body(CHAT_BOB, SESSION_BOB), headers=scheme(ALICE)), 403)


def test_bobs_chat_resume_by_alice_is_403(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.get(f"/api/chat/{CHAT_BOB}/stream", headers=scheme(ALICE)), 403)


def test_bobs_chat_stop_by_alice_is_403(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.post(f"/api/chat/{CHAT_BOB}/stop", json={}, headers=scheme(ALICE)), 403)


def test_bobs_chat_works_for_bob(client: TestClient, scheme: Scheme) -> None:
    assert_stream(client.post("/api/chat", json=chat_body(CHAT_BOB, SESSION_BOB), headers=scheme(BOB)))
    assert_no_content(client.get(f"/api/chat/{CHAT_BOB}/stream", headers=scheme(BOB)))


def test_alices_chats_are_403_for_bob(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.post("/api/chat", json=chat_body(CHAT_IDLE, SESSION_READY), headers=scheme(BOB)), 403)
    assert_error(client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=scheme(BOB)), 403)
    assert_error(client.post(f"/api/chat/{CHAT_BUSY}/stop", json={}, headers=scheme(BOB)), 403)


# ---------------------------------------------------------------- the chat without a sandbox


@pytest.mark.parametrize("path", POST_PATHS)
def test_no_sandbox_chat_post_is_400(client: TestClient, scheme: Scheme, path: str) -> None:
    response = client.post(path, json=chat_body(CHAT_NO_SANDBOX, SESSION_NO_SANDBOX), headers=scheme(ALICE))
    assert_error(response, 400, contains="Sandbox not initialized")


def test_no_sandbox_chat_resume_is_204(client: TestClient, scheme: Scheme) -> None:
    assert_no_content(client.get(f"/api/chat/{CHAT_NO_SANDBOX}/stream", headers=scheme(ALICE)))


# ---------------------------------------------------------------- unknown ids


@pytest.mark.parametrize("path", POST_PATHS)
def test_post_with_unknown_session_is_404(client: TestClient, scheme: Scheme, path: str) -> None:
    assert_error(client.post(path, json=chat_body(CHAT_IDLE, UNKNOWN_SESSION), headers=scheme(ALICE)), 404)


@pytest.mark.parametrize("path", POST_PATHS)
def test_post_with_unknown_chat_is_404(client: TestClient, scheme: Scheme, path: str) -> None:
    assert_error(client.post(path, json=chat_body(UNKNOWN_CHAT, SESSION_READY), headers=scheme(ALICE)), 404)


def test_resume_of_unknown_chat_is_404(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.get(f"/api/chat/{UNKNOWN_CHAT}/stream", headers=scheme(ALICE)), 404)


def test_stop_of_unknown_chat_is_404(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.post(f"/api/chat/{UNKNOWN_CHAT}/stop", json={}, headers=scheme(ALICE)), 404)


def test_status_of_unknown_run_is_404(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=scheme(ALICE)), 404)


def test_pinned_run_status_is_404_for_bob(client: TestClient, scheme: Scheme) -> None:
    assert_error(client.get(f"/api/chat/runs/{PINNED_RUN}", headers=scheme(BOB)), 404)
