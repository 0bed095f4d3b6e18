"""The access log's writers: the one message, the logger path an embedding process keeps (caplog sees
it), and the batched writer `serve` installs (the same line as logging's, one write per batch, on a
timer, when large, before any other log line, and at close)."""

from __future__ import annotations

import io
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from unittest import mock

import pytest
from starlette.testclient import TestClient
from support import ALICE, CHAT_IDLE

from mockserver import Settings, accesslog, create_app
from mockserver.accesslog import LOG_FORMAT, LOGGER, AccessLog, BatchedAccessLog, message
from mockserver.auth import mask

#: Long enough that the timer never fires within a test that is about something else.
NEVER_S = 3600.0
#: A bound for a line the writer's own thread must write (its timer is far shorter).
WITHIN_S = 2.0
FIELDS = ("POST", "/api/chat/runs", 202, 1.25, "w1", "default", "wrun_1", "recoup_sk_…lice", "")


class Stream(io.StringIO):
    """A text stream that counts its writes and flushes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def batched() -> Iterator[Callable[..., tuple[BatchedAccessLog, Stream]]]:
    made: list[BatchedAccessLog] = []

    def make(**options: float) -> tuple[BatchedAccessLog, Stream]:
        stream = Stream()
        made.append(BatchedAccessLog(stream, **{"interval": NEVER_S, **options}))  # type: ignore[arg-type]
        return made[-1], stream

    yield make
    for writer in made:
        writer.close()


def until(found: Callable[[], bool], within: float = WITHIN_S) -> None:
    deadline = time.monotonic() + within
    while not found():
        assert time.monotonic() < deadline, f"not within {within:g} s"
        time.sleep(0.005)


def test_the_message_has_the_fields_users_read() -> None:
    assert message(*FIELDS) == "POST /api/chat/runs 202 1.2ms world=w1 scenario=default run=wrun_1 key=recoup_sk_…lice"
    assert message("GET", "/x", 404, 0.44, None, None, None, None, "") == "GET /x 404 0.4ms"
    assert message("POST", "/api/chat", 200, 12.0, None, "disconnect", "wrun_2", None, accesslog.DROPPED) == \
        "POST /api/chat 200 12.0ms scenario=disconnect run=wrun_2 (connection dropped by the scenario)"
    assert message("GET", "/%s%d", 0, 3.0, None, None, None, None, accesslog.WENT_AWAY) == \
        "GET /%s%d 0 3.0ms (client went away)"


def test_the_logger_path_logs_the_message_on_the_recoup_mock_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    AccessLog().write(*FIELDS)
    AccessLog().write("GET", "/%s", 404, 1.0, None, None, None, None, "")  # a % in a path is no format
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (LOGGER, logging.INFO, message(*FIELDS)), (LOGGER, logging.INFO, "GET /%s 404 1.0ms")]


def test_nothing_is_formatted_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    class Unformattable(float):
        def __format__(self, spec: str) -> str:
            raise AssertionError("formatted with the log off")

    caplog.set_level(logging.WARNING, logger=LOGGER)
    AccessLog().write("GET", "/x", 200, Unformattable(1.0), None, None, None, None, "")
    assert caplog.records == []


@pytest.mark.parametrize("created", [1_800_000_000.0, 1_800_000_000.0005, 1_800_000_000.123456,
                                     1_800_000_000.9999, 1_800_000_059.5])
def test_a_batched_line_is_the_line_logging_writes(batched: Callable[..., tuple[BatchedAccessLog, Stream]],
                                                   created: float) -> None:
    stream = Stream()
    writer = BatchedAccessLog(stream, interval=NEVER_S, clock=lambda: created)
    try:
        writer.write(*FIELDS)
        writer.write(*FIELDS)  # the same second again (the writer keeps the second's text)
        writer.flush()
    finally:
        writer.close()
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))  # what `serve` gives logging.basicConfig
    with mock.patch("time.time", return_value=created), mock.patch("time.time_ns", return_value=int(created * 1e9)):
        record = logging.LogRecord(LOGGER, logging.INFO, __file__, 1, message(*FIELDS), None, None)
    assert stream.getvalue() == 2 * (handler.format(record) + "\n")


def test_lines_are_written_in_one_write_per_batch(batched: Callable[..., tuple[BatchedAccessLog, Stream]]) -> None:
    writer, stream = batched()
    for status in range(100, 150):
        writer.write("GET", "/x", status, 1.0, None, None, None, None, "")
    assert stream.writes == []  # nothing on the request: the writer only keeps the fields
    writer.flush()
    assert len(stream.writes) == 1 and stream.flushes == 1
    assert [line.split()[5] for line in stream.getvalue().splitlines()] == [str(s) for s in range(100, 150)]
    writer.flush()  # nothing more to write: no empty write
    assert len(stream.writes) == 1


def test_the_timer_writes_a_line_without_more_traffic(batched: Callable[..., tuple[BatchedAccessLog, Stream]]
                                                      ) -> None:
    writer, stream = batched(interval=accesslog.FLUSH_INTERVAL_S)
    writer.write(*FIELDS)
    until(lambda: bool(stream.writes))
    assert stream.getvalue().endswith(message(*FIELDS) + "\n")


def test_a_large_batch_is_written_without_waiting_for_the_timer(
        batched: Callable[..., tuple[BatchedAccessLog, Stream]]) -> None:
    writer, stream = batched(batch=10)
    for _ in range(9):
        writer.write(*FIELDS)
    writer.write("GET", "/tenth", 200, 1.0, None, None, None, None, "")
    until(lambda: "/tenth" in stream.getvalue())
    assert len(stream.getvalue().splitlines()) == 10


def test_close_writes_what_is_left_and_a_line_after_it_at_once(
        batched: Callable[..., tuple[BatchedAccessLog, Stream]]) -> None:
    writer, stream = batched()
    for _ in range(3):
        writer.write(*FIELDS)
    writer.close()
    assert len(stream.getvalue().splitlines()) == 3
    assert not [t for t in threading.enumerate() if t.name == accesslog.THREAD_NAME and t.is_alive()]
    writer.write("GET", "/late", 200, 1.0, None, None, None, None, "")  # a request ending during shutdown
    assert stream.getvalue().splitlines()[-1].endswith("GET /late 200 1.0ms")
    writer.close()  # twice is harmless


def test_a_log_line_comes_after_the_access_lines_before_it(
        batched: Callable[..., tuple[BatchedAccessLog, Stream]]) -> None:
    writer, stream = batched()
    logger = logging.getLogger("recoup_mock.test_accesslog")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        writer.precede(logger)
        writer.write("GET", "/first", 200, 1.0, None, None, None, None, "")
        logger.warning("a warning")
        writer.write("GET", "/after", 200, 1.0, None, None, None, None, "")
        writer.flush()
    finally:
        logger.removeHandler(handler)
    assert [line.split(" INFO ")[-1] for line in stream.getvalue().splitlines()] == [
        "GET /first 200 1.0ms", "a warning", "GET /after 200 1.0ms"]


def test_lines_from_many_threads_are_all_written_in_each_threads_order(
        batched: Callable[..., tuple[BatchedAccessLog, Stream]]) -> None:
    writer, stream = batched(interval=0.001, batch=64)
    threads, each = 4, 2000

    def write(who: int) -> None:
        for n in range(each):
            writer.write("GET", f"/{who}", n, 1.0, None, None, None, None, "")

    workers = [threading.Thread(target=write, args=(who,)) for who in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    writer.close()
    seen: dict[str, list[int]] = {}
    for line in stream.getvalue().splitlines():
        path, status = line.split()[4:6]
        seen.setdefault(path, []).append(int(status))
    assert seen == {f"/{who}": list(range(each)) for who in range(threads)}


def test_a_stream_that_cannot_be_written_loses_the_lines_not_the_server() -> None:
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    writer = BatchedAccessLog(Closed(), interval=NEVER_S)
    writer.write(*FIELDS)
    writer.flush()
    writer.close()


def test_the_middleware_writes_to_the_installed_writer(batched: Callable[..., tuple[BatchedAccessLog, Stream]]
                                                       ) -> None:
    writer, stream = batched()
    previous = accesslog.install(writer)
    try:
        for logged in (True, False):
            with TestClient(create_app(Settings(speed=0, access_log=logged))) as client:
                assert client.get(f"/api/chat/{CHAT_IDLE}/stream", headers={"x-api-key": ALICE}).status_code == 204
    finally:
        accesslog.install(previous)
    writer.flush()
    (line,) = stream.getvalue().splitlines()  # the app with access_log=False wrote none
    assert re.fullmatch(rf"\S+ \S+ INFO GET /api/chat/{CHAT_IDLE}/stream 204 \d+\.\dms key={mask(ALICE)}", line)
