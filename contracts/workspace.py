"""What the flows work in, and the steps several of them take: the workspace the run creates (and
cleans up), a fresh chat, a finished turn, and polling a remote state until it holds.

The `Workspace` records everything the run creates through the API, so that `flows.clean_up` can
delete the extra chats and rooms and archive the sessions at the end, and so that a flow that
needs a chat with a finished turn (`finished_turn`) shares the one turn the run pays for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import streams
from .operations import CREATE_SESSION_CHAT, GET_SESSION_CHAT, POST_CHAT
from .target import Exchange, Target

#: What the suite asks an agent for: short, so that a deployment's turn is cheap.
PROMPT = "recoup-mock contract check: reply briefly"
#: The first wait between two reads of a remote state, and the longest.
POLL_FIRST, POLL_MAX = 0.2, 2.0


@dataclass
class World:
    """The mock's fixture world, when the target has it."""

    busy_run: str | None = None


@dataclass
class Turn:
    """A turn streamed to its end on a chat of ours, and what the server stored of it."""

    chat_id: str
    #: The ``POST /api/chat`` whose stream was read to its end.
    post: Exchange
    #: The assistant message the stream assembles to (`streams.assembled`), or why it could not be read.
    message: dict[str, Any] | None
    unreadable: streams.UnreadableEvent | None
    #: The user message the turn sent (its id is this turn's own).
    user: dict[str, Any]
    #: The last read of the chat (``GET /api/sessions/{sessionId}/chats/{chatId}``) while waiting for the
    #: answer to be stored, and whether it was: the chat no longer streams and holds the streamed message.
    stored: Exchange | None = None
    settled: bool = False


@dataclass
class Workspace:
    """What the flows work in: our session (with a sandbox) and, for the 403s, the other account's chat;
    and what the run created, to clean up."""

    session_id: str | None = None
    chat_id: str | None = None
    generator_chat_id: str | None = None
    other_session_id: str | None = None
    other_chat_id: str | None = None
    world: World | None = None
    #: Our session as ``POST /api/sessions`` answered it (None when ``RECOUP_CONTRACT_SESSION_ID`` named it).
    session: dict[str, Any] | None = None
    #: ``POST /api/sandbox`` for our session, when this run sent it.
    sandbox: Exchange | None = None
    #: A chat of ours with a finished turn (`finished_turn`), shared by the flows that need one; and whether
    #: it was tried (one agent run for them all: a turn that could not be had is not tried again).
    turn: Turn | None = None
    turn_tried: bool = False
    #: For people: everything created, in order.
    created: list[str] = field(default_factory=list)
    #: For `flows.clean_up`: sessions to archive (id, who owns it: "owner" or "other"), chats to delete
    #: (session id, chat id; a session's first chat goes with the archive), rooms to delete.
    sessions: list[tuple[str, str]] = field(default_factory=list)
    chats: list[tuple[str, str]] = field(default_factory=list)
    rooms: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.session_id is not None and self.chat_id is not None

    @property
    def account_id(self) -> str | None:
        """Our account's id, as our session names it (``userId``)."""
        user = (self.session or {}).get("userId")
        return user if isinstance(user, str) else None

    def created_session(self, session_id: str, who: str, what: str) -> None:
        self.sessions.append((session_id, who))
        self.created.append(what)

    def forget_chat(self, chat_id: str) -> None:
        """A chat the flows deleted themselves: nothing left to clean up."""
        self.chats = [(s, c) for s, c in self.chats if c != chat_id]
        self.rooms = [r for r in self.rooms if r != chat_id]


