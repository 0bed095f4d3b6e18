"""WorkflowChatTransport, the transport Recoup's front end ships, against live mocks in both profiles.

``workflow_transport_cases.mjs`` runs each case once per line: ``ai6`` is ai 6.x with ``@workflow/ai``
(the pair recoupable/app ships), ``ai7`` is ai 7.x with ``@ai-sdk/workflow/client``. The transport is set up
as Recoup's front end sets it up: headers and body from ``prepareSendMessagesRequest``, and
``prepareReconnectToStreamRequest`` pointed at ``GET /api/chat/{chatId}/stream`` (the transport appends
``?startIndex=N``). Every request goes through a recording ``fetch``, so these assertions are on the wire.

What the transport does, read from its source (``dist/workflow-chat-transport.js`` of @workflow/ai 4.2.0,
``src/workflow-chat-transport.ts`` of @ai-sdk/workflow 2.0.43):

- It reads the POST stream, counting chunks. If the stream ends without a ``finish`` chunk (dropped, or
  closed early) it reconnects at once with ``GET ...?startIndex=<chunks counted>`` and keeps going, in the
  same ReadableStream, until a ``finish`` arrives (at most ``maxConsecutiveErrors`` broken reads in a row).
- Any response that is not ok **or has no body** throws ``Failed to fetch chat: <status> <body text>``, not
  retried. In Node a 204 (Recoup's "nothing to resume") has no body, so a reconnect that finds the run over
  ends the turn in that error; so does ``useChat({ resume: true })`` on a chat with nothing running. (In
  Chromium a 204 has an empty body, and the transport reconnects forever instead: test_react_example.py.)
- ``x-workflow-stream-tail-index`` is read in one place only: after the first GET of a reconnect whose
  ``startIndex`` is negative (``initialStartIndex`` or ``reconnectToStream({startIndex})``), to turn the
  relative start into an absolute chunk count for later retries. Recoup refuses a negative ``startIndex``
  (400, ``parseStreamStartIndex``), and so does the mock, in both profiles: against Recoup the header is never
  read. Count-based reconnects ignore it.

Three mocks: ``fast`` (speed 0), ``paced`` (speed 2: ``slow`` takes ~4.8 s, so a stop comes mid-stream) and
``faults`` (speed 5: the ``disconnect`` scenario's resume window is scaled by 5). Each has one world per
(line, profile), so the two Node processes never share a chat slot or a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest
import yaml
from node_support import CLIENT_DIR, require_node_project
from support import CHAT_BUSY, LiveServer, live_server
from workflow_support import NodeRun, configure_world, run_node_scripts, run_status

from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

SCRIPT = CLIENT_DIR / "workflow_transport_cases.mjs"
LINES = ["ai6", "ai7"]
PROFILES = ["documented", "deployed"]
SCENARIOS = ["default", "tool-call", "rich-parts"]
NODE_TIMEOUT = 120.0
#: The packages each line needs (the Chat engine's `ai`, and the transport).
PACKAGES = {"ai6": ["ai", "@workflow/ai"], "ai7": ["ai7", "@ai-sdk/workflow"]}
NOTHING_TO_RESUME = "Failed to fetch chat: 204 "


class Mocks(NamedTuple):
    fast: LiveServer
    paced: LiveServer
    faults: LiveServer


def world(line: str, profile: str) -> str:
    return f"wf-{line}-{profile}"


@pytest.fixture(scope="module")
def mocks() -> Iterator[Mocks]:
    with live_server(speed=0) as fast, live_server(speed=2.0) as paced, live_server(speed=5.0) as faults:
        mocks = Mocks(fast, paced, faults)
        for server in mocks:
            for line in LINES:
                for profile in PROFILES:
                    configure_world(server, world(line, profile), profile)
        yield mocks


@pytest.fixture(scope="module")
def node_runs(mocks: Mocks) -> dict[str, dict[str, Any] | str]:
    """Both lines' Node processes, started at once; each test waits for the one it needs."""
    node = require_node_project(CLIENT_DIR, *{p for packages in PACKAGES.values() for p in packages})
    config = {"fast": mocks.fast.base_url, "paced": mocks.paced.base_url, "faults": mocks.faults.base_url}
    argsets = {line: [line, json.dumps({**config, "worlds": {p: world(line, p) for p in PROFILES}})]
               for line in LINES}
    return run_node_scripts(node, SCRIPT, argsets, timeout=NODE_TIMEOUT)


