"""Handlers of the non-streaming resources a front end needs to set a chat up offline:
sessions, their chats, the sandbox, and a chat's persisted messages."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from ..errors import ApiError
from ..pipeline import Call
from ..state.store import Chat
from .chat import owned_chat, owned_session


def _summary(chat: Chat) -> dict[str, object]:
    return {**chat.to_json(), "hasUnread": False, "isStreaming": chat.active_stream_id is not None}


async def create_session(call: Call) -> Response:
    body = call.body or {}
    store = call.world.store
    session = store.add_session(call.account, body.get("title") or "New session", sandbox=False)
    chat = store.add_chat(session, "New chat")
    return JSONResponse({"session": session.to_json(), "chat": chat.to_json()})


async def get_session(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    return JSONResponse({"session": session.to_json()})


async def list_session_chats(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    chats = [_summary(c) for c in call.world.store.chats.values() if c.session is session]
    return JSONResponse({"chats": chats, "defaultModelId": call.world.store.blueprint.default_model})


async def create_session_chat(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    chat_id = (call.body or {}).get("id")
    if chat_id is not None and chat_id in call.world.store.chats:
        raise ApiError(409, f"A chat with id {chat_id} already exists")
    chat = call.world.store.add_chat(session, "New chat", chat_id=chat_id)
    return JSONResponse({"chat": chat.to_json()})


async def get_session_chat(call: Call) -> Response:
    session = owned_session(call, call.request.path_params["sessionId"])
    chat = owned_chat(call, call.request.path_params["chatId"])
    if chat.session is not session:
        raise ApiError(404, f"Chat not found: {chat.id} in session {session.id}")
    return JSONResponse({"chat": chat.to_json(), "isStreaming": chat.active_stream_id is not None,
                         "messages": [m.content for m in chat.messages]})


async def create_sandbox(call: Call) -> Response:
    session_id = call.body.get("sessionId")
    store = call.world.store
    if session_id is not None:
        store.provision_sandbox(owned_session(call, session_id))
    return JSONResponse({"createdAt": store.ids.now_ms(), "timeout": 1_800_000, "currentBranch": "main",
                         "mode": "vercel", "timing": {"readyMs": 0}})


async def get_chat_messages(call: Call) -> Response:
    chat = owned_chat(call, call.request.path_params["id"])
    return JSONResponse({"data": [m.to_json() for m in chat.messages]})
