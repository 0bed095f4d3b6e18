"""The SSE encoder is a pure function: table tests of exact bytes."""

from __future__ import annotations

import pytest
from support import parse_sse

from mockserver.streams import sse


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        ({"type": "start", "messageId": "m1"}, b'data: {"type":"start","messageId":"m1"}\n\n'),
        ({"type": "text-delta", "id": "t", "delta": "h\u00e9 \"q\"\n"},
         b'data: {"type":"text-delta","id":"t","delta":"h\xc3\xa9 \\"q\\"\\n"}\n\n'),
        ({"type": "data-x", "data": [1, 2.5, None, True]}, b'data: {"type":"data-x","data":[1,2.5,null,true]}\n\n'),
    ],
)
def test_encode_chunk_writes_one_compact_event(chunk: dict[str, object], expected: bytes) -> None:
    assert sse.encode_chunk(chunk) == expected


def test_encode_chunk_refuses_nan() -> None:
    with pytest.raises(ValueError):
        sse.encode_chunk({"type": "data-x", "data": float("nan")})


def test_keepalive_is_a_comment_and_done_is_the_sdk_terminator() -> None:
    # A heartbeat must be a comment: an event with data would be parsed as a chunk and break clients.
    (keepalive,) = parse_sse(sse.KEEPALIVE_FRAME)
    assert keepalive.data is None and keepalive.comments == ["keep-alive"]
    (done,) = parse_sse(sse.DONE_FRAME)
    assert done.data == "[DONE]" and done.chunk is None


@pytest.mark.parametrize(
    ("sizes", "offset", "expected"),
    [
        ((), 0, [b"abcdefgh"]),
        ((3,), 0, [b"abc", b"def", b"gh"]),
        ((1, 2), 0, [b"a", b"bc", b"d", b"ef", b"g", b"h"]),
        ((1, 2), 1, [b"ab", b"c", b"de", b"f", b"gh"]),
    ],
)
def test_split_writes_cycles_sizes(sizes: tuple[int, ...], offset: int, expected: list[bytes]) -> None:
    assert sse.split_writes(b"abcdefgh", sizes, offset) == expected


def test_stream_headers_are_the_sdk_ones() -> None:
    assert dict(sse.STREAM_HEADERS) == {
        "content-type": "text/event-stream", "cache-control": "no-cache", "connection": "keep-alive",
        "x-vercel-ai-ui-message-stream": "v1", "x-accel-buffering": "no",
    }
