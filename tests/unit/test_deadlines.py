"""One timer keeps many waits' deadlines: a wait past its time is cancelled and told so; others are not."""

from __future__ import annotations

import asyncio
import math

from mockserver import deadlines


def test_a_wait_past_its_deadline_is_cancelled_and_knows_it_was_the_deadline() -> None:
    async def main() -> tuple[bool, bool, float]:
        loop = asyncio.get_running_loop()
        waits = deadlines.of(loop)
        task = asyncio.current_task()
        assert task is not None
        began = loop.time()
        waits.start(task, 0.05)
        try:
            await asyncio.Event().wait()  # never set: only the deadline ends it
        except asyncio.CancelledError:
            expired = waits.expired(task)
            task.uncancel()
        return expired, waits.finish(task), loop.time() - began

    expired, finished_late, waited = asyncio.run(main())
    assert expired and finished_late
    assert 0.045 <= waited < 1.0


def test_a_wait_done_in_time_is_left_alone_and_the_timer_serves_the_earliest() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        waits = deadlines.of(loop)
        late = asyncio.Event()

        async def slow() -> str:
            task = asyncio.current_task()
            assert task is not None
            waits.start(task, 0.05)
            try:
                await late.wait()
            except asyncio.CancelledError:
                assert waits.expired(task)
                return "expired"
            finally:
                waits.finish(task)
            return "done"

        async def quick() -> str:
            task = asyncio.current_task()
            assert task is not None
            waits.start(task, 10.0)  # a later deadline first: the earlier one must still be kept
            await asyncio.sleep(0)
            return "late" if waits.finish(task) else "done"

        q = asyncio.create_task(quick())
        s = asyncio.create_task(slow())
        assert await asyncio.wait_for(asyncio.gather(q, s), 5.0) == ["done", "expired"]

    asyncio.run(main())


def test_another_cancellation_is_not_taken_for_the_deadline() -> None:
    async def main() -> bool:
        waits = deadlines.of(asyncio.get_running_loop())

        async def reader() -> None:
            task = asyncio.current_task()
            assert task is not None
            waits.start(task, 30.0)
            try:
                await asyncio.Event().wait()
            finally:
                assert not waits.expired(task)
                assert not waits.finish(task)

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert asyncio.run(main())


def test_one_timer_for_the_earliest_time_asked_and_not_remade_for_a_later_one() -> None:
    """Later times asked within the same millisecond leave the timer as it is (uvloop rounds its timers'
    `when` up to the millisecond: comparing with that re-made the timer each time); an earlier one
    moves it; it fires once, at the earliest."""
    import uvloop

    async def main() -> tuple[int, list[float], float]:
        loop = asyncio.get_running_loop()
        made = 0
        call_at = loop.call_at

        def counting(when: float, callback: object, *args: object) -> asyncio.TimerHandle:
            nonlocal made
            made += 1
            return call_at(when, callback, *args)  # type: ignore[arg-type]

        fired: list[float] = []
        done = asyncio.Event()
        timer = deadlines.Earliest(lambda: (fired.append(loop.time()), done.set()), loop)
        loop.call_at = counting  # type: ignore[method-assign]
        first = (math.ceil(loop.time() * 1000) + 30.1) / 1000  # a tenth into a millisecond: rounded up 0.9 ms
        for k in range(20):
            timer.ask(first + k * 1e-5)  # all within that millisecond, each later than the one before
        timer.ask(first - 0.01)  # earlier: the timer moves
        assert timer.when == first - 0.01
        await asyncio.wait_for(done.wait(), 2)
        return made, fired, first - 0.01

    made, fired, earliest = uvloop.run(main())
    assert made == 2 and len(fired) == 1 and fired[0] >= earliest - 0.002
