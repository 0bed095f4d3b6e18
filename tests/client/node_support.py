"""Helpers shared by the Node client tests (test_ai_sdk.py, ...) and the browser tests (a static site, ...).

The Node packages are installed by ``make client-deps`` (``npm ci`` here and in examples/browser/).
Without them these tests fail and say so, unless ``RECOUP_MOCK_SKIP_NODE_TESTS=1`` is set, which skips them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

CLIENT_DIR = Path(__file__).resolve().parent
REPO_ROOT = CLIENT_DIR.parent.parent
BROWSER_DIR = REPO_ROOT / "examples" / "browser"
ARTIFACTS = REPO_ROOT / "test-artifacts"


def require_node_project(folder: Path, *packages: str) -> str:
    """The path of ``node``, once ``folder``'s node_modules holds ``packages``; else fail (or skip)."""
    if os.environ.get("RECOUP_MOCK_SKIP_NODE_TESTS") == "1":
        pytest.skip("RECOUP_MOCK_SKIP_NODE_TESTS=1")
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the Node client tests need node >= 20 (see `make client-deps`)")
    missing = [p for p in packages if not (folder / "node_modules" / p / "package.json").is_file()]
    if missing:
        pytest.fail(f"{folder}: node_modules lacks {', '.join(missing)}; run `make client-deps` (npm ci)")
    return node


def run_node(node: str, script: Path, *args: str, timeout: float) -> dict[str, Any]:
    """Run a Node script that prints one JSON line on stdout; return it (fail with its output otherwise)."""
    proc = subprocess.run([node, str(script), *args], cwd=script.parent, capture_output=True, text=True,
                          timeout=timeout, check=False)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        pytest.fail(f"{script.name} {' '.join(args)[:200]} exited {proc.returncode}\n"
                    f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """``directory`` served on a free loopback port (another origin than the mock); yields its URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
