"""``recoup-mock proxy``: a reverse proxy in front of a real deployment that checks, and can record, what passes.

**Faithful.** A request goes to the target as it came: method, raw path and query, body, and every
header but the hop-by-hop ones (``Host`` becomes the target's; the credential is the client's own).
The answer comes back with the same status, headers and body bytes. A stream (``text/event-stream``)
is forwarded write by write as each piece arrives, with no ``Content-Length`` and nothing held back;
a client that goes away closes the upstream connection, and an upstream that drops the connection
drops the client's. A finite answer is read whole first, so that ``x-mock-violations`` can count its
problems in its headers. Only a GET or a POST answer that has a body is a stream (a HEAD's
``text/event-stream`` answer is its headers only).

**Its own answers.** When the proxy answers itself (the target cannot be reached or broke its answer
off: 502; a bug of ours: 500) it does so in the documented error body (`mockserver.errors`' one
renderer) with CORS, as do its ``/__mock/`` calls, so that a page on another origin can read them.

**Validating.** Each exchange is judged against the profile's contract (`mockserver.proxy.conformance`):
the request, the status, headers and body, and a stream event by event as it passes, with the
ordering rules clients enforce (`mockserver.streams.rules`). What is found never changes what the client
gets. Each finding is logged on one line, kept on the exchange's journal entry and listed at
``GET /__mock/violations`` (`mockserver.proxy.admin`). **Recording** (``--record DIR``) is
`mockserver.proxy.recorder`'s; the client facing the target and the header rules are `mockserver.proxy.upstream`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs

import anyio
import httpx
from starlette.datastructures import Headers
from starlette.types import Message, Receive, Scope, Send

from ..auth import credential, mask
from ..errors import ApiError, error_response
from ..state.journal import JournalEntry
from .admin import Findings, ProxyState, admin_app, secrets_of_scope
from .conformance import RULE_BODY, Finding, Matched, body_decoder
from .recorder import RECORDED_STATUSES, Exchange, StreamRecording
from .upstream import UpstreamDropped, forwarded, returned, upstream_client

log = logging.getLogger("recoup_mock.proxy")
#: A finite answer larger than this is forwarded unread past it (its body is then not checked).
MAX_FINITE_BYTES = 16 * 1024 * 1024
#: The methods whose ``text/event-stream`` answers are streams (the chat API's POST and its resume's GET).
STREAM_METHODS = frozenset({"GET", "POST"})
#: Statuses that have no body, whatever their Content-Type says (RFC 9110 §6.4.1).
NO_BODY_STATUSES = frozenset({204, 304})
#: On every answer the proxy makes itself: a page on another origin can read it (the target's own answers
#: pass with the target's CORS, untouched).
OWN_CORS = [(b"access-control-allow-origin", b"*")]


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
            await self.admin(scope, receive, _with_cors(send))
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
        started_answer = False

        async def send_noting(message: Message) -> None:
            nonlocal started_answer
            started_answer = started_answer or message["type"] == "http.response.start"
            await send(message)

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
                                                headers=forwarded(list(scope["headers"])),
                                                extensions={"target": target})
            sent_at = time.monotonic()
            try:
                response = await self.client.send(request, stream=True)
            except httpx.HTTPError as exc:
                await _own_answer(scope, receive, send_noting, entry, ApiError(
                    502, f"recoup-mock proxy cannot reach {state.target}: {type(exc).__name__} {exc}"))
                outcome = " (target unreachable)"
                return
            record = Exchange(method, path, response.status_code, sent_at, secrets, bool(query))
            try:
                outcome = await self._answer(scope, receive, send_noting, response, matched, exchange, record,
                                             from_start=_start_index(query) == 0)
            finally:
                await response.aclose()  # unread (the client went away): the connection is closed, not reused
        except UpstreamDropped:
            raise  # the answer has started: the server aborts the connection (`ProxyLogFilter` says why, once)
        except asyncio.CancelledError:
            # uvicorn cancels what outlives its grace period as the proxy stops (`ProxyLogFilter` hides
            # its traceback): this line says so.
            outcome = " (cut short: the proxy stopped)"
            raise
        except Exception:
            # A bug of ours: answer 500 in the documented body, with CORS, rather than uvicorn's bare one.
            log.exception("recoup-mock proxy failed on %s %s", method, path)
            if started_answer:
                raise
            await _own_answer(scope, receive, send_noting, entry,
                              ApiError(500, "Internal error in recoup-mock proxy; see its log"))
            outcome = " (internal error)"
        finally:
            state.end(entry, (time.perf_counter() - started) * 1000)
            exchange.close()
            log.info("%s %s %s %.1fms%s%s", method, path, entry.status, entry.duration_ms,
                     f" violations={len(entry.violations or [])}" if entry.violations else "", outcome)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, response: httpx.Response,
                      matched: Matched | None, exchange: Findings, record: Exchange, *, from_start: bool) -> str:
        state = self.state
        status = response.status_code
        exchange.entry.status = status
        has_body = record.method != "HEAD" and status not in NO_BODY_STATUSES
        headers = returned(list(response.headers.raw))
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if matched is not None:
            exchange.report(state.conformance.check_head(matched, status, response.headers))
        decode = body_decoder(response.headers.get("content-encoding", ""))
        if decode is None:
            log.info("%s %s: the answer's Content-Encoding %r cannot be read here; its body goes unchecked",
                     record.method, record.path, response.headers.get("content-encoding"))
        if media == "text/event-stream" and has_body and record.method in STREAM_METHODS:
            return await self._stream(receive, send, response, headers, exchange, record, from_start, decode)
        body, complete = b"", True
        pieces = response.aiter_raw()
        try:
            async for piece in pieces:
                body += piece
                if len(body) > MAX_FINITE_BYTES:
                    complete = False
                    break
        except httpx.TransportError as exc:
            # A finite answer is read whole before anything of it is sent, so nothing has gone out yet and
            # the client can be told the truth with a status: the target's answer is broken, 502 (RFC 9110
            # §15.6.3). Passing its head on with the bytes that came would give a body shorter than its
            # Content-Length, which the client could only take for a network failure.
            await _own_answer(scope, receive, send, exchange.entry, ApiError(
                502, f"{state.target} ended its answer early ({status}, {len(body)} bytes of its body came; "
                     f"{type(exc).__name__}: {exc}); recoup-mock proxy passes on no part of a broken answer"))
            return " (the target broke its answer off)"
        plain = None  # the body as judged (and recorded): decoded from its Content-Encoding
        if complete and decode is not None:
            try:
                plain = decode(body)
            except zlib.error as exc:
                exchange.report([Finding(RULE_BODY, "body", f"not the {_encoding(response)} it says: {exc}")])
        if matched is not None and plain is not None and has_body:
            exchange.report(state.conformance.check_body(matched, status, media, plain))
        count = str(len(exchange.entry.violations or [])).encode()
        # A second Expose-Headers line: browsers join it to the target's own, so a page can read the count.
        await send({"type": "http.response.start", "status": status, "headers": [
            *headers, (b"x-mock-violations", count), (b"access-control-expose-headers", b"x-mock-violations")]})
        await send({"type": "http.response.body", "body": body, "more_body": not complete})
        if not complete:
            try:
                async for piece in pieces:  # the same iterator, resumed past the cap
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
            except httpx.TransportError as exc:
                # Past the cap the head has gone out: the status cannot change, so the client's connection
                # is dropped as the target's was (the journal keeps the status the client got).
                raise UpstreamDropped(f"{record.method} {record.path}: {state.target} dropped its answer past "
                                      f"{MAX_FINITE_BYTES} bytes ({exc}); the client's connection is dropped "
                                      "too") from None
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # A HEAD's answer has no body: recorded, it would replay a message the target never sent.
        if state.recorder is not None and status in RECORDED_STATUSES and record.method != "HEAD":
            self._record(functools.partial(state.recorder.write_http, record, _message(plain or body),
                                           response.headers.get("retry-after")), exchange)
        return ""

    async def _stream(self, receive: Receive, send: Send, response: httpx.Response,
                      headers: list[tuple[bytes, bytes]], exchange: Findings, record: Exchange,
                      from_start: bool, decode: Callable[[bytes], bytes] | None) -> str:
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
                    if decode is None:
                        continue
                    try:
                        events, found = check.feed(decode(piece))
                    except zlib.error as exc:  # only the judging stops here: what passes is untouched
                        exchange.report([Finding(RULE_BODY, "body", f"not the {_encoding(response)} it says: {exc}")])
                        decode = None
                        continue
                    recording.add(events, at)
                    exchange.report(found)
            except httpx.TransportError as exc:
                dropped = exc
            recording.ended_at = time.monotonic()
            if not gone and decode is not None:
                # Judged before the end goes out (it is no byte, and the judging takes microseconds): a client
                # that asks for /__mock/violations once it has its whole stream gets the stream's findings too.
                exchange.report(check.end())
            if not gone and dropped is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            group.cancel_scope.cancel()
        if gone:
            return " (client went away; upstream closed)"
        if decode is None:
            return " (stream unchecked, not recorded: its encoding cannot be read here)"
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


def _with_cors(send: Send) -> Send:
    """``send``, adding `OWN_CORS` to the head of an answer the proxy makes itself."""

    async def with_cors(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *OWN_CORS]
        await send(message)

    return with_cors


async def _own_answer(scope: Scope, receive: Receive, send: Send, entry: JournalEntry, exc: ApiError) -> None:
    """Answer the proxy's own error (the documented body, by the one renderer, with CORS), journaled as sent."""
    entry.status = exc.status
    await error_response(exc)(scope, receive, _with_cors(send))


def _start_index(query: bytes) -> int:
    """A resume's ``startIndex`` (0 when absent or not a number: the stream is then judged from its start)."""
    with contextlib.suppress(ValueError):
        return int(parse_qs(query.decode("latin-1")).get("startIndex", ["0"])[0])
    return 0


def _encoding(response: httpx.Response) -> str:
    return str(response.headers.get("content-encoding", "?"))


def _message(body: bytes) -> str:
    """The text of an error answer: its ``message`` or ``error`` field, else the body itself."""
    with contextlib.suppress(ValueError, RecursionError):  # RecursionError: nested too deeply to read
        value = json.loads(body)
        if isinstance(value, dict):
            for key in ("message", "error"):
                if isinstance(value.get(key), str):
                    return str(value[key])
    return body.decode("utf-8", errors="replace")[:240]