@pytest.fixture(scope="module", params=LINES)
def line(request: pytest.FixtureRequest, node_runs: dict[str, dict[str, Any] | str]) -> NodeRun:
    return NodeRun(request.param, node_runs[request.param])


# ------------------------------------------------------------------ reading an observation


def scenario_texts(name: str) -> list[str]:
    steps = yaml.safe_load((DEFAULT_FIXTURES / "scenarios" / f"{name}.yaml").read_text())["steps"]
    return [s["text"] if isinstance(s["text"], str) else "".join(s["text"]) for s in steps if "text" in s]


def sent(observation: dict[str, Any]) -> list[dict[str, Any]]:
    """The requests that went over the wire (a fetch called with an already aborted signal never does)."""
    return [r for r in observation["wire"] if not r["preAborted"]]


def wire(observation: dict[str, Any]) -> list[tuple[str, str, str, int | None]]:
    """(method, path, query, status) of each request sent."""
    return [(r["method"], r["path"], r["query"], r["status"]) for r in sent(observation)]


def assistants(observation: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in observation["messages"] if m["role"] == "assistant"]


def texts(message: dict[str, Any]) -> list[str]:
    return [p["text"] for p in message["parts"] if p["type"] == "text"]


def stream_path(observation: dict[str, Any]) -> str:
    return f"/api/chat/{observation['chatId']}/stream"


def assert_dropped(request: dict[str, Any]) -> None:
    """A POST stream the server cut mid-message: chunks, then no [DONE], and undici's `terminated`."""
    assert request["status"] == 200
    assert request["chunks"] > 0
    assert request["done"] is False
    assert request["ended"] == "error"
    assert request["error"]["name"] == "TypeError"
    assert request["error"]["message"] == "terminated"


def assert_nothing_to_resume(request: dict[str, Any]) -> None:
    """Recoup's 204 on a reconnect: no body at all (which is what makes the transport throw)."""
    assert request["method"] == "GET"
    assert request["status"] == 204
    assert request["bodyNull"] is True


def assert_error_turn(observation: dict[str, Any], message: str) -> None:
    """useChat ends the turn in `error` with this message (the transport's own Error, no status code)."""
    assert observation["status"] == "error"
    error = observation["error"]
    assert (error["name"], error["message"], error["statusCode"], error["cause"]) == ("Error", message, None, None)
    assert [e["message"] for e in observation["onError"]] == [message]
    assert observation["onFinish"][-1]["isError"] is True
    assert observation["onFinish"][-1]["isDisconnect"] is False
    assert observation["ended"] == []  # onChatEnd: no finish chunk came


# ------------------------------------------------------------------ the versions


def test_versions(line: NodeRun) -> None:
    versions = line.data["versions"]
    if line.key == "ai6":
        assert versions["ai"].startswith("6.")
        assert versions["transport"] == "4.2.0"  # what recoupable/app pins
        assert versions["transportAi"].startswith("6.")
    else:
        assert versions["ai"].startswith("7.")
        assert versions["transport"].startswith("2.")
        assert versions["transportAi"].startswith("7.")


