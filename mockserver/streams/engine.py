"""Durable runs: a scenario played on a timer of the event loop, its chunks kept for any number of readers.

A `Run` lives in the server, not in a connection: it plays until the script ends or the run is
cancelled, whoever is (or is not) reading. Readers `follow` a run from any chunk index and then live
until it closes; the connection that started a run also gets the scenario's transport faults (raw
bytes, a dropped connection), which are not part of the durable log, so a resume replays clean
chunks. Timing is scheduled against absolute due times, so lateness does not accumulate, and chunks
that are due together are written in one send.

A paced run is driven by one timer on the event loop, not by a task of sleeps (`begin`): while no
reader waits on it and nobody watches the inspector, the timer is set for the run's end only, and
whoever looks at the run in between (a resume, the inspector's listing, a stop) first applies what
is due by then (`Run.catch_up`). So thousands of headless runs nobody reads cost one timer each,
and a reader still gets each chunk at its due time: while one waits, the timer fires per due time.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import heapq
import itertools
import operator
import random
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from ..deadlines import Earliest
from ..types import RunOutcome, RunStatus
from . import sse
from .scenarios import MESSAGE_ID_PLACEHOLDER, STRUCTURAL, Item, Scenario

#: How early a due item may be applied: the loop's timers fire up to about a millisecond early
#: (uvloop keeps time in milliseconds), and a tick that applied nothing would only be set again.
_EARLY_S = 0.001
_PLACEHOLDER_JSON = sse.encode_json(MESSAGE_ID_PLACEHOLDER).encode()
OPENERS = frozenset({"start-step", "text-start", "reasoning-start", "tool-input-start"})


class DropConnection(Exception):
    """Raised inside a live stream to cut the connection (no ``[DONE]``, no final chunk)."""


class Script:
    """A stream scenario compiled once at load: its items and each chunk's frame, pre-encoded."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.items = scenario.items
        self.frames = tuple(sse.encode_chunk(i.chunk) if i.chunk is not None else b"" for i in self.items)
        #: Every item is a chunk (no transport fault, no stall): `fill` can copy them in one go.
        self.chunks_only = all(i.kind == "chunk" and i.chunk is not None for i in self.items)
        self.chunks = tuple(i.chunk for i in self.items if i.chunk is not None)
        self.timetable = Timetable(scenario)

    def first(self, message_id: str) -> tuple[Mapping[str, Any], bytes] | None:
        """The ``start`` chunk with this run's message id, or None when the script sets its own."""
        first = self.items[0].chunk if self.items else None
        if first is None or first.get("messageId") != MESSAGE_ID_PLACEHOLDER:
            return None
        chunk = {**first, "messageId": message_id}
        # The placeholder appears once, as a JSON string: swapping in the id's JSON is exact. The
        # mock's own ids are alphanumeric, which JSON writes as they are; a client's (kept when it
        # continues its assistant message) may need escaping.
        quoted = f'"{message_id}"' if message_id.isalnum() and message_id.isascii() else sse.encode_json(message_id)
        return chunk, self.frames[0].replace(_PLACEHOLDER_JSON, quoted.encode(), 1)


