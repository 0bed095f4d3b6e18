"""examples/react, a front end like Recoup's, in headless Chromium against a live mock on another origin.

The page is built with ``vite build`` (in examples/react) and dist/ is served from a second loopback port, so
every call to the mock is cross-origin. It runs in a world of its own (``?world=``, sent as
``x-mock-world``), so the mock's journal holds exactly the page's requests. ``react_drive.mjs``
(playwright-core driving Debian's ``chromium``) chats on WorkflowChatTransport: an answer that grows, a slow
answer stopped mid-stream (the run is cancelled), a reload mid-stream (``resume: true`` completes the answer
once), an http-429 (the error banner); then one answer on DefaultChatTransport. The screenshot is kept in
``test-artifacts/react-chat.png``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from node_support import ARTIFACTS, CLIENT_DIR, REPO_ROOT, require_node_project, run_node, static_site
from support import LiveServer, live_server
from workflow_support import configure_world, run_status

from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

REACT_DIR = REPO_ROOT / "examples" / "react"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ARTIFACTS / "react-chat.png"
WORLD = "react-example"
#: A world in the deployed profile (a dropped connection cancels the run).
DEPLOYED_WORLD = "react-deployed"
#: Where the page runs WorkflowChatTransport without its 204 fix (?raw204=1).
RAW_WORLD = "react-raw-204"


def scenario_text(name: str) -> str:
    steps = yaml.safe_load((DEFAULT_FIXTURES / "scenarios" / f"{name}.yaml").read_text())["steps"]
    return "".join(s["text"] if isinstance(s["text"], str) else "".join(s["text"]) for s in steps if "text" in s)


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """examples/react, freshly built by vite, on its own loopback port (another origin than the mock)."""
    require_node_project(REACT_DIR, "vite", "react", "@ai-sdk/react", "@workflow/ai")
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed to build examples/react"
    build = subprocess.run([npm, "run", "--silent", "build", "--", "--logLevel", "error"], cwd=REACT_DIR,
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, f"vite build failed:\n{build.stdout}\n{build.stderr}"
    with static_site(REACT_DIR / "dist") as url:
        yield url


@pytest.fixture(scope="module")
def mock() -> Iterator[LiveServer]:
    """A mock at half speed: `slow` takes ~4.8 s, time enough to stop it and to reload mid-answer."""
    with live_server(speed=2.0) as server:
        configure_world(server, WORLD, "documented")
        configure_world(server, DEPLOYED_WORLD, "deployed")
        configure_world(server, RAW_WORLD, "documented")
        yield server


@pytest.fixture(scope="module")
def drive(page_server: str, mock: LiveServer) -> dict[str, Any]:
    node = require_node_project(CLIENT_DIR, "playwright-core")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; `make client-deps` installs Debian's chromium")
    ARTIFACTS.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    config = {"pageUrl": f"{page_server}/?mock={mock.base_url}&world={WORLD}",
              "deployedPageUrl": f"{page_server}/?mock={mock.base_url}&world={DEPLOYED_WORLD}",
              "rawPageUrl": f"{page_server}/?mock={mock.base_url}&world={RAW_WORLD}&raw204=1",
              "screenshot": str(SCREENSHOT), "executablePath": str(CHROMIUM)}
    result = run_node(node, CLIENT_DIR / "react_drive.mjs", json.dumps(config), timeout=180)
    assert result.get("crash") is None, json.dumps(result, indent=1)[:6000]
    return result


def assistants(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in snapshot["messages"] if m["role"] == "assistant"]


def partial_lengths(lengths: list[int], final: int) -> set[int]:
    return {n for n in lengths if 0 < n < final}


def journal(mock: LiveServer, world: str = WORLD) -> list[tuple[str, str, int, str | None]]:
    """The page's calls to the chat API, in the order the mock saw them (preflights, and the tests' own run
    status lookups, left out)."""
    entries = httpx.get(mock.base_url + "/__mock/requests", headers={"x-mock-world": world}).json()["requests"]
    return [(e["method"], e["path"], e["status"], e["scenario"]) for e in entries
            if e["path"].startswith("/api/chat") and not e["path"].startswith("/api/chat/runs/")
            and e["method"] != "OPTIONS"]


def test_the_page_is_cross_origin_and_quiet(drive: dict[str, Any], page_server: str, mock: LiveServer) -> None:
    assert drive["origin"] == page_server != mock.base_url
    assert drive["pageErrors"] == []
    # The only console error is Chromium's own line for the 429; the only failed loads, the two POSTs cut on
    # purpose: by the Stop button (useChat's stop() aborts the fetch), and by the reload.
    assert len(drive["consoleErrors"]) == 1
    assert "429" in drive["consoleErrors"][0]
    assert [(r["method"], r["url"].removeprefix(mock.base_url), r["failure"]) for r in drive["failedRequests"]] == [
        ("POST", "/api/chat", "net::ERR_ABORTED")] * 2
    assert drive["initial"]["status"] == "ready"
    assert drive["initial"]["messages"] == []
    assert drive["initial"]["transport"] == "workflow"


def test_an_answer_grows_as_it_streams(drive: dict[str, Any]) -> None:
    turn = drive["turns"]["default"]
    text = scenario_text("default")
    assert turn["status"] == "ready"
    assert turn["banner"] is None
    [answer] = assistants(turn)
    assert answer["text"] == text
    assert len(partial_lengths(turn["lengths"], len(text))) >= 2, turn["lengths"]


def test_stop_mid_stream_cancels_the_run(drive: dict[str, Any], mock: LiveServer) -> None:
    turn = drive["turns"]["stopped"]
    slow = scenario_text("slow")
    assert turn["status"] == "ready"
    assert turn["banner"] is None
    assert turn["stop"] == "true"  # POST /stop answered stopped: true
    partial = assistants(turn)[-1]["text"]
    assert 40 <= len(partial) < len(slow)
    assert slow.startswith(partial)
    finishes = [e for e in turn["events"] if e["event"] == "finish"]
    assert finishes[-1]["isAbort"] is True
    # The run the POST started (x-workflow-run-id, read by the transport's onChatSendMessage) is cancelled.
    run_id = turn["runs"][-1]
    assert run_status(mock, WORLD, run_id) == "cancelled"


def test_reload_mid_stream_resumes_and_the_answer_completes_once(drive: dict[str, Any]) -> None:
    turn = drive["turns"]["reloaded"]
    slow = scenario_text("slow")
    before, after = turn["beforeReload"], turn["afterReload"]
    assert before["status"] == "streaming"
    partial = assistants(before)[-1]
    assert 60 <= len(partial["text"]) < len(slow)
    assert len(partial_lengths(before["lengths"], len(slow))) >= 2
    # After the reload: the conversation from localStorage, the partial answer in it, then the resume.
    assert assistants(after)[-1]["id"] == partial["id"]
    assert [e["outcome"] for e in after["events"] if e["event"] == "resume"] == ["stream"]
    assert turn["status"] == "ready"
    assert turn["banner"] is None
    assert [m["role"] for m in turn["messages"]] == ["user", "assistant"] * 3
    answer = assistants(turn)[-1]
    assert answer["id"] == partial["id"]
    assert answer["text"] == slow
    assert len(partial_lengths(turn["lengths"], len(slow))) >= 2, "the resumed answer streams in too"


def test_http_429_shows_the_error_banner(drive: dict[str, Any]) -> None:
    turn = drive["turns"]["rateLimited"]
    assert turn["status"] == "error"
    banner = turn["banner"]
    assert banner.startswith("Failed to fetch chat: 429 ")  # WorkflowChatTransport's message: status and body
    assert json.loads(banner.removeprefix("Failed to fetch chat: 429 "))["message"] == (
        "Rate limit exceeded; retry after 2 seconds")
    assert len(assistants(turn)) == 3  # no answer for it


def test_default_chat_transport_on_the_same_chat(drive: dict[str, Any]) -> None:
    turn = drive["turns"]["defaultTransport"]
    assert turn["transport"] == "default"
    assert turn["status"] == "ready"
    assert turn["chatId"] == drive["initial"]["chatId"]
    assert assistants(turn)[-1]["text"] == scenario_text("default")
    assert turn["runs"] == []  # DefaultChatTransport has no onChatSendMessage


def test_the_mock_saw_each_call_once(drive: dict[str, Any], mock: LiveServer) -> None:
    stream = f"/api/chat/{drive['initial']['chatId']}/stream"
    stop = f"/api/chat/{drive['initial']['chatId']}/stop"
    assert journal(mock) == [
        ("GET", stream, 204, None),  # first load: nothing to resume
        ("POST", "/api/chat", 200, "default"),
        ("POST", "/api/chat", 200, "slow"),
        ("POST", stop, 200, None),  # the Stop button
        ("POST", "/api/chat", 200, "slow"),
        ("GET", stream, 200, "slow"),  # after the reload
        ("POST", "/api/chat", 429, "http-429"),
        ("GET", stream, 204, None),  # the page again, on DefaultChatTransport
        ("POST", "/api/chat", 200, "default"),
    ]


def test_deployed_a_dropped_connection_ends_in_the_banner(drive: dict[str, Any], mock: LiveServer) -> None:
    """deployed: the drop cancels the run; WorkflowChatTransport reconnects by itself, gets 204 (no body, given
    the page's fetch), and throws. The user keeps the partial answer and sees the banner."""
    turn = drive["turns"]["deployedDisconnect"]
    assert turn["status"] == "error"
    assert turn["banner"] == "Failed to fetch chat: 204 "
    [answer] = assistants(turn)
    assert answer["text"] == scenario_text("disconnect").removesuffix("and completes only for a client that resumes.")
    assert turn["consoleErrors"] == ["Failed to load resource: net::ERR_INCOMPLETE_CHUNKED_ENCODING",
                                     "Error in chat POST stream TypeError: network error"]
    assert [(r["method"], r["url"].removeprefix(mock.base_url), r["failure"]) for r in turn["failed"]] == [
        ("POST", "/api/chat", "net::ERR_INCOMPLETE_CHUNKED_ENCODING")]
    [run_id] = turn["runs"]
    assert run_status(mock, DEPLOYED_WORLD, run_id) == "cancelled"
    stream = f"/api/chat/{turn['chatId']}/stream"
    assert journal(mock, DEPLOYED_WORLD) == [
        ("GET", stream, 204, None),  # load: nothing to resume
        ("POST", "/api/chat", 200, "disconnect"),  # dropped mid-answer
        ("GET", stream, 204, None),  # the transport's own reconnect (?startIndex=<chunks seen>)
    ]


def test_without_the_204_fix_the_transport_reconnects_forever_in_chromium(drive: dict[str, Any],
                                                                          mock: LiveServer) -> None:
    """WorkflowChatTransport stops only on `!response.ok || !response.body`. Chromium's fetch gives Recoup's 204
    an empty body (Node's gives none), so the resume on load reads nothing, sees no `finish`, and asks again
    at once: 20 GETs with no user action, the page still `submitted`, no error shown. (The mock answers as
    Recoup does; recoupable/app#2052 is this loop in production.)"""
    raw = drive["turns"]["raw204"]
    assert raw["gets"] == ["?startIndex=0"] * 20
    assert raw["resumed"] == ""  # reconnectToStream's first read never came back
    assert raw["banner"] is False
    stream = f"/api/chat/{raw['chatId']}/stream"
    calls = journal(mock, RAW_WORLD)
    assert len(calls) >= 20
    assert set(calls) == {("GET", stream, 204, None)}


def test_screenshot(drive: dict[str, Any]) -> None:
    png = SCREENSHOT.read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len(png) > 10_000
