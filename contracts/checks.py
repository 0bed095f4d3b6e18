"""Custom Schemathesis checks on every stream, and the failure types of the suite's own flows.

Importing this module registers three checks with ``@schemathesis.check`` (they then run on every
response Schemathesis validates, next to the built-in ones):

- ``stream_ordering``: the stream rules of `contracts.streams` on every 2xx ``text/event-stream``;
- ``stream_closes``: the server closed the stream before the read hit its bound (time, bytes or
  events). A stream that never closes fails here instead of hanging the run;
- ``workflow_run_id``: ``x-workflow-run-id`` has the ``wrun_`` + ULID form wherever the spec
  documents it, ``POST /api/chat/runs`` answers a ``runId`` of that form with
  ``Location: /api/chat/runs/<runId>``, and a stream watched through the run's ``WatchRunOutput``
  link carries that same run id.

Each failure type has a stable ``_unique_key`` (the broken rule), so baselines can name it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

import schemathesis
from schemathesis.core.failures import Failure, Severity

from mockserver.state import fixture_ids

from . import streams
from .operations import START_RUN

if TYPE_CHECKING:
    from schemathesis import Case, CheckContext, Response

RUN_ID_HEADER = "x-workflow-run-id"


class ContractFailure(Failure):
    """Base of this suite's failures: a stable rule key, shown and stored in baselines."""

    code: ClassVar[str] = "ST950"
    kind_title: ClassVar[str] = "Contract rule broken"

    def __init__(self, *, operation: str, rule: str, message: str, title: str | None = None,
                 severity: Severity = Severity.HIGH) -> None:
        super().__init__(operation=operation, title=title, message=message, severity=severity)
        self.rule = rule

    @property
    def _unique_key(self) -> str:
        return self.rule


class StreamOrderViolation(ContractFailure):
    code = "ST951"
    checks = ("stream_ordering",)
    kind_title = "UI message stream breaks an ordering rule"


class StreamNotClosed(ContractFailure):
    code = "ST952"
    checks = ("stream_closes",)
    kind_title = "Stream did not close"


class RunIdViolation(ContractFailure):
    code = "ST953"
    checks = ("workflow_run_id",)
    kind_title = "Workflow run id is wrong"


class FlowFailure(ContractFailure):
    """A scripted flow (409, 403, 401, 204, run lifecycle, ...) got something else than documented."""

    code = "ST960"
    kind_title = "Contract flow failed"


