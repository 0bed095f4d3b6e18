"""``recoup-mock proxy``: a reverse proxy in front of a real deployment that checks, and can record, what passes.

**Faithful.** A request goes to the target as it came: method, raw path and query, body, and every
header but the hop-by-hop ones (``Host`` becomes the target's; the credential is the client's own).
The answer comes back with the same status, headers and body bytes. A stream (``text/event-stream``)
is forwarded write by write as each piece arrives, with no ``Content-Length`` and nothing held back;
a client that goes away closes the upstream connection, and an upstream that drops the connection
drops the client's. A finite answer is read whole first, so that ``x-mock-violations`` can count its
problems in its headers.

**Validating.** Each exchange is judged against the profile's contract (`mockserver.conformance`):
the request, the status, headers and body, and a stream event by event as it passes, with the
ordering rules clients enforce (`mockserver.rules`). What is found never changes what the client
gets. Each finding is logged on one line, kept on the exchange's journal entry and listed at
``GET /__mock/violations`` (`mockserver.proxy_admin`). **Recording** (``--record DIR``) is
`mockserver.recorder`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.cookiejar
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from .auth import credential, mask
from .conformance import Matched
from .errors import ApiError
from .proxy_admin import Findings, ProxyState, admin_app, secrets_of_scope
from .recorder import RECORDED_STATUSES, Exchange, StreamRecording

log = logging.getLogger("recoup_mock.proxy")

#: Not forwarded to the target (RFC 9110 §7.6.1): they are about the client's connection to the proxy.
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te", b"trailer",
                        b"upgrade", b"proxy-authenticate", b"proxy-authorization"})
#: Request headers httpx sets from the target URL and the body.
REQUEST_OWN = frozenset({b"host", b"content-length"})
#: Not forwarded back: the framing, which the proxy's server redoes. ``Connection: keep-alive`` does go back,
#: as sent: it is one of the AI SDK's stream headers, and a client may look for it (a ``close`` is honoured).
RESPONSE_FRAMING = frozenset({b"transfer-encoding", b"te", b"trailer", b"upgrade", b"proxy-connection",
                              b"proxy-authenticate"})
#: A finite answer larger than this is forwarded unread past it (its body is then not checked).
MAX_FINITE_BYTES = 16 * 1024 * 1024
#: Connecting to the target; reading has no bound (a stream may be silent for long).
CONNECT_TIMEOUT = 10.0


class UpstreamDropped(Exception):
    """The target dropped the connection mid-answer: the client's is dropped too (raised after the
    response has started, so the server aborts the connection instead of ending the body)."""


class _NoCookies(http.cookiejar.CookieJar):
    """The upstream client keeps no cookies: one client's ``Set-Cookie`` must never reach another's request."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        return None


def upstream_client() -> httpx.AsyncClient:
    """An httpx client that sends exactly the headers it is given (none of its own defaults, no cookies)."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=CONNECT_TIMEOUT), cookies=_NoCookies(),
                               follow_redirects=False, trust_env=False)
    for name in list(client.headers):  # Accept, Accept-Encoding, Connection, User-Agent
        del client.headers[name]
    return client


def _forwarded(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """A request's headers for the target: without the hop-by-hop ones, those its ``Connection`` names,
    and those httpx sets."""
    named = {n.strip().lower() for k, v in headers if k.lower() == b"connection" for n in v.split(b",")}
    drop = HOP_BY_HOP | named | REQUEST_OWN
    return [(k, v) for k, v in headers if k.lower() not in drop]


def _returned(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An answer's headers for the client: all of them, in order, but the framing."""
    return [(k, v) for k, v in headers if k.lower() not in RESPONSE_FRAMING]


