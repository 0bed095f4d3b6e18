"""The access log: one line per request, ``METHOD PATH STATUS TIMEms`` then who and what answered
(``world=`` ``scenario=`` ``run=`` ``key=``, each when there is one) and how it ended when it did not
end with its whole response (`DROPPED`, `WENT_AWAY`, `SERVER_STOPPED`).

The middleware hands a request's fields to the installed writer; `message` is the one place they
become text. Two writers:

- `AccessLog`, the default: the line is an INFO record of the ``recoup_mock`` logger, formatted only
  when that logger is on. An embedding process (the pytest plugin, `ServedApp`, a user's script) keeps
  its logging as it is: its handlers, levels and caplog see the line.
- `BatchedAccessLog`, which ``recoup-mock serve`` installs on its own process: the request only keeps
  the fields; a thread of the writer formats them, with the prefix logging would give them
  (`LOG_FORMAT`), and writes each batch in one ``write``: every `FLUSH_INTERVAL_S`, as soon as a batch
  has `BATCH_LINES` lines, before any other line of the process's logging (`precede`), and at `close`.

Imports nothing else from the package.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

#: The logger the default writer logs on (and `serve` configures).
LOGGER = "recoup_mock"
#: The layout `serve` gives logging.basicConfig, and so every line of its stderr; `BatchedAccessLog`
#: writes its lines with the same prefix (asctime as logging formats it, then the level name).
LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
#: What a request's line adds when it did not end with its whole response.
DROPPED = " (connection dropped by the scenario)"
WENT_AWAY = " (client went away)"
#: A response still going when the server stopped, cut once the server's grace period was over.
SERVER_STOPPED = " (cut short: the server stopped)"
#: How long a batched line may wait for its write: short enough for a user tailing the log.
FLUSH_INTERVAL_S = 0.05
#: A batch this long is written at once, without waiting for the interval.
BATCH_LINES = 512
#: The name of the batched writer's thread.
THREAD_NAME = "recoup-mock-access-log"

log = logging.getLogger(LOGGER)

#: One request's fields, as `BatchedAccessLog` keeps them until its next write: the wall-clock time it
#: ended, then `message`'s arguments.
_Fields = tuple[float, str, str, int, float, str | None, str | None, str | None, str | None, str]


def message(method: str, path: str, status: int, elapsed_ms: float, world: str | None, scenario: str | None,
            run: str | None, key: str | None, outcome: str) -> str:
    """The line's text after its prefix: ``world`` is None for the default world, ``key`` the masked
    key, ``outcome`` empty, `DROPPED`, `WENT_AWAY` or `SERVER_STOPPED`."""
    extra = ""
    if world:
        extra += f" world={world}"
    if scenario:
        extra += f" scenario={scenario}"
    if run:
        extra += f" run={run}"
    if key:
        extra += f" key={key}"
    return f"{method} {path} {status} {elapsed_ms:.1f}ms{extra}{outcome}"


class AccessLog:
    """The default writer: each line an INFO record of the ``recoup_mock`` logger, made only when the
    logger is on for INFO."""

    def write(self, method: str, path: str, status: int, elapsed_ms: float, world: str | None,
              scenario: str | None, run: str | None, key: str | None, outcome: str) -> None:
        """Log one request's line (the arguments are `message`'s)."""
        if log.isEnabledFor(logging.INFO):
            log.info(message(method, path, status, elapsed_ms, world, scenario, run, key, outcome))

    def close(self) -> None:
        """Nothing to write: logging's handlers wrote each line as it came."""


class BatchedAccessLog(AccessLog):
    """Lines written in batches to ``stream`` (stderr) by a thread of the writer, with logging's prefix.

    `write` is what a request pays: a tuple appended to a deque (thread-safe, so a line may come from
    any thread). The lines go out in the order they came: one lock orders the writer's own thread,
    `precede`'s flushes and `close`.
    """

    def __init__(self, stream: TextIO | None = None, *, interval: float = FLUSH_INTERVAL_S,
                 batch: int = BATCH_LINES, clock: Callable[[], float] = time.time) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._interval = interval
        self._batch = batch
        self._clock = clock
        self._pending: deque[_Fields] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        # The wall-clock second of the last line written, and its text (lines of one second share it).
        self._second = -1
        self._stamp = ""
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def write(self, method: str, path: str, status: int, elapsed_ms: float, world: str | None,
              scenario: str | None, run: str | None, key: str | None, outcome: str) -> None:
        """Keep one request's line for the next batch (the arguments are `message`'s)."""
        pending = self._pending
        pending.append((self._clock(), method, path, status, elapsed_ms, world, scenario, run, key, outcome))
        if self._closed:  # a request that ended after close (shutdown): nobody else will write it
            self.flush()
        elif len(pending) == self._batch:
            self._wake.set()

    def flush(self) -> None:
        """Write the lines kept so far, in one write, and flush the stream."""
        if not self._pending:
            return
        with self._lock:
            pending = self._pending
            lines = [self._line(pending.popleft()) for _ in range(len(pending))]
            if not lines:
                return
            try:
                self._stream.write("".join(lines))
                self._stream.flush()
            except (OSError, ValueError):
                pass  # stderr is closed or a broken pipe: there is nowhere left to tell

    def precede(self, *loggers: logging.Logger) -> None:
        """Write the kept lines before any line of these loggers' handlers, so the lines stay in order."""
        first = _FlushFirst(self)
        for logger in loggers:
            for handler in logger.handlers:
                handler.addFilter(first)

    def close(self) -> None:
        """Write what is left and stop the thread; a line that comes later is written at once."""
        self._closed = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()

    def _line(self, fields: _Fields) -> str:
        """One line as logging.Formatter(`LOG_FORMAT`) writes it: ``2026-12-06 23:02:08,890 INFO …``."""
        created, method, path, status, elapsed_ms, world, scenario, run, key, outcome = fields
        second = int(created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
        msecs = int((created - second) * 1000)  # as logging.LogRecord has it (truncated, not rounded)
        text = message(method, path, status, elapsed_ms, world, scenario, run, key, outcome)
        return f"{self._stamp},{msecs:03d} INFO {text}\n"


class _FlushFirst(logging.Filter):
    """A handler filter that lets every record through, once the batched lines before it are written."""

    def __init__(self, access_log: BatchedAccessLog) -> None:
        super().__init__()
        self._access_log = access_log

    def filter(self, record: logging.LogRecord) -> bool:
        self._access_log.flush()
        return True


_installed: AccessLog = AccessLog()


def install(writer: AccessLog) -> AccessLog:
    """Make ``writer`` the process's access log, for apps made from now on; the one it replaces.
    ``recoup-mock serve`` installs a `BatchedAccessLog` on its own process; nothing else need."""
    global _installed
    previous, _installed = _installed, writer
    return previous


def installed() -> AccessLog:
    """The process's access log (the logger's, unless `install` said otherwise)."""
    return _installed
