"""Flows over the front end's surface, statefully: sessions, their chats, the sandbox and ``/api/chats``.

Each flow checks one property of the state behind the operations, each failing under its own check
name (the rule key of a failure says which step):

==========================  =========================================================================
``sandbox_becomes_active``  after ``POST /api/sandbox``, ``GET /api/sandbox/status`` reaches ``active``
                            (polled, within the provisioning wait the answer reports plus the request
                            timeout; two minutes when the POST got no answer), with lifecycle state
                            ``active`` and a ``lifecycleVersion`` of at least 1; the session says
                            ``active``; ``GET /api/sandbox/reconnect`` is ``connected``
``created_reads_back``      a session made with a title reads back (``GET``), and so do its first
                            chat (alone and in the session's list), a rename (``PATCH``), a chat with
                            an id the client chose (asked twice: the same chat) and a room made by
                            ``POST /api/chats`` (its artist, its messages, and its page as a
                            session's chat when the answer names the session)
``turn_persisted``          a turn streamed to its end is stored as it streamed: the chat holds the
                            user message sent (its id and text) and an assistant message with the id
                            and the text the stream assembles to (the suite's stream reader, then
                            `mockserver.streams.protocol.assemble`); ``GET /api/chats/{id}/messages``
                            has the same messages (one chat everywhere)
``read_marks_flip``         a chat without an answer is not unread; after a finished turn it is
                            (``hasUnread: true`` in the session's list), until ``POST …/read``
``rename_shows_everywhere`` a rename by ``PATCH …/chats/{chatId}``, then one by ``PATCH /api/chats``,
                            shows in ``GET …/chats/{chatId}``, ``GET …/chats`` and ``GET /api/chats``
``delete_leaves_404``       a chat given messages (``…/messages/copy``), cut short
                            (``…/messages/trailing``: the rows are gone) and deleted answers 404 and is
                            in no list; the only chat of a session is refused (400, on both delete
                            operations) and still there; a room deleted by ``DELETE /api/chats``
                            answers 404
``cross_account_refused``   the second account (``--other-api-key``) gets 403 or 404 with the first
                            account's ids on each operation of the surface that takes one, and its
                            sidebar lists none of our chats; afterwards our session, chat and room
                            are as they were. ``POST /api/sessions`` takes no id, so it is not tried
==========================  =========================================================================

They are safe against a deployment: everything they change is theirs (a session made for the
purpose, chats in our session, rooms), one agent run in all (`workspace.finished_turn`, under
``--max-streams``), and `flows.clean_up` deletes what they leave and archives the sessions at the
end. A flow that needs an operation the spec does not have (`NEEDS`) is skipped with a note. Where
the deployed server breaks a documented behaviour (its two chat stores, for one), the flow records
the failure like any other: a baseline names it as known drift.
"""

from __future__ import annotations

import uuid
from typing import Any

from .operations import (
    CHAT_ARTIST,
    CHAT_MESSAGES,
    COMPACT_CHATS,
    COPY_CHAT_MESSAGES,
    CREATE_CHAT,
    CREATE_SANDBOX,
    CREATE_SESSION,
    CREATE_SESSION_CHAT,
    DELETE_CHAT,
    DELETE_SESSION_CHAT,
    DELETE_TRAILING_MESSAGES,
    GET_SESSION,
    GET_SESSION_CHAT,
    LIST_CHATS,
    LIST_SESSION_CHATS,
    MARK_CHAT_READ,
    PATCH_SESSION,
    PATCH_SESSION_CHAT,
    POST_CHAT,
    RECONNECT_SANDBOX,
    SANDBOX_STATUS,
    SURFACE,
    UPDATE_CHAT,
)
from .streams import RULE_UNCHECKED
from .target import Exchange, Target
from .workspace import PROMPT, Workspace, assistant_messages, find, finished_turn, new_chat, poll, token

#: How long the sandbox may take to come up when ``POST /api/sandbox`` got no answer (a deployment's
#: provisioning can outlast the request timeout; the status then says when it is done).
SANDBOX_POLL_LIMIT = 120.0
#: Fields of a session, and of a chat, that a read must give back as they were made.
SESSION_FIELDS = ("id", "userId", "title", "status", "artistId", "createdAt")
CHAT_FIELDS = ("id", "sessionId", "title", "modelId", "createdAt")

