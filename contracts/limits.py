"""What a run may do to its target: how fast it sends, how many agent runs it may start, and how it
meets a 429. Every request Schemathesis sends for the run, the flows' and the phases' alike, goes
out through `RunLimits.send` (`RunLimits.attach` routes a schema's transport there), so the three
rules below hold in one place for both.

**Rate** (``--rate-limit N/s``). One limiter for the whole run (`Throttle`, built from the rate
the way Schemathesis builds its own), taken from before every request: the ones Schemathesis sends
for the flows and the phases (`RunLimits.send`), the flows' own requests outside it (the two reads
of the fixture world, the overlapping POST) and Schemathesis' two capability probes, which go
around its transport (`phases.run_phases` takes their share before and after them). Schemathesis'
own ``rate-limit`` setting is left unset: in 4.32 it is either a limiter or ``auto`` (wait out
429s), never both, so a rate limit there would turn the waiting off.

**429** (``--rate-limit`` set, or ``auto``: the default against ``--base-url``). A 429 is waited
out (``Retry-After``, at most `MAX_RETRY_AFTER` s, 1 s without one) and the request sent again, up
to `MAX_RATE_LIMIT_RETRIES` times and never past ``--max-time``; only the last answer is judged.
Without a rate limit (the bundled mock, ``--rate-limit none``) a 429 is the answer.

**Agent runs** (``--max-streams N``). A request that could start one is a POST to one of
`STREAM_STARTS` that carries one of the run's API keys: without one, a target refuses it (401) before
any run starts. `StreamCap` lets at most N of them reach the target. Each needs a place under the cap:

- the flows take it before sending (`target.Target.allow`); a step past the cap is
  skipped, not sent, and counted;
- the phases, through Schemathesis hooks registered on the phases' schema only (`StreamCap.install`):
  ``filter_case`` drops a generated case past the cap before it is sent (coverage, fuzzing, stateful;
  ``before_add_examples`` does the same for schema examples), and counts it; once the cap is reached,
  ``before_generate_case`` stops generating for the four operations at all (Hypothesis would otherwise
  draw full bodies only to drop them);
- every other send of such a request takes its own place when it goes out (`RunLimits.send`): a
  re-send after a 429, and a check's extra request with our key. A re-send without room is not sent
  (the 429 stands); an extra request without room raises `StreamCapReached`, which the report
  turns into a note.

Without a cap (the bundled mock, by default) the hooks are not installed and nothing is skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from .operations import STREAM_STARTS
from .report import ContractReport

if TYPE_CHECKING:
    from schemathesis import Case, Response
    from schemathesis.schemas import BaseSchema

#: How often a request is sent again after a 429, and the longest ``Retry-After`` waited.
MAX_RATE_LIMIT_RETRIES = 3
MAX_RETRY_AFTER = 30.0


class StreamCapReached(Exception):
    """A request that could start an agent run, outside what the cap admitted, found no room under it."""

    def __init__(self, label: str) -> None:
        super().__init__(f"{label}: not sent, --max-streams was reached")
        self.label = label


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

    def starts_run(self, operation: str, method: str, headers: Mapping[str, Any] | None) -> bool:
        """Whether a request of ``operation`` (``METHOD /path``) could start an agent run: a POST of ours to one
        of `STREAM_STARTS` (a check may send another method to the same operation)."""
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

    def admit(self, case: Case[Any], part: str) -> bool:
        """`take` a place for ``case``'s first send; `RunLimits.send` uses it instead of taking another."""
        if not self.take(part):
            return False
        with self._lock:
            self._admitted.add(case.id)
        return True

    def admitted(self, case: Case[Any]) -> bool:
        """Whether ``case`` has a place it has not used yet (and uses it)."""
        with self._lock:
            if case.id in self._admitted:
                self._admitted.discard(case.id)
                return True
            return False

    def sent(self, part: str) -> None:
        self.report.stream_sent(part)

    # ------------------------------------------------------------------ the phases
    def install(self, schema: BaseSchema) -> None:
        """Register the hooks that keep the phases' generated cases within the cap, on ``schema`` only."""
        if self.limit is None:
            return
        from hypothesis import strategies as st

        cap = self

        def admits(case: Case[Any]) -> bool:
            if not cap.starts_run(case.operation.label, case.method, case.headers):
                return True
            return cap.admit(case, phase_part(case))

        def filter_case(context: Any, case: Case[Any]) -> bool:
            return admits(case)

        def before_add_examples(context: Any, examples: list[Case[Any]]) -> None:
            examples[:] = [case for case in examples if admits(case)]

        def before_generate_case(context: Any, strategy: Any) -> Any:
            if context.operation is None or context.operation.label not in STREAM_STARTS:
                return strategy
            # Checked at every draw, before the (expensive) case is drawn.
            return st.just(None).filter(lambda _: not cap.reached).flatmap(lambda _: strategy)

        schema.hooks.register_hook_with_name(filter_case, "filter_case")
        schema.hooks.register_hook_with_name(before_add_examples, "before_add_examples")
        schema.hooks.register_hook_with_name(before_generate_case, "before_generate_case")

    def explains(self, label: str, error: BaseException) -> bool:
        """Whether a Schemathesis error on ``label`` only says the cap left nothing to generate or send."""
        from hypothesis.errors import FailedHealthCheck, Unsatisfiable

        if isinstance(error, StreamCapReached):
            return True
        return self.reached and label in STREAM_STARTS and isinstance(error, Unsatisfiable | FailedHealthCheck)


