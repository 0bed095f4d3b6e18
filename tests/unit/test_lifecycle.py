"""The sandbox lifecycle machine (mockserver.state.lifecycle) on its own, and its timers in world.yaml."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mockserver.cli import main
from mockserver.errors import FixtureError
from mockserver.settings import DEFAULT_FIXTURES
from mockserver.state import lifecycle
from mockserver.state.blueprint import load_blueprint
from mockserver.state.lifecycle import NEW, Lifecycle, Timers

T = Timers(provision_ms=300, hibernate_after_ms=5 * 60_000, expire_after_ms=30 * 60_000)
START = 1_000_000
EXPIRE = 30 * 60_000


def active() -> Lifecycle:
    return lifecycle.provisioned(NEW, START, T, "session-s1")


def test_a_new_session_is_provisioning_without_a_sandbox() -> None:
    assert (NEW.state, NEW.version, NEW.sandbox, NEW.has_snapshot) == ("provisioning", 0, None, False)
    assert lifecycle.status(NEW, START) == "no_sandbox"
    assert lifecycle.reconnect(NEW, START) == "no_sandbox"
    assert lifecycle.envelope(NEW, START) == {"serverTime": START, "state": "provisioning", "lastActivityAt": None,
                                              "hibernateAfter": None, "sandboxExpiresAt": None}


def test_provisioned_is_active_with_its_deadlines() -> None:
    lc = active()
    assert (lc.state, lc.version, lc.sandbox, lc.started_ms) == ("active", 1, "session-s1", START)
    assert (lc.last_activity_ms, lc.hibernate_after_ms, lc.expires_ms) == (START, START + 300_000, START + 1_800_000)
    assert lifecycle.status(lc, START + 1) == "active"
    assert lifecycle.reconnect(lc, START + 1) == "connected"


def test_provisioning_an_active_sandbox_is_activity_not_a_transition() -> None:
    lc = lifecycle.provisioned(active(), START + 60_000, T, "session-s1")
    assert lc.version == 1
    assert lc.hibernate_after_ms == START + 60_000 + 300_000
    assert lc.expires_ms == START + 1_800_000  # activity never moves the expiry


def test_activity_moves_the_idle_deadline_only_while_active() -> None:
    lc = lifecycle.touched(active(), START + 120_000, T)
    assert (lc.version, lc.last_activity_ms, lc.hibernate_after_ms) == (1, START + 120_000, START + 420_000)
    assert lifecycle.touched(NEW, START, T) is NEW


def test_idle_past_the_deadline_hibernates_with_a_snapshot() -> None:
    lc = active()
    assert lifecycle.evaluate(lc, START + 299_999, streaming=False) is lc
    hibernated = lifecycle.evaluate(lc, START + 300_000, streaming=False)
    assert (hibernated.state, hibernated.version, hibernated.has_snapshot) == ("hibernated", 2, True)
    assert (hibernated.hibernate_after_ms, hibernated.expires_ms, hibernated.started_ms) == (None, None, None)
    assert hibernated.last_activity_ms == START
    assert lifecycle.status(hibernated, START + 300_000) == "no_sandbox"
    assert lifecycle.reconnect(hibernated, START + 300_000) == "expired"
    # Evaluating again changes nothing (a transition happens once).
    assert lifecycle.evaluate(hibernated, START + 10 * 1_800_000, streaming=False) is hibernated


def test_a_streaming_chat_keeps_it_awake_until_the_expiry() -> None:
    lc = active()
    assert lifecycle.evaluate(lc, START + 1_799_999, streaming=True) is lc
    gone = lifecycle.evaluate(lc, START + 1_800_000, streaming=True)
    assert (gone.state, gone.version, gone.sandbox, gone.has_snapshot) == ("hibernated", 2, None, False)
    assert lifecycle.status(gone, START + 1_800_000) == "no_sandbox"
    assert lifecycle.reconnect(gone, START + 1_800_000) == "expired"


def test_the_earlier_deadline_wins_when_both_have_passed() -> None:
    assert lifecycle.evaluate(active(), START + 10 * 1_800_000, streaming=False).has_snapshot  # idle came first
    # Activity just before the expiry puts the idle deadline after it: the expiry comes first.
    late = lifecycle.touched(active(), START + 1_700_000, T)
    assert not lifecycle.evaluate(late, START + 10 * 1_800_000, streaming=False).has_snapshot


def test_a_hibernated_sandbox_is_resumed() -> None:
    hibernated = lifecycle.evaluate(active(), START + 300_000, streaming=False)
    resumed = lifecycle.provisioned(hibernated, START + 400_000, T, "session-s1")
    assert (resumed.state, resumed.version, resumed.expires_ms) == ("active", 3, START + 400_000 + 1_800_000)


def test_archive_and_unarchive() -> None:
    archived = lifecycle.archived(active())
    assert (archived.state, archived.version, archived.sandbox, archived.expires_ms) == ("archived", 2, None, None)
    assert lifecycle.reconnect(archived, START) == "no_sandbox"
    again = lifecycle.unarchived(archived)
    assert (again.state, again.version) == (None, 3)
    assert lifecycle.status(again, START) == "no_sandbox"
    assert lifecycle.unarchived(active()) == active()  # only an archived lifecycle starts over
    assert lifecycle.provisioned(again, START + 5, T, "session-s1").state == "active"


# ---------------------------------------------------------------- defaults.sandbox in world.yaml


def test_the_bundled_world_gives_the_documented_timers() -> None:
    assert load_blueprint(DEFAULT_FIXTURES / "world.yaml").sandbox == Timers(300, 300_000, 1_800_000)


def write_world(tmp_path: Path, sandbox: object) -> Path:
    doc = yaml.safe_load((DEFAULT_FIXTURES / "world.yaml").read_text(encoding="utf-8"))
    doc["defaults"]["sandbox"] = sandbox
    path = tmp_path / "world.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_timers_may_be_left_out_one_by_one(tmp_path: Path) -> None:
    blueprint = load_blueprint(write_world(tmp_path, {"provision_ms": 0}))
    assert blueprint.sandbox == Timers(provision_ms=0)
    assert load_blueprint(write_world(tmp_path, None)).sandbox == Timers()


@pytest.mark.parametrize(("sandbox", "where", "says"), [
    ({"provision_ms": -1}, "defaults.sandbox.provision_ms", "from 0 to"),
    ({"hibernate_after_ms": 0}, "defaults.sandbox.hibernate_after_ms", "from 1 to"),
    ({"expire_after_ms": "30m"}, "defaults.sandbox.expire_after_ms", "whole number of milliseconds"),
    ({"expire_after_ms": True}, "defaults.sandbox.expire_after_ms", "whole number"),
    ({"idle_ms": 5}, "defaults.sandbox.idle_ms", "provision_ms, hibernate_after_ms, expire_after_ms"),
    ([300], "defaults.sandbox", "expected a mapping"),
])
def test_bad_timers_name_the_file_the_field_and_the_rule(tmp_path: Path, sandbox: object, where: str,
                                                         says: str) -> None:
    with pytest.raises(FixtureError) as info:
        load_blueprint(write_world(tmp_path, sandbox))
    assert info.value.where == where
    assert says in info.value.problem
    assert str(tmp_path / "world.yaml") in str(info.value)


def test_validate_reports_a_bad_timer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    write_world(tmp_path, {"hibernate_after_ms": -5}).replace(fixtures / "world.yaml")
    assert main(["validate", "--fixtures", str(fixtures)]) == 1
    err = capsys.readouterr().err
    assert f"{fixtures / 'world.yaml'}: defaults.sandbox.hibernate_after_ms: -5; expected a whole number" in err


def test_due_says_when_a_deadline_has_passed() -> None:
    lc = active()
    assert not lifecycle.due(lc, START + 299_999)
    assert lifecycle.due(lc, START + 300_000)
    assert not lifecycle.due(NEW, START + 10 * EXPIRE)
    assert not lifecycle.due(lifecycle.evaluate(lc, START + 300_000, streaming=False), START + 10 * EXPIRE)