_TURN = (CREATE_SESSION_CHAT, POST_CHAT, GET_SESSION_CHAT)
#: The operations each flow calls: a spec without one of them skips the flow (with a note).
NEEDS: dict[str, tuple[str, ...]] = {
    "sandbox_active": (SANDBOX_STATUS, GET_SESSION, RECONNECT_SANDBOX),
    "read_back": (CREATE_SESSION, GET_SESSION, PATCH_SESSION, LIST_SESSION_CHATS, CREATE_SESSION_CHAT,
                  GET_SESSION_CHAT, CREATE_CHAT, CHAT_ARTIST, CHAT_MESSAGES),
    "turn_persisted": (*_TURN, CHAT_MESSAGES),
    "read_marks": (*_TURN, LIST_SESSION_CHATS, MARK_CHAT_READ),
    "rename_visible": (*_TURN, PATCH_SESSION_CHAT, UPDATE_CHAT, LIST_SESSION_CHATS, LIST_CHATS),
    "delete_gone": (*_TURN, COPY_CHAT_MESSAGES, CHAT_MESSAGES, DELETE_TRAILING_MESSAGES, LIST_CHATS,
                    DELETE_SESSION_CHAT, MARK_CHAT_READ, LIST_SESSION_CHATS, CREATE_SESSION, DELETE_CHAT,
                    CREATE_CHAT, CHAT_ARTIST),
    "cross_account": tuple(op for op in SURFACE if op != CREATE_SESSION),
}


def _body(exchange: Exchange, key: str) -> dict[str, Any]:
    """``answer[key]`` when it is an object, else {}."""
    value = exchange.json_object().get(key)
    return value if isinstance(value, dict) else {}


def _list(exchange: Exchange, key: str) -> list[Any]:
    value = exchange.json_object().get(key)
    return value if isinstance(value, list) else []


def text_of(message: dict[str, Any]) -> str:
    """The text of a UI message: its text parts, joined."""
    parts = message.get("parts")
    return "".join(p["text"] for p in parts if isinstance(p, dict) and p.get("type") == "text"
                   and isinstance(p.get("text"), str)) if isinstance(parts, list) else ""


def expect_same(target: Target, exchange: Exchange, check: str, rule: str, got: Any, made: dict[str, Any],
                fields: tuple[str, ...], source: str) -> bool:
    """Record a failure unless ``got`` has ``fields`` as ``made`` had them (what ``source`` answered)."""
    got = got if isinstance(got, dict) else {}
    differ = [f"`{name}` is {got.get(name)!r}, not {made.get(name)!r}" for name in fields
              if name in made and got.get(name) != made.get(name)]
    if differ:
        target.record(exchange, check, rule, f"It does not read back as {source} made it: {'; '.join(differ)}.")
    return not differ


# ---------------------------------------------------------------------------------------- the sandbox
def sandbox_active(target: Target, ws: Workspace) -> None:
    flow, check = "sandbox_active", "sandbox_becomes_active"
    assert ws.session_id is not None
    timeout = target.options.request_timeout
    created = ws.sandbox
    if created is None:
        # RECOUP_CONTRACT_SESSION_ID named a session that has its sandbox already.
        limit, since = timeout, "the session was given (RECOUP_CONTRACT_SESSION_ID)"
    elif created.response is None:
        limit, since = SANDBOX_POLL_LIMIT, "POST /api/sandbox got no answer"
    else:
        timing = _body(created, "timing")
        ready_ms = timing.get("readyMs")
        wait = ready_ms / 1000 if isinstance(ready_ms, int | float) and ready_ms > 0 else 0.0
        limit, since = wait + timeout, f"POST /api/sandbox answered {created.status}"
    seen: list[str] = []

    def active(exchange: Exchange) -> bool:
        status = str(exchange.json_object().get("status"))
        if not seen or seen[-1] != status:
            seen.append(status)
        return exchange.status != 200 or status == "active"

    status, _ = poll(target, flow, SANDBOX_STATUS, active, limit, query={"sessionId": ws.session_id})
    if not target.expect_status(status, check, "status-read", 200, "the session's owner reads its sandbox status"):
        return
    body = status.json_object()
    if body.get("status") != "active":
        target.record(status, check, "active", f"The sandbox should be `active` once it is created; {since}, and "
                      f"the status went {' -> '.join(seen)} in {limit:g} s of polling.")
        return
    lifecycle = _body(status, "lifecycle")
    if lifecycle.get("state") != "active":
        target.record(status, check, "lifecycle-state",
                      f"An active sandbox's `lifecycle.state` should be `active`, not {lifecycle.get('state')!r}.")
    version = body.get("lifecycleVersion")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        target.record(status, check, "lifecycle-version", f"`lifecycleVersion` should count the provisioning "
                      f"(at least 1), not {version!r}.")
    session = target.send(flow, GET_SESSION, path={"sessionId": ws.session_id})
    if target.expect_status(session, check, "session", 200, "the session's owner reads it"):
        state = _body(session, "session").get("lifecycleState")
        if state != "active":
            target.record(session, check, "session-lifecycle", f"The session's `lifecycleState` should be `active` "
                          f"while its sandbox is, not {state!r}.")
    reconnect = target.send(flow, RECONNECT_SANDBOX, query={"sessionId": ws.session_id})
    if target.expect_status(reconnect, check, "reconnect", 200, "the session's owner reconnects to its sandbox"):
        answer = reconnect.json_object().get("status")
        if answer != "connected":
            target.record(reconnect, check, "reconnect-status",
                          f"Reconnecting to an active sandbox should answer `connected`, not {answer!r}.")


