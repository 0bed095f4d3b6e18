"""Helpers for the WorkflowChatTransport tests (test_workflow_transport.py, test_react_example.py): Node
scripts run side by side, worlds in a profile, run status lookups, and a static site on its own port.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import ALICE, LiveServer


def run_node_scripts(node: str, script: Path, argsets: Mapping[str, list[str]], timeout: float
                     ) -> dict[str, dict[str, Any] | str]:
    """Start ``node script *args`` once per entry of ``argsets``, all at once, and wait for them all.

    Each value is the one JSON line the script printed, or a string saying how it failed.
    """
    started = time.monotonic()
    procs = {key: subprocess.Popen([node, str(script), *args], cwd=script.parent, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for key, args in argsets.items()}
    results: dict[str, dict[str, Any] | str] = {}
    try:
        for key, proc in procs.items():
            try:
                out, err = proc.communicate(timeout=max(1.0, timeout - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
                results[key] = f"timed out after {timeout} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
                continue
            lines = [line for line in out.splitlines() if line.startswith("{")]
            if proc.returncode != 0 or not lines:
                results[key] = f"exited {proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
            else:
                results[key] = json.loads(lines[-1])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


class NodeRun:
    """One Node script's results: ``result(case)`` is that case's observation (a crash fails the test)."""

    def __init__(self, key: str, data: dict[str, Any] | str) -> None:
        if isinstance(data, str):
            pytest.fail(f"{key}: {data}")
        self.key = key
        self.data = data
        self.results: dict[str, Any] = data["results"]

    def result(self, case: str) -> Any:
        assert case in self.results, f"{self.key}: no case {case!r} in the Node run"
        value = self.results[case]
        if isinstance(value, dict) and "crash" in value:
            pytest.fail(f"{self.key} {case}: the case crashed: {value['crash']}\n{value.get('stack')}")
        return value


def configure_world(server: LiveServer, name: str, profile: str) -> None:
    """Create (or reset) world ``name`` on ``server`` in ``profile``."""
    response = httpx.post(f"{server.base_url}/__mock/worlds/{name}", json={"profile": profile})
    assert response.status_code == 200, response.text
    assert response.json()["profile"] == profile


def run_status(server: LiveServer, world: str, run_id: str) -> str:
    """GET /api/chat/runs/{runId} as Alice in ``world``: the run's status."""
    response = httpx.get(f"{server.base_url}/api/chat/runs/{run_id}",
                         headers={"x-api-key": ALICE, "x-mock-world": world})
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status
