"""The mock started on the upstream OpenAPI documents as they are (OpenAPI 3.1, no operationIds, streams
documented as ``type: string``, several error shapes): the project's handlers answer the operations they
know by method and path, every other operation is served generically, and every answer fits what that
spec documents for the operation and status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    BOB,
    CHAT_IDLE,
    SESSION_READY,
    UNKNOWN_SESSION,
    assert_json,
    assert_stream,
    chat_body,
)

from mockserver import Settings, create_app
from mockserver.spec import load_document

UPSTREAM = Path(__file__).resolve().parents[1] / "data" / "upstream" / "merged.json"
DOCUMENT = load_document(UPSTREAM)
H = {"x-api-key": ALICE}


@pytest.fixture(scope="module")
def upstream() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(spec=UPSTREAM, access_log=False, speed=0))) as client:
        yield client


@pytest.fixture
def client(upstream: TestClient) -> TestClient:
    assert_json(upstream.post("/__mock/reset"))
    return upstream


def _schema(method: str, path: str, status: int) -> dict[str, Any]:
    answer = DOCUMENT["paths"][path][method.lower()]["responses"][str(status)]
    if "$ref" in answer:
        answer = DOCUMENT["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return dict(answer["content"]["application/json"]["schema"])


def assert_documented(response: Any, method: str, path: str) -> Any:
    """The answer's body is valid against what the upstream spec documents for its status."""
    body = response.json()
    validator = jsonschema_rs.Draft202012Validator(
        {"components": DOCUMENT["components"], **_schema(method, path, response.status_code)}, validate_formats=True)
    errors = [e.message for e in validator.iter_errors(body)]
    assert not errors, (response.status_code, body, errors)
    return body


def test_it_starts_and_says_which_operations_are_served_generically(client: TestClient) -> None:
    generic = assert_json(client.get("/__mock/status"))["genericOperations"]
    assert "POST /api/chat/generate" in generic
    assert "POST /api/chat" not in generic and "GET /api/chat/{chatId}/stream" not in generic


def test_a_turn_streams_on_the_upstream_spec_with_the_handlers_of_the_project(client: TestClient) -> None:
    response = client.post("/api/chat", json=chat_body(), headers=H)
    chunks = assert_stream(response)
    assert chunks[0]["type"] == "start" and chunks[-1]["type"] == "finish"
    assert client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204


def test_a_generic_operation_answers_its_documented_success_with_a_valid_seeded_body(client: TestClient) -> None:
    body = {"chatId": CHAT_IDLE, "prompt": "hello"}
    first = client.post("/api/chat/generate", json=body, headers=H)
    assert first.status_code == 200, first.text
    assert_documented(first, "POST", "/api/chat/generate")
    again = client.post("/api/chat/generate", json=body, headers=H)
    assert_json(client.post("/__mock/reset"))
    after_reset = client.post("/api/chat/generate", json=body, headers=H)
    assert after_reset.content == first.content  # the same requests after a reset: the same bytes
    assert again.status_code == 200


def test_a_generic_operation_keeps_the_pipeline_in_front(client: TestClient) -> None:
    unauthorized = client.post("/api/chat/generate", json={"prompt": "x"})
    assert unauthorized.status_code == 401
    bad = client.post("/api/chat/generate", json={"prompt": 12}, headers=H)
    assert bad.status_code == 400
    assert_documented(bad, "POST", "/api/chat/generate")


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", f"/api/sessions/{UNKNOWN_SESSION}", 404),        # sessions.json: {status, error}
    ("GET", f"/api/sessions/{SESSION_READY}", 401),          # no credentials
])
def test_error_bodies_take_the_shape_the_operation_documents(client: TestClient, method: str, path: str,
                                                             status: int) -> None:
    headers = H if status != 401 else {}
    response = client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    body = assert_documented(response, method, "/api/sessions/{sessionId}")
    assert "error" in body and isinstance(body["error"], str)


def test_an_error_documented_as_a_numeric_code_and_a_message_gets_that_shape(client: TestClient) -> None:
    response = client.get(f"/api/chats/{CHAT_IDLE}/messages", headers={"x-api-key": BOB})
    assert response.status_code == 403, response.text
    body = assert_documented(response, "GET", "/api/chats/{id}/messages")
    assert set(body) >= {"message"}


def test_every_generic_operation_answers_a_body_its_spec_documents(client: TestClient) -> None:
    from mockserver.app import generic_operations
    from mockserver.spec import ApiSpec

    for key in generic_operations(ApiSpec(UPSTREAM)):
        method, path = key.split(" ", 1)
        concrete = path.replace("{sessionId}", SESSION_READY).replace("{chatId}", CHAT_IDLE).replace("{id}", CHAT_IDLE)
        op = DOCUMENT["paths"][path][method.lower()]
        body = None
        if "requestBody" in op:
            body = _minimal_body(op)
        query = {"sessionId": SESSION_READY} if "sandbox" in path else None
        response = client.request(method, concrete, headers=H, json=body, params=query)
        assert response.status_code < 500, (key, response.status_code, response.text)
        if response.headers.get("content-type", "").startswith("application/json"):
            assert_documented(response, method, path)


def _minimal_body(op: dict[str, Any]) -> Any:
    """A body that passes the operation's request schema: its required fields with simple values."""
    from mockserver.examples import Resolver, ValueBuilder

    schema = op["requestBody"]["content"]["application/json"]["schema"]
    import random

    return ValueBuilder(Resolver(DOCUMENT), random.Random(0)).build(schema)


def test_a_request_the_upstream_spec_admits_but_the_handler_cannot_serve_is_a_400(client: TestClient) -> None:
    # The upstream document leaves both prompt and messages optional; the handler needs one of them.
    response = client.post("/api/chat/runs", json={}, headers=H)
    assert response.status_code == 400, response.text
    assert_documented(response, "POST", "/api/chat/runs")


def test_an_undeclared_start_index_is_still_checked_by_the_resume_handler(client: TestClient) -> None:
    from support import CHAT_BUSY

    response = client.get(f"/api/chat/{CHAT_BUSY}/stream", params={"startIndex": "x1"}, headers=H)
    assert response.status_code == 400 and "startIndex" in response.text
    assert client.get(f"/api/chat/{CHAT_BUSY}/stream", params={"startIndex": "1"}, headers=H).status_code == 200