def user_message(text: str, message_id: str = "contract-u1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def chat_body(chat_id: str, session_id: str, text: str = PROMPT, message_id: str = "contract-u1") -> dict[str, Any]:
    return {"messages": [user_message(text, message_id)], "chatId": chat_id, "sessionId": session_id}


def token() -> str:
    """A short text no earlier run used (titles the flows look for in lists)."""
    return uuid.uuid4().hex[:10]


def new_chat(target: Target, flow: str, ws: Workspace, check: str = "provisioning",
             session_id: str | None = None) -> str | None:
    """A fresh chat in our session (so no flow ever finds another flow's run on it), or in ``session_id``."""
    session = session_id or ws.session_id
    assert session is not None
    exchange = target.send(flow, CREATE_SESSION_CHAT, path={"sessionId": session}, body={})
    if not target.expect_status(exchange, check, "chat", 200, "creating a chat in our session must succeed"):
        return None
    chat = exchange.json_object().get("chat")
    chat_id = chat.get("id") if isinstance(chat, dict) else None
    if isinstance(chat_id, str):
        ws.created.append(f"chat {chat_id}")
        ws.chats.append((session, chat_id))
        return chat_id
    target.record(exchange, check, "chat-id", "The created chat has no `chat.id`.")
    return None


def poll(target: Target, flow: str, operation: str, until: Callable[[Exchange], bool], limit: float,
         **parts: Any) -> tuple[Exchange, bool]:
    """Send ``operation`` (with ``parts``) until ``until`` holds for an answer, for at most ``limit`` seconds
    (never past ``--max-time``), waiting longer each time. The last exchange, and whether it held; a
    request that got no answer (or was not sent) ends the polling."""
    remaining = target.remaining()
    if remaining is not None:
        limit = min(limit, remaining)
    deadline = time.monotonic() + limit
    interval = POLL_FIRST
    while True:
        exchange = target.send(flow, operation, **parts)
        if exchange.response is None:
            return exchange, False
        if until(exchange):
            return exchange, True
        if time.monotonic() + interval > deadline:
            return exchange, False
        # Polling a remote state: the server gives no other signal that it has changed.
        time.sleep(interval)
        interval = min(interval * 2, POLL_MAX)


def assistant_messages(exchange: Exchange) -> list[dict[str, Any]]:
    """The stored assistant messages of a ``GET /api/sessions/{sessionId}/chats/{chatId}`` answer."""
    messages = exchange.json_object().get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]


def finished_turn(target: Target, flow: str, check: str, ws: Workspace) -> Turn | None:
    """The run's chat with a finished turn: made once (one agent run, under ``--max-streams``) by the first
    flow that needs it, then shared. Its stream is read to the end and assembled; then the chat is read
    until it no longer streams and holds an assistant message with the streamed id (for at most the
    request timeout: a deployment stores the answer as its run ends). None when the turn could not be
    had (a failure is recorded under ``check``, or the cap skipped the POST)."""
    if ws.turn is not None:
        return ws.turn
    if ws.turn_tried:
        target.report.note(f"flow {flow}: skipped, it needs a chat with a finished turn, which this run could not "
                           "have (see above)")
        return None
    ws.turn_tried = True
    assert ws.session_id is not None
    chat_id = new_chat(target, flow, ws, check)
    if chat_id is None:
        return None
    user = user_message(PROMPT, f"contract-u-{uuid.uuid4()}")
    body = {"messages": [user], "chatId": chat_id, "sessionId": ws.session_id}
    post = target.send(flow, POST_CHAT, body=body)
    if post.skipped is not None or not target.expect_status(post, check, "turn", 200,
                                                             "a turn on a fresh chat with a sandbox streams"):
        return None
    assert post.response is not None
    if post.response.stream_cut_short:
        return None  # `stream_closes` has said so; there is no whole message to compare
    message, unreadable = None, None
    try:
        message = streams.assembled(post.response.content)
    except streams.UnreadableEvent as exc:
        unreadable = exc
    turn = Turn(chat_id, post, message, unreadable, user)
    streamed_id = (message or {}).get("id")

    def stored(exchange: Exchange) -> bool:
        body = exchange.json_object()
        if exchange.status != 200 or body.get("isStreaming") is not False:
            return exchange.status != 200  # an error is the answer: no point asking again
        return streamed_id is None or any(m.get("id") == streamed_id for m in assistant_messages(exchange))

    turn.stored, turn.settled = poll(target, flow, GET_SESSION_CHAT, stored, target.options.request_timeout,
                                     path={"sessionId": ws.session_id, "chatId": chat_id})
    if turn.stored.status != 200:
        turn.settled = False
    ws.turn = turn
    return turn


def find(items: Any, item_id: str) -> dict[str, Any] | None:
    """The object with ``id`` ``item_id`` in a list answer's items, if any."""
    if not isinstance(items, list):
        return None
    return next((item for item in items if isinstance(item, dict) and item.get("id") == item_id), None)
