"""``GET /__mock/runs/{runId}/scenario``: a run served by a live mock, saved as a scenario into a copy of the
fixtures, passes ``recoup-mock validate`` and, served by name from a second live mock, streams the same
chunks in the same order; at ``--speed 1`` with the pacing its file records. A run whose live connection
dropped, and one that ended in an error chunk, round-trip too. Both servers are real uvicorns on loopback."""

from __future__ import annotations

import itertools
import shutil
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support import ALICE, CHAT_IDLE, PINNED_RUN, SseParser, assert_error, chat_body, chunks_of, live_server

from mockserver.settings import DEFAULT_FIXTURES

SERVED = ("slow", "tool-call", "error-mid-stream")


@dataclass
class Served:
    """A run as a client got it: its chunks with their arrival times, and its scenario file as fetched."""

    run_id: str
    timed: list[tuple[float, dict[str, Any]]]
    response: httpx.Response

    @property
    def doc(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.response.text)
        return loaded


def stream(base_url: str, scenario: str, world: str = "default") -> tuple[str, SseParser]:
    """POST /api/chat with ``Prefer: scenario=NAME``, read to its end: the run id and what arrived."""
    headers = {"x-api-key": ALICE, "prefer": f"scenario={scenario}", "x-mock-world": world}
    with httpx.stream("POST", base_url + "/api/chat", json=chat_body(), headers=headers, timeout=15) as response:
        assert response.status_code == 200, response.read()
        run_id = response.headers["x-workflow-run-id"]
        parser = SseParser().read(response.iter_raw())
    return run_id, parser


def fetch(base_url: str, run_id: str, world: str = "default") -> httpx.Response:
    return httpx.get(f"{base_url}/__mock/runs/{run_id}/scenario", headers={"x-mock-world": world}, timeout=10)


def save(fixtures: Path, response: httpx.Response) -> Path:
    """Where the download names it, as a person would save it."""
    name = response.headers["content-disposition"].removeprefix('attachment; filename="').removesuffix('"')
    path = fixtures / "scenarios" / name
    path.write_text(response.text)
    return path


