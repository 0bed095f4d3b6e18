"""The app factory: routes from the spec, the middleware, the state, the error bodies.

`create_app(settings)` loads the spec and fixtures (raising `SpecError`/`FixtureError` with the
file and position on a problem) and returns a Starlette app. Importing this module does nothing.
Routes are built from the spec's operations (operationId -> handler); an operation without a
handler, or a handler without an operation, is a `SpecError` at start-up.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import admin, handlers, inspector, resources
from .catalog import Catalog, load_catalog
from .errors import ApiError, SpecError, UnknownPath
from .middleware import MockMiddleware
from .pipeline import Authorizer, Handler, SpecFor, api_key_auth, endpoint
from .profiles import error_answer
from .reload import watch
from .settings import Settings
from .spec import ApiSpec
from .state import MockState

API_HANDLERS: dict[str, Handler] = {
    "postChat": handlers.post_chat,
    "postChatWorkflow": handlers.post_chat,
    "resumeChatStream": handlers.resume_chat_stream,
    "stopChat": handlers.stop_chat,
    "startChatRun": handlers.start_chat_run,
    "getChatRunStatus": handlers.get_chat_run_status,
    "legacyChat": handlers.legacy_chat,
    "legacyChatOptions": handlers.legacy_chat_options,
    "createSession": resources.create_session,
    "getSession": resources.get_session,
    "listSessionChats": resources.list_session_chats,
    "createSessionChat": resources.create_session_chat,
    "getSessionChat": resources.get_session_chat,
    "createSandbox": resources.create_sandbox,
    "getChatMessages": resources.get_chat_messages,
}
ADMIN_HANDLERS: dict[str, Handler] = {
    "resetMock": admin.reset_mock,
    "listRequests": admin.list_requests,
    "listScenarios": admin.list_scenarios,
    "queueScenarios": admin.queue_scenarios,
    "listQueuedScenarios": admin.list_queued_scenarios,
    "getStatus": admin.get_status,
    "listWorlds": admin.list_worlds,
    "configureWorld": admin.configure_world,
    "inspectorPage": inspector.page,
    "inspectorFile": inspector.page_file,
    "watchEvents": inspector.events,
    "getRequest": inspector.request_detail,
    "listRuns": inspector.list_runs,
    "getRun": inspector.get_run,
    "stopRun": inspector.stop_run,
}


def _routes(spec: ApiSpec, table: dict[str, Handler], authorize: Authorizer, spec_for: SpecFor) -> list[Route]:
    """One route per operation of ``spec``; each request is then validated by ``spec_for(world)``."""
    ids = {op.operation_id for op in spec.operations}
    if missing := ids - set(table):
        raise SpecError(f"{spec.path}: no handler for operation(s) {', '.join(sorted(missing))}; "
                        f"handlers exist for {', '.join(sorted(table))}")
    if unused := set(table) - ids:
        raise SpecError(f"{spec.path}: the spec lacks operation(s) {', '.join(sorted(unused))} that have handlers")
    return [Route(op.path, endpoint(op.operation_id, spec_for, table[op.operation_id], authorize),
                  methods=[op.method], name=op.operation_id) for op in spec.operations]


def routes_for(state: MockState, catalog: Catalog) -> list[Route]:
    """The routes of ``catalog``: the documented contract's operations, which include every path (a
    profile may lack some), and the admin API's. Each request reads the state's current catalog, so
    the routes only change when a reload changes the paths."""
    routes = _routes(catalog.specs.of_documented(), API_HANDLERS, api_key_auth,
                     lambda world: state.catalog.specs.of(world.profile))
    if catalog.admin_spec is not None:
        routes += _routes(catalog.admin_spec, ADMIN_HANDLERS, admin.admin_auth, lambda world: _admin_spec(state))
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


def create_app(settings: Settings) -> Starlette:
    """Build the mock server for ``settings``."""
    state = MockState(settings, load_catalog(settings))

    async def api_error(request: Request, exc: Exception) -> Response:
        """The one exception handler of the app: every error answer goes out here, in the shape of
        the request's world's profile."""
        error = exc if isinstance(exc, ApiError) else _as_api_error(request, exc, state.catalog)
        world = request.scope.get("recoup.world")
        return error_answer(error, world.profile.behaviour if world is not None else state.worlds.profile.behaviour)

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

    app = Starlette(
        routes=routes_for(state, state.catalog),
        middleware=[Middleware(MockMiddleware, state=state, access_log=settings.access_log)],
        exception_handlers={ApiError: api_error, HTTPException: api_error},
        lifespan=lifespan,
    )
    app.state.mock = state
    return app
