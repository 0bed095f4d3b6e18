"""Seeded chaos (``serve --chaos RATE``) on a live uvicorn: a share of chat requests get a fault scenario, the
same ones for the same seed and requests, each replayable by the name its journal entry gives."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ALICE, CHAT_IDLE, chat_body, inspector_events, live_server

from mockserver import Settings
from mockserver.settings import DEFAULT_FIXTURES
from mockserver.state.chaos import chaos_names
from mockserver.streams.scenarios import load_scenarios

H = {"x-api-key": ALICE}
#: The fault scenarios of the bundled fixtures, by the rule of `mockserver.state.chaos`.
FAULTS = ["abort", "disconnect", "error-mid-stream", "http-429", "http-500", "http-502", "http-503", "malformed",
          "split-frames", "stall"]
#: Those that still stream (a run is started, with the ids a default run takes).
STREAM_FAULTS = "abort,disconnect,error-mid-stream,malformed,split-frames,stall"

#: What a client met: status, body bytes, run id.
Outcome = tuple[int, bytes, str | None]


def soak(url: str, count: int, prefer: dict[int, str] | None = None) -> list[Outcome]:
    """``count`` chat turns on the idle chat, one after the other: each one's status, body and run id.
    ``prefer`` names a scenario for some of them (by index), sent as ``Prefer: scenario=NAME``."""
    outcomes: list[Outcome] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for index in range(count):
            headers = dict(H)
            if prefer and index in prefer:
                headers["prefer"] = f"scenario={prefer[index]}"
            outcomes.append(turn(client, chat_body(text=f"turn {index}"), headers))
    return outcomes


def turn(client: httpx.Client, body: dict[str, Any], headers: dict[str, str]) -> Outcome:
    """One chat turn as a client meets it: the status, every byte that came (a dropped connection's
    too, then marked), and the run id."""
    received = b""
    with client.stream("POST", "/api/chat", json=body, headers=headers) as response:
        try:
            for piece in response.iter_raw():
                received += piece
        except httpx.RemoteProtocolError:
            received += b"<connection dropped>"
        return response.status_code, received, response.headers.get("x-workflow-run-id")


def journal(url: str) -> list[dict[str, Any]]:
    """The journal's chat turns (``POST /api/chat``), oldest first."""
    query = {"method": "POST", "path": "/api/chat"}
    entries: list[dict[str, Any]] = httpx.get(url + "/__mock/requests", params=query).json()["requests"]
    return entries


def reset(url: str) -> None:
    httpx.post(url + "/__mock/reset").raise_for_status()


def test_the_fault_rule_picks_the_bundled_faults_and_nothing_else() -> None:
    assert list(chaos_names(load_scenarios(DEFAULT_FIXTURES / "scenarios"), None)) == FAULTS


def test_the_same_seed_and_requests_after_a_reset_give_the_same_faults_byte_for_byte() -> None:
    with live_server(speed=0, seed=7, chaos=0.5) as server:
        first = soak(server.base_url, 40)
        first_journal = journal(server.base_url)
        reset(server.base_url)
        second = soak(server.base_url, 40)
        second_journal = journal(server.base_url)
    assert first == second
    names = [(e["scenario"], e["chaos"]) for e in first_journal]
    assert names == [(e["scenario"], e["chaos"]) for e in second_journal]
    faulted = [name for name, chaos in names if chaos]
    assert faulted and len(faulted) < 40 and set(faulted) <= set(FAULTS)
    # Not every request was the default: some failed over HTTP, some streamed a fault.
    assert {status for status, _, _ in first} > {200}
    # Another seed, other faults.
    with live_server(speed=0, seed=8, chaos=0.5) as server:
        other = soak(server.base_url, 40)
    assert other != first


def test_roughly_the_asked_share_of_requests_is_faulted() -> None:
    count, rate = 200, 0.3
    with live_server(speed=0, seed=3, chaos=rate) as server:
        soak(server.base_url, count)
        entries = journal(server.base_url)
        status = httpx.get(server.base_url + "/__mock/status").json()
    assert len(entries) == count and status["chaos"] == rate
    faulted = sum(e["chaos"] for e in entries)
    spread = 4 * math.sqrt(count * rate * (1 - rate))  # four standard deviations of the binomial
    assert abs(faulted - count * rate) <= spread, faulted
    # The unfaulted ones got the default; the faulted ones a fault, named.
    assert {e["scenario"] for e in entries if not e["chaos"]} == {"default"}
    assert {e["scenario"] for e in entries if e["chaos"]} <= set(FAULTS)


