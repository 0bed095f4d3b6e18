"""Keep-alive heartbeats, silent stalls, a headless run's status over its life, stop during a tool
call, and bounded retention of runs."""

from __future__ import annotations

import itertools
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ALICE, CHAT_IDLE, DONE, LiveServer, SseParser, chat_body, chunks_of, live_server, scheduled_chunks

from mockserver.settings import DEFAULT_FIXTURES

H = {"x-api-key": ALICE}
EXTRA_SCENARIOS = {
    "long-wait": "name: long-wait\nsteps:\n  - text: before\n  - text: after\n    delay_ms: 1200\n",
    "silent": "name: silent\nsteps:\n  - text: before\n  - stall: 1200\n  - text: after\n",
    "late-error": "name: late-error\nsteps:\n  - text: before\n  - error: boom\n    delay_ms: 1200\n",
    "late-abort": "name: late-abort\nsteps:\n  - text: before\n  - abort: true\n    delay_ms: 1200\n",
    "slow-tool": (
        "name: slow-tool\nsteps:\n  - tool: {name: bash, input: {command: sleep}, output: {ok: true},"
        " output_delay_ms: 30000}\n"
    ),
}


@pytest.fixture(scope="module")
def fixtures_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("fixtures")
    shutil.copytree(DEFAULT_FIXTURES, target, dirs_exist_ok=True)
    for name, text in EXTRA_SCENARIOS.items():
        (target / "scenarios" / f"{name}.yaml").write_text(text)
    return target


@pytest.fixture(scope="module")
def server(fixtures_dir: Path) -> Iterator[LiveServer]:
    with live_server(fixtures=fixtures_dir, keepalive_seconds=0.25, max_finished_runs=2) as s:
        yield s


@pytest.fixture(autouse=True)
def _reset(server: LiveServer) -> None:
    httpx.post(server.base_url + "/__mock/reset").raise_for_status()


def post(server: LiveServer, scenario: str) -> httpx.Response:
    return httpx.post(server.base_url + "/api/chat", json=chat_body(), headers={**H, "prefer": f"scenario={scenario}"},
                      timeout=10)


