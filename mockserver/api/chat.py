"""Handlers of the streaming operations: chat turns, resume, stop, headless runs, legacy chat.

Each handler gets a validated, authenticated `Call`. Lookups answer 404 for unknown ids and 403
for another account's; the chat's stream slot is checked and claimed by `RunManager.start`, with
no ``await`` in between, so of many simultaneous POSTs to one idle chat exactly one streams and
the rest get 409. State answers come before the scenario is chosen: a busy chat is a 409
whatever scenario a request asks for, and a queued scenario is only used by a request it answers
(a chat turn takes the first one queued for turns, a stop the first one queued for stops).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from starlette.responses import Response, StreamingResponse

from ..errors import ApiError, quote
from ..pipeline import Call, answer_fault, chosen_scenario, http_answer, preferred_scenario
from ..responses import FinishedStream, JsonAnswer
from ..state.headless import Deferred
from ..state.store import Chat, Session
from ..streams import sse
from ..streams.engine import Run, follow, replay_now
from ..streams.scenarios import Scenario, find_scenario

Owned = TypeVar("Owned", Chat, Session)
_MARKER = re.compile(r"\[scenario:([A-Za-z0-9_-]+)\]")
#: The operations whose handlers play a stream and choose its scenario (`select_scenario`).
PLAY_A_STREAM = frozenset({"postChat", "postChatWorkflow", "startChatRun", "legacyChat"})
#: The operations that read a run's stream (a transport sends them the POST's headers again).
READ_A_STREAM = frozenset({"resumeChatStream"})


def select_scenario(call: Call, messages: Sequence[Any], chat: Chat | None) -> Scenario:
    """``Prefer: scenario=NAME``, else ``[scenario:NAME]`` in the last user message, else the next
    queued one (admin API: one queued for this operation, then the general queue's first for turns),
    else seeded chaos's pick (`mockserver.state.chaos`), else the chat's default, else ``default``
    (`mockserver.pipeline.chosen_scenario`). Never sticky. Unknown: 400. The operations that play no
    stream meet the same header and queue in the pipeline (`mockserver.pipeline.answer_fault`)."""
    name = preferred_scenario(call.request)
    if name is None and (marker := _MARKER.search(last_user_text(messages))):
        name = marker.group(1)
    name = chosen_scenario(call, name, "turn")  # the queue, then seeded chaos
    if name is None and chat is not None:
        name = chat.scenario
    scenario = find_scenario(call.world.scenarios, name or "default")
    call.note(scenario=scenario.name)
    if scenario.http is not None:
        raise http_answer(scenario)
    return scenario


def last_user_text(messages: Sequence[Any]) -> str:
    """The text of the last ``role: user`` message: its text parts, or its ``content`` string."""
    for message in reversed(messages):  # parsed JSON: dicts (not the slower check for any Mapping)
        if isinstance(message, dict) and message.get("role") == "user":
            texts = [p.get("text", "") for p in message.get("parts") or [] if isinstance(p, dict)
                     and p.get("type") == "text" and isinstance(p.get("text"), str)]
            content = message.get("content")
            return " ".join(texts + ([content] if isinstance(content, str) else []))
    return ""


def check_owner(call: Call, kind: str, found: Owned | None, key: str) -> Owned:
    """``found`` (what ``key`` names) if the caller owns it: 404 when it is None, 403 when it is another
    account's (tersely, as the deployed server says them: ``Chat not found``, ``Forbidden``)."""
    if found is None:
        raise ApiError(404, f"{kind.capitalize()} not found: {key}", terse=f"{kind.capitalize()} not found")
    if found.account is not call.account:
        raise ApiError(403, f"Forbidden: {kind} {key} belongs to another account", terse="Forbidden")
    return found


def owned_chat(call: Call, chat_id: str) -> Chat:
    return check_owner(call, "chat", call.world.store.chat(chat_id), chat_id)


def owned_session(call: Call, session_id: str) -> Session:
    return check_owner(call, "session", call.world.store.session(session_id), session_id)


def stream_response(call: Call, run: Run, start: int = 0, *, live: bool = False, watched: bool = True
                    ) -> Response:
    """A UI message stream of ``run`` from chunk ``start``; ``live`` for the connection that started it.

    A resume (not ``live``) says where the run's log ends (``x-workflow-stream-tail-index``), unless
    it is not ``watched``: the deployed server's POST replay of a live run is neither watched (its
    reader going away does not cancel the run) nor given a tail index."""
    headers = dict(sse.STREAM_HEADERS)
    headers["x-workflow-run-id"] = run.id
    if not live and watched:
        headers["x-workflow-stream-tail-index"] = str(run.tail_index)
    call.note(scenario=run.scenario.name, run_id=run.id)
    write_sizes = run.scenario.timing.write_sizes if live else ()
    if not write_sizes and (whole := replay_now(run, start, live=live)) is not None:
        return FinishedStream(whole, headers=headers)
    cancels = watched and call.world.profile.behaviour.disconnect_cancels_run
    body = follow(run, start, keepalive=call.world.settings.keepalive_seconds, live=live, write_sizes=write_sizes,
                  on_abandon=call.world.runs.cancel_soon if cancels else None)
    return StreamingResponse(body, headers=headers)


def start_run(call: Call, choose: Callable[[], Scenario], chat: Chat | Deferred, messages: Sequence[Any], *,
              headless: bool = False) -> Run:
    """Start a run on ``chat`` with the scenario ``choose`` picks (see `RunManager.start` for the order)."""
    last = messages[-1] if messages else None  # parsed JSON: a dict, if a message at all
    user = stored_user_message(call, last) if isinstance(last, dict) and last.get("role") == "user" else None
    # Like the deployed server: continuing an assistant message keeps its id.
    is_assistant = isinstance(last, dict) and last.get("role") == "assistant" and bool(last.get("id"))
    reuse = str(last["id"]) if is_assistant and isinstance(last, dict) else None
    return call.world.runs.start(choose, account_id=call.account.id, chat=chat, user_message=user,
                                 reuse_message_id=reuse, headless=headless)


def stored_user_message(call: Call, message: Mapping[str, Any]) -> dict[str, Any]:
    """A user message as the chat stores it: as it was sent, with what every stored message has (the
    session chat answers `id`, `role` and `parts`; a request's message requires none of them): an id of its
    own when it came without one, and its documented `content` as a text part when it came without parts.
    One that has both is stored as it came (the parsed body is the request's own: nothing else holds it)."""
    if isinstance(message.get("id"), str) and message["id"] and isinstance(message.get("parts"), list):
        return message if isinstance(message, dict) else dict(message)
    stored = dict(message)
    if not isinstance(stored.get("id"), str) or not stored["id"]:
        stored["id"] = call.world.store.ids.uuid()
    if not isinstance(stored.get("parts"), list):
        content = stored.get("content")
        stored["parts"] = [{"type": "text", "text": content}] if isinstance(content, str) else []
    return stored


async def post_chat(call: Call) -> Response:
    body = call.body
    session = owned_session(call, body["sessionId"])
    chat = call.world.store.chat(body["chatId"])
    if chat is not None and chat.account is not call.account:
        raise ApiError(403, f"Forbidden: chat {chat.id} belongs to another account", terse="Forbidden")
    if not call.world.store.sandbox_ready(session):
        state = call.world.store.lifecycle_of(session).state
        raise ApiError(400, f"Sandbox not initialized for session {session.id} (lifecycle {state or 'null'}, no "
                            f"active sandbox); call POST /api/sandbox first", terse="Sandbox not initialized")
    if chat is None or chat.session is not session:
        raise ApiError(404, f"Chat not found: {body['chatId']} in session {session.id}", terse="Chat not found")
    # The deployed server's POST resumes: a chat whose run is live gets that run, from chunk 0.
    live = call.world.runs.get(chat.active_stream_id)
    if live is not None and (live.pinned or not live.closed) and call.world.profile.behaviour.post_replays_live_run:
        return stream_response(call, live, watched=False)
    # Every state answer (404, 403, 400 sandbox above; 409 in `start`) comes before the scenario.
    run = start_run(call, lambda: select_scenario(call, body["messages"], chat), chat, body["messages"])
    call.world.store.record_activity(session)  # a streamed turn is activity: the idle deadline moves
    return stream_response(call, run, live=True)


async def resume_chat_stream(call: Call) -> Response:
    chat = owned_chat(call, call.request.path_params["chatId"])
    run = call.world.runs.get(chat.active_stream_id)
    if run is None or (run.closed and not run.pinned):
        if run is not None:
            call.world.store.release_slot(chat, run.id)
        return NO_CONTENT
    return stream_response(call, run, _start_index(call.request.query_params.get("startIndex", "0")))


#: The answer of a resume when nothing runs: the same every time, so made once (nothing changes it).
NO_CONTENT = Response(status_code=204)


def _start_index(raw: str) -> int:
    """``startIndex``, which the spec in service checks when it declares it (an upstream one may not)."""
    if not (raw.isascii() and raw.isdigit()):
        raise ApiError(400, f"Query parameter 'startIndex' is {quote(raw)}; expected an integer >= 0",
                       terse="startIndex must be a non-negative integer")
    return int(raw)


async def stop_chat(call: Call) -> Response:
    chat = owned_chat(call, call.request.path_params["chatId"])  # a 404 or 403 leaves the queue as it was
    # The deployed server's failures to stop (stop-502, stop-504), or any http-status scenario: answered
    # in place of the stop, which does not happen. Here rather than in the pipeline: after the lookup.
    answer_fault(call, streams="refuse", answers="stop")
    run = call.world.runs.get(chat.active_stream_id)
    stopped = False
    if run is not None:
        call.note(run_id=run.id)
        stopped = await call.world.runs.cancel(run)
    return JsonAnswer({"success": True, "stopped": stopped})


def request_messages(body: Mapping[str, Any], call: Call) -> list[dict[str, Any]]:
    """The request's messages; a ``prompt`` becomes one user message. The spec's ``oneOf`` has
    already made sure exactly one of the two was given (a 400 otherwise)."""
    if body.get("messages"):
        return list(body["messages"])
    return [{"id": call.world.store.ids.uuid(), "role": "user", "parts": [{"type": "text", "text": body["prompt"]}]}]


async def start_chat_run(call: Call) -> Response:
    messages = request_messages(call.body, call)
    scenario = select_scenario(call, messages, None)
    # Its own session (its sandbox provisioned) and chat, built only if something reads them.
    chat = call.world.store.defer_headless(call.account, "Scheduled generation")
    run = start_run(call, lambda: scenario, chat, messages, headless=True)
    call.note(run_id=run.id)
    return JsonAnswer({"runId": run.id, "chatId": chat.id, "sessionId": chat.session_id}, status_code=202,
                        headers={"location": f"/api/chat/runs/{run.id}"})


async def get_chat_run_status(call: Call) -> Response:
    run_id = call.request.path_params["runId"]
    run = call.world.runs.get(run_id)
    anyone = call.world.profile.behaviour.any_account_reads_runs  # the deployed server checks no owner
    if run is None or (run.account_id != call.account.id and not anyone):
        # One the memory budget evicted says so, in both error styles (`RunManager.evicted_message`).
        evicted = call.world.runs.evicted_message(run_id) if run is None else None
        raise ApiError(404, evicted or f"Run not found: {run_id}", terse=None if evicted else "Run not found")
    return JsonAnswer({"runId": run.id, "status": run.status})


async def legacy_chat(call: Call) -> Response:
    messages = request_messages(call.body, call)
    scenario = select_scenario(call, messages, None)
    run = call.world.runs.start(lambda: scenario, account_id=call.account.id, chat=None)
    return stream_response(call, run, live=True)


async def legacy_chat_options(call: Call) -> Response:
    return Response(status_code=200)
