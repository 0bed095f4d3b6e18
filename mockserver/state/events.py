"""What the mock does, pushed as it happens to whoever watches (the inspector's ``GET /__mock/events``).

One `EventBus` per app. Publishing is a no-op while nobody watches, so the hot path pays one
attribute check. Each watcher has a bounded queue, so a stalled page can never grow the server's
memory: a watcher that falls behind loses its oldest events, the event that displaced one carries
``"overflow": true``, and the watcher reloads its state from the admin API. Imports nothing else
from the package.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

#: Events a watcher may fall behind by before the oldest are dropped.
QUEUE_SIZE = 2000

Event = dict[str, Any]
#: The last event of every stream: the server is shutting down.
BYE: Event = {"type": "bye"}


class EventBus:
    """Fan-out of events to any number of watchers, each with its own bounded queue."""

    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[Event]] = set()
        self.closed = False
        #: Whether anyone watches: a plain attribute, read on every request (kept by `watch`).
        self.watched = False

    def publish(self, event: Event) -> None:
        """Hand ``event`` to every watcher (never blocks; a full queue drops its oldest event)."""
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                # A copy for this watcher only: the others get the event as published.
                queue.put_nowait({**event, "overflow": True})
            else:
                queue.put_nowait(event)

    def close(self) -> None:
        """The server is shutting down: every watcher gets `BYE` (its stream ends), and so does any
        watcher that comes later."""
        self.closed = True
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(BYE)

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue of the events published from now on, for as long as the block lasts."""
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        if self.closed:
            queue.put_nowait(BYE)
        self._queues.add(queue)
        self.watched = True
        try:
            yield queue
        finally:
            self._queues.discard(queue)
            self.watched = bool(self._queues)
