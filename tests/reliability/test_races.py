"""Races over real sockets: the slot compare-and-set, stop during a resume, reset during streams."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from support import ALICE, CHAT_IDLE, DONE, LiveServer, ServerProcess, chat_body, chunks_of, simultaneous_posts

H = {"x-api-key": ALICE}


@pytest.mark.parametrize("rounds", [pytest.param(3, id="short"),
                                    pytest.param(20, id="long", marks=pytest.mark.stress)])
def test_hundred_simultaneous_posts_stream_exactly_once_every_time(live: LiveServer, rounds: int) -> None:
    for _ in range(rounds):
        statuses = asyncio.run(simultaneous_posts(live.base_url, 100, chat_body(), {**H, "prefer": "scenario=slow"}))
        assert statuses == Counter({200: 1, 409: 99})
        # The winner read its stream to the end, so its run is over and the slot is free again.
        assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204


def test_stop_during_a_resume_ends_both_streams_cleanly(live: LiveServer) -> None:
    async def scenario() -> tuple[bytes, bytes, dict[str, object]]:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10, headers=H) as client:
            async with client.stream("POST", "/api/chat", json=chat_body(),
                                     headers={"prefer": "scenario=slow"}) as posted:
                post_pieces = posted.aiter_raw()
                await anext(post_pieces)
                async with client.stream("GET", f"/api/chat/{CHAT_IDLE}/stream") as resumed:
                    resume_pieces = resumed.aiter_raw()
                    first = await anext(resume_pieces)
                    stop = (await client.post(f"/api/chat/{CHAT_IDLE}/stop")).json()
                    resumed_body = first + b"".join([p async for p in resume_pieces])
                posted_body = b"".join([p async for p in post_pieces])
            return resumed_body, posted_body, stop

    resumed, posted, stop = asyncio.run(scenario())
    assert stop == {"success": True, "stopped": True}
    assert resumed.endswith(DONE) and posted.endswith(DONE)
    assert chunks_of(resumed)[0]["type"] == "start"
    status = httpx.get(f"{live.base_url}/__mock/status").json()
    assert status["runsLive"] == 0 and status["readers"] == 0


def test_reset_during_streams_ends_them_and_restores_the_world(live: LiveServer) -> None:
    async def scenario() -> list[bytes]:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10, headers=H) as client:
            runs = [(await client.post("/api/chat/runs", json={"prompt": "go"}, headers={"prefer": "scenario=slow"}))
                    .json() for _ in range(20)]
            # Passed by every reader once its first bytes are in, and by this test.
            streaming = asyncio.Barrier(len(runs) + 1)

            async def read(chat_id: str) -> bytes:
                async with client.stream("GET", f"/api/chat/{chat_id}/stream") as response:
                    assert response.status_code == 200
                    pieces = response.aiter_raw()
                    first = await anext(pieces)
                    await streaming.wait()
                    return first + b"".join([p async for p in pieces])

            readers = [asyncio.create_task(read(r["chatId"])) for r in runs]
            async with asyncio.timeout(10):  # a safety bound only: every reader gets its first bytes at once
                await streaming.wait()
            # Every run is live and followed: the reset lands mid-stream.
            status = (await client.get("/__mock/status")).json()
            assert status["runsLive"] == 20 and status["readers"] == 20
            reset = (await client.post("/__mock/reset")).json()
            assert reset["runsCancelled"] == 20
            return list(await asyncio.gather(*readers))

    bodies = asyncio.run(scenario())
    assert all(b.endswith(DONE) for b in bodies)
    # Cut by the reset: each ends without the script's `finish`.
    assert all(chunks_of(b)[-1]["type"] != "finish" for b in bodies)
    status = httpx.get(f"{live.base_url}/__mock/status").json()
    assert status == {**status, "runsLive": 0, "readers": 0, "chats": 4, "sessions": 3}


@pytest.mark.parametrize("readers", [pytest.param(30, id="short"),
                                     pytest.param(300, id="long", marks=pytest.mark.stress)])
def test_many_readers_of_one_run_agree(readers: int) -> None:
    async def scenario(base_url: str) -> list[tuple[int, bytes]]:
        limits = httpx.Limits(max_connections=readers + 5)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=H, limits=limits) as client:
            started = await client.post("/api/chat/runs", json={"prompt": "go"}, headers={"prefer": "scenario=slow"})
            chat_id = started.json()["chatId"]

            async def read() -> tuple[int, bytes]:
                async with client.stream("GET", f"/api/chat/{chat_id}/stream") as response:
                    return response.status_code, b"".join([p async for p in response.aiter_raw()])

            return list(await asyncio.gather(*(read() for _ in range(readers))))

    # Its own process (so the readers do not share the server's GIL), slowed down (`slow` lasts
    # about 7 s) so that every reader connects while the run is live.
    server = ServerProcess("--speed", "3")
    try:
        results = asyncio.run(scenario(server.base_url))
    finally:
        server.stop()
    assert {status for status, _ in results} == {200}
    bodies = {body for _, body in results}
    assert len(bodies) == 1 and bodies.pop().endswith(DONE)
