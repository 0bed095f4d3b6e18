"""The outermost layer: CORS on every response, preflight answers, the world, the journal, the access log.

CORS headers go on every response (errors, 204s and streams included), because a front end on
another origin must be able to read all of them. Preflights are answered here, before routing.
Deliberately not Starlette's CORSMiddleware: that one adds headers only when an ``Origin`` is sent
and rejects preflights for headers it was not told about.

The world (``x-mock-world``) is picked here, before routing, because the journal it writes to is the
world's own; handlers find it in the scope (``recoup.world``). A bad world name or a full registry is
answered here, in the documented error body, and journaled in the default world.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import accesslog
from .accesslog import DROPPED, SERVER_STOPPED, WENT_AWAY
from .errors import ApiError, UnknownPath, sole_exception
from .profiles import error_answer
from .responses import ApiRequest, RequestHeaders
from .routing import Found
from .state.app_state import MockState
from .state.events import EventBus
from .state.journal import JournalEntry, pack_headers
from .state.worlds import DEFAULT, HEADER, World
from .streams.engine import DropConnection

log = logging.getLogger("recoup_mock")

CORS_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS, PATCH"),
    (b"access-control-allow-headers",
     b"Content-Type, Authorization, X-Requested-With, x-api-key, Prefer, x-mock-admin-token, x-mock-world"),
    (b"access-control-expose-headers",
     b"x-workflow-run-id, x-workflow-stream-tail-index, Location, Retry-After"),
)
PREFLIGHT_HEADERS = [*CORS_HEADERS, (b"access-control-max-age", b"600"), (b"content-length", b"0")]


INTERNAL_ERROR = "Internal error in recoup-mock; see the server log"


class _Sender:
    """The ``send`` of one request: the one place CORS headers are added to a response (a preflight's
    own answer is the constant `PREFLIGHT_HEADERS`), and what the journal and the log need of the
    response as it goes out: its status, and whether its body ended. One small object per request."""

    __slots__ = ("_bus", "_send", "done", "entry", "started", "status", "world")

    def __init__(self, send: Send, bus: EventBus, world: World, entry: JournalEntry | None) -> None:
        self._send = send
        self._bus = bus
        self.world = world
        self.entry = entry
        self.started = time.perf_counter()
        self.status = 0
        self.done = False

    async def send(self, message: Message) -> None:
        """Pass ``message`` on; on the response start add CORS and tell the journal the status."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            # A tuple, which the journal keeps as it is (ASGI takes any iterable of pairs).
            message["headers"] = headers = (*message.get("headers", ()), *CORS_HEADERS)
            if self.entry is not None:
                self.entry.status = self.status
                self.entry.response_headers = headers
                if self._bus.watched:
                    _publish(self._bus, self.world, self.entry)
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.done = True
        await self._send(message)


#: The app's one error handler (`mockserver.app.create_app`): an error as the request's operation answers it.
ErrorHandler = Callable[[ApiRequest, Exception], Awaitable[Response]]


