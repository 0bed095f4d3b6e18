"""A headless run's own session and chat, deferred (`Store.defer_headless`): built on first look exactly as
`add_session` and `add_chat` would have made them, with the same draws from the world in the same order."""

from __future__ import annotations

import functools
from typing import Any

from mockserver.settings import DEFAULT_FIXTURES
from mockserver.state.blueprint import load_blueprint
from mockserver.state.headless import Deferred
from mockserver.state.store import Chat, Store

BLUEPRINT = load_blueprint(DEFAULT_FIXTURES / "world.yaml")
TITLE = "Scheduled generation"
PROMPT = {"id": "m-1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}


def answer() -> dict[str, Any]:
    return {"id": "a-1", "role": "assistant", "parts": [{"type": "text", "text": "done"}]}


def eager(store: Store) -> Chat:
    """What the headless handler made before deferral: a provisioned ephemeral session, its chat, the user's
    message, the slot held by a run, its answer stored as it closes, the slot released."""
    account = next(iter(store.accounts_by_key.values()))
    session = store.add_session(account, TITLE, sandbox=True, ephemeral=True)
    chat = store.add_chat(session, TITLE)
    fill(store, chat)
    return chat


def fill(store: Store, chat: Chat | Deferred) -> None:
    store.add_message(chat, dict(PROMPT), counted=False)
    store.claim_slot(chat, "wrun_1")
    store.add_message(chat, functools.partial(answer), role="assistant", row_id=store.ids.uuid(),
                      at=store.finished_at(), chunks=3, counted=False)
    store.release_slot(chat, "wrun_1")


def deferred(store: Store) -> Deferred:
    account = next(iter(store.accounts_by_key.values()))
    made = store.defer_headless(account, TITLE)
    fill(store, made)
    return made


def rendered(store: Store, chat: Chat) -> dict[str, Any]:
    store.lifecycle_of(chat.session)
    return {"session": chat.session.to_json(), "chat": chat.to_json(), "count": chat.session.chat_count,
            "ephemeral": chat.session.ephemeral, "messages": [m.to_json() for m in chat.messages],
            "sidebar": chat.sidebar_row(), "unread": chat.has_unread(chat.account)}


def test_a_deferred_session_and_chat_are_built_as_they_were_made_with_the_same_draws() -> None:
    before, after = Store(BLUEPRINT, 5), Store(BLUEPRINT, 5)
    made = eager(before)
    record = deferred(after)
    assert record.id == made.id and record.session_id == made.session.id
    # Both drew the same from the world: what comes next is the same too.
    assert [before.ids.uuid(), before.ids.now_ms()] == [after.ids.uuid(), after.ids.now_ms()]
    built = after.chat(record.id)
    assert built is not None
    assert rendered(after, built) == rendered(before, made)
    assert after.session(record.session_id) is built.session
    assert after.counts() == before.counts()


def test_the_session_looked_up_first_builds_both_once() -> None:
    store = Store(BLUEPRINT, 1)
    record = deferred(store)
    sessions, chats = store.counts()
    session = store.session(record.session_id)
    assert session is not None
    chat = store.holder(record.id)
    assert isinstance(chat, Chat) and chat.session is session  # built with its session, not deferred any more
    assert store.chat(record.id) is chat and store.chats_of(session) == [chat]
    assert store.counts() == (sessions, chats)


def test_a_run_holds_and_stores_into_a_deferred_chat_without_building_it() -> None:
    store = Store(BLUEPRINT, 2)
    account = next(iter(store.accounts_by_key.values()))
    record = store.defer_headless(account, TITLE)
    assert store.claim_slot(record, "wrun_9") and not store.claim_slot(record, "wrun_10")
    assert store.holder(record.id) is record  # the run's lookup builds nothing
    store.add_message(record, dict(PROMPT), counted=False)
    assert record.id not in store.chats and len(record.rows) == 1
    built = store.chat(record.id)  # a reader while the run plays: the slot is still held
    assert built is not None and built.active_stream_id == "wrun_9"
    assert store.release_slot(built, "wrun_9")
    assert [m.role for m in built.messages] == ["user"]


def test_the_sidebar_and_the_id_checks_see_deferred_chats() -> None:
    store = Store(BLUEPRINT, 3)
    record = deferred(store)
    assert store.has_chat(record.id) and record.id not in store.chats
    rows = store.sidebar(record.account, None)
    assert record.id in [c.id for c in rows]


def test_forgetting_a_deferred_chat_takes_its_session_along() -> None:
    store = Store(BLUEPRINT, 4)
    counts = store.counts()
    record = deferred(store)
    assert store.counts() == (counts[0] + 1, counts[1] + 1)
    store.forget_chat(record)
    assert store.counts() == counts
    assert store.chat(record.id) is None and store.session(record.session_id) is None
