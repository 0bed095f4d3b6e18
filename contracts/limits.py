"""What a run may do to its target: how fast it sends, and how many agent runs it may start.

**Rate** (``--rate-limit N/s``). Schemathesis limits what it sends with a limiter, built from its
``rate-limit`` setting and consulted by its transport before every request. The run builds one
limiter (the flows' configuration does), and the phases' schema is given that same object
(`Throttle.share`), so one budget covers the flows and the phases. What the suite sends outside
Schemathesis' transport takes from it too (`Throttle.__call__`): the flows' two reads of the
fixture world and their overlapping POST, and Schemathesis' two capability probes, which go around
its own limiter (`phases.run_phases` takes their share before and after them).

**Agent runs** (``--max-streams N``). A request that could start one is a POST to one of
`STREAM_STARTS` that carries one of the run's API keys: without one, a target refuses it (401) before
any run starts. `StreamCap` lets at most N of them reach the target:

- the flows ask before each such request (`target.Target.send`); a step past the cap is skipped,
  not sent, and counted;
- the phases, through Schemathesis hooks registered on the phases' schema only (`StreamCap.install`):
  ``filter_case`` drops a generated case past the cap before it is sent (coverage, fuzzing, stateful;
  ``before_add_examples`` does the same for schema examples), and counts it; once the cap is reached,
  ``before_generate_case`` stops generating for the four operations at all (Hypothesis would otherwise
  draw full bodies only to drop them); ``after_call`` counts what was sent.

Every case Schemathesis 4.32 sends through ``Case.call`` passes ``filter_case`` once, so the cap
holds for what the target receives. A re-send the filter did not see is still counted against it by
``after_call``: Schemathesis waiting out a 429 (``auto``) sends the case again from inside its engine,
so in the phases only requests the target refused with 429 can take the count past the cap. The
flows' own retries each need room under the cap (`target.Target._call`). Without a cap (the bundled
mock, by default) nothing is installed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .report import ContractReport

if TYPE_CHECKING:
    from schemathesis import Case, Response
    from schemathesis.schemas import APIOperation, BaseSchema

#: The operations whose POST starts an agent run (a turn's stream, or a headless run), by operationId.
STREAM_STARTS = {
    "postChat": "POST /api/chat",
    "postChatWorkflow": "POST /api/chat/workflow",
    "startChatRun": "POST /api/chat/runs",
    "legacyChat": "POST /legacy/api/chat",
}


def operation_id(operation: APIOperation[Any, Any, Any, Any]) -> str | None:
    value = operation.definition.raw.get("operationId")
    return str(value) if value is not None else None


class StreamCap:
    """At most ``limit`` requests that could start an agent run reach the target (None: no limit)."""

    def __init__(self, limit: int | None, keys: Iterable[str | None], report: ContractReport) -> None:
        self.limit = limit
        self.keys = tuple(key for key in keys if key)
        self.report = report
        self.used = 0
        self._admitted: set[str] = set()
        self._lock = threading.Lock()

    def carries_key(self, headers: Mapping[str, Any] | None) -> bool:
        return any(key in str(value) for value in (headers or {}).values() for key in self.keys)

    def starts_run(self, operation: str | None, method: str, headers: Mapping[str, Any] | None) -> bool:
        """Whether a request could start an agent run (one of ours, to one of `STREAM_STARTS`)."""
        return operation in STREAM_STARTS and method.upper() == "POST" and self.carries_key(headers)

    @property
    def reached(self) -> bool:
        return self.limit is not None and self.used >= self.limit

    def take(self, part: str) -> bool:
        """Reserve one request for ``part`` ("flows", "phase:coverage"); False, and counted as
        skipped, when the cap is reached."""
        with self._lock:
            if self.limit is None or self.used < self.limit:
                self.used += 1
                return True
        self.report.stream_skipped(part)
        return False

    def sent(self, part: str) -> None:
        self.report.stream_sent(part)

    # ------------------------------------------------------------------ the phases
    def install(self, schema: BaseSchema) -> None:
        """Register the hooks that keep the phases within the cap, on ``schema`` only."""
        if self.limit is None:
            return
        from hypothesis import strategies as st

        cap = self

        def admits(case: Case[Any]) -> bool:
            if not cap.starts_run(operation_id(case.operation), case.method, case.headers):
                return True
            if cap.take(_part(case)):
                with cap._lock:
                    cap._admitted.add(case.id)
                return True
            return False

        def filter_case(context: Any, case: Case[Any]) -> bool:
            return admits(case)

        def before_add_examples(context: Any, examples: list[Case[Any]]) -> None:
            examples[:] = [case for case in examples if admits(case)]

        def before_generate_case(context: Any, strategy: Any) -> Any:
            if context.operation is None or operation_id(context.operation) not in STREAM_STARTS:
                return strategy
            # Checked at every draw, before the (expensive) case is drawn.
            return st.just(None).filter(lambda _: not cap.reached).flatmap(lambda _: strategy)

        def after_call(context: Any, case: Case[Any], response: Response) -> None:
            request = response.request
            if not cap.starts_run(operation_id(case.operation), str(request.method), dict(request.headers)):
                return
            with cap._lock:
                if case.id not in cap._admitted:
                    cap.used += 1  # a re-send the filter never saw: it reached the target all the same
                cap._admitted.discard(case.id)
            cap.sent(_part(case))

        schema.hooks.register_hook_with_name(filter_case, "filter_case")
        schema.hooks.register_hook_with_name(before_add_examples, "before_add_examples")
        schema.hooks.register_hook_with_name(before_generate_case, "before_generate_case")
        schema.hooks.register_hook_with_name(after_call, "after_call")

    def explains(self, label: str, error: BaseException) -> bool:
        """Whether a Schemathesis error on ``label`` only says the cap left nothing to generate."""
        from hypothesis.errors import FailedHealthCheck, Unsatisfiable

        return self.reached and label in STREAM_STARTS.values() and isinstance(error, Unsatisfiable | FailedHealthCheck)


def _part(case: Case[Any]) -> str:
    meta = case.meta
    return f"phase:{meta.phase.name.value}" if meta is not None else "phase:run"


class Throttle:
    """The run's one rate limiter (a Schemathesis limiter), or nothing."""

    def __init__(self, limiter: Any, base_url: str) -> None:
        self.limiter = limiter if hasattr(limiter, "try_acquire") else None
        # Schemathesis takes from its limiter under the target's host:port; so does the suite.
        self.label = urlparse(base_url).netloc

    @classmethod
    def of(cls, schema: BaseSchema, base_url: str) -> Throttle:
        """The limiter Schemathesis built for ``schema``'s configuration (the flows')."""
        return cls(schema.config.rate_limit, base_url)

    def share(self, schema: BaseSchema) -> None:
        """Make ``schema`` (the phases') take from the same limiter."""
        if self.limiter is not None:
            schema.config.rate_limit = self.limiter

    def __call__(self, requests: int = 1) -> None:
        """Wait until ``requests`` more may be sent (they are then counted as sent)."""
        if self.limiter is not None:
            # One at a time: a weight above the limit (2 at 1/s) would be refused at once, not waited for.
            for _ in range(requests):
                self.limiter.try_acquire(self.label)


class RunLimits:
    """The stream cap and the throttle of one run, as the flows and the phases use them."""

    def __init__(self, cap: StreamCap, throttle: Throttle | None = None) -> None:
        self.cap = cap
        self.throttle = throttle or Throttle(None, "")