class Proxy:
    """The ASGI app of ``recoup-mock proxy``: ``/__mock/`` is its own admin API, everything else is forwarded."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.admin = admin_app(state)
        self.client: httpx.AsyncClient | None = None
        #: Recordings being written (kept so that shutdown waits for them).
        self._writing: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http" and scope["path"].startswith("/__mock/"):
            await self.admin(scope, receive, send)
        elif scope["type"] == "http":
            await self._forward(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.client = upstream_client()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.gather(*self._writing, return_exceptions=True)
                if self.client is not None:
                    await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self.state
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        entry = state.begin(method, path)
        secrets = secrets_of_scope(scope)
        with contextlib.suppress(ApiError):
            entry.account = mask(credential(Headers(scope=scope)))
        exchange = Findings(state, entry)
        outcome = ""
        try:
            body = await _read_body(receive)
            if body is None:
                outcome = " (client went away)"
                return
            preflight = method == "OPTIONS" and any(k == b"access-control-request-method" for k, _ in scope["headers"])
            matched, found = (None, []) if preflight else state.conformance.check_request(scope, body)
            exchange.report(found)
            query: bytes = scope.get("query_string", b"")
            # The request target exactly as the client sent it (httpx would drop dot segments of a URL's
            # path): httpcore sends the `target` extension as is.
            target = state.prefix + (scope.get("raw_path") or path.encode()) + (b"?" + query if query else b"")
            assert self.client is not None, "the proxy's lifespan has not started"
            request = self.client.build_request(method, state.target, content=body,
                                                headers=_forwarded(list(scope["headers"])),
                                                extensions={"target": target})
            sent_at = time.monotonic()
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                entry.status = 502
                await _bad_gateway(send, f"recoup-mock proxy cannot reach {state.target}: {type(exc).__name__} {exc}")
                outcome = " (target unreachable)"
                return
            record = Exchange(method, path, response.status_code, sent_at, secrets, bool(query))
            try:
                outcome = await self._answer(receive, send, response, matched, exchange, record,
                                             from_start=_start_index(query) == 0)
            finally:
                await response.aclose()  # unread (the client went away): the connection is closed, not reused
        finally:
            state.end(entry, (time.perf_counter() - started) * 1000)
            exchange.close()
            log.info("%s %s %s %.1fms%s%s", method, path, entry.status, entry.duration_ms,
                     f" violations={len(entry.violations or [])}" if entry.violations else "", outcome)

    async def _answer(self, receive: Receive, send: Send, response: httpx.Response, matched: Matched | None,
                      exchange: Findings, record: Exchange, *, from_start: bool) -> str:
        state = self.state
        status = response.status_code
        exchange.entry.status = status
        headers = _returned(list(response.headers.raw))
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if matched is not None:
            exchange.report(state.conformance.check_head(matched, status, response.headers))
        if media == "text/event-stream":
            return await self._stream(receive, send, response, headers, exchange, record, from_start)
        body, complete = b"", True
        pieces = response.aiter_raw()
        async for piece in pieces:
            body += piece
            if len(body) > MAX_FINITE_BYTES:
                complete = False
                break
        if matched is not None and complete:
            exchange.report(state.conformance.check_body(matched, status, media, body))
        count = str(len(exchange.entry.violations or [])).encode()
        await send({"type": "http.response.start", "status": status, "headers": [*headers,
                                                                                  (b"x-mock-violations", count)]})
        await send({"type": "http.response.body", "body": body, "more_body": not complete})
        if not complete:
            async for piece in pieces:  # the same iterator, resumed past the cap
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        if state.recorder is not None and status in RECORDED_STATUSES:
            self._record(functools.partial(state.recorder.write_http, record, _message(body),
                                           response.headers.get("retry-after")), exchange)
        return ""

    async def _stream(self, receive: Receive, send: Send, response: httpx.Response,
                      headers: list[tuple[bytes, bytes]], exchange: Findings, record: Exchange,
                      from_start: bool) -> str:
        """Forward a stream piece by piece as it arrives, judging each after it has gone out."""
        check = self.state.conformance.stream(from_start)
        status = response.status_code
        recording = StreamRecording(record)
        gone = False
        dropped: Exception | None = None
        await send({"type": "http.response.start", "status": status, "headers": headers})
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal gone
                while (await receive())["type"] != "http.disconnect":
                    pass
                # The server also says "disconnect" once the response is complete: only before is it the client.
                if recording.ended_at is None:
                    gone = True
                    group.cancel_scope.cancel()  # the client went away: stop reading the target

            group.start_soon(watch)
            try:
                async for piece in response.aiter_raw():
                    at = time.monotonic()
                    # Forward first, judge after: checking never delays a byte.
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                    events, found = check.feed(piece)
                    recording.add(events, at)
                    exchange.report(found)
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                dropped = exc
            recording.ended_at = time.monotonic()
            if not gone and dropped is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()
        if gone:
            return " (client went away; upstream closed)"
        exchange.report(check.end())
        if self.state.recorder is not None:
            self._record(functools.partial(self.state.recorder.write_stream, recording), exchange)
        if dropped is not None:
            raise UpstreamDropped(f"{exchange.entry.method} {exchange.entry.path}: {self.state.target} dropped the "
                                  f"stream ({dropped}); the client's connection is dropped too")
        return ""

    def _record(self, write: Callable[[], Path], exchange: Findings) -> None:
        """Write a recording in a thread (YAML takes milliseconds); the journal entry names it when done."""

        async def run() -> None:
            try:
                path = await asyncio.to_thread(write)
            except Exception as exc:  # a recording must never break the proxying
                log.error("recording %s %s failed: %s", exchange.entry.method, exchange.entry.path, exc)
                return
            exchange.entry.scenario = path.stem
            log.info("recorded %s %s -> %s", exchange.entry.method, exchange.entry.path, path)

        task = asyncio.get_running_loop().create_task(run())
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    body = bytearray()
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return bytes(body)


async def _bad_gateway(send: Send, message: str) -> None:
    body = json.dumps({"status": "error", "message": message}).encode()
    await send({"type": "http.response.start", "status": 502,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _start_index(query: bytes) -> int:
    """A resume's ``startIndex`` (0 when absent or not a number: the stream is then judged from its start)."""
    with contextlib.suppress(ValueError):
        return int(parse_qs(query.decode("latin-1")).get("startIndex", ["0"])[0])
    return 0


def _message(body: bytes) -> str:
    """The text of an error answer: its ``message`` or ``error`` field, else the body itself."""
    with contextlib.suppress(ValueError):
        value = json.loads(body)
        if isinstance(value, dict):
            for key in ("message", "error"):
                if isinstance(value.get(key), str):
                    return str(value[key])
    return body.decode("utf-8", errors="replace")[:240]


class ProxyLogFilter(logging.Filter):
    """Hide uvicorn's traceback for a stream the target dropped (the proxy logs it in one line)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        if isinstance(exc, UpstreamDropped):
            log.info("%s", exc)
            return False
        return True
