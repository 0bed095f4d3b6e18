"""What ``recoup-mock proxy`` knows: its settings, the journal of what passed with each exchange's
violations, and its own small API under ``/__mock/`` (described in ``openapi/proxy-admin.yaml``).

- ``GET /__mock/violations``: the violations of the exchanges in the journal, oldest exchange first
  (``?rule=``, and the journal's own filters: ``?method=``, ``?path=``, ``?status=``, ``?limit=``);
- ``GET /__mock/requests``: the journal, each entry with its ``violations`` (the same filters);
- ``GET /__mock/status``: the target, the profile, the recording directory and the counts;
- ``POST /__mock/reset``: forget the journal and the violations.

The violations live on their journal entries, and both listings select entries with the journal's one
filter (`select_entries`): ``?limit=N`` is the last N exchanges in both (for the violations, the last N
that have any). The target's own ``/__mock/`` (when the target is a recoup-mock) is not reachable
through the proxy. Every answer here is JSON with CORS (`mockserver.proxy.server` adds it); an error is the
documented error body (`mockserver.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from ..errors import ApiError, ConfigError, error_response, quote
from ..profiles import Specs, profile_named
from ..responses import JsonAnswer
from ..settings import DEFAULT_SPEC
from ..spec import ApiSpec
from ..state.journal import Journal, JournalEntry, select_entries
from ..types import PROFILE_NAMES
from .conformance import Conformance, Finding
from .recorder import Recorder, secrets_of

log = logging.getLogger("recoup_mock.proxy")

#: How many times one rule is reported per exchange (a broken stream breaks it on every event).
PER_RULE = 3
#: The journal query's integer values, and what each must be (the same for both listings).
INTEGER_QUERY = {"status": "an HTTP status (an integer)",
                 "limit": "a count of the most recent exchanges (an integer of at least 1)"}
#: What each listing filters by, as its 400 names them.
REQUEST_FILTERS = "method, path (a part of it), status and limit (the last N exchanges)"
VIOLATION_FILTERS = f"rule, {REQUEST_FILTERS}"
#: How much of a violation's message its log line shows (the journal keeps it whole).
LOG_MESSAGE = 300


@dataclass(frozen=True)
class ProxySettings:
    """``recoup-mock proxy``'s flags."""

    target: str
    host: str = "127.0.0.1"
    port: int = 4011
    record: Path | None = None
    spec: Path = DEFAULT_SPEC
    profile: str = "documented"
    journal_size: int = 10_000

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(f"--target {self.target!r} is not an http(s) URL of a deployment; expected e.g. "
                              "https://api.recoupable.dev or http://127.0.0.1:4010 (no query, no fragment)")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port {self.port} is not a port; expected 0 to 65535 (0 picks a free one)")
        if self.profile not in PROFILE_NAMES:
            raise ConfigError(f"--profile {self.profile!r} is unknown; choose one of {', '.join(PROFILE_NAMES)}")
        if self.record is not None:
            # The directory, or the nearest of its parents that exists, must be a directory (it is created).
            try:
                existing = next((p for p in (self.record, *self.record.parents) if p.exists()), None)
            except OSError:  # cannot even look (no permission): making it says so (`recoup-mock proxy`)
                existing = None
            if existing is not None and not existing.is_dir():
                raise ConfigError(f"--record {self.record}: {existing} is not a directory; expected a directory "
                                  "to record into (created if missing), e.g. --record recordings")


class ProxyState:
    """The contract the proxy judges by, the recorder, and what it has seen."""

    def __init__(self, settings: ProxySettings) -> None:
        self.settings = settings
        self.target = settings.target.rstrip("/")
        #: The target's path, put before each request's own (a deployment behind a path prefix).
        self.prefix = (urlsplit(self.target).path or "").encode()
        profile = profile_named(settings.profile)
        documented = ApiSpec(settings.spec)
        self.conformance = Conformance(Specs(settings.spec, documented).of(profile), profile.behaviour)
        # Recordings are fixtures: checked as `recoup-mock validate --fixtures DIR` checks them.
        self.recorder = (Recorder(settings.record, settings.target, documented.chunk_schemas())
                         if settings.record is not None else None)
        self.journal = Journal(settings.journal_size)

    def begin(self, method: str, path: str) -> JournalEntry:
        entry = self.journal.record(method, path, 0)
        entry.violations = []
        return entry

    def end(self, entry: JournalEntry, duration_ms: float) -> None:
        entry.duration_ms = duration_ms
        entry.done = True

    @property
    def violations(self) -> list[dict[str, Any]]:
        """Every violation of the exchanges in the journal, as ``GET /__mock/violations`` lists them."""
        return listed_violations(self.journal.entries)

    def violation(self, entry: JournalEntry, finding: Finding) -> None:
        """Keep one violation on its entry, with when it was found, and log it on one line."""
        assert entry.violations is not None
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        entry.violations.append({**finding.to_json(), "time": stamp})
        message = finding.message if len(finding.message) <= LOG_MESSAGE else finding.message[:LOG_MESSAGE] + "…"
        log.warning("VIOLATION %s %s %s [%s] %s: %s", entry.method, entry.path, entry.status or "-", finding.rule,
                    finding.where, message)


