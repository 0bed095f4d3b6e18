"""The sandbox lifecycle of a session, as a small pure state machine on a world's logical clock.

A `Lifecycle` is an immutable value; every transition is a function from one value (and the time
it happens at, in epoch milliseconds of the world's clock) to the next. Nothing here reads a clock,
sleeps or knows about requests: `mockserver.state.store` calls these with the world's time, and evaluates
the timed transitions (`evaluate`) whenever a session's state is read, so what a client sees depends
only on the requests it sent and on the clock (``POST /__mock/clock`` moves it), never on wall time.

The states (the documents' ``lifecycleState``)::

    provisioning ──provisioned──▶ active ──(idle, no chat streaming)──▶ hibernated (snapshot kept)
         ▲                          │  ▲                                    │
         │                          │  └──────────provisioned───────────────┘ (resumed)
         │                          └──(expiry passes)──▶ hibernated (no snapshot: the sandbox is gone)
         │
    null ◀──unarchived── archived ◀──archived── (any state)

``provisioning`` is where a new session starts (no sandbox yet). ``provisioned`` is what
``POST /api/sandbox`` does once its wait is over. While ``active``, each streamed turn is activity
(`touched`) and moves the idle deadline. ``lifecycleVersion`` counts the changes of state.

`Rules` say where a server reads or writes the lifecycle otherwise than the documents do: the
deployed server (recoup-surface.md section 6) counts a sandbox as running whenever its name is
bound, so a hibernated or archived one reports ``active``; its reconnect probes the sandbox and
writes a stopped one back as hibernated; its unarchive refuses while a sandbox is still bound.
A profile chooses them (`mockserver.profiles.Behaviour.sandbox`). Imports nothing else from the package.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

#: The documents' ``lifecycleState`` values (``null`` is None); ``hibernating``, ``restoring`` and
#: ``failed`` are documented but never entered by the mock (its stops and restores take no time, and
#: nothing fails unless a scenario says so).
LifecycleState = Literal["provisioning", "active", "hibernating", "hibernated", "restoring", "archived", "failed"]
#: What ``GET /api/sandbox/status`` says.
SandboxStatus = Literal["active", "no_sandbox"]
#: What ``GET /api/sandbox/reconnect`` says.
ReconnectStatus = Literal["connected", "no_sandbox", "expired"]

#: The documented defaults (fixtures/world.yaml ``defaults.sandbox`` may change them).
PROVISION_MS = 300
HIBERNATE_AFTER_MS = 5 * 60 * 1000
EXPIRE_AFTER_MS = 30 * 60 * 1000


@dataclass(frozen=True)
class Timers:
    """How long things take, in milliseconds of the world's clock."""

    #: ``POST /api/sandbox`` waits this long (scaled by ``--speed``) before the sandbox is active.
    provision_ms: int = PROVISION_MS
    #: An active sandbox hibernates this long after the last activity, once no chat of its session streams.
    hibernate_after_ms: int = HIBERNATE_AFTER_MS
    #: An active sandbox expires this long after it was provisioned (or resumed), whatever happens.
    expire_after_ms: int = EXPIRE_AFTER_MS


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """One session's sandbox lifecycle. Times are epoch milliseconds of the world's clock."""

    state: LifecycleState | None = "provisioning"
    #: Changes of ``state`` so far.
    version: int = 0
    #: The sandbox's name while one exists: active, or hibernated with a snapshot to resume from.
    sandbox: str | None = None
    #: When the active sandbox was provisioned or resumed (the response's ``createdAt``).
    started_ms: int | None = None
    last_activity_ms: int | None = None
    hibernate_after_ms: int | None = None
    expires_ms: int | None = None
    error: str | None = None

    @property
    def has_snapshot(self) -> bool:
        """A hibernated sandbox that ``POST /api/sandbox`` resumes."""
        return self.state == "hibernated" and self.sandbox is not None


NEW = Lifecycle()


