"""The memory budget's accounting and eviction order (`mockserver.state.budget`), and the journal's share of it:
pure, no app."""

from __future__ import annotations

from dataclasses import dataclass, field

from mockserver.state.budget import (
    CHUNK_COST,
    EASE_HEADROOM,
    ENTRY_COST,
    EVICT_STEP,
    HEADLESS_COST,
    MB,
    RUN_COST,
    Budget,
    entry_cost,
    reclaim,
    run_cost,
)
from mockserver.state.journal import Journal


@dataclass
class FakeWorld:
    """A world as eviction sees it: finished items of a size each, oldest first; droppable or not."""

    name: str
    budget: Budget
    items: list[int] = field(default_factory=list)
    can_drop: bool = True
    log: list[str] = field(default_factory=list)

    def keep(self, *sizes: int) -> FakeWorld:
        for size in sizes:
            self.items.append(size)
            self.budget.used += size  # no trigger while setting up
        return self

    def shed(self, target: int) -> None:
        while self.items and self.budget.used > target:
            self.budget.credit(self.items.pop(0))
            self.log.append(f"evict {self.name}")

    @property
    def droppable(self) -> bool:
        return self.can_drop


def drop_into(log: list[str], budget: Budget, world_cost: int) -> object:
    def drop(keeper: object) -> None:
        assert isinstance(keeper, FakeWorld)
        log.append(f"drop {keeper.name}")
        budget.credit(world_cost + sum(keeper.items))
    return drop


def test_the_least_recently_used_worlds_finished_state_goes_first_and_only_what_the_target_needs() -> None:
    budget = Budget(1)
    log: list[str] = []
    old, mid, new = (FakeWorld(n, budget, log=log).keep(100, 100, 100) for n in ("old", "mid", "new"))
    budget.used += 1000  # what is not evictable (worlds themselves, live runs)
    reclaim(budget, [old, mid, new], budget.used - 450, drop_into(log, budget, 0))
    assert log == ["evict old"] * 3 + ["evict mid"] * 2  # 500 freed: the oldest world's all, then the next's
    assert (old.items, mid.items, new.items) == ([], [100], [100, 100, 100])


def test_whole_worlds_go_only_after_every_finished_thing_and_never_the_busy_or_the_one_being_served() -> None:
    budget = Budget(1)
    log: list[str] = []
    busy = FakeWorld("busy", budget, log=log, can_drop=False).keep(10)
    idle = FakeWorld("idle", budget, log=log).keep(10)
    idle2 = FakeWorld("idle2", budget, log=log).keep(10)
    served = FakeWorld("served", budget, log=log).keep(10)  # most recently used: the request's own world
    budget.used += 4000  # four worlds of 1,000 each
    reclaim(budget, [busy, idle, idle2, served], 0, drop_into(log, budget, 1000))
    assert log == ["evict busy", "evict idle", "evict idle2", "evict served", "drop idle", "drop idle2"]
    assert budget.worlds_evicted == 2
    assert budget.used == 2000  # busy and served stay: the target cannot be reached, and that is allowed


class Kilobytes:
    """A budget charged 1,000 bytes at a time, whose eviction frees the oldest of them and notes its target."""

    def __init__(self, limit_mb: float) -> None:
        self.budget = Budget(limit_mb)
        self.calls: list[int] = []
        self.kept: list[int] = []
        self.budget.reclaim = self.free

    def free(self, target: int) -> None:
        self.calls.append(target)
        while self.kept and self.budget.used > target:
            self.budget.credit(self.kept.pop(0))

    def charge(self, times: int) -> None:
        for _ in range(times):
            self.kept.append(1000)
            self.budget.charge(1000)