# ------------------------------------------------------------------ the same message as DefaultChatTransport


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("profile", PROFILES)
def test_same_message_as_default_chat_transport(line: NodeRun, profile: str, scenario: str) -> None:
    workflow = line.result(f"{profile}:workflow:{scenario}")
    default = line.result(f"{profile}:default:{scenario}")
    for observation in (workflow, default):
        assert observation["status"] == "ready"
        assert observation["error"] is None
        assert observation["statusHistory"] == ["submitted", "streaming", "ready"]
        assert [m["role"] for m in observation["messages"]] == ["user", "assistant"]
    [mine], [theirs] = assistants(workflow), assistants(default)
    assert mine["parts"] == theirs["parts"]
    assert mine.get("metadata") == theirs.get("metadata")
    assert texts(mine) == scenario_texts(scenario)
    # One POST, read to its end: no reconnect. onChatEnd counted every chunk of it.
    [post] = sent(workflow)
    assert (post["method"], post["path"], post["query"], post["status"]) == ("POST", "/api/chat", "", 200)
    assert post["contentType"] == "application/json"
    assert post["prefer"] == f"scenario={scenario}"
    assert post["done"] is True
    assert post["types"][0] == "start"
    assert post["types"][-1] == "finish"
    assert workflow["sent"] == [{"status": 200, "runId": post["runId"]}]
    assert workflow["ended"] == [{"chunkIndex": post["chunks"]}]
    assert [r["types"] for r in sent(default)] == [post["types"]]


# ------------------------------------------------------------------ disconnect


def test_disconnect_reconnects_from_the_chunks_seen_and_completes(line: NodeRun, mocks: Mocks) -> None:
    """documented: the run goes on after the drop; the transport reconnects by itself with startIndex =
    the chunks it got, and the message completes with every text once."""
    observation = line.result("documented:workflow:disconnect")
    post, get = sent(observation)
    assert_dropped(post)
    seen = post["chunks"]
    assert (get["method"], get["path"], get["query"], get["status"]) == (
        "GET", stream_path(observation), f"?startIndex={seen}", 200)
    assert get["runId"] == post["runId"]
    assert get["done"] is True
    # The reconnect picks up exactly after the last chunk seen: together, one whole stream.
    whole = post["types"] + get["types"]
    assert whole.count("start") == 1
    assert whole[-1] == "finish"
    assert post["types"][-1] == "text-end"
    assert get["types"][0] == "text-start"
    # The chunk count, not the tail-index header, decides where to resume; onChatEnd counts both reads.
    assert get["tailIndex"] is not None
    assert observation["ended"] == [{"chunkIndex": seen + get["chunks"]}]

    assert observation["status"] == "ready"
    assert observation["error"] is None
    assert observation["onError"] == []
    assert observation["statusHistory"] == ["submitted", "streaming", "ready"]
    [message] = assistants(observation)
    assert texts(message) == scenario_texts("disconnect")  # nothing duplicated, nothing missing
    assert observation["onFinish"] == [{"isAbort": False, "isDisconnect": False, "isError": False,
                                        "messageId": message["id"]}]
    assert run_status(mocks.faults, world(line.key, "documented"), post["runId"]) == "completed"


def test_the_drop_comes_before_the_rest_of_the_message_is_produced(line: NodeRun) -> None:
    """The connection drops as soon as the chunk before the drop is out, so the whole scripted wait
    before the rest of the message is the window to resume in: the reconnect finds nothing new yet."""
    post, get = sent(line.result("documented:workflow:disconnect"))
    assert int(get["tailIndex"]) == post["chunks"] - 1


def test_disconnect_under_deployed_cancels_the_run_and_the_turn_ends_in_error(line: NodeRun, mocks: Mocks) -> None:
    """deployed: the drop cancels the run, so the transport's reconnect finds nothing (204) and throws;
    what a production user sees is the partial answer and an error."""
    observation = line.result("deployed:workflow:disconnect")
    post, get = sent(observation)
    assert_dropped(post)
    assert get["path"] == stream_path(observation)
    assert get["query"] == f"?startIndex={post['chunks']}"
    assert_nothing_to_resume(get)
    assert_error_turn(observation, NOTHING_TO_RESUME)
    assert observation["statusHistory"] == ["submitted", "streaming", "error"]
    [message] = assistants(observation)
    assert texts(message) == scenario_texts("disconnect")[:1]
    assert run_status(mocks.faults, world(line.key, "deployed"), post["runId"]) == "cancelled"


