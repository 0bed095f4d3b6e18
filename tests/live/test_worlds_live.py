"""Worlds on a live uvicorn: a live run is its own world's only, and the slot race is per world."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
from support import (
    ALICE,
    CHAT_IDLE,
    LiveServer,
    ServerProcess,
    SseParser,
    assert_error,
    chat_body,
    live_server,
    simultaneous_posts,
)

H = {"x-api-key": ALICE}
SLOW = {"prefer": "scenario=slow"}


def w(name: str) -> dict[str, str]:
    return {**H, "x-mock-world": name}


@pytest.fixture
def worlds(paced_server: LiveServer) -> LiveServer:
    httpx.post(paced_server.base_url + "/__mock/reset?all=true").raise_for_status()
    return paced_server


def test_a_live_run_in_one_world_leaves_the_same_chat_idle_in_another(worlds: LiveServer) -> None:
    url = worlds.base_url
    with httpx.stream("POST", url + "/api/chat", json=chat_body(), headers={**w("a"), **SLOW}, timeout=10) as live:
        assert live.status_code == 200
        pieces = live.iter_raw()
        stream = SseParser().read(pieces, chunks=3)  # a's run is playing now
        assert httpx.get(f"{url}/__mock/status", headers={"x-mock-world": "a"}).json()["runsLive"] == 1
        # The same chat, in world b: nothing to resume, and a POST streams instead of 409.
        assert httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=w("b")).status_code == 204
        in_b = httpx.post(url + "/api/chat", json=chat_body(), headers={**w("b"), "prefer": "scenario=default"},
                          timeout=10)
        assert in_b.status_code == 200
        # Each world's first run has the same id (ids depend on the world's own requests only), yet
        # they are two runs: b's is over, a's still plays.
        run_id = live.headers["x-workflow-run-id"]
        assert in_b.headers["x-workflow-run-id"] == run_id
        assert httpx.get(f"{url}/api/chat/runs/{run_id}", headers=w("b")).json()["status"] == "completed"
        assert httpx.get(f"{url}/api/chat/runs/{run_id}", headers=w("a")).json()["status"] == "running"
        # Within a, it is busy.
        assert_error(httpx.post(url + "/api/chat", json=chat_body(), headers=w("a")), 409)
        # A reset of b leaves a's run alone.
        assert httpx.post(f"{url}/__mock/reset", headers={"x-mock-world": "b"}).json()["runsCancelled"] == 0
        stream.read(pieces)
    assert stream.chunks()[-1]["type"] == "finish"


def test_fifty_simultaneous_posts_in_each_of_five_worlds_stream_once_per_world(worlds: LiveServer) -> None:
    async def race() -> list[Counter[int]]:
        return list(await asyncio.gather(*(
            simultaneous_posts(worlds.base_url, 50, chat_body(), {**w(f"race-{i}"), **SLOW}) for i in range(5))))

    assert asyncio.run(race()) == [Counter({200: 1, 409: 49})] * 5
    listed = httpx.get(worlds.base_url + "/__mock/worlds").json()["worlds"]
    assert {x["name"]: x["runsLive"] for x in listed if x["name"].startswith("race-")} == {
        f"race-{i}": 0 for i in range(5)}


@pytest.fixture
def two_worlds() -> Iterator[LiveServer]:
    """The default world and one more."""
    with live_server(speed=1.0, max_worlds=2) as server:
        yield server


def test_a_new_world_past_the_limit_waits_for_a_live_run_to_end(two_worlds: LiveServer) -> None:
    url = two_worlds.base_url
    with httpx.stream("POST", url + "/api/chat", json=chat_body(), headers={**w("a"), **SLOW}, timeout=10) as live:
        pieces = live.iter_raw()
        SseParser().read(pieces, chunks=2)
        refused = httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=w("b"))
        message = assert_error(refused, 503, "limit of 2 worlds")
        assert "--max-worlds" in message and "RECOUP_MOCK_MAX_WORLDS" in message
        assert refused.headers["retry-after"] == "1"
        stop = httpx.post(f"{url}/api/chat/{CHAT_IDLE}/stop", headers=w("a"))
        assert stop.json() == {"success": True, "stopped": True}
        b"".join(pieces)
    # a's run is over and its stream closed: a is idle, so b takes its place.
    assert httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=w("b")).status_code == 204
    assert [x["name"] for x in httpx.get(url + "/__mock/worlds").json()["worlds"]] == ["default", "b"]


def test_the_serve_command_takes_max_worlds_and_logs_the_world() -> None:
    server = ServerProcess("--max-worlds", "3", "--speed", "0", quiet=False)
    try:
        url = server.base_url
        for name in ("a", "b", "c"):  # with the default world: one more than the limit
            assert httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=w(name)).status_code == 204
        listed = httpx.get(url + "/__mock/worlds").json()
        assert listed["limit"] == 3 and [x["name"] for x in listed["worlds"]] == ["default", "b", "c"]
    finally:
        server.stop()
    assert f"GET /api/chat/{CHAT_IDLE}/stream 204" in server.log() and " world=c " in server.log()


#: How long `serve` may take to refuse a setting (it exits before it binds anything).
REFUSAL_BOUND_S = 30


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_refuses_a_world_limit_that_leaves_no_room_for_a_named_world(how: str) -> None:
    # The default world always takes one place: with a limit of 1, every x-mock-world request got 503
    # "Retry" for ever, with nothing running.
    args = ["--max-worlds", "1"] if how == "flag" else []
    env = {**os.environ, **({"RECOUP_MOCK_MAX_WORLDS": "1"} if how == "environment" else {})}
    try:
        done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", *args],
                              env=env, capture_output=True, text=True, timeout=REFUSAL_BOUND_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve with a world limit of 1 ({how}) was still serving after {REFUSAL_BOUND_S} s")
    assert done.returncode == 2, done.stderr
    assert "max_worlds" in done.stderr and "value 1" in done.stderr
    assert "default world" in done.stderr and ">= 2" in done.stderr
    assert "Traceback" not in done.stderr
