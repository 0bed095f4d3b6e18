"""The real AI SDK (``ai`` 5.x, 6.x and 7.x, npm aliases ai5/ai6/ai7) against live mocks.

``ai_sdk_cases.mjs`` runs every case once per ``ai`` line, through ``DefaultChatTransport`` +
``readUIMessageStream`` (``transport:*``) and through ``AbstractChat``, the engine under ``useChat``
(``chat:*``), and prints what the client ended with. The three Node processes run at once against the
same three servers: ``fast`` (speed 0), ``paced`` (speed 2: scenarios take twice their scripted time, so
an abort comes mid-stream) and ``faults`` (speed 5: a resume after a dropped connection or a bad frame
must arrive within the scenario's resume window, the scripted wait before the rest of the message, 1 s
at speed 1 and so 5 s there; a resume that misses it gets 204 and the whole-message assertions fail).
The assertions are here.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from node_support import CLIENT_DIR, require_node_project
from support import (
    ALICE,
    CHAT_BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    SESSION_BOB,
    SESSION_READY,
    LiveServer,
    live_server,
    scheduled_chunks,
)

from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

ALIASES = ["ai5", "ai6", "ai7"]
SCRIPT = CLIENT_DIR / "ai_sdk_cases.mjs"
SCENARIOS = DEFAULT_FIXTURES / "scenarios"
NODE_TIMEOUT = 180.0
APIS = ["transport", "chat"]
#: The silence after which ``transport:stall-timeout`` aborts its read (ai_sdk_cases.mjs).
CLIENT_IDLE_TIMEOUT_MS = 1000


# ------------------------------------------------------------------ running the client


class ClientRun:
    """One ``ai`` line's results: ``result("chat:default")`` is that case's observation."""

    def __init__(self, alias: str, data: dict[str, Any]) -> None:
        self.alias = alias
        self.version: str = data["version"]
        self.results: dict[str, Any] = data["results"]
        self.durations: dict[str, int] = data["durations"]

    def result(self, case: str) -> Any:
        assert case in self.results, f"{self.alias}: no case {case!r} in the Node run"
        value = self.results[case]
        if isinstance(value, dict) and "crash" in value:
            pytest.fail(f"{self.alias} {self.version} {case}: the case crashed: {value['crash']}\n{value.get('stack')}")
        return value


Mocks = tuple[LiveServer, LiveServer, LiveServer]


@pytest.fixture(scope="module")
def mocks() -> Iterator[Mocks]:
    with live_server(speed=0) as fast, live_server(speed=2.0) as paced, live_server(speed=5.0) as faults:
        yield fast, paced, faults


@pytest.fixture(scope="module")
def client_runs(mocks: Mocks) -> Iterator[dict[str, ClientRun | str]]:
    """Start the three Node processes at once; each test waits for the one it needs."""
    node = require_node_project(CLIENT_DIR, *ALIASES)
    fast, paced, faults = mocks
    config = json.dumps({"fast": fast.base_url, "paced": paced.base_url, "faults": faults.base_url})
    started = time.monotonic()
    procs = {alias: subprocess.Popen([node, str(SCRIPT), alias, config], cwd=CLIENT_DIR, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for alias in ALIASES}
    runs: dict[str, ClientRun | str] = {}
    try:
        for alias, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=max(1.0, NODE_TIMEOUT - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                runs[alias] = f"timed out after {NODE_TIMEOUT} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
                continue
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                runs[alias] = f"exited {proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
            else:
                runs[alias] = ClientRun(alias, json.loads(lines[-1]))
        yield runs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


@pytest.fixture(scope="module", params=ALIASES)
def ai(request: pytest.FixtureRequest, client_runs: dict[str, ClientRun | str]) -> ClientRun:
    run = client_runs[request.param]
    if isinstance(run, str):
        pytest.fail(f"node ai_sdk_cases.mjs {request.param}: {run}")
    return run


# ------------------------------------------------------------------ what the README promises


def scenario_file(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())
    return data


def text_of(value: str | list[str]) -> str:
    return value if isinstance(value, str) else "".join(value)


def promised(name: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The assistant message a scenario assembles into: its parts (only the keys that matter) and metadata.

    The rules are the README's scenario table; the texts and values come from the scenario file.
    """
    parts: list[dict[str, Any]] = [{"type": "step-start"}]
    metadata: dict[str, Any] = {}
    for step in scenario_file(name)["steps"]:
        if "text" in step:
            parts.append({"type": "text", "text": text_of(step["text"]), "state": "done"})
        elif "reasoning" in step:
            parts.append({"type": "reasoning", "text": text_of(step["reasoning"]), "state": "done"})
        elif "tool" in step:
            tool = step["tool"]
            parts.append({"type": f"tool-{tool['name']}", "state": "output-available", "input": tool["input"],
                          "output": tool["output"]})
        elif "data" in step:
            data = step["data"]
            if data.get("transient"):
                continue  # seen by onData only
            same = [p for p in parts if p["type"] == f"data-{data['name']}" and p.get("id") == data.get("id")]
            if same and data.get("id") is not None:
                same[0]["data"] = data["data"]  # updated in place
            else:
                parts.append({"type": f"data-{data['name']}", "id": data.get("id"), "data": data["data"]})
        elif "source" in step:
            parts.append({"type": "source-url", **step["source"]})
        elif "document" in step:
            parts.append({"type": "source-document", **step["document"]})
        elif "file" in step:
            parts.append({"type": "file", **step["file"]})
        elif "metadata" in step:
            metadata.update(step["metadata"])
        elif "step" in step:
            parts.append({"type": "step-start"})
    return parts, metadata or None


