"""Bounded stream reads, and the bundled mock served on a free loopback port.

Schemathesis 4.32 already reads an event stream incrementally and stops at the request timeout
(in total, not per read) or at ``max-stream-events`` events, marking the response
``stream_cut_short`` (schemathesis#3633 tracks the general design). It has no byte bound, and no
public way to add one: no setting (``output.truncation``'s ``max-payload-size`` and
``max-recorded-payload-size`` only shorten what it prints and records, after the read) and no hook
(``before_call`` runs before the request, ``after_call`` once the body is read). So
`stream_byte_cap` wraps its private event-stream reader,
``schemathesis.transport.requests._iter_event_stream``, to stop at a byte cap too: a target that
streams forever, or one huge event, fails ``stream_closes`` instead of filling memory.

The wrapper is in place only while a contract run is (`stream_byte_cap` is a context manager,
entered by `runner.run_contract`): a process that imports this package, a user's own Schemathesis
suite for instance, keeps the stock reader before and after the run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mockserver.serving import ServedApp

DEFAULT_STREAM_BYTE_CAP = 4 * 1024 * 1024
#: ``_iter_event_stream(response)``: the chunks of an event-stream response, as they arrive.
Reader = Callable[..., Iterator[bytes]]

_cap = DEFAULT_STREAM_BYTE_CAP
#: Guards `_depth` and the swap of the reader: runs may overlap (threads), the reads happen in
#: Schemathesis' worker threads, and the last run to leave restores the reader.
_lock = threading.Lock()
_depth = 0
_original: Reader | None = None
#: Whether this thread's last event-stream read stopped at the byte cap (read by the `stream_closes` check).
_last_read = threading.local()


def current_stream_byte_cap() -> int:
    """The byte cap in force (the innermost `stream_byte_cap` limit; the default outside a run)."""
    return _cap


def last_read_hit_byte_cap() -> bool:
    return bool(getattr(_last_read, "capped", False))


@contextmanager
def stream_byte_cap(limit: int = DEFAULT_STREAM_BYTE_CAP) -> Iterator[None]:
    """Within the block, every Schemathesis event-stream read stops after ``limit`` bytes.

    Re-entrant and thread-safe: the reader is wrapped when the first block is entered and restored
    when the last one is left; in nested blocks the inner limit applies until the inner block is left.
    """
    global _cap, _depth, _original
    from schemathesis.transport import requests as transport

    with _lock:
        previous_cap = _cap
        _cap = limit
        if _depth == 0:
            # A newer Schemathesis without this reader: its own bounds (time, events) still apply.
            _original = getattr(transport, "_iter_event_stream", None)
            if _original is not None:
                transport._iter_event_stream = _capped(_original)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            _cap = previous_cap
            if _depth == 0:
                if _original is not None:
                    transport._iter_event_stream = _original
                _original = None


def _capped(original: Reader) -> Reader:
    def capped(response: Any) -> Iterator[bytes]:
        read = 0
        _last_read.capped = False
        for chunk in original(response):
            read += len(chunk)
            yield chunk
            if read >= _cap:
                _last_read.capped = True
                # Schemathesis treats a timeout as "cut short": it keeps the complete events.
                raise TimeoutError(f"stream exceeded {_cap} bytes")

    return capped


def bundled_mock() -> ServedApp:
    """The bundled mock at full speed (no scripted waits), with its fixture world, not yet started."""
    from mockserver import Settings, create_app

    return ServedApp(create_app(Settings(speed=0, access_log=False)))