def test_a_charge_past_the_limit_evicts_down_to_an_eighth_under_it_once() -> None:
    small = Kilobytes(1)
    small.charge(MB // 1000)
    assert small.calls == []  # at the limit, not past it
    small.charge(1)
    assert small.calls == [MB - MB // 8] and small.budget.used <= MB - MB // 8
    # The eighth freed is filled again before the next eviction: one scan per eighth of the budget.
    small.charge(MB // 8 // 1000 - 1)
    assert len(small.calls) == 1


def test_a_large_budget_evicts_a_step_at_a_time_so_frees_keep_pace_with_charges() -> None:
    """Past a 16 MB budget, eviction frees EVICT_STEP (256 KB), not an eighth (2 MB): each eviction is
    small and they come every few hundred charges of 1 KB, not every two thousand."""
    large = Kilobytes(16)
    large.charge(16 * MB // 1000 + 1)
    target = 16 * MB - EVICT_STEP
    assert large.calls == [target] and target - 1000 < large.budget.used <= target
    large.charge(EVICT_STEP // 1000 + 2)
    assert len(large.calls) == 2  # the step was filled again: the next eviction, as small


def test_a_request_eases_the_budget_to_its_floor_before_a_charge_passes_the_limit() -> None:
    """Past the floor (EASE_HEADROOM under the limit), a request's `ease` frees about a request's worth,
    down to the floor, and the charges of the request then stay under the limit: no eviction burst."""
    kb = Kilobytes(1)
    assert kb.budget.floor == MB - EASE_HEADROOM
    kb.charge((MB - EASE_HEADROOM) // 1000 + 3)  # 3 KB past the floor, under the limit
    assert kb.calls == [] and kb.budget.used > kb.budget.floor
    kb.budget.ease()
    assert kb.calls == [MB - EASE_HEADROOM] and MB - EASE_HEADROOM - 1000 < kb.budget.used <= kb.budget.floor
    kb.charge(10)  # the next request's 10 KB: under the limit, so no charge evicts
    assert len(kb.calls) == 1
    # A budget too small for the headroom eases to an eighth under its limit.
    assert Budget(0.25).floor == round(0.25 * MB) - round(0.25 * MB) // 8
    assert Budget(0).floor > 1 << 60  # no budget: never past its floor


def test_when_nothing_can_go_a_request_does_not_scan_again_either() -> None:
    budget = Budget(1)
    calls: list[int] = []
    budget.reclaim = calls.append  # frees nothing
    budget.charge(MB - 1000)
    budget.ease()
    assert len(calls) == 1 and budget.floor == budget.trigger > budget.used
    budget.charge(1000)
    if budget.used > budget.floor:
        budget.ease()
    assert len(calls) == 1


def test_when_nothing_can_go_the_budget_is_not_scanned_again_on_every_charge() -> None:
    budget = Budget(4)
    calls: list[int] = []
    budget.reclaim = calls.append  # frees nothing: everything kept is live, pinned or queued
    budget.charge(4 * MB + 1)
    assert len(calls) == 1
    for _ in range(500):
        budget.charge(1000)  # 500 KB more: under the eighth (512 KB) the trigger moved up by
    assert len(calls) == 1
    budget.charge(MB // 2)
    assert len(calls) == 2
    # A budget smaller than what cannot go waits at least MIN_RETRY, not an eighth of almost nothing.
    tiny = Budget(0.01)
    tiny_calls: list[int] = []
    tiny.reclaim = tiny_calls.append
    for _ in range(200):
        tiny.charge(1000)  # 200 KB, 20 times the budget
    assert len(tiny_calls) == 1


def test_no_budget_counts_but_never_evicts() -> None:
    budget = Budget(0)
    budget.reclaim = lambda target: (_ for _ in ()).throw(AssertionError("evicted with no budget"))
    budget.charge(10 * MB)
    assert budget.used == 10 * MB
    assert budget.status() == {"limitMb": None, "limitBytes": None, "usedBytes": 10 * MB,
                               "evicted": {"runs": 0, "journalEntries": 0, "messages": 0, "worlds": 0}}


@dataclass
class FakeRun:
    headless: bool
    frames: list[bytes]


def test_a_runs_estimate_is_a_fixed_cost_its_chunks_its_own_first_frame_and_a_headless_runs_chat() -> None:
    frames = [b"x" * 60, b"shared", b"shared"]
    assert run_cost(FakeRun(False, frames)) == RUN_COST + 3 * CHUNK_COST + 60
    assert run_cost(FakeRun(True, frames)) == RUN_COST + 3 * CHUNK_COST + 60 + HEADLESS_COST
    assert run_cost(FakeRun(False, [])) == RUN_COST


def journal_estimate(journal: Journal) -> int:
    return sum(entry_cost(e.path, e.request_body) for e in journal.entries)


def test_a_journal_charges_what_it_keeps_and_gives_back_what_its_size_drops() -> None:
    budget = Budget(0)
    journal = Journal(3, budget)
    for i in range(5):
        entry = journal.record("POST", f"/api/chat/{i}", 200)
        journal.keep_body(entry, b"b" * i)
    assert [e.seq for e in journal.entries] == [3, 4, 5]
    assert journal.kept_bytes == budget.used == journal_estimate(journal)
    assert budget.used == 3 * ENTRY_COST + 3 * len("/api/chat/0") + 2 + 3 + 4
    assert journal.evicted == 0  # the journal's own size is not the budget


def test_a_journal_evicts_its_oldest_entries_for_the_budget_and_says_how_many() -> None:
    budget = Budget(0)
    journal = Journal(100, budget)
    entries = [journal.record("GET", "/x", 200) for _ in range(10)]
    for _ in range(3):
        journal.evict_oldest()
    assert [e.seq for e in journal.entries] == list(range(4, 11))
    assert (journal.evicted, journal.evicted_seq, budget.entries_evicted) == (3, 3, 3)
    # A body that arrives for an entry already evicted is not charged: nothing would ever give it back.
    journal.keep_body(entries[0], b"late body")
    assert journal.kept_bytes == budget.used == journal_estimate(journal)
    journal.clear()
    assert journal.kept_bytes == budget.used == 0


def test_a_journal_recording_past_the_limit_evicts_its_own_oldest_entries() -> None:
    budget = Budget(entry_cost("/x", b"") * 10 / MB)
    journal = Journal(1000, budget)

    def free(target: int) -> None:
        while journal.oldest_time() is not None and budget.used > target:
            journal.evict_oldest()

    budget.reclaim = free
    for _ in range(100):
        journal.record("GET", "/x", 200)
    assert budget.used <= budget.limit
    assert journal.entries[-1].seq == 100  # the newest stays
    assert journal.evicted == 100 - len(journal.entries)
    assert journal.kept_bytes == budget.used == journal_estimate(journal)


def test_a_journal_without_a_budget_keeps_working_as_before() -> None:
    journal = Journal(2)
    for _ in range(3):
        journal.keep_body(journal.record("GET", "/x", 200), b"body")
    assert [e.seq for e in journal.entries] == [2, 3] and journal.kept_bytes == 0
