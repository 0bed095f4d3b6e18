"""``recoup-mock proxy`` at its edges. What it cannot check still passes unchanged, and it says it could not
check it. Real uvicorns on loopback: the mock, small upstreams written here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from support import ALICE, chat_body
from test_proxy_checks import RUN, echo, through

from mockserver import Settings, create_app
from mockserver.cli import main
from mockserver.proxy_admin import ProxyState

H = {"x-api-key": ALICE}
JSON = {**H, "content-type": "application/json"}


def nested(depth: int) -> str:
    """A JSON array ``depth`` deep: deeper than Python's json (or any recursive check) can follow."""
    return "[" * depth + "]" * depth


def unchecked(state: ProxyState) -> list[tuple[str, str, str]]:
    return [(v["path"], v["rule"], v["where"]) for v in state.violations]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    raised = [(r.name, r.getMessage()) for r in caplog.records if r.exc_info]
    assert raised == [], raised


def test_a_request_too_deep_to_check_reaches_the_target_unchanged_and_is_reported() -> None:
    body = ('{"chatId":' + nested(3000) + "}").encode()
    # The target answers as it would without the proxy (the mock: 400, nested too deeply).
    for target, proxy, state in through(create_app(Settings(speed=0, access_log=False))):
        direct = httpx.post(target + "/api/chat", content=body, headers=JSON, timeout=10)
        proxied = httpx.post(proxy + "/api/chat", content=body, headers=JSON, timeout=10)
        assert direct.status_code == 400 and "nested too deeply" in direct.text
        assert (proxied.status_code, proxied.content) == (direct.status_code, direct.content)
        assert unchecked(state) == [("/api/chat", "unchecked", "body")]
        assert "nested too deeply to check" in state.violations[0]["message"]
        assert proxied.headers["x-mock-violations"] == "1"
    # ... and the bytes it gets are the bytes sent.
    for _, proxy, state in through(echo):
        seen = httpx.post(proxy + "/api/chat", content=body, headers=JSON, timeout=10).json()
        assert seen["body"].encode() == body
        assert [v["rule"] for v in state.violations][:1] == ["unchecked"]


def test_a_stream_event_too_deep_to_check_passes_unchanged_and_is_reported(tmp_path: Path) -> None:
    deep = ('data: {"type":"data-deep","data":' + nested(5000) + "}\n\n").encode()
    frames = [b'data: {"type":"start","messageId":"m1"}\n\n', deep, b'data: {"type":"finish"}\n\n',
              b"data: [DONE]\n\n"]

    async def chat(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame

        return StreamingResponse(body(), media_type="text/event-stream", headers={"x-workflow-run-id": RUN})

    upstream = Starlette(routes=[Route("/api/chat", chat, methods=["POST"])])
    for _, proxy, state in through(upstream, record=tmp_path):
        with httpx.stream("POST", proxy + "/api/chat", json=chat_body(), headers=H, timeout=10) as response:
            received = b"".join(response.iter_raw())  # the stream is not cut
        assert received == b"".join(frames)
        assert unchecked(state) == [("/api/chat", "unchecked", "event 1")]
        assert "nested too deeply to check" in state.violations[0]["message"]
    # Recorded (the proxy's shutdown waits for its recordings): the deep event as the bytes it came as.
    [recorded] = (tmp_path / "scenarios").glob("recorded-*.yaml")
    steps = yaml.safe_load(recorded.read_text())["steps"]
    assert [next(iter(step)) for step in steps] == ["chunk", "raw", "chunk"]
    assert steps[1]["raw"].encode() == deep
    assert main(["validate", "--fixtures", str(tmp_path)]) == 0


def test_a_finite_answer_too_deep_to_check_passes_unchanged_and_is_recorded(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    failed = ('{"status":"error","message":"boom","detail":' + nested(3000) + "}").encode()

    async def chat(request: Request) -> Response:
        return Response(failed, status_code=500, media_type="application/json")

    upstream = Starlette(routes=[Route("/api/chat", chat, methods=["POST"])])
    for _, proxy, state in through(upstream, record=tmp_path):
        answer = httpx.post(proxy + "/api/chat", json=chat_body(), headers=H, timeout=10)
        assert (answer.status_code, answer.content) == (500, failed)
        assert unchecked(state) == [("/api/chat", "unchecked", "body")]
        assert answer.headers["x-mock-violations"] == "1"
    [recorded] = (tmp_path / "scenarios").glob("recorded-*.yaml")
    assert yaml.safe_load(recorded.read_text())["response"]["status"] == 500
    no_traceback(caplog)
