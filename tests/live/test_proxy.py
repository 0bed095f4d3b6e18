"""``recoup-mock proxy`` in front of a second recoup-mock: streams and errors pass through byte for byte,
each is recorded as a scenario, the recordings validate, and they replay with the same chunks (``slow``
with its pacing). Both servers are real uvicorns on loopback; direct and proxied requests go to fresh
worlds of the target (``x-mock-world``), whose first run is the same bytes in any world."""

from __future__ import annotations

import itertools
import random
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from support import ALICE, CHAT_IDLE, LiveServer, SseParser, chat_body, chunks_of, live_server

from mockserver.cli import main
from mockserver.proxy.admin import ProxySettings, ProxyState
from mockserver.proxy.server import Proxy
from mockserver.serving import ServedApp
from mockserver.streams.engine import schedule
from mockserver.streams.scenarios import load_scenarios

SCENARIOS = ("slow", "tool-call", "rich-parts", "split-frames", "http-429")
#: Differ between any two answers (the time), or are the proxy's own.
UNCOMPARED = {b"date", b"x-mock-violations"}
#: The proxy's own line on a finite answer, so that a page on another origin can read the count.
EXPOSE_COUNT = (b"access-control-expose-headers", b"x-mock-violations")


@dataclass
class Proxied:
    state: ProxyState
    base_url: str
    upstream: LiveServer
    directory: Path


@dataclass
class Pair:
    direct: httpx.Response
    proxied: httpx.Response


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    directory = tmp_path_factory.mktemp("recorded")
    with live_server(speed=1.0) as upstream:
        state = ProxyState(ProxySettings(target=upstream.base_url, record=directory))
        assert state.recorder is not None
        state.recorder.prepare()
        with ServedApp(Proxy(state), date_header=False) as proxy:
            yield Proxied(state, proxy.base_url, upstream, directory)


def post(base_url: str, scenario: str, world: str) -> httpx.Response:
    headers = {"x-api-key": ALICE, "prefer": f"scenario={scenario}", "x-mock-world": world}
    return httpx.post(base_url + "/api/chat", json=chat_body(), headers=headers, timeout=15)


def wait_for_recordings(state: ProxyState, count: int) -> list[str]:
    """The recordings the journal names, once ``count`` are written (they are written after the answer ends)."""
    for _ in range(500):  # bounded: 5 s
        names = [e.scenario for e in state.journal.entries if e.scenario]
        if len(names) >= count:
            return names
        time.sleep(0.01)
    raise AssertionError(f"only {names} of {count} recordings were written")


@pytest.fixture(scope="module")
def passed(proxied: Proxied) -> dict[str, Pair]:
    """Each scenario straight from the target and through the proxy, all at once (each in a fresh world)."""
    jobs = [(base, name, f"{kind}-{name}") for name in SCENARIOS
            for kind, base in (("direct", proxied.upstream.base_url), ("proxied", proxied.base_url))]
    with ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(lambda job: post(*job), jobs))
    wait_for_recordings(proxied.state, len(SCENARIOS))
    return {name: Pair(answers[2 * i], answers[2 * i + 1]) for i, name in enumerate(SCENARIOS)}


def recordings(proxied: Proxied) -> dict[str, Any]:
    return {path.stem: yaml.safe_load(path.read_text()) for path in (proxied.directory / "scenarios").glob("rec*.yaml")}


def recording_of(proxied: Proxied, pair: Pair) -> dict[str, Any]:
    """The recording whose chunks (or answer) are the direct answer's."""
    for doc in recordings(proxied).values():
        if "response" in doc and doc["response"]["status"] == pair.direct.status_code:
            return doc
        if "steps" in doc and [s["chunk"] for s in doc["steps"] if "chunk" in s] == chunks_of(pair.direct.content):
            return doc
    raise AssertionError("no recording of this answer")


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_answer_passes_through_byte_identical(passed: dict[str, Pair], name: str) -> None:
    direct, proxied = passed[name].direct, passed[name].proxied
    assert proxied.status_code == direct.status_code
    assert proxied.content == direct.content and direct.content
    assert [h for h in proxied.headers.raw if h[0] not in UNCOMPARED and h != EXPOSE_COUNT] == \
           [h for h in direct.headers.raw if h[0] not in UNCOMPARED]
    stream = direct.headers["content-type"] == "text/event-stream"
    assert ("content-length" in proxied.headers) is not stream
    assert proxied.headers.get("x-mock-violations") == (None if stream else "0")
    assert (EXPOSE_COUNT in proxied.headers.raw) is not stream