def test_each_faulted_request_replays_byte_for_byte_by_its_name_in_a_fresh_server() -> None:
    count = 30
    with live_server(speed=0, seed=11, chaos=0.4) as server:
        chaotic = soak(server.base_url, count)
        entries = journal(server.base_url)
    picked = {index: e["scenario"] for index, e in enumerate(entries) if e["chaos"]}
    assert len(picked) >= 5
    # A fresh server without chaos, the same requests, the faulted ones named: the same answers, byte for byte
    # (ids included: chaos draws nothing from the store's ids).
    with live_server(speed=0, seed=11) as fresh:
        replayed = soak(fresh.base_url, count, prefer=picked)
        again = journal(fresh.base_url)
    assert replayed == chaotic
    assert [e["scenario"] for e in again] == [e["scenario"] for e in entries]
    assert not any(e["chaos"] for e in again)


def test_chaos_changes_no_id_a_later_request_gets() -> None:
    def ids(**chaos: Any) -> tuple[list[str | None], str, list[str]]:
        with live_server(speed=0, seed=5, **chaos) as server:
            url = server.base_url
            outcomes = soak(url, 20)
            session = httpx.post(url + "/api/sessions", json={}, headers=H).json()
            messages = httpx.get(f"{url}/api/chats/{CHAT_IDLE}/messages", headers=H)
            faulted = sum(e["chaos"] for e in journal(url))
        assert faulted >= (5 if chaos else 0)
        assert messages.status_code == 200
        message_ids = [m["id"] for m in messages.json()["data"]]
        return [run for _, _, run in outcomes], json.dumps(session, sort_keys=True), message_ids

    # Stream faults only: each request still starts a run, so the ids must be the same run for run.
    assert ids(chaos=0.6, chaos_scenarios=STREAM_FAULTS) == ids()


def test_an_explicit_or_queued_scenario_wins_over_chaos_and_keeps_the_others_in_place() -> None:
    with live_server(speed=0, seed=2, chaos=1.0) as server:
        url = server.base_url
        plain = [e["scenario"] for e in (soak(url, 6), journal(url))[1]]
        reset(url)
        httpx.post(url + "/__mock/scenarios/next", json={"name": "tool-call"}).raise_for_status()
        soak(url, 6, prefer={2: "reasoning"})
        entries = journal(url)
    got = [(e["scenario"], e["chaos"]) for e in entries]
    assert got[0] == ("tool-call", False) and got[2] == ("reasoning", False)
    # The others keep the faults they had without the explicit ones (each request has its place).
    assert [got[i] for i in (1, 3, 4, 5)] == [(plain[i], True) for i in (1, 3, 4, 5)]


def test_chaos_scenarios_narrows_the_set_and_a_world_sets_its_own_rate() -> None:
    with live_server(speed=0, seed=1, chaos=1.0, chaos_scenarios="http-429,abort") as server:
        url = server.base_url
        soak(url, 30)
        picked = {e["scenario"] for e in journal(url)}
        assert picked == {"http-429", "abort"}
        # A resume draws only the set's http faults.
        resumed = httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=H)
        assert resumed.status_code == 429
        entry = httpx.get(url + "/__mock/requests", params={"path": "/stream"}).json()["requests"][-1]
        assert entry["scenario"] == "http-429" and entry["chaos"] is True
        # A world of its own with no chaos; the status says each world's rate.
        configured = httpx.post(url + "/__mock/worlds/calm", json={"chaos": 0}).json()
        assert configured["chaos"] == 0
        world = {**H, "x-mock-world": "calm"}
        assert all(httpx.post(url + "/api/chat", json=chat_body(), headers=world).status_code == 200
                   for _ in range(5))
        assert httpx.get(url + "/__mock/status", headers={"x-mock-world": "calm"}).json()["chaos"] == 0
        assert httpx.get(url + "/__mock/status").json()["chaos"] == 1.0
        bad = httpx.post(url + "/__mock/worlds/wild", json={"chaos": 2})
        assert bad.status_code == 400 and "chaos" in bad.text



def test_the_inspector_is_told_of_chaos_picks_and_of_queued_scenarios_taken() -> None:
    with live_server(speed=0, seed=2, chaos=1.0) as server, httpx.Client(timeout=10) as client:
        url = server.base_url
        with client.stream("GET", url + "/__mock/events") as watching:
            pushed = inspector_events(watching.iter_raw())
            client.post(url + "/__mock/scenarios/next", json={"name": "reasoning"}).raise_for_status()
            client.post(url + "/api/chat", json=chat_body(), headers=H)
            queued = next(e for e in pushed if e["type"] in {"queued", "chaos"})
            assert queued == {"type": "queued", "world": "default", "seq": queued["seq"], "scenario": "reasoning",
                              "operation": "postChat"}
            client.post(url + "/api/chat", json=chat_body(), headers=H)
            chaos = next(e for e in pushed if e["type"] in {"queued", "chaos"})
        entry = journal(url)[-1]
    assert chaos["type"] == "chaos" and chaos["scenario"] == entry["scenario"] and chaos["seq"] == entry["seq"]
    assert chaos["draw"] == 2 and chaos["rate"] == 1.0 and chaos["operation"] == "postChat"


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", *args], capture_output=True,
                          text=True, timeout=30, env={**os.environ, **(env or {})})


