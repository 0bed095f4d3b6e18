"""One memory budget for everything the process keeps: finished runs, journal entries, chat turns' stored
messages and idle worlds.

Every world keeps its own finished runs (`Settings.max_finished_runs`) and journal
(`Settings.journal_size`), so many worlds keep many times what one keeps. The `Budget` adds up a cheap
estimate of the bytes all of them keep (`run_cost`, `entry_cost`, `message_cost`, `WORLD_COST`: a fixed
cost per kept object plus the lengths of the bytes it holds, never a walk of the objects) and, as the
sum nears `Settings.memory_budget_mb` (`floor`, as each API request begins) or passes it (a charge), has
the oldest finished state of the least recently used worlds evicted (`reclaim`): each world's finished
runs, journal entries and chat turns' stored messages, oldest first, the least recently used world
first; then whole idle worlds. A live run, a pinned fixture run and a queued
scenario are never evicted.

On the hot path a charge is an addition and a comparison. Under pressure, eviction happens as each API
request begins to keep something (`Worlds.make_room`, once the sum is past `floor`, `EASE_HEADROOM`
under the limit): about what one request keeps is freed there, so frees keep pace with what requests
make, a request's worth at a time; and when the request's own world is among the least recently used,
from that world (`mockserver.state.worlds.SAME_TIME`), as worlds at their caps each shed their own.
Over 100 worlds in turn, freeing from another world than the one served cost each request about 18 µs
over the socket, for the same objects and nearly the same instructions under callgrind (issue 22). A charge
past the limit itself (a request that kept more than the headroom, a run ending between requests)
evicts `EVICT_STEP` at once: a small step, as bursts of an eighth of the budget let the cyclic
collector's youngest generation, which counts what is made and freed but never below zero, pass its
threshold far more often (1.3 s of collections in 15 s of runs over 100 worlds, 0.15 s with the step).
When nothing more can go (everything kept is live, pinned or queued), the trigger and the floor move an
eighth above the sum (at least `MIN_RETRY`), so a full budget is not scanned again on every request.

Calibration (the estimate against real RSS, measured once, 2026-12-06, CPython 3.11, on top of main's
e9ab110, in one fresh process per figure: an in-process app at speed 0 with no budget and caps high
enough to keep everything, every world warmed up first, ``gc.collect()`` and ``VmRSS`` from
``/proc/self/status`` before and after 20,000 requests over 100 worlds, each a ``POST /api/chat/runs``
with a one-line prompt sent by httpx); what each request left kept, in bytes, real RSS growth / the
estimate / estimate ÷ real:

- a headless ``default`` run (19 chunks) and its journal entry: 6,659 / 6,722 / 1.01
- a headless ``slow`` run (54 chunks) and its journal entry: 7,714 / 7,702 / 1.00
- a journal entry alone (a 404 ``GET /api/chat/runs/{id}``): 1,842 / 1,902 / 1.03
- an idle world (bench/README.md "Idle worlds", N = 1,000, one fresh process): 14,780 / 16,384 / 1.11
- a chat turn's two stored messages (``POST /api/chat`` on one chat, ``default`` scenario, a 16-character
  message; 10,000 turns after the run and journal caps were reached, with no budget; 2026-12-07): 2,633 /
  2,598 / 0.99

Measured again on main's 926a024 (runs draw from their world's generator, timers instead of tasks):
1.01, 1.00 and 1.03 of RSS. And for the headless runs once their sessions and chats were deferred
(`mockserver.state.headless`; 2026-12-07, the same method beside the parent f77e11f, which read 6,582
and 7,393 that day): ``default`` 6,008 / 6,146 / 1.02, ``slow`` 6,806 / 7,126 / 1.05.

So: a chunk about 26.5 bytes (the slow run's 35 more chunks cost 928 bytes more: its slots in three
lists); a journal entry 1.8 KB plus its path and kept body, most of it the request's and response's
header pairs it keeps as tuples (9 and 7 of them here, about 140 bytes each with their values: a
browser sends more, and its entries cost that much more than estimated); a finished run 1.4 KB, and a
headless run's own session, chat and two stored messages 2.2 KB more while nobody has read them (2.75 KB
once built: a few are). What RSS does after an
eviction is the allocator's: freed objects are reused by the next ones, so RSS stays at its peak
rather than falling, and the budget bounds that peak (an in-process check, 80,000 headless runs over
255 worlds with a 30 MB budget: RSS rose 27 MB in the first 10,000 runs and then stayed within
0.3 MB, the estimate at 26 to 30 MB).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

#: Bytes in a megabyte, as ``/proc`` counts (and as ``--memory-budget`` means it).
MB = 1024 * 1024
#: What a kept finished run costs besides its chunks (see the module's calibration).
RUN_COST = 1408
#: What each chunk of a kept run adds: its slots in the chunk, frame and time lists (the chunks and
#: frames themselves are the compiled script's, shared by every run of the scenario).
CHUNK_COST = 28
#: A headless run's own session and chat, with its user and assistant messages (`POST /api/chat/runs`), as
#: kept until they are read (`mockserver.state.headless`): about 600 bytes more once built.
HEADLESS_COST = 2240
#: A chat turn's stored message besides its text or its chunks: the row, the message, its slot in the
#: world's message log (`mockserver.state.messages`).
MESSAGE_COST = 1024
#: A journal entry besides its path and kept body: the entry and its packed headers.
ENTRY_COST = 1856
#: An idle world: its store built from the blueprint, runs, journal, chaos (bench/README.md "Idle worlds").
WORLD_COST = 16 * 1024
#: A charge past the limit brings the sum this far under it...
EVICT_STEP = 256 * 1024
#: ... or this share of a budget too small for that step; and, when nothing more can go, the share of
#: the budget charged before eviction is tried again.
SLACK = 8
#: When nothing more can go, at least this many bytes more are charged before eviction is tried again
#: (with a budget smaller than what cannot go, an eighth of it would be a scan every few requests).
MIN_RETRY = 256 * 1024
#: As an API request begins, eviction keeps the sum this far under the limit (`Budget.ease`; an eighth of a
#: budget too small for it): more than a request keeps, so its charges seldom pass the limit.
EASE_HEADROOM = 64 * 1024
#: A floor no sum reaches (no budget).
NEVER = 1 << 62


class Spent(Protocol):
    """What a kept finished run's estimate reads."""

    headless: bool

    @property
    def frames(self) -> list[bytes]: ...