# ---------------------------------------------------------------------------------------- reading back
def read_back(target: Target, ws: Workspace) -> None:
    flow, check = "read_back", "created_reads_back"
    title = f"recoup-mock contract read-back {token()}"
    created = target.send(flow, CREATE_SESSION, body={"title": title})
    if not target.expect_status(created, check, "create-session", 200, "creating a session must succeed"):
        return
    session, chat = _body(created, "session"), _body(created, "chat")
    session_id, chat_id = session.get("id"), chat.get("id")
    if not isinstance(session_id, str) or not isinstance(chat_id, str):
        target.record(created, check, "create-session-ids", "The answer has no `session.id` or no `chat.id`.")
        return
    ws.created_session(session_id, "owner", f"session {session_id} (read back)")
    path = {"sessionId": session_id}
    got = target.send(flow, GET_SESSION, path=path)
    if target.expect_status(got, check, "session", 200, "a session just made reads back"):
        expect_same(target, got, check, "session", _body(got, "session"), session, SESSION_FIELDS,
                    "POST /api/sessions")
    got = target.send(flow, GET_SESSION_CHAT, path={**path, "chatId": chat_id})
    if target.expect_status(got, check, "first-chat", 200, "a session's first chat reads back"):
        expect_same(target, got, check, "first-chat", _body(got, "chat"), chat, CHAT_FIELDS, "POST /api/sessions")
    listed = target.send(flow, LIST_SESSION_CHATS, path=path)
    if target.expect_status(listed, check, "first-chat-listed", 200, "the session's owner lists its chats"):
        row = find(_list(listed, "chats"), chat_id)
        if row is None:
            target.record(listed, check, "first-chat-listed", f"The session's first chat {chat_id} is not listed.")
        else:
            expect_same(target, listed, check, "first-chat-listed", row, chat, CHAT_FIELDS, "POST /api/sessions")
    # A rename of the session reads back.
    renamed = f"{title} (renamed)"
    patched = target.send(flow, PATCH_SESSION, path=path, body={"title": renamed})
    if target.expect_status(patched, check, "patch-session", 200, "the session's owner renames it"):
        got = target.send(flow, GET_SESSION, path=path)
        if target.expect_status(got, check, "patched-session", 200, "a renamed session reads back"):
            expect_same(target, got, check, "patched-session", _body(got, "session"), {"title": renamed},
                        ("title",), "PATCH /api/sessions/{sessionId}")
    _client_chat(target, flow, check, ws, session_id, chat_id)
    _room(target, flow, check, ws)


def _client_chat(target: Target, flow: str, check: str, ws: Workspace, session_id: str, first_chat: str) -> None:
    """A chat with an id the client chose reads back; asking for it again gives the same chat."""
    client_id = str(uuid.uuid4())
    path = {"sessionId": session_id}
    made = target.send(flow, CREATE_SESSION_CHAT, path=path, body={"id": client_id})
    if not target.expect_status(made, check, "client-chat", 200, "a chat with an id the client chose is made"):
        return
    ws.chats.append((session_id, client_id))
    ws.created.append(f"chat {client_id}")
    chat = _body(made, "chat")
    if not expect_same(target, made, check, "client-id", chat, {"id": client_id}, ("id",),
                       "the client (the id it chose)"):
        return
    again = target.send(flow, CREATE_SESSION_CHAT, path=path, body={"id": client_id})
    if target.expect_status(again, check, "client-id-again", 200,
                            "asking again for a chat of this session by its id answers that chat"):
        expect_same(target, again, check, "client-id-again", _body(again, "chat"), chat, CHAT_FIELDS,
                    "the first POST /api/sessions/{sessionId}/chats")
    got = target.send(flow, GET_SESSION_CHAT, path={**path, "chatId": client_id})
    if target.expect_status(got, check, "session-chat", 200, "a chat just made reads back"):
        expect_same(target, got, check, "session-chat", _body(got, "chat"), chat, CHAT_FIELDS,
                    "POST /api/sessions/{sessionId}/chats")
    listed = target.send(flow, LIST_SESSION_CHATS, path=path)
    if target.expect_status(listed, check, "session-chats", 200, "the session's owner lists its chats"):
        ids = [row.get("id") for row in _list(listed, "chats") if isinstance(row, dict)]
        if [i for i in ids if i in (first_chat, client_id)] != [first_chat, client_id]:
            target.record(listed, check, "session-chats", f"The session's chats should be listed oldest first, "
                          f"the first chat {first_chat}, then {client_id}; the list has {ids}.")


