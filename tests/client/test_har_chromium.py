"""``recoup-mock import-har`` on a HAR exported by a real Chromium: Playwright's ``recordHar`` (har_record.mjs)
while a page on its own origin streams a turn from a mock on the deployed profile and gets a 429 from a
scenario. The import writes a stream scenario and an http-status one that validate, keeps no credential
(the API key is in every request it saw), lists what it skipped (the page, the preflights, the other host),
and served by name the scenarios answer the same chunks and the same 429."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from node_support import CLIENT_DIR, require_node_project, run_node, static_site
from support import ALICE, chat_body, chunks_of, live_server

pytestmark = pytest.mark.live

CHROMIUM = Path("/usr/bin/chromium")
PAGE = "<!doctype html><html><head><title>HAR page</title></head><body><p>Talks to the mock.</p></body></html>"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver", *args], capture_output=True, text=True, timeout=60)


def test_a_chromium_har_imports_into_scenarios_that_replay_it(tmp_path: Path) -> None:
    node = require_node_project(CLIENT_DIR, "playwright-core")
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; `make client-deps` installs Debian's chromium")
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE)
    har = tmp_path / "session.har"
    with live_server(speed=1.0, profile="deployed") as mock, static_site(site) as page_url:
        config = {"executablePath": str(CHROMIUM), "pageUrl": page_url + "/index.html", "api": mock.base_url,
                  "otherHost": mock.base_url.replace("127.0.0.1", "localhost"), "apiKey": ALICE,
                  "body": chat_body(), "harPath": str(har)}
        seen = run_node(node, CLIENT_DIR / "har_record.mjs", json.dumps(config), timeout=120)
    assert seen["pageErrors"] == [], seen
    got = seen["page"]
    assert got["turn"]["status"] == 200 and got["limited"]["status"] == 429, got
    streamed = chunks_of(got["turn"]["text"].encode())
    assert streamed[0]["type"] == "start" and streamed[-1]["type"] == "finish"
    assert ALICE in har.read_text()  # the browser kept the key in the HAR: the import must not

    out = tmp_path / "imported"
    imported = cli("import-har", str(har), "--out", str(out))
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "skipped" in imported.stdout and "index.html: not a path of the Recoup API" in imported.stdout
    assert "another host than the API's" in imported.stdout, imported.stdout
    written = sorted((out / "scenarios").glob("har-*.yaml"))
    assert [p.stem for p in written] == ["har-1-post-api-chat", "har-2-post-api-chat"], imported.stdout
    # Every file written from the HAR (world.yaml and default.yaml are the bundled copies, with the fixture keys).
    assert [line.removeprefix("wrote ") for line in imported.stdout.splitlines() if line.startswith("wrote ")] == \
        [str(p) for p in written]
    for path in written:
        assert ALICE not in path.read_text() and "alice" not in path.read_text(), path
    stream_doc, limited_doc = (yaml.safe_load(p.read_text()) for p in written)
    assert [s["chunk"] for s in stream_doc["steps"] if "chunk" in s] == streamed
    assert "timings.receive" in written[0].read_text() and "spread evenly" in stream_doc["description"]
    assert limited_doc["response"]["status"] == 429
    assert limited_doc["response"]["message"] == json.loads(got["limited"]["body"])["error"]  # deployed body
    checked = cli("validate", "--fixtures", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with live_server(speed=0.0, fixtures=out) as replay:
        headers = {"x-api-key": ALICE}
        again = httpx.post(replay.base_url + "/api/chat", json=chat_body(), timeout=15,
                           headers={**headers, "prefer": f"scenario={stream_doc['name']}"})
        assert again.status_code == 200 and chunks_of(again.content) == streamed
        limited = httpx.post(replay.base_url + "/api/chat", json=chat_body(), timeout=15,
                             headers={**headers, "prefer": f"scenario={limited_doc['name']}"})
        assert limited.status_code == 429
        assert limited.json()["message"] == limited_doc["response"]["message"]
