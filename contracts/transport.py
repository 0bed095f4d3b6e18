"""Bounded stream reads, and the bundled mock served on a free loopback port.

Schemathesis 4.32 already reads an event stream incrementally and stops at the request timeout
(in total, not per read) or at ``max-stream-events`` events, marking the response
``stream_cut_short`` (schemathesis#3633 tracks the general design). It has no byte bound, so
`install_stream_byte_cap` wraps its event-stream reader to stop at a byte cap too: a target that
streams forever, or one huge event, fails ``stream_closes`` instead of filling memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from mockserver.serving import ServedApp

DEFAULT_STREAM_BYTE_CAP = 4 * 1024 * 1024

_cap = DEFAULT_STREAM_BYTE_CAP
_installed = False
_lock = threading.Lock()
#: Whether this thread's last event-stream read stopped at the byte cap (read by the `stream_closes` check).
_last_read = threading.local()


def stream_byte_cap() -> int:
    return _cap


def last_read_hit_byte_cap() -> bool:
    return bool(getattr(_last_read, "capped", False))


def install_stream_byte_cap(limit: int = DEFAULT_STREAM_BYTE_CAP) -> None:
    """Stop every Schemathesis event-stream read after ``limit`` bytes (idempotent; the last limit wins)."""
    global _cap, _installed
    from schemathesis.transport import requests as transport

    with _lock:
        _cap = limit
        if _installed:
            return
        original: Callable[[Any], Iterator[bytes]] | None = getattr(transport, "_iter_event_stream", None)
        if original is None:  # pragma: no cover - a newer Schemathesis; its own bounds still apply
            return

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

        transport._iter_event_stream = capped
        _installed = True


def bundled_mock() -> ServedApp:
    """The bundled mock at full speed (no scripted waits), with its fixture world, not yet started."""
    from mockserver import Settings, create_app

    return ServedApp(create_app(Settings(speed=0, access_log=False)))
