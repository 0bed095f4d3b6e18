"""The sandbox of a session: ``POST /api/sandbox``, ``GET /api/sandbox/status`` and ``GET
/api/sandbox/reconnect``. The lifecycle itself is `mockserver.state.lifecycle`, on the world's clock."""

from __future__ import annotations

import asyncio

from starlette.responses import Response

from ..pipeline import Call
from ..responses import JsonAnswer
from .chat import owned_session


async def create_sandbox(call: Call) -> Response:
    session_id = call.body.get("sessionId")
    if session_id is None:
        # A one-shot sandbox bound to no session (legacy): the same wait, nothing kept.
        timers = call.world.store.timers
        await _wait(call, timers.provision_ms)
        now = call.world.store.ids.peek_ms()
        return _created(now, timers.expire_after_ms, timers.provision_ms)
    wait_ms = call.world.store.provisioning_wait_ms(owned_session(call, session_id))
    await _wait(call, wait_ms)
    # Looked up again: the world may have been reset during the wait (then the session is gone: 404).
    store = call.world.store
    session = owned_session(call, session_id)
    lc = store.provision(session, wait_ms)
    assert lc.started_ms is not None and lc.expires_ms is not None  # provisioned: active
    return _created(lc.started_ms, lc.expires_ms - store.ids.peek_ms(), wait_ms)


async def _wait(call: Call, world_ms: int) -> None:
    """The provisioning time, really waited, scaled by ``--speed`` (0: no wait)."""
    seconds = world_ms / 1000 * call.state.settings.speed
    if seconds > 0:
        await asyncio.sleep(seconds)


def _created(created_ms: int, timeout_ms: int, ready_ms: int) -> Response:
    return JsonAnswer({"createdAt": created_ms, "timeout": timeout_ms, "currentBranch": "main", "mode": "vercel",
                         "timing": {"readyMs": ready_ms}})


async def get_sandbox_status(call: Call) -> Response:
    session = owned_session(call, call.request.query_params["sessionId"])
    return JsonAnswer(call.world.store.sandbox_status(session))


async def reconnect_sandbox(call: Call) -> Response:
    session = owned_session(call, call.request.query_params["sessionId"])
    return JsonAnswer(call.world.store.reconnect(session))
