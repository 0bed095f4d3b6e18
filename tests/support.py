"""Test helpers: a live uvicorn in a thread, the one SSE parser and stream assertions, scenario
schedules, and the fixture world's well-known ids."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from mockserver import Settings, create_app
from mockserver.serving import ServedApp
from mockserver.settings import DEFAULT_FIXTURES
from mockserver.state.fixture_ids import (
    ALICE,
    ALICE_ACCOUNT,
    BOB,
    CHAT_BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    CHAT_NO_SANDBOX,
    PINNED_RUN,
    RUN_ID,
    SESSION_BOB,
    SESSION_NO_SANDBOX,
    SESSION_READY,
    UNKNOWN_CHAT,
    UNKNOWN_RUN,
    UNKNOWN_SESSION,
)
from mockserver.streams.engine import schedule
from mockserver.streams.protocol import check_order
from mockserver.streams.scenarios import load_scenarios

DONE = b"data: [DONE]\n\n"

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


def assert_json(response: httpx.Response, status: int = 200) -> Any:
    """A JSON answer with this status (and CORS); returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert_cors(response)
    return response.json()


def assert_no_content(response: httpx.Response) -> None:
    """204, empty, with CORS: nothing to resume."""
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_cors(response)


@dataclass
class Event:
    data: str | None = None
    comments: list[str] = field(default_factory=list)
    #: When the bytes that completed the event arrived (``time.monotonic()``, as `SseParser.feed` saw
    #: them); not part of the event, so not compared.
    at: float = field(default=0.0, compare=False)

    @property
    def chunk(self) -> Any:
        return None if self.data in (None, "[DONE]") else json.loads(self.data)


class SseParser:
    """The tests' one SSE parser, incremental and strict enough (what the AI SDK's eventsource-parser
    accepts): `feed` it bytes as they arrive; each event is complete at its blank line, stamped with
    its arrival time and kept in `events`. An unfinished event at the end of the input is no event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.raw = b""
        self._line = b""
        self._data: list[str] = []
        self._comments: list[str] = []

    def feed(self, piece: bytes) -> list[Event]:
        """Parse ``piece``; returns the events it completed."""
        at = time.monotonic()
        self.raw += piece
        *lines, self._line = (self._line + piece).split(b"\n")
        completed: list[Event] = []
        for raw_line in lines:
            line = raw_line.removesuffix(b"\r").decode()
            if line == "":
                if self._data or self._comments:
                    completed.append(Event("\n".join(self._data) if self._data else None, self._comments, at))
                self._data, self._comments = [], []
            elif line.startswith(":"):
                self._comments.append(line[1:].strip())
            elif line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
        self.events.extend(completed)
        return completed

    def read(self, pieces: Iterable[bytes], chunks: int | None = None) -> SseParser:
        """Feed ``pieces`` until the stream ends or, given ``chunks``, that many chunks have arrived in all."""
        for piece in pieces:
            self.feed(piece)
            if chunks is not None and len(self.chunks()) >= chunks:
                break
        return self

    def chunks(self) -> list[dict[str, Any]]:
        return [e.chunk for e in self.events if e.chunk is not None]

    def timed_chunks(self) -> list[tuple[float, dict[str, Any]]]:
        """(arrival time, chunk) of every data chunk so far."""
        return [(e.at, e.chunk) for e in self.events if e.chunk is not None]


def inspector_events(pieces: Iterable[bytes], parser: SseParser | None = None) -> Iterator[dict[str, Any]]:
    """The inspector's events (``GET /__mock/events``), one by one, as they arrive."""
    parser = parser or SseParser()
    seen = 0
    for piece in pieces:
        parser.feed(piece)
        for event in parser.events[seen:]:
            if event.data is not None:
                yield json.loads(event.data)
        seen = len(parser.events)


def parse_sse(raw: bytes) -> list[Event]:
    parser = SseParser()
    parser.feed(raw)
    return parser.events


def chunks_of(raw: bytes) -> list[dict[str, Any]]:
    return [e.chunk for e in parse_sse(raw) if e.chunk is not None]


def assert_stream(response: httpx.Response, run_id: str | None = None) -> list[dict[str, Any]]:
    """A finished, well-formed UI message stream with the AI SDK's headers (and CORS); returns its chunks."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert RUN_ID.match(response.headers["x-workflow-run-id"])
    if run_id is not None:
        assert response.headers["x-workflow-run-id"] == run_id
    assert_cors(response)
    assert response.content.startswith(b'data: {"type":"start","messageId":"')
    assert response.content.endswith(DONE)
    assert response.content.count(DONE) == 1
    chunks = chunks_of(response.content)
    assert chunks[0]["type"] == "start"
    assert isinstance(chunks[0]["messageId"], str)
    assert chunks[0]["messageId"]
    assert chunks[-1]["type"] == "finish"
    assert check_order(chunks) == []
    return chunks


def scheduled_chunks(name: str, speed: float, fixtures: Path = DEFAULT_FIXTURES) -> list[float]:
    """When each chunk of scenario ``name`` is due, in seconds after its run starts, at ``speed``:
    `mockserver.streams.engine.schedule`, plus the silence of every stall before the chunk (the player waits
    those out). Transport items are left out, so the list matches the chunks a reader gets.

    Only for scenarios without jitter: their schedule does not depend on the run's seeded generator.
    """
    scenario = load_scenarios(fixtures / "scenarios")[name]
    assert scenario.timing.jitter_ms == 0, f"{name} has jitter: its schedule depends on the run's generator"
    stalled = 0.0
    due = []
    for item, at in zip(scenario.items, schedule(scenario, random.Random(0), speed), strict=True):
        if item.kind == "stall":
            stalled += (item.delay_ms or 0) * speed / 1000
        elif item.kind == "chunk":
            due.append(at + stalled)
    return due


async def simultaneous_posts(base_url: str, count: int, body: dict[str, Any], headers: dict[str, str]
                             ) -> collections.Counter[int]:
    """Fire ``count`` POST /api/chat at once (a barrier releases them all when the last one reaches
    it); read each to its end."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits, headers=headers) as client:
        barrier = asyncio.Barrier(count)

        async def one() -> int:
            await barrier.wait()
            async with client.stream("POST", "/api/chat", json=body) as response:
                await response.aread()
                return response.status_code

        return collections.Counter(await asyncio.gather(*(one() for _ in range(count))))


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


#: The resume route with its path parameter renamed (``chatId`` -> ``cid``) by `renamed_chat_param`.
RENAMED_PATH = "/api/chat/{cid}/stream"


def renamed_chat_param(spec: Path) -> str:
    """The text of the chat spec in ``spec`` with the resume route's path parameter renamed ``cid``: a
    valid OpenAPI document whose operation ids all still have handlers, one of which reads ``chatId``."""
    document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    item = document["paths"].pop("/api/chat/{chatId}/stream")
    item["get"]["parameters"] = [
        {"name": "cid", "in": "path", "required": True, "schema": {"type": "string", "format": "uuid"}},
        *(p for p in item["get"]["parameters"] if p != {"$ref": "#/components/parameters/chatId"}),
    ]
    document["paths"][RENAMED_PATH] = item
    return str(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