class Findings:
    """What one exchange breaks: each rule reported at most `PER_RULE` times (a broken stream repeats
    itself), logged on one line each and kept on the exchange's journal entry."""

    def __init__(self, state: ProxyState, entry: JournalEntry) -> None:
        self.state = state
        self.entry = entry
        self.per_rule: dict[str, int] = {}

    def report(self, findings: list[Finding]) -> None:
        for finding in findings:
            seen = self.per_rule[finding.rule] = self.per_rule.get(finding.rule, 0) + 1
            if seen <= PER_RULE:
                self.state.violation(self.entry, finding)

    def close(self) -> None:
        for rule, seen in self.per_rule.items():
            if seen > PER_RULE:
                log.warning("%s %s %s: [%s] %d more like the above", self.entry.method, self.entry.path,
                            self.entry.status, rule, seen - PER_RULE)


def listed_violations(entries: Iterable[JournalEntry]) -> list[dict[str, Any]]:
    """The violations of ``entries``, each with its exchange: seq, method, path and status (0 while the
    target has not answered)."""
    return [{"seq": e.seq, "method": e.method, "path": e.path, "status": e.status, **v}
            for e in entries for v in e.violations or ()]


def journal_query(request: Request, filters: str) -> Mapping[str, str]:
    """A listing's query (whose ``filters`` the message names), refused (400) unless `select_entries` can
    read its integers: the mock's admin spec checks them before it is called, and nothing does here."""
    query = request.query_params
    for name, expected in INTEGER_QUERY.items():
        value = query.get(name)
        least = 1 if name == "limit" else 0
        if value is not None and not (value.isascii() and value.isdigit() and int(value) >= least):
            raise ApiError(400, f"GET {request.url.path}: ?{name}={quote(value)} is not {expected}; "
                                f"its filters are {filters}")
    return query


def secrets_of_scope(scope: Scope) -> list[str]:
    """The credentials of a request, longest first (the shortest is the bare key or token)."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    return secrets_of(headers, scope.get("query_string", b"").decode("latin-1"))


def admin_app(state: ProxyState) -> Starlette:
    """The proxy's ``/__mock/`` API."""

    async def violations(request: Request) -> Response:
        query = journal_query(request, VIOLATION_FILTERS)
        rule = query.get("rule")

        def kept(violation: Mapping[str, Any]) -> bool:
            return rule is None or violation["rule"] == rule

        # The exchanges with a violation (of that rule), then the journal's filters: `limit` counts exchanges.
        having = [e for e in state.journal.entries if any(map(kept, e.violations or ()))]
        return JsonAnswer({"violations": list(filter(kept, listed_violations(select_entries(having, query))))})

    async def requests(request: Request) -> Response:
        entries = select_entries(list(state.journal.entries), journal_query(request, REQUEST_FILTERS))
        return JsonAnswer({"requests": [e.to_json() for e in entries]})

    async def status(request: Request) -> Response:
        record = state.settings.record
        return JsonAnswer({"target": state.target, "profile": state.settings.profile,
                             "record": str(record) if record is not None else None,
                             "requests": len(state.journal.entries), "violations": len(state.violations)})

    async def reset(request: Request) -> Response:
        state.journal.clear()
        return JsonAnswer({"status": "ok"})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        served = "GET /__mock/violations, GET /__mock/requests, GET /__mock/status, POST /__mock/reset"
        return error_response(ApiError(exc.status_code, f"recoup-mock proxy has no {request.method} "
                                       f"{request.url.path}; it serves {served} (the target's /__mock/ is not "
                                       "forwarded)", headers=exc.headers))

    async def bad_query(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    return Starlette(routes=[Route("/__mock/violations", violations), Route("/__mock/requests", requests),
                             Route("/__mock/status", status), Route("/__mock/reset", reset, methods=["POST"])],
                     exception_handlers={HTTPException: refused, ApiError: bad_query})
