"""Eight real ``ai`` clients at once, each in its own isolated world (``x-mock-world``), one mock.

Every client (``worlds_parallel.mjs``; ai5, ai6 and ai7 round robin) does the same sequence on the same
fixture ids: a ``slow`` turn on the idle chat, a second turn while it streams (409), a resume that
follows the run live, a stop that hits the live run, and a resume once it is over (204). In one shared
world these eight would trip over each other (one 200, seven 409s); in their own worlds each must see
exactly its own outcome. The admin API then shows each world's journal holding that client's requests
and nothing else, and the default world none.

The clients are started together and each prints READY once its SDK is loaded; they are released at
once with a line on stdin, so the eight sequences overlap and a cold start does not eat into the slow
run's 2.4 s. Every step of a client waits on an event (a chunk arrived), never on a timer.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import yaml
from node_support import CLIENT_DIR, require_node_project
from support import CHAT_IDLE, RUN_ID, live_server

from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

ALIASES = ["ai5", "ai6", "ai7"]
SCRIPT = CLIENT_DIR / "worlds_parallel.mjs"
CLIENTS = 8
WORLDS = [f"w-{i}" for i in range(CLIENTS)]
#: Bounds on the harness, not on the server: eight cold Node processes on a loaded 2-core machine.
READY_TIMEOUT = 90.0
RUN_TIMEOUT = 60.0

STREAM = f"/api/chat/{CHAT_IDLE}/stream"
STOP = f"/api/chat/{CHAT_IDLE}/stop"
#: (method, path, status) of every request a client sends, in order.
SEQUENCE = [("POST", "/api/chat", 200), ("POST", "/api/chat", 409), ("GET", STREAM, 200), ("POST", STOP, 200),
            ("GET", STREAM, 204)]


def slow_text() -> str:
    data = yaml.safe_load((DEFAULT_FIXTURES / "scenarios" / "slow.yaml").read_text())
    text = data["steps"][0]["text"]
    return text if isinstance(text, str) else "".join(text)


def output(out: bytes, err: bytes) -> str:
    return f"stdout:\n{out.decode(errors='replace')[-3000:]}\nstderr:\n{err.decode(errors='replace')[-3000:]}"


async def run_client_processes(node: str, base_url: str) -> dict[str, dict[str, Any] | str]:
    """Start one client per world, release them all at once, and collect each one's JSON line (or
    what went wrong, as a string)."""
    procs = {
        world: await asyncio.create_subprocess_exec(
            node, str(SCRIPT), base_url, ALIASES[i % len(ALIASES)], world, "--wait-go", cwd=CLIENT_DIR,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for i, world in enumerate(WORLDS)
    }
    results: dict[str, dict[str, Any] | str] = {}
    try:
        async def ready(proc: asyncio.subprocess.Process) -> bytes:
            assert proc.stdout is not None
            return await proc.stdout.readline()

        try:
            lines = await asyncio.wait_for(asyncio.gather(*(ready(p) for p in procs.values())), READY_TIMEOUT)
        except TimeoutError:
            lines = [b"(no READY within the timeout)"] * len(procs)
        if any(line != b"READY\n" for line in lines):
            for (world, proc), line in zip(procs.items(), lines, strict=True):
                if line != b"READY\n":
                    proc.kill()
                    out, err = await proc.communicate()
                    results[world] = f"not ready: {line!r}\n{output(out, err)}"
            return results

        async def finish(world: str, proc: asyncio.subprocess.Process) -> None:
            try:
                out, err = await asyncio.wait_for(proc.communicate(b"go\n"), RUN_TIMEOUT)
            except TimeoutError:
                proc.kill()
                out, err = await proc.communicate()
                results[world] = f"timed out after {RUN_TIMEOUT} s\n{output(out, err)}"
                return
            found = [line for line in out.decode().splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not found:
                results[world] = f"exited {proc.returncode}\n{output(out, err)}"
            else:
                results[world] = json.loads(found[-1])

        await asyncio.gather(*(finish(world, proc) for world, proc in procs.items()))
        return results
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def observed_requests(result: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(e["method"], e["path"], e["status"]) for e in result["exchanges"]]


def assert_own_outcome(world: str, result: dict[str, Any], full_text: str) -> str:
    """Everything one client saw is its own world's answer to its own sequence. Returns its run id."""
    where = f"{world} ({result['alias']} {result['version']})"
    assert result["crash"] is None, f"{where}: {result['crash']}"
    steps = result["steps"]
    assert observed_requests(result) == SEQUENCE, where
    assert {e["world"] for e in result["exchanges"]} == {world}, f"{where}: the transport sent x-mock-world"

    # 1. The turn streams its own run.
    send = steps["send"]
    assert send["rejected"] is None, where
    assert send["exchange"]["prefer"] == "scenario=slow"
    run_id = send["exchange"]["runId"]
    assert RUN_ID.match(run_id), where
    live = send["result"]
    assert live["errors"] == [], where
    start = live["chunks"][0]
    assert start["type"] == "start", where
    message_id = start["messageId"]
    assert live["message"]["id"] == message_id, where

    # 2. The second turn is this world's 409, naming this world's run, with the documented body.
    busy = steps["busy"]
    assert busy["firstStreamHadText"] is True, where
    assert busy["resolved"] is False, where
    body = json.loads(busy["exchange"]["body"])
    assert set(body) == {"status", "message"}
    assert body["status"] == "error"
    assert f"already streaming for chat {CHAT_IDLE} (run {run_id})" in body["message"], where
    assert body["message"] in busy["rejected"]["message"], where
    if result["alias"] == "ai7":
        assert busy["rejected"]["statusCode"] == 409, where

    # 3. The resume follows the same run: a replay from chunk 0, then live chunks past its tail.
    resume = steps["resume"]
    assert resume["rejected"] is None, where
    assert resume["isNull"] is False, where
    assert resume["exchange"]["runId"] == run_id, where
    assert resume["reachedBeforeStop"] is True, f"{where}: the resume read live chunks before the stop"
    assert resume["tailIndex"] + 1 >= resume["firstStreamChunksThen"], where
    resumed = resume["result"]
    assert resumed["errors"] == [], where
    # The same chunks as the first stream, so the same message: same id, same text, nothing twice.
    assert resumed["chunks"] == live["chunks"], where
    assert resumed["message"] == live["message"], where
    deltas = "".join(c["delta"] for c in resumed["chunks"] if c["type"] == "text-delta")
    assert resumed["text"] == live["text"] == deltas, where

    # 4. The stop hit the live run: both streams ended there, before the scenario's end.
    stop = steps["stop"]
    assert stop["status"] == 200, where
    assert stop["body"] == {"success": True, "stopped": True}, where
    assert stop["resumeChunksThen"] >= resume["tailIndex"] + 1 + 3, where
    assert "finish" not in [c["type"] for c in live["chunks"]], f"{where}: the run was cut by the stop"
    assert live["text"], where
    assert full_text.startswith(live["text"]), where
    assert len(live["text"]) < len(full_text), where

    # 5. Nothing runs any more.
    after = steps["resumeAfterStop"]
    assert after["rejected"] is None, where
    assert after["isNull"] is True, where
    assert after["exchange"]["status"] == 204, where
    return str(run_id)


