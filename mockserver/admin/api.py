"""The admin API under ``/__mock/`` (described in ``openapi/admin.yaml``): reset, journal, scenarios, worlds,
the clock.

Every call acts on the world its ``x-mock-world`` header names (the default world without it), like
the API's own requests; ``POST /__mock/reset?all=true`` and ``GET /__mock/worlds`` see them all.

It can be turned off (`Settings.admin`) or put behind a token (`Settings.admin_token`, sent as
``x-mock-admin-token``). It is described in its own spec so that contract suites leave it out.
"""

from __future__ import annotations

import asyncio
import hmac
from collections import deque

from starlette.requests import Request
from starlette.responses import Response

from ..api.chat import PLAY_A_STREAM
from ..errors import ApiError, quote
from ..pipeline import ANONYMOUS, Call, http_scenarios
from ..profiles import profile_named
from ..responses import JsonAnswer
from ..state.journal import select_entries
from ..state.store import Account, iso
from ..state.worlds import World
from ..streams.protocol import ALL_CLIENTS
from ..streams.scenarios import Scenario, find_scenario

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
        return JsonAnswer({"status": "ok", "runsCancelled": cancelled, "worldsDropped": dropped})
    cancelled = await call.world.reset()
    return JsonAnswer({"status": "ok", "runsCancelled": cancelled})


async def list_requests(call: Call) -> Response:
    journal = call.world.journal
    entries = select_entries(list(journal.entries), call.request.query_params)
    # How many the memory budget took from this journal (oldest first): a listing never silently shorter.
    return JsonAnswer({"requests": [e.to_json() for e in entries], "evicted": journal.evicted})


async def queue_scenarios(call: Call) -> Response:
    # JSON Schema counts 3.0 as an integer: convert before using it as one.
    name, count = call.body["name"], int(call.body.get("count", 1))
    scenario = find_scenario(call.world.scenarios, name)
    operation = call.body.get("operation")
    if operation is None:
        call.world.queued_scenarios.extend([name] * count)
    else:
        _check_queueable(call, operation, scenario)
        call.world.queued_for.setdefault(operation, deque()).extend([name] * count)
    return _queue(call.world)


def _check_queueable(call: Call, operation: str, scenario: Scenario) -> None:
    """400 unless ``operation`` is one of the chat contract's and can play ``scenario`` (an operation
    that plays no stream takes only http-status scenarios)."""
    known = call.state.operation_names
    if operation not in known:
        raise ApiError(400, f"Unknown operation {quote(operation)}; the chat contract's operations are: "
                            f"{', '.join(known)}")
    if scenario.http is None and operation not in PLAY_A_STREAM:
        raise ApiError(400, f"Scenario {scenario.name!r} is a stream; {operation} plays no stream and takes an "
                            f"http-status scenario ({http_scenarios(call.world)}); stream scenarios are for "
                            f"{', '.join(sorted(PLAY_A_STREAM))}")


def _queue(world: World) -> Response:
    body: dict[str, object] = {"queued": list(world.queued_scenarios)}
    if world.queued_for:
        body["byOperation"] = {op: list(names) for op, names in world.queued_for.items()}
    return JsonAnswer(body)


async def list_queued_scenarios(call: Call) -> Response:
    return _queue(call.world)


def _clock(world: World, **extra: int) -> Response:
    now = world.store.ids.peek_ms()
    return JsonAnswer({"world": world.name, "nowMs": now, "now": iso(now), **extra})


async def get_clock(call: Call) -> Response:
    return _clock(call.world)


async def advance_clock(call: Call) -> Response:
    """Move the world's clock on by ``advanceMs``, or to ``toMs`` (the spec has checked that exactly one
    is given, each a whole number in range)."""
    world = call.world
    now = world.store.ids.peek_ms()
    if "toMs" in call.body:
        target = int(call.body["toMs"])
        if target < now:
            raise ApiError(400, f"toMs {target} ({iso(target)}) is before the world's time now, {now} ({iso(now)}); "
                                f"the clock never goes back (POST /__mock/reset starts it again)")
        step = target - now
    else:
        step = int(call.body["advanceMs"])
    world.advance_clock(step)
    return _clock(world, advancedMs=step)


async def get_status(call: Call) -> Response:
    return JsonAnswer({**call.world.counts(), "world": call.world.name, "tasks": len(asyncio.all_tasks()),
                         "reloads": call.state.reloads, "reloadError": call.state.reload_error,
                         "genericOperations": call.state.generic_operations,
                         "chaosScenarios": list(call.world.catalog.chaos),
                         "memoryBudget": call.state.worlds.budget.status()})


async def configure_world(call: Call) -> Response:
    """Create or reset the world in the path with the profile and chaos rate in the body (default: the
    server's)."""
    # The admin spec has checked the name's pattern, the profile's name and the rate's range.
    body = call.body or {}
    chosen = body.get("profile", call.state.settings.profile)
    chaos = float(body.get("chaos", call.state.settings.chaos))
    world = await call.state.worlds.configure(call.request.path_params["name"], profile_named(chosen), chaos)
    return JsonAnswer({"name": world.name, **world.counts()})


async def list_worlds(call: Call) -> Response:
    worlds = call.state.worlds
    return JsonAnswer({"limit": worlds.settings.max_worlds,
                         "worlds": [{"name": world.name, **world.counts()} for world in worlds]})


async def list_scenarios(call: Call) -> Response:
    return JsonAnswer({"scenarios": [
        {"name": s.name, "description": s.description, "kind": s.kind, "answers": s.answers,
         "clients": dict(s.clients or ALL_CLIENTS)}
        for s in sorted(call.world.scenarios.values(), key=lambda s: s.name)
    ]})
