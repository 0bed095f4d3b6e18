"""The access log of ``recoup-mock serve``, read from the served process's own stderr: the line users
read (prefix, fields, outcome), one line per request with none lost at shutdown, promptly written
without more traffic, none under ``--quiet``, and a scripted drop told in one line, never a traceback."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
from support import ALICE, CHAT_IDLE, chat_body

from mockserver.auth import mask

H = {"x-api-key": ALICE}
KEY = mask(ALICE)
#: The prefix `logging.basicConfig(format="%(asctime)s %(levelname)s %(message)s")` gives a line.
PREFIX = re.compile(r"^(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO (?P<message>.*)$")
#: A request's time as the line gives it.
MS = r"\d+\.\dms"
#: How long the served process may take to start, to stop, or to show a line (a loaded machine; the
#: log's own flush interval is far shorter).
START_S = 30
STOP_S = 15
PROMPT_S = 2.0
TRACEBACK_MARKERS = ("Traceback", "Exception in ASGI application", "DropConnection")
T = TypeVar("T")


class Served:
    """``python -m mockserver serve --port 0 ARGS`` with its stdout and stderr in files of their own; the
    port is read from uvicorn's start-up line (so no request is made to learn it is up)."""

    def __init__(self, *args: str) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="recoup-mock-log-")
        self.stdout_path, self.stderr_path = Path(self._dir.name, "stdout"), Path(self._dir.name, "stderr")
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0", *args],
                                            stdout=out, stderr=err)
        found = self.wait_for(lambda: re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", self.stderr()),
                              START_S, "uvicorn's start-up line")
        self.base_url = f"http://127.0.0.1:{found.group(1)}"

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def access_lines(self) -> list[str]:
        """The messages of the access-log lines on stderr so far (uvicorn's own lines have another prefix)."""
        return [m["message"] for m in map(PREFIX.match, self.stderr().splitlines()) if m]

    def wait_for(self, found: Callable[[], T | None], within: float, what: str) -> T:
        deadline = time.monotonic() + within
        while (result := found()) is None or result is False:
            if self.process.poll() is not None and what.startswith("uvicorn"):
                pytest.fail(f"serve exited with {self.process.returncode}: {self.stderr()}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {within:g} s; stderr:\n{self.stderr()}")
            time.sleep(0.01)
        return result

    def stop(self, how: signal.Signals = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(how)
            try:
                self.process.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                pytest.fail(f"serve did not stop within {STOP_S} s of {how.name}")
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._dir.cleanup()


@pytest.fixture
def serve() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str) -> Served:
        started.append(Served(*args))
        return started[-1]

    yield start
    for served in started:
        served.close()


def dropped_stream(base_url: str) -> str:
    """Queue the ``disconnect`` scenario and read its stream until the server cuts it; the run's id."""
    httpx.post(f"{base_url}/__mock/scenarios/next", json={"name": "disconnect"}).raise_for_status()
    with httpx.stream("POST", f"{base_url}/api/chat", json=chat_body(), headers=H) as response:
        assert response.status_code == 200
        run_id = response.headers["x-workflow-run-id"]
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    return run_id


def assert_no_traceback(served: Served) -> None:
    err = served.stderr()
    assert not [marker for marker in TRACEBACK_MARKERS if marker in err], err


