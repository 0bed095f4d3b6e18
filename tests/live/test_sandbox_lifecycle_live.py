"""A sandbox over its life on a live uvicorn, as a front end polls it: created (the provisioning wait is
real, the status says no_sandbox meanwhile), active, kept awake by a streaming chat, hibernated once
idle (the world's clock moved on by POST /__mock/clock), resumed, expired; reconnect's answer at each
step. And a chat marked read while its turn streams is unread once the turn has ended."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from support import ALICE, DONE, LiveServer, chat_body, live_server

from mockserver.settings import DEFAULT_FIXTURES

H = {"x-api-key": ALICE}
#: Long enough to poll the status many times while POST /api/sandbox waits.
PROVISION_MS = 1500
HIBERNATE_MS, EXPIRE_MS = 300_000, 1_800_000
REPO = "https://github.com/recoupable/mock-workspace"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    fixtures = tmp_path_factory.mktemp("fixtures")
    shutil.copytree(DEFAULT_FIXTURES, fixtures, dirs_exist_ok=True)
    world = yaml.safe_load((fixtures / "world.yaml").read_text(encoding="utf-8"))
    world["defaults"]["sandbox"]["provision_ms"] = PROVISION_MS
    (fixtures / "world.yaml").write_text(yaml.safe_dump(world), encoding="utf-8")
    with live_server(speed=1.0, fixtures=fixtures) as mock:
        yield mock


@pytest.fixture
def api(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=H, timeout=20) as client:
        client.post("/__mock/reset").raise_for_status()
        yield client


def status(api: httpx.Client, session: str) -> dict[str, Any]:
    response = api.get("/api/sandbox/status", params={"sessionId": session})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reconnect(api: httpx.Client, session: str) -> dict[str, Any]:
    response = api.get("/api/sandbox/reconnect", params={"sessionId": session})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def streaming(api: httpx.Client, session: str) -> bool:
    return any(c["isStreaming"] for c in api.get(f"/api/sessions/{session}/chats").json()["chats"])


def advance(api: httpx.Client, ms: int) -> None:
    assert api.post("/__mock/clock", json={"advanceMs": ms}).json()["advancedMs"] == ms


def sandbox_posts(api: httpx.Client) -> list[dict[str, Any]]:
    """The journal's entries of POST /api/sandbox, oldest first."""
    entries = api.get("/__mock/requests", params={"path": "/api/sandbox", "method": "POST"}).json()["requests"]
    return [e for e in entries if e["path"] == "/api/sandbox"]


def create_sandbox_while_polling(api: httpx.Client, session: str) -> tuple[dict[str, Any], float, list[str]]:
    """POST /api/sandbox on another connection; meanwhile poll the status as a front end does. Returns
    the answer, how long it took, and the statuses read while the server held the POST (its journal
    entry there and not done, before and after the reading)."""
    answer: dict[str, Any] = {}
    earlier = len(sandbox_posts(api))

    def create() -> None:
        with httpx.Client(base_url=str(api.base_url), headers=H, timeout=20) as other:
            response = other.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": session})
            answer.update(response.json(), status_code=response.status_code)

    started = time.monotonic()
    thread = threading.Thread(target=create)
    thread.start()
    seen: list[str] = []
    for _ in range(400):  # bounded: the wait is 1.5 s, each round a few ms
        ours = sandbox_posts(api)[earlier:]
        if ours and ours[0]["done"]:
            break
        if ours:
            reading = status(api, session)["status"]
            if sandbox_posts(api)[earlier]["done"]:
                break  # answered meanwhile: this reading may be after the change
            seen.append(reading)
    thread.join(timeout=20)
    took = time.monotonic() - started
    assert answer.pop("status_code") == 200, answer
    return answer, took, seen


