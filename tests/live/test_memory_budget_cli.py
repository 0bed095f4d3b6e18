"""``serve --memory-budget MB`` and ``RECOUP_MOCK_MEMORY_BUDGET``: read, applied, refused when wrong, and
described by ``--help``; each command in its own process, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from support import ServerProcess

from mockserver import Settings

#: `serve` refuses a bad setting before it binds anything, in about a second.
REFUSAL_BOUND_S = 30


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_MOCK_")}
    return subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", *args],
                          capture_output=True, text=True, timeout=REFUSAL_BOUND_S, env={**environ, **(env or {})})


def test_the_flag_sets_the_budget_that_status_reports() -> None:
    server = ServerProcess("--memory-budget", "12.5")
    try:
        budget = httpx.get(f"{server.base_url}/__mock/status", timeout=10).json()["memoryBudget"]
    finally:
        server.stop()
    assert budget["limitMb"] == 12.5 and budget["limitBytes"] == round(12.5 * 1024 * 1024)
    assert 0 < budget["usedBytes"] < budget["limitBytes"]  # the default world, at least
    assert budget["evicted"] == {"runs": 0, "journalEntries": 0, "messages": 0, "worlds": 0}


def test_the_environment_sets_the_budget_and_the_flag_wins() -> None:
    assert Settings.from_env({"RECOUP_MOCK_MEMORY_BUDGET": "64"}).memory_budget_mb == 64
    assert Settings.from_env({"RECOUP_MOCK_MEMORY_BUDGET": "64"}, memory_budget_mb=8).memory_budget_mb == 8
    assert Settings.from_env({"RECOUP_MOCK_MEMORY_BUDGET": "0"}).memory_budget_mb == 0  # no budget
    assert Settings().memory_budget_mb == 160


@pytest.mark.parametrize(("args", "env", "said"), [
    (["--memory-budget", "-1"], None,
     "Setting 'memory_budget_mb' has value -1.0; expected a number of megabytes >= 0 (0 = no budget"),
    ([], {"RECOUP_MOCK_MEMORY_BUDGET": "-5"}, "Setting 'memory_budget_mb' has value -5.0"),
    ([], {"RECOUP_MOCK_MEMORY_BUDGET": "lots"},
     "Environment variable RECOUP_MOCK_MEMORY_BUDGET has value 'lots'; not a valid float."),
    (["--memory-budget", "nan"], None, "Setting 'memory_budget_mb' has value nan"),
    (["--memory-budget", "inf"], None, "Setting 'memory_budget_mb' has value inf"),
])
def test_a_bad_budget_is_refused_at_start_up(args: list[str], env: dict[str, str] | None, said: str) -> None:
    done = serve(*args, env=env)
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_serve_help_describes_the_flag() -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--help"], capture_output=True, text=True,
                          timeout=REFUSAL_BOUND_S)
    text = " ".join(done.stdout.split())
    assert "--memory-budget MB" in text and "RECOUP_MOCK_MEMORY_BUDGET" in text and "default 160" in text
