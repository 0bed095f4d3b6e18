"""Server-Sent Events framing for AI SDK UI message streams: pure functions, no I/O.

The wire format is the one ``createUIMessageStreamResponse`` writes (ai 5.x-7.x): one
``data: <json>\\n\\n`` event per chunk, ``data: [DONE]\\n\\n`` once the stream ends normally,
and ``: comment\\n\\n`` lines as heartbeats (clients skip them; an ``event:``/``data:`` heartbeat
would be validated as a chunk and break them). `EventDecoder` reads events back, incrementally, the
way the AI SDK's ``eventsource-parser`` does. This module imports nothing else from the package.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

#: Response headers of a UI message stream (ui-message-stream.md §1), in the order the SDK sends them.
STREAM_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    ("connection", "keep-alive"),
    ("x-vercel-ai-ui-message-stream", "v1"),
    ("x-accel-buffering", "no"),
)

DONE_FRAME = b"data: [DONE]\n\n"
KEEPALIVE_FRAME = b": keep-alive\n\n"


def encode_json(value: Any) -> str:
    """Compact JSON, as ``JSON.stringify`` writes it (no spaces, UTF-8 kept, no NaN)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_chunk(chunk: Any) -> bytes:
    """One chunk as one SSE event."""
    return b"data: " + encode_json(chunk).encode() + b"\n\n"


def split_writes(data: bytes, sizes: tuple[int, ...], offset: int = 0) -> list[bytes]:
    """Cut ``data`` into pieces whose lengths cycle through ``sizes``.

    ``offset`` is the position in the cycle to start from, so that a caller cutting a stream
    frame by frame keeps cutting at odd offsets across frame boundaries.
    """
    if not sizes:
        return [data]
    pieces: list[bytes] = []
    pos = 0
    i = offset
    while pos < len(data):
        size = sizes[i % len(sizes)]
        pieces.append(data[pos : pos + size])
        pos += size
        i += 1
    return pieces


@dataclass
class SseEvent:
    """One dispatched event: its ``data`` (lines joined by ``\\n``), or ``None`` for a comment-only block."""

    data: str | None = None
    event: str | None = None
    id: str | None = None
    comments: list[str] = field(default_factory=list)


_EOL = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class EventDecoder:
    """Server-Sent Events from bytes that arrive in pieces cut anywhere (inside a line, a UTF-8
    character or a CRLF): `feed` each piece, get the events it completed. Lines end in LF, CRLF or
    CR; a leading BOM is dropped; comments, ``event:`` and ``id:`` are kept; an event is complete at
    its blank line, so an unfinished last block is never an event."""

    def __init__(self) -> None:
        self._rest = b""
        self._started = False
        self._after_cr = False  # the last piece ended in CR: a LF opening the next one belongs to it
        self._event = SseEvent()
        self._data: list[str] = []

    def feed(self, piece: bytes) -> list[SseEvent]:
        """The events ``piece`` completes, in order."""
        data = self._rest + piece
        if not self._started:
            if _BOM.startswith(data[:3]) and len(data) < 3:
                self._rest = data  # maybe the start of a BOM: wait for more
                return []
            self._started = True
            data = data.removeprefix(_BOM)
        pos = 1 if self._after_cr and data.startswith(b"\n") else 0
        self._after_cr = False
        events: list[SseEvent] = []
        for end in _EOL.finditer(data, pos):
            self._line(data[pos:end.start()].decode("utf-8", errors="replace"), events)
            pos = end.end()
            if end.group() == b"\r" and pos == len(data):
                self._after_cr = True
        self._rest = data[pos:]
        return events

    def _line(self, line: str, events: list[SseEvent]) -> None:
        event = self._event
        if not line:
            if self._data:
                event.data = "\n".join(self._data)
            if event.data is not None or event.comments or event.event is not None or event.id is not None:
                events.append(event)
            self._event, self._data = SseEvent(), []
        elif line.startswith(":"):
            event.comments.append(line[1:].strip())
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            elif name == "event":
                event.event = value
            elif name == "id":
                event.id = value


def parse_events(raw: bytes) -> list[SseEvent]:
    """Every complete event of a whole body (a trailing block without its blank line never arrived)."""
    return EventDecoder().feed(raw)
