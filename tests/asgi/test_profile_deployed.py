"""The `deployed` profile, in process: each drift row it reproduces, over HTTP (docs/drift.md)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    PINNED_RUN,
    SESSION_READY,
    UNKNOWN_CHAT,
    assert_cors,
    assert_json,
    assert_no_content,
    chat_body,
    chunks_of,
)

from mockserver.profiles import NEXT_NOT_FOUND

H = {"x-api-key": ALICE}




def deployed_error(response: httpx.Response, status: int, key: str = "error") -> dict[str, Any]:
    """The deployed server's error body: ``{"status":"error","error":...}`` (``message`` for 401s)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert_cors(response)
    body: dict[str, Any] = response.json()
    assert body["status"] == "error" and isinstance(body[key], str) and body[key]
    assert ("message" if key == "error" else "error") not in body
    return body


def assert_next_404(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == NEXT_NOT_FOUND
    assert_cors(response)


# ---------------------------------------------------------------- error bodies


def test_errors_say_error_not_message(deployed: TestClient) -> None:
    deployed_error(deployed.get(f"/api/chat/{UNKNOWN_CHAT}/stream", headers=H), 404)
    deployed_error(deployed.get(f"/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": BOB}), 403)
    deployed_error(deployed.post("/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=http-429"}), 429)


def test_validation_failures_list_missing_fields(deployed: TestClient) -> None:
    body = deployed_error(deployed.post("/api/chat", json={"chatId": CHAT_IDLE, "sessionId": SESSION_READY},
                                        headers=H), 400)
    assert body["missing_fields"] == ["messages"]
    body = deployed_error(deployed.get(f"/api/chat/{CHAT_IDLE}/stream?startIndex=-1", headers=H), 400)
    assert body["missing_fields"] == ["startIndex"]


def test_the_credential_401s_keep_message(deployed: TestClient) -> None:
    deployed_error(deployed.get(f"/api/chat/{CHAT_IDLE}/stream"), 401, key="message")
    deployed_error(deployed.get(f"/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": "recoup_sk_nobody"}), 401,
                   key="message")


# ---------------------------------------------------------------- paths the deployed server lacks


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/chat/workflow"), ("POST", "/legacy/api/chat"),
                                              ("OPTIONS", "/legacy/api/chat"), ("GET", "/api/nothing-here")])
def test_paths_it_lacks_answer_nexts_404_page_with_cors(deployed: TestClient, method: str, path: str) -> None:
    assert_next_404(deployed.request(method, path, json=chat_body(), headers=H))


def test_preflights_are_200_but_204_on_the_sandbox(deployed: TestClient) -> None:
    preflight = {"origin": "http://localhost:5173", "access-control-request-method": "POST"}
    assert deployed.options("/api/chat", headers=preflight).status_code == 200
    sandbox = deployed.options("/api/sandbox", headers=preflight)
    assert sandbox.status_code == 204 and sandbox.content == b""
    assert_cors(sandbox)


# ---------------------------------------------------------------- POST on a live run, runs, ids


def test_post_on_a_chat_whose_run_is_live_replays_it(deployed: TestClient) -> None:
    response = deployed.post("/api/chat", json=chat_body(CHAT_BUSY), headers=H)
    assert response.status_code == 200
    assert response.headers["x-workflow-run-id"] == PINNED_RUN
    # Not the watched resume stream: no tail index.
    assert "x-workflow-stream-tail-index" not in response.headers
    resumed = deployed.get(f"/api/chat/{CHAT_BUSY}/stream", headers=H)
    assert response.content == resumed.content
    assert chunks_of(response.content)[0]["type"] == "start"


def test_any_account_reads_any_run_and_any_string_id_is_a_404(deployed: TestClient) -> None:
    accepted = assert_json(deployed.post("/api/chat/runs", json={"prompt": "Hi"}, headers=H), 202)
    status = assert_json(deployed.get(f"/api/chat/runs/{accepted['runId']}", headers={"x-api-key": BOB}))
    assert status == {"runId": accepted["runId"], "status": "completed"}
    deployed_error(deployed.get("/api/chat/runs/not-a-run-id", headers=H), 404)
    deployed_error(deployed.get(f"/api/chat/runs/{accepted['runId']}"), 401, key="message")


