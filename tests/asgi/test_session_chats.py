"""The chats of a session: list, create (client-chosen ids), get, rename or change model, delete, mark read."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    CHAT_BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    SESSION_BOB,
    SESSION_READY,
    UNKNOWN_CHAT,
    UNKNOWN_SESSION,
    Scheme,
    assert_error,
    assert_json,
    assert_stream,
    user_message,
)
from surface import (
    ALICE_H,
    BOB_H,
    CHAT_KEYS,
    new_session,
    ready_chat,
    session_chats,
    sidebar,
    turn,
)

CLIENT_CHAT_ID = "0c11e470-0000-4000-8000-00000000c11e"
DEFAULT_MODEL = "openai/gpt-5-mini"


def chat_path(session: str, chat: str, rest: str = "") -> str:
    return f"/api/sessions/{session}/chats/{chat}{rest}"


def get_chat(client: TestClient, session: str, chat: str, headers: dict[str, str] = ALICE_H) -> dict[str, Any]:
    body: dict[str, Any] = assert_json(client.get(chat_path(session, chat), headers=headers))
    return body


def test_the_list_is_every_chat_oldest_first_with_the_callers_flags(client: TestClient, scheme: Scheme) -> None:
    session, first = new_session(client, scheme(ALICE))
    second = assert_json(client.post(f"/api/sessions/{session['id']}/chats", headers=scheme(ALICE)))["chat"]
    listing = assert_json(client.get(f"/api/sessions/{session['id']}/chats", headers=scheme(ALICE)))
    assert listing["defaultModelId"] == DEFAULT_MODEL
    assert listing["chats"] == [{**first, "hasUnread": False, "isStreaming": False},
                                {**second, "hasUnread": False, "isStreaming": False}]
    # The fixture's pinned run streams.
    busy = {c["id"]: c for c in session_chats(client, SESSION_READY)}[CHAT_BUSY]
    assert busy["isStreaming"] is True and busy["activeStreamId"] is not None


def test_a_client_chosen_id_is_idempotent_in_its_session_and_409_elsewhere(client: TestClient) -> None:
    session, _ = new_session(client)
    path = f"/api/sessions/{session['id']}/chats"
    made = assert_json(client.post(path, json={"id": CLIENT_CHAT_ID}, headers=ALICE_H))["chat"]
    assert set(made) == CHAT_KEYS and made["id"] == CLIENT_CHAT_ID
    assert assert_json(client.post(path, json={"id": CLIENT_CHAT_ID}, headers=ALICE_H)) == {"chat": made}
    assert [c["id"] for c in session_chats(client, session["id"])].count(CLIENT_CHAT_ID) == 1
    other, _ = new_session(client)
    assert_error(client.post(f"/api/sessions/{other['id']}/chats", json={"id": CLIENT_CHAT_ID}, headers=ALICE_H),
                 409, contains="another session")
    assert_error(client.post(f"/api/sessions/{other['id']}/chats", json={"id": CHAT_BOB}, headers=ALICE_H), 409)
    assert CLIENT_CHAT_ID not in [c["id"] for c in session_chats(client, other["id"])]


def test_get_gives_the_chat_its_streaming_state_and_its_messages(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    empty = get_chat(client, sid, cid)
    assert (empty["isStreaming"], empty["messages"]) == (False, [])
    chunks = turn(client, sid, cid, "Plan my release")
    after = get_chat(client, sid, cid)
    assert [m["role"] for m in after["messages"]] == ["user", "assistant"]
    assert after["messages"][0] == user_message("Plan my release")
    assert after["messages"][1]["id"] == chunks[0]["messageId"]
    assert after["chat"]["lastAssistantMessageAt"] is not None


TEXT_PARTS = [{"type": "text", "text": "Plan my release"}]


@pytest.mark.parametrize(("sent", "parts"), [
    ({"role": "user", "content": "Plan my release"}, TEXT_PARTS),
    ({"role": "user", "parts": TEXT_PARTS}, TEXT_PARTS),
    ({"id": "", "role": "user"}, []),
])
def test_a_user_message_sent_without_an_id_or_parts_is_stored_with_them(
        client: TestClient, sent: dict[str, Any], parts: list[dict[str, Any]]) -> None:
    """The request's messages require nothing (the documents' `{role, content}` is valid), but every stored
    message has what `GET …/chats/{chatId}` documents (`SessionChatResponse`: `id`, `role`, `parts`): an id of
    its own, and its `content` as a text part. Found by the contract suite's fuzzing (a turn without an id,
    then the chat read back against its schema)."""
    sid, cid = ready_chat(client)
    assert_stream(client.post("/api/chat", json={"chatId": cid, "sessionId": sid, "messages": [sent]},
                              headers=ALICE_H))
    stored = get_chat(client, sid, cid)["messages"][0]
    assert isinstance(stored.get("id"), str) and stored["id"], stored
    assert stored == {**sent, "id": stored["id"], "parts": parts}
    rows = assert_json(client.get(f"/api/chats/{cid}/messages", headers=ALICE_H))["data"]
    assert rows[0]["content"] == stored


def test_rename_and_model_change_show_in_every_list(client: TestClient) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid)
    before = get_chat(client, sid, cid)["chat"]
    renamed = assert_json(client.patch(chat_path(sid, cid), json={"title": "  Tour dates "}, headers=ALICE_H))["chat"]
    assert renamed == {**before, "title": "Tour dates"}  # trimmed; updatedAt left alone
    model = assert_json(client.patch(chat_path(sid, cid), json={"modelId": "openai/gpt-5"}, headers=ALICE_H))["chat"]
    assert (model["title"], model["modelId"]) == ("Tour dates", "openai/gpt-5")
    assert get_chat(client, sid, cid)["chat"] == model
    assert [(c["title"], c["modelId"]) for c in session_chats(client, sid)] == [("Tour dates", "openai/gpt-5")]
    assert [c["title"] for c in sidebar(client)] == ["Tour dates"]


@pytest.mark.parametrize(("body", "says"), [
    ({}, "at least one of title and modelId"),
    ({"title": "   "}, "title cannot be empty"),
    ({"modelId": ""}, "modelId cannot be empty"),
    ({"title": "Ok", "pinned": True}, "no other key"),
    ({"title": 5}, "title"),
])
def test_a_bad_patch_is_400_and_changes_nothing(client: TestClient, body: dict[str, Any], says: str) -> None:
    session, chat = new_session(client)
    assert_error(client.patch(chat_path(session["id"], chat["id"]), json=body, headers=ALICE_H), 400, contains=says)
    assert get_chat(client, session["id"], chat["id"])["chat"] == chat


def test_the_only_chat_of_a_session_cannot_be_deleted(client: TestClient) -> None:
    session, chat = new_session(client)
    assert_error(client.delete(chat_path(session["id"], chat["id"]), headers=ALICE_H), 400,
                 contains="only chat in a session")
    assert [c["id"] for c in session_chats(client, session["id"])] == [chat["id"]]


def test_delete_takes_the_messages_and_leaves_404_and_no_listing(client: TestClient) -> None:
    sid, first = ready_chat(client)
    second = assert_json(client.post(f"/api/sessions/{sid}/chats", json={"id": CLIENT_CHAT_ID},
                                     headers=ALICE_H))["chat"]["id"]
    turn(client, sid, second)
    assert assert_json(client.post(chat_path(sid, second, "/read"), headers=ALICE_H)) == {"success": True}
    assert [c["id"] for c in sidebar(client)] == [second]
    assert assert_json(client.delete(chat_path(sid, second), headers=ALICE_H)) == {"success": True}
    assert_error(client.get(chat_path(sid, second), headers=ALICE_H), 404)
    assert_error(client.get(f"/api/chats/{second}/messages", headers=ALICE_H), 404)
    assert_error(client.delete(chat_path(sid, second), headers=ALICE_H), 404)
    assert [c["id"] for c in session_chats(client, sid)] == [first]
    assert sidebar(client) == []
    # The id can be taken again: a new, empty chat with no read mark.
    again = assert_json(client.post(f"/api/sessions/{sid}/chats", json={"id": second}, headers=ALICE_H))["chat"]
    assert again["lastAssistantMessageAt"] is None
    assert get_chat(client, sid, second)["messages"] == []


def test_unread_after_a_finished_turn_then_read_after_the_mark(client: TestClient) -> None:
    sid, cid = ready_chat(client)

    def flags() -> list[tuple[bool, bool]]:
        return [(c["hasUnread"], c["isStreaming"]) for c in session_chats(client, sid)]

    assert flags() == [(False, False)]
    turn(client, sid, cid)
    assert flags() == [(True, False)]
    assert assert_json(client.post(chat_path(sid, cid, "/read"), headers=ALICE_H)) == {"success": True}
    assert flags() == [(False, False)]
    assert assert_json(client.post(chat_path(sid, cid, "/read"), headers=ALICE_H)) == {"success": True}  # idempotent
    assert flags() == [(False, False)]
    turn(client, sid, cid, "Again")
    assert flags() == [(True, False)]


def test_a_chat_in_another_session_is_404_never_403(client: TestClient) -> None:
    session, _ = new_session(client)
    for method, rest, body in OPERATIONS:
        response = client.request(method, chat_path(session["id"], CHAT_IDLE, rest), json=body, headers=ALICE_H)
        assert_error(response, 404, contains="Chat not found")


#: The operations on one chat of a session: method, path after the chat id, body.
OPERATIONS: list[tuple[str, str, Any]] = [
    ("GET", "", None), ("PATCH", "", {"title": "Mine now"}), ("DELETE", "", None), ("POST", "/read", None),
]


@pytest.mark.parametrize(("method", "rest", "body"), OPERATIONS)
def test_another_accounts_session_is_403_and_nothing_changes(client: TestClient, method: str, rest: str,
                                                             body: Any) -> None:
    before = session_chats(client, SESSION_BOB, BOB_H)
    assert_error(client.request(method, chat_path(SESSION_BOB, CHAT_BOB, rest), json=body, headers=ALICE_H), 403)
    assert session_chats(client, SESSION_BOB, BOB_H) == before


@pytest.mark.parametrize(("method", "rest", "body"), OPERATIONS)
def test_unknown_ids_are_404_and_malformed_ones_400(client: TestClient, method: str, rest: str, body: Any) -> None:
    assert_error(client.request(method, chat_path(UNKNOWN_SESSION, CHAT_IDLE, rest), json=body, headers=ALICE_H),
                 404, contains="Session not found")
    assert_error(client.request(method, chat_path(SESSION_READY, UNKNOWN_CHAT, rest), json=body, headers=ALICE_H),
                 404, contains="Chat not found")
    assert_error(client.request(method, chat_path(SESSION_READY, "nope", rest), json=body, headers=ALICE_H), 400,
                 contains="chatId")


def test_list_and_create_of_another_accounts_session_are_403(client: TestClient) -> None:
    assert_error(client.get(f"/api/sessions/{SESSION_BOB}/chats", headers=ALICE_H), 403)
    assert_error(client.post(f"/api/sessions/{SESSION_BOB}/chats", json={"id": CLIENT_CHAT_ID}, headers=ALICE_H), 403)
    assert CLIENT_CHAT_ID not in [c["id"] for c in session_chats(client, SESSION_BOB, BOB_H)]
    assert_error(client.post(f"/api/sessions/{UNKNOWN_SESSION}/chats", json={}, headers=ALICE_H), 404)
    assert_error(client.post(f"/api/sessions/{SESSION_READY}/chats", json={"id": ""}, headers=ALICE_H), 400,
                 contains="id")


@pytest.mark.parametrize(("method", "rest", "body"), OPERATIONS)
def test_a_fault_on_demand_answers_instead_and_changes_nothing(client: TestClient, method: str, rest: str,
                                                               body: Any) -> None:
    sid, cid = ready_chat(client)
    turn(client, sid, cid)
    assert_json(client.post(f"/api/sessions/{sid}/chats", json={"id": CLIENT_CHAT_ID}, headers=ALICE_H))
    before = session_chats(client, sid)
    response = client.request(method, chat_path(sid, cid, rest), json=body,
                              headers={**ALICE_H, "prefer": "scenario=http-429"})
    assert_error(response, 429)
    assert response.headers["retry-after"] == "2"
    assert session_chats(client, sid) == before


def test_the_same_requests_after_a_reset_give_the_same_answers(client: TestClient) -> None:
    def sequence() -> list[Any]:
        sid, cid = ready_chat(client)
        turn(client, sid, cid)
        made = client.post(f"/api/sessions/{sid}/chats", json={}, headers=ALICE_H).json()
        client.patch(chat_path(sid, cid), json={"title": "Renamed"}, headers=ALICE_H)
        client.post(chat_path(sid, cid, "/read"), headers=ALICE_H)
        client.delete(chat_path(sid, made["chat"]["id"]), headers=ALICE_H)
        return [made, client.get(f"/api/sessions/{sid}/chats", headers=ALICE_H).json(),
                client.get(chat_path(sid, cid), headers=ALICE_H).json()]

    first = sequence()
    assert_json(client.post("/__mock/reset"))
    assert sequence() == first
