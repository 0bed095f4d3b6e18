"""Flows the generator will not find alone, scripted against any target.

`provision` creates what the other flows need through the API (a session, its sandbox, chats; and
a session of the other account), unless ids are passed in. Then, each under its own check name:

==========================  =========================================================================
``chat_turn_streams``       ``POST /api/chat`` (plain, and ``Prefer: scenario=tool-call``), the
                            ``/workflow`` path with a Bearer key, and the legacy stream answer 200
                            streams (every stream check runs on them)
``resume_no_content``       resuming a chat that never streamed: 204 with an empty body (both schemes)
``stop_idle``               stopping it: 200 ``{"success": true, "stopped": false}``
``busy_chat_conflict``      ``POST`` on a chat that is streaming: 409. On the mock, the pinned busy
                            chat; on any other target, two overlapping POSTs on a fresh chat, the
                            first with ``Prefer: scenario=slow`` (a deployment ignores it), which is
                            then stopped (``stopped: true``) and must close
``foreign_chat_forbidden``  the other account's chat: 403 on POST, resume and stop, and on its
                            session; the other account reading our run's status: 404
``credentials_rejected``    missing, unknown, non-Bearer and doubled credentials: 401 everywhere
``run_lifecycle``           ``POST /api/chat/runs`` 202 -> ``running`` -> ``completed`` (never back,
                            never ``failed``), then resume 204
``workflow_run_id``         the run id of a 202 matches its ``Location``; a watched run's stream and
                            a resumed live run carry the right ``x-workflow-run-id``
==========================  =========================================================================

The flows over the front end's surface (sessions, their chats, the sandbox, ``/api/chats``) are in
`contracts.surface`; this module runs them all (`run_flows`) and, once the phases are done too,
cleans up (`clean_up`): it deletes the chats and rooms the run made and archives its sessions.

Nothing here touches an object the suite did not create, except the mock's fixture world (read
only, and only when its ids answer as they do on the mock). A step on an ``--exclude``d operation,
or one that could start an agent run past ``--max-streams``, is skipped (see `target.Target.allow`).
Operations are named ``METHOD /path`` (`operations`); a flow of this module that needs one the spec
lacks stops there, a flow of `contracts.surface` is not started (`surface.NEEDS`), and the report
says so.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from typing import Any

import httpx

# The mock's fixture world (fixtures/world.yaml); its ids are used only when the target answers with it.
# `fixture_ids.UNKNOWN_RUN` is a run id of the right form that no deployment has.
from mockserver.state import fixture_ids

from . import streams, surface
from .checks import RUN_ID_HEADER, RunIdViolation, check_run_accepted
from .operations import (
    CREATE_SANDBOX,
    CREATE_SESSION,
    DELETE_CHAT,
    DELETE_SESSION_CHAT,
    GET_SESSION,
    GET_SESSION_CHAT,
    LEGACY_CHAT,
    PATCH_SESSION,
    POST_CHAT,
    POST_CHAT_WORKFLOW,
    RESUME_CHAT,
    RUN_STATUS,
    START_RUN,
    STOP_CHAT,
)
from .options import DEFAULT_REPO_URL
from .target import BudgetExhausted, Exchange, NotInSpec, Target
from .workspace import Workspace, World, chat_body, new_chat, poll

__all__ = ["FLOW_FUNCTIONS", "World", "Workspace", "clean_up", "provision", "run_flows"]

INVALID_KEY = "recoup_sk_contract_not_a_key_0000000000000000"
RUN_RANK = {"queued": 0, "running": 1, "completed": 2}
RUN_POLL_LIMIT = 120.0


# ---------------------------------------------------------------------- provisioning
def detect_world(target: Target) -> World | None:
    """Whether the target is the mock with its fixture world (a read of a fixed session id)."""
    if target.excluded(GET_SESSION) or target.excluded(GET_SESSION_CHAT):
        return None
    session_url = f"{target.base_url}/api/sessions/{fixture_ids.SESSION_READY}"
    headers = target.http_headers("owner")
    try:
        with httpx.Client(timeout=target.options.request_timeout) as client:
            target.throttle()
            target.report.count("flows")
            response = client.get(session_url, headers=headers)
            session = response.json().get("session", {}) if response.status_code == 200 else {}
            if session.get("id") != fixture_ids.SESSION_READY:
                return None
            target.throttle()
            target.report.count("flows")
            response = client.get(f"{session_url}/chats/{fixture_ids.CHAT_BUSY}", headers=headers)
            chat = response.json().get("chat", {}) if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return World(busy_run=chat.get("activeStreamId"))


def provision(target: Target, repo_url: str = DEFAULT_REPO_URL) -> Workspace:
    flow = "provision"
    ws = Workspace(world=detect_world(target))
    options = target.options
    if options.session_id:
        exchange = target.send(flow, GET_SESSION, path={"sessionId": options.session_id})
        if target.expect_status(exchange, "provisioning", "session", 200,
                                "RECOUP_CONTRACT_SESSION_ID must name a session of the --api-key account"):
            ws.session_id = options.session_id
    else:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        exchange = target.send(flow, CREATE_SESSION, body={"title": f"recoup-mock contract {stamp}"})
        if target.expect_status(exchange, "provisioning", "session", 200, "creating a session must succeed"):
            body = exchange.json() or {}
            session = body.get("session")
            ws.session = session if isinstance(session, dict) else {}
            session_id = ws.session.get("id")
            if isinstance(session_id, str):
                ws.session_id = session_id
                ws.created_session(session_id, "owner", f"session {session_id}")
        if ws.session_id:
            exchange = target.send(flow, CREATE_SANDBOX, body={"repoUrl": repo_url, "sessionId": ws.session_id})
            ws.sandbox = exchange
            if target.expect_status(exchange, "provisioning", "sandbox", 200, "provisioning the sandbox must succeed"):
                ws.created.append(f"sandbox of session {ws.session_id}")
    if ws.session_id:
        ws.chat_id = new_chat(target, flow, ws)
        ws.generator_chat_id = new_chat(target, flow, ws)
    if options.other_session_id and options.other_chat_id:
        ws.other_session_id, ws.other_chat_id = options.other_session_id, options.other_chat_id
    elif target.other_api_key:
        exchange = target.send(flow, CREATE_SESSION, auth="other", body={"title": "recoup-mock contract (peer)"})
        if target.expect_status(exchange, "provisioning", "other-session", 200,
                                "creating a session as the --other-api-key account must succeed"):
            body = exchange.json() or {}
            ws.other_session_id = body.get("session", {}).get("id")
            ws.other_chat_id = body.get("chat", {}).get("id")
            if ws.other_session_id:
                ws.created_session(ws.other_session_id, "other", f"session {ws.other_session_id} (other account)")
    elif ws.world is not None:
        ws.other_session_id, ws.other_chat_id = fixture_ids.SESSION_BOB, fixture_ids.CHAT_BOB
    return ws


# ---------------------------------------------------------------------- the flows
def chat_turn(target: Target, ws: Workspace) -> None:
    flow, check = "chat_turn", "chat_turn_streams"
    assert ws.session_id is not None
    turns: list[tuple[str, str | None, str, str]] = [
        (POST_CHAT, None, "owner", "post"),
        (POST_CHAT, "scenario=tool-call", "owner", "post-tool-call"),
        (POST_CHAT_WORKFLOW, None, "owner-bearer", "workflow-path"),
    ]
    for operation, prefer, auth, rule in turns:
        chat_id = new_chat(target, flow, ws)
        if chat_id is None:
            return
        headers = {"Prefer": prefer} if prefer else None
        exchange = target.send(flow, operation, auth=auth, headers=headers, body=chat_body(chat_id, ws.session_id))
        target.expect_status(exchange, check, rule, 200, "a turn on an idle chat with a sandbox streams")
    exchange = target.send(flow, LEGACY_CHAT, body={"prompt": "recoup-mock contract check: reply briefly"})
    target.expect_status(exchange, check, "legacy", 200, "the legacy stream answers a prompt with a stream")


def resume_idle(target: Target, ws: Workspace) -> None:
    flow = "resume_idle"
    chat_id = new_chat(target, flow, ws)
    if chat_id is None:
        return
    for auth, rule in (("owner", "idle"), ("owner-bearer", "idle-bearer")):
        exchange = target.send(flow, RESUME_CHAT, auth=auth, path={"chatId": chat_id})
        expect_no_content(target, exchange, "resume_no_content", rule,
                          "a chat that never streamed has nothing to resume")
    exchange = target.send(flow, STOP_CHAT, path={"chatId": chat_id})
    if target.expect_status(exchange, "stop_idle", "status", 200, "stop is idempotent"):
        body = exchange.json()
        if body != {"success": True, "stopped": False}:
            target.record(exchange, "stop_idle", "body",
                          f"Stopping an idle chat should answer {{\"success\": true, \"stopped\": false}}, not {body}")


def expect_no_content(target: Target, exchange: Exchange, check: str, rule: str, why: str) -> bool:
    if not target.expect_status(exchange, check, rule, 204, why):
        return False
    assert exchange.response is not None
    if exchange.response.content:
        target.record(exchange, check, f"{rule}-body", "A 204 must have an empty body.")
        return False
    return True


def busy_conflict(target: Target, ws: Workspace) -> None:
    if ws.world is not None and ws.world.busy_run is not None:
        _busy_fixture(target, ws.world.busy_run)
    else:
        _busy_overlap(target, ws)


def _busy_fixture(target: Target, busy_run: str) -> None:
    flow, check = "busy_conflict", "busy_chat_conflict"
    exchange = target.send(flow, POST_CHAT, body=chat_body(fixture_ids.CHAT_BUSY, fixture_ids.SESSION_READY))
    target.expect_status(exchange, check, "post-streaming", 409,
                         "a POST on a chat whose response is streaming gets 409")
    # Resuming it replays the live run from chunk 0, then from chunk 1.
    exchange = target.send(flow, RESUME_CHAT, path={"chatId": fixture_ids.CHAT_BUSY})
    if target.expect_status(exchange, check, "resume-busy", 200, "resuming a streaming chat replays its run"):
        expect_run_id(target, exchange, busy_run, "resume-live-run", "the chat's activeStreamId")
    exchange = target.send(flow, RESUME_CHAT, path={"chatId": fixture_ids.CHAT_BUSY}, query={"startIndex": 1})
    if target.expect_status(exchange, check, "resume-busy-index", 200, "a resume from startIndex 1 replays the rest"):
        first = streams.data_events(exchange.response.content if exchange.response else b"")[:1]
        if first and '"type":"start"' in first[0].replace(" ", ""):
            target.record(exchange, check, "start-index", "A resume from startIndex 1 must not begin with `start`.")


def _busy_overlap(target: Target, ws: Workspace) -> None:
    """Two overlapping POSTs on a fresh chat: the first (slow) one streams, the second gets 409."""
    flow, check = "busy_conflict", "busy_chat_conflict"
    assert ws.session_id is not None
    chat_id = new_chat(target, flow, ws)
    if chat_id is None:
        return
    first_case = target.case(POST_CHAT, headers={"Prefer": "scenario=slow"}, body=chat_body(chat_id, ws.session_id))
    first = Exchange(flow, first_case, None, target.curl(first_case))
    timeout = target.options.request_timeout
    headers = {**target.http_headers("owner"), "Prefer": "scenario=slow", "Content-Type": "application/json"}
    target.check_budget()
    if target.allow(flow, POST_CHAT, headers) is not None:
        return
    target.limits.cap.sent("flows")
    target.throttle()
    target.report.count("flows")
    target.report.groups.add((f"flow:{flow}", first_case.operation.label))
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout)) as client, client.stream(
                "POST", f"{target.base_url}/api/chat", headers=headers, json=chat_body(chat_id, ws.session_id)) as live:
            if live.status_code != 200:
                target.record(first, check, "slow-post", f"The first (slow) POST got {live.status_code}, not a stream.")
                return
            run_id = live.headers.get(RUN_ID_HEADER)
            reader = live.iter_bytes()
            received = _read_first_event(reader, timeout)
            if streams.DONE.encode() in received:
                target.report.note("busy_conflict: the first stream had already ended, so there was nothing to "
                                   "collide with (a target that ignores `Prefer: scenario=slow` and answers fast); "
                                   "the 409 was not tested")
                return
            second = target.send(flow, POST_CHAT, body=chat_body(chat_id, ws.session_id))
            target.expect_status(second, check, "post-streaming", 409,
                                 "a POST on a chat whose response is still streaming gets 409 (not a replay)")
            resumed = target.send(flow, RESUME_CHAT, path={"chatId": chat_id})
            resumed_ok = target.expect_status(resumed, check, "resume-live", (200, 204),
                                              "resume answers a stream or 204")
            if resumed_ok and resumed.status == 200 and run_id:
                expect_run_id(target, resumed, run_id, "resume-live-run", "the POST that started the run")
            stop = target.send(flow, STOP_CHAT, path={"chatId": chat_id})
            target.expect_status(stop, "stop_idle", "stop-live", 200, "stop answers 200")
            _drain(target, first, reader, received, timeout)
    except httpx.HTTPError as exc:
        target.record(first, check, "slow-post", f"The first (slow) POST failed: {exc!r}")


def _read_first_event(reader: Any, timeout: float) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    for piece in reader:
        received += piece
        if b"\n\n" in received or b"\r\n\r\n" in received or time.monotonic() > deadline:
            break
    return received


def _drain(target: Target, first: Exchange, reader: Any, received: bytes, timeout: float) -> None:
    """After a stop, the live stream must end within the bound (read timeout, byte cap)."""
    deadline = time.monotonic() + timeout
    cap = target.options.stream_byte_cap
    try:
        for piece in reader:
            received += piece
            if time.monotonic() > deadline or len(received) > cap:
                target.record(first, "stream_closes", "after-stop",
                              f"The stream was still open {timeout:g} s after the run was stopped.")
                return
    except httpx.ReadTimeout:
        target.record(first, "stream_closes", "after-stop",
                      f"The stream went silent without closing after the run was stopped ({timeout:g} s).")


def expect_run_id(target: Target, exchange: Exchange, expected: str, rule: str, source: str) -> None:
    value = exchange.header(RUN_ID_HEADER)
    if value != expected:
        operation = exchange.case.operation.label
        failure = RunIdViolation(operation=operation, rule=rule,
                                 message=f"`{RUN_ID_HEADER}: {value}` should be {expected}, the run id of {source}.")
        target.record_failure(exchange, "workflow_run_id", failure)


def foreign_chat(target: Target, ws: Workspace) -> None:
    flow, check = "foreign_chat", "foreign_chat_forbidden"
    if ws.other_chat_id is None or ws.other_session_id is None:
        target.report.note("foreign_chat: skipped, no other account (pass --other-api-key)")
        return
    chat, session = ws.other_chat_id, ws.other_session_id
    why = "the chat belongs to another account"
    exchange = target.send(flow, POST_CHAT, body=chat_body(chat, session))
    target.expect_status(exchange, check, "post", 403, why)
    exchange = target.send(flow, RESUME_CHAT, path={"chatId": chat})
    target.expect_status(exchange, check, "resume", 403, why)
    exchange = target.send(flow, STOP_CHAT, path={"chatId": chat})
    target.expect_status(exchange, check, "stop", 403, why)
    exchange = target.send(flow, GET_SESSION, path={"sessionId": session})
    target.expect_status(exchange, check, "session", 403, "the session belongs to another account")


def credentials(target: Target, ws: Workspace) -> None:
    flow, check = "credentials", "credentials_rejected"
    key = target.api_key
    variants: list[tuple[str, dict[str, str]]] = [
        ("missing", {}),
        ("unknown-key", {"x-api-key": INVALID_KEY}),
        ("unknown-bearer", {"Authorization": f"Bearer {INVALID_KEY}"}),
        ("not-bearer", {"Authorization": f"Basic {key}"}),
        ("doubled", {"x-api-key": key, "Authorization": f"Bearer {key}"}),
    ]
    chat, session = ws.chat_id or fixture_ids.CHAT_BUSY, ws.session_id or fixture_ids.SESSION_READY
    requests: list[tuple[str, dict[str, Any]]] = [
        (POST_CHAT, {"body": chat_body(chat, session)}),
        (RESUME_CHAT, {"path": {"chatId": chat}}),
        (STOP_CHAT, {"path": {"chatId": chat}}),
        (START_RUN, {"body": {"prompt": "recoup-mock contract check"}}),
        (RUN_STATUS, {"path": {"runId": fixture_ids.UNKNOWN_RUN}}),
        (CREATE_SESSION, {"body": {"title": "recoup-mock contract (must be refused)"}}),
        (GET_SESSION, {"path": {"sessionId": session}}),
    ]
    for operation, parts in requests:
        for rule, headers in variants:
            exchange = target.send(flow, operation, auth=None, headers=headers, **parts)
            target.expect_status(exchange, check, rule, 401,
                                 f"credentials that are {rule.replace('-', ' ')} must be refused")


def run_lifecycle(target: Target, ws: Workspace) -> None:
    flow, check = "run_lifecycle", "run_lifecycle"
    exchange = target.send(flow, START_RUN, body={"prompt": "recoup-mock contract check: reply briefly"})
    if not target.expect_status(exchange, check, "accepted", 202, "a headless run is accepted"):
        return
    body = exchange.json() or {}
    try:
        run_id = check_run_accepted(exchange.case.operation.label, exchange.response)  # type: ignore[arg-type]
    except RunIdViolation:
        return  # the response check `workflow_run_id` already recorded it
    chat_id, session_id = body.get("chatId"), body.get("sessionId")
    if isinstance(session_id, str):
        ws.created_session(session_id, "owner", f"session {session_id} (headless run {run_id})")
    if run_id is None or not isinstance(chat_id, str):
        return
    watched = target.send(flow, RESUME_CHAT, path={"chatId": chat_id})
    watch_ok = target.expect_status(watched, check, "watch", (200, 204),
                                    "the run's chat can be watched (or it is done)")
    if watch_ok and watched.status == 200:
        expect_run_id(target, watched, run_id, "watch-run-id", "POST /api/chat/runs")
    statuses = _poll_run(target, flow, run_id)
    if statuses is None:
        return
    seen, last = statuses
    bad = [s for s in seen if s not in RUN_RANK]
    ranks = [RUN_RANK[s] for s in seen if s in RUN_RANK]
    if bad:
        target.record(last, check, "status", f"The run went {' -> '.join(seen)}; a plain reply should complete.")
        return
    if ranks != sorted(ranks):
        target.record(last, check, "order", f"The run's status went backwards: {' -> '.join(seen)}.")
    if seen[-1] != "completed":
        target.record(last, check, "completes",
                      f"The run did not complete within {RUN_POLL_LIMIT:g} s: {' -> '.join(seen)}.")
        return
    after = target.send(flow, RESUME_CHAT, path={"chatId": chat_id})
    expect_no_content(target, after, check, "resume-after", "a completed run leaves nothing to resume")
    if target.other_api_key:
        peek = target.send(flow, RUN_STATUS, auth="other", path={"runId": run_id})
        target.expect_status(peek, "foreign_chat_forbidden", "run-status", 404,
                             "a run's status is visible only to its owner")


def _poll_run(target: Target, flow: str, run_id: str) -> tuple[list[str], Exchange] | None:
    """The run's statuses, read until it is no longer queued or running (at most `RUN_POLL_LIMIT` s), and
    the last read; None when a read failed (recorded)."""
    seen: list[str] = []

    def done(exchange: Exchange) -> bool:
        status = (exchange.json() or {}).get("status")
        if exchange.status == 200 and (not seen or seen[-1] != status):
            seen.append(str(status))
        return exchange.status != 200 or status not in ("queued", "running")

    exchange, _ = poll(target, flow, RUN_STATUS, done, RUN_POLL_LIMIT, path={"runId": run_id})
    if not target.expect_status(exchange, "run_lifecycle", "status-read", 200, "the run's owner reads its status"):
        return None
    return seen, exchange


Flow = Callable[[Target, Workspace], None]
FLOW_FUNCTIONS: dict[str, Flow] = {
    "chat_turn": chat_turn,
    "resume_idle": resume_idle,
    "busy_conflict": busy_conflict,
    "foreign_chat": foreign_chat,
    "credentials": credentials,
    "run_lifecycle": run_lifecycle,
    "sandbox_active": surface.sandbox_active,
    "read_back": surface.read_back,
    "turn_persisted": surface.turn_persisted,
    "read_marks": surface.read_marks,
    "rename_visible": surface.rename_visible,
    "delete_gone": surface.delete_gone,
    "cross_account": surface.cross_account,
}


def run_flows(target: Target, names: tuple[str, ...], repo_url: str = DEFAULT_REPO_URL) -> Workspace:
    """Provision, then run the named flows; a flow that crashes is reported, the others still run."""
    ws = Workspace()
    spec = target.options.spec_path.name
    try:
        ws = provision(target, repo_url)
    except BudgetExhausted:
        target.report.note("--max-time was spent while provisioning; no flow ran")
        target.skip_notes()
        return ws
    except NotInSpec as missing:
        target.report.note(f"provisioning needs {missing.operation}, which {spec} does not have")
    if not ws.ready:
        target.report.note("provisioning failed, so the flows that need a session did not run")
    for name in names:
        needs_session = name not in ("foreign_chat",)
        if needs_session and not ws.ready:
            continue
        lacking = [op for op in surface.NEEDS.get(name, ()) if not target.has(op)]
        if lacking:
            target.report.note(f"flow {name}: skipped, {spec} does not have {', '.join(lacking)}")
            continue
        try:
            FLOW_FUNCTIONS[name](target, ws)
        except BudgetExhausted:
            target.report.note(f"--max-time was spent during flow {name}; the remaining flows did not run")
            break
        except NotInSpec as missing:
            target.report.note(f"flow {name} stopped at {missing.operation}, which {spec} does not have")
    target.skip_notes()
    return ws


def clean_up(target: Target, ws: Workspace) -> None:
    """After the flows and the phases: delete the chats and the rooms the run made and archive the sessions it
    made (a session's first chat goes with it), each as its owner. What could not be cleaned up (an answer
    other than 200, or nothing, or ``--max-time`` spent) is named in a note."""
    flow = "cleanup"
    left: list[str] = []
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        *((DELETE_SESSION_CHAT, "owner", {"path": {"sessionId": s, "chatId": c}}, f"chat {c}") for s, c in ws.chats),
        *((DELETE_CHAT, "owner", {"body": {"id": room}}, f"room {room}") for room in ws.rooms),
        *((PATCH_SESSION, who, {"path": {"sessionId": s}, "body": {"status": "archived"}}, f"session {s}")
          for s, who in ws.sessions),
    ]
    for n, (operation, who, parts, what) in enumerate(steps):
        try:
            exchange = target.send(flow, operation, auth=who, **parts)
        except BudgetExhausted:
            left += [f"{step[3]} (--max-time was spent)" for step in steps[n:]]
            break
        except NotInSpec:
            left.append(f"{what} ({target.options.spec_path.name} has no {operation})")
            continue
        # A chat that went with its session (a headless run's) is gone already: nothing left.
        if exchange.status == 200 or (exchange.status == 404 and operation != PATCH_SESSION):
            continue
        left.append(f"{what} ({exchange.skipped or exchange.status or 'no answer'})")
    ws.chats, ws.rooms = [], []
    if left:
        target.report.note("cleanup: not cleaned up: " + ", ".join(left))
    target.skip_notes()
