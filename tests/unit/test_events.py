"""The inspector's event bus: fan-out to every watcher, each with its own bounded queue."""

from __future__ import annotations

import asyncio
import contextlib

from mockserver.state.events import QUEUE_SIZE, Event, EventBus


def _drain(queue: asyncio.Queue[Event]) -> list[Event]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


def test_only_the_watcher_that_fell_behind_is_told_it_overflowed() -> None:
    """Each watcher in turn falls behind while the others keep up: the bus meets the stalled one
    before some of the others and after some, whatever order it keeps them in."""

    async def scenario() -> list[tuple[int, list[Event], list[list[Event]]]]:
        bus = EventBus()
        seen = []
        async with contextlib.AsyncExitStack() as stack:
            queues = [await stack.enter_async_context(bus.watch()) for _ in range(4)]
            for k, stalled in enumerate(queues):
                keeping_up = [q for q in queues if q is not stalled]
                for n in range(QUEUE_SIZE):
                    bus.publish({"type": "n", "n": n})
                for queue in keeping_up:
                    _drain(queue)
                bus.publish({"type": "n", "n": QUEUE_SIZE})  # only `stalled` is full now
                seen.append((k, _drain(stalled), [_drain(q) for q in keeping_up]))
        return seen

    for k, stalled, keeping_up in asyncio.run(scenario()):
        assert keeping_up == [[{"type": "n", "n": QUEUE_SIZE}]] * 3, f"watcher {k} stalled"
        # The stalled watcher lost its oldest event, and the one that displaced it says so.
        assert len(stalled) == QUEUE_SIZE
        assert stalled[0] == {"type": "n", "n": 1}
        assert stalled[-1] == {"type": "n", "n": QUEUE_SIZE, "overflow": True}
        assert not any(e.get("overflow") for e in stalled[:-1])