def _make_room(target: Target, flow: str, check: str, ws: Workspace, topic: str, no_id: str
               ) -> tuple[dict[str, Any], str] | None:
    """``POST /api/chats`` with ``topic``, the room kept in the workspace for clean-up: its ``chat`` and
    id, or None once the answer has been recorded as wrong (``no_id``: the step named for a missing id)."""
    made = target.send(flow, CREATE_CHAT, body={"topic": topic})
    if not target.expect_status(made, check, "room", 200, "the caller makes a room"):
        return None
    room = _body(made, "chat")
    room_id = room.get("id")
    if not isinstance(room_id, str):
        target.record(made, check, no_id, "The room's answer has no `chat.id`.")
        return None
    ws.rooms.append(room_id)
    ws.created.append(f"room {room_id}")
    return room, room_id


def _room(target: Target, flow: str, check: str, ws: Workspace) -> None:
    """A room made by ``POST /api/chats`` reads back through the room routes (and, when the answer names its
    session, as that session's chat)."""
    topic = f"contract room {token()}"
    made = _make_room(target, flow, check, ws, topic, "room-id")
    if made is None:
        return
    room, room_id = made
    artist = target.send(flow, CHAT_ARTIST, path={"id": room_id})
    if target.expect_status(artist, check, "room-artist", 200, "a room just made reads back"):
        expect_same(target, artist, check, "room-artist", artist.json(), {"room_id": room_id, "artist_id": None},
                    ("room_id", "artist_id"), "POST /api/chats (no artistId)")
    messages = target.send(flow, CHAT_MESSAGES, path={"id": room_id})
    if target.expect_status(messages, check, "room-messages", 200, "a room just made reads back") \
            and _list(messages, "data") != []:
        target.record(messages, check, "room-messages", "A room just made should have no messages.")
    session_id = room.get("sessionId")
    if isinstance(session_id, str):
        page = target.send(flow, GET_SESSION_CHAT, path={"sessionId": session_id, "chatId": room_id})
        if target.expect_status(page, check, "room-as-session-chat", 200,
                                "a room is a chat of the session its answer names"):
            expect_same(target, page, check, "room-as-session-chat", _body(page, "chat"),
                        {"id": room_id, "sessionId": session_id, "title": topic}, ("id", "sessionId", "title"),
                        "POST /api/chats")


# ---------------------------------------------------------------------------------------- a turn
def turn_persisted(target: Target, ws: Workspace) -> None:
    flow, check = "turn_persisted", "turn_persisted"
    turn = finished_turn(target, flow, check, ws)
    if turn is None:
        return
    if turn.unreadable is not None:
        target.record(turn.post, check, RULE_UNCHECKED,
                      f"The stream cannot be compared with what the server stored: {turn.unreadable}")
        return
    assert turn.message is not None and turn.stored is not None
    streamed_id = turn.message.get("id")
    if not streamed_id:
        target.record(turn.post, check, "message-id", "The stream names no message id (`start.messageId`), so "
                      "the stored assistant message cannot be told apart.")
        return
    stored = turn.stored
    if not target.expect_status(stored, check, "read", 200, "the chat's owner reads it"):
        return
    timeout = target.options.request_timeout
    if not turn.settled:
        target.record(stored, check, "stored", f"{timeout:g} s after its stream ended, the chat still streams or "
                      f"holds no assistant message with the streamed id {streamed_id}: the turn was not stored.")
        return
    messages = [m for m in _list(stored, "messages") if isinstance(m, dict)]
    user = find(messages, turn.user["id"])
    if user is None:
        target.record(stored, check, "user-message", f"The user message the turn sent ({turn.user['id']}) is not "
                      "among the chat's messages.")
    elif text_of(user) != PROMPT:
        target.record(stored, check, "user-message", f"The stored user message says {text_of(user)!r}, not the "
                      f"{PROMPT!r} the turn sent.")
    answers = [m for m in assistant_messages(stored) if m.get("id") == streamed_id]
    if answers and text_of(answers[0]) != text_of(turn.message):
        target.record(stored, check, "text", f"The stored assistant message {streamed_id} says "
                      f"{text_of(answers[0])!r}; the stream assembled {text_of(turn.message)!r}.")
    rows = target.send(flow, CHAT_MESSAGES, path={"id": turn.chat_id})
    if target.expect_status(rows, check, "room-messages", 200, "a session's chat is also a room, with the same "
                            "messages (GET /api/chats/{id}/messages)"):
        contents = [row.get("content") for row in _list(rows, "data") if isinstance(row, dict)]
        room_ids = [c.get("id") for c in contents if isinstance(c, dict)]
        chat_ids = [m.get("id") for m in messages]
        if room_ids != chat_ids:
            target.record(rows, check, "room-messages", f"The chat's messages as a room are {room_ids}; as the "
                          f"session's chat, {chat_ids}.")


