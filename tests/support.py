"""Test helpers: a live uvicorn in a thread, an SSE parser, and the fixture world's well-known ids."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mockserver import Settings, create_app
from mockserver.pytest_plugin import RecoupMock
from mockserver.serving import ServedApp

# The fixture world's well-known values, as the shipped pytest plugin documents them.
ALICE, BOB, PINNED_RUN = RecoupMock.ALICE, RecoupMock.BOB, RecoupMock.PINNED_RUN
SESSION_READY, SESSION_NO_SANDBOX, SESSION_BOB = (RecoupMock.SESSION_READY, RecoupMock.SESSION_NO_SANDBOX,
                                                  RecoupMock.SESSION_BOB)
CHAT_IDLE, CHAT_BUSY, CHAT_BOB, CHAT_NO_SANDBOX = (RecoupMock.CHAT_IDLE, RecoupMock.CHAT_BUSY, RecoupMock.CHAT_BOB,
                                                   RecoupMock.CHAT_NO_SANDBOX)

#: Both credential schemes, as header dicts, per key.
SCHEMES = {
    "x-api-key": lambda key: {"x-api-key": key},
    "bearer": lambda key: {"authorization": f"Bearer {key}"},
}


Scheme = Callable[[str], dict[str, str]]


def assert_cors(response: httpx.Response) -> None:
    """CORS on every response, exposing the headers a front end must read."""
    assert response.headers.get("access-control-allow-origin") == "*"
    exposed = {h.strip().lower() for h in response.headers.get("access-control-expose-headers", "").split(",")}
    assert {"x-workflow-run-id", "x-workflow-stream-tail-index", "location"} <= exposed


def assert_error(response: httpx.Response, status: int, contains: str = "") -> str:
    """The documented error body, exactly (and CORS); returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = response.json()
    assert set(body) == {"status", "message"}, body
    assert body["status"] == "error"
    assert isinstance(body["message"], str)
    assert body["message"].strip()
    assert contains in body["message"], body["message"]
    assert_cors(response)
    return str(body["message"])


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


async def simultaneous_posts(base_url: str, count: int, body: dict[str, Any], headers: dict[str, str]
                             ) -> collections.Counter[int]:
    """Fire ``count`` POST /api/chat at once (all released by one gate); read each to its end."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits, headers=headers) as client:
        gate = asyncio.Event()

        async def one() -> int:
            await gate.wait()
            async with client.stream("POST", "/api/chat", json=body) as response:
                await response.aread()
                return response.status_code

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.sleep(0)  # every task reaches the gate before it opens
        gate.set()
        return collections.Counter(await asyncio.gather(*tasks))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer(ServedApp):
    """The mock on a real uvicorn on loopback in a background thread (timing, streaming, disconnects)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        super().__init__(create_app(settings))


@contextlib.contextmanager
def live_server(**settings: Any) -> Iterator[LiveServer]:
    server = LiveServer(Settings(**{"access_log": False, **settings})).start()
    try:
        yield server
    finally:
        server.stop()


class ServerProcess:
    """``python -m mockserver serve`` in its own process: for memory, logs and listening sockets."""

    def __init__(self, *args: str, quiet: bool = True) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "mockserver", "serve", "--port", str(self.port), *args]
        if quiet:
            command.append("--quiet")
        self.log_path = Path(tempfile.mkstemp(prefix="recoup-mock-", suffix=".log")[1])
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.log()}")
            try:
                httpx.get(f"{self.base_url}/__mock/status", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server on port {self.port} did not answer within 30 s") from None
                time.sleep(0.02)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def listening(self) -> list[str]:
        """``host:port`` of every TCP socket this process listens on (from /proc, no tools needed)."""
        inodes = set()
        for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        found = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                    address, port = fields[1].split(":")
                    host = socket.inet_ntoa(bytes.fromhex(address)[::-1]) if len(address) == 8 else address
                    found.append(f"{host}:{int(port, 16)}")
        return found

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