class Run:
    """One durable run: its status, its chunk log and the readers' wake-up signal."""

    # Slots: a world keeps up to `max_finished_runs` runs and the mock many worlds; without a
    # __dict__ each kept run is one object fewer for the cyclic collector to scan.
    __slots__ = ("_alarm", "_alarms", "_base", "_clock", "_due", "_next", "_on_close", "_silences", "_timer",
                 "_waiting", "_wakeup", "account_id",
                 "chat_id", "chunks", "closed", "eager", "finished_at", "frames", "headless", "id", "listener",
                 "live_items", "message_id", "pinned", "readers", "row_id", "scenario", "script", "started_at",
                 "status", "times")

    def __init__(self, run_id: str, script: Script, message_id: str, *, chat_id: str | None,
                 account_id: str, row_id: str) -> None:
        self.id = run_id
        self.script = script
        self.scenario = script.scenario
        self.message_id = message_id
        self.chat_id = chat_id
        self.account_id = account_id
        #: The id of the message row its answer is stored as (drawn when it started: see `RunManager.start`).
        self.row_id = row_id
        self.status: RunStatus = "running"
        self.chunks: list[Mapping[str, Any]] = []
        self.frames: list[bytes] = []
        #: Transport items for the live connection, keyed by the chunk index they come before.
        self.live_items: dict[int, list[Item]] = {}
        self.closed = False
        self.pinned = False
        #: Started by POST /api/chat/runs: its session and chat are its own, forgotten with it.
        self.headless = False
        #: Stream responses reading this run right now.
        self.readers = 0
        self.finished_at: float | None = None
        #: While playing (`begin`): each script item's due time, the next item to apply, the one timer,
        #: what to call once closed, and the stalls' silent windows; times in seconds after ``_base`` on
        #: the loop's clock, so that counting the schedule from the loop's next turn (`_rebase`) moves one
        #: number, not a copy of them all. (An array of doubles, not a list of float objects: a finished
        #: run keeps it, and a world keeps many finished runs.)
        self._due: array[float] | None = None
        self._base = 0.0
        self._next = 0
        #: Its own timer, while a reader waits or a watcher wants each chunk (`_arm`).
        self._timer: Earliest | None = None
        #: While nobody waits on it: when its wake-up among its manager's `Alarms` is set for (its end).
        self._alarm: float | None = None
        self._alarms: Alarms | None = None
        self._on_close: Callable[[Run], None] | None = None
        self._silences: tuple[tuple[float, float], ...] = ()
        #: ``time.monotonic() - loop.time()``: chunk times are kept on the monotonic clock.
        self._clock = 0.0
        #: Whether something watches every chunk as it comes (the inspector): then the timer fires
        #: at each due time even when no reader waits.
        self.eager: Callable[[], bool] = _never
        #: When the run began and when each chunk was appended (``time.monotonic()``), for the inspector.
        self.started_at = time.monotonic()
        self.times = array("d")
        #: Told of each appended chunk (its index) and of the close (None): the inspector's events.
        self.listener: Callable[[Run, int | None], None] | None = None
        #: Made when a reader first waits: most runs are over before anyone does (speed 0), and a kept
        #: run should hold as few objects as it can (the collector scans every kept one).
        self._wakeup: asyncio.Event | None = None
        self._waiting = 0

    @property
    def tail_index(self) -> int:
        return max(len(self.frames) - 1, 0)

    @property
    def playing(self) -> bool:
        """Whether the run is being played on its timer (paced, not yet closed)."""
        return self._due is not None and not self.closed

    @property
    def silent(self) -> bool:
        """Inside a ``stall`` step: no heartbeats either."""
        if not self._silences or self.closed:
            return False
        now = asyncio.get_running_loop().time() - self._base  # the windows count from `_base`, as `_due` does
        return any(start <= now < end for start, end in self._silences)

    def append(self, chunk: Mapping[str, Any], frame: bytes | None = None, at: float | None = None) -> None:
        """Add a chunk to the log (``at``: when it was due, on the monotonic clock; default now)."""
        self.chunks.append(chunk)
        self.frames.append(frame if frame is not None else sse.encode_chunk(chunk))
        self.times.append(time.monotonic() if at is None else at)
        self.wake()
        if self.listener is not None:
            self.listener(self, len(self.chunks) - 1)

    def due_times(self) -> list[float]:
        """When each script item is (or was) due, on the loop's clock, for a paced run; empty for a run
        played at once."""
        due = self._due
        return [] if due is None else [at + self._base for at in due]

    def catch_up(self) -> None:
        """Apply every script item due by now: whoever reads the run's log calls this first, since
        the timer of a run nobody waits on fires only at its end."""
        due = self._due
        if due is None or self.closed or self._next >= len(due):
            return
        base = self._base
        limit = asyncio.get_running_loop().time() + _EARLY_S - base
        start = self._next
        end = bisect.bisect_right(due, limit, start)  # due times never decrease
        if end > start:
            self._next = end
            clock = self._clock + base
            _apply(self, start, end, [due[i] + clock for i in range(start, end)])

    def close(self, status: RunOutcome) -> None:
        if self.closed:
            return
        self.status = status
        self.closed = True
        self.finished_at = asyncio.get_running_loop().time()
        self.wake()
        if self.listener is not None:
            self.listener(self, None)

    def summary(self) -> dict[str, Any]:
        """The run as the inspector lists it."""
        self.catch_up()
        return {"runId": self.id, "chatId": self.chat_id, "scenario": self.scenario.name, "status": self.status,
                "chunks": len(self.chunks), "readers": self.readers, "headless": self.headless,
                "pinned": self.pinned, "live": not self.closed}

    def timed_chunks(self) -> list[dict[str, Any]]:
        """Each chunk with the milliseconds after the run began when it was produced (was due)."""
        self.catch_up()
        return [{"index": i, "atMs": round((at - self.started_at) * 1000, 1), "chunk": chunk}
                for i, (at, chunk) in enumerate(zip(self.times, self.chunks, strict=True))]

    def wake(self) -> None:
        """Wake the readers waiting on this run (a chunk, a transport item, the close)."""
        if self._waiting and self._wakeup is not None:  # nobody waiting (the common case at speed 0)
            self._wakeup.set()
            self._wakeup = None

    async def wait(self, index: int, patience: float) -> bool:
        """Wait until chunk ``index`` exists or the run closes; False after ``patience`` seconds."""
        if index < len(self.frames) or self.closed:
            return True
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        wakeup = self._wakeup
        self._waiting += 1
        _arm(self)  # a reader waits now: the timer must fire at the next due time, not at the end
        try:
            async with asyncio.timeout(patience):  # unlike wait_for, no task per wait
                await wakeup.wait()
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1
        return True

    def open_tool_calls(self) -> list[tuple[str, str, bool]]:
        """(toolCallId, toolName, input complete) for every tool call without an output yet."""
        calls: dict[str, tuple[str, bool]] = {}
        self.catch_up()
        for chunk in self.chunks:
            kind, call = chunk.get("type"), str(chunk.get("toolCallId"))
            if kind in {"tool-input-start", "tool-input-available"}:
                calls[call] = (str(chunk.get("toolName")), kind == "tool-input-available")
            elif kind in {"tool-input-error", "tool-output-available", "tool-output-error", "tool-output-denied"}:
                calls.pop(call, None)
        return [(call, name, done) for call, (name, done) in calls.items()]