def validate(fixtures: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver", "validate", "--fixtures", str(fixtures)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("fixtures") / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, copy)
    return copy


@pytest.fixture(scope="module")
def served(fixtures: Path) -> Iterator[dict[str, Served]]:
    """Each of `SERVED` streamed by a mock at --speed 1 (one after another, in one world), then its scenario
    fetched and saved into the fixtures copy."""
    found = {}
    with live_server(speed=1.0) as mock:
        for name in SERVED:
            run_id, parser = stream(mock.base_url, name)
            response = fetch(mock.base_url, run_id)
            found[name] = Served(run_id, parser.timed_chunks(), response)
            save(fixtures, response)
        yield found


@pytest.mark.parametrize("name", SERVED)
def test_the_answer_is_a_scenario_file_that_says_where_it_came_from(served: dict[str, Served], name: str) -> None:
    run = served[name]
    assert run.response.status_code == 200, run.response.text
    assert run.response.headers["content-type"] == "application/yaml"
    doc = run.doc
    assert run.response.headers["content-disposition"] == f'attachment; filename="{doc["name"]}.yaml"'
    assert doc["name"] == f"served-{name}-{run.run_id.removeprefix('wrun_').lower()}"
    for part in ("world 'default'", f"chat {CHAT_IDLE}", f"run {run.run_id}", f"from scenario '{name}'",
                 "2026-", "--speed 1"):
        assert part in doc["description"], (part, doc["description"])
    assert doc["framing"] == "manual"
    assert doc["outcome"] == ("failed" if name == "error-mid-stream" else "completed")
    assert [step["chunk"] for step in doc["steps"]] == [chunk for _, chunk in run.timed]
    assert "violates" not in doc  # what the mock serves keeps every rule


def test_the_saved_scenarios_validate(served: dict[str, Served], fixtures: Path) -> None:
    assert len(list((fixtures / "scenarios").glob("served-*.yaml"))) == len(SERVED)
    checked = validate(fixtures)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_delays_are_the_runs_own_pacing(served: dict[str, Served]) -> None:
    steps = served["slow"].doc["steps"]
    # slow paces its 48 deltas 50 ms apart: the gaps the run measured say so.
    gaps = [s["delay_ms"] for s in steps[1:] if s["chunk"]["type"] == "text-delta" and s["delay_ms"] > 20]
    assert len(gaps) >= 40 and 45 <= statistics.median(gaps) <= 60, gaps
    # tool-call's output waits 200 ms (output_delay_ms) after its input.
    tool = served["tool-call"].doc["steps"]
    output = next(s for s in tool if s["chunk"]["type"] == "tool-output-available")
    assert 190 <= output["delay_ms"] <= 260, output


@pytest.mark.parametrize("name", SERVED)
def test_served_by_name_it_streams_the_same_chunks_at_the_same_pacing(served: dict[str, Served], fixtures: Path,
                                                                      name: str) -> None:
    run = served[name]
    doc = run.doc
    with live_server(speed=1.0, fixtures=fixtures) as mock:
        _, parser = stream(mock.base_url, doc["name"])
    timed = parser.timed_chunks()
    assert [chunk for _, chunk in timed] == [chunk for _, chunk in run.timed]
    # Gaps from the second chunk on: the first one's arrival also waits for the response to start.
    seen = [b[0] - a[0] for a, b in itertools.pairwise(timed)][1:]
    wanted = [step["delay_ms"] / 1000 for step in doc["steps"][2:]]
    big = [(s, w) for s, w in zip(seen, wanted, strict=True) if w > 0.02]
    assert big, wanted
    # Each paced gap as recorded, to a few milliseconds (a 25 ms gap is 10% off at 2.5 ms of scheduling).
    assert statistics.median(abs(s - w) for s, w in big) <= 0.005, big
    assert all(abs(s - w) <= 0.25 * w + 0.01 for s, w in big), big
    assert timed[-1][0] - timed[1][0] == pytest.approx(sum(wanted), rel=0.1, abs=0.02)


def test_a_run_whose_connection_dropped_round_trips(fixtures: Path) -> None:
    with live_server(speed=1.0) as mock:
        parser = SseParser()
        headers = {"x-api-key": ALICE, "prefer": "scenario=disconnect"}
        with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
                "POST", mock.base_url + "/api/chat", json=chat_body(), headers=headers, timeout=15) as response:
            run_id = response.headers["x-workflow-run-id"]
            parser.read(response.iter_raw())
        cut = parser.chunks()
        # The run goes on after the drop: a resume reads it to its end, then the scenario is there.
        resumed = httpx.get(f"{mock.base_url}/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": ALICE},
                            timeout=15)
        assert resumed.status_code == 200
        whole = chunks_of(resumed.content)
        response = fetch(mock.base_url, run_id)
    assert response.status_code == 200, response.text
    doc = yaml.safe_load(response.text)
    kinds = ["disconnect" if "disconnect" in s else s["chunk"]["type"] for s in doc["steps"]]
    assert kinds.index("disconnect") == len(cut)  # where the live connection dropped
    assert [s["chunk"] for s in doc["steps"] if "chunk" in s] == whole
    save(fixtures, response)
    checked = validate(fixtures)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # At --speed 1, as served: the recorded second's wait after the drop is the resume's window again.
    with live_server(speed=1.0, fixtures=fixtures) as mock:
        again = SseParser()
        headers = {"x-api-key": ALICE, "prefer": f"scenario={doc['name']}"}
        with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
                "POST", mock.base_url + "/api/chat", json=chat_body(), headers=headers, timeout=15) as response:
            again.read(response.iter_raw())
        assert again.chunks() == cut  # the same drop at the same place
        resumed = httpx.get(f"{mock.base_url}/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": ALICE},
                            timeout=15)
        assert chunks_of(resumed.content) == whole


def test_an_unknown_a_pinned_and_a_live_run_are_refused_clearly() -> None:
    with live_server(speed=1.0) as mock:
        assert_error(fetch(mock.base_url, "wrun_nope"), 404, "No run 'wrun_nope' in world 'default'")
        assert_error(fetch(mock.base_url, PINNED_RUN), 409, "pinned run")
        started = threading.Event()
        run_ids: list[str] = []

        def slow() -> None:
            headers = {"x-api-key": ALICE, "prefer": "scenario=slow"}
            with httpx.stream("POST", mock.base_url + "/api/chat", json=chat_body(), headers=headers,
                              timeout=15) as response:
                run_ids.append(response.headers["x-workflow-run-id"])
                started.set()
                response.read()

        reader = threading.Thread(target=slow, daemon=True)
        reader.start()
        assert started.wait(10)
        assert_error(fetch(mock.base_url, run_ids[0]), 409, "still running")
        reader.join(15)
        assert not reader.is_alive()
        assert fetch(mock.base_url, run_ids[0]).status_code == 200