def project(parts: list[dict[str, Any]], like: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of ``parts`` cut down to the keys its promised part names (ids and provider data are the client's)."""
    if len(parts) != len(like):
        return parts
    return [{k: v for k, v in part.items() if k in want} for part, want in zip(parts, like, strict=True)]


def assert_promised(message: dict[str, Any], name: str) -> None:
    parts, metadata = promised(name)
    assert message["role"] == "assistant"
    assert project(message["parts"], parts) == parts
    assert message.get("metadata") == metadata


def assistant_messages(observation: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in observation["messages"] if m["role"] == "assistant"]


def only_assistant(observation: dict[str, Any]) -> dict[str, Any]:
    assistants = assistant_messages(observation)
    assert len(assistants) == 1, f"expected exactly one assistant message, got {len(assistants)}"
    return assistants[0]


def body_message(response: httpx.Response) -> str:
    message: str = response.json()["message"]
    assert message
    return message


STREAM_SCENARIOS = ["default", "reasoning", "tool-call", "multi-step", "rich-parts", "slow", "split-frames", "abort",
                    "stall"]
HTTP_SCENARIOS = ["http-429", "http-500", "http-502", "http-503"]


# ------------------------------------------------------------------ scenarios assemble


@pytest.mark.parametrize("scenario", STREAM_SCENARIOS)
def test_transport_assembles_scenario(ai: ClientRun, scenario: str) -> None:
    result = ai.result(f"transport:{scenario}")
    assert result.get("rejected") is None
    assert result["errors"] == []
    assert_promised(result["message"], scenario)
    assert result["snapshots"] > 2, "readUIMessageStream yields a snapshot per update"


@pytest.mark.parametrize("scenario", STREAM_SCENARIOS)
def test_chat_assembles_scenario(ai: ClientRun, scenario: str) -> None:
    result = ai.result(f"chat:{scenario}")
    assert result["status"] == "ready"
    assert result["error"] is None
    assert result["onError"] == []
    assert [m["role"] for m in result["messages"]] == ["user", "assistant"]
    assert result["messages"][0]["parts"] == [{"type": "text", "text": "Hello"}]
    assert_promised(result["messages"][1], scenario)
    assert result["statusHistory"] == ["submitted", "streaming", "ready"]
    [finish] = result["onFinish"]
    assert finish == {"isAbort": False, "isDisconnect": False, "isError": False, "finishReason": None,
                      "messageId": result["messages"][1]["id"]}


def test_rich_parts_transient_data_reaches_on_data_only(ai: ClientRun) -> None:
    result = ai.result("chat:rich-parts")
    seen = [(d["type"], d["data"]) for d in result["onData"]]
    assert seen == [("data-status", {"stage": "searching"}), ("data-status", {"stage": "done"}),
                    ("data-progress", {"percent": 100})]
    [data_part] = [p for p in result["messages"][1]["parts"] if p["type"].startswith("data-")]
    assert data_part == {"type": "data-status", "id": "status-1", "data": {"stage": "done"}}


def test_marker_in_the_user_text_picks_the_scenario(ai: ClientRun) -> None:
    result = ai.result("chat:marker")
    assert result["status"] == "ready"
    assert_promised(result["messages"][1], "reasoning")


# ------------------------------------------------------------------ errors in the stream


def test_error_mid_stream_ends_the_chat_in_error(ai: ClientRun) -> None:
    [error_text] = [s["error"] for s in scenario_file("error-mid-stream")["steps"] if "error" in s]
    result = ai.result("chat:error-mid-stream")
    assert result["status"] == "error"
    assert result["error"]["message"] == error_text
    assert [e["message"] for e in result["onError"]] == [error_text]
    assert result["onFinish"][0]["isError"] is True
    # The text before the error stays in the message.
    expected = [{"type": "step-start"}, {"type": "text", "text": "Working on your release plan", "state": "done"}]
    assert project(only_assistant(result)["parts"], expected) == expected


def test_error_mid_stream_through_read_ui_message_stream(ai: ClientRun) -> None:
    [error_text] = [s["error"] for s in scenario_file("error-mid-stream")["steps"] if "error" in s]
    result = ai.result("transport:error-mid-stream")
    assert [e["message"] for e in result["errors"]] == [error_text]
    assert [p["type"] for p in result["message"]["parts"]] == ["step-start", "text"]


def assert_disconnect(error: dict[str, Any]) -> None:
    """What Node's fetch (undici) raises when the server drops the connection mid-body."""
    assert error["isTypeError"] is True
    assert error["message"] == "terminated"
    assert error["cause"] == {"name": "SocketError", "code": "UND_ERR_SOCKET", "message": "other side closed"}


def test_disconnect_is_reported_as_a_disconnect_and_resume_completes(ai: ClientRun) -> None:
    result = ai.result("chat:disconnect")
    live, resumed = result["live"], result["resumed"]
    assert live["status"] == "error"
    assert_disconnect(live["error"])
    cut = only_assistant(live)
    assert [p.get("text") for p in cut["parts"] if p["type"] == "text"] == ["This answer is cut off in the middle"]
    # The run went on in the server: resumeStream() on the same chat gets the whole message, once.
    assert resumed["status"] == "ready"
    assert resumed["error"] is None
    whole = only_assistant(resumed)
    assert whole["id"] == cut["id"]
    assert_promised(whole, "disconnect")


def test_disconnect_through_read_ui_message_stream(ai: ClientRun) -> None:
    result = ai.result("transport:disconnect")
    [error] = result["live"]["errors"]
    assert_disconnect(error)
    resumed = result["resumed"]["result"]
    assert resumed["errors"] == []
    assert resumed["message"]["id"] == result["live"]["message"]["id"]
    assert_promised(resumed["message"], "disconnect")


def test_malformed_raises_the_parse_error(ai: ClientRun) -> None:
    result = ai.result("chat:malformed")
    assert result["status"] == "error"
    assert result["error"]["name"] == "AI_JSONParseError"
    assert result["error"]["cause"]["name"] == "SyntaxError"
    assert [p.get("text") for p in only_assistant(result)["parts"] if p["type"] == "text"] == ["Before the bad frame"]
    transport = ai.result("transport:malformed")
    assert [e["name"] for e in transport["errors"]] == ["AI_JSONParseError"]


def test_malformed_then_resume_replays_clean_chunks(ai: ClientRun) -> None:
    result = ai.result("chat:malformed-then-resume")
    assert result["live"]["status"] == "error"
    resumed = result["resumed"]
    assert resumed["status"] == "ready"
    assert resumed["error"] is None
    assert_promised(only_assistant(resumed), "malformed")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("scenario", HTTP_SCENARIOS)
def test_http_status_scenarios_surface_the_body_message(ai: ClientRun, mocks: Mocks,
                                                        api: str, scenario: str) -> None:
    fast = mocks[0]
    raw = httpx.post(fast.base_url + "/api/chat", headers={"x-api-key": ALICE, "prefer": f"scenario={scenario}"},
                     json={"chatId": CHAT_IDLE, "sessionId": SESSION_READY,
                           "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hi"}]}]})
    status = int(scenario.removeprefix("http-"))
    assert raw.status_code == status
    result = ai.result(f"{api}:{scenario}")
    error = result["error"] if api == "chat" else result["rejected"]
    assert body_message(raw) in error["message"]
    if ai.alias == "ai7":
        assert error["statusCode"] == status
    if api == "chat":
        assert result["status"] == "error"
        assert assistant_messages(result) == []