class Timetable:
    """A scenario's schedule compiled once (`Script.timetable`): which items share each due time and
    the delay before it, so that a run only draws its jitter and adds up (`due`).

    The first chunk (``start``) is due at once, the first content chunk after ``first_chunk_ms``,
    later ones ``chunk_delay_ms`` apart. Openers (``start-step``, ``text-start``...) are due with
    the content chunk that follows them and closers with the one before, so they share its send.
    A step's ``delay_ms`` overrides all of that for its first item, the very first one included
    (a recording's time to first byte: `mockserver.proxy.recorder`).
    """

    __slots__ = ("_floor_free", "_owner", "_pick", "delays", "jitter", "size", "stalls")

    def __init__(self, scenario: Scenario) -> None:
        timing = scenario.timing
        self.size = len(scenario.items)
        self.jitter = float(timing.jitter_ms or 0)
        #: (delay in ms before them, the items due then), in order; a step without a delay joins the
        #: one before it, whose time it shares.
        steps: list[tuple[float, list[int]]] = []
        pending: list[int] = []
        seen_content = False
        for index, item in enumerate(scenario.items):
            kind = item.chunk.get("type") if item.chunk is not None else None
            if index == 0 and item.delay_ms is None:
                continue
            if kind in OPENERS and item.delay_ms is None:
                pending.append(index)
                continue
            if item.kind == "stall":
                delay = 0.0  # the stall's own length is waited by the player (`begin`)
            elif item.delay_ms is not None:
                delay = float(item.delay_ms)
            elif kind in STRUCTURAL:
                delay = 0.0
            else:
                delay = float(timing.chunk_delay_ms if seen_content else timing.first_chunk_ms)
                seen_content = True
            if delay:
                steps.append((delay, [*pending, index]))
            elif steps:  # no delay of its own: due with the step before it
                steps[-1][1].extend((*pending, index))
            pending = []  # (or, before any delay, due at once)
        #: Each step's delay before it, and for each item the step whose time it is due at (0: at once,
        #: k: after the k-th step's delay; trailing openers take the last step's).
        self.delays = tuple(delay for delay, _ in steps)
        #: No delay can be jittered below 0 (each is at least the jitter): `due` needs no clamp, and
        #: leaving it out gives the same values (max(0.0, x) is x) for half the work.
        self._floor_free = all(delay >= self.jitter for delay in self.delays)
        owner = [0] * self.size
        for number, (_, indices) in enumerate(steps, start=1):
            for index in indices:
                owner[index] = number
        for index in pending:
            owner[index] = len(steps)
        self._pick = operator.itemgetter(*owner) if self.size > 1 else None
        self._owner = tuple(owner)
        #: (index, ms) of each ``stall`` item.
        self.stalls = tuple((index, float(item.delay_ms or 0)) for index, item in enumerate(scenario.items)
                            if item.kind == "stall")

    def due(self, rng: random.Random, speed: float) -> list[float]:
        """Seconds after the run's start at which each item is due: seeded jitter (each delay draws
        ``rng.uniform(-jitter, jitter)``, in the delays' order), scaled by ``speed``."""
        jitter = self.jitter
        if jitter:
            low, span = -jitter, jitter - -jitter  # rng.uniform(low, high) is low + (high - low) * random()
            rand = rng.random
            if self._floor_free:
                scaled = [(delay + (low + span * rand())) * speed / 1000 for delay in self.delays]
            else:
                scaled = [max(0.0, delay + (low + span * rand())) * speed / 1000 for delay in self.delays]
        else:
            scaled = [delay * speed / 1000 for delay in self.delays]
        clocks = [0.0, *itertools.accumulate(scaled)]  # each step's time: the sum of the delays so far
        if self._pick is None:
            return [clocks[k] for k in self._owner]
        return list(self._pick(clocks))

    def stall_s(self, speed: float) -> bool:
        """Whether any stall waits at ``speed``."""
        return any(ms * speed / 1000 for _, ms in self.stalls)


