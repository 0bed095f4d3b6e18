"""The production baseline proven against a target that behaves like production: the deployed profile.

`recoup-mock contract --baseline production` against `serve --profile deployed` exits 0, every failure
is known drift and no baseline entry goes unseen (but those that say the failure comes and goes);
against the documented profile the same baseline finds nothing to excuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from contract_variants import ALICE, BOB
from support import LiveServer, live_server

from mockserver.cli import main
from mockserver.contracts import baseline as baselines

ENTRIES = json.loads(baselines.BUNDLED.read_text(encoding="utf-8"))["entries"]
#: The entries a run must see: all but those that say their failure is intermittent.
STEADY = {entry["id"] for entry in ENTRIES if not entry.get(baselines.INTERMITTENT)}


@pytest.fixture(scope="module")
def deployed_server() -> Iterator[LiveServer]:
    with live_server(speed=0, profile="deployed") as server:
        yield server


def contract(base_url: str | None, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    args = ["contract", "--api-key", ALICE, "--other-api-key", BOB, "--baseline", "production", "--seed", "1",
            "--max-examples", "10", *extra]
    code = main([*args, "--base-url", base_url, "--max-streams", "unlimited"] if base_url else args)
    return code, capsys.readouterr().out


def test_against_the_deployed_profile_everything_is_known_drift_and_nothing_is_stale(
        deployed_server: LiveServer, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = contract(deployed_server.base_url, capsys)
    assert code == 0, out
    assert "FAILURES" not in out and "KNOWN DRIFT (baseline)" in out
    seen = set()
    for line in out.splitlines():
        if "known drift, baseline entry " in line:
            seen.add(line.split("baseline entry ")[1].split()[0])
    assert seen == STEADY, f"not seen: {sorted(STEADY - seen)}"
    assert "Baseline entries not seen" not in out


def test_against_the_documented_profile_the_baseline_excuses_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = contract(None, capsys)  # the bundled mock
    assert code == 0, out
    assert "KNOWN DRIFT" not in out and "known drift" not in out
    # Every steady entry is reported as not seen: the documented mock does not drift.
    listed = out.split("Baseline entries not seen in this run", 1)[1]
    assert all(f"  - {entry_id}:" in listed for entry_id in STEADY), listed
