"""Sending one documented request to the target and judging the response, for the scripted flows.

Every request of a flow is a Schemathesis `Case` of its operation: it is sent through the same
transport as the generated ones (bounded stream reads; the run's limits, `limits.RunLimits.send`:
the throttle, the stream cap, 429s waited out), every response check applies to it (built-in and
custom), and each failure is recorded with the check's name and the curl command that reproduces
it. Every request carries the ``--header`` headers. A request to an ``--exclude``d operation, or
one that could start an agent run past ``--max-streams``, is not sent: the step is skipped (its
exchange has no response, so no expectation fails) and counted. Operations are named
``METHOD /path`` (`operations`), what every version of the spec has; a flow that needs one the
spec lacks stops there (`NotInSpec`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from schemathesis.checks import CHECKS, CheckContext, load_all_checks, run_checks
from schemathesis.core import NOT_SET
from schemathesis.core.failures import Failure

from .checks import CUSTOM_CHECKS, FlowFailure, header
from .limits import RunLimits, StreamCap
from .operations import STREAMING
from .options import ContractOptions
from .report import CHECK_CONNECTION, ENV_API_KEY, ENV_OTHER_API_KEY, ContractReport, Finding, redact

if TYPE_CHECKING:
    from schemathesis import Case, Response
    from schemathesis.checks import CheckFunction
    from schemathesis.schemas import BaseSchema

#: Built-in checks that judge one response on its own (the others need generated data or probes).
RESPONSE_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
__all__ = ["ENV_API_KEY", "ENV_OTHER_API_KEY", "BudgetExhausted", "Exchange", "NotInSpec", "Target"]


class BudgetExhausted(Exception):
    """``--max-time`` is spent: stop sending."""


class NotInSpec(Exception):
    """A flow needs an operation (``METHOD /path``) the spec does not have."""

    def __init__(self, operation: str, spec: str) -> None:
        super().__init__(f"{operation} is not an operation of {spec}")
        self.operation = operation


@dataclass
class Exchange:
    """A request the flow sent and what came back (``response`` is None on a connection error)."""

    flow: str
    case: Case[Any]
    response: Response | None
    curl: str
    #: Why it was not sent (``--exclude``, ``--max-streams``), when it was not.
    skipped: str | None = None

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def json(self) -> Any:
        if self.response is None:
            return None
        try:
            return self.response.json()
        except ValueError:
            return None

    def json_object(self) -> dict[str, Any]:
        """The answer's JSON when it is an object, else {} (no answer, not JSON, another JSON value)."""
        body = self.json()
        return body if isinstance(body, dict) else {}

    def header(self, name: str) -> str | None:
        return header(self.response, name) if self.response is not None else None