# ------------------------------------------------------------------ abort, resume


def test_abort_mid_stream_then_resume_on_fresh_chats(ai: ClientRun) -> None:
    result = ai.result("chat:abort-then-resume")
    slow_text = text_of(scenario_file("slow")["steps"][0]["text"])
    aborted = result["aborted"]
    assert aborted["status"] == "ready"
    assert aborted["onFinish"][0]["isAbort"] is True
    partial = only_assistant(aborted)
    [partial_text] = [p for p in partial["parts"] if p["type"] == "text"]
    assert 20 <= len(partial_text["text"]) < len(slow_text), "the abort came mid-stream"
    assert slow_text.startswith(partial_text["text"])
    # A fresh chat restored from the aborted one (a reload), and an empty fresh chat, both resume the run.
    for name in ("restored", "empty"):
        resumed = result[name]
        assert resumed["status"] == "ready", name
        assert resumed["error"] is None, name
        whole = only_assistant(resumed)
        assert whole["id"] == partial["id"], name
        assert_promised(whole, "slow")
    assert [m["role"] for m in result["restored"]["messages"]] == ["user", "assistant"]
    # Once the run has ended there is nothing to resume.
    after = result["afterRunEnded"]
    assert after["status"] == "ready"
    assert after["error"] is None
    assert after["messages"] == []


