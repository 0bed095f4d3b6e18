"""The request pipeline every API operation goes through before its handler runs.

Order: body size (413) -> credentials (401) -> content type (415) -> JSON (400) -> the spec's
parameter and body rules via openapi-core (400) -> the HTTP fault scenario the request asks for
(`answer_fault`). Only then is the handler called, so nothing invalid ever reaches a handler or the
first byte of a stream, and a fault changes nothing. Every failure is raised as an `ApiError`
(validation problems kept structured) and rendered by the app's one error handler.

A profile may move the checks (`mockserver.profiles.Behaviour`): some or all of them before the
credentials, or after the handler's lookups (the handler calls `Call.checked` once it has found what
the path names); and it may read an unparseable body as ``{}``.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from . import deadlines
from .auth import authenticate
from .errors import ApiError, UnknownPath
from .profiles import LenientJson
from .spec import ALL_PARTS, ApiSpec, Operation
from .state.app_state import MockState
from .state.store import Account
from .state.worlds import World
from .streams.scenarios import Answers, Scenario, find_scenario

_PREFER = re.compile(r"""(?:^|[,;])\s*scenario\s*=\s*"?([^",;\s]+)"?""", re.IGNORECASE)
#: How an operation meets the scenario a request asks for (``Prefer: scenario=NAME`` or the queue):
#: ``handler``: the handler meets it itself, after its state answers (the operations that play a stream:
#: `mockserver.api.chat.select_scenario`; stop: `answer_fault` after its chat's lookup), and the admin
#: API, which has none; ``answer``: an http-status scenario answers instead of the operation, a stream
#: scenario is a 400; ``answer-http``: the same, but a stream scenario named by ``Prefer`` is left
#: alone (resume: a transport sends it the POST's headers).
FaultPolicy = Literal["handler", "answer", "answer-http"]


@dataclass
class Call:
    """What a handler gets: the request, its world, the app-wide state, the caller and the parsed body."""

    request: Request
    world: World
    state: MockState
    account: Account
    body: Any
    #: The operation's name: the project's operationId of the handler (the key of a generic operation).
    operation_id: str = ""
    #: The checks the world's profile holds back until the handler's lookups (reading the body
    #: included), if any: `checked` runs them.
    pending: Callable[[], Any] | None = None

    def checked(self) -> None:
        """Where a handler has found what the path names (its 404s and 403s are behind it): the request
        checks a profile holds back until then run here (400), and ``body`` is set. Nothing to do when
        the pipeline has checked everything already (the documented order)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            self.body = pending()

    def note(self, *, scenario: str | None = None, run_id: str | None = None, chaos: bool = False) -> None:
        """Put the scenario and run id on this request's journal entry (and that chaos chose the scenario)."""
        entry = self.request.scope.get("recoup.entry")
        if entry is not None:
            entry.scenario = scenario or entry.scenario
            entry.run_id = run_id or entry.run_id
            entry.chaos = entry.chaos or chaos

    @property
    def seq(self) -> int | None:
        """This request's place in its world's journal (None outside the journal)."""
        entry = self.request.scope.get("recoup.entry")
        return entry.seq if entry is not None else None


Handler = Callable[[Call], Awaitable[Response]]
#: Decides who a request acts as: the account and a log-safe name of its credential, or an ApiError.
Authorizer = Callable[[Request, World], tuple[Account, str]]
ANONYMOUS = Account("anonymous", "")


def api_key_auth(request: Request, world: World) -> tuple[Account, str]:
    """The API's schemes: exactly one of ``x-api-key`` or a bearer token, naming a known key."""
    return authenticate(request.headers, world.store.accounts_by_key)


async def read_body(request: Request, limit: int, patience: float) -> bytes:
    """The whole body; 413 as soon as it is known to exceed ``limit`` (never read past it), and
    408 if it has not all arrived within ``patience`` seconds (a stalled upload cannot hang us)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"Request body is {declared} bytes; the limit is {limit} bytes")
    body = bytearray()
    task = asyncio.current_task()
    assert task is not None
    waits = deadlines.of(asyncio.get_running_loop())
    waits.start(task, patience)  # not asyncio.timeout: a timer per request costs more than the read
    try:
        more = True
        while more:  # the ASGI messages directly: Starlette's stream() is an async generator per request
            message = await request.receive()
            if message["type"] == "http.disconnect":
                raise ApiError(400, "The client went away before sending the whole body")
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                raise ApiError(413, f"Request body exceeds the limit of {limit} bytes")
    except asyncio.CancelledError:
        if not waits.expired(task):
            raise
        task.uncancel()  # the cancellation was the deadline's: it ends here, as a 408
        raise ApiError(408, f"Request body did not arrive within {patience:g} s "
                            f"({len(body)} bytes received)", headers={"connection": "close"}) from None
    finally:
        waits.finish(task)
    return bytes(body)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:20]}… is too large to represent")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: The one strict decoder (json.loads with these arguments would build one per call).
_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constants)
#: What the deployed server says of a body that is not JSON.
INVALID_JSON = "Invalid JSON body"


def parse_json(body: bytes) -> Any:
    """Parse a JSON body strictly (RFC 8259: no NaN/Infinity, finite numbers); failures are 400s."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"Request body is not valid UTF-8 (byte {exc.start})", terse=INVALID_JSON) from None
    try:
        return _DECODER.decode(text)  # what json.loads(text, parse_float=..., parse_constant=...) does
    except RecursionError:
        raise ApiError(400, "Request body JSON is nested too deeply", terse=INVALID_JSON) from None
    except ValueError as exc:  # JSONDecodeError, our number checks, ints past Python's digit limit
        reason = "a number has too many digits" if "integer string conversion" in str(exc) else str(exc)
        raise ApiError(400, f"Request body is not valid JSON: {reason}", terse=INVALID_JSON) from None


