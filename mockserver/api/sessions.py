"""``POST /api/sessions``, ``GET``/``PATCH /api/sessions/{sessionId}``."""

from __future__ import annotations

from starlette.responses import Response

from ..pipeline import Call
from ..responses import JsonAnswer
from ..state.store import Session, Store
from .chat import owned_session


def session_json(store: Store, session: Session) -> dict[str, object]:
    """The Session as it is now: the lifecycle's due transitions applied first."""
    store.lifecycle_of(session)
    return session.to_json(store.rules)


async def create_session(call: Call) -> Response:
    body = call.body or {}
    store = call.world.store
    session, chat = store.create_session(call.account, title=body.get("title"), artist_id=body.get("artistId"),
                                         organization_id=body.get("organizationId"))
    return JsonAnswer({"session": session_json(store, session), "chat": chat.to_json()})


async def get_session(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    return JsonAnswer({"session": session_json(call.world.store, session)})


async def patch_session(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    store = call.world.store
    store.patch_session(session, call.body or {})
    return JsonAnswer({"session": session_json(store, session)})
