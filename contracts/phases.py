"""The Schemathesis phases (examples, coverage, fuzzing, stateful) over the operations of the spec.

The run is configured in code, not by a ``schemathesis.toml`` (so it behaves the same from any
working directory): the built-in checks that apply to this API, the custom stream checks, the
credentials of both accounts as a Web Fuzzing Commons document (``object_level_authorization``
compares them as peers), bounded stream reads, the chat that ``POST /api/chat`` may stream on, the
``--header`` headers, and the operations and phases chosen.

Operations are chosen with ``[[operations]]`` entries that turn the others off (``enabled: false``:
Schemathesis never sends those requests, not even as an unexpected method). ``schema.include`` does
not do it here: next to per-operation settings the schema's filter already admits every operation,
and an include only adds to what it admits.

Schemathesis' request cache is off: it would replay earlier runs' failing requests (keys included,
since the output is not sanitized) from ``.schemathesis/`` in the working directory, so a run would
depend on where it ran and send what no option allowed.

Failures arrive as engine events and become `Finding`s with their check name and curl command.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from . import checks as _checks  # noqa: F401  (registers the custom checks)
from .document import load_schema
from .limits import RunLimits, StreamCap, phase_part
from .operations import SEMANTIC_400
from .options import BUILTIN_CHECKS, PHASES, ContractOptions
from .report import CHECK_ERROR, ContractReport, Finding, redact

if TYPE_CHECKING:
    from schemathesis import Response

    from .flows import Workspace

POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
OWNER, PEER = "owner", "other"
#: Streams end at `[DONE]`; the cap only matters for a target that never closes one.
MAX_STREAM_EVENTS = 100_000
#: The capability probes Schemathesis 4.32 sends first (a null byte in a header, an unsafe path), around
#: its rate limiter.
PROBE_REQUESTS = 2


def base_config_data(options: ContractOptions, base_url: str, seed: int) -> dict[str, Any]:
    """What every request of a run is sent with, the flows' and the phases' alike: the target, the seed,
    the bounds on reading a response, and unsanitized output (the report redacts keys). The rate limit
    and the waiting on 429 are the run's own (`limits.RunLimits.send`), not Schemathesis' ``rate-limit``."""
    data: dict[str, Any] = {
        "seed": seed,
        "base-url": base_url,
        "request-timeout": options.request_timeout,
        "max-stream-events": MAX_STREAM_EVENTS,
        "output": {"sanitization": {"enabled": False}},
        "cache": {"enabled": False},
    }
    if options.headers:
        data["headers"] = dict(options.headers)
    return data


def flow_config(options: ContractOptions, base_url: str, seed: int) -> SchemathesisConfig:
    """The configuration the flows' cases are built and sent with (they choose their checks themselves)."""
    return SchemathesisConfig.from_dict(base_config_data(options, base_url, seed))


def build_config(options: ContractOptions, base_url: str, auth_file: Path, workspace: Workspace | None,
                 seed: int) -> SchemathesisConfig:
    enabled = set(options.checks)
    if not options.other_api_key:
        enabled.discard("object_level_authorization")
    checks: dict[str, Any] = {name: {"enabled": name in enabled} for name in BUILTIN_CHECKS}
    # Operations are chosen by name, "METHOD /path" (Schemathesis' label): every one has that, not an operationId.
    selected = {operation.label for operation in options.operations()}
    operations: list[dict[str, Any]] = [
        {"include-name": label,
         "checks": {"positive_data_acceptance": {"enabled": "positive_data_acceptance" in enabled,
                                                 "expected-statuses": POSITIVE_STATUSES}}}
        for label in SEMANTIC_400 if label in selected
    ]
    if workspace is not None and workspace.session_id and workspace.generator_chat_id:
        # Let generated turns reach a 200 stream: a chat of ours, in a session with a sandbox.
        for entry in operations:
            entry["parameters"] = {"body.chatId": workspace.generator_chat_id, "body.sessionId": workspace.session_id}
    operations += [{"include-name": operation.label, "enabled": False}
                   for operation in options.spec_operations() if operation.label not in selected]
    # A slow target is not a contract failure (a deployment's agent runs take seconds). Under a stream
    # cap, the operations that start runs get no more cases once it is reached: not a health problem.
    health = ["too_slow", "filter_too_much"] if options.stream_cap() is not None else ["too_slow"]
    wfc: dict[str, Any] = {"path": str(auth_file), "user": OWNER}
    if options.other_api_key:
        wfc["peers"] = [OWNER, PEER]
    data: dict[str, Any] = {
        **base_config_data(options, base_url, seed),
        "workers": options.workers,
        "suppress-health-check": health,
        "generation": {"max-examples": options.max_examples, "database": "none"},
        "phases": {name: {"enabled": name in options.phases} for name in PHASES},
        "checks": checks,
        "auth": {"wfc": wfc},
        "operations": operations,
    }
    return SchemathesisConfig.from_dict(data)


def write_auth_file(options: ContractOptions, directory: Path) -> Path:
    """Both accounts as a Web Fuzzing Commons auth document (fixed ``x-api-key`` headers)."""
    users = [{"name": OWNER, "fixedHeaders": [{"name": "x-api-key", "value": options.api_key}]}]
    if options.other_api_key:
        users.append({"name": PEER, "fixedHeaders": [{"name": "x-api-key", "value": options.other_api_key}]})
    path = directory / "auth.json"
    path.write_text(json.dumps({"auth": users}), encoding="utf-8")
    return path


