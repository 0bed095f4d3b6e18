"""A headless run's own session and chat, drawn but not built until something reads them.

``POST /api/chat/runs`` makes a session and a chat for each run, and stores the run's messages in it. Most
of them are never read: a CI job polls the run's status, and the run is forgotten a thousand runs later
with its session and chat. Building them (a `Session` with its sandbox lifecycle, a `Chat`, a message row
for the prompt and one for the answer) was a third of such a request's time (issue 22:
`bench/results/profiles/ablation.md`), so `Store.defer_headless` draws their ids and stamps from the
world, in the order building them would, and keeps only this record; `Store.chat` and `Store.session`
build the real objects the first time either is looked up, exactly as they would have been made. The run
holds its chat's stream slot and stores its answer here meanwhile (`RunManager` finds a chat with
`Store.holder`, which builds nothing).

Imports nothing else from the package (but for the types).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Account


class Deferred:
    """What `Store.defer_headless` drew for one headless run's session and chat: their ids, the account,
    the clock's readings that would have stamped them, the stream slot and the messages stored so far
    (row id, content or the function that makes it, time, role)."""

    __slots__ = ("account", "active_stream_id", "chat_ms", "id", "provisioned_ms", "rows", "session_id",
                 "session_ms", "title")

    def __init__(self, account: Account, title: str, session_id: str, session_ms: int, provisioned_ms: int,
                 chat_id: str, chat_ms: int) -> None:
        self.account = account
        self.title = title
        self.session_id = session_id
        self.session_ms = session_ms
        self.provisioned_ms = provisioned_ms
        #: The chat's id (what a run knows its chat by, as it knows a built one's).
        self.id = chat_id
        self.chat_ms = chat_ms
        self.active_stream_id: str | None = None
        self.rows: list[tuple[str, Any, str, str]] = []