# ---------------------------------------------------------------------------------------- read marks
def read_marks(target: Target, ws: Workspace) -> None:
    flow, check = "read_marks", "read_marks_flip"
    turn = finished_turn(target, flow, check, ws)
    if turn is None:
        return
    assert ws.session_id is not None
    path = {"sessionId": ws.session_id}
    chat_id = turn.chat_id

    def unread(exchange: Exchange) -> bool:
        row = find(_list(exchange, "chats"), chat_id)
        return exchange.status != 200 or row is None or row.get("hasUnread") is True

    # The answer may still be being written when the stream ends: a deployment is read until it shows.
    listed, _ = poll(target, flow, LIST_SESSION_CHATS, unread, target.options.request_timeout, path=path)
    if not target.expect_status(listed, check, "list", 200, "the session's owner lists its chats"):
        return
    row = find(_list(listed, "chats"), chat_id)
    if row is None:
        target.record(listed, check, "listed", f"The chat {chat_id} is not among its session's chats.")
        return
    if row.get("hasUnread") is not True:
        target.record(listed, check, "unread-after-turn", f"After a finished turn the chat should be unread "
                      f"(`hasUnread: true`) until it is marked read; it says {row.get('hasUnread')!r}.")
    quiet = find(_list(listed, "chats"), ws.chat_id or "")
    if quiet is not None and quiet.get("hasUnread") is not False:
        target.record(listed, check, "unread-without-answer", f"A chat no assistant has answered ({ws.chat_id}) "
                      f"should not be unread; it says `hasUnread: {quiet.get('hasUnread')!r}`.")
    marked = target.send(flow, MARK_CHAT_READ, path={**path, "chatId": chat_id})
    if not target.expect_status(marked, check, "mark", 200, "the chat's owner marks it read"):
        return
    after = target.send(flow, LIST_SESSION_CHATS, path=path)
    if target.expect_status(after, check, "list-after", 200, "the session's owner lists its chats"):
        row = find(_list(after, "chats"), chat_id) or {}
        if row.get("hasUnread") is not False:
            target.record(after, check, "read-after-mark", f"After POST …/read the chat should be read "
                          f"(`hasUnread: false`) until the next answer; it says {row.get('hasUnread')!r}.")


# ---------------------------------------------------------------------------------------- renames
def rename_visible(target: Target, ws: Workspace) -> None:
    flow, check = "rename_visible", "rename_shows_everywhere"
    turn = finished_turn(target, flow, check, ws)  # a chat with messages: the sidebar lists only those
    if turn is None:
        return
    assert ws.session_id is not None
    session_id, chat_id = ws.session_id, turn.chat_id
    title = f"contract rename {token()}"
    renamed = target.send(flow, PATCH_SESSION_CHAT, path={"sessionId": session_id, "chatId": chat_id},
                          body={"title": title})
    if target.expect_status(renamed, check, "patch-session-chat", 200, "the chat's owner renames it"):
        _shows_everywhere(target, flow, check, renamed, session_id, chat_id, title, "patch-session-chat")
    topic = f"contract topic {token()}"
    updated = target.send(flow, UPDATE_CHAT, body={"chatId": chat_id, "topic": topic})
    if target.expect_status(updated, check, "update-chat", 200, "a session's chat is also a room: PATCH /api/chats "
                            "renames it, in every list"):
        _shows_everywhere(target, flow, check, updated, session_id, chat_id, topic, "update-chat")