def schedule(scenario: Scenario, rng: random.Random, speed: float) -> list[float]:
    """Seconds after the run's start at which each item of ``scenario`` is due (`Timetable.due`)."""
    return Timetable(scenario).due(rng, speed)


def _never() -> bool:
    return False


def _advance(run: Run, index: int, at: float | None = None) -> None:
    """Apply script item ``index`` to the run: a chunk joins the log, a transport item is filed."""
    item = run.script.items[index]
    if item.kind == "chunk" and item.chunk is not None:
        run.append(item.chunk, run.script.frames[index], at)
    elif item.kind != "stall":
        run.live_items.setdefault(len(run.chunks), []).append(item)
        run.wake()  # the live reader waits for the next chunk: it must drop (or get the raw bytes) now


def plan(run: Run, speed: float, rng: random.Random) -> list[float] | None:
    """The run's due times, or None when nothing in it waits (``--speed 0``): then `fill` plays it
    at once, with no task and no sleeps, and a reader gets the whole stream in one write."""
    if speed == 0:
        return None
    timetable = run.script.timetable
    due = timetable.due(rng, speed)
    if any(due) or timetable.stall_s(speed):
        return due
    return None


def fill(run: Run) -> None:
    """Apply every script item not yet applied, at once."""
    start, end = (1 if run.chunks else 0), len(run.script.items)
    if end > start:
        _apply(run, start, end, [time.monotonic()] * (end - start))


def _apply(run: Run, start: int, end: int, times: list[float]) -> None:
    """Apply script items ``start`` to ``end`` (each appended at its time in ``times``): in one copy
    when they are all chunks and nobody watches each one come (the listener tells only watchers)."""
    script = run.script
    if script.chunks_only and start == len(run.chunks) and not (run.listener is not None and run.eager()):
        run.chunks.extend(script.chunks[start:end])
        run.frames.extend(script.frames[start:end])
        run.times.extend(times)
        run.wake()
        return
    for index, at in zip(range(start, end), times, strict=True):
        _advance(run, index, at)


