"""The admin API under ``/__mock/`` (described in ``openapi/admin.yaml``): reset, journal, scenarios.

It can be turned off (`Settings.admin`) or put behind a token (`Settings.admin_token`, sent as
``x-mock-admin-token``). It is described in its own spec so that contract suites leave it out.
"""

from __future__ import annotations

import asyncio
import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .errors import ApiError
from .pipeline import ANONYMOUS, Call
from .protocol import ALL_CLIENTS
from .scenarios import find_scenario
from .state import MockState
from .store import Account

ADMIN = Account("admin", "")


def admin_auth(request: Request, state: MockState) -> tuple[Account, str]:
    """No check unless a token is configured; then ``x-mock-admin-token`` must match it."""
    token = state.settings.admin_token
    if token is None:
        return ANONYMOUS, ""
    given = request.headers.get("x-mock-admin-token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise ApiError(401, "The admin API needs the header x-mock-admin-token with the configured token")
    return ADMIN, "admin-token"


async def reset_mock(call: Call) -> Response:
    cancelled = await call.state.reset()
    return JSONResponse({"status": "ok", "runsCancelled": cancelled})


async def list_requests(call: Call) -> Response:
    q = call.request.query_params
    entries = list(call.state.journal.entries)
    if "method" in q:
        entries = [e for e in entries if e.method == q["method"].upper()]
    if "path" in q:
        entries = [e for e in entries if q["path"] in e.path]
    if "status" in q:
        entries = [e for e in entries if e.status == int(q["status"])]
    if "scenario" in q:
        entries = [e for e in entries if e.scenario == q["scenario"]]
    if "runId" in q:
        entries = [e for e in entries if e.run_id == q["runId"]]
    if "limit" in q:
        entries = entries[-int(q["limit"]):]
    return JSONResponse({"requests": [e.to_json() for e in entries]})


async def queue_scenarios(call: Call) -> Response:
    # JSON Schema counts 3.0 as an integer: convert before using it as one.
    name, count = call.body["name"], int(call.body.get("count", 1))
    find_scenario(call.state.scenarios, name)
    call.state.queued_scenarios.extend([name] * count)
    return JSONResponse({"queued": list(call.state.queued_scenarios)})


async def list_queued_scenarios(call: Call) -> Response:
    return JSONResponse({"queued": list(call.state.queued_scenarios)})


async def get_status(call: Call) -> Response:
    runs = call.state.runs
    return JSONResponse({
        "runsLive": runs.live_count(), "runsKept": len(runs.runs),
        "readers": sum(r.readers for r in runs.runs.values()), "tasks": len(asyncio.all_tasks()),
        "chats": len(call.state.store.chats), "sessions": len(call.state.store.sessions),
    })


async def list_scenarios(call: Call) -> Response:
    return JSONResponse({"scenarios": [
        {"name": s.name, "description": s.description, "kind": s.kind, "clients": dict(s.clients or ALL_CLIENTS)}
        for s in sorted(call.state.scenarios.values(), key=lambda s: s.name)
    ]})
