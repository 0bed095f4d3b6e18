"""The legacy chat rooms: what ``POST``/``PATCH``/``DELETE /api/chats``, ``/api/chats/{id}/messages``,
``…/copy``, ``…/trailing``, ``/api/chats/compact`` and ``/api/chats/{id}/artist`` work on.

In the documented contract a chat is one chat everywhere: a room *is* a session chat, and its
messages are the same rows that ``GET /api/sessions/{sid}/chats/{cid}`` returns. `SharedRooms` is that
view over the world's `Store`.

The deployed server keeps two chat stores with no link between them (recoup-surface.md section 1:
``rooms``/``memories`` beside ``chats``/``chat_messages``): `SeparateRooms` is that one, rooms of
their own with their own message rows (memories), answered as the raw ``rooms`` row. A world picks
the view its profile says (`mockserver.profiles.Behaviour.separate_rooms`, in
`mockserver.state.worlds.World`), so that no handler asks which profile it runs under. The sidebar
(``GET /api/chats``) is not a room operation: both servers read it from the session chats (`Store.sidebar`).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..errors import ApiError
from .store import Account, Chat, MessageRow, Store

#: Where ``POST /api/chats`` takes a room's title from when no ``topic`` is given.
TITLE_FROM_MESSAGE = 80
COMPACT_LINE = 200


def message_not_found(store: Store, message_id: str, where: str) -> ApiError:
    """The 404 of a message id that ``where`` does not hold; where the memory budget has evicted some of
    the world's oldest chat messages, it may have been one of them, and says so."""
    count = store.messages_evicted
    evicted = (f" (the memory budget has evicted {count} of this world's oldest chat messages; it may "
               f"have been one of them)") if count else ""
    return ApiError(404, f"Message not found: {message_id} is not a message of {where}{evicted}",
                    terse="Message not found")


class Room(Protocol):
    """What the ``/api/chats`` handlers read of a room, whichever store keeps it."""

    @property
    def id(self) -> str: ...

    @property
    def account(self) -> Account: ...

    @property
    def messages(self) -> list[MessageRow]: ...

    @property
    def artist_id(self) -> str | None: ...


R = TypeVar("R", bound=Room)


class Rooms(Protocol[R]):
    """What the ``/api/chats`` operations (all but the listing) need of the rooms."""

    def get(self, room_id: str) -> R | None:
        """The room with this id, if any."""
        ...

    def create(self, account: Account, *, room_id: str | None, artist_id: str | None, topic: str | None,
               first_message: str | None) -> R:
        """A room of ``account`` titled by ``topic``, else by ``first_message`` (`title_for`)."""
        ...

    def rename(self, room: R, topic: str) -> R:
        """Give the room a new topic (its title)."""
        ...

    def delete(self, room: R) -> None:
        """Delete the room with its messages."""
        ...

    def copy_messages(self, source: R, target: R, *, clear: bool) -> int:
        """Copy the source's messages into the target (after emptying it, if ``clear``); how many."""
        ...

    def delete_from(self, room: R, message_id: str) -> None:
        """Delete the message and every later one (ties included); 404 for a message not in the room."""
        ...

    def render(self, room: R) -> dict[str, Any]:
        """The room as the answers of ``POST`` and ``PATCH /api/chats`` show it."""
        ...


class SharedRooms:
    """The documented view: rooms are the store's chats. A room made here gets a session of its own
    (a chat always has one), which goes with the room's deletion."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, room_id: str) -> Chat | None:
        return self.store.chat(room_id)

    def create(self, account: Account, *, room_id: str | None, artist_id: str | None, topic: str | None,
               first_message: str | None) -> Chat:
        """A new chat in a session of its own; 409 when ``room_id`` is taken."""
        if room_id is not None and self.store.has_chat(room_id):
            raise ApiError(409, f"A chat with id {room_id} already exists; leave chatId out to get a new id")
        title = title_for(topic, first_message) or "New chat"
        session = self.store.add_session(account, title, sandbox=False, artist_id=artist_id, ephemeral=True)
        return self.store.add_chat(session, title, chat_id=room_id)

    def rename(self, room: Chat, topic: str) -> Chat:
        return self.store.update_chat(room, title=topic)

    def delete(self, room: Chat) -> None:
        self.store.delete_chat(room, keep_session=False)

    def copy_messages(self, source: Chat, target: Chat, *, clear: bool) -> int:
        copied = [self.store.copy_row(row, target) for row in source.messages]
        kept: list[MessageRow] = [] if clear else list(target.messages)
        self.store.replace_messages(target, kept + copied)
        return len(copied)

    def delete_from(self, room: Chat, message_id: str) -> None:
        chosen = next((m for m in room.messages if m.id == message_id), None)
        if chosen is None:
            raise message_not_found(self.store, message_id, f"chat {room.id}")
        self.store.replace_messages(room, [m for m in room.messages if m.updated_at < chosen.updated_at])

    def render(self, room: Chat) -> dict[str, Any]:
        return room.sidebar_row()


@dataclass(slots=True)
class LegacyRoom:
    """A row of the deployed server's ``rooms`` table, with its ``memories``."""

    id: str
    account: Account
    artist_id: str | None
    topic: str | None
    updated_at: str
    messages: list[MessageRow] = field(default_factory=list)