def test_each_answer_is_recorded_once_and_the_recordings_validate(passed: dict[str, Pair], proxied: Proxied,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    found = recordings(proxied)
    assert len(found) == len(SCENARIOS)
    assert all(name.startswith("recorded-") and name.endswith("-post-api-chat") for name in found)
    assert all("violates" not in doc for doc in found.values())  # the target keeps every rule
    limited = recording_of(proxied, passed["http-429"])
    assert limited["response"] == {"status": 429, "headers": {"Retry-After": "2"},
                                   "message": "Rate limit exceeded; retry after 2 seconds"}
    text = "".join(p.read_text() for p in (proxied.directory / "scenarios").glob("recorded-*.yaml"))
    assert ALICE not in text and "Recorded by `recoup-mock proxy` from POST http://127.0.0.1:" in text
    assert (proxied.directory / "world.yaml").is_file()
    assert main(["validate", "--fixtures", str(proxied.directory)]) == 0, capsys.readouterr().err


def test_the_recordings_replay_the_same_chunks(passed: dict[str, Pair], proxied: Proxied) -> None:
    names = {id(recording_of(proxied, pair)): name for name, pair in passed.items()}
    assert len(names) == len(SCENARIOS)  # one recording each
    with live_server(speed=0.0, fixtures=proxied.directory) as mock:
        for name, pair in passed.items():
            recorded = recording_of(proxied, pair)["name"]
            replayed = post(mock.base_url, recorded, f"replay-{name}")
            assert replayed.status_code == pair.direct.status_code, name
            # The same frames and [DONE]: only the replaying run's id (a header) is its own.
            assert replayed.content == pair.direct.content or name == "http-429", name
            if name == "http-429":
                assert replayed.json() == pair.direct.json() and replayed.headers["retry-after"] == "2"


def test_slow_is_recorded_with_its_pacing_and_replays_with_it(passed: dict[str, Pair], proxied: Proxied) -> None:
    doc = recording_of(proxied, passed["slow"])
    delays = [step["delay_ms"] for step in doc["steps"]]
    kinds = [step["chunk"]["type"] for step in doc["steps"]]
    # The target paces slow's 48 deltas 50 ms apart: the measured gaps say so.
    gaps = [d for d, kind in zip(delays[1:], kinds[1:], strict=True) if kind == "text-delta" and d > 20]
    assert len(gaps) >= 40 and 45 <= statistics.median(gaps) <= 55, gaps
    # The replay's schedule is exactly the measured one, first byte included.
    scenario = load_scenarios(proxied.directory / "scenarios")[doc["name"]]
    due = schedule(scenario, random.Random(0), 1.0)
    assert due[0] == pytest.approx(delays[0] / 1000)
    assert [b - a for a, b in itertools.pairwise(due)] == pytest.approx([d / 1000 for d in delays[1:]], abs=1e-9)
    # And on the wire, at --speed 1 (the per-gap 10% comparison is in the bench: `bench/run.py --only proxy`).
    with live_server(speed=1.0, fixtures=proxied.directory) as mock, httpx.stream(
            "POST", mock.base_url + "/api/chat", json=chat_body(), timeout=15,
            headers={"x-api-key": ALICE, "prefer": f"scenario={doc['name']}"}) as response:
        timed = SseParser().read(response.iter_raw()).timed_chunks()
    seen = [b[0] - a[0] for a, b in itertools.pairwise(timed)]
    wanted = [d / 1000 for d in delays[1:]]
    big = [(s, w) for s, w in zip(seen, wanted, strict=True) if w > 0.02]
    assert statistics.median(abs(s - w) / w for s, w in big) <= 0.1, big
    assert timed[-1][0] - timed[0][0] == pytest.approx(sum(wanted), rel=0.1)


def test_a_dropped_stream_drops_the_client_and_is_recorded_so(proxied: Proxied) -> None:
    before = len([e for e in proxied.state.journal.entries if e.scenario])
    with pytest.raises(httpx.RemoteProtocolError):
        post(proxied.upstream.base_url, "disconnect", "direct-disconnect")
    with pytest.raises(httpx.RemoteProtocolError):
        post(proxied.base_url, "disconnect", "proxied-disconnect")
    name = wait_for_recordings(proxied.state, before + 1)[-1]
    doc = yaml.safe_load((proxied.directory / "scenarios" / f"{name}.yaml").read_text())
    assert doc["steps"][-1]["disconnect"] is True
    assert doc["violates"] == ["order"]  # no finish: the recording says so, and validates
    assert main(["validate", "--fixtures", str(proxied.directory)]) == 0


def test_a_resume_and_a_204_pass_through(proxied: Proxied) -> None:
    headers = {"x-api-key": ALICE, "x-mock-world": "resume"}
    idle = httpx.get(f"{proxied.base_url}/api/chat/{CHAT_IDLE}/stream", headers=headers, timeout=10)
    assert idle.status_code == 204 and idle.content == b"" and idle.headers["x-mock-violations"] == "0"
    entry = proxied.state.journal.entries[-1]
    assert (entry.method, entry.status, entry.violations, entry.account) == ("GET", 204, [], "recoup_sk_…lice")
