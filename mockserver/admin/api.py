"""The admin API under ``/__mock/`` (described in ``openapi/admin.yaml``): reset, journal, scenarios, worlds.

Every call acts on the world its ``x-mock-world`` header names (the default world without it), like
the API's own requests; ``POST /__mock/reset?all=true`` and ``GET /__mock/worlds`` see them all.

It can be turned off (`Settings.admin`) or put behind a token (`Settings.admin_token`, sent as
``x-mock-admin-token``). It is described in its own spec so that contract suites leave it out.
"""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import ApiError
from ..pipeline import ANONYMOUS, Call
from ..profiles import profile_named
from ..state.journal import select_entries
from ..state.store import Account
from ..state.worlds import World
from ..streams.protocol import ALL_CLIENTS
from ..streams.scenarios import find_scenario

ADMIN = Account("admin", "")


def admin_auth(request: Request, world: World) -> tuple[Account, str]:
    """No check unless a token is configured; then ``x-mock-admin-token`` must match it."""
    token = world.settings.admin_token
    if token is None:
        return ANONYMOUS, ""
    given = request.headers.get("x-mock-admin-token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "The admin API needs the header x-mock-admin-token with the configured token")
    return ADMIN, "admin-token"


async def reset_mock(call: Call) -> Response:
    if call.request.query_params.get("all") == "true":
        dropped = len(call.state.worlds)
        cancelled = await call.state.worlds.drop_all()
        return JSONResponse({"status": "ok", "runsCancelled": cancelled, "worldsDropped": dropped})
    cancelled = await call.world.reset()
    return JSONResponse({"status": "ok", "runsCancelled": cancelled})


async def list_requests(call: Call) -> Response:
    entries = select_entries(list(call.world.journal.entries), call.request.query_params)
    return JSONResponse({"requests": [e.to_json() for e in entries]})


async def queue_scenarios(call: Call) -> Response:
    # JSON Schema counts 3.0 as an integer: convert before using it as one.
    name, count = call.body["name"], int(call.body.get("count", 1))
    find_scenario(call.world.scenarios, name)
    call.world.queued_scenarios.extend([name] * count)
    return JSONResponse({"queued": list(call.world.queued_scenarios)})


async def list_queued_scenarios(call: Call) -> Response:
    return JSONResponse({"queued": list(call.world.queued_scenarios)})


async def get_status(call: Call) -> Response:
    return JSONResponse({**call.world.counts(), "world": call.world.name, "tasks": len(asyncio.all_tasks()),
                         "reloads": call.state.reloads, "reloadError": call.state.reload_error,
                         "genericOperations": call.state.generic_operations})


async def configure_world(call: Call) -> Response:
    """Create or reset the world in the path with the profile in the body (default: the server's)."""
    # The admin spec has checked the name's pattern and the profile's name.
    chosen = (call.body or {}).get("profile", call.state.settings.profile)
    world = await call.state.worlds.configure(call.request.path_params["name"], profile_named(chosen))
    return JSONResponse({"name": world.name, **world.counts()})


async def list_worlds(call: Call) -> Response:
    worlds = call.state.worlds
    return JSONResponse({"limit": worlds.settings.max_worlds,
                         "worlds": [{"name": world.name, **world.counts()} for world in worlds]})


async def list_scenarios(call: Call) -> Response:
    return JSONResponse({"scenarios": [
        {"name": s.name, "description": s.description, "kind": s.kind, "answers": s.answers,
         "clients": dict(s.clients or ALL_CLIENTS)}
        for s in sorted(call.world.scenarios.values(), key=lambda s: s.name)
    ]})