def run_cost(run: Spent) -> int:
    """The estimated bytes a finished run keeps (the same before and after it is forgotten: a closed
    run's log does not change). Its first frame is its own (it carries the run's message id); the
    others are the script's."""
    frames = run.frames
    cost = RUN_COST + CHUNK_COST * len(frames) + (len(frames[0]) if frames else 0)
    return cost + HEADLESS_COST if run.headless else cost


def message_cost(text: int, chunks: int) -> int:
    """The estimated bytes a chat turn's stored message keeps: a user's message with ``text`` characters
    of text, or a run's answer of ``chunks`` chunks (the run's log, assembled only if it is read)."""
    return MESSAGE_COST + text + CHUNK_COST * chunks


def entry_cost(path: str, body: bytes) -> int:
    """The estimated bytes a journal entry for ``path`` keeps with ``body``."""
    return ENTRY_COST + len(path) + len(body)


class Charged:
    """Something that charges the budget for what it keeps (a world's finished runs, its journal, its chat
    turns' messages): the budget (None once detached) and the estimated bytes charged and not yet credited."""

    budget: Budget | None
    kept_bytes: int

    def detach(self) -> None:
        """Give everything back to the budget and charge it no more (the world is reset or dropped)."""
        if self.budget is not None:
            self.budget.credit(self.kept_bytes)
            self.budget = None
        self.kept_bytes = 0


class Keeper(Protocol):
    """A world, as eviction sees it (`mockserver.state.worlds.World`)."""

    def shed(self, target: int) -> None:
        """Evict finished state, oldest first, until the budget is at ``target`` or nothing is left."""

    @property
    def droppable(self) -> bool:
        """Whether the whole world may go: idle, nothing queued, not the default world."""