def run_phases(options: ContractOptions, spec: Path, base_url: str, report: ContractReport,
               workspace: Workspace | None, seed: int, deadline: float | None,
               progress: Callable[[str], None] | None = None, limits: RunLimits | None = None) -> None:
    """Run the configured phases; every failure and error becomes a finding in ``report``."""
    if not options.phases:
        return
    if not options.operations():
        report.note("no operation left for the phases (--include/--exclude)")
        return
    secrets = options.secrets()
    limits = limits or RunLimits(StreamCap(None, (), report))
    with tempfile.TemporaryDirectory(prefix="recoup-contract-") as tmp:
        config = build_config(options, base_url, write_auth_file(options, Path(tmp)), workspace, seed)
        schema = load_schema(spec, config)
        limits.cap.install(schema)
        limits.attach(schema, phase_part)
        # The probes go around the transport: their share of the rate is taken now, and again once they are
        # sent, so that no second of the run holds more than the limit whichever side of them it falls.
        limits.throttle(PROBE_REQUESTS)
        stream = from_schema(schema).execute()
        timer: threading.Timer | None = None
        if deadline is not None:
            # Stop between cases once the budget is spent; a case in flight ends within the request timeout.
            timer = threading.Timer(max(0.0, deadline - time.monotonic()), stream.stop)
            timer.daemon = True
            timer.start()
        try:
            for event in stream:
                _consume(event, report, secrets, limits)
                if not isinstance(event, events.PhaseFinished):
                    continue
                name = event.phase.name.value
                if name == "probing":
                    limits.throttle(PROBE_REQUESTS)
                # The suite's phases only (not Schemathesis' probing, schema analysis or auth bootstrap).
                if progress is not None and name in PHASES:
                    status = event.status.value
                    if status == "error" and not any(f.source == f"phase:{name}" for f in report.findings):
                        status = "success"  # its only errors were operations the stream cap left without cases
                    progress(f"phase {name}: {status} ({report.requests.get('phase:' + name, 0)} requests)")
        finally:
            if timer is not None:
                timer.cancel()
        if deadline is not None and time.monotonic() >= deadline:
            report.note("--max-time was reached during the Schemathesis phases; they stopped early")


def _consume(event: events.EngineEvent, report: ContractReport, secrets: dict[str, str],
             limits: RunLimits | None = None) -> None:
    if isinstance(event, events.ScenarioFinished):
        phase = event.phase.value
        source = f"phase:{phase}"
        recorder = event.recorder
        # Its requests were counted as they went out (`limits.RunLimits.send`), re-sends included.
        if recorder.label:
            report.groups.add((source, recorder.label))
        for case_id, nodes in recorder.checks.items():
            for node in nodes:
                if node.status in (Status.SUCCESS, Status.FAILURE):
                    report.checked(node.name)
                if node.status != Status.FAILURE or node.failure_info is None:
                    continue
                failure = node.failure_info.failure
                operation = failure.operation or recorder.label
                interaction = recorder.interactions.get(case_id)
                got = _got(interaction.response if interaction is not None else None)
                report.add(Finding(
                    operation=operation,
                    check=node.name,
                    title=failure.title,
                    message=redact((failure.message or failure.title) + got, secrets),
                    curl=redact(node.failure_info.code_sample, secrets),
                    source=source,
                    identity=(operation, node.name, type(failure).__name__, failure._unique_key),
                ))
    elif isinstance(event, events.NonFatalError):
        phase = event.phase.value if event.phase is not None else "run"
        if limits is not None and limits.cap.explains(event.label, event.value):
            report.note_once(f"phase {phase}: no more cases for {event.label} once --max-streams was reached")
            return
        report.add(Finding(
            operation=event.label,
            check=CHECK_ERROR,
            title=event.info.title,
            message=redact(event.info.message, secrets),
            curl=redact(sample, secrets) if (sample := getattr(event.info, "_code_sample", None)) else None,
            source=f"phase:{phase}",
            identity=(event.label, CHECK_ERROR, type(event.value).__name__, event.info.title),
        ))
    elif isinstance(event, events.FatalError):
        report.add(Finding(
            operation="(schema)", check=CHECK_ERROR, title="Schemathesis could not run",
            message=f"{type(event.exception).__name__}: {event.exception}", curl=None, source="phase:run",
            identity=("(schema)", CHECK_ERROR, type(event.exception).__name__, ""),
        ))
    elif isinstance(event, events.EngineFinished):
        for failure in event.failures:
            operation = failure.operation or "(run)"
            report.add(Finding(
                operation=operation, check=failure.title, title=failure.title,
                message=redact(failure.message, secrets), curl=None, source="phase:run",
                identity=(operation, failure.title, type(failure).__name__, failure._unique_key),
            ))


def _got(response: Response | None, limit: int = 300) -> str:
    """What the server answered, in short, for the failure's message."""
    if response is None:
        return ""
    body = response.content[:limit].decode("utf-8", errors="replace")
    more = "…" if len(response.content) > limit else ""
    return f"\n\nGot {response.status_code}: {body or '(empty body)'}{more}"