# ------------------------------------------------------------------ stop


@pytest.mark.parametrize("profile", PROFILES)
def test_stop_on_the_server_ends_the_turn_in_error(line: NodeRun, mocks: Mocks, profile: str) -> None:
    """Stop as Recoup's front end does it for workflow chats: POST /stop and let the stream close. The
    cancelled run's stream ends ([DONE]) without a `finish`, so the transport reconnects, gets 204, throws."""
    observation = line.result(f"{profile}:workflow:server-stop")
    assert observation["stop"] == {"success": True, "stopped": True}
    post, get = sent(observation)
    assert post["status"] == 200
    assert post["done"] is True
    assert post["ended"] == "eof"
    assert "finish" not in post["types"]
    assert (get["path"], get["query"]) == (stream_path(observation), f"?startIndex={post['chunks']}")
    assert_nothing_to_resume(get)
    assert_error_turn(observation, NOTHING_TO_RESUME)
    [message] = assistants(observation)
    [slow] = scenario_texts("slow")
    [partial] = texts(message)
    assert 20 <= len(partial) < len(slow)
    assert slow.startswith(partial)
    assert run_status(mocks.paced, world(line.key, profile), post["runId"]) == "cancelled"


@pytest.mark.parametrize("profile", PROFILES)
def test_local_stop_then_resume(line: NodeRun, mocks: Mocks, profile: str) -> None:
    """useChat's stop() aborts the POST. The transport does not reconnect over the wire (ai7's does try, with
    the aborted signal, so the request never leaves). documented: the run goes on and a resume replays it
    whole; deployed: the abort dropped the connection, which cancelled the run (a moment later: the case waits
    for that before resuming), and the resume gets 204."""
    result = line.result(f"{profile}:workflow:abort-then-resume")
    aborted, resumed = result["aborted"], result["resumed"]
    assert aborted["status"] == "ready"
    assert aborted["error"] is None
    assert aborted["onFinish"] == [{"isAbort": True, "isDisconnect": False, "isError": False,
                                    "messageId": assistants(aborted)[0]["id"]}]
    [post] = sent(aborted)
    assert post["ended"] == "error"
    assert post["error"]["name"] == "AbortError"
    never_sent = [(r["method"], r["query"]) for r in resumed["wire"] if r["preAborted"]]
    if line.key == "ai6":
        assert never_sent == []  # @workflow/ai 4.2: an abort is not an interruption
    else:
        assert never_sent == [("GET", f"?startIndex={post['chunks']}")]  # vercel/workflow#1186, still in 2.0
    assert result["runStatusBeforeResume"] == ("running" if profile == "documented" else "cancelled")
    [again_post, get] = sent(resumed)
    assert again_post == post
    assert (get["path"], get["query"]) == (stream_path(resumed), "?startIndex=0")
    [partial] = texts(assistants(aborted)[0])
    if profile == "documented":
        assert get["status"] == 200
        assert get["runId"] == post["runId"]
        assert resumed["status"] == "ready"
        [message] = assistants(resumed)
        assert message["id"] == assistants(aborted)[0]["id"]
        assert texts(message) == scenario_texts("slow")
        assert run_status(mocks.paced, world(line.key, profile), post["runId"]) == "completed"
    else:
        assert_nothing_to_resume(get)
        assert resumed["status"] == "error"
        assert resumed["error"]["message"] == NOTHING_TO_RESUME
        assert texts(assistants(resumed)[0]) == [partial]
        assert run_status(mocks.paced, world(line.key, profile), post["runId"]) == "cancelled"


# ------------------------------------------------------------------ resume on mount, and the tail index