def begin(run: Run, due: list[float], speed: float, on_close: Callable[[Run], None],
          alarms: Alarms | None = None) -> None:
    """Play ``run`` on the loop: each item at its due time (seconds after now, from `schedule`), a
    stall's silence shifting everything after it; then close it and call ``on_close``. One timer
    drives it (see the module's docstring): its own while a reader waits, else a wake-up among
    ``alarms`` (those of its `RunManager`; its own if none); `stop` ends it early."""
    loop = asyncio.get_running_loop()
    origin = loop.time()
    run._clock = time.monotonic() - origin
    silences: list[tuple[float, float]] = []
    relative = due
    shift = 0.0
    for index, ms in run.script.timetable.stalls:  # a stall's silence shifts everything from it on
        stall = ms * speed / 1000
        if not stall:
            continue
        at = due[index] + shift
        silences.append((at, at + stall))
        shift += stall
        if relative is due:
            relative = list(due)  # a copy only for a run whose stall waits
        for later in range(index, len(relative)):
            relative[later] = due[later] + shift
    run._due = array("d", relative)
    run._base = origin
    run._next = 1 if run.chunks else 0  # the `start` chunk, when the script has a placeholder one
    run._silences = tuple(silences)
    run._on_close = on_close
    run._alarms = alarms if alarms is not None else Alarms()
    # The clock starts when the loop next turns, as a task's first step would: under a burst of
    # requests the response that carries the first chunk goes out after the others are handled, and
    # a schedule counted from inside the handler would make every stream's later chunks look late.
    loop.call_soon(_rebase, run, origin)


def _rebase(run: Run, origin: float) -> None:
    """Count the run's schedule from now instead of from ``origin`` (see `begin`), then set its timer."""
    if run._due is None or run.closed:
        return
    now = asyncio.get_running_loop().time()
    if now > origin and run._next <= 1:
        run._base = now
    _arm(run)


def _arm(run: Run) -> None:
    """Set the run's timer for its next due item when a reader waits or a watcher wants each chunk,
    else its wake-up among its `Alarms` for its last (nobody would see the ones between until they
    look: `Run.catch_up`)."""
    due = run._due
    if due is None or run.closed:
        return
    if run._waiting > 0 or run.eager():
        if run._timer is None:  # made for a run that is read while it plays; most never are
            run._timer = Earliest(functools.partial(_tick, run))
        run._timer.ask(due[min(run._next, len(due) - 1)] + run._base)
        return
    when = due[-1] + run._base
    own = run._timer.when if run._timer is not None else None
    if (own is not None and own <= when) or (run._alarm is not None and run._alarm <= when):
        return  # something wakes it soon enough
    assert run._alarms is not None  # set by `begin`, before any arming
    run._alarms.set(run, when)


def _tick(run: Run) -> None:
    """The run's timer or alarm: apply what is due; close the run after its last item, else arm it again."""
    run.catch_up()
    due = run._due
    if due is None or run.closed:
        return
    if run._next >= len(due):
        run.close(run.scenario.outcome)
        _closed(run)
    else:
        _arm(run)


class Alarms:
    """The wake-ups of many runs nobody waits on (each at its end), kept by one loop timer
    (`mockserver.deadlines.Earliest`): a heap of (when, order, run), the timer set for the earliest.
    A timer of uvloop's costs more than the rest of a run's start together; a heap push costs little,
    and runs that end in the same millisecond share one firing. A run moved or stopped since keeps its
    old entry, which is passed over (its `Run._alarm` no longer matches)."""

    __slots__ = ("_heap", "_order", "_timer")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Run]] = []
        self._order = 0
        self._timer = Earliest(self._fire)

    def set(self, run: Run, when: float) -> None:
        """Wake ``run`` (`_tick`) at ``when`` on the loop's clock, instead of any wake-up it had here."""
        self._order += 1
        run._alarm = when
        heapq.heappush(self._heap, (when, self._order, run))
        self._timer.ask(when)

    def _fire(self) -> None:
        heap = self._heap
        limit = asyncio.get_running_loop().time() + _EARLY_S
        while heap and heap[0][0] <= limit:
            when, _, run = heapq.heappop(heap)
            if run._alarm == when:  # still this run's wake-up
                run._alarm = None
                _tick(run)
        if heap:
            self._timer.ask(heap[0][0])


