"""Durable runs: a scenario played on its own task, its chunks kept for any number of readers.

A `Run` lives in the server, not in a connection: the task that paces its chunks runs until the
script ends or the run is cancelled, whoever is (or is not) reading. Readers `follow` a run from
any chunk index and then live until it closes; the connection that started a run also gets the
scenario's transport faults (raw bytes, a dropped connection), which are not part of the durable
log, so a resume replays clean chunks. Timing is scheduled against absolute due times, so
lateness does not accumulate, and chunks that are due together are written in one send.
"""

from __future__ import annotations

import asyncio
import random
import time
from array import array
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from ..types import RunOutcome, RunStatus
from . import sse
from .scenarios import MESSAGE_ID_PLACEHOLDER, STRUCTURAL, Item, Scenario

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

    def first(self, message_id: str) -> tuple[Mapping[str, Any], bytes] | None:
        """The ``start`` chunk with this run's message id, or None when the script sets its own."""
        first = self.items[0].chunk if self.items else None
        if first is None or first.get("messageId") != MESSAGE_ID_PLACEHOLDER:
            return None
        chunk = {**first, "messageId": message_id}
        # Message ids are alphanumeric: swapping them into the pre-encoded frame is exact.
        return chunk, self.frames[0].replace(_PLACEHOLDER_JSON, sse.encode_json(message_id).encode(), 1)


class Run:
    """One durable run: its status, its chunk log and the readers' wake-up signal."""

    # Slots: a world keeps up to `max_finished_runs` runs and the mock many worlds; without a
    # __dict__ each kept run is one object fewer for the cyclic collector to scan.
    __slots__ = ("_waiting", "_wakeup", "account_id", "chat_id", "chunks", "closed", "finished_at", "frames",
                 "headless", "id", "listener", "live_items", "message_id", "pinned", "readers", "rng", "scenario",
                 "script", "silent", "started_at", "status", "task", "times")

    def __init__(self, run_id: str, script: Script, message_id: str, *, chat_id: str | None,
                 account_id: str, rng: random.Random) -> None:
        self.id = run_id
        self.script = script
        self.scenario = script.scenario
        self.message_id = message_id
        self.chat_id = chat_id
        self.account_id = account_id
        self.rng = rng
        self.status: RunStatus = "running"
        self.chunks: list[Mapping[str, Any]] = []
        self.frames: list[bytes] = []
        #: Transport items for the live connection, keyed by the chunk index they come before.
        self.live_items: dict[int, list[Item]] = {}
        self.closed = False
        self.silent = False
        self.pinned = False
        #: Started by POST /api/chat/runs: its session and chat are its own, forgotten with it.
        self.headless = False
        #: Stream responses reading this run right now.
        self.readers = 0
        self.task: asyncio.Task[None] | None = None
        self.finished_at: float | None = None
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

    def append(self, chunk: Mapping[str, Any], frame: bytes | None = None) -> None:
        self.chunks.append(chunk)
        self.frames.append(frame if frame is not None else sse.encode_chunk(chunk))
        self.times.append(time.monotonic())
        self.wake()
        if self.listener is not None:
            self.listener(self, len(self.chunks) - 1)

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
        return {"runId": self.id, "chatId": self.chat_id, "scenario": self.scenario.name, "status": self.status,
                "chunks": len(self.chunks), "readers": self.readers, "headless": self.headless,
                "pinned": self.pinned, "live": not self.closed}

    def timed_chunks(self) -> list[dict[str, Any]]:
        """Each chunk with the milliseconds after the run began when it was produced."""
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
        for chunk in self.chunks:
            kind, call = chunk.get("type"), str(chunk.get("toolCallId"))
            if kind in {"tool-input-start", "tool-input-available"}:
                calls[call] = (str(chunk.get("toolName")), kind == "tool-input-available")
            elif kind in {"tool-input-error", "tool-output-available", "tool-output-error", "tool-output-denied"}:
                calls.pop(call, None)
        return [(call, name, done) for call, (name, done) in calls.items()]


def schedule(scenario: Scenario, rng: random.Random, speed: float) -> list[float]:
    """Seconds after the run's start at which each item is due (seeded jitter, scaled by speed).

    The first chunk (``start``) is due at once, the first content chunk after ``first_chunk_ms``,
    later ones ``chunk_delay_ms`` apart. Openers (``start-step``, ``text-start``...) are due with
    the content chunk that follows them and closers with the one before, so they share its send.
    A step's ``delay_ms`` overrides all of that for its first item, the very first one included
    (a recording's time to first byte: `mockserver.proxy.recorder`).
    """
    timing = scenario.timing
    due = [0.0] * len(scenario.items)
    clock = 0.0
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
            delay = 0.0  # the stall's own length is waited by the player
        elif item.delay_ms is not None:
            delay = item.delay_ms
        elif kind in STRUCTURAL:
            delay = 0.0
        else:
            delay = timing.chunk_delay_ms if seen_content else timing.first_chunk_ms
            seen_content = True
        if delay and timing.jitter_ms:
            delay = max(0.0, delay + rng.uniform(-timing.jitter_ms, timing.jitter_ms))
        clock += delay * speed / 1000
        for opener in (*pending, index):
            due[opener] = clock
        pending.clear()
    for opener in pending:
        due[opener] = clock
    return due


def _advance(run: Run, index: int) -> None:
    """Apply script item ``index`` to the run: a chunk joins the log, a transport item is filed."""
    item = run.script.items[index]
    if item.kind == "chunk" and item.chunk is not None:
        run.append(item.chunk, run.script.frames[index])
    elif item.kind != "stall":
        run.live_items.setdefault(len(run.chunks), []).append(item)
        run.wake()  # the live reader waits for the next chunk: it must drop (or get the raw bytes) now


def _stall_s(item: Item, speed: float) -> float:
    return (item.delay_ms or 0) * speed / 1000 if item.kind == "stall" else 0.0


def plan(run: Run, speed: float) -> list[float] | None:
    """The run's due times, or None when nothing in it waits (``--speed 0``): then `fill` plays it
    at once, with no task and no sleeps, and a reader gets the whole stream in one write."""
    if speed == 0:
        return None
    due = schedule(run.scenario, run.rng, speed)
    if any(due) or any(_stall_s(item, speed) for item in run.script.items):
        return due
    return None


def fill(run: Run) -> None:
    """Apply every script item not yet applied, at once."""
    for index in range(1 if run.chunks else 0, len(run.script.items)):
        _advance(run, index)


async def play(run: Run, due: list[float], speed: float, on_close: Callable[[Run], None]) -> None:
    """The run's task: append each item when it is due, then close; on cancel, close open tools."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    items = run.script.items
    # The `start` chunk, when the script has a placeholder one, was appended when the run began.
    first = 1 if run.chunks else 0
    try:
        for index in range(first, len(items)):
            wait = started + due[index] - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if stall := _stall_s(items[index], speed):
                run.silent = True
                await asyncio.sleep(stall)
                started += stall
                run.silent = False
            _advance(run, index)
        run.close(run.scenario.outcome)
    except asyncio.CancelledError:
        cut_short(run)
    finally:
        on_close(run)


def cut_short(run: Run) -> None:
    """Close a cancelled run: like the deployed watcher, settle every open tool call, then end the
    stream as ``cancelled``. Its task does this when cancelled while playing; a task cancelled before
    its first step never runs its body, so whoever cancelled it does it then (`RunManager`)."""
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