@pytest.mark.parametrize("profile", PROFILES)
def test_resume_replays_a_live_run_from_chunk_zero(line: NodeRun, profile: str) -> None:
    observation = line.result(f"{profile}:workflow:resume-busy")
    [get] = sent(observation)
    assert (get["path"], get["query"], get["status"]) == (f"/api/chat/{CHAT_BUSY}/stream", "?startIndex=0", 200)
    assert get["done"] is True
    # The header names the last chunk's index, the meaning the transport's `tail + 1 + startIndex` assumes.
    assert int(get["tailIndex"]) == get["chunks"] - 1
    assert observation["status"] == "ready"
    assert observation["ended"] == [{"chunkIndex": get["chunks"]}]
    [message] = assistants(observation)
    assert texts(message)


@pytest.mark.parametrize("profile", PROFILES)
def test_resume_with_nothing_running_is_an_error(line: NodeRun, profile: str) -> None:
    """useChat({ resume: true }) on a chat with nothing running: Recoup's 204 becomes an error."""
    observation = line.result(f"{profile}:workflow:resume-idle")
    [get] = sent(observation)
    assert (get["path"], get["query"]) == (stream_path(observation), "?startIndex=0")
    assert_nothing_to_resume(get)
    assert_error_turn(observation, NOTHING_TO_RESUME)
    assert observation["statusHistory"] == ["submitted", "error"]
    assert observation["messages"] == []


@pytest.mark.parametrize("profile", PROFILES)
def test_a_negative_start_index_is_refused_so_the_tail_index_is_never_read(line: NodeRun, profile: str) -> None:
    """initialStartIndex: -3 asks for the last 3 chunks; the transport would then read
    x-workflow-stream-tail-index to learn where that is. Recoup (and the mock) answer 400 first."""
    observation = line.result(f"{profile}:workflow:resume-tail")
    [get] = sent(observation)
    assert (get["path"], get["query"], get["status"]) == (f"/api/chat/{CHAT_BUSY}/stream", "?startIndex=-3", 400)
    assert get["tailIndex"] is None
    body = json.loads(get["body"])
    text = body["message"] if profile == "documented" else body["error"]
    assert "startIndex" in text
    if profile == "deployed":
        assert body["missing_fields"] == ["startIndex"]
    assert_error_turn(observation, f"Failed to fetch chat: 400 {get['body']}")


# ------------------------------------------------------------------ errors before the stream


@pytest.mark.parametrize("profile", PROFILES)
def test_http_error_message_is_the_transports_own(line: NodeRun, profile: str) -> None:
    observation = line.result(f"{profile}:workflow:http-429")
    [post] = sent(observation)
    assert post["status"] == 429
    assert_error_turn(observation, f"Failed to fetch chat: 429 {post['body']}")
    assert "Rate limit exceeded" in post["body"]
    assert assistants(observation) == []


def test_without_a_content_type_the_documented_contract_refuses_the_body(line: NodeRun) -> None:
    """The transport adds no content-type: a prepareSendMessagesRequest that returns only the credentials
    sends text/plain (fetch's default for a string body). The documented contract takes application/json."""
    observation = line.result("documented:workflow:no-content-type")
    [post] = sent(observation)
    assert post["contentType"] is None
    assert post["status"] == 415
    assert_error_turn(observation, f"Failed to fetch chat: 415 {post['body']}")


def test_without_a_content_type_the_deployed_server_streams(line: NodeRun) -> None:
    """docs/drift.md "Request content type": production reads any body as JSON."""
    observation = line.result("deployed:workflow:no-content-type")
    [post] = sent(observation)
    assert post["status"] == 200
    assert observation["status"] == "ready"


# ------------------------------------------------------------------ the run itself


def test_the_node_run_has_exactly_the_asserted_cases(line: NodeRun) -> None:
    per_profile = [*(f"{kind}:{s}" for kind in ("workflow", "default") for s in SCENARIOS),
                   *(f"workflow:{name}" for name in ("disconnect", "server-stop", "abort-then-resume", "resume-busy",
                                                     "resume-idle", "resume-tail", "no-content-type", "http-429"))]
    assert set(line.results) == {f"{profile}:{case}" for profile in PROFILES for case in per_profile}