class MockMiddleware:
    """CORS, preflight, journal and access log, as one pure ASGI middleware (no body buffering); and
    the dispatch of every request the app's `RouteIndex` knows straight to its endpoint, errors
    answered by ``on_error`` (the rest goes on to ``app``, Starlette's router: 404, 405)."""

    def __init__(self, app: ASGIApp, state: MockState, *, on_error: ErrorHandler, access_log: bool = True) -> None:
        self.app = app
        self.state = state
        self.access_log = access_log
        self.on_error = on_error
        # The process's access log, as it is when the app first runs (`serve` installs its own first).
        self._access = accesslog.installed()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The hot path: the steps are a few lines each, or plain calls (no coroutine, tuple or
        # closure of our own per request: the sender is the one object made here).
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # The request's headers, indexed once for everything that reads them (the world, the handler).
        scope["recoup.headers"] = headers = RequestHeaders(scope=scope)
        try:
            world, refused = self.state.worlds.get(headers.get(HEADER)), None
        except ApiError as exc:  # a bad world name or a full registry: refused, in the default world
            world, refused = self.state.worlds.default, exc
        if scope["method"] == "OPTIONS" and refused is None:
            await self._options(scope, receive, send, world)
            return
        sender = _Sender(send, self.state.bus, world, self._journal_begin(scope, world))
        world.in_flight += 1
        outcome = ""
        try:
            if refused is not None:
                await error_answer(refused, world.profile.behaviour)(scope, receive, sender.send)
            elif (found := self._find(scope)) is not None:
                await self._dispatch(found, scope, receive, sender)
            else:
                await self.app(scope, receive, sender.send)
        except DropConnection:
            outcome = DROPPED
            raise
        except asyncio.CancelledError:
            # Under uvicorn nothing cancels a request's task but the server as it stops (it cancels
            # what outlives its grace period); a body read's own deadline is handled where it happens.
            outcome = SERVER_STOPPED
            raise
        except Exception:
            # A bug of ours: answer 500 in the documented body, with CORS, rather than a bare 500.
            log.exception("Unhandled error on %s %s", scope["method"], scope["path"])
            if sender.status:
                raise  # the response has begun: nothing more can be said, the server cuts it
            await error_answer(ApiError(500, INTERNAL_ERROR), world.profile.behaviour)(scope, receive, sender.send)
        finally:
            world.in_flight -= 1
            elapsed = (time.perf_counter() - sender.started) * 1000
            self._journal_end(sender, elapsed)
            self._log(scope, sender, elapsed, outcome)

    def _find(self, scope: Scope) -> Found | None:
        """The request's endpoint from the route index (not under a root path: the router strips it)."""
        if scope.get("root_path"):
            return None
        return self.state.routes.find(scope["method"], scope["path"])

    async def _dispatch(self, found: Found, scope: Scope, receive: Receive, sender: _Sender) -> None:
        """What Starlette's route would do, without its layers: the endpoint, its answer or its error."""
        endpoint, params = found
        scope["path_params"] = dict(params)
        request = ApiRequest(scope, receive, sender.send)
        try:
            response = await endpoint(request)
            await response(scope, receive, sender.send)
        except (ApiError, HTTPException) as exc:
            if sender.status:
                raise  # the response has begun (a stream): it cannot turn into an error answer now
            response = await self.on_error(request, exc)
            await response(scope, receive, sender.send)

    def _journal_begin(self, scope: Scope, world: World) -> JournalEntry | None:
        """Journal the request in its world (not the admin API's own calls) and hand the world and the
        entry to what runs next, through the scope."""
        path = scope["path"]
        if path.startswith("/__mock/"):
            entry = None
        else:
            self.state.worlds.make_room(world)
            entry = world.journal.record(scope["method"], path, 0)
        if entry is not None:
            entry.request_headers = pack_headers(scope["headers"])
            if self.state.bus.watched:
                _publish(self.state.bus, world, entry)
        scope["recoup.world"] = world
        scope["recoup.entry"] = entry
        return entry

    def _journal_end(self, sender: _Sender, elapsed: float) -> None:
        """Close the request's journal entry (the status and headers were noted as the response began)."""
        entry = sender.entry
        if entry is not None:
            entry.duration_ms = elapsed
            entry.done = True
            if self.state.bus.watched:
                _publish(self.state.bus, sender.world, entry)

    def _log(self, scope: Scope, sender: _Sender, elapsed: float, outcome: str) -> None:
        """The request's access log line: method, path, status, time, who and what answered, how it ended.
        Only the fields are handed on: the writer formats them (when its log is on), off the request."""
        if not self.access_log:
            return
        if not sender.done and not outcome:
            outcome = WENT_AWAY
        entry = sender.entry
        if entry is None:
            self._access.write(scope["method"], scope["path"], sender.status, elapsed, None, None, None, None, outcome)
        else:
            self._access.write(scope["method"], scope["path"], sender.status, elapsed, _named(sender.world),
                               entry.scenario, entry.run_id, entry.account, outcome)

    async def _options(self, scope: Scope, receive: Receive, send: Send, world: World) -> None:
        """Any OPTIONS, answered here before routing: a preflight (200, or the profile's status for the
        path), or the profile's not-found answer on a path it lacks.

        A preflight carries no x-mock-world, only the names of the headers to come: one that announces
        it belongs to some world's traffic, so it stays out of the default world's journal."""
        method, path = scope["method"], scope["path"]
        behaviour = world.profile.behaviour
        if self.state.catalog.specs.lacks(world.profile, path):
            sender = _Sender(send, self.state.bus, world, None)
            await error_answer(UnknownPath(f"No operation at OPTIONS {path} under the "
                                           f"'{world.profile.name}' profile"), behaviour)(scope, receive, sender.send)
            status = sender.status
        else:
            status = behaviour.preflight_statuses.get(path, 200)
            await send({"type": "http.response.start", "status": status, "headers": PREFLIGHT_HEADERS})
            await send({"type": "http.response.body", "body": b""})
        if not path.startswith("/__mock/") and not (world is self.state.worlds.default and _announces_world(scope)):
            entry = world.journal.record(method, path, status)
            entry.request_headers, entry.done = pack_headers(scope["headers"]), True
            _publish(self.state.bus, world, entry)


def _publish(bus: EventBus, world: World, entry: JournalEntry) -> None:
    """Tell the inspector a journal entry began, got its status, or ended."""
    if bus.watched:
        bus.publish({"type": "request", "world": world.name, "entry": entry.to_json()})


def _announces_world(scope: Scope) -> bool:
    """Whether a preflight says the request to come sends ``x-mock-world``."""
    for name, value in scope["headers"]:
        if name == b"access-control-request-headers":
            return _HEADER in value.lower()
    return False


def _named(world: World) -> str | None:
    """The world's name for the log, or None for the default world (its lines stay as they were)."""
    return None if world.name == DEFAULT else world.name


_HEADER = HEADER.encode()


class DropFilter(logging.Filter):
    """Hide uvicorn's traceback for a connection a scenario dropped on purpose, and for a response
    the server cut as it stopped (uvicorn cancels what outlives its grace period): the access line
    says which (installed by ``recoup-mock serve`` on its own process; an embedding process keeps its
    logging as it is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not isinstance(sole_exception(record), DropConnection | asyncio.CancelledError)
