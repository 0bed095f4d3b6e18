"""After a reset, the same requests give the same run ids and the same bytes, paced and jittered."""

from __future__ import annotations

import httpx
from support import ALICE, CHAT_BUSY, CHAT_IDLE, LiveServer, chat_body, live_server

H = {"x-api-key": ALICE}


def sequence(base_url: str) -> list[object]:
    """A QA session: streams (with jitter), a headless run watched to its end, resources, the journal."""
    seen: list[object] = []
    with httpx.Client(base_url=base_url, headers=H, timeout=20) as client:
        for scenario in ("default", "tool-call", "multi-step"):
            response = client.post("/api/chat", json=chat_body(), headers={"prefer": f"scenario={scenario}"})
            seen += [response.headers["x-workflow-run-id"], response.content]
        run = client.post("/api/chat/runs", json={"prompt": "Plan it"}).json()
        watched = client.get(f"/api/chat/{run['chatId']}/stream")
        seen += [run, watched.status_code, watched.content]
        created = client.post("/api/sessions", json={"title": "QA"}).json()
        seen += [created, client.get(f"/api/chats/{CHAT_IDLE}/messages").json()]
        seen += [client.get(f"/api/chat/{CHAT_BUSY}/stream").content]
        seen += [client.get(f"/api/chat/runs/{run['runId']}").json()]
    return seen


def test_same_requests_after_a_reset_give_the_same_bytes(live: LiveServer) -> None:
    first = sequence(live.base_url)
    httpx.post(live.base_url + "/__mock/reset").raise_for_status()
    second = sequence(live.base_url)
    assert first == second


def test_another_seed_gives_other_ids() -> None:
    # Both at full speed: ids do not depend on pacing (the test above shows they repeat at speed 1).
    with live_server(speed=0) as default, live_server(speed=0, seed=1) as other:
        assert default.settings.seed == 0
        assert sequence(other.base_url)[0] != sequence(default.base_url)[0]
