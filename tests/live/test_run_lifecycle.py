"""Keep-alive heartbeats, silent stalls, stop during a tool call, and bounded retention of runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import ALICE, CHAT_IDLE, LiveServer, chat_body, chunks_of, live_server, parse_sse

from mockserver.settings import DEFAULT_FIXTURES

H = {"x-api-key": ALICE}
EXTRA_SCENARIOS = {
    "long-wait": "name: long-wait\nsteps:\n  - text: before\n  - text: after\n    delay_ms: 1200\n",
    "silent": "name: silent\nsteps:\n  - text: before\n  - stall: 1200\n  - text: after\n",
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


def test_keep_alive_comments_fill_long_waits(server: LiveServer) -> None:
    events = parse_sse(post(server, "long-wait").content)
    heartbeats = [e for e in events if e.comments == ["keep-alive"]]
    assert 2 <= len(heartbeats) <= 6, f"{len(heartbeats)} heartbeats in a 1.2 s wait at 0.25 s intervals"
    assert all(e.data is None for e in heartbeats)


def test_a_stall_is_total_silence(server: LiveServer) -> None:
    events = parse_sse(post(server, "silent").content)
    assert not any(e.comments for e in events)
    assert [c.get("delta") for c in chunks_of(post(server, "silent").content) if c["type"] == "text-delta"] == [
        "before", "after"]


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
    assert seen.endswith(b"data: [DONE]\n\n")


def test_finished_runs_are_forgotten_beyond_the_bound(server: LiveServer) -> None:
    run_ids = [post(server, "default").headers["x-workflow-run-id"] for _ in range(4)]
    statuses = [httpx.get(f"{server.base_url}/api/chat/runs/{r}", headers=H).status_code for r in run_ids]
    # Kept: at most 2 finished runs, plus the newest, which was still closing when the last one started.
    assert statuses[0] == 404 and statuses[-1] == 200


def test_a_forgotten_headless_run_takes_its_session_and_chat_along(server: LiveServer) -> None:
    starts = [httpx.post(server.base_url + "/api/chat/runs", json={"prompt": "x"}, headers=H).json() for _ in range(5)]
    for started in starts:  # watch each to its end
        httpx.get(f"{server.base_url}/api/chat/{started['chatId']}/stream", headers=H)
    status = httpx.get(server.base_url + "/__mock/status").json()
    assert status["sessions"] <= 3 + 3 and status["chats"] <= 4 + 3  # the world, plus at most the kept runs'
    first = starts[0]
    assert httpx.get(f"{server.base_url}/api/sessions/{first['sessionId']}", headers=H).status_code == 404
    assert httpx.get(f"{server.base_url}/api/chat/runs/{first['runId']}", headers=H).status_code == 404