def read_json(body: bytes, lenient: LenientJson | None) -> tuple[Any, bool]:
    """The parsed body and whether there is one, as the operation reads it: strictly (`parse_json`; an
    empty body is none), or as a profile's `LenientJson` says, where what does not parse is ``{}``."""
    if lenient == "blank" and not body.strip():
        return {}, True
    if lenient in ("malformed", "not-an-object"):
        try:
            parsed = parse_json(body) if body else {}
        except ApiError:
            return {}, True
        return ({} if lenient == "not-an-object" and not isinstance(parsed, dict) else parsed), True
    return (parse_json(body) if body else None), bool(body)


def check_content_type(request: Request, op: Operation) -> None:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in op.media_types:
        raise ApiError(415, f"Content-Type {media or '(none)'!r} is not supported by {op.method} {op.path}; "
                            f"send {', '.join(op.media_types)}")


#: The checks of a request's path alone (`mockserver.profiles.CheckedFirst` ``path``).
PATH_ONLY = frozenset({"path"})
#: How much of a request body the journal keeps for the inspector.
JOURNAL_BODY_BYTES = 16 * 1024
#: The spec a world's requests are routed and validated by (its profile's, for the chat API).
SpecFor = Callable[[World], ApiSpec]


def no_such_operation(request: Request, world: World) -> UnknownPath:
    """A route of the documented contract that the world's profile does not have (the deployed server
    has no ``/api/chat/workflow``): answered as an unknown path."""
    return UnknownPath(f"No operation at {request.method} {request.url.path} under the "
                       f"'{world.profile.name}' profile")


def preferred_scenario(request: Request) -> str | None:
    """The scenario the request's ``Prefer: scenario=NAME`` header names, if any."""
    prefer = _PREFER.search(request.headers.get("prefer", ""))
    return prefer.group(1) if prefer else None


def chosen_scenario(call: Call, explicit: str | None, answers: Answers | None) -> str | None:
    """The one order in which a request's scenario is chosen, before its operation's own default:
    ``explicit`` (``Prefer: scenario=NAME``, or a chat turn's ``[scenario:NAME]`` marker), else the next
    scenario queued for the request (`World.take_queued`), else, for a chat request, the fault seeded
    chaos draws for it (`mockserver.state.chaos`), else None. Each chat request draws its place in the
    world's chaos sequence whichever of them wins, so the picks of the others do not move. Taking a
    queued scenario and a chaos pick are told to the inspector (events ``queued`` and ``chaos``); a
    chaos pick is marked on the journal entry (``chaos: true``)."""
    world = call.world
    pick = world.draw_chaos(call.operation_id)
    if explicit is not None:
        return explicit
    queued = world.take_queued(call.operation_id, answers)
    if queued is not None:
        if world.bus.watched:
            world.bus.publish({"type": "queued", "world": world.name, "seq": call.seq, "scenario": queued,
                               "operation": call.operation_id})
        return queued
    if pick is not None:
        call.note(scenario=pick, chaos=True)
        if world.bus.watched:
            world.bus.publish({"type": "chaos", "world": world.name, "seq": call.seq, "scenario": pick,
                               "operation": call.operation_id, "draw": world.chaos.count,
                               "rate": world.chaos.rate})
    return pick


def http_answer(scenario: Scenario) -> ApiError:
    """The HTTP error an http-status scenario answers with."""
    assert scenario.http is not None
    return ApiError(scenario.http.status, scenario.http.message, headers=scenario.http.headers)


def http_scenarios(world: World) -> str:
    """The names of the world's http-status scenarios, for messages."""
    return ", ".join(sorted(name for name, s in world.scenarios.items() if s.http is not None))