@dataclass(frozen=True)
class Rules:
    """How a server reads and writes the lifecycle where it departs from the documents (each false or
    None: as documented)."""

    #: The sandbox's name is its runtime state (the deployed ``hasRuntimeSandboxState``): the status is
    #: ``active`` whenever a name is bound and no expiry is near, a hibernated or archived sandbox
    #: included; archiving keeps the name; ``sandboxState`` is never null (``{type}`` from the start).
    runtime_by_name: bool = False
    #: With `runtime_by_name`: an expiry closer than this counts as expired (``isSandboxActive``: 10 s).
    expiry_margin_ms: int = 0
    #: ``GET /api/sandbox/reconnect`` probes the sandbox: one that is bound but not live is found
    #: stopped and written back as ``hibernated``, its timers cleared (``expired``); ``hasSnapshot``
    #: says whether there is a snapshot URL (the mock keeps none).
    reconnect_probes: bool = False
    #: Unarchiving while a sandbox is bound and neither hibernated nor archived (still being stopped)
    #: is a 409.
    unarchive_conflicts: bool = False


DOCUMENTED_RULES = Rules()


def _to(lc: Lifecycle, state: LifecycleState | None, **changes: Any) -> Lifecycle:
    """``lc`` in ``state`` with ``changes``; the version counts the change of state, if there is one."""
    version = lc.version + (1 if state != lc.state else 0)
    return dataclasses.replace(lc, state=state, version=version, **changes)


def provisioned(lc: Lifecycle, now: int, timers: Timers, name: str) -> Lifecycle:
    """``POST /api/sandbox`` is done: the sandbox ``name`` is active from ``now``, its idle and expiry
    deadlines set. On a sandbox that is active already, this is activity, not a transition."""
    if is_active(lc, now):
        return touched(lc, now, timers)
    # Every field but the version is new: built directly (dataclasses.replace costs more; every headless
    # run provisions its session's sandbox).
    return Lifecycle("active", lc.version + (lc.state != "active"), name, now, now, now + timers.hibernate_after_ms,
                     now + timers.expire_after_ms, None)


def touched(lc: Lifecycle, now: int, timers: Timers) -> Lifecycle:
    """Activity at ``now`` (a streamed turn): the idle deadline moves; the expiry does not. Nothing
    changes unless the sandbox is active."""
    if lc.state != "active":
        return lc
    return dataclasses.replace(lc, last_activity_ms=now, hibernate_after_ms=now + timers.hibernate_after_ms)


def due(lc: Lifecycle, now: int) -> bool:
    """Whether a timed transition may apply by ``now`` (a deadline of an active sandbox has passed):
    only then does `evaluate` need to know whether a chat streams."""
    return lc.state == "active" and any(d is not None and now >= d for d in (lc.hibernate_after_ms, lc.expires_ms))


def evaluate(lc: Lifecycle, now: int, *, streaming: bool) -> Lifecycle:
    """The timed transitions due by ``now``: an active sandbox hibernates once its idle deadline has
    passed and no chat of the session streams (keeping a snapshot), and is gone once its expiry has
    passed (no snapshot). When both have passed, the earlier deadline wins."""
    if lc.state != "active" or lc.expires_ms is None or lc.hibernate_after_ms is None:
        return lc
    idle_due = not streaming and now >= lc.hibernate_after_ms
    if idle_due and lc.hibernate_after_ms <= lc.expires_ms:
        return _stopped(lc, keep_snapshot=True)
    if now >= lc.expires_ms:
        return _stopped(lc, keep_snapshot=False)
    return lc


def _stopped(lc: Lifecycle, *, keep_snapshot: bool) -> Lifecycle:
    return _to(lc, "hibernated", sandbox=lc.sandbox if keep_snapshot else None, started_ms=None,
               hibernate_after_ms=None, expires_ms=None)


def archived(lc: Lifecycle, rules: Rules = DOCUMENTED_RULES) -> Lifecycle:
    """The session is archived: its sandbox is stopped and forgotten (its name kept, under
    `Rules.runtime_by_name`), every timer cleared."""
    return _to(lc, "archived", sandbox=lc.sandbox if rules.runtime_by_name else None, started_ms=None,
               hibernate_after_ms=None, expires_ms=None, error=None)