def phase_part(case: Case[Any]) -> str:
    """The report's part for a case the phases send ("phase:fuzzing")."""
    meta = case.meta
    return f"phase:{meta.phase.name.value}" if meta is not None else "phase:run"


class Throttle:
    """The run's one rate limiter (a Schemathesis limiter, ``N/s`` or ``N/m``), or nothing."""

    def __init__(self, rate: str | None, base_url: str) -> None:
        self.limiter: Any = None
        if rate is not None and rate != "auto":
            from schemathesis.core.rate_limit import build_limiter

            self.limiter = build_limiter(rate)
        # Schemathesis takes from its limiter under the target's host:port; so does the suite.
        self.label = urlparse(base_url).netloc

    def __call__(self, requests: int = 1) -> None:
        """Wait until ``requests`` more may be sent (they are then counted as sent)."""
        if self.limiter is not None:
            # One at a time: a weight above the limit (2 at 1/s) would be refused at once, not waited for.
            for _ in range(requests):
                self.limiter.try_acquire(self.label)


class RunLimits:
    """The stream cap, the throttle and the waiting on 429 of one run, as the flows and the phases send."""

    def __init__(self, cap: StreamCap, throttle: Throttle | None = None, *, wait_on_429: bool = False,
                 deadline: float | None = None) -> None:
        self.cap = cap
        self.throttle = throttle or Throttle(None, "")
        self.wait_on_429 = wait_on_429
        self.deadline = deadline

    @property
    def report(self) -> ContractReport:
        return self.cap.report

    def attach(self, schema: BaseSchema, part: Callable[[Case[Any]], str]) -> None:
        """Send every request of ``schema`` (and of its clones) through `send`, under ``part(case)`` in the report.

        ``BaseSchema.transport`` is a read-only property that answers Schemathesis' one shared requests
        transport, and every request Schemathesis sends, its re-sends and the checks' extra requests
        included, goes through it; so this one schema object becomes an instance of a subclass whose
        transport is `LimitedTransport`. Nothing else in the process changes."""
        base = type(schema)
        transport = LimitedTransport(base.transport.fget(schema), self, part)  # type: ignore[attr-defined]
        schema.__class__ = type(base.__name__, (base,), {"transport": property(lambda _schema: transport)})

    def send(self, case: Case[Any], part: str, call: Callable[[], Response]) -> Response:
        """``call()`` (one request for ``case``) within the run's limits: the throttle before each send, a
        place under the stream cap for each that could start an agent run, and 429s waited out."""
        starts = self.cap.starts_run(case.operation.label, case.method, case.headers)
        placed = starts and self.cap.admitted(case)
        response: Response | None = None
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            if starts:
                if not placed and not self.cap.take(part):
                    break
                placed = False  # the next send needs a place of its own
                self.cap.sent(part)
            self.throttle()
            self.report.count(part)
            response = call()
            wait = self._wait(response, attempt)
            if wait is None:
                return response
            self.report.note_once(f"429 on {case.operation.label}: waited out (Retry-After), and sent again")
            time.sleep(wait)
        if response is None:
            raise StreamCapReached(case.operation.label)
        return response  # a 429 that stands: no room under the cap for sending it again

    def _wait(self, response: Response, attempt: int) -> float | None:
        """How long to wait before sending again after ``response``; None: it is the answer."""
        if response.status_code != 429 or not self.wait_on_429 or attempt == MAX_RATE_LIMIT_RETRIES:
            return None
        wait = _retry_after(response)
        if self.deadline is not None and time.monotonic() + wait >= self.deadline:
            return None
        return wait


class LimitedTransport:
    """Schemathesis' requests transport, every `send` of which goes through `RunLimits.send`."""

    def __init__(self, inner: Any, limits: RunLimits, part: Callable[[Case[Any]], str]) -> None:
        self.inner = inner
        self.limits = limits
        self.part = part

    def send(self, case: Case[Any], **kwargs: Any) -> Response:
        _drop_framing_headers(case)
        response: Response = self.limits.send(case, self.part(case), lambda: self.inner.send(case, **kwargs))
        return response

    def __getattr__(self, name: str) -> Any:
        # Serializers, media types and the rest are the shared transport's.
        return getattr(self.inner, name)


#: Headers that frame the message itself: the client library sets them from the body it sends. A value
#: generated for one of them (fuzzing once made ``transfer-encoding: ]``) breaks the HTTP framing, and the
#: target's HTTP server refuses the bytes (uvicorn's ``400 Invalid HTTP request``) before any API answers.
FRAMING_HEADERS = frozenset({"transfer-encoding", "content-length", "connection"})


def _drop_framing_headers(case: Case[Any]) -> None:
    """Leave the framing headers to the client library: the suite tests the API, not HTTP parsing."""
    headers = case.headers
    if headers:
        for name in [n for n in headers if n.lower() in FRAMING_HEADERS]:
            del headers[name]


def _retry_after(response: Response) -> float:
    """``Retry-After`` in seconds (a number or an HTTP date, read as Schemathesis reads it), at most
    `MAX_RETRY_AFTER`; 1 s when there is none or it cannot be read."""
    from schemathesis.core.rate_limit import parse_retry_after

    values = response.headers.get("retry-after")
    wait = parse_retry_after(values[0]) if values else None
    return min(wait, MAX_RETRY_AFTER) if wait is not None else 1.0
