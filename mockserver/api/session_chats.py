"""The chats of a session: ``GET``/``POST /api/sessions/{sessionId}/chats``, ``GET``/``PATCH``/``DELETE
/api/sessions/{sessionId}/chats/{chatId}`` and ``POST …/{chatId}/read``."""

from __future__ import annotations

from starlette.responses import Response

from ..errors import ApiError
from ..pipeline import Call
from ..responses import JsonAnswer
from ..state.store import Chat, Session
from .chat import owned_session


def session_chat(call: Call) -> tuple[Session, Chat]:
    """The path's session (404, 403) and its chat: 404 when the chat is unknown or of another session."""
    session = owned_session(call, call.request.path_params["sessionId"])
    chat_id = call.request.path_params["chatId"]
    chat = call.world.store.chat(chat_id)
    if chat is None or chat.session is not session:
        raise ApiError(404, f"Chat not found: {chat_id} in session {session.id}", terse="Chat not found")
    return session, chat


async def list_session_chats(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    store = call.world.store
    return JsonAnswer({"chats": [c.summary(call.account) for c in store.chats_of(session)],
                         "defaultModelId": store.model})


async def create_session_chat(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    call.checked()  # the body, once the session is found (a profile may hold its checks back till here)
    chat = call.world.store.create_session_chat(session, (call.body or {}).get("id"))
    return JsonAnswer({"chat": chat.to_json()})


async def get_session_chat(call: Call) -> Response:
    _, chat = session_chat(call)
    return JsonAnswer({"chat": chat.to_json(), "isStreaming": chat.active_stream_id is not None,
                         "messages": [m.content for m in chat.messages]})


async def patch_session_chat(call: Call) -> Response:
    _, chat = session_chat(call)
    call.checked()
    call.world.store.update_chat(chat, title=call.body.get("title"), model_id=call.body.get("modelId"))
    return JsonAnswer({"chat": chat.to_json()})


async def delete_session_chat(call: Call) -> Response:
    _, chat = session_chat(call)
    call.world.store.delete_chat(chat, keep_session=True)
    return JsonAnswer({"success": True})


async def mark_session_chat_read(call: Call) -> Response:
    _, chat = session_chat(call)
    call.world.store.mark_read(chat, call.account)
    return JsonAnswer({"success": True})