def test_abort_then_reconnect_through_the_transport(ai: ClientRun) -> None:
    result = ai.result("transport:abort-then-reconnect")
    slow_text = text_of(scenario_file("slow")["steps"][0]["text"])
    assert result["abortErrors"] == []
    [partial_text] = [p["text"] for p in result["partial"]["parts"] if p["type"] == "text"]
    assert 20 <= len(partial_text) < len(slow_text), "the abort came mid-stream"
    resumed = result["resumed"]["result"]
    assert resumed["errors"] == []
    assert resumed["message"]["id"] == result["partial"]["id"]
    assert_promised(resumed["message"], "slow")


def test_stall_is_silence_a_client_timeout_can_end(ai: ClientRun, mocks: Mocks) -> None:
    result = ai.result("transport:stall-timeout")
    assert result["aborted"] is True
    assert [p.get("text") for p in result["message"]["parts"] if p["type"] == "text"] == ["Thinking hard"]
    # The client's idle timer ended the wait, long before the paced mock's schedule has the rest due.
    due = scheduled_chunks("stall", mocks[1].settings.speed)
    rest_due = max(itertools.pairwise(due), key=lambda pair: pair[1] - pair[0])[1]
    assert CLIENT_IDLE_TIMEOUT_MS <= result["timedOutAfterMs"] < 1000 * rest_due


@pytest.mark.parametrize("case", ["chat:resume-idle", "chat:resume-idle-bearer", "chat:resume-idle-x-api-key"])
def test_resume_of_an_idle_chat_is_ready_without_error(ai: ClientRun, case: str) -> None:
    result = ai.result(case)
    assert result["status"] == "ready"
    assert result["error"] is None
    assert result["onError"] == []
    assert result["messages"] == []


def test_resume_of_an_idle_chat_through_the_transport_is_null(ai: ClientRun) -> None:
    assert ai.result("transport:resume-idle") == {"result": None}


def test_resume_of_the_pinned_busy_chat_replays_a_finite_message(ai: ClientRun) -> None:
    result = ai.result("chat:resume-busy")
    assert result["status"] == "ready"
    assert result["error"] is None
    message = only_assistant(result)
    assert any(p["type"] == "text" and p["state"] == "done" and p["text"] for p in message["parts"])


