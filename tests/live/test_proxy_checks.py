"""``recoup-mock proxy`` in front of upstreams written here (small Starlette apps on loopback): a wrong one,
whose every violation is reported while its bytes pass unchanged, and a held one, which shows the proxy
forwards the first chunk before the upstream has sent the second, and closes the upstream on a disconnect."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from support import ALICE, SESSION_READY, SseParser, chat_body

from mockserver.cli import main
from mockserver.proxy.admin import ProxySettings, ProxyState
from mockserver.proxy.server import Proxy
from mockserver.serving import ServedApp
from mockserver.settings import DEFAULT_ADMIN_SPEC

H = {"x-api-key": ALICE}
RUN = "wrun_01KDVDNA0B8940MQ9F6HNTN52N"
WRONG_STREAM = [
    b'data: {"type":"start","messageId":"m1"}\n\n',
    b'data: {"type":"start-step"}\n\ndata: {"type":"text-start","id":"t"}\n\n',
    b'data: {"type":"message-delta","id":"t","delta":"Hi"}\n\n',  # no such chunk type in any AI SDK
    b'data: {"type":"text-end","id":"t"}\n\ndata: {"type":"finish-step"}\n\ndata: {"type":"finish"}\n\n',
    # ... and no `data: [DONE]`
]


def wrong_upstream() -> Starlette:
    async def chat(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for frame in WRONG_STREAM:
                yield frame

        return StreamingResponse(body(), media_type="text/event-stream", headers={"x-workflow-run-id": RUN})

    async def session(request: Request) -> Response:
        # 507: a 5xx that no operation documents (500 and 502-504 are, for the fault scenarios).
        return JSONResponse({"status": "error", "message": "database unreachable"}, status_code=507)

    return Starlette(routes=[Route("/api/chat", chat, methods=["POST"]),
                             Route("/api/sessions/{sessionId}", session)])


def through(upstream: Any, record: Path | None = None) -> Iterator[tuple[str, str, ProxyState]]:
    with ServedApp(upstream) as target:
        state = ProxyState(ProxySettings(target=target.base_url, record=record))
        if state.recorder is not None:
            state.recorder.prepare()
        with ServedApp(Proxy(state), date_header=False) as proxy:
            yield target.base_url, proxy.base_url, state


def written(state: ProxyState, count: int) -> None:
    for _ in range(500):  # bounded: 5 s
        if sum(1 for e in state.journal.entries if e.scenario) >= count:
            return
        time.sleep(0.01)
    raise AssertionError("the recordings were not written")


def test_a_wrong_upstream_is_reported_while_its_bytes_pass_unchanged(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="recoup_mock.proxy")
    for target, proxy, state in through(wrong_upstream(), record=tmp_path):
        answers = {}
        for base in (target, proxy):
            stream = httpx.post(base + "/api/chat", json=chat_body(), headers=H, timeout=10)
            failed = httpx.get(f"{base}/api/sessions/{SESSION_READY}", headers=H, timeout=10)
            answers[base] = (stream, failed)
        (direct_stream, direct_failed), (stream, failed) = answers[target], answers[proxy]
        assert stream.content == direct_stream.content == b"".join(WRONG_STREAM)
        assert (failed.status_code, failed.content) == (507, direct_failed.content)
        assert "x-mock-violations" not in stream.headers and failed.headers["x-mock-violations"] == "1"

        listed = httpx.get(proxy + "/__mock/violations").json()["violations"]
        found = [(v["path"], v["rule"], v["where"]) for v in listed]
        assert found == [("/api/chat", "chunk-schema", "event 3"),
                         ("/api/chat", "done-last", "end of stream"),
                         (f"/api/sessions/{SESSION_READY}", "response-status", "status")]
        assert "unknown chunk type 'message-delta'" in listed[0]["message"]
        assert "507 is not documented for GET /api/sessions/{sessionId}" in listed[2]["message"]
        journal = httpx.get(proxy + "/__mock/requests").json()["requests"]
        assert [len(e["violations"]) for e in journal] == [2, 1]
        assert httpx.get(proxy + "/__mock/violations", params={"rule": "done-last"}).json()["violations"] == [listed[1]]
        schemas = yaml.safe_load(DEFAULT_ADMIN_SPEC.with_name("proxy-admin.yaml").read_text())["components"]
        for name, value in (("ListedViolation", listed), ("ProxiedRequest", journal)):
            for item in value:
                Draft202012Validator({"components": schemas, "$ref": f"#/components/schemas/{name}"}).validate(item)
        written(state, 2)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("VIOLATION")]
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    assert lines[0].startswith("VIOLATION POST /api/chat 200 [chunk-schema] event 3: unknown chunk type")
    # Recorded too, saying which rules it breaks: the fixtures validate with it.
    docs = [yaml.safe_load(p.read_text()) for p in sorted((tmp_path / "scenarios").glob("recorded-*.yaml"))]
    kinds = sorted(("steps" in d, d.get("violates")) for d in docs)
    assert kinds == [(False, None), (True, ["schema"])]
    stream_doc = next(d for d in docs if "steps" in d)
    assert stream_doc["steps"][-1]["disconnect"] is True  # it ended without [DONE]
    assert "violates: [schema]" in next(p.read_text() for p in (tmp_path / "scenarios").glob("rec*-post-*.yaml"))
    assert main(["validate", "--fixtures", str(tmp_path)]) == 0


class Held:
    """An upstream stream that sends its first chunk, then waits for the test before the rest."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.second_sent = threading.Event()
        self.closed = threading.Event()

    def app(self) -> Starlette:
        async def chat(request: Request) -> Response:
            async def body() -> AsyncIterator[bytes]:
                try:
                    yield b'data: {"type":"start","messageId":"m1"}\n\n'
                    for _ in range(1000):  # bounded: 10 s
                        if self.release.is_set():
                            break
                        await asyncio.sleep(0.01)
                    self.second_sent.set()
                    yield b'data: {"type":"start-step"}\n\n'
                    yield b'data: {"type":"finish-step"}\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n'
                finally:
                    self.closed.set()

            return StreamingResponse(body(), media_type="text/event-stream", headers={"x-workflow-run-id": RUN})

        return Starlette(routes=[Route("/api/chat", chat, methods=["POST"])])


