"""Helpers of the in-process tests of the front end's surface (sessions, session chats, chats, sandbox):
the steps a front end takes, each checked as it goes."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient
from support import ALICE, BOB, SCHEMES, assert_json, assert_stream, chat_body

ALICE_H = SCHEMES["x-api-key"](ALICE)
BOB_H = SCHEMES["x-api-key"](BOB)
REPO = "https://github.com/recoupable/mock-workspace"
ARTIST = "7a9e0000-0000-4000-8000-000000000007"
#: Keys of the Session JSON (recoup-surface.md section 4), all of them always present.
SESSION_KEYS = {
    "id", "userId", "artistId", "title", "status", "repoOwner", "repoName", "branch", "cloneUrl", "isNewBranch",
    "globalSkillRefs", "sandboxState", "lifecycleState", "lifecycleVersion", "lastActivityAt", "sandboxExpiresAt",
    "hibernateAfter", "lifecycleRunId", "lifecycleError", "linesAdded", "linesRemoved", "snapshotUrl",
    "snapshotCreatedAt", "snapshotSizeBytes", "cachedDiff", "cachedDiffUpdatedAt", "createdAt", "updatedAt",
}
CHAT_KEYS = {"id", "sessionId", "title", "modelId", "activeStreamId", "lastAssistantMessageAt", "createdAt",
             "updatedAt"}
#: fixtures/world.yaml defaults.sandbox
PROVISION_MS, HIBERNATE_MS, EXPIRE_MS = 300, 300_000, 1_800_000


def new_session(client: TestClient, headers: dict[str, str] = ALICE_H, **body: Any) -> tuple[dict[str, Any],
                                                                                          dict[str, Any]]:
    """``POST /api/sessions``: the session and its first chat."""
    created = assert_json(client.post("/api/sessions", json=body, headers=headers))
    assert set(created) == {"session", "chat"}
    return created["session"], created["chat"]


def provision(client: TestClient, session_id: str, headers: dict[str, str] = ALICE_H) -> dict[str, Any]:
    """``POST /api/sandbox`` for the session."""
    body: dict[str, Any] = assert_json(client.post("/api/sandbox", json={"repoUrl": REPO, "sessionId": session_id},
                                                   headers=headers))
    return body


def ready_chat(client: TestClient, headers: dict[str, str] = ALICE_H, **body: Any) -> tuple[str, str]:
    """A new session with its sandbox: its id and its first chat's."""
    session, chat = new_session(client, headers, **body)
    provision(client, session["id"], headers)
    return session["id"], chat["id"]


def turn(client: TestClient, session_id: str, chat_id: str, text: str = "Hello",
         headers: dict[str, str] = ALICE_H) -> list[dict[str, Any]]:
    """One streamed turn (``POST /api/chat``), read to its end: its chunks."""
    return assert_stream(client.post("/api/chat", json=chat_body(chat_id, session_id, text), headers=headers))


def session_of(client: TestClient, session_id: str, headers: dict[str, str] = ALICE_H) -> dict[str, Any]:
    session: dict[str, Any] = assert_json(client.get(f"/api/sessions/{session_id}", headers=headers))["session"]
    return session


def session_chats(client: TestClient, session_id: str, headers: dict[str, str] = ALICE_H) -> list[dict[str, Any]]:
    listing = assert_json(client.get(f"/api/sessions/{session_id}/chats", headers=headers))
    chats: list[dict[str, Any]] = listing["chats"]
    return chats


def sidebar(client: TestClient, headers: dict[str, str] = ALICE_H, **query: str) -> list[dict[str, Any]]:
    listing = assert_json(client.get("/api/chats", params=query, headers=headers))
    assert listing["status"] == "success"
    chats: list[dict[str, Any]] = listing["chats"]
    return chats


def sandbox_status(client: TestClient, session_id: str, headers: dict[str, str] = ALICE_H) -> dict[str, Any]:
    status: dict[str, Any] = assert_json(client.get("/api/sandbox/status", params={"sessionId": session_id},
                                                    headers=headers))
    return status


def reconnect(client: TestClient, session_id: str, headers: dict[str, str] = ALICE_H) -> dict[str, Any]:
    answer: dict[str, Any] = assert_json(client.get("/api/sandbox/reconnect", params={"sessionId": session_id},
                                                    headers=headers))
    return answer


def advance(client: TestClient, ms: int, world: str | None = None) -> int:
    """``POST /__mock/clock``: the world's clock ``ms`` on; its new time."""
    headers = {"x-mock-world": world} if world else {}
    moved = assert_json(client.post("/__mock/clock", json={"advanceMs": ms}, headers=headers))
    assert moved["advancedMs"] == ms
    now: int = moved["nowMs"]
    return now


def world_time(client: TestClient) -> int:
    now: int = assert_json(client.get("/__mock/clock"))["nowMs"]
    return now