def _closed(run: Run) -> None:
    on_close, run._on_close = run._on_close, None
    if on_close is not None:
        on_close(run)


def stop(run: Run) -> bool:
    """End a playing run now: what was due by now is applied, then it is cut short (`cut_short`)
    and its ``on_close`` called. False when it was not playing."""
    if not run.playing:
        return False
    if run._timer is not None:
        run._timer.cancel()
    run._alarm = None  # its entry among the alarms is passed over
    run.catch_up()
    cut_short(run)
    _closed(run)
    return True


def cut_short(run: Run) -> None:
    """Close a cancelled run: like the deployed watcher, settle every open tool call, then end the
    stream as ``cancelled`` (`stop`)."""
    for call_id, name, input_done in run.open_tool_calls():
        if not input_done:
            run.append({"type": "tool-input-available", "toolCallId": call_id, "toolName": name, "input": {}})
        run.append({"type": "tool-output-error", "toolCallId": call_id, "errorText": "Cancelled"})
    run.close("cancelled")


def replay_now(run: Run, start: int, *, live: bool = False) -> bytes | None:
    """The whole stream from ``start`` at once, when the run is over and this reader would get no
    transport fault: one write, with no waiting and no disconnect watch. None otherwise."""
    if not run.closed or (live and run.live_items):
        return None
    return b"".join(run.frames[start:]) + sse.DONE_FRAME


async def follow(run: Run, start: int, *, keepalive: float, live: bool = False,
                 write_sizes: tuple[int, ...] = (), on_abandon: Callable[[Run], None] | None = None
                 ) -> AsyncIterator[bytes]:
    """The bytes a reader gets: chunks from ``start``, live until the run closes, then ``[DONE]``.

    ``live`` marks the connection that started the run: it also gets the transport faults.
    ``on_abandon`` is called when the reader goes away (or the connection drops) while the run is
    still going: the deployed server cancels the run then.
    """
    run.readers += 1
    finished = False
    try:
        async for piece in _follow(run, start, keepalive, live, write_sizes):
            yield piece
        finished = True
    finally:
        run.readers -= 1
        if not finished and on_abandon is not None and not run.closed:
            on_abandon(run)


async def _follow(run: Run, index: int, keepalive: float, live: bool, write_sizes: tuple[int, ...]
                  ) -> AsyncIterator[bytes]:
    offset = 0  # position in the write-size cycle, carried across frames

    def cut(data: bytes) -> Iterable[bytes]:
        nonlocal offset
        if not write_sizes:
            return (data,)
        pieces = sse.split_writes(data, write_sizes, offset)
        offset += len(pieces)
        return pieces

    # Transport items already written at ``faults_at`` (more may be filed there while the reader waits).
    faults_at, faults_done = -1, 0
    while True:
        run.catch_up()
        if live and index in run.live_items:
            if faults_at != index:
                faults_at, faults_done = index, 0
            pending = run.live_items[index][faults_done:]
            faults_done += len(pending)
            for item in pending:
                if item.kind == "disconnect":
                    raise DropConnection(run.id)
                for piece in cut(item.raw):
                    yield piece
        available = len(run.frames)
        if index < available:
            end = min([available, *[k for k in run.live_items if k > index]]) if live else available
            data = b"".join(run.frames[index:end])
            index = end
            if run.closed and index == len(run.frames) and not (live and index in run.live_items):
                for piece in cut(data + sse.DONE_FRAME):  # the end of a finished run: one write
                    yield piece
                return
            for piece in cut(data):
                yield piece
            continue
        if run.closed:
            break
        if not await run.wait(index, keepalive) and not run.silent:
            yield sse.KEEPALIVE_FRAME
    for piece in cut(sse.DONE_FRAME):
        yield piece
