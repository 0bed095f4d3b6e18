"""Real concurrency over real sockets: the chat's stream slot is a compare-and-set."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from support import ALICE, CHAT_IDLE, LiveServer, chat_body, simultaneous_posts

H = {"x-api-key": ALICE}


def test_fifty_simultaneous_posts_to_one_idle_chat_stream_exactly_once(live: LiveServer) -> None:
    statuses = asyncio.run(simultaneous_posts(live.base_url, 50, chat_body(), {**H, "prefer": "scenario=slow"}))
    assert statuses == Counter({200: 1, 409: 49})
    # The winner's run has finished: the chat is idle again.
    assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
