"""The legacy chat rooms: what ``POST``/``PATCH``/``DELETE /api/chats``, ``/api/chats/{id}/messages``,
``…/copy``, ``…/trailing``, ``/api/chats/compact`` and ``/api/chats/{id}/artist`` work on.

In the documented contract a chat is one chat everywhere: a room *is* a session chat, and its
messages are the same rows that ``GET /api/sessions/{sid}/chats/{cid}`` returns. `SharedRooms` is that
view over the world's `Store`.

This is the seam for the deployed server's two chat stores (recoup-surface.md §1: ``rooms``/
``memories`` beside ``chats``/``chat_messages``, with no link between them): a second class with the
methods of `Rooms`, keeping its own rows, chosen per world by a switch of the profile's behaviour
table (`mockserver.profiles.Behaviour`) where the world builds its state (`mockserver.state.worlds.World`),
so that no handler asks which profile it runs under. The sidebar (``GET /api/chats``) is not a room
operation: the deployed server reads it from the session chats too (`Store.sidebar`).
"""

from __future__ import annotations

import re
from typing import Protocol

from ..errors import ApiError
from .store import Account, Chat, MessageRow, Store

#: Where ``POST /api/chats`` takes a room's title from when no ``topic`` is given.
TITLE_FROM_MESSAGE = 80
COMPACT_LINE = 200


class Rooms(Protocol):
    """What the ``/api/chats`` operations (all but the listing) need of the rooms."""

    def get(self, room_id: str) -> Chat | None:
        """The room with this id, if any."""
        ...

    def create(self, account: Account, *, room_id: str | None, artist_id: str | None, title: str) -> Chat:
        """A new room of ``account``; 409 when ``room_id`` is taken."""
        ...

    def rename(self, room: Chat, topic: str) -> Chat:
        """Give the room a new topic (its title)."""
        ...

    def delete(self, room: Chat) -> None:
        """Delete the room with its messages."""
        ...

    def copy_messages(self, source: Chat, target: Chat, *, clear: bool) -> int:
        """Copy the source's messages into the target (after emptying it, if ``clear``); how many."""
        ...

    def delete_from(self, room: Chat, message_id: str) -> None:
        """Delete the message and every later one (ties included); 404 for a message not in the room."""
        ...


class SharedRooms:
    """The documented view: rooms are the store's chats. A room made here gets a session of its own
    (a chat always has one), which goes with the room's deletion."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, room_id: str) -> Chat | None:
        return self.store.chats.get(room_id)

    def create(self, account: Account, *, room_id: str | None, artist_id: str | None, title: str) -> Chat:
        if room_id is not None and room_id in self.store.chats:
            raise ApiError(409, f"A chat with id {room_id} already exists; leave chatId out to get a new id")
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
            raise ApiError(404, f"Message not found: {message_id} is not a message of chat {room.id}",
                           terse="Message not found")
        self.store.replace_messages(room, [m for m in room.messages if m.updated_at < chosen.updated_at])


def title_for(topic: str | None, first_message: str | None) -> str:
    """A new room's title: its ``topic``; else the start of ``firstMessage`` (the deployed server asks
    a model for one; the mock takes the words as they are); else ``New chat``."""
    if topic is not None and topic.strip():
        return topic.strip()
    text = " ".join((first_message or "").split())
    if not text:
        return "New chat"
    return text if len(text) <= TITLE_FROM_MESSAGE else text[:TITLE_FROM_MESSAGE - 1] + "…"


def compact(room: Chat) -> str:
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
