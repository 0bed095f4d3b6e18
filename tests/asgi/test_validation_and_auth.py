"""The request pipeline: credentials (401), content type (415), JSON and spec validation (400),
routing (404/405), and CORS on every answer, including preflights."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    CHAT_BUSY,
    CHAT_IDLE,
    PINNED_RUN,
    SCHEMES,
    SESSION_READY,
    assert_cors,
    assert_error,
    chat_body,
    parse_sse,
    user_message,
)

EXACTLY_ONE_PROMPT = "Exactly one of prompt or messages must be provided"
JSON = {"content-type": "application/json"}


def alice(scheme: str = "x-api-key") -> dict[str, str]:
    return SCHEMES[scheme](ALICE)


# ---------------------------------------------------------------- 401

#: (method, path, json body) of one request per secured operation kind.
SECURED: list[tuple[str, str, Any]] = [
    ("POST", "/api/chat", chat_body()),
    ("POST", "/api/chat/workflow", chat_body()),
    ("GET", f"/api/chat/{CHAT_BUSY}/stream", None),
    ("POST", f"/api/chat/{CHAT_BUSY}/stop", {}),
    ("POST", "/api/chat/runs", {"prompt": "Hello"}),
    ("GET", f"/api/chat/runs/{PINNED_RUN}", None),
    ("POST", "/api/sessions", {}),
    ("GET", f"/api/sessions/{SESSION_READY}", None),
    ("GET", f"/api/sessions/{SESSION_READY}/chats", None),
    ("GET", f"/api/chats/{CHAT_IDLE}/messages", None),
]
BAD_CREDENTIALS: dict[str, dict[str, str]] = {
    "missing": {},
    "unknown x-api-key": {"x-api-key": "recoup_sk_test_mallory"},
    "unknown bearer": {"authorization": "Bearer recoup_sk_test_mallory"},
    "empty x-api-key": {"x-api-key": ""},
    "both headers": {"x-api-key": ALICE, "authorization": f"Bearer {ALICE}"},
    "basic": {"authorization": "Basic YWxpY2U6cGFzc3dvcmQ="},
    "non-bearer scheme with a valid key": {"authorization": f"Token {ALICE}"},
    "bearer without a token": {"authorization": "Bearer"},
    "empty bearer": {"authorization": "Bearer "},
}


@pytest.mark.parametrize("credentials", BAD_CREDENTIALS.values(), ids=list(BAD_CREDENTIALS))
@pytest.mark.parametrize(("method", "path", "body"), SECURED, ids=[f"{m} {p}" for m, p, _ in SECURED])
def test_bad_credentials_are_401(client: TestClient, method: str, path: str, body: Any,
                                 credentials: dict[str, str]) -> None:
    response = client.request(method, path, json=body, headers=credentials)
    assert_error(response, 401)


def test_credentials_are_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/api/chat", content=b"{not json", headers=JSON)
    assert_error(response, 401)


def test_unknown_key_is_not_echoed_in_full(client: TestClient) -> None:
    key = "recoup_sk_test_mallory_secret"
    message = assert_error(client.post("/api/chat", json=chat_body(), headers={"x-api-key": key}), 401)
    assert key not in message


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_valid_credentials_pass(client: TestClient, scheme: str) -> None:
    response = client.get(f"/api/chat/runs/{PINNED_RUN}", headers=alice(scheme))
    assert response.status_code == 200, response.text


def test_bearer_scheme_is_case_insensitive(client: TestClient) -> None:
    response = client.get(f"/api/chat/runs/{PINNED_RUN}", headers={"authorization": f"bearer {ALICE}"})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- 400 on POST /api/chat

BAD_CHAT_BODIES: dict[str, tuple[bytes, str]] = {
    "missing chatId": (b'{"messages": [], "sessionId": "%s"}' % SESSION_READY.encode(), "chatId"),
    "chatId not a uuid": (b'{"messages": [], "sessionId": "%s", "chatId": "chat-1"}' % SESSION_READY.encode(),
                          "chatId"),
    "missing sessionId": (b'{"messages": [], "chatId": "%s"}' % CHAT_IDLE.encode(), "sessionId"),
    "sessionId not a uuid": (b'{"messages": [], "chatId": "%s", "sessionId": 7}' % CHAT_IDLE.encode(), "sessionId"),
    "missing messages": (b'{"chatId": "%s", "sessionId": "%s"}' % (CHAT_IDLE.encode(), SESSION_READY.encode()),
                         "messages"),
    "messages not an array": (
        b'{"messages": {"role": "user"}, "chatId": "%s", "sessionId": "%s"}'
        % (CHAT_IDLE.encode(), SESSION_READY.encode()),
        "messages",
    ),
    "body a JSON array": (b"[]", "body"),
    "body a JSON string": (b'"hello"', "body"),
    "body invalid JSON": (b'{"messages": [', "JSON"),
    "body invalid UTF-8": (b'{"messages": "\xff\xfe"}', "UTF-8"),
    "empty body": (b"", "body"),
}


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/workflow"])
@pytest.mark.parametrize(("content", "names"), BAD_CHAT_BODIES.values(), ids=list(BAD_CHAT_BODIES))
def test_bad_chat_body_is_400_naming_the_field(client: TestClient, path: str, content: bytes, names: str) -> None:
    response = client.post(path, content=content, headers={**alice(), **JSON})
    assert_error(response, 400, contains=names)


def test_bad_chat_body_does_not_start_a_run(client: TestClient) -> None:
    bad = {"messages": "nope", "chatId": CHAT_IDLE, "sessionId": SESSION_READY}
    assert_error(client.post("/api/chat", json=bad, headers=alice()), 400)
    response = client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=alice())
    assert response.status_code == 204, response.text


def test_wrong_content_type_is_415(client: TestClient) -> None:
    response = client.post("/api/chat", content=b'{"messages": []}',
                           headers={**alice(), "content-type": "text/plain"})
    assert_error(response, 415, contains="text/plain")


def test_missing_content_type_with_a_body_is_415(client: TestClient) -> None:
    response = client.post("/api/chat", content=b'{"messages": []}', headers=alice())
    assert "content-type" not in response.request.headers
    assert_error(response, 415)


def test_json_content_type_with_charset_is_accepted(client: TestClient) -> None:
    import json

    response = client.post("/api/chat", content=json.dumps(chat_body()).encode(),
                           headers={**alice(), "content-type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.text


def test_body_over_the_limit_is_413(client: TestClient) -> None:
    huge = chat_body(text="x" * (1024 * 1024 + 1))
    assert_error(client.post("/api/chat", json=huge, headers=alice()), 413)


# ---------------------------------------------------------------- 400 on parameters


@pytest.mark.parametrize("value", ["-1", "abc", "1.5"])
def test_resume_with_bad_start_index_is_400(client: TestClient, value: str) -> None:
    response = client.get(f"/api/chat/{CHAT_BUSY}/stream", params={"startIndex": value}, headers=alice())
    assert_error(response, 400, contains="startIndex")


def test_resume_with_start_index_replays_from_there(client: TestClient) -> None:
    whole = client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=alice())
    assert whole.status_code == 200, whole.text
    tail = client.get(f"/api/chat/{CHAT_BUSY}/stream", params={"startIndex": "2"}, headers=alice())
    assert tail.status_code == 200, tail.text
    # The same bytes from the third event on.
    assert whole.content.endswith(tail.content)
    assert parse_sse(tail.content) == parse_sse(whole.content)[2:]


@pytest.mark.parametrize("path", ["/api/chat/not-a-uuid/stream", "/api/chat/not-a-uuid/stop"])
def test_non_uuid_chat_id_in_path_is_400(client: TestClient, path: str) -> None:
    method = "GET" if path.endswith("/stream") else "POST"
    response = client.request(method, path, json={} if method == "POST" else None, headers=alice())
    assert_error(response, 400, contains="chatId")


@pytest.mark.parametrize("run_id", [
    "not-a-run",
    "wrun_short",
    "wrun_" + "0" * 27,
    "wrun_" + "I" * 26,  # I, L, O and U are not Crockford base32
    "wrun_" + "u" * 26,
    "run_" + "0" * 26,
])
def test_malformed_run_id_is_400(client: TestClient, run_id: str) -> None:
    # openapi/chat.yaml: the runId parameter is a RunId (pattern ^wrun_[0-9A-HJKMNP-TV-Z]{26}$) and
    # the operation documents 400 for an invalid path; 404 is for a well-formed id that does not exist.
    assert_error(client.get(f"/api/chat/runs/{run_id}", headers=alice()), 400, contains="runId")


@pytest.mark.parametrize("path", [
    "/api/sessions/not-a-uuid",
    "/api/sessions/not-a-uuid/chats",
    f"/api/sessions/{SESSION_READY}/chats/not-a-uuid",
    "/api/chats/not-a-uuid/messages",
])
def test_non_uuid_ids_on_resources_are_400(client: TestClient, path: str) -> None:
    assert_error(client.get(path, headers=alice()), 400)


# ---------------------------------------------------------------- optional request bodies


def test_stop_without_a_body_is_accepted(client: TestClient) -> None:
    # openapi/chat.yaml: POST /api/chat/{chatId}/stop has `requestBody: required: false`.
    response = client.post(f"/api/chat/{CHAT_BUSY}/stop", headers=alice())
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "stopped": False}
    assert_cors(response)


def test_stop_with_the_partial_assistant_message_is_accepted(client: TestClient) -> None:
    body = {"assistantMessage": {"id": "a1", "role": "assistant", "parts": []}}
    response = client.post(f"/api/chat/{CHAT_IDLE}/stop", json=body, headers=alice())
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "stopped": False}


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize("path", ["/nope", "/api/chat-rooms", "/api/chat/runs/extra/segment", "/__mock/nope"])
def test_unknown_path_is_404_with_the_error_body(client: TestClient, path: str) -> None:
    assert_error(client.get(path, headers=alice()), 404)


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/api/chat", "POST"),
    ("GET", "/api/chat", "POST"),
    ("PUT", f"/api/chat/{CHAT_IDLE}/stream", "GET"),
    ("GET", "/api/chat/runs", "POST"),
])
def test_wrong_method_is_405_with_the_error_body(client: TestClient, method: str, path: str, allowed: str) -> None:
    response = client.request(method, path, headers=alice())
    assert_error(response, 405, contains=method)
    assert allowed in response.headers["allow"]


# ---------------------------------------------------------------- POST /api/chat/runs

BAD_RUN_BODIES: dict[str, dict[str, Any]] = {
    "both prompt and messages": {"prompt": "Hello", "messages": [user_message()]},
    "neither": {},
    "neither, with other fields": {"model": "openai/gpt-5-mini"},
    "blank prompt": {"prompt": "   "},
    "empty prompt": {"prompt": ""},
}


@pytest.mark.parametrize("body", BAD_RUN_BODIES.values(), ids=list(BAD_RUN_BODIES))
def test_run_needs_exactly_one_of_prompt_or_messages(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/api/chat/runs", json=body, headers=alice()), 400, contains=EXACTLY_ONE_PROMPT)


def test_run_with_non_uuid_artist_id_is_400(client: TestClient) -> None:
    response = client.post("/api/chat/runs", json={"prompt": "Hello", "artistId": "drake"}, headers=alice())
    assert_error(response, 400, contains="artistId")


def test_run_with_messages_not_an_array_is_400(client: TestClient) -> None:
    response = client.post("/api/chat/runs", json={"messages": "Hello"}, headers=alice())
    assert_error(response, 400, contains="messages")


# ---------------------------------------------------------------- CORS and preflight

ALL_METHODS_AND_PATHS = [
    "/api/chat",
    "/api/chat/workflow",
    f"/api/chat/{CHAT_IDLE}/stream",
    f"/api/chat/{CHAT_IDLE}/stop",
    "/api/chat/runs",
    f"/api/chat/runs/{PINNED_RUN}",
    "/api/sessions",
    f"/api/sessions/{SESSION_READY}/chats",
    "/api/sandbox",
    f"/api/chats/{CHAT_IDLE}/messages",
    "/legacy/api/chat",
    "/__mock/reset",
    "/no/such/path",
]


@pytest.mark.parametrize("path", ALL_METHODS_AND_PATHS)
def test_preflight_on_any_path(client: TestClient, path: str) -> None:
    response = client.options(path, headers={
        "origin": "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type, authorization, x-api-key, prefer",
    })
    assert response.status_code == 200, response.text
    assert_cors(response)
    methods = {m.strip().upper() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization", "x-api-key", "prefer"} <= allowed


def test_preflight_needs_no_credentials_and_is_not_an_error(client: TestClient) -> None:
    response = client.options("/api/chat")
    assert response.status_code == 200
    assert response.content == b""
    assert_cors(response)


def test_cors_does_not_depend_on_an_origin_header(client: TestClient) -> None:
    with_origin = client.post("/api/chat", json=chat_body(CHAT_BUSY), headers={**alice(), "origin": "https://x.test"})
    without = client.post("/api/chat", json=chat_body(CHAT_BUSY), headers=alice())
    assert_error(with_origin, 409)
    assert_error(without, 409)