def test_a_sandbox_over_its_life_as_a_front_end_polls_it(api: httpx.Client) -> None:
    made = api.post("/api/sessions", json={"title": "Lifecycle"}).json()
    sid, cid = made["session"]["id"], made["chat"]["id"]
    assert status(api, sid)["status"] == "no_sandbox"
    assert reconnect(api, sid)["status"] == "no_sandbox"

    # Created: the POST waits the provisioning time for real; the status says no_sandbox meanwhile.
    clock_before = api.get("/__mock/clock").json()["nowMs"]
    created, took, seen = create_sandbox_while_polling(api, sid)
    assert took >= PROVISION_MS / 1000
    assert seen and set(seen) == {"no_sandbox"}, seen
    assert created["createdAt"] >= clock_before + PROVISION_MS  # the world's clock moved by the wait
    active = status(api, sid)
    assert (active["status"], active["lifecycleVersion"], active["lifecycle"]["state"]) == ("active", 1, "active")
    connected = reconnect(api, sid)
    assert (connected["status"], connected["expiresAt"]) == ("connected", created["createdAt"] + EXPIRE_MS)

    # A streaming chat keeps it awake past the idle deadline; once the turn has ended, it hibernates.
    with api.stream("POST", "/api/chat", json=chat_body(cid, sid, "Count"), headers={"prefer": "scenario=slow"}) as r:
        pieces = r.iter_bytes()
        assert next(pieces).startswith(b'data: {"type":"start"')
        advance(api, HIBERNATE_MS + 60_000)
        awake = status(api, sid)
        assert streaming(api, sid)  # still streaming after that reading: it was during it
        assert awake["status"] == "active"
        rest = b"".join(pieces)
    assert rest.endswith(DONE)
    for _ in range(200):  # bounded: the slot is released as the run closes, with its last chunk
        if not streaming(api, sid):
            break
        time.sleep(0.01)
    hibernated = status(api, sid)
    assert (hibernated["status"], hibernated["hasSnapshot"], hibernated["lifecycleVersion"]) == ("no_sandbox", True, 2)
    assert hibernated["lifecycle"]["state"] == "hibernated"
    assert reconnect(api, sid) | {"lifecycle": None} == {"status": "expired", "hasSnapshot": True, "lifecycle": None}
    assert api.post("/api/chat", json=chat_body(cid, sid)).status_code == 400  # Sandbox not initialized

    # Resumed: the same wait, active again.
    _, took, seen = create_sandbox_while_polling(api, sid)
    assert took >= PROVISION_MS / 1000
    assert seen and set(seen) == {"no_sandbox"}, seen
    resumed = status(api, sid)
    assert (resumed["status"], resumed["hasSnapshot"], resumed["lifecycleVersion"]) == ("active", False, 3)

    # Expired: a chat streams past the 30 minutes; the sandbox is gone, with no snapshot.
    with api.stream("POST", "/api/chat", json=chat_body(cid, sid, "Count"), headers={"prefer": "scenario=slow"}) as r:
        pieces = r.iter_bytes()
        next(pieces)
        advance(api, EXPIRE_MS)
        gone = status(api, sid)
        assert streaming(api, sid)
        b"".join(pieces)
    assert (gone["status"], gone["hasSnapshot"], gone["lifecycleVersion"]) == ("no_sandbox", False, 4)
    assert reconnect(api, sid)["status"] == "expired"
    assert api.get(f"/api/sessions/{sid}").json()["session"]["sandboxState"] is None


def test_a_chat_read_while_its_turn_streams_is_unread_once_it_has_ended(api: httpx.Client) -> None:
    made = api.post("/api/sessions", json={}).json()
    sid, cid = made["session"]["id"], made["chat"]["id"]
    assert api.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": sid}).status_code == 200

    def unread() -> bool:
        chats = api.get(f"/api/sessions/{sid}/chats").json()["chats"]
        return bool(chats[0]["hasUnread"])

    with api.stream("POST", "/api/chat", json=chat_body(cid, sid), headers={"prefer": "scenario=slow"}) as r:
        pieces = r.iter_bytes()
        next(pieces)
        assert api.post(f"/api/sessions/{sid}/chats/{cid}/read").json() == {"success": True}
        assert streaming(api, sid)
        assert not unread()
        b"".join(pieces)
    for _ in range(200):  # bounded: the answer is stored as the run closes
        if not streaming(api, sid):
            break
        time.sleep(0.01)
    assert unread()
    assert api.post(f"/api/sessions/{sid}/chats/{cid}/read").json() == {"success": True}
    assert not unread()



def test_two_creates_at_once_make_one_sandbox(api: httpx.Client) -> None:
    made = api.post("/api/sessions", json={}).json()
    sid = made["session"]["id"]
    before = api.get("/__mock/clock").json()["nowMs"]
    answers: list[dict[str, Any]] = []
    took: list[float] = []

    def create() -> None:
        with httpx.Client(base_url=str(api.base_url), headers=H, timeout=20) as other:
            started = time.monotonic()
            answers.append(other.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": sid}).json())
            took.append(time.monotonic() - started)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(answers) == 2
    # Both waited (so they overlapped: one after the other, the second answers at once).
    assert min(took) >= PROVISION_MS / 1000, took
    assert {a["createdAt"] for a in answers} == {answers[0]["createdAt"]}  # the same sandbox
    after = status(api, sid)
    assert (after["status"], after["lifecycleVersion"]) == ("active", 1)
    # The world's clock moved by one provisioning time, not two.
    assert before + PROVISION_MS <= after["lifecycle"]["serverTime"] < before + 2 * PROVISION_MS