def _shows_everywhere(target: Target, flow: str, check: str, renamed: Exchange, session_id: str, chat_id: str,
                      title: str, via: str) -> None:
    """``title`` in the rename's answer, then in the chat's own read, in its session's list and in the sidebar
    (rules ``<via>:<where>``)."""
    if not expect_same(target, renamed, check, f"{via}:answer", _body(renamed, "chat"), {"title": title}, ("title",),
                       "the rename"):
        return
    one = target.send(flow, GET_SESSION_CHAT, path={"sessionId": session_id, "chatId": chat_id})
    if target.expect_status(one, check, f"{via}:session-chat", 200, "the chat's owner reads it"):
        expect_same(target, one, check, f"{via}:session-chat", _body(one, "chat"), {"title": title}, ("title",),
                    "the rename")
    for operation, path, key, where in ((LIST_SESSION_CHATS, {"sessionId": session_id}, "chats", "session-chats"),
                                        (LIST_CHATS, None, "chats", "sidebar")):
        listed = target.send(flow, operation, path=path)
        rule = f"{via}:{where}"
        if not target.expect_status(listed, check, rule, 200, "the owner lists its chats"):
            continue
        row = find(_list(listed, key), chat_id)
        if row is None:
            target.record(listed, check, rule, f"The renamed chat {chat_id} (it has messages) is not listed.")
        else:
            expect_same(target, listed, check, rule, row, {"title": title}, ("title",), "the rename")


# ---------------------------------------------------------------------------------------- deletes
def delete_gone(target: Target, ws: Workspace) -> None:
    flow, check = "delete_gone", "delete_leaves_404"
    assert ws.session_id is not None
    session_id = ws.session_id
    doomed = new_chat(target, flow, ws, check)
    if doomed is None:
        return
    listed_before = _give_messages(target, flow, check, ws, doomed)
    path = {"sessionId": session_id, "chatId": doomed}
    deleted = target.send(flow, DELETE_SESSION_CHAT, path=path)
    if not target.expect_status(deleted, check, "delete", 200, "the chat's owner deletes a chat of a session with "
                                "others"):
        return
    ws.forget_chat(doomed)
    gone = "a deleted chat answers 404 everywhere"
    target.expect_status(target.send(flow, GET_SESSION_CHAT, path=path), check, "get-after", 404, gone)
    target.expect_status(target.send(flow, MARK_CHAT_READ, path=path), check, "read-after", 404, gone)
    target.expect_status(target.send(flow, CHAT_MESSAGES, path={"id": doomed}), check, "messages-after", 404, gone)
    lists: tuple[tuple[str, dict[str, str] | None, str], ...] = (
        (LIST_SESSION_CHATS, {"sessionId": session_id}, "session-chats"), (LIST_CHATS, None, "sidebar"))
    for operation, list_path, where in lists:
        listed = target.send(flow, operation, path=list_path)
        if target.expect_status(listed, check, f"{where}-after", 200, "the owner lists its chats") \
                and find(_list(listed, "chats"), doomed) is not None:
            was = " (it was, with its messages, before)" if listed_before and where == "sidebar" else ""
            target.record(listed, check, f"{where}-after", f"The deleted chat {doomed} is still listed{was}.")
    _only_chat(target, flow, check, ws)
    _room_delete(target, flow, check, ws)


def _give_messages(target: Target, flow: str, check: str, ws: Workspace, chat_id: str) -> bool:
    """Copy the finished turn's messages into ``chat_id`` and cut the last one off (``…/trailing``), checking
    both; True when the chat is then in the sidebar (a chat with messages is), as it must be."""
    turn = finished_turn(target, flow, check, ws)
    if turn is None:
        return False
    copied = target.send(flow, COPY_CHAT_MESSAGES, path={"id": turn.chat_id}, body={"targetChatId": chat_id})
    if not target.expect_status(copied, check, "copy", 200, "the owner copies a chat's messages into another chat "
                                "of theirs (so that it has messages, and a place in the sidebar, before it is "
                                "deleted)"):
        return False
    rows = target.send(flow, CHAT_MESSAGES, path={"id": chat_id})
    if not target.expect_status(rows, check, "copied", 200, "the owner reads the copied messages"):
        return False
    data = [row for row in _list(rows, "data") if isinstance(row, dict)]
    count = copied.json_object().get("copied_count")
    if not data or len(data) != count:
        target.record(rows, check, "copied", f"The copy answered `copied_count: {count!r}`; the chat now has "
                      f"{len(data)} message(s).")
        return False
    if len(data) > 1:
        last = data[-1].get("id")
        cut = target.send(flow, DELETE_TRAILING_MESSAGES, path={"id": chat_id}, query={"from_message_id": last})
        if target.expect_status(cut, check, "trailing", 200, "the owner deletes a chat's last message"):
            after = target.send(flow, CHAT_MESSAGES, path={"id": chat_id})
            if target.expect_status(after, check, "trailing-after", 200, "the owner reads the messages left"):
                left = [row.get("id") for row in _list(after, "data") if isinstance(row, dict)]
                if left != [row.get("id") for row in data[:-1]]:
                    target.record(after, check, "trailing-after", f"After deleting from message {last}, the "
                                  f"messages left should be the earlier ones, {[r.get('id') for r in data[:-1]]}; "
                                  f"they are {left}.")
    sidebar = target.send(flow, LIST_CHATS)
    if not target.expect_status(sidebar, check, "sidebar-before", 200, "the owner lists its chats"):
        return False
    if find(_list(sidebar, "chats"), chat_id) is None:
        target.record(sidebar, check, "sidebar-before", f"The chat {chat_id} has messages, so it should be in the "
                      "sidebar.")
        return False
    return True