class SeparateRooms:
    """The deployed view: rooms of their own, not the session chats. A session chat's id is no room
    (404 everywhere here); a room never shows in ``GET /api/chats`` or on the session routes. Nothing
    on the deployed surface writes memories, so a room's messages come only from another room (copy)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rooms: dict[str, LegacyRoom] = {}

    def get(self, room_id: str) -> LegacyRoom | None:
        return self.rooms.get(room_id)

    def create(self, account: Account, *, room_id: str | None, artist_id: str | None, topic: str | None,
               first_message: str | None) -> LegacyRoom:
        """An upsert: a ``room_id`` that is a room already is written over, whoever owned it (the
        deployed server checks no owner), its memories kept. The topic is ``topic``, else the start of
        ``first_message`` (the deployed server asks a model for a title), else null."""
        title = topic if topic else title_for(None, first_message)  # the topic as given: `topic || ...`
        room = LegacyRoom(room_id or self.store.ids.uuid(), account, artist_id, title, self.store.ids.now_iso())
        existing = self.rooms.get(room.id)
        if existing is not None:
            room.messages = existing.messages
        self.rooms[room.id] = room
        return room

    def rename(self, room: LegacyRoom, topic: str) -> LegacyRoom:
        room.topic = topic  # the one column the deployed update writes: updated_at stays
        return room

    def delete(self, room: LegacyRoom) -> None:
        self.rooms.pop(room.id, None)

    def copy_messages(self, source: LegacyRoom, target: LegacyRoom, *, clear: bool) -> int:
        copied = [MessageRow(self.store.ids.uuid(), target.id, copy.deepcopy(row.content), row.updated_at, row.role)
                  for row in source.messages]
        # Read back oldest first (the deployed server orders memories by updated_at): a copy keeps its times.
        target.messages = sorted(([] if clear else target.messages) + copied, key=lambda m: m.updated_at)
        return len(copied)

    def delete_from(self, room: LegacyRoom, message_id: str) -> None:
        chosen = next((m for m in room.messages if m.id == message_id), None)
        if chosen is None:
            raise message_not_found(self.store, message_id, f"chat room {room.id}")
        room.messages = [m for m in room.messages if m.updated_at < chosen.updated_at]

    def render(self, room: LegacyRoom) -> dict[str, Any]:
        """The raw ``rooms`` row, in snake_case."""
        return {"id": room.id, "account_id": room.account.id, "artist_id": room.artist_id, "topic": room.topic,
                "updated_at": room.updated_at}


def title_for(topic: str | None, first_message: str | None) -> str | None:
    """A new room's title: its ``topic``; else the start of ``firstMessage`` (the deployed server asks
    a model for one; the mock takes the words as they are); else None."""
    if topic is not None and topic.strip():
        return topic.strip()
    text = " ".join((first_message or "").split())
    if not text:
        return None
    return text if len(text) <= TITLE_FROM_MESSAGE else text[:TITLE_FROM_MESSAGE - 1] + "…"


def compact(room: Room) -> str:
    """A summary of the room's messages made from their text, without a model: one line per message
    with text, ``role: text``, each cut at 200 characters. Empty for a room without messages."""
    lines = []
    for row in room.messages:
        text = _text_of(row.content)
        if text:
            lines.append(f"{row.role}: {text if len(text) <= COMPACT_LINE else text[:COMPACT_LINE - 1] + '…'}")
    return "\n".join(lines)


def _text_of(message: dict[str, object]) -> str:
    """A UI message's words: its text parts, or its ``content`` string, whitespace collapsed."""
    parts = message.get("parts")
    texts = [str(p.get("text")) for p in parts if isinstance(p, dict) and p.get("type") == "text"
             and isinstance(p.get("text"), str)] if isinstance(parts, list) else []
    content = message.get("content")
    if isinstance(content, str):
        texts.append(content)
    return re.sub(r"\s+", " ", " ".join(texts)).strip()
