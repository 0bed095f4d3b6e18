"""Real concurrency over real sockets: the chat's stream slot is a compare-and-set."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from support import ALICE, CHAT_IDLE, LiveServer, chat_body

H = {"x-api-key": ALICE}


async def _fire(base_url: str, count: int) -> Counter[int]:
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=base_url, timeout=20, limits=limits, headers=H) as client:
        start = asyncio.Event()

        async def one() -> int:
            await start.wait()
            response = await client.post("/api/chat", json=chat_body(), headers={"prefer": "scenario=slow"})
            return response.status_code

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        await asyncio.sleep(0)  # let every task reach the start line
        start.set()
        return Counter(await asyncio.gather(*tasks))


def test_fifty_simultaneous_posts_to_one_idle_chat_stream_exactly_once(live: LiveServer) -> None:
    statuses = asyncio.run(_fire(live.base_url, 50))
    assert statuses == Counter({200: 1, 409: 49})
    # The winner's run has finished: the chat is idle again.
    assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
