"""A paced run on its one timer: set for the run's end while nobody waits, for each due time while a
reader does; whoever reads the log sees what is due by then; a stop applies what is due, then cuts."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from typing import Any

from mockserver.streams.engine import Alarms, Run, Script, begin, schedule, stop
from mockserver.streams.scenarios import parse_scenario

EARLY = 0.001  # what the engine allows a timer to fire early


def _run(steps: list[Any], **timing: float) -> tuple[Run, list[float]]:
    scenario = parse_scenario({"name": "t", "steps": steps, "timing": timing}, "t")
    run = Run("wrun_test", Script(scenario), "m1", chat_id=None, account_id="a", row_id="r")
    return run, schedule(scenario, random.Random(0), 1.0)


def _played(body: Callable[[Run, list[float], list[Run]], Awaitable[None]], steps: list[Any],
            **timing: float) -> list[Run]:
    closed: list[Run] = []

    async def main() -> None:
        run, due = _run(steps, **timing)
        begin(run, due, 1.0, closed.append)
        await body(run, due, closed)

    asyncio.run(main())
    return closed


def _due_by_now(run: Run) -> int:
    now = asyncio.get_running_loop().time() + EARLY
    return sum(1 for at in run.due_times() if at <= now)


def test_a_run_nobody_waits_on_sets_one_wake_up_for_its_end_and_shows_what_is_due_when_read() -> None:
    async def body(run: Run, due: list[float], closed: list[Run]) -> None:
        assert run._alarm is None  # set when the loop next turns, the schedule counted from then
        await asyncio.sleep(0)
        assert run.due_times() and run._timer is None  # no timer of its own
        assert run._alarm == run.due_times()[-1]  # one wake-up, for the end
        seen = set()
        loop = asyncio.get_running_loop()
        groups = sorted(set(run.due_times()))
        for at, following in itertools.pairwise(groups):  # read between two due times
            await asyncio.sleep(max(0.0, (at + following) / 2 - loop.time()))
            expected_low = _due_by_now(run)
            count = run.summary()["chunks"]  # reading the log applies what is due
            assert expected_low <= count <= _due_by_now(run)
            seen.add(count)
        assert len(seen) > 3  # the log grew while it played, not only at the end
        assert await run.wait(len(run.due_times()), 5.0) and run.closed

    closed = _played(body, [{"text": "one two three four five six"}], first_chunk_ms=20, chunk_delay_ms=15)
    assert len(closed) == 1 and closed[0].status == "completed"


def test_a_waiting_reader_gets_each_chunk_at_its_due_time() -> None:
    async def body(run: Run, due: list[float], closed: list[Run]) -> None:
        assert run.due_times()
        lateness = []
        index = 1
        while not run.closed:
            assert await run.wait(index, 5.0)
            now = asyncio.get_running_loop().time()
            while index < len(run.frames):
                lateness.append(now - run.due_times()[index])
                index += 1
        assert lateness and min(lateness) >= -EARLY  # never before its time

    _played(body, [{"text": "a b c d"}], first_chunk_ms=20, chunk_delay_ms=20)


def test_a_stop_applies_what_is_due_then_cuts_the_run_short() -> None:
    async def body(run: Run, due: list[float], closed: list[Run]) -> None:
        assert run.due_times()
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, run.due_times()[4] - loop.time()))  # four content chunks are due
        assert stop(run)
        assert len(run.chunks) >= 5
        assert run.closed and run.status == "cancelled" and closed == [run]
        assert run.chunks[-1]["type"] != "finish"
        assert not stop(run)  # already over

    _played(body, [{"text": "one two three four five six seven"}], first_chunk_ms=10, chunk_delay_ms=40)


def test_the_alarms_of_many_runs_share_one_timer_and_a_stopped_run_is_passed_over() -> None:
    """Runs nobody reads wake at their ends from one heap and one loop timer; stopping one leaves its entry,
    which wakes nothing; each of the others closes at its own end, in order."""
    async def main() -> None:
        alarms = Alarms()
        closed: list[tuple[Run, float]] = []
        all_closed = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_close(run: Run) -> None:
            closed.append((run, loop.time()))
            if len(closed) == 5:
                all_closed.set()

        runs = []
        for k in range(5):
            run, due = _run([{"text": "a b"}], first_chunk_ms=20 + 15 * k, chunk_delay_ms=5)
            begin(run, due, 1.0, on_close, alarms)
            runs.append(run)
        await asyncio.sleep(0)
        assert all(r._timer is None for r in runs)
        assert alarms._timer.when == min(r.due_times()[-1] for r in runs)  # one timer, for the earliest end
        assert stop(runs[2]) and runs[2].status == "cancelled"
        await asyncio.wait_for(all_closed.wait(), 5)
        assert [r for r, _ in closed] == [runs[2], runs[0], runs[1], runs[3], runs[4]]
        for run, at in closed:
            assert run is runs[2] or at >= run.due_times()[-1] - EARLY
        assert alarms._timer.when is None and not alarms._heap

    asyncio.run(main())
