"""The schedule of a run: absolute due times, structural chunks together, seeded jitter, speed."""

from __future__ import annotations

import random

from mockserver.streams.engine import schedule
from mockserver.streams.scenarios import parse_scenario


def due(steps: list[object], speed: float = 1.0, seed: int = 1, **timing: float) -> list[float]:
    s = parse_scenario({"name": "t", "steps": steps, "timing": timing}, "t")
    return schedule(s, random.Random(seed), speed)


def test_first_byte_at_once_then_first_chunk_delay_then_pacing() -> None:
    times = due([{"text": "a b c"}], first_chunk_ms=100, chunk_delay_ms=10)
    # start | start-step text-start delta(a) | delta(b) | delta(c) text-end finish-step finish
    assert [round(t, 3) for t in times] == [0.0, 0.1, 0.1, 0.1, 0.11, 0.12, 0.12, 0.12, 0.12]


def test_speed_scales_and_zero_means_no_waits() -> None:
    normal = due([{"text": "a b"}], first_chunk_ms=100, chunk_delay_ms=10)
    assert due([{"text": "a b"}], speed=2, first_chunk_ms=100, chunk_delay_ms=10) == [t * 2 for t in normal]
    assert set(due([{"text": "a b"}], speed=0, first_chunk_ms=100, chunk_delay_ms=10)) == {0.0}


def test_jitter_is_seeded() -> None:
    steps = [{"text": "one two three four"}]
    a = due(steps, seed=3, chunk_delay_ms=50, jitter_ms=20)
    assert a == due(steps, seed=3, chunk_delay_ms=50, jitter_ms=20)
    assert a != due(steps, seed=4, chunk_delay_ms=50, jitter_ms=20)


def test_step_delay_overrides() -> None:
    times = due([{"text": "a"}, {"text": "b", "delay_ms": 500}], first_chunk_ms=0, chunk_delay_ms=10)
    assert max(times) >= 0.5


def test_a_first_step_delay_delays_the_first_byte() -> None:
    """What a recording needs: its measured time to first byte, then each measured gap, exactly."""
    steps = [{"chunk": {"type": "start", "messageId": "m"}, "delay_ms": 120},
             {"chunk": {"type": "start-step"}, "delay_ms": 0},
             {"chunk": {"type": "finish-step"}, "delay_ms": 30.5}, {"chunk": {"type": "finish"}, "delay_ms": 0}]
    s = parse_scenario({"name": "t", "framing": "manual", "steps": steps,
                        "timing": {"first_chunk_ms": 0, "chunk_delay_ms": 0}}, "t")
    assert [round(t, 4) for t in schedule(s, random.Random(0), 1.0)] == [0.12, 0.12, 0.1505, 0.1505]
    assert [round(t, 4) for t in schedule(s, random.Random(0), 2.0)] == [0.24, 0.24, 0.301, 0.301]


def _reference(scenario: object, rng: random.Random, speed: float) -> list[float]:
    """The schedule's rules item by item, as they read (the compiled `Timetable` must agree exactly)."""
    from mockserver.streams.engine import OPENERS
    from mockserver.streams.scenarios import STRUCTURAL
    timing = scenario.timing  # type: ignore[attr-defined]
    items = scenario.items  # type: ignore[attr-defined]
    due, clock, pending, seen = [0.0] * len(items), 0.0, [], False
    for index, item in enumerate(items):
        kind = item.chunk.get("type") if item.chunk is not None else None
        if index == 0 and item.delay_ms is None:
            continue
        if kind in OPENERS and item.delay_ms is None:
            pending.append(index)
            continue
        if item.kind == "stall" or (item.delay_ms is None and kind in STRUCTURAL):
            delay = 0.0
        elif item.delay_ms is not None:
            delay = item.delay_ms
        else:
            delay, seen = (timing.chunk_delay_ms if seen else timing.first_chunk_ms), True
        if delay and timing.jitter_ms:
            delay = max(0.0, delay + rng.uniform(-timing.jitter_ms, timing.jitter_ms))
        clock += delay * speed / 1000
        for opener in (*pending, index):
            due[opener] = clock
        pending.clear()
    for opener in pending:
        due[opener] = clock
    return due


def test_the_compiled_timetable_agrees_with_the_rules_and_draws_the_same_jitter() -> None:
    """Tool calls, stalls, transport items, step delays, trailing openers, jitter wider than a delay:
    the same due times, float for float, and the generator left in the same state."""
    shapes: list[list[object]] = [
        [{"text": "a b c"}],
        [{"reasoning": "think"}, {"text": "x y"}, {"stall": 300}, {"text": "z"}],
        [{"tool": {"name": "lookup", "input": {"q": 1}, "output": {"ok": True}, "output_delay_ms": 200}},
         {"text": "done"}],
        [{"text": "a", "delay_ms": 0}, {"text": "b", "delay_ms": 40}, {"raw": "data: {}\n\n"}, {"disconnect": True}],
        [{"chunk": {"type": "start", "messageId": "m"}, "delay_ms": 5}, {"chunk": {"type": "text-start", "id": "t"}}],
    ]
    for steps in shapes:
        for jitter in (0.0, 15.0, 400.0):
            s = parse_scenario({"name": "t", "steps": steps,
                                "timing": {"first_chunk_ms": 120, "chunk_delay_ms": 20, "jitter_ms": jitter}}, "t")
            for seed, speed in ((0, 1.0), (7, 0.5), (9, 3.0)):
                ours, theirs = random.Random(seed), random.Random(seed)
                assert schedule(s, ours, speed) == _reference(s, theirs, speed), (steps, jitter, seed, speed)
                assert ours.random() == theirs.random()
