"""Isolated worlds: one mock serving many test workers at once, each with its own state.

A request's ``x-mock-world: NAME`` header picks a world; without it, the default world. Each world is
built from the same fixture blueprint and seed, with its own store (stream slots, sessions, chats,
messages), runs, id generators and logical clock, journal and queue of next scenarios: nothing done in
one world is seen in another, and a world's ids and bytes depend only on the requests sent to it.

`Worlds` creates a world on first use and keeps at most `Settings.max_worlds`, the default world
included (so the setting is at least 2). Past that it drops the least recently used world that is idle
(no live run, no request in flight); when none is, the new world is refused with 503 and
``Retry-After``. The default world is never dropped.

All worlds share one memory budget (`mockserver.state.budget`): each charges it for the world itself, its
finished runs and its journal, and when the sum passes `Settings.memory_budget_mb`, `Worlds.reclaim`
evicts the oldest finished state of the least recently used worlds first, then whole idle worlds.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Any

from ..errors import ApiError, quote
from ..profiles import Profile, profile_named
from ..settings import Settings
from ..streams.engine import Run
from ..streams.scenarios import Answers, Scenario
from .budget import WORLD_COST, Budget, reclaim
from .catalog import Catalog
from .chaos import READ_OPERATIONS, STREAM_OPERATIONS, Chaos
from .events import EventBus
from .journal import Journal
from .rooms import Rooms, SeparateRooms, SharedRooms
from .runs import RunManager
from .store import Store

HEADER = "x-mock-world"
DEFAULT = "default"
NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
NAME_RULE = "1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
#: Seconds a client refused for the world limit is told to wait (a live run ends within seconds).
RETRY_AFTER = "1"
#: How many of the least recently used worlds `Worlds.make_room` looks through for one that keeps finished
#: state (idle worlds emptied by the budget come first); past them, the budget's own order decides.
LOOK_AHEAD = 4
#: Worlds used within this many seconds of one another count as used at the same time (`Worlds.make_room`):
#: requests in flight together reach the app in any order. Over 100 worlds in turn with 32 connections,
#: the world of a request and the least recently used one had been used 1 to 4 ms apart, either way round.
SAME_TIME = 0.02
#: The clock worlds' uses are told apart by (seconds; a test may put its own in).
_clock = time.monotonic
#: How many names of worlds the budget dropped are remembered (the tombstone that lets a world made again
#: under the same name say that its earlier runs were evicted); the oldest name is forgotten first.
DROPPED_NAMES = 1024


class World:
    """One world's state. A reset rebuilds its store and runs from the blueprint and seed."""

    def __init__(self, name: str, settings: Settings, catalog: Catalog, profile: Profile, bus: EventBus,
                 budget: Budget | None = None) -> None:
        self.name = name
        self.settings = settings
        self.bus = bus
        #: The process's memory budget, which this world's runs and journal are charged to.
        self.budget = budget
        #: What the world is built from; a reload swaps it (`Worlds.swap`).
        self.catalog = catalog
        #: How this world answers: as documented, or as deployed (`mockserver.profiles`).
        self.profile = profile
        self.journal = Journal(settings.journal_size, budget)
        #: One-shot scenario choices for the next stream requests (admin `queueScenarios`).
        self.queued_scenarios: deque[str] = deque()
        #: One-shot scenario choices for the next requests of one operation, by operationId (admin
        #: `queueScenarios` with ``operation``): an http-status scenario for a rename, a sandbox create...
        self.queued_for: dict[str, deque[str]] = {}
        #: Requests of this world being answered right now (a busy world is never dropped).
        self.in_flight = 0
        #: When a request last picked this world, and the time before that (`_clock`): which world is the
        #: least recently used, for the memory budget (`Worlds.make_room`).
        self.used_at = self.used_before = 0.0
        self._lock = asyncio.Lock()
        #: Seeded chaos (`mockserver.state.chaos`): the world's rate, and its place in the sequence of chat
        #: requests, which a reset starts again.
        self.chaos = Chaos(settings.seed, settings.chaos)
        self.store, self.runs, self.rooms = self._build()

    def _build(self) -> tuple[Store, RunManager, Rooms[Any]]:
        blueprint = self.catalog.fixtures.blueprint
        behaviour = self.profile.behaviour
        store = Store(blueprint, self.settings.seed, rules=behaviour.sandbox, model=behaviour.default_model,
                      budget=self.budget)
        runs = RunManager(store, self.catalog.scripts, self.settings, listener=self._run_event,
                          watched=self._watched, budget=self.budget)
        for chat_def in blueprint.chats:
            if chat_def.pinned_run is not None:
                runs.pin(store.chats[chat_def.id], chat_def)
        # The rooms of the /api/chats family (mockserver.state.rooms): the store's chats, or a store of their
        # own (the deployed server's rooms and memories), as the profile says.
        rooms: Rooms[Any] = SeparateRooms(store) if behaviour.separate_rooms else SharedRooms(store)
        return store, runs, rooms

    def take_queued(self, operation_id: str, answers: Answers | None) -> str | None:
        """The next scenario queued for a request of ``operation_id``, taken off its queue: the first one
        queued for that operation, else, given ``answers``, the first of the general queue that answers
        such requests (``turn``: the ones that start a run; ``stop``); the others stay queued, in order,
        for the requests they are for. A name no longer loaded (a reload removed it) is a turn's, which
        then gets the 400 naming what exists."""
        scoped = self.queued_for.get(operation_id)
        if scoped:
            name = scoped.popleft()
            if not scoped:
                del self.queued_for[operation_id]
            return name
        if answers is None:
            return None
        for index, name in enumerate(self.queued_scenarios):
            scenario = self.scenarios.get(name)
            if (scenario.answers if scenario is not None else "turn") == answers:
                del self.queued_scenarios[index]
                return name
        return None

    def draw_chaos(self, operation_id: str) -> str | None:
        """The fault seeded chaos serves this request of ``operation_id``, if any; each chat request
        (`STREAM_OPERATIONS`, `READ_OPERATIONS`) takes its place in the world's sequence, others draw nothing."""
        if operation_id in STREAM_OPERATIONS:
            return self.chaos.draw(self.catalog.chaos)
        if operation_id in READ_OPERATIONS:
            if self.chaos.rate <= 0:  # it still takes its place; the list of faults is not needed
                return self.chaos.draw(())
            scenarios = self.scenarios
            return self.chaos.draw([n for n in self.catalog.chaos if n in scenarios and scenarios[n].http is not None])
        return None

    def advance_clock(self, ms: int) -> int:
        """Move this world's clock ``ms`` milliseconds on (``POST /__mock/clock``); the sandbox timers
        that fall due are applied when a session is next read. Tells watchers; returns the new time."""
        now = self.store.ids.advance(ms)
        if self.bus.watched:
            self.bus.publish({"type": "clock", "world": self.name, "nowMs": now, "advancedMs": ms})
        return now

    def _watched(self) -> bool:
        """Whether someone watches the inspector's events (then runs tell each chunk as it is due)."""
        return self.bus.watched

    def _run_event(self, run: Run, index: int | None) -> None:
        """A run of this world began (its chunk 0), produced a chunk, or closed (None): tell watchers."""
        if not self.bus.watched:
            return
        if index is None or index == 0:
            self.bus.publish({"type": "run", "world": self.name, "run": run.summary()})
        if index is not None:
            self.bus.publish({"type": "chunk", "world": self.name, "runId": run.id, "index": index,
                              "atMs": round((run.times[index] - run.started_at) * 1000, 1),
                              "chunk": run.chunks[index]})

    @property
    def scenarios(self) -> dict[str, Scenario]:
        return self.catalog.fixtures.scenarios

    @property
    def idle(self) -> bool:
        return self.in_flight == 0 and self.runs.live_count() == 0

    def shed(self, target: int) -> None:
        """Evict this world's finished state, oldest first, until the budget's estimate is at ``target``
        (`mockserver.state.budget.reclaim`): its finished runs, its journal entries and its chat turns'
        stored messages, whichever ended, was recorded or was stored earliest (a run's end and a message's
        storing on the loop's clock, an entry on the wall clock)."""
        budget, runs, journal, messages = self.budget, self.runs, self.journal, self.store.message_log
        if budget is None:
            return
        wall_minus_loop = time.time() - asyncio.get_running_loop().time()
        ended, recorded = runs.oldest_finished_at(), journal.oldest_time()
        stored = messages.oldest_time() if messages is not None else None
        # Plain comparisons, no list of candidates: this loop runs for every run and entry the budget evicts.
        while budget.used > target:
            if ended is not None and (recorded is None or ended + wall_minus_loop <= recorded) \
                    and (stored is None or ended <= stored):
                runs.evict_oldest()
                ended = runs.oldest_finished_at()
            elif recorded is not None and (stored is None or recorded <= stored + wall_minus_loop):
                journal.evict_oldest()
                recorded = journal.oldest_time()
            elif stored is not None and messages is not None:
                messages.evict_oldest()
                stored = messages.oldest_time()
            else:
                return

    @property
    def keeps(self) -> bool:
        """Whether the world keeps finished state the budget could evict."""
        log = self.store.message_log
        return bool(self.runs.oldest_finished_at() is not None or self.journal.entries
                    or (log is not None and log.oldest_time() is not None))

    @property
    def droppable(self) -> bool:
        """Whether the budget may drop the whole world: not the default world, idle, and nothing queued.
        Its pinned fixture runs come back as they were when it is made again (they are the blueprint's)."""
        return (self.name != DEFAULT and not self.queued_scenarios and not self.queued_for and self.idle)

    def detach(self) -> None:
        """Give back to the budget all that this world is charged for: it is being dropped."""
        self.runs.detach()
        self.journal.detach()
        self.store.detach()
        if self.budget is not None:
            self.budget.credit(WORLD_COST)
            self.budget = None

    async def reset(self, profile: Profile | None = None, chaos: float | None = None) -> int:
        """Back to the blueprint; the world keeps its profile and chaos rate unless given others
        (`Worlds.configure`), and its chaos sequence starts again. Returns how many live runs were cancelled."""
        cancelled = await self._cancel_runs(rebuild=True, profile=profile, chaos=chaos)
        self.bus.publish({"type": "reset", "world": self.name})
        return cancelled

    async def retire(self) -> int:
        """Cancel every live run for good: the world is being dropped, or the server is stopping.
        Returns how many were cancelled."""
        return await self._cancel_runs(rebuild=False)

    async def _cancel_runs(self, *, rebuild: bool, profile: Profile | None = None, chaos: float | None = None) -> int:
        """Cancel the live runs and count them, under the world's lock: the one way a world's runs
        end all at once (reset, drop, shutdown). With ``rebuild``, a fresh store and runs (and
        ``profile``, if given) are put in place before anything is awaited: a request that arrives
        while the old runs settle starts its run in the new generation, not in one being thrown away
        (where nothing would ever cancel it or find it again), and is answered under the new profile."""
        async with self._lock:
            runs = self.runs
            if rebuild:
                if profile is not None:
                    self.profile = profile  # first: the state is built for the world's profile
                runs.detach()  # its runs still settling charge the budget no more
                self.store.detach()  # nor do the old store's messages
                self.store, self.runs, self.rooms = self._build()
                self.chaos = Chaos(self.settings.seed, self.chaos.rate if chaos is None else chaos)
                self.journal.clear()
                self.queued_scenarios.clear()
                self.queued_for.clear()
            return await runs.shutdown()

    def counts(self) -> dict[str, Any]:
        """What ``GET /__mock/worlds`` and ``/__mock/status`` report of this world."""
        runs = self.runs
        runs.expire()  # a world listed without being used reports no expired run either
        sessions, chats = self.store.counts()
        return {
            "profile": self.profile.name, "chaos": self.chaos.rate,
            "runsLive": runs.live_count(), "runsKept": len(runs.runs),
            "readers": sum(r.readers for r in runs.runs.values()),
            "chats": chats, "sessions": sessions,
            "requests": len(self.journal.entries),
            "runsEvicted": runs.evicted, "requestsEvicted": self.journal.evicted,
            "messagesEvicted": self.store.messages_evicted,
            "queued": len(self.queued_scenarios) + sum(len(q) for q in self.queued_for.values()),
        }


