"""``recoup-mock proxy`` at its edges. What it cannot check still passes unchanged, and it says it could not
check it. The answers it makes itself are the documented error body with CORS. A HEAD is no stream. A
--record it cannot write into is a usage error. Both listings select exchanges with the journal's one
filter. Real uvicorns on loopback: the mock, small upstreams written here, and a target on a bare socket
that breaks HTTP framing."""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from support import ALICE, CHAT_BUSY, SESSION_READY, chat_body, free_port
from test_proxy_checks import RUN, echo, through, wrong_upstream

from mockserver import Settings, create_app
from mockserver.cli import main
from mockserver.proxy import server as proxy_module
from mockserver.proxy.admin import ProxySettings, ProxyState
from mockserver.proxy.server import Proxy
from mockserver.proxy.upstream import ProxyLogFilter
from mockserver.serving import ServedApp

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


def assert_own_error(response: httpx.Response, status: int, contains: str) -> None:
    """An answer the proxy made itself: the documented error body, readable by a page on another origin."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "message"} and body["status"] == "error", body
    assert contains in body["message"], body["message"]
    assert response.headers.get("access-control-allow-origin") == "*"


@contextlib.contextmanager
def bare_target(answer: bytes) -> Iterator[str]:
    """A target on a plain socket: each connection gets its request head read, then ``answer`` as is, then
    the connection is closed (whatever ``answer``'s framing promised)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)  # so that the loop sees `stop` (no request takes the test longer than 10 s)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                while b"\r\n\r\n" not in head:
                    piece = conn.recv(65536)
                    if not piece:
                        break
                    head += piece
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def proxy_for(target: str) -> Iterator[tuple[str, ProxyState]]:
    state = ProxyState(ProxySettings(target=target))
    with ServedApp(Proxy(state), date_header=False) as proxy:
        yield proxy.base_url, state


def test_a_finite_answer_the_target_cuts_short_is_a_502_journaled_as_such(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    cut = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n0123456789"
    with bare_target(cut) as target:
        for proxy, state in proxy_for(target):
            answer = httpx.get(f"{proxy}/api/sessions/{SESSION_READY}", headers=H, timeout=10)
            assert_own_error(answer, 502, f"{target} ended its answer early")
            [entry] = state.journal.entries
            assert (entry.status, entry.done) == (502, True)
    no_traceback(caplog)


def test_a_finite_answer_cut_short_past_the_cap_drops_the_client(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    # Past the cap the head has gone out, so the status cannot say it: the client's connection is dropped.
    monkeypatch.setattr(proxy_module, "MAX_FINITE_BYTES", 4)
    caplog.set_level(logging.INFO)
    # As `recoup-mock proxy` sets uvicorn's log up: a drop is one line, not a traceback (for this test only).
    uvicorn_log = logging.getLogger("uvicorn.error")
    monkeypatch.setattr(uvicorn_log, "filters", [*uvicorn_log.filters, ProxyLogFilter()])
    cut = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n0123456789"
    with bare_target(cut) as target:
        for proxy, state in proxy_for(target):
            with pytest.raises(httpx.RemoteProtocolError):
                httpx.get(f"{proxy}/api/sessions/{SESSION_READY}", headers=H, timeout=10)
            for _ in range(500):  # bounded: the entry ends as the exchange's task ends
                if state.journal.entries[-1].done:
                    break
                time.sleep(0.01)
            assert state.journal.entries[-1].status == 200  # what the client got, before the drop
    no_traceback(caplog)
    assert any("dropped its answer past 4 bytes" in r.getMessage() for r in caplog.records)


def test_a_bug_of_the_proxys_is_a_500_in_the_documented_body(monkeypatch: pytest.MonkeyPatch,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object) -> NoReturn:
        raise LookupError("a bug")

    for _, proxy, state in through(echo):
        monkeypatch.setattr(state.conformance, "check_request", broken)
        with caplog.at_level(logging.CRITICAL, logger="recoup_mock.proxy"):  # its traceback is expected here
            answer = httpx.post(proxy + "/api/chat", json=chat_body(), headers=H, timeout=10)
        assert_own_error(answer, 500, "Internal error in recoup-mock proxy")
        assert state.journal.entries[-1].status == 500


def test_an_unreachable_target_is_a_502_a_page_can_read() -> None:
    for proxy, state in proxy_for(f"http://127.0.0.1:{free_port()}"):
        answer = httpx.get(f"{proxy}/api/sessions/{SESSION_READY}", headers=H, timeout=10)
        assert_own_error(answer, 502, "recoup-mock proxy cannot reach http://127.0.0.1:")
        assert state.journal.entries[-1].status == 502


def test_the_proxys_own_api_answers_with_cors() -> None:
    for proxy, _ in proxy_for(f"http://127.0.0.1:{free_port()}"):
        listed = httpx.get(proxy + "/__mock/violations", timeout=10)
        assert listed.status_code == 200 and listed.headers.get("access-control-allow-origin") == "*"
        assert_own_error(httpx.get(proxy + "/__mock/nothing", timeout=10), 404, "recoup-mock proxy has no GET")


def test_a_head_through_a_recording_proxy_is_no_stream(tmp_path: Path) -> None:
    for target, proxy, state in through(create_app(Settings(speed=0, access_log=False)), record=tmp_path):
        url = f"/api/chat/{CHAT_BUSY}/stream"
        direct = httpx.head(target + url, headers=H, timeout=10)
        proxied = httpx.head(proxy + url, headers=H, timeout=10)
        assert direct.headers["content-type"] == "text/event-stream" and direct.content == b""
        assert (proxied.status_code, proxied.content) == (200, b"")
        assert proxied.headers["x-workflow-run-id"] == direct.headers["x-workflow-run-id"]
        # HEAD is GET without the body (RFC 9110 §9.3.2): judged as the GET, with no body or events to judge.
        assert list(state.violations) == []
        assert state.journal.entries[-1].status == 200
    assert list((tmp_path / "scenarios").glob("recorded-*.yaml")) == []  # written by shutdown, if at all


def refused_record(where: Path) -> str:
    """``recoup-mock proxy --record WHERE``, which must stop as a usage error; its stderr."""
    done = subprocess.run([sys.executable, "-m", "mockserver", "proxy", "--target", "http://127.0.0.1:9",
                           "--port", str(free_port()), "--record", str(where)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_record_under_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "somefile").write_text("not a directory")
    where = tmp_path / "somefile" / "rec"
    shown = refused_record(where)
    assert f"--record {where}: {tmp_path / 'somefile'} is not a directory; expected a directory" in shown, shown
    assert not where.exists()


def test_record_where_no_directory_can_be_made_is_a_usage_error() -> None:
    where = Path("/proc/recoup-mock-recordings")  # a directory no one, root included, can make under
    shown = refused_record(where)
    assert f"--record {where}: cannot make it a fixtures directory: No such file or directory" in shown, shown


def test_both_listings_select_exchanges_with_the_journals_filter() -> None:
    for _, proxy, state in through(wrong_upstream()):
        for _ in range(2):
            httpx.post(proxy + "/api/chat", json=chat_body(), headers=H, timeout=10)
        httpx.get(f"{proxy}/api/sessions/{SESSION_READY}", headers=H, timeout=10)

        def listed(base: str = proxy, **query: str) -> list[tuple[int, str]]:
            found = httpx.get(base + "/__mock/violations", params=query, timeout=10).json()["violations"]
            return [(v["seq"], v["rule"]) for v in found]

        stream_rules = ["chunk-schema", "done-last"]
        assert listed() == [(1, r) for r in stream_rules] + [(2, r) for r in stream_rules] + [(3, "response-status")]
        # `limit` is the last N exchanges, in both listings (here: of those that broke the rule).
        assert listed(limit="1") == [(3, "response-status")]
        assert listed(limit="1", rule="done-last") == [(2, "done-last")]
        assert listed(method="POST", limit="1") == [(2, r) for r in stream_rules]
        assert listed(status="507") == [(3, "response-status")]  # test_proxy_checks.wrong_upstream's session answer
        journal = httpx.get(proxy + "/__mock/requests", params={"limit": "1"}, timeout=10).json()["requests"]
        assert [e["seq"] for e in journal] == [3]
        assert httpx.get(proxy + "/__mock/status", timeout=10).json()["violations"] == 5 == len(state.violations)


def test_a_query_the_listings_cannot_read_is_a_400_in_the_documented_body() -> None:
    for proxy, _ in proxy_for(f"http://127.0.0.1:{free_port()}"):
        for call in ("requests", "violations"):
            refused = httpx.get(f"{proxy}/__mock/{call}", params={"limit": "0"}, timeout=10)
            assert_own_error(refused, 400, "limit")