def test_non_uuid_chat_and_session_ids_are_a_404(deployed: TestClient) -> None:
    deployed_error(deployed.post("/api/chat", json=chat_body(CHAT_IDLE, "my-session"), headers=H), 404)
    deployed_error(deployed.post("/api/chat", json=chat_body("my-chat", SESSION_READY), headers=H), 404)
    body = deployed_error(deployed.post("/api/chat", json=chat_body("", SESSION_READY), headers=H), 400)
    assert body["missing_fields"] == ["chatId"]


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/runs"])
def test_the_body_is_checked_before_the_credentials(deployed: TestClient, path: str) -> None:
    deployed_error(deployed.post(path, json={"nothing": True}), 400)
    deployed_error(deployed.post(path, content=b"{", headers={"content-type": "application/json"}), 400)
    good = chat_body() if path == "/api/chat" else {"prompt": "Hi"}
    deployed_error(deployed.post(path, json=good), 401, key="message")


def test_the_sandbox_checks_the_credentials_first(deployed: TestClient) -> None:
    deployed_error(deployed.post("/api/sandbox", json={"nothing": True}), 401, key="message")


def test_resume_of_a_finished_run_is_204(deployed: TestClient) -> None:
    assert deployed.post("/api/chat", json=chat_body(), headers=H).status_code == 200
    assert_no_content(deployed.get(f"/api/chat/{CHAT_IDLE}/stream", headers=H))


# ---------------------------------------------------------------- stop's failures, in both profiles


@pytest.mark.parametrize(("scenario", "status", "text"), [("stop-502", 502, "Failed to stop the workflow"),
                                                          ("stop-504", 504, "Workflow did not terminate in time")])
def test_stop_failures_are_scenarios(deployed: TestClient, client: TestClient, scenario: str, status: int,
                                     text: str) -> None:
    headers = {**H, "prefer": f"scenario={scenario}"}
    assert deployed_error(deployed.post(f"/api/chat/{CHAT_BUSY}/stop", headers=headers), status)["error"] == text
    documented = client.post(f"/api/chat/{CHAT_BUSY}/stop", headers=headers)
    assert (documented.status_code, documented.json()["message"]) == (status, text)
    # The run was not stopped.
    assert assert_json(client.get(f"/api/chat/runs/{PINNED_RUN}", headers=H))["status"] == "running"
    stream_scenario = client.post(f"/api/chat/{CHAT_BUSY}/stop", headers={**H, "prefer": "scenario=slow"})
    assert stream_scenario.status_code == 400 and "http-status scenario" in stream_scenario.json()["message"]


# ---------------------------------------------------------------- per world


def test_a_world_can_take_the_other_profile(client: TestClient) -> None:
    assert_json(client.post("/__mock/reset?all=true"))
    made = assert_json(client.post("/__mock/worlds/prod-like", json={"profile": "deployed"}))
    assert made["name"] == "prod-like" and made["profile"] == "deployed"
    in_world = {**H, "x-mock-world": "prod-like"}
    deployed_error(client.get(f"/api/chat/{UNKNOWN_CHAT}/stream", headers=in_world), 404)
    assert_next_404(client.post("/api/chat/workflow", json=chat_body(), headers=in_world))
    assert client.post("/api/chat", json=chat_body(CHAT_BUSY), headers=in_world).status_code == 200
    # The default world keeps the server's profile.
    assert client.post("/api/chat/workflow", json=chat_body(), headers=H).status_code == 200
    assert client.post("/api/chat", json=chat_body(CHAT_BUSY), headers=H).status_code == 409
    listed = {w["name"]: w["profile"] for w in assert_json(client.get("/__mock/worlds"))["worlds"]}
    assert listed == {"default": "documented", "prod-like": "deployed"}
    back = assert_json(client.post("/__mock/worlds/prod-like"))  # no body: the server's profile
    assert back["profile"] == "documented"
    bad = client.post("/__mock/worlds/prod-like", json={"profile": "staging"})
    assert bad.status_code == 400 and "documented" in bad.json()["message"]
