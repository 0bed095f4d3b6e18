"""The /api/chats family: the sidebar across sessions, and the rooms (create, rename, delete, messages,
copy, trailing, compact, artist). In the documented contract a room is a session chat: one chat everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    ALICE_ACCOUNT,
    CHAT_BOB,
    CHAT_IDLE,
    SESSION_BOB,
    SESSION_READY,
    UNKNOWN_CHAT,
    Scheme,
    assert_error,
    assert_json,
)
from surface import (
    ALICE_H,
    ARTIST,
    BOB_H,
    new_session,
    ready_chat,
    session_chats,
    session_of,
    sidebar,
    turn,
)

from mockserver.state.fixture_ids import BOB_ACCOUNT

ROOM_KEYS = {"id", "title", "accountId", "sessionId", "updatedAt", "artistId"}
ROOM_ID = "3c90c3cc-0d44-4b50-8888-8dd25736052a"


def messages(client: TestClient, chat: str, headers: dict[str, str] = ALICE_H) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = assert_json(client.get(f"/api/chats/{chat}/messages", headers=headers))["data"]
    return rows


def make_room(client: TestClient, headers: dict[str, str] = ALICE_H, **body: Any) -> dict[str, Any]:
    made = assert_json(client.post("/api/chats", json=body, headers=headers))
    assert made["status"] == "success" and set(made["chat"]) == ROOM_KEYS
    room: dict[str, Any] = made["chat"]
    return room


# ---------------------------------------------------------------- the sidebar


def test_the_sidebar_lists_chats_with_messages_newest_first(client: TestClient, scheme: Scheme) -> None:
    assert sidebar(client, scheme(ALICE)) == []  # the fixture chats have no messages
    first_sid, first = ready_chat(client, title="One")
    second_sid, second = ready_chat(client, title="Two", artistId=ARTIST)
    new_session(client)  # its chat has no message: not listed
    turn(client, first_sid, first)
    turn(client, second_sid, second)
    rows = sidebar(client, scheme(ALICE))
    assert [r["id"] for r in rows] == [second, first]
    assert all(set(r) == ROOM_KEYS and r["accountId"] == ALICE_ACCOUNT for r in rows)
    assert [(r["sessionId"], r["artistId"]) for r in rows] == [(second_sid, ARTIST), (first_sid, None)]
    turn(client, first_sid, first, "Again")  # a newer message moves it up
    assert [r["id"] for r in sidebar(client)] == [first, second]
    assert [r["id"] for r in sidebar(client, artist_account_id=ARTIST)] == [second]
    assert [r["id"] for r in sidebar(client, account_id=ALICE_ACCOUNT)] == [first, second]
    assert sidebar(client, BOB_H) == []


def test_the_sidebar_leaves_out_archived_sessions(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid)
    assert_json(client.patch(f"/api/sessions/{sid}", json={"status": "archived"}, headers=ALICE_H))
    assert sidebar(client) == []


def test_the_sidebar_refuses_another_account_and_bad_ids(client: TestClient) -> None:
    assert_error(client.get("/api/chats", params={"account_id": BOB_ACCOUNT}, headers=ALICE_H), 403,
                 contains="account_id")
    assert_error(client.get("/api/chats", params={"account_id": "nope"}, headers=ALICE_H), 400, contains="account_id")
    assert_error(client.get("/api/chats", params={"artist_account_id": "x"}, headers=ALICE_H), 400,
                 contains="artist_account_id")
    assert_error(client.get("/api/chats"), 401)


# ---------------------------------------------------------------- rooms


@pytest.mark.parametrize(("body", "title"), [
    ({"topic": "Pulse Feb 2"}, "Pulse Feb 2"),
    ({"firstMessage": "  Plan the   release of my next single  "}, "Plan the release of my next single"),
    ({"firstMessage": "x" * 200}, "x" * 79 + "…"),
    ({}, "New chat"),
])
def test_a_room_is_a_chat_in_a_session_of_its_own(client: TestClient, body: dict[str, Any], title: str) -> None:
    room = make_room(client, **body)
    assert (room["title"], room["accountId"], room["artistId"]) == (title, ALICE_ACCOUNT, None)
    # One chat everywhere: the room's session and chat answer on the session routes.
    assert [c["id"] for c in session_chats(client, room["sessionId"])] == [room["id"]]
    assert session_of(client, room["sessionId"])["title"] == title
    assert messages(client, room["id"]) == []


def test_a_room_with_a_chosen_id_and_artist(client: TestClient) -> None:
    room = make_room(client, chatId=ROOM_ID, artistId=ARTIST, accountId=ALICE_ACCOUNT)
    assert (room["id"], room["artistId"]) == (ROOM_ID, ARTIST)
    assert_error(client.post("/api/chats", json={"chatId": ROOM_ID}, headers=ALICE_H), 409, contains=ROOM_ID)
    assert_error(client.post("/api/chats", json={"chatId": CHAT_BOB}, headers=ALICE_H), 409)
    assert_error(client.post("/api/chats", json={"accountId": BOB_ACCOUNT}, headers=ALICE_H), 403,
                 contains="accountId")
    assert_error(client.post("/api/chats", json={"chatId": "room-1"}, headers=ALICE_H), 400, contains="chatId")


def test_rename_shows_in_every_list(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid)
    renamed = assert_json(client.patch("/api/chats", json={"chatId": cid, "topic": "Tour dates"}, headers=ALICE_H))
    assert renamed["status"] == "success" and renamed["chat"]["title"] == "Tour dates"
    assert [c["title"] for c in sidebar(client)] == ["Tour dates"]
    assert [c["title"] for c in session_chats(client, sid)] == ["Tour dates"]


@pytest.mark.parametrize(("body", "says"), [
    ({"chatId": CHAT_IDLE, "topic": "ab"}, "topic"),
    ({"chatId": CHAT_IDLE, "topic": "x" * 51}, "topic"),
    ({"chatId": CHAT_IDLE}, "topic"),
    ({"topic": "Long enough"}, "chatId"),
])
def test_a_bad_rename_is_400_and_changes_nothing(client: TestClient, body: dict[str, Any], says: str) -> None:
    assert_error(client.patch("/api/chats", json=body, headers=ALICE_H), 400, contains=says)
    assert {c["id"]: c["title"] for c in session_chats(client, SESSION_READY)}[CHAT_IDLE] == "Idle chat"


def test_deleting_a_room_takes_its_session_and_messages(client: TestClient) -> None:
    room = make_room(client, topic="Scratch")
    deleted = assert_json(client.request("DELETE", "/api/chats", json={"id": room["id"]}, headers=ALICE_H))
    assert deleted == {"status": "success", "id": room["id"], "message": "Chat deleted successfully"}
    assert_error(client.get(f"/api/chats/{room['id']}/messages", headers=ALICE_H), 404)
    assert_error(client.get(f"/api/sessions/{room['sessionId']}", headers=ALICE_H), 404)
    assert_error(client.request("DELETE", "/api/chats", json={"id": room["id"]}, headers=ALICE_H), 404)


def test_deleting_a_session_chat_keeps_the_session_its_only_one_is_refused(client: TestClient) -> None:
    session, only = new_session(client)
    assert_error(client.request("DELETE", "/api/chats", json={"id": only["id"]}, headers=ALICE_H), 400,
                 contains="only chat")
    second = assert_json(client.post(f"/api/sessions/{session['id']}/chats", headers=ALICE_H))["chat"]
    assert_json(client.request("DELETE", "/api/chats", json={"id": second["id"]}, headers=ALICE_H))
    assert [c["id"] for c in session_chats(client, session["id"])] == [only["id"]]


def test_messages_are_the_session_chats_rows(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid, "Plan it")
    rows = messages(client, cid)
    assert [r["content"]["role"] for r in rows] == ["user", "assistant"]
    shown = assert_json(client.get(f"/api/sessions/{sid}/chats/{cid}", headers=ALICE_H))["messages"]
    assert [r["content"] for r in rows] == shown
    assert all(r["room_id"] == cid for r in rows)


def test_copy_replaces_or_appends_the_targets_messages(client: TestClient) -> None:
    sid, source = ready_chat(client)
    turn(client, sid, source, "Original")
    _, target = ready_chat(client)
    path = f"/api/chats/{source}/messages/copy"
    copied = assert_json(client.post(path, json={"targetChatId": target}, headers=ALICE_H))
    assert copied == {"status": "success", "source_chat_id": source, "target_chat_id": target, "copied_count": 2,
                      "cleared_existing": True}
    rows, originals = messages(client, target), messages(client, source)
    assert [r["content"] for r in rows] == [r["content"] for r in originals]
    assert [r["updated_at"] for r in rows] == [r["updated_at"] for r in originals]
    assert {r["id"] for r in rows}.isdisjoint({r["id"] for r in originals})
    assert all(r["room_id"] == target for r in rows)
    appended = assert_json(client.post(path, json={"targetChatId": target, "clearExisting": False}, headers=ALICE_H))
    assert (appended["copied_count"], appended["cleared_existing"]) == (2, False)
    assert len(messages(client, target)) == 4
    assert_json(client.post(path, json={"targetChatId": target}, headers=ALICE_H))
    assert len(messages(client, target)) == 2
    # The copy shows in the session routes too (one chat everywhere), and the target is unread.
    assert [c["hasUnread"] for c in session_chats(client, _session_of_chat(client, target))] == [True]


def _session_of_chat(client: TestClient, chat: str) -> str:
    return next(r["sessionId"] for r in sidebar(client) if r["id"] == chat)


def test_a_bad_copy_changes_nothing(client: TestClient) -> None:
    sid, source = ready_chat(client)
    turn(client, sid, source)
    path = f"/api/chats/{source}/messages/copy"
    assert_error(client.post(path, json={"targetChatId": source}, headers=ALICE_H), 400, contains="different")
    assert_error(client.post(path, json={}, headers=ALICE_H), 400, contains="targetChatId")
    assert_error(client.post(path, json={"targetChatId": UNKNOWN_CHAT}, headers=ALICE_H), 404)
    assert_error(client.post(path, json={"targetChatId": CHAT_BOB}, headers=ALICE_H), 403)
    assert_error(client.post(f"/api/chats/{CHAT_BOB}/messages/copy", json={"targetChatId": source}, headers=ALICE_H),
                 403)
    assert messages(client, CHAT_BOB, BOB_H) == []
    assert len(messages(client, source)) == 2


def test_trailing_deletes_a_message_and_every_later_one(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid, "First")
    turn(client, sid, cid, "Second")
    rows = messages(client, cid)
    assert len(rows) == 4
    path = f"/api/chats/{cid}/messages/trailing"
    answer = assert_json(client.delete(path, params={"from_message_id": rows[2]["id"]}, headers=ALICE_H))
    assert answer == {"status": "success", "chat_id": cid, "from_message_id": rows[2]["id"]}
    assert messages(client, cid) == rows[:2]
    assert_error(client.delete(path, params={"from_message_id": rows[2]["id"]}, headers=ALICE_H), 404,
                 contains="Message not found")
    assert_error(client.delete(path, headers=ALICE_H), 400, contains="from_message_id")
    assert_error(client.delete(f"/api/chats/{CHAT_BOB}/messages/trailing", params={"from_message_id": rows[0]["id"]},
                               headers=ALICE_H), 403)
    assert messages(client, cid) == rows[:2]


def test_compact_summarizes_each_chat_from_its_text(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid, "Plan   my release")
    answer = assert_json(client.post("/api/chats/compact", json={"chatId": [cid, CHAT_IDLE], "prompt": "short"},
                                     headers=ALICE_H))
    summary = answer["chats"][0]["compacted"]
    assert answer["chats"][1] == {"chatId": CHAT_IDLE, "compacted": ""}
    assert summary.splitlines()[0] == "user: Plan my release"
    assert summary.splitlines()[1].startswith("assistant: Here's a draft tweet")
    again = assert_json(client.post("/api/chats/compact", json={"chatId": [cid]}, headers=ALICE_H))
    assert again["chats"][0]["compacted"] == summary  # deterministic, and nothing was written
    assert len(messages(client, cid)) == 2


def test_compact_names_every_chat_it_cannot_read(client: TestClient) -> None:
    response = client.post("/api/chats/compact", json={"chatId": [CHAT_IDLE, UNKNOWN_CHAT, CHAT_BOB]},
                           headers=ALICE_H)
    message = assert_error(response, 404, contains="not found or not accessible")
    assert UNKNOWN_CHAT in message and CHAT_BOB in message and CHAT_IDLE not in message
    assert_error(client.post("/api/chats/compact", json={"chatId": []}, headers=ALICE_H), 400, contains="chatId")


def test_artist_of_a_chat(client: TestClient) -> None:
    room = make_room(client, artistId=ARTIST)
    assert assert_json(client.get(f"/api/chats/{room['id']}/artist", headers=ALICE_H)) == {
        "status": "success", "room_id": room["id"], "artist_id": ARTIST, "artist_exists": True}
    assert assert_json(client.get(f"/api/chats/{CHAT_IDLE}/artist", headers=ALICE_H)) == {
        "status": "success", "room_id": CHAT_IDLE, "artist_id": None, "artist_exists": False}


#: Every room operation on one chat id: method, path, body or query, as a function of the id.
ROOM_OPERATIONS = [
    ("PATCH", lambda c: "/api/chats", lambda c: {"json": {"chatId": c, "topic": "Mine now"}}),
    ("DELETE", lambda c: "/api/chats", lambda c: {"json": {"id": c}}),
    ("GET", lambda c: f"/api/chats/{c}/messages", lambda c: {}),
    ("POST", lambda c: f"/api/chats/{c}/messages/copy", lambda c: {"json": {"targetChatId": CHAT_IDLE}}),
    ("DELETE", lambda c: f"/api/chats/{c}/messages/trailing", lambda c: {"params": {"from_message_id": ROOM_ID}}),
    ("GET", lambda c: f"/api/chats/{c}/artist", lambda c: {}),
]


@pytest.mark.parametrize(("method", "path", "extra"), ROOM_OPERATIONS)
def test_another_accounts_room_is_403_and_an_unknown_one_404(client: TestClient, method: str, path: Any,
                                                              extra: Any) -> None:
    before = session_chats(client, SESSION_BOB, BOB_H)
    assert_error(client.request(method, path(CHAT_BOB), headers=ALICE_H, **extra(CHAT_BOB)), 403)
    assert session_chats(client, SESSION_BOB, BOB_H) == before
    assert_error(client.request(method, path(UNKNOWN_CHAT), headers=ALICE_H, **extra(UNKNOWN_CHAT)), 404)


@pytest.mark.parametrize(("method", "path", "extra"), ROOM_OPERATIONS)
def test_a_fault_on_demand_answers_every_room_operation(client: TestClient, method: str, path: Any,
                                                        extra: Any) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid)
    before = messages(client, cid)
    response = client.request(method, path(cid), headers={**ALICE_H, "prefer": "scenario=http-503"}, **extra(cid))
    assert_error(response, 503)
    assert response.headers["retry-after"] == "5"
    assert messages(client, cid) == before
    assert [c["title"] for c in session_chats(client, sid)] == ["New chat"]


def test_the_same_requests_after_a_reset_give_the_same_answers(client: TestClient) -> None:
    def sequence() -> list[Any]:
        sid, cid = ready_chat(client)
        turn(client, sid, cid)
        room = client.post("/api/chats", json={"topic": "Room"}, headers=ALICE_H).json()
        copied = client.post(f"/api/chats/{cid}/messages/copy", json={"targetChatId": room["chat"]["id"]},
                             headers=ALICE_H).json()
        return [room, copied, client.get("/api/chats", headers=ALICE_H).json(),
                client.get(f"/api/chats/{room['chat']['id']}/messages", headers=ALICE_H).json()]

    first = sequence()
    assert_json(client.post("/__mock/reset"))
    assert sequence() == first
