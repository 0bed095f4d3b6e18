"""The byte cap on Schemathesis' event-stream reader: in force inside a run only (no server)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import pytest
from schemathesis.core.transport import read_event_stream
from schemathesis.transport import requests as transport

from mockserver.contracts.transport import (
    DEFAULT_STREAM_BYTE_CAP,
    current_stream_byte_cap,
    last_read_hit_byte_cap,
    stream_byte_cap,
)

EVENT = b'data: {"type":"text-delta","id":"t","delta":"x"}\n\n'


class EndlessRaw:
    """A `response.raw` that never stops sending events (what the stock reader reads from)."""

    def __init__(self) -> None:
        self.sent = 0

    def read1(self, size: int = -1, decode_content: bool = True) -> bytes:
        chunk = EVENT * 8
        self.sent += len(chunk)
        return chunk


def endless_response() -> Any:
    return SimpleNamespace(raw=EndlessRaw())


def read_in_worker_thread() -> tuple[bytes, bool, bool]:
    """Read an endless stream the way Schemathesis does, in another thread (as its workers do)."""
    result: list[tuple[bytes, bool, bool]] = []

    def read() -> None:
        content, cut_short = read_event_stream(transport._iter_event_stream(endless_response()), 5.0, 10**9)
        result.append((content, cut_short, last_read_hit_byte_cap()))

    worker = threading.Thread(target=read)
    worker.start()
    worker.join(timeout=10)
    assert result, "the read did not end"
    return result[0]


def test_the_cap_cuts_a_stream_inside_the_block_and_the_stock_reader_is_back_after_it() -> None:
    stock = transport._iter_event_stream
    assert stock.__module__ == transport.__name__  # nothing left a wrapper behind
    with stream_byte_cap(1000):
        assert transport._iter_event_stream is not stock
        assert current_stream_byte_cap() == 1000
        content, cut_short, capped = read_in_worker_thread()
        assert cut_short and capped
        # Cut at the first chunk that reaches the cap; only complete events are kept.
        assert 0 < len(content) <= 1000 + len(EVENT) * 8
        assert content.endswith(b"\n\n")
    assert transport._iter_event_stream is stock
    assert current_stream_byte_cap() == DEFAULT_STREAM_BYTE_CAP


def test_nested_blocks_restore_the_stock_reader_when_the_last_one_is_left() -> None:
    stock = transport._iter_event_stream
    with stream_byte_cap(4096):
        wrapped = transport._iter_event_stream
        with stream_byte_cap(1000):
            assert transport._iter_event_stream is wrapped  # wrapped once, not twice
            assert current_stream_byte_cap() == 1000
        assert transport._iter_event_stream is wrapped
        assert current_stream_byte_cap() == 4096
    assert transport._iter_event_stream is stock


def test_the_stock_reader_is_back_after_a_run_that_raised() -> None:
    stock = transport._iter_event_stream
    with pytest.raises(RuntimeError), stream_byte_cap(1000):
        raise RuntimeError("the run failed")
    assert transport._iter_event_stream is stock
