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

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .engine import DropConnection
from .errors import ApiError, UnknownPath
from .profiles import error_answer
from .state import MockState
from .store import JournalEntry, pack_headers
from .worlds import DEFAULT, HEADER, World

log = logging.getLogger("recoup_mock")

CORS_HEADERS: list[tuple[bytes, bytes]] = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS, PATCH"),
    (b"access-control-allow-headers",
     b"Content-Type, Authorization, X-Requested-With, x-api-key, Prefer, x-mock-admin-token, x-mock-world"),
    (b"access-control-expose-headers",
     b"x-workflow-run-id, x-workflow-stream-tail-index, Location, Retry-After"),
]
PREFLIGHT_HEADERS = [*CORS_HEADERS, (b"access-control-max-age", b"600"), (b"content-length", b"0")]


class MockMiddleware:
    """CORS, preflight, journal and access log, as one pure ASGI middleware (no body buffering)."""

    def __init__(self, app: ASGIApp, state: MockState, *, access_log: bool = True) -> None:
        self.app = app
        self.state = state
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        refused: ApiError | None = None
        try:
            world = self.state.worlds.get(_world_name(scope))
        except ApiError as exc:
            world, refused = self.state.worlds.default, exc
        if method == "OPTIONS" and refused is None:
            await self._options(scope, receive, send, world)
            return
        started = time.perf_counter()
        entry = None if path.startswith("/__mock/") else world.journal.record(method, path, 0)
        if entry is not None:
            entry.request_headers = pack_headers(scope["headers"])
            self._publish(world, entry)
        scope["recoup.world"] = world
        scope["recoup.entry"] = entry
        world.in_flight += 1
        status = 0
        done = False

        async def send_with_cors(message: Message) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *CORS_HEADERS]
                if entry is not None:
                    entry.status = status
                    entry.response_headers = pack_headers(message["headers"])
                    self._publish(world, entry)
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                done = True
            await send(message)

        outcome = ""
        try:
            if refused is not None:
                await error_answer(refused, world.profile.behaviour)(scope, receive, send_with_cors)
            else:
                await self.app(scope, receive, send_with_cors)
        except DropConnection:
            outcome = " (connection dropped by the scenario)"
            raise
        except Exception:
            # A bug of ours: answer 500 in the documented body, with CORS, rather than a bare 500.
            log.exception("Unhandled error on %s %s", method, path)
            if status:
                raise
            await error_answer(ApiError(500, "Internal error in recoup-mock; see the server log"),
                               world.profile.behaviour)(scope, receive, send_with_cors)
        finally:
            world.in_flight -= 1
            elapsed = (time.perf_counter() - started) * 1000
            if entry is not None:
                entry.duration_ms = elapsed
                entry.done = True
                self._publish(world, entry)
            if not done and not outcome:
                outcome = " (client went away)"
            if self.access_log and log.isEnabledFor(logging.INFO):
                extra = "" if entry is None else "".join(
                    f" {k}={v}" for k, v in (("world", _named(world)), ("scenario", entry.scenario),
                                             ("run", entry.run_id), ("key", entry.account)) if v)
                log.info("%s %s %s %.1fms%s%s", method, path, status, elapsed, extra, outcome)


    def _publish(self, world: World, entry: JournalEntry) -> None:
        """Tell the inspector a journal entry began, got its status, or ended."""
        if self.state.bus.watched:
            self.state.bus.publish({"type": "request", "world": world.name, "entry": entry.to_json()})

    async def _options(self, scope: Scope, receive: Receive, send: Send, world: World) -> None:
        """Any OPTIONS, answered here before routing: a preflight (200, or the profile's status for the
        path), or the profile's not-found answer on a path it lacks.

        A preflight carries no x-mock-world, only the names of the headers to come: one that announces
        it belongs to some world's traffic, so it stays out of the default world's journal."""
        method, path = scope["method"], scope["path"]
        behaviour = world.profile.behaviour
        if self.state.catalog.specs.lacks(world.profile, path):
            response = error_answer(UnknownPath(f"No operation at OPTIONS {path} under the "
                                                f"'{world.profile.name}' profile"), behaviour)
            status = response.status_code

            async def with_cors(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), *CORS_HEADERS]
                await send(message)

            await response(scope, receive, with_cors)
        else:
            status = behaviour.preflight_statuses.get(path, 200)
            await send({"type": "http.response.start", "status": status, "headers": PREFLIGHT_HEADERS})
            await send({"type": "http.response.body", "body": b""})
        if not path.startswith("/__mock/") and not (world is self.state.worlds.default and _announces_world(scope)):
            entry = world.journal.record(method, path, status)
            entry.request_headers, entry.done = pack_headers(scope["headers"]), True
            self._publish(world, entry)


def _world_name(scope: Scope) -> str | None:
    """The raw ``x-mock-world`` header value, if sent (ASGI header names are lowercase bytes)."""
    for name, value in scope["headers"]:
        if name == _HEADER:
            return str(value.decode("latin-1"))
    return None


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
    """Hide uvicorn's traceback for a connection a scenario dropped on purpose (installed by
    ``recoup-mock serve`` on its own process; an embedding process keeps its logging as it is)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        return not isinstance(exc, DropConnection)
