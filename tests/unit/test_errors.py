"""The one error type of the HTTP layer and its one renderer; validation problems stay structured."""

from __future__ import annotations

import json

from starlette.requests import Request

from mockserver.errors import ApiError, ErrorStyle, Problem, error_body, error_response
from mockserver.settings import DEFAULT_SPEC
from mockserver.spec import ApiSpec


def test_the_message_lists_each_problem() -> None:
    exc = ApiError(400, "Invalid request", [Problem("body.chatId", "'chatId' is a required property", "chatId"),
                                            Problem("query parameter 'startIndex'", "'x' is not of type 'integer'")])
    assert exc.text == ("Invalid request: body.chatId: 'chatId' is a required property; "
                        "query parameter 'startIndex': 'x' is not of type 'integer'")
    assert str(exc) == exc.text
    assert [p.missing for p in exc.details] == ["chatId", None]


def test_the_renderer_writes_the_documented_body_and_the_headers() -> None:
    response = error_response(ApiError(429, "Too many requests", headers={"retry-after": "2"}))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.media_type == "application/json"
    assert json.loads(bytes(response.body)) == {"status": "error", "message": "Too many requests"}


def test_validation_names_missing_fields_without_parsing_messages() -> None:
    spec = ApiSpec(DEFAULT_SPEC)
    op = next(o for o in spec.operations if o.operation_id == "postChat")
    request = Request({"type": "http", "method": "POST", "path": "/api/chat", "headers": [], "query_string": b"",
                       "path_params": {}})
    problems = spec.validate_request(op, request, {"messages": []}, has_body=True)
    assert {p.missing for p in problems} >= {"chatId", "sessionId"}
    assert all(p.where.startswith("body") for p in problems)


def test_an_error_schema_gives_the_body_its_shape() -> None:
    error = ApiError(404, "Session not found: s1")
    status_error = ErrorStyle.of_schema({"properties": {"status": {"enum": ["error"]}, "error": {"type": "string"}}})
    assert status_error is not None and error_body(error, status_error) == {"status": "error", "error": error.text}
    numeric = ErrorStyle.of_schema({"required": ["error", "message"],
                                    "properties": {"error": {"type": "integer"}, "message": {"type": "string"}}})
    assert numeric is not None and error_body(error, numeric) == {"error": 404, "message": error.text}
    bare = ErrorStyle.of_schema({"properties": {"error": {"type": "string", "enum": ["Invalid chat id"]}}})
    assert bare is not None and error_body(ApiError(400, "id is empty"), bare) == {"error": "Invalid chat id"}
    assert ErrorStyle.of_schema({"properties": {"detail": {"type": "string"}}}) is None