class Worlds:
    """The live worlds by name, least recently used first."""

    def __init__(self, settings: Settings, catalog: Catalog, bus: EventBus) -> None:
        self.settings = settings
        self.catalog = catalog
        self.bus = bus
        #: The profile of the default world and of every world that does not choose one.
        self.profile = profile_named(settings.profile)
        #: The one memory budget of every world (`mockserver.state.budget`).
        self.budget = Budget(settings.memory_budget_mb)
        self.budget.reclaim = self.reclaim
        self._worlds: OrderedDict[str, World] = OrderedDict()
        #: Worlds the budget dropped: name -> the world's clock then (`DROPPED_NAMES` at most).
        self._dropped: OrderedDict[str, int] = OrderedDict()
        self.default = self._create(DEFAULT)

    def __iter__(self) -> Iterator[World]:
        """The default world first, then the others least recently used first (the registry keeps the
        default world in its place by use too, for the budget's order)."""
        return iter([self.default, *(w for w in self._worlds.values() if w is not self.default)])

    def __len__(self) -> int:
        return len(self._worlds)

    def _create(self, name: str, profile: Profile | None = None) -> World:
        world = World(name, self.settings, self.catalog, profile or self.profile, self.bus, self.budget)
        self._worlds[name] = world
        if (dropped_at := self._dropped.pop(name, None)) is not None:
            world.runs.evicted_ms, world.runs.remade = dropped_at, True
        self.budget.charge(WORLD_COST)
        return world

    def _drop(self, world: World) -> None:
        del self._worlds[world.name]
        world.detach()

    def reclaim(self, target: int) -> None:
        """Evict until the budget's estimate is at ``target``: the oldest finished state of the least
        recently used worlds first, then whole idle worlds (`mockserver.state.budget.reclaim`)."""
        reclaim(self.budget, self._worlds.values(), target, self._drop_for_budget)

    def _drop_for_budget(self, keeper: object) -> None:
        assert isinstance(keeper, World)
        self._dropped[keeper.name] = keeper.store.ids.peek_ms()
        if len(self._dropped) > DROPPED_NAMES:
            self._dropped.popitem(last=False)
        self._drop(keeper)

    async def configure(self, name: str, profile: Profile, chaos: float) -> World:
        """Give the world ``name`` this profile and chaos rate, from a fresh state (a reset, cancelling its
        runs); created if it does not exist yet."""
        world = self.get(name)
        await world.reset(profile, chaos)
        return world

    def get(self, name: str | None) -> World:
        """The world named ``name`` (the header's value; None for the default), created on first use.
        400 for a name that breaks the rule, 503 when the limit is reached and no world can go."""
        if name is None:
            world = self.default  # never dropped, but its finished state is evicted in its turn
            self._worlds.move_to_end(DEFAULT)
        elif (found := self._worlds.get(name)) is not None:
            world = found
            self._worlds.move_to_end(name)
        else:
            if not NAME.match(name):
                raise ApiError(400, f"Header {HEADER} is {quote(name)}; a world name is {NAME_RULE}")
            if len(self._worlds) >= self.settings.max_worlds:
                self._drop_one_idle()
            world = self._create(name)
        # Before the request sees the world: its finished runs past their time to live are gone
        # whether or not another run has finished since.
        world.used_before, world.used_at = world.used_at, _clock()
        world.runs.expire()
        return world

    def make_room(self, world: World) -> None:
        """Under the memory budget's pressure (past its floor), evict about what a request keeps, as a
        request of ``world`` begins to keep something (its journal entry): a request's worth at a time,
        not in bursts when a charge passes the limit (`mockserver.state.budget`).

        The least recently used world's oldest state goes first; when that is ``world`` itself, as it
        was before this request (within `SAME_TIME`), its own. Over many worlds in turn the world of
        each request is the one used longest ago, so each request sheds its own world's oldest state, as
        worlds at their caps do, instead of another world's: that took runs over 100 worlds from 0.87
        to 0.98 of one world's rate (issue 22; `bench/README.md`)."""
        budget = self.budget
        if budget.used <= budget.floor:
            return
        for looked, other in enumerate(self._worlds.values()):  # least recently used first
            if other is world or looked == LOOK_AHEAD:
                break
            if other.keeps:
                (world if world.used_before <= other.used_at + SAME_TIME else other).shed(budget.floor)
                break
        if budget.used > budget.floor:
            budget.ease()  # the budget's own order: the least recently used worlds first, then idle worlds

    def _drop_one_idle(self) -> None:
        for world in self._worlds.values():  # least recently used first
            if world is not self.default and world.idle:
                self._drop(world)
                return
        limit = self.settings.max_worlds
        raise ApiError(503, f"Cannot create another world: the limit of {limit} worlds (the default world "
                            f"included) is reached and every other world has a live run or a request in flight. "
                            f"Retry when a run has ended, or raise the limit with --max-worlds or "
                            f"RECOUP_MOCK_MAX_WORLDS.",
                       headers={"retry-after": RETRY_AFTER})

    def swap(self, catalog: Catalog) -> None:
        """Serve ``catalog`` from the next request on (a reload). Each world starts its next runs with
        the new scripts; runs in flight keep theirs; live state is not rebuilt until a world's reset
        (a changed world.yaml applies then)."""
        self.catalog = catalog
        for world in self._worlds.values():
            world.catalog = catalog
            world.runs.scripts = catalog.scripts

    async def drop_all(self) -> int:
        """Cancel every world's runs and start again with only a fresh default world. Returns the
        number of runs cancelled. The fresh default world is in place before the old worlds' runs are
        cancelled, for the reason `World.reset` rebuilds first."""
        dropped = list(self._worlds.values())
        self._worlds.clear()
        for world in dropped:
            world.detach()
        self.default = self._create(DEFAULT)
        cancelled = sum(await asyncio.gather(*(world.retire() for world in dropped)))
        self.bus.publish({"type": "reset", "world": None})
        return cancelled

    async def shutdown(self) -> None:
        """Cancel every run of every world (server shutdown)."""
        await asyncio.gather(*(world.retire() for world in self))