def test_the_first_chunk_arrives_before_the_upstream_sends_the_second() -> None:
    held = Held()
    for _, proxy, state in through(held.app()):
        with httpx.stream("POST", proxy + "/api/chat", json=chat_body(), headers=H, timeout=5) as response:
            parser, pieces = SseParser(), response.iter_raw()
            for piece in pieces:
                parser.feed(piece)
                if parser.chunks():
                    break
            assert parser.chunks() == [{"type": "start", "messageId": "m1"}]
            assert not held.second_sent.is_set()  # forwarded as it came, not held back for more
            held.release.set()
            parser.read(pieces)
        assert [c["type"] for c in parser.chunks()] == ["start", "start-step", "finish-step", "finish"]
        assert parser.events[-1].data == "[DONE]"
        assert state.violations == type(state.violations)()  # a well-formed stream: nothing to report


def test_a_client_that_goes_away_closes_the_upstream_stream() -> None:
    held = Held()
    for _, proxy, state in through(held.app()):
        with httpx.stream("POST", proxy + "/api/chat", json=chat_body(), headers=H, timeout=5) as response:
            first = next(response.iter_raw())
            assert json.loads(first.removeprefix(b"data: "))["type"] == "start"
        # The client is gone; the upstream's generator is cancelled, long before it would be released.
        assert held.closed.wait(5)
        assert not held.second_sent.is_set()
        for _ in range(500):  # bounded: the proxy's entry ends as the stream task ends
            if state.journal.entries[-1].done:
                break
            time.sleep(0.01)
        assert state.journal.entries[-1].done


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A raw ASGI upstream that answers with the request as it arrived."""
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    seen = {"method": scope["method"], "target": scope["raw_path"].decode() + "?" + scope["query_string"].decode(),
            "headers": [[k.decode(), v.decode()] for k, v in scope["headers"]], "body": body.decode()}
    answer = json.dumps(seen).encode()
    await send({"type": "http.response.start", "status": 418,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode()),
                            (b"set-cookie", b"a=1"),
                            (b"set-cookie", b"b=2"), (b"x-upstream", b"yes")]})
    await send({"type": "http.response.body", "body": answer})


def test_requests_go_to_the_target_as_sent() -> None:
    for _, proxy, state in through(echo):
        host = proxy.removeprefix("http://")
        raw = (f"PATCH /x/a/../b%2Fc?q=%41&r HTTP/1.1\r\nhost: {host}\r\nx-api-key: {ALICE}\r\n"
               "content-type: text/plain\r\nx-two: 1\r\nx-two: 2\r\nconnection: keep-alive, x-hop\r\nx-hop: no\r\n"
               "content-length: 5\r\n\r\nhello").encode()
        with socket.create_connection(("127.0.0.1", int(host.rsplit(":", 1)[1])), timeout=5) as sock:
            sock.sendall(raw)
            received = b""
            while not received.endswith(b"}"):  # the echo's JSON; the socket's timeout bounds the wait
                piece = sock.recv(65536)
                assert piece, f"the proxy closed the connection after {received!r}"
                received += piece
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 418 ")
        assert head.count(b"set-cookie:") == 2 and b"x-upstream: yes" in head and b"x-mock-violations: 1" in head
        seen = json.loads(body)
        assert (seen["method"], seen["target"], seen["body"]) == ("PATCH", "/x/a/../b%2Fc?q=%41&r", "hello")
        names = [name for name, _ in seen["headers"]]
        # The client's headers, in order, but the hop-by-hop ones; no client library defaults.
        assert [h for h in seen["headers"] if h[0] not in ("host", "content-length")] == \
            [["x-api-key", ALICE], ["content-type", "text/plain"], ["x-two", "1"], ["x-two", "2"]]
        assert names.count("host") == 1 and dict(seen["headers"])["host"] == host.replace(
            host.rsplit(":", 1)[1], state.target.rsplit(":", 1)[1])
        assert [v["rule"] for v in state.violations] == ["request-operation"]  # no PATCH /x/... in the contract


def test_a_compressed_stream_passes_compressed_and_is_judged_decoded() -> None:
    packed = gzip.compress(b"".join(WRONG_STREAM))

    async def chat(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for i in range(0, len(packed), 40):  # cut anywhere, as a network would
                yield packed[i:i + 40]

        return StreamingResponse(body(), media_type="text/event-stream",
                                 headers={"x-workflow-run-id": RUN, "content-encoding": "gzip"})

    for target, proxy, state in through(Starlette(routes=[Route("/api/chat", chat, methods=["POST"])])):
        raw = {}
        for base in (target, proxy):
            with httpx.stream("POST", base + "/api/chat", json=chat_body(), headers=H, timeout=10) as response:
                raw[base] = b"".join(response.iter_raw())
                assert response.headers["content-encoding"] == "gzip"
        assert raw[proxy] == raw[target] == packed
        assert [(v["rule"], v["where"]) for v in state.violations] == [("chunk-schema", "event 3"),
                                                                       ("done-last", "end of stream")]
