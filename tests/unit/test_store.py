"""Seeded ids, the logical clock, the stream slot's compare-and-set, and key masking."""

from __future__ import annotations

import re

import pytest

from mockserver.auth import EXACTLY_ONE, credential, mask
from mockserver.errors import ApiError, ConfigError
from mockserver.settings import DEFAULT_FIXTURES, Settings
from mockserver.state.blueprint import load_blueprint
from mockserver.state.fixture_ids import RUN_ID
from mockserver.state.store import Ids, Store, message_id


def test_ids_are_deterministic_per_seed() -> None:
    a, b, c = Ids(7), Ids(7), Ids(8)
    seq_a = [a.run_id(), a.uuid(), a.now_iso()]
    assert seq_a == [b.run_id(), b.uuid(), b.now_iso()]
    assert seq_a[0] != c.run_id()
    assert RUN_ID.match(seq_a[0])
    assert message_id(a.rng) == message_id(b.rng)
    assert re.fullmatch(r"[0-9A-Za-z]{16}", message_id(a.rng))


def test_run_ids_sort_by_creation() -> None:
    ids = Ids(0)
    runs = [ids.run_id() for _ in range(50)]
    assert runs == sorted(runs)


def test_slot_compare_and_set() -> None:
    store = Store(load_blueprint(DEFAULT_FIXTURES / "world.yaml"), 0)
    chat = store.chats["c4a70000-0000-4000-8000-000000000001"]
    assert store.claim_slot(chat, "r1")
    assert not store.claim_slot(chat, "r2")
    assert not store.release_slot(chat, "r2")
    assert store.release_slot(chat, "r1") and chat.active_stream_id is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-api-key": "k"}, "k"),
        ({"authorization": "Bearer k"}, "k"),
        ({"authorization": "bearer  k "}, "k"),
    ],
)
def test_credential_accepts_exactly_one_scheme(headers: dict[str, str], expected: str) -> None:
    assert credential(headers) == expected


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, EXACTLY_ONE),
        ({"x-api-key": "k", "authorization": "Bearer k"}, EXACTLY_ONE),
        ({"authorization": "Basic abc"}, "Bearer token required"),
        ({"authorization": "Bearer "}, "Bearer token required"),
        ({"x-api-key": " "}, "empty"),
    ],
)
def test_credential_errors_are_401(headers: dict[str, str], fragment: str) -> None:
    with pytest.raises(ApiError) as info:
        credential(headers)
    assert info.value.status == 401 and fragment in info.value.message


def test_mask_never_shows_the_key() -> None:
    assert mask("recoup_sk_test_alice") == "recoup_sk_…lice"
    assert "secret" not in mask("recoup_sk_supersecretvalue")
    assert mask("short") == "…"


def test_settings_name_the_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"'speed' has value -1"):
        Settings(speed=-1)
    env = {"RECOUP_MOCK_SPEED": "0", "RECOUP_MOCK_ADMIN": "off", "RECOUP_MOCK_PORT": "5000"}
    settings = Settings.from_env(env, port=6000)
    assert (settings.speed, settings.admin, settings.port) == (0.0, False, 6000)
    with pytest.raises(ConfigError, match="RECOUP_MOCK_PORT"):
        Settings.from_env({"RECOUP_MOCK_PORT": "many"})
