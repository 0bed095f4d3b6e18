"""The lean answers go out as Starlette's would, byte for byte; the request headers read as Starlette's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response

from mockserver.responses import JsonAnswer, RequestHeaders


def _sent(response: Response) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        messages.append(message)

    async def receive() -> Any:
        raise AssertionError("not read")

    asyncio.run(response({"type": "http"}, receive, send))
    return messages


@pytest.mark.parametrize(("content", "status", "headers"), [
    ({"runId": "wrun_01", "chatId": "c", "sessionId": "s"}, 202, {"Location": "/api/chat/runs/wrun_01"}),
    ({"success": True, "stopped": False}, 200, None),
    ({"text": "née ✓ \u2028", "n": [1, 2.5, None]}, 200, {"x-a": "1", "x-b": "2"}),
    ([], 201, {}),
])
def test_a_json_answer_is_what_starlette_sends(content: Any, status: int, headers: dict[str, str] | None) -> None:
    assert _sent(JsonAnswer(content, status, headers)) == _sent(JSONResponse(content, status, headers))


def test_a_json_answer_refuses_what_starlette_refuses() -> None:
    with pytest.raises(ValueError):
        JSONResponse({"x": float("nan")})
    with pytest.raises(ValueError):
        JsonAnswer({"x": float("nan")})


def test_request_headers_read_like_starlettes() -> None:
    raw = [(b"x-api-key", b"k1"), (b"prefer", b"scenario=slow"), (b"x-api-key", b"k2"),
           (b"x-latin", "é".encode("latin-1"))]
    scope = {"type": "http", "headers": raw}
    fast, slow = RequestHeaders(scope=scope), Headers(scope=scope)
    for name in ("x-api-key", "X-API-Key", "prefer", "authorization", "x-latin"):
        assert fast.get(name) == slow.get(name)
        assert (name in fast) == (name in slow)
    assert fast["PREFER"] == slow["PREFER"]
    with pytest.raises(KeyError):
        fast["authorization"]
    assert fast.getlist("x-api-key") == ["k1", "k2"]
    assert list(fast.items()) == list(slow.items())
