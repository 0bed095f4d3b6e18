"""The blueprint of the fixture world (``fixtures/world.yaml``): the accounts, sessions and chats
every world starts with.

Parsed and checked here into plain frozen records, once; `mockserver.state.store` builds live state from
them, as often as a world is created or reset. Errors name the file, the position
(``chats[1].session``) and the problem.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FixtureError
from ..yamlfile import read_yaml
from .fixture_ids import RUN_ID, RUN_ID_RULE
from .lifecycle import Timers

DEFAULT_TIMERS = Timers()


@dataclass(frozen=True)
class AccountDef:
    name: str
    id: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class SessionDef:
    id: str
    account: str
    title: str
    sandbox: bool


@dataclass(frozen=True)
class PinnedRunDef:
    id: str
    scenario: str
    message_id: str


@dataclass(frozen=True)
class ChatDef:
    id: str
    session: str
    title: str
    scenario: str | None
    pinned_run: PinnedRunDef | None


@dataclass(frozen=True)
class Blueprint:
    """What ``world.yaml`` defines: the starting state of every world."""

    file: str
    default_model: str
    accounts: tuple[AccountDef, ...]
    sessions: tuple[SessionDef, ...]
    chats: tuple[ChatDef, ...]
    #: ``defaults.sandbox``: how long provisioning takes, and when an idle sandbox hibernates and expires.
    sandbox: Timers = DEFAULT_TIMERS


def is_uuid(value: Any) -> bool:
    """True for a canonical (lowercase, hyphenated) UUID string."""
    try:
        return isinstance(value, str) and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def load_blueprint(path: Path, scenario_names: set[str] | None = None) -> Blueprint:
    """Load and check ``world.yaml``; ``scenario_names`` lets chat scenarios be checked too."""
    file = str(path)
    doc = read_yaml(path, lambda why: FixtureError(file, "", f"cannot read YAML: {why}"))
    if not isinstance(doc, Mapping):
        raise FixtureError(file, "", "expected a mapping with accounts, sessions and chats")
    reader = _Reader(file)
    accounts = tuple(
        AccountDef(
            name=reader.string(a, f"accounts[{i}].name"),
            id=reader.uuid(a, f"accounts[{i}].id"),
            keys=tuple(reader.strings(a, f"accounts[{i}].keys")),
        )
        for i, a in enumerate(reader.items(doc, "accounts"))
    )
    names = {a.name for a in accounts}
    sessions = tuple(
        SessionDef(
            id=reader.uuid(s, f"sessions[{i}].id"),
            account=reader.ref(s, f"sessions[{i}].account", names),
            title=reader.string(s, f"sessions[{i}].title"),
            sandbox=bool(s.get("sandbox", False)),
        )
        for i, s in enumerate(reader.items(doc, "sessions"))
    )
    session_ids = {s.id for s in sessions}
    chats = tuple(
        _chat(reader, c, f"chats[{i}]", session_ids, scenario_names)
        for i, c in enumerate(reader.items(doc, "chats"))
    )
    reader.unique([k for a in accounts for k in a.keys], "accounts[].keys")
    reader.unique([a.id for a in accounts], "accounts[].id")
    reader.unique([a.name for a in accounts], "accounts[].name")
    reader.unique([s.id for s in sessions], "sessions[].id")
    reader.unique([c.id for c in chats], "chats[].id")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise FixtureError(file, "defaults", f"{defaults!r}; expected a mapping (model, sandbox)")
    return Blueprint(file, str(defaults.get("model", "openai/gpt-5-mini")), accounts, sessions, chats,
                     _sandbox_timers(reader, defaults.get("sandbox")))


#: ``defaults.sandbox`` keys: the `Timers` field each sets, and its bounds in milliseconds (a day at most).
SANDBOX_TIMERS = {"provision_ms": (0, 86_400_000), "hibernate_after_ms": (1, 86_400_000),
                  "expire_after_ms": (1, 86_400_000)}


def _sandbox_timers(reader: _Reader, raw: Any) -> Timers:
    """``defaults.sandbox`` as `Timers`; every key optional (the documented defaults), none unknown."""
    if raw is None:
        return DEFAULT_TIMERS
    where = "defaults.sandbox"
    if not isinstance(raw, Mapping):
        raise FixtureError(reader.file, where, f"{raw!r}; expected a mapping of {', '.join(SANDBOX_TIMERS)}")
    if unknown := sorted(set(raw) - set(SANDBOX_TIMERS)):
        raise FixtureError(reader.file, f"{where}.{unknown[0]}",
                           f"unknown key; defaults.sandbox has {', '.join(SANDBOX_TIMERS)}")
    values: dict[str, int] = {}
    for key, (low, high) in SANDBOX_TIMERS.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise FixtureError(reader.file, f"{where}.{key}",
                               f"{value!r}; expected a whole number of milliseconds from {low} to {high}")
        values[key] = value
    return Timers(**values)


def _chat(reader: _Reader, raw: Mapping[str, Any], where: str, sessions: set[str],
          scenarios: set[str] | None) -> ChatDef:
    pinned = None
    if raw.get("pinned_run") is not None:
        p = raw["pinned_run"]
        if not isinstance(p, Mapping):
            raise FixtureError(reader.file, f"{where}.pinned_run", "expected a mapping with id and scenario")
        run_id = reader.string(p, f"{where}.pinned_run.id")
        if not RUN_ID.match(run_id):
            raise FixtureError(reader.file, f"{where}.pinned_run.id",
                               f"{run_id!r} is not {RUN_ID_RULE}")
        pinned = PinnedRunDef(run_id, reader.scenario(p, f"{where}.pinned_run.scenario", scenarios),
                              reader.string(p, f"{where}.pinned_run.message_id"))
    scenario = reader.scenario(raw, f"{where}.scenario", scenarios) if "scenario" in raw else None
    return ChatDef(reader.uuid(raw, f"{where}.id"), reader.ref(raw, f"{where}.session", sessions),
                   reader.string(raw, f"{where}.title"), scenario, pinned)


class _Reader:
    """Typed field access that raises `FixtureError` naming the file and position."""

    def __init__(self, file: str) -> None:
        self.file = file

    def items(self, doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = doc.get(key)
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise FixtureError(self.file, key, "expected a list of mappings")
        return value

    def string(self, raw: Mapping[str, Any], where: str) -> str:
        value = raw.get(where.rsplit(".", 1)[-1])
        if not isinstance(value, str) or not value:
            raise FixtureError(self.file, where, f"{value!r}; expected a non-empty string")
        return value

    def strings(self, raw: Mapping[str, Any], where: str) -> list[str]:
        value = raw.get(where.rsplit(".", 1)[-1])
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise FixtureError(self.file, where, f"{value!r}; expected a non-empty list of strings")
        return value

    def uuid(self, raw: Mapping[str, Any], where: str) -> str:
        value = self.string(raw, where)
        if not is_uuid(value):
            raise FixtureError(self.file, where, f"{value!r} is not a lowercase UUID")
        return value

    def ref(self, raw: Mapping[str, Any], where: str, known: set[str]) -> str:
        value = self.string(raw, where)
        if value not in known:
            raise FixtureError(self.file, where, f"{value!r} does not exist; known: {', '.join(sorted(known))}")
        return value

    def scenario(self, raw: Mapping[str, Any], where: str, known: set[str] | None) -> str:
        value = self.string(raw, where)
        if known is not None and value not in known:
            raise FixtureError(self.file, where, f"unknown scenario {value!r}; available: {', '.join(sorted(known))}")
        return value

    def unique(self, values: list[str], where: str) -> None:
        seen: set[str] = set()
        for value in values:
            if value in seen:
                raise FixtureError(self.file, where, f"{value!r} appears more than once")
            seen.add(value)
