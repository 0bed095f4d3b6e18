"""Streams over a real socket: pacing, resume after a disconnect, stop, many readers, faults."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import ALICE, CHAT_IDLE, LiveServer, chat_body, chunks_of, parse_sse

from mockserver.protocol import assemble

H = {"x-api-key": ALICE}
SLOW_TEXT_WORDS = 48


def timed_chunks(pieces: Iterator[bytes], limit: int | None = None) -> list[tuple[float, dict[str, Any]]]:
    """Read a stream incrementally: (arrival time, chunk) per data event, up to ``limit`` chunks.

    Stops at a frame boundary only if the server's writes end on one (they do: one write per due batch).
    """
    out: list[tuple[float, dict[str, Any]]] = []
    buffer = b""
    for piece in pieces:
        buffer += piece
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            if frame.startswith(b"data: {"):
                out.append((time.monotonic(), json.loads(frame[6:])))
                if limit is not None and len(out) >= limit:
                    return out
    return out


def texts_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [p["text"] for p in assemble(chunks)["parts"] if p["type"] == "text"]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return " ".join(texts_of(chunks))


def test_slow_deltas_are_spread_over_two_seconds_with_an_early_first_byte(live: LiveServer) -> None:
    sent = time.monotonic()
    with httpx.stream("POST", live.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow"}) as response:
        assert response.status_code == 200
        arrivals = timed_chunks(response.iter_raw())
    first = arrivals[0][0] - sent
    deltas = [t for t, c in arrivals if c["type"] == "text-delta"]
    assert arrivals[0][1]["type"] == "start" and first < 0.5, f"first byte after {first:.3f}s"
    assert len(deltas) == SLOW_TEXT_WORDS
    span = deltas[-1] - deltas[0]
    assert 1.8 < span < 4.0, f"deltas spread over {span:.2f}s, expected about 47 x 50 ms"
    gaps = sorted(b - a for a, b in itertools.pairwise(deltas))
    assert 0.03 < gaps[len(gaps) // 2] < 0.09, f"median gap {gaps[len(gaps) // 2]:.3f}s, expected 0.05s"


def test_disconnect_then_resume_gives_the_whole_message_once(live: LiveServer) -> None:
    with httpx.stream("POST", live.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow"}) as response:
        run_id = response.headers["x-workflow-run-id"]
        first = timed_chunks(response.iter_raw(), limit=5)  # then the client goes away mid-stream
    message_id = first[0][1]["messageId"]
    resumed = httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H, timeout=10)
    assert resumed.status_code == 200
    assert resumed.headers["x-workflow-run-id"] == run_id
    assert int(resumed.headers["x-workflow-stream-tail-index"]) >= 4
    chunks = chunks_of(resumed.content)
    assert resumed.content.endswith(b"data: [DONE]\n\n")
    assert chunks[0] == {"type": "start", "messageId": message_id}
    assert [c["type"] for c in chunks].count("start") == 1
    words = text_of(chunks).split()
    assert len(words) == SLOW_TEXT_WORDS and words[0] == "One" and words[-1] == "forty-eight."
    # The run finished on its own although nobody read its POST stream: the slot is free again.
    assert httpx.get(f"{live.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"] == "completed"
    assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204


def test_disconnect_scenario_drops_the_connection_without_done_and_resume_completes(live: LiveServer) -> None:
    received = b""
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
        "POST", live.base_url + "/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=disconnect"},
        timeout=10,
    ) as response:
        for piece in response.iter_raw():
            received += piece
    assert b"[DONE]" not in received
    assert texts_of(chunks_of(received)) == ["This answer is cut off in the middle"]
    resumed = httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H, timeout=10)
    if resumed.status_code == 200:  # still running: the replay follows it to the end
        full = texts_of(chunks_of(resumed.content))
    else:  # already finished: the assistant message was stored
        assert resumed.status_code == 204
        messages = httpx.get(f"{live.base_url}/api/chats/{CHAT_IDLE}/messages", headers=H).json()["data"]
        full = [p["text"] for p in messages[-1]["content"]["parts"] if p["type"] == "text"]
    assert full == ["This answer is cut off in the middle", "and completes only for a client that resumes."]


def test_stop_cancels_the_run_and_ends_every_reader(live: LiveServer) -> None:
    with httpx.stream("POST", live.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow"}) as response:
        run_id = response.headers["x-workflow-run-id"]
        pieces = response.iter_raw()
        timed_chunks(pieces, limit=6)
        stop = httpx.post(f"{live.base_url}/api/chat/{CHAT_IDLE}/stop", headers=H)
        assert stop.status_code == 200 and stop.json() == {"success": True, "stopped": True}
        rest = b"".join(pieces)  # ends promptly, not after the scripted 2.4 s
    assert rest.endswith(b"data: [DONE]\n\n")
    assert len(text_of(chunks_of(rest)).split()) < SLOW_TEXT_WORDS
    assert httpx.get(f"{live.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"] == "cancelled"
    assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
    again = httpx.post(f"{live.base_url}/api/chat/{CHAT_IDLE}/stop", headers=H)
    assert again.json() == {"success": True, "stopped": False}


def test_ten_readers_of_one_run_get_identical_bytes(live: LiveServer) -> None:
    async def scenario() -> list[bytes]:
        async with (
            httpx.AsyncClient(base_url=live.base_url, timeout=10, headers=H) as client,
            client.stream("POST", "/api/chat", json=chat_body(), headers={"prefer": "scenario=slow"}) as response,
        ):
            assert response.status_code == 200

            async def read_resume() -> bytes:
                async with client.stream("GET", f"/api/chat/{CHAT_IDLE}/stream") as resumed:
                    assert resumed.status_code == 200
                    return b"".join([piece async for piece in resumed.aiter_raw()])

            readers = []
            pieces = response.aiter_raw()
            for _ in range(10):  # readers join at different points of the live run
                await anext(pieces)
                readers.append(asyncio.create_task(read_resume()))
            posted = b"".join([piece async for piece in pieces])
            assert posted.endswith(b"data: [DONE]\n\n")
            return list(await asyncio.gather(*readers))

    bodies = asyncio.run(scenario())
    assert len(set(bodies)) == 1
    assert bodies[0].endswith(b"data: [DONE]\n\n")
    assert len(text_of(chunks_of(bodies[0])).split()) == SLOW_TEXT_WORDS


def test_malformed_frame_reaches_the_live_connection_only(live: LiveServer) -> None:
    posted = httpx.post(live.base_url + "/api/chat", json=chat_body(), timeout=10,
                        headers={**H, "prefer": "scenario=malformed"})
    bad = [e.data for e in parse_sse(posted.content) if e.data and e.data.startswith("{")
           and not e.data.endswith("}")]
    assert bad == ['{"type":"text-delta","id":"txt-0","del']
    run_id = posted.headers["x-workflow-run-id"]
    assert httpx.get(f"{live.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"] == "completed"


def test_split_frames_reassemble_into_the_whole_message(live: LiveServer) -> None:
    posted = httpx.post(live.base_url + "/api/chat", json=chat_body(), timeout=10,
                        headers={**H, "prefer": "scenario=split-frames"})
    assert text_of(chunks_of(posted.content)) == "Frames arrive in pieces, yet the message is whole."
    assert posted.content.endswith(b"data: [DONE]\n\n")
