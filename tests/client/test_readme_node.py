"""The README's Node global set-up, run as written: it starts the CLI on a free port and stops it."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from node_support import REPO_ROOT, require_node_project, run_node

pytestmark = pytest.mark.live

RUNNER = """
import setup from "./global-setup.mjs";

const teardown = await setup();
const base = process.env.RECOUP_MOCK_URL;
const key = { "x-api-key": "recoup_sk_test_alice" };
const idle = await fetch(`${base}/api/chat/c4a70000-0000-4000-8000-000000000001/stream`, { headers: key });
const reset = await fetch(`${base}/__mock/reset`, { method: "POST" });
const body = await reset.json();
await teardown();
await new Promise((resolve) => setTimeout(resolve, 300));
let after;
try { after = (await fetch(`${base}/__mock/scenarios`)).status; } catch (error) { after = String(error.message); }
console.log(JSON.stringify({ base, idle: idle.status, reset: reset.status, body, after }));
"""


def readme_block(first_line: str) -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"```js\n(" + re.escape(first_line) + r"\n.*?)```", readme, re.DOTALL)
    assert match, f"README.md has no ```js block starting with {first_line!r}"
    return match.group(1)


def test_readme_global_setup_starts_and_stops_the_mock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = require_node_project(REPO_ROOT / "tests" / "client")
    (tmp_path / "global-setup.mjs").write_text(readme_block("// global-setup.mjs"))
    (tmp_path / "runner.mjs").write_text(RUNNER)
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "recoup-mock").exists()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("RECOUP_MOCK_BIN", raising=False)
    result = run_node(node, tmp_path / "runner.mjs", timeout=60)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", result["base"]), json.dumps(result)
    assert not result["base"].endswith(":0")
    assert result["idle"] == 204
    assert result["reset"] == 200
    assert result["body"]["status"] == "ok"
    assert result["after"] == "fetch failed", "the teardown stops the server"