@pytest.mark.parametrize(("args", "env", "said"), [
    (["--chaos", "2"], None, "Setting 'chaos' has value 2.0; expected a number from 0 to 1"),
    ([], {"RECOUP_MOCK_CHAOS": "-0.1"}, "Setting 'chaos' has value -0.1; expected a number from 0 to 1"),
    (["--chaos", "nan"], None, "Setting 'chaos' has value nan"),
    (["--chaos", "0.5", "--chaos-scenarios", "http-429,nope"], None,
     "--chaos-scenarios names 'nope', which is not a loaded scenario; the fault scenarios are: " + ", ".join(FAULTS)),
    (["--chaos-scenarios", "slow"], None, "--chaos-scenarios names 'slow', which is not a fault"),
    ([], {"RECOUP_MOCK_CHAOS_SCENARIOS": " , "}, "expected a comma-separated list of fault scenarios"),
])
def test_bad_chaos_values_are_refused_at_start_up(args: list[str], env: dict[str, str] | None, said: str) -> None:
    done = serve(*args, env=env)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_environment_sets_chaos_like_every_flag_and_serve_help_says_it() -> None:
    settings = Settings.from_env({"RECOUP_MOCK_CHAOS": "0.25", "RECOUP_MOCK_CHAOS_SCENARIOS": "abort,http-429"})
    assert (settings.chaos, settings.chaos_scenarios) == (0.25, "abort,http-429")
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert "--chaos RATE" in done.stdout and "--chaos-scenarios" in done.stdout


def test_a_faulted_run_is_saved_as_a_scenario_that_replays_its_chunks() -> None:
    with live_server(speed=0, seed=4, chaos=1.0, chaos_scenarios="error-mid-stream") as server:
        url = server.base_url
        status, body, run_id = soak(url, 1)[0]
        entry = journal(url)[0]
        saved = httpx.get(f"{url}/__mock/runs/{run_id}/scenario")
    assert status == 200 and entry == {**entry, "scenario": "error-mid-stream", "chaos": True, "runId": run_id}
    assert saved.status_code == 200 and "name: served-error-mid-stream-" in saved.text
    assert b'"type":"error"' in body and "The model provider returned an error" in saved.text


def test_each_world_has_its_own_chaos_sequence() -> None:
    def picks(url: str, world: str) -> list[tuple[str, bool]]:
        found = httpx.get(url + "/__mock/requests", params={"method": "POST", "path": "/api/chat"},
                          headers={"x-mock-world": world}).json()["requests"]
        return [(e["scenario"], e["chaos"]) for e in found]

    with live_server(speed=0, seed=9, chaos=0.5) as server, httpx.Client(base_url=server.base_url, timeout=10) as c:
        for index in range(12):
            turn(c, chat_body(text=f"a {index}"), {**H, "x-mock-world": "a"})
        alone = picks(server.base_url, "a")
        httpx.post(server.base_url + "/__mock/reset", headers={"x-mock-world": "a"}).raise_for_status()
        for index in range(12):  # the same requests to a, with b's between them
            turn(c, chat_body(text=f"a {index}"), {**H, "x-mock-world": "a"})
            turn(c, chat_body(text=f"b {index}"), {**H, "x-mock-world": "b"})
        interleaved = picks(server.base_url, "a")
    assert interleaved == alone and any(chaos for _, chaos in alone)


MY_FAULT = """name: my-fault
description: A fault of our own, known by its content.
steps:
  - text: "Half an answer"
  - error: "Our own failure"
"""


def test_a_fault_scenario_added_under_watch_counts_and_a_narrowed_one_cannot_be_removed(tmp_path: Path) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)

    def reloaded(server_url: str, before: int) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # each poll a real request, bounded
            now: dict[str, Any] = httpx.get(server_url + "/__mock/status").json()
            if now["reloads"] != before or now["reloadError"]:
                return now
        pytest.fail("no reload within 10 s")

    with live_server(speed=0, chaos=1.0, watch=True, fixtures=fixtures) as server:
        url = server.base_url
        assert httpx.get(url + "/__mock/status").json()["chaosScenarios"] == FAULTS
        (fixtures / "scenarios" / "my-fault.yaml").write_text(MY_FAULT)
        assert reloaded(url, 0)["chaosScenarios"] == sorted([*FAULTS, "my-fault"])
    with live_server(speed=0, chaos=1.0, chaos_scenarios="stall", watch=True, fixtures=fixtures) as server:
        url = server.base_url
        (fixtures / "scenarios" / "stall.yaml").unlink()
        refused = reloaded(url, 0)
        assert "--chaos-scenarios names 'stall', which is not a loaded scenario" in str(refused["reloadError"])
        assert refused["chaosScenarios"] == ["stall"]  # the last good set is still served
        assert httpx.post(url + "/api/chat", json=chat_body(), headers=H).status_code == 200
        assert journal(url)[-1]["scenario"] == "stall"