# ------------------------------------------------------------------ client errors carry the body's message


def raw_error(fast: LiveServer, case: str) -> httpx.Response:
    """The same request the client made, sent plainly, for its status and body."""
    nobody = {"x-api-key": "recoup_sk_test_nobody"}
    alice = {"x-api-key": ALICE}

    def post(chat: str, session: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(fast.base_url + "/api/chat", headers=headers, json={
            "chatId": chat, "sessionId": session,
            "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hello"}]}]})

    requests = {
        "send-401": lambda: post(CHAT_IDLE, SESSION_READY, nobody),
        "resume-401": lambda: httpx.get(f"{fast.base_url}/api/chat/{CHAT_IDLE}/stream", headers=nobody),
        "send-403": lambda: post(CHAT_BOB, SESSION_BOB, alice),
        "resume-403": lambda: httpx.get(f"{fast.base_url}/api/chat/{CHAT_BOB}/stream", headers=alice),
        "send-409": lambda: post(CHAT_BUSY, SESSION_READY, alice),
    }
    return requests[case]()


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("case", ["send-401", "resume-401", "send-403", "resume-403", "send-409"])
def test_client_errors_carry_the_body_message(ai: ClientRun, mocks: Mocks, api: str,
                                              case: str) -> None:
    fast = mocks[0]
    raw = raw_error(fast, case)
    status = int(case.rsplit("-", 1)[1])
    assert raw.status_code == status
    result = ai.result(f"{api}:{case}")
    if api == "chat":
        assert result["status"] == "error"
        error = result["error"]
        assert assistant_messages(result) == []
        assert [e["message"] for e in result["onError"]] == [error["message"]]
    else:
        error = result.get("rejected", result)
    assert body_message(raw) in error["message"]
    if ai.alias == "ai7":
        assert error["statusCode"] == status


# ------------------------------------------------------------------ credentials, the legacy endpoint


@pytest.mark.parametrize("scheme", ["bearer", "x-api-key"])
def test_credential_schemes(ai: ClientRun, scheme: str) -> None:
    chat = ai.result(f"chat:scheme-{scheme}")
    assert chat["status"] == "ready"
    assert_promised(only_assistant(chat), "default")
    transport = ai.result(f"transport:scheme-{scheme}")
    assert transport["errors"] == []
    assert_promised(transport["message"], "default")


def test_bob_streams_in_his_own_chat(ai: ClientRun) -> None:
    result = ai.result("chat:bob-own-chat")
    assert result["status"] == "ready"
    assert_promised(only_assistant(result), "default")


def test_legacy_endpoint(ai: ClientRun) -> None:
    chat = ai.result("chat:legacy")
    assert chat["status"] == "ready"
    assert chat["error"] is None
    assert_promised(only_assistant(chat), "default")
    transport = ai.result("transport:legacy")
    assert transport["errors"] == []
    assert_promised(transport["message"], "tool-call")


# ------------------------------------------------------------------ the run itself


def test_versions(ai: ClientRun) -> None:
    assert ai.version.split(".")[0] == ai.alias.removeprefix("ai")


def test_the_node_run_has_exactly_the_asserted_cases(ai: ClientRun) -> None:
    """No case runs unchecked, and none of the cases the tests read is missing."""
    per_scenario = [*STREAM_SCENARIOS, "error-mid-stream", "malformed", *HTTP_SCENARIOS]
    errors = ["send-401", "resume-401", "send-403", "resume-403", "send-409"]
    schemes = ["bearer", "x-api-key"]
    expected = {f"{api}:{name}" for api in APIS for name in [*per_scenario, *errors]}
    expected |= {f"{api}:scheme-{s}" for api in APIS for s in schemes} | {f"chat:resume-idle-{s}" for s in schemes}
    expected |= {"chat:marker", "transport:disconnect", "chat:disconnect", "chat:malformed-then-resume",
                 "chat:abort-then-resume", "transport:abort-then-reconnect", "transport:stall-timeout",
                 "chat:resume-idle", "transport:resume-idle", "chat:resume-busy", "chat:bob-own-chat",
                 "chat:legacy", "transport:legacy"}
    assert set(ai.results) == expected
