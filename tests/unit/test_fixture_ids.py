"""The fixture ids named in code (mockserver.state.fixture_ids) are the bundled world's own rows."""

from __future__ import annotations

from mockserver.settings import DEFAULT_FIXTURES
from mockserver.state import fixture_ids as ids
from mockserver.state.blueprint import load_blueprint


def test_the_named_ids_are_the_bundled_worlds_rows() -> None:
    world = load_blueprint(DEFAULT_FIXTURES / "world.yaml")
    accounts = {a.name: a for a in world.accounts}
    sessions = {s.id: s for s in world.sessions}
    chats = {c.id: c for c in world.chats}
    assert accounts["alice"].keys == (ids.ALICE,) and accounts["alice"].id == ids.ALICE_ACCOUNT
    assert accounts["bob"].keys == (ids.BOB,) and accounts["bob"].id == ids.BOB_ACCOUNT
    assert (sessions[ids.SESSION_READY].account, sessions[ids.SESSION_READY].sandbox) == ("alice", True)
    assert (sessions[ids.SESSION_NO_SANDBOX].account, sessions[ids.SESSION_NO_SANDBOX].sandbox) == ("alice", False)
    assert (sessions[ids.SESSION_BOB].account, sessions[ids.SESSION_BOB].sandbox) == ("bob", True)
    assert chats[ids.CHAT_IDLE].session == ids.SESSION_READY and chats[ids.CHAT_IDLE].pinned_run is None
    busy = chats[ids.CHAT_BUSY].pinned_run
    assert busy is not None and busy.id == ids.PINNED_RUN and ids.RUN_ID.match(busy.id)
    assert chats[ids.CHAT_BOB].session == ids.SESSION_BOB
    assert chats[ids.CHAT_NO_SANDBOX].session == ids.SESSION_NO_SANDBOX
    assert {ids.UNKNOWN_SESSION, ids.UNKNOWN_CHAT}.isdisjoint({*sessions, *chats})
    assert ids.RUN_ID.match(ids.UNKNOWN_RUN)
