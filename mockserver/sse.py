"""Server-Sent Events framing for AI SDK UI message streams: pure functions, no I/O.

The wire format is the one ``createUIMessageStreamResponse`` writes (ai 5.x-7.x): one
``data: <json>\\n\\n`` event per chunk, ``data: [DONE]\\n\\n`` once the stream ends normally,
and ``: comment\\n\\n`` lines as heartbeats (clients skip them; an ``event:``/``data:`` heartbeat
would be validated as a chunk and break them). This module imports nothing else from the package.
"""

from __future__ import annotations

import json
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
