"""Schemathesis over the whole spec with `not_a_server_error`: nothing the generator sends may get a 5xx."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ALICE, ServerProcess

from mockserver.settings import DEFAULT_ADMIN_SPEC, DEFAULT_SPEC

ST = Path(sys.executable).with_name("st")


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    process = ServerProcess("--speed", "0")
    try:
        yield process
    finally:
        process.stop()


#: How much each run generates: under ``make test`` a fixed count of examples per operation (the same
#: seeded cases on any machine, about 2,000 in all; a busy machine still stops at 25 s, the bound this run
#: had before), under ``make stress`` two minutes of them.
BOUNDS = [pytest.param(("--max-examples", "30", "--max-time", "25"), id="short"),
          pytest.param(("--max-time", "120"), id="two-minutes", marks=pytest.mark.stress)]


@pytest.mark.parametrize("bound", BOUNDS)
@pytest.mark.parametrize("auth", [f"x-api-key: {ALICE}", f"Authorization: Bearer {ALICE}"], ids=["api-key", "bearer"])
def test_fuzzing_finds_no_server_error(server: ServerProcess, bound: tuple[str, ...], auth: str) -> None:
    command = [str(ST), "run", str(DEFAULT_SPEC), "--url", server.base_url, "--checks", "not_a_server_error",
               *bound, "--seed", "1", "--request-timeout", "10", "-H", auth,
               "--phases", "examples,coverage,fuzzing", "--no-color"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "passed" in done.stdout.lower() or "no issues found" in done.stdout.lower(), done.stdout[-2000:]


def test_fuzzing_the_admin_api_finds_no_server_error(server: ServerProcess) -> None:
    command = [str(ST), "run", str(DEFAULT_ADMIN_SPEC), "--url", server.base_url, "--checks", "not_a_server_error",
               "--max-time", "10", "--seed", "1", "--request-timeout", "10", "--no-color"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=130)
    assert done.returncode == 0, done.stdout[-4000:]