def read(server: LiveServer, scenario: str) -> SseParser:
    """A turn's stream, read as it arrives (each event stamped with its arrival time)."""
    with httpx.stream("POST", server.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": f"scenario={scenario}"}) as response:
        assert response.status_code == 200
        return SseParser().read(response.iter_raw())


def longest_gap(times: list[float]) -> float:
    return max(b - a for a, b in itertools.pairwise(times))


def test_keep_alive_comments_fill_long_waits_at_their_interval(server: LiveServer, fixtures_dir: Path) -> None:
    keepalive = server.settings.keepalive_seconds
    wait = longest_gap(scheduled_chunks("long-wait", server.settings.speed, fixtures_dir))
    events = read(server, "long-wait").events
    beats = [i for i, e in enumerate(events) if e.comments == ["keep-alive"]]
    assert beats and all(events[i].data is None for i in beats)
    # They fill the one scripted wait, between the text before it and the text after it ...
    assert beats == list(range(beats[0], beats[-1] + 1))
    deltas = [e.chunk.get("delta") if e.chunk else None for e in events]
    assert "before" in deltas[:beats[0]] and "after" in deltas[beats[-1]:]
    # ... one per keep-alive interval of silence, each that long after the last write.
    expected = int(wait / keepalive)
    assert expected - 1 <= len(beats) <= expected + 1, f"{len(beats)} heartbeats in {wait:.2f}s at {keepalive}s"
    gaps = [b.at - a.at for a, b in itertools.pairwise(events[beats[0] - 1:beats[-1] + 1])]
    assert all(0.5 * keepalive <= gap <= 2 * keepalive for gap in gaps), gaps


def test_a_stall_is_total_silence_for_its_scripted_length(server: LiveServer, fixtures_dir: Path) -> None:
    due = scheduled_chunks("silent", server.settings.speed, fixtures_dir)
    stream = read(server, "silent")
    assert not any(e.comments for e in stream.events)
    timed = stream.timed_chunks()
    assert [c.get("delta") for _, c in timed if c["type"] == "text-delta"] == ["before", "after"]
    # The silence was the stall's (far longer than a keep-alive interval), not a stream without one.
    gap, scheduled = longest_gap([at for at, _ in timed]), longest_gap(due)
    assert scheduled > 2 * server.settings.keepalive_seconds
    assert 0.8 * scheduled <= gap <= 1.5 * scheduled, f"silent for {gap:.2f}s, {scheduled:.2f}s scripted"


@pytest.mark.parametrize(("scenario", "outcome"), [("long-wait", "completed"), ("late-error", "failed"),
                                                   ("late-abort", "cancelled")])
def test_a_headless_run_is_running_until_its_stream_ends_then_has_the_scenarios_outcome(
        server: LiveServer, fixtures_dir: Path, scenario: str, outcome: str) -> None:
    # Each of these scripts waits over a second before its last chunk: the run cannot be over yet.
    assert longest_gap(scheduled_chunks(scenario, server.settings.speed, fixtures_dir)) >= 1.0
    started = httpx.post(server.base_url + "/api/chat/runs", json={"prompt": "go"},
                         headers={**H, "prefer": f"scenario={scenario}"})
    assert started.status_code == 202, started.text
    run_id, chat_id = started.json()["runId"], started.json()["chatId"]
    status_url = f"{server.base_url}/api/chat/runs/{run_id}"
    assert httpx.get(status_url, headers=H).json() == {"runId": run_id, "status": "running"}
    # Follow the run to its end: its stream ends when the run does ...
    resumed = httpx.get(f"{server.base_url}/api/chat/{chat_id}/stream", headers=H, timeout=10)
    assert resumed.status_code == 200 and resumed.content.endswith(DONE)
    # ... and from then on its status is final.
    assert httpx.get(status_url, headers=H).json() == {"runId": run_id, "status": outcome}


def test_stop_settles_an_open_tool_call(server: LiveServer) -> None:
    with httpx.stream("POST", server.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow-tool"}) as response:
        pieces = response.iter_raw()
        seen = b""
        while b"tool-input-available" not in seen:
            seen += next(pieces)
        assert httpx.post(f"{server.base_url}/api/chat/{CHAT_IDLE}/stop", headers=H).json()["stopped"] is True
        seen += b"".join(pieces)
    tail = [c for c in chunks_of(seen) if c["type"].startswith("tool-output")]
    assert len(tail) == 1 and tail[0]["type"] == "tool-output-error" and tail[0]["errorText"] == "Cancelled"
    assert seen.endswith(DONE)


def test_finished_runs_are_forgotten_beyond_the_bound(server: LiveServer) -> None:
    run_ids = [post(server, "default").headers["x-workflow-run-id"] for _ in range(4)]
    statuses = [httpx.get(f"{server.base_url}/api/chat/runs/{r}", headers=H).status_code for r in run_ids]
    # A run is closed, and the oldest finished runs beyond the bound forgotten, before its stream ends:
    # the two newest are kept.
    assert statuses == [404, 404, 200, 200]


def test_a_forgotten_headless_run_takes_its_session_and_chat_along(server: LiveServer) -> None:
    starts = [httpx.post(server.base_url + "/api/chat/runs", json={"prompt": "x"}, headers=H).json() for _ in range(5)]
    for started in starts:  # watch each to its end
        httpx.get(f"{server.base_url}/api/chat/{started['chatId']}/stream", headers=H)
    status = httpx.get(server.base_url + "/__mock/status").json()
    assert status["sessions"] == 3 + 2 and status["chats"] == 4 + 2  # the world's, plus the two kept runs'
    first = starts[0]
    assert httpx.get(f"{server.base_url}/api/sessions/{first['sessionId']}", headers=H).status_code == 404
    assert httpx.get(f"{server.base_url}/api/chat/runs/{first['runId']}", headers=H).status_code == 404


#: A finished run's time to live in the expiry test, and how long past it the test waits at most.
TTL_S = 1.0
TTL_GRACE_S = 5.0


def test_a_finished_run_expires_at_its_ttl_with_nothing_else_running() -> None:
    with live_server(speed=0, run_ttl_seconds=TTL_S) as server:
        url = server.base_url
        before = httpx.get(url + "/__mock/status").json()  # the fixture world's pinned run is kept too
        began = time.monotonic()
        started = httpx.post(url + "/api/chat/runs", json={"prompt": "go"}, headers=H).json()
        run_url = f"{url}/api/chat/runs/{started['runId']}"
        # At speed 0 the run is over at once, and kept for its time to live ...
        assert httpx.get(run_url, headers=H).json() == {"runId": started["runId"], "status": "completed"}
        assert httpx.get(url + "/__mock/status").json()["runsKept"] == before["runsKept"] + 1
        # ... then forgotten, with no other run finishing to make it happen: poll until it is gone.
        while (answer := httpx.get(run_url, headers=H)).status_code == 200:
            assert time.monotonic() - began < TTL_S + TTL_GRACE_S, f"still served {TTL_GRACE_S} s past its TTL"
            time.sleep(0.05)  # the poll's interval
        gone = time.monotonic()
        assert answer.status_code == 404, answer.text
        assert gone - began >= TTL_S  # not before its time
        # Its own session and chat went with it.
        assert httpx.get(f"{url}/api/sessions/{started['sessionId']}", headers=H).status_code == 404
        after = httpx.get(url + "/__mock/status").json()
        counts = ("runsKept", "sessions", "chats")
        assert [after[k] for k in counts] == [before[k] for k in counts]