def answer_fault(call: Call, *, streams: Literal["refuse", "ignore"], answers: Answers | None = None) -> None:
    """The one way an operation that plays no stream meets a fault scenario: the scenario its
    ``Prefer: scenario=NAME`` names, else the next one queued for the operation (admin
    ``queueScenarios`` with ``operation``; then, given ``answers``, the general queue's first for those
    requests: ``stop``'s), else a resume's chaos pick (`chosen_scenario`), if it is an http-status
    scenario, answers instead of the operation (raised as its `ApiError`): nothing changes. An
    unknown name is a 400 listing the names; a stream scenario is a 400 (the operation plays none),
    unless ``streams`` is ``ignore`` and ``Prefer`` named it, which is then left alone. The pipeline
    calls this before the handler (`FaultPolicy`)."""
    world = call.world
    named = preferred_scenario(call.request)
    name = chosen_scenario(call, named, answers)
    if name is None:
        return
    scenario = find_scenario(world.scenarios, name)
    if scenario.http is None:
        if streams == "ignore" and named is not None:
            return
        op = call.operation_id
        raise ApiError(400, f"Scenario {scenario.name!r} is a stream; {op} plays no stream and takes an "
                            f"http-status scenario ({http_scenarios(world)})")
    call.note(scenario=scenario.name)
    raise http_answer(scenario)


@dataclass(slots=True)
class Checks:
    """The spec's checks of one request (and the reading of its body), run when its profile says."""

    request: Request
    spec: ApiSpec
    op: Operation
    guard: tuple[ApiSpec, Operation] | None
    body: bytes
    any_content_type: bool
    lenient: LenientJson | None

    def run(self, parts: frozenset[str] = ALL_PARTS) -> Any:
        """Check ``parts`` of the request (the body read first when they include it): 415, 400 for the
        JSON, 400 for the spec's rules (and the guard's). Returns the parsed body."""
        parsed, has_body = None, False
        if "body" in parts:
            if self.body and not self.any_content_type:
                check_content_type(self.request, self.op)
            parsed, has_body = read_json(self.body, self.lenient)
        problems = self.spec.validate_request(self.op, self.request, parsed, has_body, parts)
        if not problems and self.guard is not None:
            problems = self.guard[0].validate_request(self.guard[1], self.request, parsed, has_body, parts)
        if problems:
            raise ApiError(400, "Invalid request", problems)
        return parsed


def endpoint(key: str, spec_for: SpecFor, handler: Handler, authorize: Authorizer = api_key_auth, *,
             handles: str | None = None, guard: tuple[ApiSpec, Operation] | None = None,
             faults: FaultPolicy = "handler") -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of the operation ``key`` (`Operation.key`): the pipeline, then ``handler``.
    ``handles`` is the name of the handler's own operation (the project's operationId), which the
    profile's behaviour table speaks of; None for the generic responder. ``guard`` is that operation
    in the project's contract, for a spec of another origin: a request this spec admits but the
    handler's own contract does not (an upstream spec that leaves ``prompt`` optional) is a 400 too.

    The order is 413 -> 401 -> 415 -> JSON -> spec -> fault, except where the world's profile moves the
    checks: before the credentials (the deployed server's ``POST /api/chat`` and ``/runs``: 413 -> 415
    -> JSON -> spec -> 401; or the path's ids only, then the rest after them), or after the handler's
    lookups (`Call.checked`). ``faults`` says how the operation meets the scenario a request asks for
    (`FaultPolicy`)."""

    async def run(request: Request) -> Response:
        state: MockState = request.app.state.mock
        world: World = request.scope["recoup.world"]  # picked by the middleware, before routing
        spec = spec_for(world)
        op = spec.operation(key)
        if op is None:
            raise no_such_operation(request, world)
        request.scope["recoup.op"] = op  # the error body takes the shape this operation documents
        request.scope["recoup.spec"] = spec
        settings = state.settings
        body = b""
        if op.has_body:
            body = await read_body(request, settings.max_body_bytes, settings.body_timeout_seconds)
            entry = request.scope.get("recoup.entry")
            if entry is not None:
                world.journal.keep_body(entry, body[:JOURNAL_BODY_BYTES])  # charged to the memory budget
        behaviour = world.profile.behaviour
        name = handles or key
        first = behaviour.checked_before_auth.get(name)
        checks = Checks(request, spec, op, guard, body, behaviour.json_whatever_content_type,
                        behaviour.lenient_json.get(name))
        parsed = None
        if first == "request":
            parsed = checks.run()
        elif first == "path":
            checks.run(PATH_ONLY)
        account = _authorize(request, world, op, authorize)
        call = Call(request, world, state, account, parsed, name)
        if first != "request":
            if name in behaviour.checked_after_lookup:
                call.pending = checks.run
            else:
                call.body = checks.run()
        if faults != "handler":
            answer_fault(call, streams="ignore" if faults == "answer-http" else "refuse")
        return await handler(call)

    run.__name__ = handles or key
    return run


def _authorize(request: Request, world: World, op: Operation, authorize: Authorizer) -> Account:
    """Who the request acts as (ANONYMOUS for an operation without security); the journal gets the
    log-safe name of the credential."""
    if not op.secured:
        return ANONYMOUS
    account, masked = authorize(request, world)
    entry = request.scope.get("recoup.entry")
    if entry is not None:
        entry.account = masked
    return account
