"""The chat messages a world's turns store, as the memory budget counts them.

A chat turn (``POST /api/chat``, ``/api/chat/workflow``) stores the user's message and, when its run ends,
the assistant's: chat history that a long session would otherwise grow without bound, one chat at a time.
Each such row is charged to the process's memory budget (`mockserver.state.budget.message_cost`) and
kept in this log, oldest first; when the budget presses, the world sheds its oldest rows along with its
oldest finished runs and journal entries (`World.shed`), and the chat reads on without them. A headless
run's rows are not here: its own session and chat go with the run (`HEADLESS_COST`).

The log holds each row until the row is evicted, even one the API has since removed (a deleted chat, a
history cut short): the memory is not free before then, so the estimate stays true to it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .budget import Budget, Charged, message_cost

if TYPE_CHECKING:
    from .store import Chat, MessageRow


class MessageLog(Charged):
    """A world's stored chat-turn messages, oldest first, charged to ``budget``."""

    def __init__(self, budget: Budget) -> None:
        self.budget: Budget | None = budget
        #: (the loop's time when stored, the row, its chat, its estimated bytes), oldest first.
        self._rows: deque[tuple[float, MessageRow, Chat, int]] = deque()
        #: The estimated bytes of the rows kept (what was charged to the budget for them).
        self.kept_bytes = 0
        #: How many rows the budget evicted.
        self.evicted = 0

    def keep(self, chat: Chat, row: MessageRow, text: int, chunks: int) -> None:
        """Count ``row``, just stored in ``chat``: a user's message of ``text`` characters of text, or a
        run's answer of ``chunks`` chunks."""
        cost = message_cost(text, chunks)
        self._rows.append((asyncio.get_running_loop().time(), row, chat, cost))
        self.kept_bytes += cost
        if self.budget is not None:
            self.budget.charge(cost)  # after the append: an eviction it sets off may take this row too

    def __iter__(self) -> Iterator[tuple[MessageRow, Chat, int]]:
        """Each row kept, oldest first, with its chat and its estimated bytes."""
        return ((row, chat, cost) for _, row, chat, cost in self._rows)

    def oldest_time(self) -> float | None:
        """When the oldest row kept was stored (the loop's clock), if any. A live run needs none of its
        chat's stored rows (its answer is stored when it ends), so any row may go."""
        return self._rows[0][0] if self._rows else None

    def evict_oldest(self) -> None:
        """Evict the oldest row (there is one: see `oldest_time`): out of its chat's history, if still there."""
        _, row, chat, cost = self._rows.popleft()
        messages = chat.messages
        if messages and messages[0] is row:
            del messages[0]
        elif row in messages:  # identity first, then equality: rows compare by identity
            messages.remove(row)
        self.kept_bytes -= cost
        self.evicted += 1
        if self.budget is not None:
            self.budget.credit(cost)
            self.budget.messages_evicted += 1
