"""The ``/api/chats`` family: the sidebar (``GET /api/chats``) and the legacy rooms (``POST``/``PATCH``/
``DELETE /api/chats``, ``…/{id}/messages``, ``…/copy``, ``…/trailing``, ``/api/chats/compact``,
``…/{id}/artist``), which work on the world's rooms view (`mockserver.state.rooms`): the session chats,
or rooms of their own (the deployed server's)."""

from __future__ import annotations

from starlette.responses import Response

from ..errors import ApiError
from ..pipeline import Call
from ..responses import JsonAnswer
from ..state.rooms import Room, compact


def owned_room(call: Call, room_id: str) -> Room:
    """The room ``room_id`` if the caller owns it (404 unknown, 403 another account's), in the words of
    the deployed server's access check (``validateChatAccess``) where it answers tersely."""
    room: Room | None = call.world.rooms.get(room_id)
    if room is None:
        raise ApiError(404, f"Chat not found: {room_id}", terse="Chat room not found")
    if room.account is not call.account:
        raise ApiError(403, f"Forbidden: chat {room_id} belongs to another account", terse="Access denied to this chat")
    return room


def room_json(call: Call, room: Room) -> dict[str, object]:
    return {"status": "success", "chat": call.world.rooms.render(room)}


async def list_chats(call: Call) -> Response:
    query = call.request.query_params
    account_id = query.get("account_id")
    if account_id is not None and account_id != call.account.id:
        # The mock's accounts belong to no organisation: each sees only its own chats.
        raise ApiError(403, f"Access denied to specified account_id {account_id}: the key's account is "
                            f"{call.account.id}, which may list only its own chats",
                       terse="Access denied to specified account_id")
    chats = call.world.store.sidebar(call.account, query.get("artist_account_id"))
    return JsonAnswer({"status": "success", "chats": [c.sidebar_row() for c in chats]})


async def create_chat(call: Call) -> Response:
    body = call.body or {}
    account_id = body.get("accountId")
    if account_id is not None and account_id != call.account.id:
        raise ApiError(403, f"Access denied to specified accountId {account_id}: the key's account is "
                            f"{call.account.id}, which may create chats only for itself",
                       terse="Access denied to specified account_id")
    room = call.world.rooms.create(call.account, room_id=body.get("chatId"), artist_id=body.get("artistId"),
                                   topic=body.get("topic"), first_message=body.get("firstMessage"))
    return JsonAnswer(room_json(call, room))


async def update_chat(call: Call) -> Response:
    room = owned_room(call, call.body["chatId"])
    return JsonAnswer(room_json(call, call.world.rooms.rename(room, call.body["topic"])))


async def delete_chat(call: Call) -> Response:
    room = owned_room(call, call.body["id"])
    call.world.rooms.delete(room)
    return JsonAnswer({"status": "success", "id": room.id, "message": "Chat deleted successfully"})


async def get_chat_messages(call: Call) -> Response:
    room = owned_room(call, call.request.path_params["id"])
    return JsonAnswer({"data": [m.to_json() for m in room.messages]})


async def copy_chat_messages(call: Call) -> Response:
    source_id, target_id = call.request.path_params["id"], call.body["targetChatId"]
    if source_id == target_id:
        raise ApiError(400, f"source and target chats must be different: both are {source_id}",
                       terse="source and target chats must be different")
    source, target = owned_room(call, source_id), owned_room(call, target_id)
    clear = bool(call.body.get("clearExisting", True))
    copied = call.world.rooms.copy_messages(source, target, clear=clear)
    return JsonAnswer({"status": "success", "source_chat_id": source.id, "target_chat_id": target.id,
                         "copied_count": copied, "cleared_existing": clear})


async def delete_trailing_chat_messages(call: Call) -> Response:
    room = owned_room(call, call.request.path_params["id"])
    call.checked()  # the deployed server reads the query once the room is found and is the caller's
    message_id = call.request.query_params["from_message_id"]
    call.world.rooms.delete_from(room, message_id)
    return JsonAnswer({"status": "success", "chat_id": room.id, "from_message_id": message_id})


async def compact_chats(call: Call) -> Response:
    rooms = call.world.rooms
    found = [(room_id, rooms.get(room_id)) for room_id in call.body["chatId"]]
    missing = [room_id for room_id, room in found if room is None or room.account is not call.account]
    if missing:
        raise ApiError(404, f"Chat(s) not found or not accessible: {', '.join(dict.fromkeys(missing))}")
    return JsonAnswer({"chats": [{"chatId": room_id, "compacted": compact(room)}
                                   for room_id, room in found if room is not None]})


async def get_chat_artist(call: Call) -> Response:
    room = owned_room(call, call.request.path_params["id"])
    artist = room.artist_id
    # The mock keeps no table of artists: an artist id a session was given is one that exists.
    return JsonAnswer({"status": "success", "room_id": room.id, "artist_id": artist,
                         "artist_exists": artist is not None})
