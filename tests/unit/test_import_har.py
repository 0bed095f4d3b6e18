"""``recoup-mock import-har`` on HAR files made here: base64 bodies, credentials inside bodies, a stream that
breaks the contract, and files that are not HAR (refused with what was expected, exit 2, nothing written).
The command runs as a user runs it (a subprocess); the files it writes are then validated by the CLI."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

KEY = "recoup_sk_live_0123456789abcdef"
COOKIE = "sess-9f8e7d6c5b4a39281706"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.tok3n-value-42"
API = "https://api.recoupable.dev"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver", *args], capture_output=True, text=True, timeout=60)


def sse(*chunks: Any, done: bool = True) -> str:
    return "".join(f"data: {c if isinstance(c, str) else json.dumps(c)}\n\n" for c in chunks) + \
        ("data: [DONE]\n\n" if done else "")


def entry(method: str, url: str, status: int, mime: str, text: str | None, *, base64_body: bool = False,
          wait: float = 20, receive: float = 300, headers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"size": len(text or ""), "mimeType": mime}
    if text is not None:
        content["text"] = base64.b64encode(text.encode()).decode() if base64_body else text
        if base64_body:
            content["encoding"] = "base64"
    return {
        "startedDateTime": "2026-12-05T10:00:00.000Z", "time": wait + receive,
        "request": {"method": method, "url": url, "httpVersion": "HTTP/1.1",
                    "headers": [{"name": "Authorization", "value": f"Bearer {TOKEN}"},
                                {"name": "x-api-key", "value": KEY}, {"name": "Cookie", "value": f"sid={COOKIE}"}],
                    "cookies": [{"name": "sid", "value": COOKIE}], "queryString": [], "headersSize": -1,
                    "bodySize": 2},
        "response": {"status": status, "statusText": "", "httpVersion": "HTTP/1.1",
                     "headers": [{"name": "Content-Type", "value": mime}, *(headers or [])], "cookies": [],
                     "content": content, "redirectURL": "", "headersSize": -1, "bodySize": -1},
        "cache": {}, "timings": {"blocked": -1, "dns": -1, "connect": -1, "send": 0.1, "wait": wait,
                                 "receive": receive, "ssl": -1},
    }


def har(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"log": {"version": "1.2", "creator": {"name": "Firefox", "version": "133.0"}, "entries": list(entries)}}


def write(tmp_path: Path, document: Any, name: str = "session.har") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


GOOD_STREAM = sse({"type": "start", "messageId": "m1"}, {"type": "start-step"}, {"type": "text-start", "id": "t"},
                  {"type": "text-delta", "id": "t", "delta": f"your key {KEY}, cookie {COOKIE}"},
                  {"type": "text-end", "id": "t"}, {"type": "finish-step"}, {"type": "finish"})
#: Production drift: an unknown chunk type, and the stream cut before its finish.
DRIFTED = sse({"type": "start", "messageId": "m2"}, {"type": "text-start", "id": "t"},
              {"type": "text-delta", "id": "t", "delta": "Hi"}, {"type": "tool-thinking", "id": "x"}, "{not json",
              done=False)


def test_streams_and_errors_are_imported_with_no_secret_and_the_rest_listed(tmp_path: Path) -> None:
    source = write(tmp_path, har(
        entry("GET", "https://app.recoupable.dev/chat", 200, "text/html", "<html></html>"),
        entry("POST", f"{API}/api/chat", 200, "text/event-stream", GOOD_STREAM, base64_body=True),
        entry("POST", f"{API}/api/chat", 200, "text/event-stream", DRIFTED, receive=400),
        entry("POST", f"{API}/api/chat", 429, "application/json",
              json.dumps({"error": f"Too many requests for {KEY}"}), headers=[{"name": "Retry-After", "value": "5"}]),
        entry("GET", f"{API}/api/chats", 200, "application/json", "[]"),
        entry("GET", "https://telemetry.example.com/api/chat", 204, "", ""),
    ))
    out = tmp_path / "out"
    done = cli("import-har", str(source), "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    names = sorted(p.stem for p in (out / "scenarios").glob("har-*.yaml"))
    assert names == ["har-1-post-api-chat", "har-2-post-api-chat", "har-3-post-api-chat"]
    assert "entries[0] GET https://app.recoupable.dev/chat: not a path of the Recoup API" in done.stdout
    assert "entries[4] GET https://api.recoupable.dev/api/chats: a 200 application/json (neither" in done.stdout
    assert "entries[5] GET https://telemetry.example.com/api/chat: another host" in done.stdout
    texts = {name: (out / "scenarios" / f"{name}.yaml").read_text() for name in names}
    for text in texts.values():
        for secret in (KEY, COOKIE, TOKEN):
            assert secret not in text
    good, drifted, limited = (yaml.safe_load(texts[n]) for n in names)
    assert good["steps"][3]["chunk"]["delta"] == "your key REDACTED, cookie REDACTED"
    assert [s["delay_ms"] for s in good["steps"]] == [20.0] + [50.0] * 6  # 300 ms over 6 gaps
    assert "violates" not in good
    assert drifted["violates"] == ["order", "schema"]
    assert drifted["steps"][-2] == {"raw": "data: {not json\n\n", "delay_ms": 100.0}
    assert drifted["steps"][-1] == {"disconnect": True, "delay_ms": 0.0}
    assert "unknown" in texts[names[1]] or "tool-thinking" in texts[names[1]]
    assert limited["response"] == {"status": 429, "headers": {"Retry-After": "5"},
                                   "message": "Too many requests for REDACTED"}
    checked = cli("validate", "--fixtures", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = cli("import-har", str(source), "--out", str(out))  # numbered on, never over a file
    assert again.returncode == 0 and "har-4-post-api-chat" in again.stdout and "har-6-" in again.stdout


@pytest.mark.parametrize(("document", "says"), [
    ("this is not json {", "is not JSON (Expecting value: line 1 column 1 (char 0)); expected a HAR 1.2 file"),
    ({"entries": []}, "is JSON but not HAR: no log object (it has top-level keys entries); expected a HAR 1.2"),
    ({"log": {"version": "1.2"}}, "is JSON but not HAR: log.entries is not a list"),
    ([1, 2], "is JSON but not HAR: no log object (it has a JSON list)"),
    (har({"request": {"method": "GET"}}), "entries[0] is not a HAR entry: expected request.method, request.url and "
                                          "response.status (it has keys request (method))"),
    (har(entry("POST", f"{API}/api/chat", 200, "text/event-stream", GOOD_STREAM),
         entry("POST", f"{API}/api/chat", 200, "text/event-stream", None)),
     "entries[1] (POST https://api.recoupable.dev/api/chat, 200 text/event-stream) has no response body "
     "(response.content.text is missing)"),
    (har({**entry("POST", f"{API}/api/chat", 500, "application/json", "{}"),
          "response": {**entry("POST", f"{API}/api/chat", 500, "application/json", "{}")["response"],
                       "content": {"mimeType": "application/json", "text": "%%%", "encoding": "base64"}}}),
     "says encoding base64 but is not base64"),
], ids=["not-json", "no-log", "no-entries", "a-list", "not-an-entry", "missing-body", "bad-base64"])
def test_a_file_that_is_not_har_is_refused_and_nothing_is_written(tmp_path: Path, document: Any, says: str) -> None:
    out = tmp_path / "out"
    refused = cli("import-har", str(write(tmp_path, document)), "--out", str(out))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.startswith("recoup-mock: ") and says in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    assert not out.exists()


def test_the_help_says_what_it_reads_and_writes() -> None:
    shown = cli("import-har", "--help")
    assert shown.returncode == 0
    for part in ("HAR 1.2", "Save all as HAR with content", "recordHar", "--out DIR", "timings.receive", "REDACTED",
                 "violates", "exits 2"):
        assert part in shown.stdout, part