class Target:
    """The API under test, as one account (``api_key``) and optionally a second one (``other_api_key``)."""

    def __init__(self, schema: BaseSchema, base_url: str, options: ContractOptions, report: ContractReport,
                 deadline: float | None, limits: RunLimits | None = None) -> None:
        self.schema = schema
        self.base_url = base_url.rstrip("/")
        self.options = options
        self.report = report
        self.deadline = deadline
        self.api_key = options.api_key
        self.other_api_key = options.other_api_key
        self.limits = limits or RunLimits(StreamCap(None, (), report))
        self.limits.attach(schema, lambda _case: "flows")
        self.extra_headers = dict(options.headers)
        self.secrets = options.secrets()
        #: Steps not sent, by (flow, operation key, why).
        self.skips: dict[tuple[str, str, str], int] = {}
        load_all_checks()
        names = [name for name in RESPONSE_CHECKS if name in options.checks]
        custom = [check.__name__ for check in CUSTOM_CHECKS]
        self.checks: list[CheckFunction] = []
        for name in (*names, *custom):
            check = CHECKS.get_one(name)
            assert not isinstance(check, type), name
            self.checks.append(check)

    # ------------------------------------------------------------------ sending
    def auth(self, who: str | None) -> dict[str, str]:
        """Credential headers: "owner" (x-api-key), "owner-bearer", "other" (x-api-key), or None."""
        if who is None:
            return {}
        if who == "owner":
            return {"x-api-key": self.api_key}
        if who == "owner-bearer":
            return {"Authorization": f"Bearer {self.api_key}"}
        if who == "other":
            assert self.other_api_key is not None
            return {"x-api-key": self.other_api_key}
        raise ValueError(who)

    def http_headers(self, who: str | None) -> dict[str, str]:
        """Every header a request sent outside Schemathesis needs: the ``--header`` ones and credentials."""
        return {**self.extra_headers, **self.auth(who)}

    def excluded(self, operation: str) -> bool:
        """Whether ``--exclude`` names ``operation`` (``METHOD /path``)."""
        return self.options.excludes(operation)

    def allow(self, flow: str, operation: str, headers: dict[str, str], case: Case[Any] | None = None) -> str | None:
        """Why a request to ``operation`` (``METHOD /path``) may not be sent (``--exclude``, ``--max-streams``),
        or None. One that could start an agent run takes a place under the cap (``case``'s, when it is sent
        as that case)."""
        why = None
        cap = self.limits.cap
        method = operation.split(" ", 1)[0]
        if self.excluded(operation):
            why = "--exclude"
        elif cap.starts_run(operation, method, headers) and not (
                cap.admit(case, "flows") if case is not None else cap.take("flows")):
            why = "--max-streams"
        if why is not None:
            key = (flow, self.options.operation_key(operation), why)
            self.skips[key] = self.skips.get(key, 0) + 1
        return why

    def throttle(self) -> None:
        """Wait for the rate limit before a request sent outside Schemathesis' transport."""
        self.limits.throttle()

    def skip_notes(self) -> None:
        """Note the steps not sent so far (and forget them: the next call notes only newer ones)."""
        for (flow, operation, why), n in sorted(self.skips.items()):
            self.report.note(f"flow {flow}: {n} request(s) to {operation} not sent ({why})")
        self.skips.clear()

    def has(self, operation: str) -> bool:
        """Whether the spec has ``operation`` (``METHOD /path``)."""
        return self.schema.find_operation_by_label(operation) is not None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def check_budget(self) -> None:
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            raise BudgetExhausted()

    def case(self, operation: str, *, auth: str | None = "owner", headers: dict[str, str] | None = None,
             path: dict[str, Any] | None = None, query: dict[str, Any] | None = None, body: Any = NOT_SET) -> Case[Any]:
        """A request to ``operation`` (``METHOD /path``) with these credentials and parts."""
        found = self.schema.find_operation_by_label(operation)
        if found is None:
            raise NotInSpec(operation, self.options.spec_path.name)
        all_headers = {**self.extra_headers, **self.auth(auth), **(headers or {})}
        kwargs: dict[str, Any] = {"headers": all_headers}
        if path:
            kwargs["path_parameters"] = path
        if query:
            kwargs["query"] = query
        if body is not NOT_SET:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        case: Case[Any] = found.Case(**kwargs)
        return case

    def curl(self, case: Case[Any]) -> str:
        command = case.as_curl_command(base_url=self.base_url)
        if case.operation.label in STREAMING:
            command = command.replace("curl ", "curl -N ", 1)
        return self.redact(command)

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def send(self, flow: str, operation: str, *, auth: str | None = "owner", headers: dict[str, str] | None = None,
             path: dict[str, Any] | None = None, query: dict[str, Any] | None = None, body: Any = NOT_SET,
             checks: bool = True) -> Exchange:
        """Send one request to ``operation`` (``METHOD /path``), run every response check on the answer, record
        what fails."""
        self.check_budget()
        case = self.case(operation, auth=auth, headers=headers, path=path, query=query, body=body)
        exchange = Exchange(flow, case, None, self.curl(case))
        exchange.skipped = self.allow(flow, operation, dict(case.headers or {}), case)
        if exchange.skipped is not None:
            return exchange
        self.report.groups.add((f"flow:{flow}", case.operation.label))
        try:
            # The run's limits apply on the way out (`RunLimits.send`): the throttle, 429s waited out.
            response = case.call(base_url=self.base_url)
        except requests.RequestException as exc:
            self.record(exchange, CHECK_CONNECTION, "connection", f"The request got no response: {exc}",
                        title="Connection error")
            return exchange
        exchange.response = response
        if checks:
            self.run_checks(exchange)
        return exchange

    def run_checks(self, exchange: Exchange) -> list[str]:
        """Run the response checks; returns the names of those that failed."""
        assert exchange.response is not None
        case = exchange.case
        ctx = CheckContext(
            override=None,
            auth=None,
            headers=None,
            config=self.schema.config.checks_config_for(operation=case.operation),
            transport_kwargs={"base_url": self.base_url},
            response_checks=None,
        )
        failed: list[str] = []

        def on_failure(name: str, collected: set[Failure], failure: Failure) -> None:
            collected.add(failure)
            failed.append(name)
            self.report.checked(name)
            self.record_failure(exchange, name, failure)

        def on_success(name: str, _case: Case[Any]) -> None:
            self.report.checked(name)

        run_checks(case=case, response=exchange.response, ctx=ctx, checks=self.checks, on_failure=on_failure,
                   on_success=on_success)
        return failed

    # ------------------------------------------------------------------ recording
    def record_failure(self, exchange: Exchange, check: str, failure: Failure) -> None:
        operation = failure.operation or exchange.case.operation.label
        self.report.add(Finding(
            operation=operation,
            check=check,
            title=failure.title,
            message=self.redact(failure.message),
            curl=exchange.curl,
            source=f"flow:{exchange.flow}",
            identity=(operation, check, type(failure).__name__, failure._unique_key),
        ))

    def record(self, exchange: Exchange, check: str, rule: str, message: str, *, title: str | None = None) -> None:
        """A flow's own expectation failed: record it under ``check`` with the stable ``rule`` key."""
        operation = exchange.case.operation.label
        failure = FlowFailure(operation=operation, rule=rule, message=message, title=title)
        if exchange.response is not None:
            response = exchange.response
            body = response.content[:600].decode("utf-8", errors="replace")
            failure.message += f"\n\nGot {response.status_code}: {body or '(empty body)'}"
        self.record_failure(exchange, check, failure)

    def expect_status(self, exchange: Exchange, check: str, rule: str, expected: int | tuple[int, ...],
                      why: str) -> bool:
        """Record a failure unless the response status is ``expected``; True when it is."""
        wanted = (expected,) if isinstance(expected, int) else expected
        if exchange.response is None:
            return False
        if exchange.status in wanted:
            return True
        shown = " or ".join(map(str, wanted))
        self.record(exchange, check, rule, f"Expected {shown}: {why}", title=f"Expected {shown}, got {exchange.status}")
        return False