def test_the_line_keeps_its_prefix_fields_and_outcome_on_stderr(serve: Callable[..., Served]) -> None:
    served = serve("--speed", "0")
    began = datetime.now().replace(microsecond=0)
    run = httpx.post(f"{served.base_url}/api/chat/runs", json={"prompt": "go"}, headers=H)
    missing = httpx.get(f"{served.base_url}/no/such/path", headers=H)
    in_world = httpx.post(f"{served.base_url}/api/chat/runs", json={"prompt": "go"},
                          headers={**H, "x-mock-world": "w1"})
    assert (run.status_code, missing.status_code, in_world.status_code) == (202, 404, 202)
    dropped = dropped_stream(served.base_url)
    assert served.stop() in (0, 130)
    ended = datetime.now()

    expected = [
        rf"POST /api/chat/runs 202 {MS} scenario=default run={run.json()['runId']} key={KEY}",
        rf"GET /no/such/path 404 {MS}",
        rf"POST /api/chat/runs 202 {MS} world=w1 scenario=default run={in_world.json()['runId']} key={KEY}",
        rf"POST /__mock/scenarios/next 200 {MS}",
        rf"POST /api/chat 200 {MS} scenario=disconnect run={dropped} key={KEY} \(connection dropped by the scenario\)",
    ]
    lines = served.access_lines()
    assert len(lines) == len(expected), served.stderr()
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    # The stamp is the local time the request ended, in the order they were made.
    stamps = [datetime.strptime(m["stamp"], "%Y-%m-%d %H:%M:%S,%f")
              for m in map(PREFIX.match, served.stderr().splitlines()) if m]
    assert stamps == sorted(stamps) and began <= stamps[0] and stamps[-1] <= ended
    assert "INFO:     Uvicorn running on" in served.stderr()  # uvicorn's own lines stay as they are
    assert served.stdout() == ""
    assert_no_traceback(served)


def test_a_scripted_drop_is_one_line_and_never_a_traceback(serve: Callable[..., Served]) -> None:
    served = serve("--speed", "0")
    runs = [dropped_stream(served.base_url) for _ in range(3)]
    served.stop()
    told = [line for line in served.access_lines() if "dropped" in line]
    assert [line.split(" run=")[1].split()[0] for line in told] == runs
    assert all(line.endswith(" (connection dropped by the scenario)") for line in told)
    assert_no_traceback(served)


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_no_line_is_lost_at_shutdown(serve: Callable[..., Served], how: signal.Signals) -> None:
    served = serve()
    count = 300
    with httpx.Client(base_url=served.base_url, headers=H) as client:
        for _ in range(count):
            assert client.get(f"/api/chat/{CHAT_IDLE}/stream").status_code == 204
        # A stream still open at shutdown (its reader kept: dropping the iterator would close it): the
        # server cuts it once its grace period is over, its line the last thing it logs.
        client.post("/__mock/scenarios/next", json={"name": "stall"}).raise_for_status()
        with client.stream("POST", "/api/chat", json=chat_body()) as stalled:
            reading = stalled.iter_raw()
            next(reading)
            served.stop(how)  # at once: the last lines were answered just now
            with pytest.raises(httpx.RemoteProtocolError):  # cut, not ended: no [DONE]
                for _ in reading:
                    pass
    lines = served.access_lines()
    assert len(lines) == count + 2, f"{len(lines)} lines for {count + 2} requests"
    assert {re.sub(MS, "T", line) for line in lines[:count]} == {f"GET /api/chat/{CHAT_IDLE}/stream 204 T key={KEY}"}
    # The client stayed: its line says the server cut the stream, not that the client went away.
    assert re.fullmatch(rf"POST /api/chat 200 {MS} scenario=stall run=\S+ key={KEY} \(cut short: the server "
                        rf"stopped\)", lines[-1])
    assert_no_traceback(served)


def test_a_line_is_written_promptly_without_more_traffic(serve: Callable[..., Served]) -> None:
    served = serve()
    assert httpx.get(f"{served.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
    (line,) = served.wait_for(lambda: served.access_lines() or None, PROMPT_S, "access line")
    assert re.fullmatch(rf"GET /api/chat/{CHAT_IDLE}/stream 204 {MS} key={KEY}", line)


def test_quiet_writes_no_line(serve: Callable[..., Served]) -> None:
    served = serve("--speed", "0", "--quiet")
    assert httpx.get(f"{served.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
    assert httpx.post(f"{served.base_url}/api/chat/runs", json={"prompt": "go"}, headers=H).status_code == 202
    dropped_stream(served.base_url)
    served.stop()
    assert served.access_lines() == []
    assert "INFO:     Uvicorn running on" in served.stderr()
    assert_no_traceback(served)
