"""Test helpers: a live uvicorn in a thread, an SSE parser, and the fixture world's well-known ids."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from mockserver import Settings, create_app

ALICE = "recoup_sk_test_alice"
BOB = "recoup_sk_test_bob"
SESSION_READY = "5e551011-0000-4000-8000-000000000001"
SESSION_NO_SANDBOX = "5e551011-0000-4000-8000-000000000002"
SESSION_BOB = "5e551011-0000-4000-8000-000000000003"
CHAT_IDLE = "c4a70000-0000-4000-8000-000000000001"
CHAT_BUSY = "c4a70000-0000-4000-8000-000000000002"
CHAT_BOB = "c4a70000-0000-4000-8000-000000000003"
CHAT_NO_SANDBOX = "c4a70000-0000-4000-8000-000000000004"
PINNED_RUN = "wrun_01JQ8PNNED0BVSY00000000002"

#: Both credential schemes, as header dicts, per key.
SCHEMES = {
    "x-api-key": lambda key: {"x-api-key": key},
    "bearer": lambda key: {"authorization": f"Bearer {key}"},
}


def user_message(text: str = "Hello", message_id: str = "u1") -> dict[str, Any]:
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


def chat_body(chat: str = CHAT_IDLE, session: str = SESSION_READY, text: str = "Hello") -> dict[str, Any]:
    return {"messages": [user_message(text)], "chatId": chat, "sessionId": session}


@dataclass
class Event:
    data: str | None = None
    comments: list[str] = field(default_factory=list)

    @property
    def chunk(self) -> Any:
        return None if self.data in (None, "[DONE]") else json.loads(self.data)


def parse_sse(raw: bytes) -> list[Event]:
    """A strict-enough SSE parser (what the AI SDK's eventsource-parser accepts)."""
    events: list[Event] = []
    current = Event()
    data_lines: list[str] = []
    for line in raw.decode().replace("\r\n", "\n").split("\n"):
        if line == "":
            if data_lines or current.comments:
                current.data = "\n".join(data_lines) if data_lines else None
                events.append(current)
            current, data_lines = Event(), []
        elif line.startswith(":"):
            current.comments.append(line[1:].strip())
        elif line.startswith("data:"):
            data_lines.append(line[5:].removeprefix(" "))
    return events


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    return [e.chunk for e in parse_sse(raw) if e.chunk is not None]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A real uvicorn on loopback in a background thread (for timing, streaming, disconnects)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.port = free_port()
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", timeout_graceful_shutdown=1, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn on port {self.port} failed to start within 10 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextlib.contextmanager
def live_server(**settings: Any) -> Iterator[LiveServer]:
    server = LiveServer(Settings(**{"access_log": False, **settings})).start()
    try:
        yield server
    finally:
        server.stop()
