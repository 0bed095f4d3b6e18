"""Clients that drop their streams mid-way: runs go on, every resume works, nothing is left behind."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support import ALICE, ServerProcess, chunks_of, user_message

from mockserver.streams.protocol import assemble

H = {"x-api-key": ALICE}
SLOW_WORDS = 48


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = ServerProcess("--speed", "0.5")  # `slow` takes about 1.2 s
    try:
        yield process
    finally:
        process.stop()


async def fresh_chats(client: httpx.AsyncClient, count: int) -> list[tuple[str, str]]:
    chats = []
    for _ in range(count):
        created = (await client.post("/api/sessions", json={})).json()
        session_id, chat_id = created["session"]["id"], created["chat"]["id"]
        await client.post("/api/sandbox", json={"repoUrl": "https://github.com/o/r", "sessionId": session_id})
        chats.append((session_id, chat_id))
    return chats


async def storm(base_url: str, count: int) -> list[dict[str, Any]]:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=H, limits=limits) as client:
        chats = await fresh_chats(client, count)

        async def drop(session_id: str, chat_id: str) -> None:
            body = {"chatId": chat_id, "sessionId": session_id, "messages": [user_message()]}
            async with client.stream("POST", "/api/chat", json=body, headers={"prefer": "scenario=slow"}) as r:
                assert r.status_code == 200
                pieces = r.aiter_raw()
                for _ in range(3):
                    await anext(pieces)
            # leaving the block closes this connection mid-stream

        await asyncio.gather(*(drop(*c) for c in chats))

        async def resume(chat_id: str) -> dict[str, Any]:
            response = await client.get(f"/api/chat/{chat_id}/stream")
            if response.status_code == 200:
                return assemble(chunks_of(response.content))
            assert response.status_code == 204  # already over: the message was stored
            rows = (await client.get(f"/api/chats/{chat_id}/messages")).json()["data"]
            return dict(rows[-1]["content"])

        return list(await asyncio.gather(*(resume(chat_id) for _, chat_id in chats)))


def idle_status(server: ServerProcess) -> dict[str, Any]:
    return dict(httpx.get(f"{server.base_url}/__mock/status").json())


@pytest.mark.parametrize("clients", [pytest.param(60, id="short"),
                                     pytest.param(300, id="long", marks=pytest.mark.stress)])
def test_disconnect_storm(server: ServerProcess, clients: int) -> None:
    asyncio.run(storm(server.base_url, 10))  # warm-up: imports, caches, pools
    httpx.post(f"{server.base_url}/__mock/reset").raise_for_status()
    baseline_rss, baseline = server.rss_kb(), idle_status(server)

    messages = asyncio.run(storm(server.base_url, clients))

    for message in messages:  # every run went on and completed: each resume saw the whole answer
        texts = [p["text"] for p in message["parts"] if p["type"] == "text"]
        assert len(texts) == 1 and len(texts[0].split()) == SLOW_WORDS
    after = idle_status(server)
    assert after["runsLive"] == 0 and after["readers"] == 0
    assert after["tasks"] == baseline["tasks"], "an asyncio task was left behind"
    httpx.post(f"{server.base_url}/__mock/reset").raise_for_status()
    grown_mb = (server.rss_kb() - baseline_rss) / 1024
    assert grown_mb < 40, f"RSS grew {grown_mb:.1f} MB over {clients} dropped streams"
