"""Bounded stream reads, and the bundled mock served on a free loopback port.

Schemathesis 4.32 already reads an event stream incrementally and stops at the request timeout
(in total, not per read) or at ``max-stream-events`` events, marking the response
``stream_cut_short`` (schemathesis#3633 tracks the general design). It has no byte bound, so
`install_stream_byte_cap` wraps its event-stream reader to stop at a byte cap too: a target that
streams forever, or one huge event, fails ``stream_closes`` instead of filling memory.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServedApp:
    """An ASGI app on a real uvicorn in a background thread, on a free loopback port."""

    def __init__(self, app: Any, *, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on",
                                access_log=False, timeout_graceful_shutdown=1, server_header=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn on port {self.port} did not start within {timeout:g} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def bundled_mock() -> ServedApp:
    """The bundled mock at full speed (no scripted waits), with its fixture world, not yet started."""
    from mockserver import Settings, create_app

    return ServedApp(create_app(Settings(speed=0, access_log=False)))
