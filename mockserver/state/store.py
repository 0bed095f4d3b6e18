"""In-memory state: accounts, sessions, chats (with their stream slot) and messages.

Everything is built from the fixture `Blueprint` and rebuilt by a reset. Ids and timestamps come from
`Ids`, which is seeded: the same requests after a reset give the same ids and the same clock.
All mutation happens on the event loop thread, and the compare-and-set of a chat's stream slot
has no ``await`` inside it, so it is atomic with respect to concurrent requests.
"""

from __future__ import annotations

import copy
import functools
import random
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import ApiError
from . import lifecycle
from .blueprint import Blueprint
from .budget import Budget
from .headless import Deferred
from .lifecycle import DOCUMENTED_RULES, NEW, Lifecycle, Rules, Timers
from .messages import MessageLog

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Crockford's digits -> the digits Python's int(x, 32) reads.
_CROCKFORD_TO_BASE32 = str.maketrans(_CROCKFORD, "0123456789abcdefghijklmnopqrstuv")
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: Two Crockford characters for each 10-bit value, and where each pair of a 26-character ULID sits.
_CROCKFORD_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_PAIR_SHIFTS = tuple(range(120, -1, -10))
_SIXTEEN = range(16)
#: The logical clock starts here after every reset (2026-01-01T00:00:00Z).
EPOCH_MS = 1_767_225_600_000


