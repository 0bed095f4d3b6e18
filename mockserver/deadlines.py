"""Deadlines for many short waits, kept by one timer per event loop instead of one per wait.

Reading a request body almost never waits (uvicorn has the whole body before the app runs), yet it
must not wait for ever on a client that stalls. ``asyncio.timeout`` per read costs a timer, its
object and its cancellation on every request, more than the read itself. Here a read registers
its task and deadline in a dict; one timer (`Earliest`), set for the earliest deadline still registered, cancels
the tasks whose time is up and marks them so the read can tell its own timeout from any other
cancellation (`expired`). Imports nothing else from the package.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable

#: A deadline this close is due: the loop's timers fire up to about a millisecond early.
_EARLY_S = 0.001


class Earliest:
    """One loop timer, kept set for the earliest of the times asked of it (`ask`), calling ``callback``
    then: what many waits or wake-ups share instead of a timer each (`Deadlines`; the runs' alarms,
    `mockserver.streams.engine.Alarms`; a run read while it plays). The callback asks again for what
    is still to come.

    It compares with the time it asked for, not with its timer's `TimerHandle.when`, which uvloop
    rounds up to the millisecond: compared with that, every time asked within the same millisecond
    looked earlier and re-made the timer."""

    __slots__ = ("_callback", "_loop", "_timer", "when")

    def __init__(self, callback: Callable[[], None], loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._callback = callback
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None
        #: The time the timer is set for (None: not set).
        self.when: float | None = None

    def ask(self, when: float) -> None:
        """Fire at ``when`` at the latest (on the loop's clock)."""
        if self.when is not None and self.when <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self.when = when
        self._timer = (self._loop or asyncio.get_running_loop()).call_at(when, self._fired)

    def cancel(self) -> None:
        """Fire at none of the times asked so far."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.when = None

    def _fired(self) -> None:
        self._timer = self.when = None
        self._callback()


class Deadlines:
    """The registered waits of one event loop (`of`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waits: dict[asyncio.Task[object], float] = {}
        self._late: set[asyncio.Task[object]] = set()
        self._timer = Earliest(self._check, loop)

    def start(self, task: asyncio.Task[object], seconds: float) -> None:
        """``task`` must be done with its wait within ``seconds``, or be cancelled."""
        deadline = self._loop.time() + seconds
        self._waits[task] = deadline
        self._timer.ask(deadline)

    def finish(self, task: asyncio.Task[object]) -> bool:
        """``task``'s wait is over; True when it ran out of time (its cancellation was ours)."""
        self._waits.pop(task, None)
        if self._late and task in self._late:
            self._late.discard(task)
            return True
        return False

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether ``task`` was cancelled because its time was up (its wait not yet finished)."""
        return task in self._late

    def _check(self) -> None:
        now = self._loop.time() + _EARLY_S
        for task, deadline in list(self._waits.items()):
            if deadline <= now:
                del self._waits[task]
                self._late.add(task)
                task.cancel()
        if self._waits:
            self._timer.ask(min(self._waits.values()))


_OF_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Deadlines] = weakref.WeakKeyDictionary()
#: The loop asked for last and its deadlines (a process serves from one loop: no dictionary lookup then).
_last: tuple[weakref.ReferenceType[asyncio.AbstractEventLoop], Deadlines] | None = None


def of(loop: asyncio.AbstractEventLoop) -> Deadlines:
    """The deadlines of ``loop`` (made on first use, gone with the loop)."""
    global _last
    last = _last
    if last is not None and last[0]() is loop:
        return last[1]
    found = _OF_LOOP.get(loop)
    if found is None:
        found = _OF_LOOP[loop] = Deadlines(loop)
    _last = (weakref.ref(loop), found)
    return found