def _only_chat(target: Target, flow: str, check: str, ws: Workspace) -> None:
    """The only chat of a session cannot be deleted, by either delete operation; it is still there after."""
    made = target.send(flow, CREATE_SESSION, body={"title": f"recoup-mock contract only chat {token()}"})
    if not target.expect_status(made, check, "only-chat-session", 200, "creating a session must succeed"):
        return
    session_id, chat_id = _body(made, "session").get("id"), _body(made, "chat").get("id")
    if not isinstance(session_id, str) or not isinstance(chat_id, str):
        target.record(made, check, "only-chat-session", "The answer has no `session.id` or no `chat.id`.")
        return
    ws.created_session(session_id, "owner", f"session {session_id} (only chat)")
    path = {"sessionId": session_id, "chatId": chat_id}
    target.expect_status(target.send(flow, DELETE_SESSION_CHAT, path=path), check, "only-chat", 400,
                         "the only chat of a session cannot be deleted")
    target.expect_status(target.send(flow, DELETE_CHAT, body={"id": chat_id}), check, "only-chat-room", 400,
                         "DELETE /api/chats refuses the only chat of a session it did not make")
    target.expect_status(target.send(flow, GET_SESSION_CHAT, path=path), check, "only-chat-kept", 200,
                         "a refused delete leaves the chat as it was")


def _room_delete(target: Target, flow: str, check: str, ws: Workspace) -> None:
    """A room made by ``POST /api/chats`` and deleted by ``DELETE /api/chats`` answers 404 afterwards."""
    made = _make_room(target, flow, check, ws, f"contract doomed {token()}", "room")
    if made is None:
        return
    _, room_id = made
    deleted = target.send(flow, DELETE_CHAT, body={"id": room_id})
    if not target.expect_status(deleted, check, "room-delete", 200, "the room's owner deletes it"):
        return
    ws.forget_chat(room_id)
    gone = "a deleted room answers 404"
    target.expect_status(target.send(flow, CHAT_MESSAGES, path={"id": room_id}), check, "room-after", 404, gone)
    target.expect_status(target.send(flow, CHAT_ARTIST, path={"id": room_id}), check, "room-artist-after", 404, gone)


# ---------------------------------------------------------------------------------------- the other account
REFUSED = (403, 404)


