"""In-memory state: accounts, sessions, chats (with their stream slot) and messages.

Everything is built from the fixture `Blueprint` and rebuilt by a reset. Ids and timestamps come from
`Ids`, which is seeded: the same requests after a reset give the same ids and the same clock.
All mutation happens on the event loop thread, and the compare-and-set of a chat's stream slot
has no ``await`` inside it, so it is atomic with respect to concurrent requests.
"""

from __future__ import annotations

import functools
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .blueprint import Blueprint

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Crockford's digits -> the digits Python's int(x, 32) reads.
_CROCKFORD_TO_BASE32 = str.maketrans(_CROCKFORD, "0123456789abcdefghijklmnopqrstuv")
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: The logical clock starts here after every reset (2026-01-01T00:00:00Z).
EPOCH_MS = 1_767_225_600_000


class Ids:
    """Seeded ids and a logical clock (one millisecond per reading)."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._seed = seed
        self._clock_ms = EPOCH_MS

    def now_ms(self) -> int:
        self._clock_ms += 1
        return self._clock_ms

    def now_iso(self) -> str:
        return iso(self.now_ms())

    def uuid(self) -> str:
        return seeded_uuid(self._rng)

    def run_id(self) -> str:
        """``wrun_`` + a ULID: 48 bits of (logical) milliseconds, then 80 seeded random bits."""
        value = (self.now_ms() << 80) | self._rng.getrandbits(80)
        return "wrun_" + "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))

    def run_rng(self, run_id: str) -> random.Random:
        """An independent generator for one run (message id, jitter), from the seed and the run id.
        Seeded with an integer: a string seed would be hashed with SHA-512 on every run."""
        return random.Random((self._seed << 160) | zlib.crc32(run_id.encode()) << 128 | ulid_value(run_id))


def seeded_uuid(rng: random.Random) -> str:
    """A version-4 UUID from ``rng``; the same string ``uuid.UUID(int=..., version=4)`` gives, faster."""
    n = (rng.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{n:032x}"
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
    """A 16-character alphanumeric id, like the AI SDK's ``generateId()``."""
    return "".join(rng.choices(_ALNUM, k=16))


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


@dataclass(slots=True)
class Session:
    id: str
    account: Account
    title: str
    sandbox: dict[str, Any] | None
    created_at: str
    updated_at: str
    chat_count: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "userId": self.account.id, "title": self.title, "status": "running",
            "repoOwner": "recoupable", "repoName": self.account.id, "branch": "main",
            "cloneUrl": f"https://github.com/recoupable/{self.account.id}.git", "isNewBranch": False,
            "globalSkillRefs": [], "sandboxState": self.sandbox,
            "lifecycleState": "active" if self.sandbox else None, "lifecycleVersion": 1,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        }


class MessageRow:
    """A stored message. Its content may be a function, called on first read: a run's assistant
    message is assembled only if someone asks for it."""

    __slots__ = ("_content", "chat_id", "id", "updated_at")

    def __init__(self, row_id: str, chat_id: str, content: dict[str, Any] | Callable[[], dict[str, Any]],
                 updated_at: str) -> None:
        self.id, self.chat_id, self.updated_at = row_id, chat_id, updated_at
        self._content = content

    @property
    def content(self) -> dict[str, Any]:
        if callable(self._content):
            self._content = self._content()
        return self._content

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "room_id": self.chat_id, "content": self.content, "updated_at": self.updated_at}


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

    @property
    def account(self) -> Account:
        return self.session.account

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "sessionId": self.session.id, "title": self.title, "modelId": self.model_id,
            "activeStreamId": self.active_stream_id, "lastAssistantMessageAt": self.last_assistant_message_at,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
        }


class Store:
    """The live state of one world, built from the fixture blueprint."""

    def __init__(self, blueprint: Blueprint, seed: int) -> None:
        self.blueprint = blueprint
        self.ids = Ids(seed)
        self.accounts_by_key: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}
        self.chats: dict[str, Chat] = {}
        #: How many times each operation without a handler has been answered (`mockserver.api.generic`'s seeds).
        self.generated: dict[str, int] = {}
        accounts = {a.name: Account(a.name, a.id) for a in blueprint.accounts}
        for a in blueprint.accounts:
            self.accounts_by_key.update(dict.fromkeys(a.keys, accounts[a.name]))
        for s in blueprint.sessions:
            self.add_session(accounts[s.account], s.title, sandbox=s.sandbox, session_id=s.id)
        for c in blueprint.chats:
            self.add_chat(self.sessions[c.session], c.title, chat_id=c.id, scenario=c.scenario)

    def add_session(self, account: Account, title: str, *, sandbox: bool, session_id: str | None = None
                    ) -> Session:
        now = self.ids.now_iso()
        session_id = session_id or self.ids.uuid()
        session = Session(session_id, account, title, None, now, now)
        if sandbox:
            self.provision_sandbox(session)
        self.sessions[session.id] = session
        return session

    def provision_sandbox(self, session: Session) -> None:
        session.sandbox = {"sandboxName": f"sbx-{session.id[:8]}", "status": "ready"}
        session.updated_at = self.ids.now_iso()

    def add_chat(self, session: Session, title: str, *, chat_id: str | None = None,
                 scenario: str | None = None) -> Chat:
        now = self.ids.now_iso()
        chat = Chat(chat_id or self.ids.uuid(), session, title, self.blueprint.default_model, now, now, scenario)
        self.chats[chat.id] = chat
        session.chat_count += 1
        return chat

    def forget_chat(self, chat: Chat) -> None:
        """Drop a chat, and its session if no other chat is left in it (a headless run's own)."""
        if self.chats.pop(chat.id, None) is not None:
            chat.session.chat_count -= 1
            if chat.session.chat_count == 0:
                self.sessions.pop(chat.session.id, None)

    def claim_slot(self, chat: Chat, run_id: str) -> bool:
        """Compare-and-set the chat's stream slot from empty to ``run_id``. No await: atomic."""
        if chat.active_stream_id is not None:
            return False
        chat.active_stream_id = run_id
        return True

    def release_slot(self, chat: Chat, run_id: str) -> bool:
        """Clear the slot only if it still holds ``run_id``."""
        if chat.active_stream_id != run_id:
            return False
        chat.active_stream_id = None
        return True

    def add_message(self, chat: Chat, message: dict[str, Any] | Callable[[], dict[str, Any]], *,
                    role: str = "user", row_id: str | None = None, at: str | None = None) -> None:
        """Store a message row. A run's task passes its own ``row_id`` and ``at``: drawing from the
        shared ids when a run happens to finish would make later ids depend on timing."""
        now = at or self.ids.now_iso()
        row_id = row_id or self.ids.uuid()
        chat.messages.append(MessageRow(row_id, chat.id, message, now))
        chat.updated_at = now
        if role == "assistant":
            chat.last_assistant_message_at = now