class Ids:
    """Seeded ids and a logical clock (one millisecond per reading that stamps something; the admin
    API's ``POST /__mock/clock`` moves it on)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._seed = seed
        self._clock_ms = EPOCH_MS

    def now_ms(self) -> int:
        """The time to stamp a change with: one millisecond after the last stamp."""
        self._clock_ms += 1
        return self._clock_ms

    def peek_ms(self) -> int:
        """The time now, without moving the clock (reading state changes no later stamp)."""
        return self._clock_ms

    def advance(self, ms: int) -> int:
        """Move the clock ``ms`` milliseconds on (never back); returns the new time."""
        self._clock_ms += max(ms, 0)
        return self._clock_ms

    def now_iso(self) -> str:
        return iso(self.now_ms())

    def uuid(self) -> str:
        return seeded_uuid(self._rng)

    @property
    def rng(self) -> random.Random:
        """The world's generator, for what a run draws when it starts (its message id, its jitter):
        drawn in the order requests arrive, never when a run happens to finish."""
        return self._rng

    def run_id(self) -> str:
        """``wrun_`` + a ULID: 48 bits of (logical) milliseconds, then 80 seeded random bits."""
        value = (self.now_ms() << 80) | self._rng.getrandbits(80)
        return "wrun_" + "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in _PAIR_SHIFTS])

    def run_rng(self, run_id: str) -> random.Random:
        """An independent generator for one fixture run (its answer's row id), from the seed and the
        run id: drawing from the world's would move every id after it. Seeded with an integer: a
        string seed would be hashed with SHA-512."""
        return random.Random((self._seed << 160) | zlib.crc32(run_id.encode()) << 128 | ulid_value(run_id))


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 UUID from ``rng``; the same string ``uuid.UUID(int=..., version=4)`` gives, faster."""
    n = (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = n.to_bytes(16, "big").hex()  # 32 hex digits, in C (faster than formatting the int)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ulid_value(run_id: str) -> int:
    """The 128-bit number a ``wrun_`` ULID spells (0 for anything that is not one)."""
    try:
        return int(run_id.removeprefix("wrun_").translate(_CROCKFORD_TO_BASE32), 32)
    except ValueError:
        return 0


def ulid_ms(run_id: str) -> int:
    """The millisecond timestamp inside a ``wrun_`` ULID."""
    return ulid_value(run_id) >> 80


def message_id(rng: random.Random) -> str:
    """A 16-character alphanumeric id, like the AI SDK's ``generateId()``: the characters
    ``rng.choices(_ALNUM, k=16)`` picks (the same draws), without its general-purpose set-up."""
    draw = rng.random
    return "".join([_ALNUM[int(draw() * 62)] for _ in _SIXTEEN])


@functools.lru_cache(maxsize=64)
def _iso_second(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def iso(ms: int) -> str:
    """Epoch milliseconds as ``2026-01-01T00:00:00.001Z`` (the logical clock stays in one second
    for a thousand readings, so the seconds part is memoised)."""
    return f"{_iso_second(ms // 1000)}.{ms % 1000:03d}Z"


@dataclass(slots=True)
class Account:
    name: str
    id: str


#: A session's ``status`` (``running`` is active; ``archived`` hides its chats from the sidebar).
SessionStatus = Literal["running", "completed", "failed", "archived"]
SANDBOX_TYPE = "vercel"


@dataclass(slots=True)
class Session:
    id: str
    account: Account
    title: str
    created_at: str
    updated_at: str
    #: The workspace repository's name under ``recoupable/`` (the account's, or the organisation's).
    repo_name: str
    artist_id: str | None = None
    status: SessionStatus = "running"
    #: The sandbox lifecycle (`mockserver.state.lifecycle`); read it through `Store.lifecycle_of`, which
    #: applies the transitions due by the world's time first.
    lifecycle: Lifecycle = NEW
    lines_added: int = 0
    lines_removed: int = 0
    chat_count: int = 0
    #: Made for one chat (a headless run's, a room's from ``POST /api/chats``): it goes with its last chat.
    ephemeral: bool = False

    def to_json(self, rules: Rules = DOCUMENTED_RULES) -> dict[str, Any]:
        """The Session. Call `Store.lifecycle_of` first so that the lifecycle is current. Its
        ``sandboxState`` is null without a sandbox, or the stub ``{type}`` under the rules of a server
        whose runtime state is the sandbox's name (`Rules.runtime_by_name`)."""
        lc = self.lifecycle
        sandbox: dict[str, Any] | None = {"type": SANDBOX_TYPE} if rules.runtime_by_name else None
        if lc.sandbox is not None:
            sandbox = {"type": SANDBOX_TYPE, "sandboxName": lc.sandbox}
            if lc.expires_ms is not None:
                sandbox["expiresAt"] = lc.expires_ms
        return {
            "id": self.id, "userId": self.account.id, "artistId": self.artist_id, "title": self.title,
            "status": self.status, "repoOwner": "recoupable", "repoName": self.repo_name, "branch": "main",
            "cloneUrl": f"https://github.com/recoupable/{self.repo_name}.git", "isNewBranch": False,
            "globalSkillRefs": [], "sandboxState": sandbox,
            "lifecycleState": lc.state, "lifecycleVersion": lc.version,
            "lastActivityAt": _iso_or_none(lc.last_activity_ms), "sandboxExpiresAt": _iso_or_none(lc.expires_ms),
            "hibernateAfter": _iso_or_none(lc.hibernate_after_ms), "lifecycleRunId": None,
            "lifecycleError": lc.error, "linesAdded": self.lines_added, "linesRemoved": self.lines_removed,
            "snapshotUrl": None, "snapshotCreatedAt": None, "snapshotSizeBytes": None,
            "cachedDiff": None, "cachedDiffUpdatedAt": None,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        }


def _iso_or_none(ms: int | None) -> str | None:
    return None if ms is None else iso(ms)


class MessageRow:
    """A stored message. Its content may be a function, called on first read: a run's assistant
    message is assembled only if someone asks for it."""

    __slots__ = ("_content", "chat_id", "id", "role", "updated_at")

    def __init__(self, row_id: str, chat_id: str, content: dict[str, Any] | Callable[[], dict[str, Any]],
                 updated_at: str, role: str = "user") -> None:
        self.id, self.chat_id, self.updated_at, self.role = row_id, chat_id, updated_at, role
        self._content = content

    @property
    def content(self) -> dict[str, Any]:
        if callable(self._content):
            self._content = self._content()
        return self._content

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.chat_id, "content": self.content, "updated_at": self.updated_at}


def text_length(message: dict[str, Any] | Callable[[], dict[str, Any]]) -> int:
    """The characters of text a stored message holds (0 for a run's answer, not assembled yet)."""
    if callable(message):
        return 0
    parts = message.get("parts")
    return sum(len(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)) \
        if isinstance(parts, list) else 0


@dataclass(slots=True)
class Chat:
    id: str
    session: Session
    title: str
    model_id: str
    created_at: str
    updated_at: str
    scenario: str | None = None
    active_stream_id: str | None = None
    last_assistant_message_at: str | None = None
    messages: list[MessageRow] = field(default_factory=list)
    #: When each account last marked the chat read (``POST …/read``), by account id.
    reads: dict[str, str] = field(default_factory=dict)

    @property
    def account(self) -> Account:
        return self.session.account

    @property
    def artist_id(self) -> str | None:
        """The artist the chat's session was made for (a room's artist)."""
        return self.session.artist_id

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "sessionId": self.session.id, "title": self.title, "modelId": self.model_id,
            "activeStreamId": self.active_stream_id, "lastAssistantMessageAt": self.last_assistant_message_at,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        }

    def has_unread(self, account: Account) -> bool:
        """An assistant message came after the account's last read mark (or there is no mark)."""
        last = self.last_assistant_message_at
        read = self.reads.get(account.id)
        return last is not None and (read is None or last > read)  # same ISO format: text order is time order

    def summary(self, account: Account) -> dict[str, Any]:
        """The ChatSummary of a session's chat list, for ``account``."""
        return {**self.to_json(), "hasUnread": self.has_unread(account),
                "isStreaming": self.active_stream_id is not None}

    def sidebar_row(self) -> dict[str, Any]:
        """The ChatRoom row of ``GET /api/chats`` and of the rooms' answers."""
        return {"id": self.id, "title": self.title, "accountId": self.account.id, "sessionId": self.session.id,
                "updatedAt": self.updated_at, "artistId": self.session.artist_id}


#: What a PATCH of a session may change (the spec has checked the values).
SESSION_FIELDS = {"title": "title", "status": "status", "linesAdded": "lines_added", "linesRemoved": "lines_removed"}


class Store:
    """The live state of one world, built from the fixture blueprint. Every change of state is a
    method here (or a `mockserver.state.lifecycle` transition these apply); handlers look things up,
    check ownership and render."""

    def __init__(self, blueprint: Blueprint, seed: int, *, rules: Rules = DOCUMENTED_RULES,
                 model: str | None = None, budget: Budget | None = None) -> None:
        self.blueprint = blueprint
        self.ids = Ids(seed)
        self.timers: Timers = blueprint.sandbox
        #: How the sandbox lifecycle is read and written (the world's profile's `Rules`).
        self.rules = rules
        #: The model of every chat and the sessions' ``defaultModelId``: the fixture world's, unless
        #: the world's profile names the server's own.
        self.model = model or blueprint.default_model
        self.accounts_by_key: dict[str, Account] = {}
        #: The sessions and chats built; a headless run's own are drawn but not built until they are read
        #: (`mockserver.state.headless`): look them up with `session` and `chat`, which build them.
        self.sessions: dict[str, Session] = {}
        self.chats: dict[str, Chat] = {}
        self._deferred_sessions: dict[str, Deferred] = {}
        self._deferred_chats: dict[str, Deferred] = {}
        #: How many times each operation without a handler has been answered (`mockserver.api.generic`'s seeds).
        self.generated: dict[str, int] = {}
        #: The process's memory budget, which the chat turns' stored messages are charged to (None: none).
        self.budget = budget
        #: Those messages as the budget counts them, made with the first (an idle world keeps none).
        self.message_log: MessageLog | None = None
        accounts = {a.name: Account(a.name, a.id) for a in blueprint.accounts}
        for a in blueprint.accounts:
            self.accounts_by_key.update(dict.fromkeys(a.keys, accounts[a.name]))
        for s in blueprint.sessions:
            self.add_session(accounts[s.account], s.title, sandbox=s.sandbox, session_id=s.id)
        for c in blueprint.chats:
            self.add_chat(self.sessions[c.session], c.title, chat_id=c.id, scenario=c.scenario)

    # ------------------------------------------------------------------ sessions

    def add_session(self, account: Account, title: str, *, sandbox: bool, session_id: str | None = None,
                    artist_id: str | None = None, repo_name: str | None = None, ephemeral: bool = False) -> Session:
        """A new session (``provisioning``); ``sandbox`` provisions it at once (fixtures, headless runs)."""
        now = self.ids.now_iso()
        session_id = session_id or self.ids.uuid()
        session = Session(session_id, account, title, now, now, repo_name or account.id, artist_id,
                          ephemeral=ephemeral)
        if sandbox:
            session.lifecycle = lifecycle.provisioned(session.lifecycle, self.ids.now_ms(), self.timers,
                                                      sandbox_name(session))
        self.sessions[session.id] = session
        return session

    def defer_headless(self, account: Account, title: str) -> Deferred:
        """A headless run's own session (its sandbox provisioned) and chat, drawn as `add_session` and
        `add_chat` would draw them, in the same order, and built only when looked up (`session`, `chat`)."""
        ids = self.ids
        session_ms = ids.now_ms()
        session_id = ids.uuid()
        provisioned_ms = ids.now_ms()
        chat_ms = ids.now_ms()
        deferred = Deferred(account, title, session_id, session_ms, provisioned_ms, ids.uuid(), chat_ms)
        self._deferred_sessions[session_id] = deferred
        self._deferred_chats[deferred.id] = deferred
        return deferred

    def _build(self, deferred: Deferred) -> Chat:
        """Make a deferred session and chat what `add_session` and `add_chat` would have made, with the
        messages stored since, and put them in place of the record; returns the chat."""
        del self._deferred_sessions[deferred.session_id], self._deferred_chats[deferred.id]
        made = iso(deferred.session_ms)
        session = Session(deferred.session_id, deferred.account, deferred.title, made, made, deferred.account.id,
                          ephemeral=True)
        session.lifecycle = lifecycle.provisioned(NEW, deferred.provisioned_ms, self.timers, sandbox_name(session))
        self.sessions[session.id] = session
        made = iso(deferred.chat_ms)
        chat = Chat(deferred.id, session, deferred.title, self.model, made, made, None, deferred.active_stream_id)
        self.chats[chat.id] = chat
        session.chat_count = 1
        for row_id, content, at, role in deferred.rows:
            self._append(chat, MessageRow(row_id, chat.id, content, at, role))
        return chat

    def session(self, session_id: str) -> Session | None:
        """The session ``session_id`` names, if any (a headless run's built now, if it was not)."""
        found = self.sessions.get(session_id)
        if found is None and (deferred := self._deferred_sessions.get(session_id)) is not None:
            return self._build(deferred).session
        return found

    def chat(self, chat_id: str) -> Chat | None:
        """The chat ``chat_id`` names, if any (a headless run's built now, if it was not)."""
        found = self.chats.get(chat_id)
        if found is None and (deferred := self._deferred_chats.get(chat_id)) is not None:
            return self._build(deferred)
        return found

    def holder(self, chat_id: str) -> Chat | Deferred | None:
        """The chat ``chat_id`` names as a run holds it, built or not (building it is for its readers)."""
        found = self.chats.get(chat_id)
        return found if found is not None else self._deferred_chats.get(chat_id)

    def has_chat(self, chat_id: str) -> bool:
        return chat_id in self.chats or chat_id in self._deferred_chats

    def all_chats(self) -> Iterable[Chat]:
        """Every chat, oldest built first (the deferred ones built now)."""
        for deferred in list(self._deferred_chats.values()):
            self._build(deferred)
        return self.chats.values()

    def counts(self) -> tuple[int, int]:
        """How many sessions and chats there are, built or not."""
        return (len(self.sessions) + len(self._deferred_sessions), len(self.chats) + len(self._deferred_chats))

    def create_session(self, account: Account, *, title: str | None, artist_id: str | None,
                       organization_id: str | None) -> tuple[Session, Chat]:
        """``POST /api/sessions``: a session (no sandbox yet) and its first chat, ``New chat``."""
        session = self.add_session(account, title.strip() if title and title.strip() else "New session",
                                   sandbox=False, artist_id=artist_id, repo_name=organization_id)
        return session, self.add_chat(session, "New chat")

    def lifecycle_of(self, session: Session) -> Lifecycle:
        """The session's lifecycle after the transitions due by now (hibernation, expiry), which are
        kept: reading is when they happen. Reads the clock without moving it."""
        now = self.ids.peek_ms()
        if lifecycle.due(session.lifecycle, now):  # only then is a look at the chats needed
            streaming = any(c.active_stream_id is not None for c in self.chats_of(session))
            session.lifecycle = lifecycle.evaluate(session.lifecycle, now, streaming=streaming)
        return session.lifecycle

    def sandbox_live(self, session: Session) -> bool:
        """Whether the session's sandbox is active now: provisioned and not stopped or expired."""
        return lifecycle.is_active(self.lifecycle_of(session), self.ids.peek_ms())

    def sandbox_ready(self, session: Session) -> bool:
        """Whether ``POST /api/chat`` may stream in the session: its sandbox status is ``active`` (by
        the world's rules: a live sandbox, or under `Rules.runtime_by_name` any bound one)."""
        return lifecycle.status(self.lifecycle_of(session), self.ids.peek_ms(), self.rules) == "active"

    def sandbox_status(self, session: Session) -> dict[str, object]:
        """``GET /api/sandbox/status``: the status by the world's rules, ``hasSnapshot``, the version and
        the lifecycle envelope, as of now."""
        lc, now = self.lifecycle_of(session), self.ids.peek_ms()
        return {"status": lifecycle.status(lc, now, self.rules), "hasSnapshot": lc.has_snapshot,
                "lifecycleVersion": lc.version, "lifecycle": lifecycle.envelope(lc, now)}

    def reconnect(self, session: Session) -> dict[str, object]:
        """``GET /api/sandbox/reconnect``: its answer, and what the world's rules make it write
        (`mockserver.state.lifecycle.reconnected`)."""
        session.lifecycle, answer = lifecycle.reconnected(self.lifecycle_of(session), self.ids.peek_ms(), self.rules)
        return answer

    def provisioning_wait_ms(self, session: Session) -> int:
        """How long ``POST /api/sandbox`` waits (in world milliseconds) before the session's sandbox is
        active: nothing for one that is active already."""
        return 0 if self.sandbox_live(session) else self.timers.provision_ms

    def provision(self, session: Session, waited_ms: int) -> Lifecycle:
        """``POST /api/sandbox`` after its wait: the world's clock moves on by the ``waited_ms`` the wait
        stood for, and the sandbox is active (provisioned, or resumed from its snapshot). A sandbox that
        became active meanwhile (another request's) is only touched, and the clock left alone."""
        if not self.sandbox_live(session):
            self.ids.advance(waited_ms)
        session.lifecycle = lifecycle.provisioned(session.lifecycle, self.ids.now_ms(), self.timers,
                                                  sandbox_name(session))
        session.updated_at = iso(self.ids.peek_ms())
        return session.lifecycle

    def record_activity(self, session: Session) -> None:
        """A streamed turn in the session: its sandbox's idle deadline moves on."""
        self.lifecycle_of(session)
        session.lifecycle = lifecycle.touched(session.lifecycle, self.ids.now_ms(), self.timers)

    def patch_session(self, session: Session, changes: Mapping[str, Any]) -> Session:
        """``PATCH /api/sessions/{id}``: the fields given, if any differs. Archiving stops the sandbox;
        unarchiving starts the lifecycle over (`mockserver.state.lifecycle.archived`, ``unarchived``),
        or is a 409 while a sandbox is still being stopped, under the world's rules (nothing written)."""
        # JSON Schema counts 3.0 as an integer: the line counts are stored as ints.
        given = {attr: int(changes[key]) if attr.startswith("lines") else changes[key]
                 for key, attr in SESSION_FIELDS.items() if key in changes}
        updates = {attr: value for attr, value in given.items() if getattr(session, attr) != value}
        if not updates:
            return session  # nothing to write: the session as it is
        self.lifecycle_of(session)
        status = updates.get("status")
        if status == "archived":
            session.lifecycle = lifecycle.archived(session.lifecycle, self.rules)
        elif session.status == "archived" and status is not None:
            if lifecycle.unarchive_conflict(session.lifecycle, self.rules):
                raise ApiError(409, f"Sandbox is still being paused: session {session.id} is archived but its "
                                    f"sandbox {session.lifecycle.sandbox} is {session.lifecycle.state or 'null'}, "
                                    f"not yet stopped; try again in a few seconds",
                               terse="Sandbox is still being paused, try again in a few seconds.")
            session.lifecycle = lifecycle.unarchived(session.lifecycle)
        for attr, value in updates.items():
            setattr(session, attr, value)
        session.updated_at = self.ids.now_iso()
        return session

    # ------------------------------------------------------------------ chats

    def add_chat(self, session: Session, title: str, *, chat_id: str | None = None,
                 scenario: str | None = None) -> Chat:
        now = self.ids.now_iso()
        chat = Chat(chat_id or self.ids.uuid(), session, title, self.model, now, now, scenario)
        self.chats[chat.id] = chat
        session.chat_count += 1
        return chat

    def chats_of(self, session: Session) -> list[Chat]:
        """The session's chats, oldest first."""
        return [c for c in self.chats.values() if c.session is session]

    def create_session_chat(self, session: Session, chat_id: str | None) -> Chat:
        """``POST /api/sessions/{id}/chats``: a ``New chat``; a client-chosen id that is already a chat of
        this session gives that chat (nothing written), one of another session is a 409."""
        if chat_id is not None and (existing := self.chat(chat_id)) is not None:
            if existing.session is session:
                return existing
            raise ApiError(409, f"Chat ID conflict: a chat with id {chat_id} exists in another session",
                           terse="Chat ID conflict")
        return self.add_chat(session, "New chat", chat_id=chat_id)

    def update_chat(self, chat: Chat, *, title: str | None = None, model_id: str | None = None) -> Chat:
        """Rename a chat and/or change its model (trimmed). ``updatedAt`` is left alone, as the
        deployed server does: a rename does not move a chat up the sidebar."""
        if title is not None:
            chat.title = title.strip()
        if model_id is not None:
            chat.model_id = model_id.strip()
        return chat

    def delete_chat(self, chat: Chat, *, keep_session: bool) -> None:
        """Delete a chat with its messages and read marks. A session keeps at least one chat: deleting
        its only one is a 400, unless the session was made for that chat and goes with it (a room's,
        a headless run's) and ``keep_session`` is false."""
        if chat.session.chat_count <= 1 and (keep_session or not chat.session.ephemeral):
            raise ApiError(400, f"Cannot delete the only chat in a session: chat {chat.id} is the only chat of "
                                f"session {chat.session.id}; create another one first",
                           terse="Cannot delete the only chat in a session")
        self.forget_chat(chat)

    def forget_chat(self, chat: Chat | Deferred) -> None:
        """Drop a chat, and its session if no other chat is left in it (a headless run's own)."""
        if isinstance(chat, Deferred):
            if self._deferred_chats.pop(chat.id, None) is not None:
                del self._deferred_sessions[chat.session_id]
        elif self.chats.pop(chat.id, None) is not None:
            chat.session.chat_count -= 1
            if chat.session.chat_count == 0:
                self.sessions.pop(chat.session.id, None)

    def mark_read(self, chat: Chat, account: Account) -> None:
        """``POST …/read``: the chat is read by ``account`` as of now (idempotent)."""
        chat.reads[account.id] = self.ids.now_iso()

    def sidebar(self, account: Account, artist_id: str | None) -> list[Chat]:
        """``GET /api/chats``: the account's chats that have messages, outside archived sessions (and of
        ``artist_id``'s sessions, if given), the most recently updated first."""
        rows = [c for c in self.all_chats()
                if c.account is account and c.messages and c.session.status != "archived"
                and (artist_id is None or c.session.artist_id == artist_id)]
        return sorted(rows, key=lambda c: (c.updated_at, c.created_at), reverse=True)

    # ------------------------------------------------------------------ streams and messages

    def claim_slot(self, chat: Chat | Deferred, run_id: str) -> bool:
        """Compare-and-set the chat's stream slot from empty to ``run_id``. No await: atomic."""
        if chat.active_stream_id is not None:
            return False
        chat.active_stream_id = run_id
        return True

    def release_slot(self, chat: Chat | Deferred, run_id: str) -> bool:
        """Clear the slot only if it still holds ``run_id``."""
        if chat.active_stream_id != run_id:
            return False
        chat.active_stream_id = None
        return True

    @property
    def messages_evicted(self) -> int:
        """How many of the chat turns' stored messages the memory budget evicted from this store."""
        return self.message_log.evicted if self.message_log is not None else 0

    def detach(self) -> None:
        """Give the messages' bytes back to the budget and charge it no more (the world is reset or dropped:
        a run of this store still settling stores its answer uncounted)."""
        if self.message_log is not None:
            self.message_log.detach()
        self.budget = None

    def add_message(self, chat: Chat | Deferred, message: dict[str, Any] | Callable[[], dict[str, Any]], *,
                    role: str = "user", row_id: str | None = None, at: str | None = None, chunks: int = 0,
                    counted: bool = True) -> None:
        """Store a message row. A run's task passes its own ``row_id`` and ``at``: drawing from the
        shared ids when a run happens to finish would make later ids depend on timing. The row counts
        against the memory budget (``chunks``: the run's, for its answer) unless not ``counted``: a
        headless run's chat is its own and goes with the run (a deferred one keeps the row's fields)."""
        now = at or self.ids.now_iso()
        row_id = row_id or self.ids.uuid()
        if isinstance(chat, Deferred):
            chat.rows.append((row_id, message, now, role))
            return
        row = MessageRow(row_id, chat.id, message, now, role)
        self._append(chat, row)
        if counted and self.budget is not None:
            if self.message_log is None:
                self.message_log = MessageLog(self.budget)
            self.message_log.keep(chat, row, text_length(message), chunks)

    @staticmethod
    def _append(chat: Chat, row: MessageRow) -> None:
        chat.messages.append(row)
        chat.updated_at = row.updated_at
        if row.role == "assistant":
            chat.last_assistant_message_at = row.updated_at

    def finished_at(self) -> str:
        """When a run stores its answer: now on the world's clock, just after anything already stamped
        (its own start, and a read mark made while it streamed, are older than the answer), read without
        moving the clock."""
        return iso(self.ids.peek_ms() + 1)

    def replace_messages(self, chat: Chat, rows: list[MessageRow]) -> None:
        """The chat's messages become ``rows`` (copied in, or cut short); its times follow them."""
        chat.messages = rows
        chat.updated_at = self.ids.now_iso()
        chat.last_assistant_message_at = max((m.updated_at for m in rows if m.role == "assistant"), default=None)

    def copy_row(self, row: MessageRow, chat: Chat) -> MessageRow:
        """``row`` as a new row of ``chat``: a new id, the same content and time."""
        return MessageRow(self.ids.uuid(), chat.id, copy.deepcopy(row.content), row.updated_at, row.role)


def sandbox_name(session: Session) -> str:
    """The sandbox of a session is named after it (a resume finds it again)."""
    return f"session-{session.id}"