def unarchived(lc: Lifecycle) -> Lifecycle:
    """The session is running again: an archived lifecycle starts over with no state (the next
    ``POST /api/sandbox`` provisions a sandbox); any other state is kept."""
    if lc.state != "archived":
        return lc
    return _to(lc, None, error=None)


def unarchive_conflict(lc: Lifecycle, rules: Rules = DOCUMENTED_RULES) -> bool:
    """Whether unarchiving is refused (409, `Rules.unarchive_conflicts`): a sandbox is still bound and
    has been neither hibernated nor archived (the deployed server's test; it keeps no snapshot URL)."""
    return rules.unarchive_conflicts and lc.sandbox is not None and lc.state not in ("hibernated", "archived")


def is_active(lc: Lifecycle, now: int) -> bool:
    """A sandbox is bound and has not expired (evaluate first: an overdue one is not hibernated yet)."""
    return lc.state == "active" and lc.sandbox is not None and (lc.expires_ms is None or now < lc.expires_ms)


def status(lc: Lifecycle, now: int, rules: Rules = DOCUMENTED_RULES) -> SandboxStatus:
    """``GET /api/sandbox/status``: ``active`` while a non-expired sandbox is bound, else ``no_sandbox``.
    Under `Rules.runtime_by_name`, while a name is bound and its expiry (if any) is not near."""
    if rules.runtime_by_name:
        running = lc.sandbox is not None and (lc.expires_ms is None or lc.expires_ms - now > rules.expiry_margin_ms)
        return "active" if running else "no_sandbox"
    return "active" if is_active(lc, now) else "no_sandbox"


def reconnect(lc: Lifecycle, now: int, rules: Rules = DOCUMENTED_RULES) -> ReconnectStatus:
    """``GET /api/sandbox/reconnect``: ``connected`` to a live sandbox, ``expired`` when the session's
    sandbox has stopped (hibernated, with or without a snapshot), ``no_sandbox`` when it never had one
    (or it was archived away). Under `Rules.reconnect_probes`: ``expired`` for any bound sandbox that
    is not live (the probe finds it stopped), ``no_sandbox`` when no name is bound."""
    if is_active(lc, now):
        return "connected"
    if rules.reconnect_probes:
        return "no_sandbox" if lc.sandbox is None else "expired"
    return "expired" if lc.state == "hibernated" else "no_sandbox"


def reconnected(lc: Lifecycle, now: int, rules: Rules = DOCUMENTED_RULES) -> tuple[Lifecycle, dict[str, object]]:
    """``GET /api/sandbox/reconnect``: the lifecycle afterwards, and the answer. Reading changes
    nothing, but under `Rules.reconnect_probes` a bound sandbox that is not live is written back as
    ``hibernated`` with its timers cleared (the deployed server's "permanent" probe failure: a stopped
    sandbox), and that answer's envelope shows no activity or deadline."""
    answer = reconnect(lc, now, rules)
    shown = lc
    if answer == "expired" and rules.reconnect_probes:
        lc = _to(lc, "hibernated", started_ms=None, hibernate_after_ms=None, expires_ms=None)
        shown = dataclasses.replace(lc, last_activity_ms=None)
    body: dict[str, object] = {"status": answer,
                               "hasSnapshot": False if rules.reconnect_probes else lc.has_snapshot}
    if answer == "connected":
        body["expiresAt"] = lc.expires_ms
    body["lifecycle"] = envelope(shown, now)
    return lc, body


def envelope(lc: Lifecycle, now: int) -> dict[str, object]:
    """The ``lifecycle`` object of the sandbox routes: the server's time and the deadlines, in epoch ms."""
    return {"serverTime": now, "state": lc.state, "lastActivityAt": lc.last_activity_ms,
            "hibernateAfter": lc.hibernate_after_ms, "sandboxExpiresAt": lc.expires_ms}