def test_eight_clients_in_their_own_worlds_each_see_their_own_outcome() -> None:
    node = require_node_project(CLIENT_DIR, *ALIASES)
    full_text = slow_text()
    with live_server(speed=1.0) as server:
        started = time.monotonic()
        results = asyncio.run(run_client_processes(node, server.base_url))
        elapsed = time.monotonic() - started
        broken = {world: r for world, r in results.items() if isinstance(r, str)}
        assert not broken, "\n\n".join(f"node worlds_parallel.mjs ... {w}: {r}" for w, r in broken.items())
        clients = {world: r for world, r in results.items() if isinstance(r, dict)}
        assert sorted(clients) == WORLDS
        assert [clients[w]["alias"] for w in WORLDS] == [ALIASES[i % len(ALIASES)] for i in range(CLIENTS)]

        run_ids = {world: assert_own_outcome(world, clients[world], full_text) for world in WORLDS}

        spans: dict[str, tuple[str, str]] = {}
        with httpx.Client(base_url=server.base_url, timeout=10) as admin:
            # Each world's journal holds exactly its client's requests, with its own run.
            for world in WORLDS:
                journal = admin.get("/__mock/requests", headers={"x-mock-world": world}).json()["requests"]
                assert [(e["method"], e["path"], e["status"]) for e in journal] == observed_requests(clients[world])
                assert {e["runId"] for e in journal} - {None} == {run_ids[world]}, world
                assert journal[0]["scenario"] == "slow", world
                spans[world] = (journal[0]["time"], journal[3]["time"])  # the turn, the stop (ISO, UTC)
                assert {e["account"] for e in journal} == {journal[0]["account"]}, world
                status = admin.get("/__mock/status", headers={"x-mock-world": world}).json()
                assert status["world"] == world
                assert (status["requests"], status["runsLive"], status["readers"]) == (len(SEQUENCE), 0, 0), world
            # The default world saw none of it.
            assert admin.get("/__mock/requests").json()["requests"] == []
            default = admin.get("/__mock/status").json()
            assert (default["world"], default["requests"], default["runsLive"]) == ("default", 0, 0)
            listed = {w["name"]: w for w in admin.get("/__mock/worlds").json()["worlds"]}
            assert set(listed) == {"default", *WORLDS}
            assert all(listed[w]["requests"] == len(SEQUENCE) and listed[w]["runsLive"] == 0 for w in WORLDS)

    # A world's ids depend only on its own requests and the seed: the same sequence gave the same run
    # and message ids in every world, whatever the other seven did meanwhile.
    assert len(set(run_ids.values())) == 1, run_ids
    message_ids = {w: clients[w]["steps"]["send"]["result"]["message"]["id"] for w in WORLDS}
    assert len(set(message_ids.values())) == 1, message_ids
    # Reported, not asserted (wall clock): whether the eight runs were all live at one moment, and
    # when each client stopped its run (ms after the release; the run lasts about 2400 ms).
    overlap = max(spans[w][0] for w in WORLDS) < min(spans[w][1] for w in WORLDS)
    print(f"\n8 clients in {elapsed:.2f} s, all eight runs live at once: {overlap}")
    for w in WORLDS:
        timeline = clients[w]["timeline"]
        print(f"  {w} {clients[w]['alias']}: stop after chunk {clients[w]['steps']['stop']['resumeChunksThen']}"
              f" of the run; " + " ".join(f"{k}={v}" for k, v in timeline.items()))