def header(response: Response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    return values[0] if values else None


def is_event_stream(response: Response) -> bool:
    content_type = (header(response, "content-type") or "").split(";")[0].strip().lower()
    return content_type == "text/event-stream"


def applies(response: Response, case: Case[Any], *, stream: bool) -> bool:
    """A 2xx answer to the operation's own method (not an OPTIONS preflight or another method's probe)."""
    method = (response.request.method or "").upper() if response.request is not None else case.method.upper()
    if method != case.operation.method.upper() or not 200 <= response.status_code < 300:
        return False
    return is_event_stream(response) if stream else True


def _start_index(case: Case[Any]) -> int:
    value = (case.query or {}).get("startIndex")
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def stream_limits(case: Case[Any]) -> tuple[float, int]:
    """The read bounds in force for ``case``: request timeout (seconds) and the event cap."""
    config = case.operation.schema.config
    timeout = config.request_timeout_for(operation=case.operation) or 10.0
    return float(timeout), int(config.max_stream_events_for(operation=case.operation))


@schemathesis.check
def stream_ordering(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every 2xx event stream: `start` with a messageId first, parts and tools in order, `finish`, `[DONE]` last."""
    if not applies(response, case, stream=True):
        return True
    from_start = _start_index(case) == 0
    if response.stream_cut_short:
        # `stream_closes` reports the cut; only the beginning can be judged.
        events = streams.data_events(response.content)
        if not events or not from_start:
            return None
        problems = [p for p in streams.stream_problems(response.content, from_start=True)
                    if p.rule not in (streams.RULE_FINISH, streams.RULE_DONE_LAST)]
    else:
        problems = streams.stream_problems(response.content, from_start=from_start)
    if problems:
        first = problems[0]
        message = "\n".join(f"- {p.message}" for p in problems)
        raise StreamOrderViolation(operation=case.operation.label, rule=first.rule, message=message)
    return None


@schemathesis.check
def stream_closes(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """Every 2xx event stream closes (after `[DONE]`) before the suite's time, byte or event bound."""
    if not applies(response, case, stream=True):
        return True
    if not response.stream_cut_short:
        return None
    timeout, max_events = stream_limits(case)
    from .transport import current_stream_byte_cap, last_read_hit_byte_cap

    events = streams.data_events(response.content)
    cap = current_stream_byte_cap()
    if last_read_hit_byte_cap() or len(response.content) >= cap:
        bound, rule = f"{cap} bytes", "byte-cap"
    elif len(events) >= max_events:
        bound, rule = f"{max_events} events", "event-cap"
    else:
        bound, rule = f"{timeout:g} s", "timeout"
    last = events[-1] if events else "(nothing)"
    after_done = " `[DONE]` had arrived, but the body stayed open;" if streams.DONE in events else ""
    raise StreamNotClosed(
        operation=case.operation.label,
        rule=rule,
        message=f"The server had not closed the stream when the read hit its bound ({bound}):{after_done} "
                f"{len(events)} event(s) read, the last `{last[:120]}`. A client waits for EOF, so it would hang.",
    )


@schemathesis.check
def workflow_run_id(ctx: CheckContext, response: Response, case: Case[Any]) -> bool | None:
    """`x-workflow-run-id` has the right form and matches the `runId` (and `Location`) of `POST /api/chat/runs`."""
    operation = case.operation
    if not applies(response, case, stream=False):
        return True
    if operation.label == START_RUN and response.status_code == 202:
        check_run_accepted(operation.label, response)
        return None
    definition = operation.responses.find_by_status_code(response.status_code)
    documented = definition is not None and any(name.lower() == RUN_ID_HEADER for name, _ in definition.headers.items())
    value = header(response, RUN_ID_HEADER)
    if value is None and not documented:
        return True
    if value is None:
        raise RunIdViolation(operation=operation.label, rule="missing",
                             message=f"The {response.status_code} response has no `{RUN_ID_HEADER}` header; "
                                     "clients need it to resume and stop the run.")
    if not fixture_ids.RUN_ID.match(value):
        raise RunIdViolation(operation=operation.label, rule="form",
                             message=f"`{RUN_ID_HEADER}: {value}` is not `wrun_` + a 26-character Crockford ULID.")
    expected = _linked_run_id(ctx, case)
    if expected is not None and value != expected:
        raise RunIdViolation(operation=operation.label, rule="linked-run",
                             message=f"`{RUN_ID_HEADER}: {value}` differs from the runId {expected} that "
                                     "POST /api/chat/runs returned for this chat.")
    return None


def check_run_accepted(operation: str, response: Response) -> str | None:
    """The 202 of `POST /api/chat/runs`: a well-formed runId and `Location: /api/chat/runs/<runId>`.
    Returns the run id when the body has one."""
    body = _json(response)
    run_id = body.get("runId") if isinstance(body, dict) else None
    if not isinstance(run_id, str) or not fixture_ids.RUN_ID.match(run_id):
        raise RunIdViolation(operation=operation, rule="form",
                             message=f"`runId` {run_id!r} is not `wrun_` + a 26-character Crockford ULID.")
    location = header(response, "location")
    expected = f"/api/chat/runs/{run_id}"
    if location is None or urlparse(location).path != expected:
        raise RunIdViolation(operation=operation, rule="location",
                             message=f"`Location: {location}` should be `{expected}` (the run's status resource).")
    return run_id


def _linked_run_id(ctx: CheckContext, case: Case[Any]) -> str | None:
    """The runId of the `POST /api/chat/runs` this case was linked from (stateful phase), if any."""
    parent = ctx.internals.find_parent(case_id=case.id)
    if parent is None or parent.operation.label != START_RUN:
        return None
    parent_response = ctx.internals.find_response(case_id=parent.id)
    if parent_response is None or parent_response.status_code != 202:
        return None
    body = _json(parent_response)
    if not isinstance(body, dict) or body.get("chatId") != (case.path_parameters or {}).get("chatId"):
        return None
    run_id = body.get("runId")
    return run_id if isinstance(run_id, str) else None


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


#: The suite's custom response checks, by name.
CUSTOM_CHECKS = (stream_ordering, stream_closes, workflow_run_id)
