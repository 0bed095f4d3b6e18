"""The app factory: routes from the spec, the middleware, the state, the error bodies.

`create_app(settings)` loads the spec and fixtures (raising `SpecError`/`FixtureError` with the
file and position on a problem) and returns a Starlette app. Importing this module does nothing.
Routes are built from the spec's operations: each is bound to a handler by its operationId, or, in
a spec without the project's operationIds (an upstream document, a newer version), by its method
and path template; an operation no handler knows is answered by the generic responder
(`mockserver.api.generic`). A parameter a handler reads that the spec names otherwise is a `SpecError`
at start-up (and a refused reload).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from .admin import api as admin
from .admin import inspector
from .admin.reload import watch
from .api import chat as handlers
from .api import chats, generic, sandbox, session_chats, sessions
from .errors import ApiError, SpecError, UnknownPath
from .middleware import MockMiddleware
from .pipeline import Authorizer, FaultPolicy, Handler, SpecFor, api_key_auth, endpoint
from .profiles import derived_document, error_answer, profile_named
from .settings import DEFAULT_ADMIN_SPEC, DEFAULT_SPEC, Settings
from .spec import ApiSpec, Operation, load_document, template_shape
from .state.app_state import MockState
from .state.catalog import Catalog, load_catalog


@dataclass(frozen=True)
class Handling:
    """How the app answers one operation: its handler, and the parameters the handler reads by name
    (``path_params[name]``, ``query_params.get(name)``). The spec must declare each path parameter
    under that name: start-up and every reload check it (`check_handlers`), so a renamed one is
    refused there rather than failing every request on the route. A query parameter is optional to
    the handler: a spec that does not declare it (an upstream document without ``startIndex``)
    leaves it unchecked, and the handler refuses a bad value itself. One it declares under another
    name is a spec the handler cannot serve, and refused."""

    handler: Handler
    path: tuple[str, ...] = ()
    query: tuple[str, ...] = ()


API_HANDLERS: dict[str, Handling] = {
    "postChat": Handling(handlers.post_chat),
    "postChatWorkflow": Handling(handlers.post_chat),
    "resumeChatStream": Handling(handlers.resume_chat_stream, path=("chatId",), query=("startIndex",)),
    "stopChat": Handling(handlers.stop_chat, path=("chatId",)),
    "startChatRun": Handling(handlers.start_chat_run),
    "getChatRunStatus": Handling(handlers.get_chat_run_status, path=("runId",)),
    "legacyChat": Handling(handlers.legacy_chat),
    "legacyChatOptions": Handling(handlers.legacy_chat_options),
    "createSession": Handling(sessions.create_session),
    "getSession": Handling(sessions.get_session, path=("sessionId",)),
    "patchSession": Handling(sessions.patch_session, path=("sessionId",)),
    "listSessionChats": Handling(session_chats.list_session_chats, path=("sessionId",)),
    "createSessionChat": Handling(session_chats.create_session_chat, path=("sessionId",)),
    "getSessionChat": Handling(session_chats.get_session_chat, path=("sessionId", "chatId")),
    "patchSessionChat": Handling(session_chats.patch_session_chat, path=("sessionId", "chatId")),
    "deleteSessionChat": Handling(session_chats.delete_session_chat, path=("sessionId", "chatId")),
    "markSessionChatRead": Handling(session_chats.mark_session_chat_read, path=("sessionId", "chatId")),
    "listChats": Handling(chats.list_chats, query=("account_id", "artist_account_id")),
    "createChat": Handling(chats.create_chat),
    "updateChat": Handling(chats.update_chat),
    "deleteChat": Handling(chats.delete_chat),
    "getChatMessages": Handling(chats.get_chat_messages, path=("id",)),
    "copyChatMessages": Handling(chats.copy_chat_messages, path=("id",)),
    "deleteTrailingChatMessages": Handling(chats.delete_trailing_chat_messages, path=("id",),
                                           query=("from_message_id",)),
    "compactChats": Handling(chats.compact_chats),
    "getChatArtist": Handling(chats.get_chat_artist, path=("id",)),
    "createSandbox": Handling(sandbox.create_sandbox),
    "getSandboxStatus": Handling(sandbox.get_sandbox_status, query=("sessionId",)),
    "reconnectSandbox": Handling(sandbox.reconnect_sandbox, query=("sessionId",)),
}
#: How each operation of the chat API meets the scenario a request asks for (`FaultPolicy`): the ones
#: that play a stream choose it themselves, after their state answers (`api.chat.select_scenario`), and
#: so does stop (after its lookup: a 404 or 403 leaves the queue as it was); a resume reads a stream and
#: ignores a stream scenario's name; every other operation, the generic responder's included, is answered
#: by an http-status scenario in the pipeline, before its handler runs.
FAULT_POLICIES: dict[str, FaultPolicy] = {
    **dict.fromkeys(handlers.PLAY_A_STREAM, "handler"), **dict.fromkeys(handlers.READ_A_STREAM, "answer-http"),
    "stopChat": "handler",
}
ADMIN_HANDLERS: dict[str, Handling] = {
    "resetMock": Handling(admin.reset_mock, query=("all",)),
    "listRequests": Handling(admin.list_requests, query=("method", "path", "status", "scenario", "runId", "limit")),
    "listScenarios": Handling(admin.list_scenarios),
    "queueScenarios": Handling(admin.queue_scenarios),
    "listQueuedScenarios": Handling(admin.list_queued_scenarios),
    "getClock": Handling(admin.get_clock),
    "advanceClock": Handling(admin.advance_clock),
    "getStatus": Handling(admin.get_status),
    "listWorlds": Handling(admin.list_worlds),
    "configureWorld": Handling(admin.configure_world, path=("name",)),
    "inspectorPage": Handling(inspector.page),
    "inspectorFile": Handling(inspector.page_file, path=("file",)),
    "watchEvents": Handling(inspector.events),
    "getRequest": Handling(inspector.request_detail, path=("seq",)),
    "listRuns": Handling(inspector.list_runs),
    "getRun": Handling(inspector.get_run, path=("runId",)),
    "stopRun": Handling(inspector.stop_run, path=("runId",)),
    "getRunScenario": Handling(inspector.run_scenario, path=("runId",)),
}


@dataclass(frozen=True)
class Binding:
    """An operation of a spec and what answers it: the handler of the table named ``name``, or the
    generic responder (``name`` None: no handler knows the operation)."""

    op: Operation
    name: str | None
    #: The project's own operation of the handler, when ``op`` comes from another spec: its request
    #: rules still hold, since they are what the handler was written against (`pipeline.endpoint`).
    guard: Operation | None = None


def bind(spec: ApiSpec, table: Mapping[str, Handling], bundled: Path) -> list[Binding]:
    """Each operation of ``spec`` with its handler: the one named by its operationId, else (an
    operation without one, or with another name, as upstream documents have) the one whose operation
    in the ``bundled`` contract has the same method and path template; else the generic responder."""
    routes: dict[tuple[str, str], str] | None = None
    bindings = []
    for op in spec.operations:
        name = op.operation_id if op.operation_id in table else None
        if name is None:
            routes = routes if routes is not None else bundled_routes(bundled)
            name = routes.get((op.method, template_shape(op.path)))
        bindings.append(Binding(op, name if name in table else None))
    return bindings


def guarded(bindings: list[Binding], spec: ApiSpec, bundled: Path) -> list[Binding]:
    """``bindings`` of a spec that is not the bundled contract, each handled one given the bundled
    operation it was written against (from the loosest bundled contract, the deployed one's)."""
    if spec.path.resolve() == bundled.resolve():
        return bindings
    own = guard_spec(bundled)
    return [Binding(b.op, b.name, own.operation(b.name)) if b.name is not None else b for b in bindings]


@functools.cache
def guard_spec(bundled: Path) -> ApiSpec:
    """The bundled contract as deployed (its request rules are the loosest the handlers take), built once."""
    return ApiSpec(bundled, derived_document(bundled, profile_named("deployed")))


@functools.cache
def bundled_routes(bundled: Path) -> dict[tuple[str, str], str]:
    """``(METHOD, template)`` -> operationId of the project's own contract (read once, when a spec needs it)."""
    spec = load_document(bundled)
    return {(method.upper(), template_shape(path)): op["operationId"]
            for path, item in spec["paths"].items() for method, op in item.items()
            if isinstance(op, dict) and "operationId" in op}


def check_handlers(spec: ApiSpec, table: Mapping[str, Handling], bundled: Path) -> list[Binding]:
    """The bindings of ``spec``; a `SpecError` naming each parameter a handler reads that its
    operation does not have by that name (a renamed path parameter would fail every request)."""
    bindings = bind(spec, table, bundled)
    problems: list[str] = []
    for binding in bindings:
        if binding.name is not None:
            problems += _unread_parameters(binding.op, table[binding.name])
    if problems:
        raise SpecError("\n".join(f"{spec.path}: {problem}" for problem in problems))
    return bindings


def generic_operations(spec: ApiSpec, table: Mapping[str, Handling] | None = None,
                       bundled: Path = DEFAULT_SPEC) -> list[str]:
    """``"METHOD /path"`` of each operation of ``spec`` that no handler knows (served generically)."""
    return _generic(bind(spec, table or API_HANDLERS, bundled))


def _generic(bindings: list[Binding]) -> list[str]:
    return [f"{b.op.method} {b.op.path}" for b in bindings if b.name is None]


def _unread_parameters(op: Operation, handling: Handling) -> list[str]:
    """What the handler of ``op`` reads that the spec does not give it under that name."""
    has = ", ".join(f"{p.location} '{p.name}'" for p in op.params) or "no parameters"
    problems: list[str] = []
    for location, names in (("path", handling.path), ("query", handling.query)):
        declared = {p.name for p in op.params if p.location == location}
        for name in names:
            # Routing fills path_params from the template; the declaration is what requests are checked by.
            if location == "query" and name not in declared and not declared:
                continue  # undeclared and nothing else in its place: read as optional, unchecked
            lacking = ("the spec does not declare" if name not in declared else
                       f"the path template {op.path} lacks" if location == "path" and name not in op.template_names
                       else None)
            if lacking is not None:
                problems.append(f"operation {op.key} ({op.method} {op.path}): its handler reads the "
                                f"{location} parameter '{name}', which {lacking}; the spec has: {has}")
    return problems


def _routes(spec: ApiSpec, table: Mapping[str, Handling], authorize: Authorizer, spec_for: SpecFor,
            bundled: Path, faults: Mapping[str, FaultPolicy] | None) -> tuple[list[Route], list[Binding]]:
    """One route per operation of ``spec``, and the bindings they come from; each request is then
    validated by ``spec_for(world)``. With ``faults``, fault scenarios apply to the operations as it says
    (`FAULT_POLICIES`), by default in the pipeline; without, not at all (the admin API)."""
    bindings = guarded(check_handlers(spec, table, bundled), spec, bundled)
    return [Route(b.op.path, endpoint(b.op.key, spec_for, table[b.name].handler if b.name else generic.respond,
                                      authorize, handles=b.name, guard=(guard_spec(bundled), b.guard) if b.guard
                                      else None, faults=_policy(faults, b.name)),
                  methods=[b.op.method], name=b.op.key)
            for b in bindings], bindings


def _policy(faults: Mapping[str, FaultPolicy] | None, handles: str | None) -> FaultPolicy:
    """How the operation ``handles`` (None: the generic responder's) meets fault scenarios."""
    if faults is None:
        return "handler"
    return faults.get(handles or "", "answer")


def routes_for(state: MockState, catalog: Catalog) -> list[Route]:
    """The routes of ``catalog``: the documented contract's operations, which include every path (a
    profile may lack some), and the admin API's. Each request reads the state's current catalog, so
    the routes only change when a reload changes the paths."""
    documented = catalog.specs.of_documented()
    routes, bindings = _routes(documented, API_HANDLERS, api_key_auth,
                               lambda world: state.catalog.specs.of(world.profile), DEFAULT_SPEC, FAULT_POLICIES)
    served = catalog.specs.of(profile_named(state.settings.profile))  # what requests are checked by
    if served is not documented:
        check_handlers(served, API_HANDLERS, DEFAULT_SPEC)
    if catalog.admin_spec is not None:
        routes += _routes(catalog.admin_spec, ADMIN_HANDLERS, admin.admin_auth, lambda world: _admin_spec(state),
                          DEFAULT_ADMIN_SPEC, None)[0]
    state.generic_operations = _generic(bindings)  # from the bindings the routes were made of: bound once
    state.operation_names = sorted(b.name or b.op.key for b in bindings)
    return routes


def _admin_spec(state: MockState) -> ApiSpec:
    assert state.catalog.admin_spec is not None  # its routes exist only when it does
    return state.catalog.admin_spec


def _as_api_error(request: Request, exc: Exception, catalog: Catalog) -> ApiError:
    """Starlette's own HTTP errors (no route, wrong method), told in the API's words."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 405:
        allowed = (getattr(exc, "headers", None) or {}).get("Allow", "")
        return ApiError(405, f"Method {request.method} is not allowed on {request.url.path}; allowed: {allowed}",
                        headers={"allow": allowed})
    if status == 404:
        known = sorted({f"{op.method} {op.path}" for op in catalog.specs.of_documented().operations})
        return UnknownPath(f"No operation at {request.method} {request.url.path}; the API has: {', '.join(known)}")
    return ApiError(status, str(getattr(exc, "detail", exc)))


class MockApp(Starlette):
    """Starlette with its user middleware (the one `MockMiddleware`) outside its own error middleware
    rather than inside: the middleware dispatches the requests its route index knows straight to their
    endpoints and answers their errors itself (500s included), so those requests skip Starlette's
    ``ServerErrorMiddleware`` and its wrapping of every ``send``; the rest (404, 405) still pass
    through all of Starlette's layers."""

    def build_middleware_stack(self) -> ASGIApp:
        outer, self.user_middleware = self.user_middleware, []
        try:
            app = super().build_middleware_stack()
        finally:
            self.user_middleware = outer
        for cls, args, kwargs in reversed(outer):
            app = cls(app, *args, **kwargs)
        return app


def create_app(settings: Settings) -> Starlette:
    """Build the mock server for ``settings``."""
    state = MockState(settings, load_catalog(settings))

    async def api_error(request: Request, exc: Exception) -> Response:
        """The one exception handler of the app: every error answer goes out here, in the shape of
        the request's world's profile."""
        error = exc if isinstance(exc, ApiError) else _as_api_error(request, exc, state.catalog)
        world = request.scope.get("recoup.world")
        op: Operation | None = request.scope.get("recoup.op")
        return error_answer(error, world.profile.behaviour if world is not None else state.worlds.profile.behaviour,
                            op.error_style(error.status) if op is not None else None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Nothing process-wide here (no gc or logging changes): the app may live inside someone
        # else's process (the pytest plugin). `recoup-mock serve` does those for its own process.
        stop = asyncio.Event()
        watcher = None
        if settings.watch:
            rebuild = functools.partial(routes_for, state)
            watcher = asyncio.create_task(watch(state, app, rebuild, stop), name="recoup-mock watch")
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                await watcher
            await state.worlds.shutdown()

    app = MockApp(
        routes=routes_for(state, state.catalog),
        middleware=[Middleware(MockMiddleware, state=state, access_log=settings.access_log, on_error=api_error)],
        exception_handlers={ApiError: api_error, HTTPException: api_error},
        lifespan=lifespan,
    )
    app.state.mock = state
    state.routes.rebuild(app.router.routes)
    return app
