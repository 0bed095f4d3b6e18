"""A real browser: examples/browser in headless Chromium, chatting with the mock from another origin.

The page is bundled with esbuild (``npm run build`` in examples/browser) and served from a second
loopback port, so every call to the mock is cross-origin: Chromium sends CORS preflights and reads the
streams for real. ``browser_drive.mjs`` (playwright-core driving Debian's ``chromium``) sends a message
and watches the text grow, reloads mid-stream and sees the resumed answer complete once, and lets the
connection drop and sees the page resume. The screenshot is kept in ``test-artifacts/browser-chat.png``.
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
from node_support import ARTIFACTS, BROWSER_DIR, CLIENT_DIR, require_node_project, run_node, static_site
from starlette.types import Receive, Scope, Send
from support import LiveServer

from mockserver import Settings
from mockserver.settings import DEFAULT_FIXTURES

pytestmark = pytest.mark.live

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = ARTIFACTS / "browser-chat.png"


def scenario_texts(name: str) -> list[str]:
    steps = yaml.safe_load((DEFAULT_FIXTURES / "scenarios" / f"{name}.yaml").read_text())["steps"]
    return [s["text"] if isinstance(s["text"], str) else "".join(s["text"]) for s in steps if "text" in s]


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """examples/browser, freshly bundled, on its own loopback port (another origin than the mock)."""
    require_node_project(BROWSER_DIR, "ai", "esbuild")
    npm = shutil.which("npm")
    assert npm is not None, "npm is needed to bundle examples/browser"
    build = subprocess.run([npm, "run", "--silent", "build"], cwd=BROWSER_DIR, capture_output=True, text=True,
                           timeout=120, check=False)
    assert build.returncode == 0, f"npm run build failed:\n{build.stdout}\n{build.stderr}"
    with static_site(BROWSER_DIR) as url:
        yield url


@pytest.fixture
def recorded_mock() -> Iterator[tuple[LiveServer, list[dict[str, str]]]]:
    """A mock at half speed (``slow`` takes ~4.8 s, and a resume after the dropped connection has ~350 ms
    before the run ends); every request's method, path and Origin is recorded, preflights included."""
    server = LiveServer(Settings(speed=2.0, access_log=False))
    seen: list[dict[str, str]] = []
    app = server.app

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            seen.append({"method": scope["method"], "path": scope["path"],
                         "origin": headers.get(b"origin", b"").decode(),
                         "acrm": headers.get(b"access-control-request-method", b"").decode()})
        await app(scope, receive, send)

    server.app = recording
    server.start()
    try:
        yield server, seen
    finally:
        server.stop()


def assistants(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in snapshot["messages"] if m["role"] == "assistant"]


def partial_lengths(lengths: list[int], final: int) -> set[int]:
    return {n for n in lengths if 0 < n < final}


def test_browser_chat_streams_resumes_after_reload_and_after_a_drop(
        page_server: str, recorded_mock: tuple[LiveServer, list[dict[str, str]]]) -> None:
    node = require_node_project(CLIENT_DIR, "playwright-core")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; `make client-deps` installs Debian's chromium")
    mock, seen = recorded_mock
    ARTIFACTS.mkdir(exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    config = {"pageUrl": f"{page_server}/?mock={mock.base_url}", "screenshot": str(SCREENSHOT),
              "executablePath": str(CHROMIUM)}
    result = run_node(node, CLIENT_DIR / "browser_drive.mjs", json.dumps(config), timeout=180)
    assert result.get("crash") is None, json.dumps(result, indent=1)[:6000]
    assert result["pageErrors"] == []
    assert result["origin"] == page_server != mock.base_url

    default_text, = scenario_texts("default")
    slow_text, = scenario_texts("slow")
    disconnect_texts = scenario_texts("disconnect")
    default, slow, dropped = result["turns"]

    # 1. The answer arrives incrementally.
    assert default["status"] == "ready"
    assert default["error"] is None
    [answer] = assistants(default)
    assert answer["text"] == default_text
    assert len(partial_lengths(default["lengths"], len(default_text))) >= 2, default["lengths"]

    # 2. Reload mid-stream: the page restores the partial answer, resumes, and the answer completes once.
    before = assistants(slow["beforeReload"])[-1]
    assert slow["beforeReload"]["status"] == "streaming"
    assert 60 <= len(before["text"]) < len(slow_text)
    assert slow_text.startswith(before["text"])
    assert len(partial_lengths(slow["beforeReload"]["lengths"], len(slow_text))) >= 2
    restored = assistants(slow["afterReload"])[-1]
    assert restored["id"] == before["id"]
    assert slow["status"] == "ready"
    assert slow["error"] is None
    assert [m["role"] for m in slow["messages"]] == ["user", "assistant", "user", "assistant"]
    resumed = assistants(slow)[-1]
    assert resumed["id"] == before["id"]
    assert resumed["text"] == slow_text
    assert resumed["parts"] == 1
    assert len(partial_lengths(slow["lengths"], len(slow_text))) >= 2, "the resumed answer streams in too"
    load_events = [e["event"] for e in slow["events"]]
    assert load_events[0] == "resume"
    assert [e for e in slow["events"] if e["event"] == "finish"][-1]["isError"] is False

    # 3. A dropped connection is a disconnect in the browser; the page resumes and the answer completes.
    assert dropped["status"] == "ready"
    assert dropped["error"] is None
    answer = assistants(dropped)[-1]
    assert answer["text"] == "".join(disconnect_texts)
    assert answer["parts"] == len(disconnect_texts)
    assert len(assistants(dropped)) == 3
    events = [e for e in dropped["events"] if e["event"] in {"error", "finish", "resume"}][-4:]
    assert [e["event"] for e in events] == ["error", "finish", "resume", "finish"]
    assert events[0]["name"] == "TypeError"
    assert events[1]["isDisconnect"] is True
    assert events[1]["messageId"] == events[3]["messageId"] == answer["id"]
    assert events[3]["isError"] is False
    # The only failed loads are the POST the reload cut off and the dropped one.
    failures = [r["failure"] for r in result["failedRequests"]]
    assert failures == ["net::ERR_ABORTED", "net::ERR_INCOMPLETE_CHUNKED_ENCODING"]
    assert all("ERR_INCOMPLETE_CHUNKED_ENCODING" in e for e in result["consoleErrors"]), result["consoleErrors"]

    # Every call was cross-origin, and the POSTs were preflighted.
    assert {r["origin"] for r in seen if not r["path"].startswith("/__mock")} == {page_server}
    preflights = [r for r in seen if r["method"] == "OPTIONS"]
    assert {"path": "/api/chat", "acrm": "POST"} in [{"path": r["path"], "acrm": r["acrm"]} for r in preflights]
    chat_id = slow["chatId"]
    journal = httpx.get(mock.base_url + "/__mock/requests").json()["requests"]
    entries = [(e["method"], e["path"], e["status"], e["scenario"])
               for e in journal if e["path"].startswith("/api/chat")]
    assert ("OPTIONS", "/api/chat", 200, None) in entries  # preflights are journaled too
    calls = [e for e in entries if e[0] != "OPTIONS"]
    stream = f"/api/chat/{chat_id}/stream"
    assert calls == [
        ("GET", stream, 204, None),  # first load: nothing to resume
        ("POST", "/api/chat", 200, "default"),
        ("POST", "/api/chat", 200, "slow"),
        ("GET", stream, 200, "slow"),  # after the reload
        ("POST", "/api/chat", 200, "disconnect"),
        ("GET", stream, 200, "disconnect"),  # after the drop
    ]

    png = SCREENSHOT.read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
