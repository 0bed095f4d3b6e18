"""The run registry: starting, pinning, cancelling and forgetting durable runs.

When a run closes, its chat's stream slot is released (compare-and-set on the run id) and the
assembled assistant message is stored. Finished runs are kept for `Settings.run_ttl_seconds`
and at most `Settings.max_finished_runs`, so a mock left running for days stays bounded; each is
charged to the process's memory budget (`mockserver.state.budget`), which may evict the oldest of them
first (`RunManager.evict_oldest`). A run the budget evicted is answered as such (`RunManager.evicted_message`).
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ApiError
from ..settings import Settings
from ..streams.engine import Alarms, Run, Script, begin, fill, plan, stop
from ..streams.protocol import assemble
from ..streams.scenarios import Scenario
from .blueprint import ChatDef
from .budget import Budget, Charged, run_cost
from .headless import Deferred
from .store import Chat, Store, iso, message_id, seeded_uuid, ulid_ms


def compile_scripts(scenarios: Mapping[str, Scenario]) -> dict[str, Script]:
    """Every stream scenario compiled (frames pre-encoded): once per loaded fixtures, shared read-only."""
    return {name: Script(s) for name, s in scenarios.items() if s.kind == "stream"}


class RunManager(Charged):
    """Owns every run of one store generation (a reset replaces both)."""

    def __init__(self, store: Store, scripts: Mapping[str, Script], settings: Settings,
                 listener: Callable[[Run, int | None], None] | None = None,
                 watched: Callable[[], bool] | None = None, budget: Budget | None = None) -> None:
        self.store = store
        self.settings = settings
        #: Given to every run: told of its chunks and its close (the inspector's events).
        self.listener = listener
        #: Whether the listener wants each chunk as it is due (someone watches the inspector).
        self.watched = watched
        #: The stream scenarios, compiled once for every world and generation (see `compile_scripts`).
        self.scripts = scripts
        self.runs: dict[str, Run] = {}
        self._finished: deque[Run] = deque()
        #: The runs playing on their timers (paced and not yet closed).
        self._playing: set[Run] = set()
        #: The wake-ups of this manager's runs that nobody waits on: one loop timer for all of them.
        self.alarms = Alarms()
        #: The process's memory budget, charged for each finished run kept (None: not counted).
        self.budget = budget
        #: The estimated bytes of the finished runs kept (what was charged to the budget for them).
        self.kept_bytes = 0
        #: How many finished runs the budget evicted, and the latest millisecond of their ids' clock:
        #: the tombstone that tells an evicted run from one never made (`evicted_message`).
        self.evicted = 0
        self._evicted_ms = 0
        #: The greatest id evicted: ULIDs sort by their clock, so its millisecond is the latest, read
        #: only when a 404 needs it (`evicted_ms`) instead of for every run evicted.
        self._evicted_newest = ""
        #: This world was dropped for the budget and made again; its runs of before were all forgotten,
        #: up to `evicted_ms`.
        self.remade = False

    def get(self, run_id: str | None) -> Run | None:
        return self.runs.get(run_id) if run_id else None

    def start(self, choose: Callable[[], Scenario], *, account_id: str, chat: Chat | Deferred | None,
              user_message: dict[str, Any] | None = None, reuse_message_id: str | None = None,
              headless: bool = False) -> Run:
        """Claim ``chat``'s stream slot, store the user's message and start a run of ``choose()``.

        In this order, with no ``await`` anywhere: a busy slot is a 409 before anything else, so it
        wins over whatever scenario the request asks for; then ``choose`` picks the scenario (it may
        raise the scenario's own HTTP answer, or a 400 for an unknown name, and takes a queued
        scenario only then); then the slot is claimed, which cannot fail by now.
        """
        if chat is not None and chat.active_stream_id is not None:
            raise ApiError(409, f"A response is already streaming for chat {chat.id} (run {chat.active_stream_id}); "
                                f"reconnect with GET /api/chat/{chat.id}/stream")
        scenario = choose()
        if chat is not None and user_message is not None:
            self.store.add_message(chat, user_message, counted=not headless)
        run_id = self.store.ids.run_id()
        if chat is not None:
            self.store.claim_slot(chat, run_id)
        # Everything the run draws, it draws now, from the world's generator: in the order requests
        # arrive (the same requests give the same bytes), never when a run happens to finish.
        rng = self.store.ids.rng
        script = self.scripts[scenario.name]
        run = self._new_run(run_id, script, reuse_message_id or message_id(rng), chat_id=chat.id if chat else None,
                            account_id=account_id, row_id=self.store.ids.uuid())
        run.headless = headless
        due = plan(run, self.settings.speed, rng)
        if due is None:
            fill(run)
            run.close(run.scenario.outcome)
            self._closed(run)
        else:
            self._playing.add(run)
            begin(run, due, self.settings.speed, self._closed, self.alarms)
        return run

    def _new_run(self, run_id: str, script: Script, message_id: str, **kwargs: Any) -> Run:
        """A registered run whose ``start`` chunk (with its message id) is already out: readers have a
        chunk 0 at once, as the first byte of a real stream goes out at once."""
        run = Run(run_id, script, message_id, **kwargs)
        run.listener = self.listener
        if self.watched is not None:
            run.eager = self.watched
        first = script.first(message_id)
        if first is not None:
            run.append(*first)
        self.runs[run_id] = run
        return run

    def pin(self, chat: Chat, pinned: ChatDef) -> None:
        """Install a fixture's pinned run: all chunks present, closed to readers, status `running`."""
        assert pinned.pinned_run is not None
        spec = pinned.pinned_run
        run = self._new_run(spec.id, self.scripts[spec.scenario], spec.message_id, chat_id=chat.id,
                            account_id=chat.account.id, row_id=seeded_uuid(self.store.ids.run_rng(spec.id)))
        fill(run)
        run.pinned = True
        run.closed = True  # readers get a finite replay; the status stays `running` forever
        chat.active_stream_id = run.id

    def cancel_soon(self, run: Run) -> None:
        """Cancel ``run`` from code that cannot wait (a stream whose reader went away)."""
        stop(run)

    async def cancel(self, run: Run) -> bool:
        """Cancel a live run: it settles at once (`mockserver.streams.engine.stop`). False if it was
        already over or is pinned. A coroutine so that a run that needs waiting for can be added."""
        return stop(run)  # a pinned run is never playing: stop leaves it as it is

    def _closed(self, run: Run) -> None:
        self._playing.discard(run)
        chat = self.store.holder(run.chat_id) if run.chat_id else None
        # Only into the chat whose slot the run held: a chat deleted meanwhile, and another one made
        # since with the same (client-chosen) id, get nothing of it.
        if chat is not None and self.store.release_slot(chat, run.id) and run.chunks:
            self.store.add_message(chat, functools.partial(assemble, run.chunks, run.message_id),
                                   role="assistant", row_id=run.row_id, at=self.store.finished_at(),
                                   chunks=len(run.chunks), counted=not run.headless)
        self._finished.append(run)
        if self.budget is not None:
            cost = run_cost(run)
            self.kept_bytes += cost
            self.budget.charge(cost)  # may evict, this run included: it is finished
        self.expire()

    def expire(self) -> None:
        """Forget the finished runs past `Settings.run_ttl_seconds` or beyond `max_finished_runs`,
        oldest first. Called when a run closes and whenever its world is used (`Worlds.get`), so a
        run's expiry does not wait for another run to finish; a look at the oldest finished run
        when nothing is due."""
        finished = self._finished
        if not finished:
            return
        loop_time = asyncio.get_running_loop().time()
        ttl, keep = self.settings.run_ttl_seconds, self.settings.max_finished_runs
        while finished and (len(finished) > keep or loop_time - (finished[0].finished_at or loop_time) > ttl):
            self._forget(finished.popleft())

    def oldest_finished_at(self) -> float | None:
        """When the oldest finished run kept ended (the loop's clock), if any. Live and pinned runs are
        never among the finished."""
        return self._finished[0].finished_at if self._finished else None

    def evict_oldest(self) -> None:
        """Evict the oldest finished run (with a headless run's own session and chat) for the memory
        budget (there is one: see `oldest_finished_at`)."""
        run = self._finished.popleft()
        self._forget(run)
        self.evicted += 1
        if run.id > self._evicted_newest:
            self._evicted_newest = run.id
        if self.budget is not None:
            self.budget.runs_evicted += 1

    @property
    def evicted_ms(self) -> int:
        """The latest millisecond of the evicted runs' ids' clock (0: none evicted)."""
        newest = ulid_ms(self._evicted_newest) if self._evicted_newest.startswith("wrun_") else 0
        return max(self._evicted_ms, newest)

    @evicted_ms.setter
    def evicted_ms(self, ms: int) -> None:
        """Everything up to ``ms`` is gone (a world made again after the budget dropped it)."""
        self._evicted_ms = ms

    def _forget(self, run: Run) -> None:
        self.runs.pop(run.id, None)
        chat = self.store.holder(run.chat_id) if run.chat_id else None
        if run.headless and chat is not None and chat.active_stream_id is None:
            self.store.forget_chat(chat)  # a headless run's own session and chat go with it
        if self.budget is not None:
            cost = run_cost(run)
            self.kept_bytes -= cost
            self.budget.credit(cost)

    def evicted_message(self, run_id: str) -> str | None:
        """The 404's message for a run ``run_id`` that is not kept, if the memory budget evicted it as far
        as the tombstone can tell (a run id carries its world's clock, and every run evicted had one at or
        before `evicted_ms`); None for an id the budget cannot have taken."""
        ms = ulid_ms(run_id) if run_id.startswith("wrun_") else 0
        if not 0 < ms <= self.evicted_ms:
            return None
        budget = self.budget
        why = budget.describe() if budget is not None else "the process kept more than its memory budget"
        if self.remade:
            what = (f"its world was dropped, with every run it kept, because {why}, and made again on its next "
                    f"request; this id is from before then ({iso(ms)} on the world's clock)")
        else:
            what = (f"the oldest finished runs of this world ({self.evicted} so far, their ids up to "
                    f"{iso(self.evicted_ms)} on the world's clock) were evicted because {why}; this id is "
                    f"from {iso(ms)}")
        return (f"Run not found: {run_id}: evicted for the memory budget: {what}. Evicted runs are not "
                f"remembered one by one, so an id of that age that was never issued, or a run forgotten past "
                f"max_finished_runs or run_ttl_seconds, is answered the same")

    async def shutdown(self) -> int:
        """Cancel every live run (reset, server shutdown). Returns how many were cancelled."""
        live = list(self._playing)
        for run in live:
            stop(run)
        return len(live)

    def live_count(self) -> int:
        return len(self._playing)