class Budget:
    """The process-wide estimate of the bytes kept, its limit, and what was evicted to keep to it."""

    def __init__(self, limit_mb: float) -> None:
        #: The limit in bytes; 0: no budget (only the per-world caps).
        self.limit = round(limit_mb * MB)
        self.limit_mb = limit_mb
        #: The estimated bytes kept now.
        self.used = 0
        #: Eviction starts when `used` passes this: the limit, or above it after nothing more could go.
        self.trigger = self.limit if self.limit else -1
        #: As an API request begins, eviction starts when `used` passes this (`ease`).
        self.floor = self._floor = self.limit - min(EASE_HEADROOM, self.limit // SLACK) if self.limit else NEVER
        self.runs_evicted = 0
        self.entries_evicted = 0
        self.messages_evicted = 0
        self.worlds_evicted = 0
        #: Frees kept state down to a target (`Worlds.reclaim`); set by whoever keeps the worlds.
        self.reclaim: Callable[[int], None] | None = None
        self._reclaiming = False

    def charge(self, size: int) -> None:
        """``size`` more bytes are kept; evict if that takes the sum past the trigger."""
        self.used += size
        if self.used > self.trigger >= 0 and not self._reclaiming:
            self.relieve()

    def credit(self, size: int) -> None:
        """``size`` bytes are no longer kept."""
        self.used -= size

    @property
    def target(self) -> int:
        """What eviction brings the sum down to: `EVICT_STEP` (an eighth of a small budget) under the limit."""
        return self.limit - min(EVICT_STEP, self.limit // SLACK)

    def relieve(self) -> None:
        """Evict down to `target` (a charge passed the limit)."""
        self._evict(self.target)

    def ease(self) -> None:
        """Evict down to `floor`, least recently used world first (`used` is past it as an API request
        begins, `mockserver.state.worlds.Worlds.make_room`)."""
        self._evict(self.floor)

    def _evict(self, target: int) -> None:
        """Evict down to ``target``. When that cannot be reached, the next attempt, by a charge or a
        request, waits until another eighth of the budget (at least `MIN_RETRY`) has been charged."""
        if self.reclaim is None or self._reclaiming:
            return
        self._reclaiming = True
        try:
            self.reclaim(target)
        finally:
            self._reclaiming = False
        if self.used <= target:
            self.trigger, self.floor = self.limit, self._floor
        else:
            self.trigger = self.floor = self.used + max(self.limit // SLACK, MIN_RETRY)

    def status(self) -> dict[str, object]:
        """What ``GET /__mock/status`` reports as ``memoryBudget``."""
        return {"limitMb": self.limit_mb if self.limit else None, "limitBytes": self.limit or None,
                "usedBytes": self.used,
                "evicted": {"runs": self.runs_evicted, "journalEntries": self.entries_evicted,
                            "messages": self.messages_evicted, "worlds": self.worlds_evicted}}

    def describe(self) -> str:
        """The budget, for a message about something it evicted."""
        return (f"the process kept more than its memory budget of {self.limit_mb:g} MB (estimated; raise it "
                f"with --memory-budget MB or RECOUP_MOCK_MEMORY_BUDGET, 0 for none)")


def reclaim(budget: Budget, keepers: Collection[Keeper], target: int, drop: Callable[[Keeper], None]) -> None:
    """Evict until ``budget.used`` is at ``target``: the finished state of each keeper in turn (the
    least recently used first), then whole droppable keepers in the same order, except the most recently
    used one (the one being served: a request charges the journal before its world counts it in flight).
    ``keepers`` is read in order as far as needed (a request's eviction reaches the first one or two):
    copied only for the drops, which change it."""
    for keeper in keepers:
        if budget.used <= target:
            return
        keeper.shed(target)
    if budget.used <= target:
        return
    for keeper in list(keepers)[:-1]:
        if budget.used <= target:
            return
        if keeper.droppable:
            drop(keeper)
            budget.worlds_evicted += 1
