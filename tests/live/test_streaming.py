"""Streams over a real socket: pacing, resume after a disconnect, stop, many readers, faults."""

from __future__ import annotations

import asyncio
import itertools
import statistics
from typing import Any

import httpx
import pytest
from support import (
    ALICE,
    CHAT_IDLE,
    DONE,
    LiveServer,
    SseParser,
    assert_no_content,
    chat_body,
    chunks_of,
    parse_sse,
    scheduled_chunks,
)

from mockserver.streams.protocol import assemble

H = {"x-api-key": ALICE}
SLOW_TEXT_WORDS = 48
CUT_TEXT = "This answer is cut off in the middle"
REST_TEXT = "and completes only for a client that resumes."


def texts_of(chunks: list[dict[str, Any]]) -> list[str]:
    return [p["text"] for p in assemble(chunks)["parts"] if p["type"] == "text"]


def text_of(chunks: list[dict[str, Any]]) -> str:
    return " ".join(texts_of(chunks))


def test_slow_keeps_its_schedule_and_sends_the_start_chunk_at_once(live: LiveServer) -> None:
    due = scheduled_chunks("slow", live.settings.speed)
    with httpx.stream("POST", live.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow"}) as response:
        assert response.status_code == 200
        timed = SseParser().read(response.iter_raw()).timed_chunks()
    assert len(timed) == len(due)
    kinds = [c["type"] for _, c in timed]
    assert kinds[0] == "start" and kinds.count("text-delta") == SLOW_TEXT_WORDS
    # Offsets from the start chunk's arrival, against the schedule's offsets from the run's start.
    seen = [at - timed[0][0] for at, _ in timed]
    deltas = [i for i, kind in enumerate(kinds) if kind == "text-delta"]
    first = deltas[0]
    # The start chunk went out on its own, ahead of the content: not held back until the first delta.
    assert seen[first] >= 0.5 * due[first], f"first delta {seen[first]:.3f}s after start, scheduled {due[first]:.3f}s"
    span, scheduled_span = seen[deltas[-1]] - seen[first], due[deltas[-1]] - due[first]
    assert 0.8 * scheduled_span <= span <= 1.5 * scheduled_span, f"deltas over {span:.2f}s, {scheduled_span:.2f}s due"
    gap = statistics.median(b - a for a, b in itertools.pairwise(seen[i] for i in deltas))
    scheduled_gap = statistics.median(b - a for a, b in itertools.pairwise(due[i] for i in deltas))
    assert 0.6 * scheduled_gap <= gap <= 1.8 * scheduled_gap, f"median gap {gap:.3f}s, {scheduled_gap:.3f}s due"


def test_disconnect_then_resume_gives_the_whole_message_once(live: LiveServer) -> None:
    with httpx.stream("POST", live.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow"}) as response:
        run_id = response.headers["x-workflow-run-id"]
        first = SseParser().read(response.iter_raw(), chunks=5).chunks()  # then the client goes away mid-stream
    message_id = first[0]["messageId"]
    resumed = httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H, timeout=10)
    assert resumed.status_code == 200
    assert resumed.headers["x-workflow-run-id"] == run_id
    assert int(resumed.headers["x-workflow-stream-tail-index"]) >= 4
    chunks = chunks_of(resumed.content)
    assert resumed.content.endswith(DONE)
    assert chunks[0] == {"type": "start", "messageId": message_id}
    assert [c["type"] for c in chunks].count("start") == 1
    words = text_of(chunks).split()
    assert len(words) == SLOW_TEXT_WORDS and words[0] == "One" and words[-1] == "forty-eight."
    # The run finished on its own although nobody read its POST stream: the slot is free again.
    assert httpx.get(f"{live.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"] == "completed"
    assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204


def test_a_resume_in_the_disconnect_window_follows_the_run_live_then_there_is_nothing_to_resume(
        live: LiveServer) -> None:
    """`disconnect` keeps its run going for a scripted window after the drop (1 s at speed 1, the
    schedule's gap before the rest): a resume sent at once lands in it, so it is 200 and follows the run
    to its end; once that stream has ended the run is over, so the next resume is 204."""
    due = scheduled_chunks("disconnect", live.settings.speed)
    assert max(b - a for a, b in itertools.pairwise(due)) >= 0.5  # the window this test relies on
    cut = SseParser()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
        "POST", live.base_url + "/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=disconnect"},
        timeout=10,
    ) as response:
        run_id = response.headers["x-workflow-run-id"]
        cut.read(response.iter_raw())
    assert b"[DONE]" not in cut.raw
    assert texts_of(cut.chunks()) == [CUT_TEXT]
    resumed = httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H, timeout=10)
    assert resumed.status_code == 200
    assert resumed.headers["x-workflow-run-id"] == run_id
    chunks = chunks_of(resumed.content)
    # It joined before the run's last chunk existed: the rest reached it live, not as a finished replay.
    assert int(resumed.headers["x-workflow-stream-tail-index"]) < len(chunks) - 1
    assert resumed.content.endswith(DONE)
    assert chunks[0] == cut.chunks()[0]
    assert texts_of(chunks) == [CUT_TEXT, REST_TEXT]
    # The stream ended with the run: nothing to resume now, and the stored answer is the whole message.
    assert_no_content(httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H))
    assert httpx.get(f"{live.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"] == "completed"
    messages = httpx.get(f"{live.base_url}/api/chats/{CHAT_IDLE}/messages", headers=H).json()["data"]
    assert [p["text"] for p in messages[-1]["content"]["parts"] if p["type"] == "text"] == [CUT_TEXT, REST_TEXT]


def test_stop_cancels_the_run_and_ends_every_reader(live: LiveServer) -> None:
    with httpx.stream("POST", live.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=slow"}) as response:
        run_id = response.headers["x-workflow-run-id"]
        pieces = response.iter_raw()
        stream = SseParser().read(pieces, chunks=6)
        stop = httpx.post(f"{live.base_url}/api/chat/{CHAT_IDLE}/stop", headers=H)
        assert stop.status_code == 200 and stop.json() == {"success": True, "stopped": True}
        stream.read(pieces)
    assert stream.raw.endswith(DONE)
    assert len(text_of(stream.chunks()).split()) < SLOW_TEXT_WORDS
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
            assert posted.endswith(DONE)
            return list(await asyncio.gather(*readers))

    bodies = asyncio.run(scenario())
    assert len(set(bodies)) == 1
    assert bodies[0].endswith(DONE)
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
    assert posted.content.endswith(DONE)
