"""What ``recoup-mock proxy`` knows: its settings, the journal of what passed with each exchange's
violations, and its own small API under ``/__mock/`` (described in ``openapi/proxy-admin.yaml``).

- ``GET /__mock/violations``: every violation found, newest last (``?rule=``, ``?path=``, ``?limit=``);
- ``GET /__mock/requests``: the journal, each entry with its ``violations`` (the mock's filters);
- ``GET /__mock/status``: the target, the profile, the recording directory and the counts;
- ``POST /__mock/reset``: forget the journal and the violations.

The target's own ``/__mock/`` (when the target is a recoup-mock) is not reachable through the proxy.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Scope

from .conformance import Conformance, Finding
from .errors import ApiError, ConfigError, error_response
from .journal import Journal, JournalEntry, select_entries
from .profiles import Specs, profile_named
from .recorder import Recorder, secrets_of
from .settings import DEFAULT_SPEC
from .spec import ApiSpec
from .types import PROFILE_NAMES

log = logging.getLogger("recoup_mock.proxy")

#: How many times one rule is reported per exchange (a broken stream breaks it on every event).
PER_RULE = 3
#: Violations kept for ``GET /__mock/violations`` (oldest dropped first).
MAX_VIOLATIONS = 10_000
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
        self.violations: deque[dict[str, Any]] = deque(maxlen=MAX_VIOLATIONS)

    def begin(self, method: str, path: str) -> JournalEntry:
        entry = self.journal.record(method, path, 0)
        entry.violations = []
        return entry

    def end(self, entry: JournalEntry, duration_ms: float) -> None:
        entry.duration_ms = duration_ms
        entry.done = True

    def violation(self, entry: JournalEntry, finding: Finding) -> None:
        """Keep one violation on its entry and in the list, and log it on one line."""
        assert entry.violations is not None
        entry.violations.append(finding.to_json())
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self.violations.append({"seq": entry.seq, "time": stamp, "method": entry.method, "path": entry.path,
                                "status": entry.status, **finding.to_json()})
        message = finding.message if len(finding.message) <= LOG_MESSAGE else finding.message[:LOG_MESSAGE] + "…"
        log.warning("VIOLATION %s %s %s [%s] %s: %s", entry.method, entry.path, entry.status or "-", finding.rule,
                    finding.where, message)


class Findings:
    """What one exchange breaks: each rule reported at most `PER_RULE` times (a broken stream repeats
    itself), logged on one line each, kept on the journal entry and in the proxy's list."""

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


def secrets_of_scope(scope: Scope) -> list[str]:
    """The credentials of a request, longest first (the shortest is the bare key or token)."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
    return secrets_of(headers, scope.get("query_string", b"").decode("latin-1"))


def admin_app(state: ProxyState) -> Starlette:
    """The proxy's ``/__mock/`` API."""

    async def violations(request: Request) -> Response:
        q = request.query_params
        found = [v for v in state.violations if ("rule" not in q or v["rule"] == q["rule"])
                 and ("path" not in q or q["path"] in v["path"])]
        if q.get("limit", "").isdigit():
            found = found[-int(q["limit"]):]
        return JSONResponse({"violations": found})

    async def requests(request: Request) -> Response:
        try:
            entries = select_entries(list(state.journal.entries), request.query_params)
        except ValueError:
            return JSONResponse({"status": "error", "message": "status and limit are integers"}, status_code=400)
        return JSONResponse({"requests": [e.to_json() for e in entries]})

    async def status(request: Request) -> Response:
        record = state.settings.record
        return JSONResponse({"target": state.target, "profile": state.settings.profile,
                             "record": str(record) if record is not None else None,
                             "requests": len(state.journal.entries), "violations": len(state.violations)})

    async def reset(request: Request) -> Response:
        state.journal.clear()
        state.violations.clear()
        return JSONResponse({"status": "ok"})

    async def refused(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        served = "GET /__mock/violations, GET /__mock/requests, GET /__mock/status, POST /__mock/reset"
        return error_response(ApiError(exc.status_code, f"recoup-mock proxy has no {request.method} "
                                       f"{request.url.path}; it serves {served} (the target's /__mock/ is not "
                                       "forwarded)", headers=exc.headers))

    return Starlette(routes=[Route("/__mock/violations", violations), Route("/__mock/requests", requests),
                             Route("/__mock/status", status), Route("/__mock/reset", reset, methods=["POST"])],
                     exception_handlers={HTTPException: refused})