def cross_account(target: Target, ws: Workspace) -> None:
    flow, check = "cross_account", "cross_account_refused"
    if not target.other_api_key:
        target.report.note("cross_account: skipped, no other account (pass --other-api-key)")
        return
    assert ws.session_id is not None
    session_id = ws.session_id
    victim = new_chat(target, flow, ws, check)  # a chat of ours only this flow uses: a wrong 200 harms nothing else
    made = target.send(flow, CREATE_CHAT, body={"topic": f"contract guarded {token()}"})
    room_id = _body(made, "chat").get("id") if target.expect_status(made, check, "room", 200,
                                                                   "the caller makes a room") else None
    if victim is None or not isinstance(room_id, str):
        return
    ws.rooms.append(room_id)
    ws.created.append(f"room {room_id}")
    account = ws.account_id or _body(made, "chat").get("accountId")
    before = target.send(flow, GET_SESSION, path={"sessionId": session_id})
    listed_before = target.send(flow, LIST_SESSION_CHATS, path={"sessionId": session_id})
    session_path = {"sessionId": session_id}
    chat_path = {**session_path, "chatId": victim}
    taken = "taken over by another account"
    repo = target.options.repo_url
    # (operation, rule, what of ours it names, the request's parts, the statuses that refuse it)
    requests: list[tuple[str, str, str, dict[str, Any], tuple[int, ...]]] = [
        (GET_SESSION, "refused", "session", {"path": session_path}, REFUSED),
        (PATCH_SESSION, "refused", "session", {"path": session_path, "body": {"title": taken}}, REFUSED),
        (LIST_SESSION_CHATS, "refused", "session", {"path": session_path}, REFUSED),
        (CREATE_SESSION_CHAT, "refused", "session", {"path": session_path, "body": {}}, REFUSED),
        (GET_SESSION_CHAT, "refused", "chat", {"path": chat_path}, REFUSED),
        (PATCH_SESSION_CHAT, "refused", "chat", {"path": chat_path, "body": {"title": taken}}, REFUSED),
        (MARK_CHAT_READ, "refused", "chat", {"path": chat_path}, REFUSED),
        (DELETE_SESSION_CHAT, "refused", "chat", {"path": chat_path}, REFUSED),
        (CREATE_SANDBOX, "refused", "session", {"body": {"repoUrl": repo, "sessionId": session_id}}, REFUSED),
        (SANDBOX_STATUS, "refused", "session", {"query": session_path}, REFUSED),
        (RECONNECT_SANDBOX, "refused", "session", {"query": session_path}, REFUSED),
        (UPDATE_CHAT, "refused", "room", {"body": {"chatId": room_id, "topic": taken}}, REFUSED),
        (CHAT_MESSAGES, "refused", "room", {"path": {"id": room_id}}, REFUSED),
        (DELETE_TRAILING_MESSAGES, "refused", "room",
         {"path": {"id": room_id}, "query": {"from_message_id": str(uuid.uuid4())}}, REFUSED),
        # The one answer for an id that is unknown or another account's (documented: 404 only).
        (COMPACT_CHATS, "refused", "room", {"body": {"chatId": [room_id]}}, REFUSED),
        (CHAT_ARTIST, "refused", "room", {"path": {"id": room_id}}, REFUSED),
        (DELETE_CHAT, "refused", "room", {"body": {"id": room_id}}, REFUSED),
    ]
    if ws.other_chat_id:
        # Ours copied into theirs, and theirs written into ours.
        requests += [
            (COPY_CHAT_MESSAGES, "refused", "room", {"path": {"id": room_id},
                                                     "body": {"targetChatId": ws.other_chat_id}}, REFUSED),
            (COPY_CHAT_MESSAGES, "refused-into", "room", {"path": {"id": ws.other_chat_id},
                                                          "body": {"targetChatId": room_id}}, REFUSED),
        ]
    if account is not None:
        requests += [
            (LIST_CHATS, "refused", "account", {"query": {"account_id": account}}, (403,)),
            (CREATE_CHAT, "refused", "account", {"body": {"accountId": account, "topic": taken}}, (403,)),
        ]
    else:
        target.report.note("cross_account: our account id is unknown (the session was given, and the room's "
                           "answer names none), so GET and POST /api/chats were not tried with it")
    for operation, rule, what, parts, statuses in requests:
        exchange = target.send(flow, operation, auth="other", **parts)
        target.expect_status(exchange, check, rule, statuses,
                             f"the second account (--other-api-key) must not reach the first account's {what}")
    if ws.turn is not None:
        sidebar = target.send(flow, LIST_CHATS, auth="other")
        if target.expect_status(sidebar, check, "sidebar", 200, "the second account lists its own chats") \
                and find(_list(sidebar, "chats"), ws.turn.chat_id) is not None:
            target.record(sidebar, check, "sidebar", f"The second account's sidebar lists our chat {ws.turn.chat_id}.")
    _unchanged(target, flow, check, before, listed_before, chat_path, room_id)


def _unchanged(target: Target, flow: str, check: str, before: Exchange, listed_before: Exchange,
               chat_path: dict[str, str], room_id: str) -> None:
    """After the refusals, our session, its chats, the victim chat and the room are as they were."""
    session_path = {"sessionId": chat_path["sessionId"]}
    after = target.send(flow, GET_SESSION, path=session_path)
    if before.status == 200 and target.expect_status(after, check, "unchanged-session", 200,
                                                     "our session is still ours after the refusals"):
        expect_same(target, after, check, "unchanged-session", _body(after, "session"), _body(before, "session"),
                    ("title", "status"), "it was before the second account's requests")
    listed = target.send(flow, LIST_SESSION_CHATS, path=session_path)
    if listed_before.status == 200 and target.expect_status(listed, check, "unchanged-chats", 200,
                                                            "our session's chats are still ours"):
        was = [row.get("id") for row in _list(listed_before, "chats") if isinstance(row, dict)]
        now = [row.get("id") for row in _list(listed, "chats") if isinstance(row, dict)]
        if now != was:
            target.record(listed, check, "unchanged-chats", f"Our session's chats were {was} before the second "
                          f"account's requests and are {now} after.")
        victim = find(_list(listed, "chats"), chat_path["chatId"])
        old = find(_list(listed_before, "chats"), chat_path["chatId"]) or {}
        if victim is not None and victim.get("title") != old.get("title"):
            target.record(listed, check, "unchanged-chat", f"Our chat {chat_path['chatId']} was renamed "
                          f"{victim.get('title')!r} by the second account's refused PATCH.")
    target.expect_status(target.send(flow, CHAT_ARTIST, path={"id": room_id}), check, "unchanged-room", 200,
                         "our room is still there after the second account's refused DELETE")
