"""``serve --watch`` on a live uvicorn: saved edits are served from the next request, broken ones refused."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support import (
    ALICE,
    CHAT_IDLE,
    SESSION_READY,
    LiveServer,
    SseParser,
    chat_body,
    chunks_of,
    live_server,
    renamed_chat_param,
)

from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC

H = {"x-api-key": ALICE}
#: A scenario slow enough to edit while it plays: ten words, 100 ms apart.
EDITABLE = """name: editable
description: Edited while it plays.
timing: {{first_chunk_ms: 0, chunk_delay_ms: 100}}
steps:
  - text: "{text}"
"""
OLD = "one two three four five six seven eight nine ten"
NEW = "the new words after the edit"
#: How long a test waits for a reload before it fails (the watcher's own latency is measured, not assumed).
PATIENCE = 10.0


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    fixtures, spec_dir = tmp_path / "fixtures", tmp_path / "openapi"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    shutil.copytree(DEFAULT_SPEC.parent, spec_dir)
    (fixtures / "scenarios" / "editable.yaml").write_text(EDITABLE.format(text=OLD))
    return fixtures, spec_dir


@pytest.fixture
def watched(files: tuple[Path, Path]) -> Iterator[LiveServer]:
    fixtures, spec_dir = files
    with live_server(speed=1.0, watch=True, fixtures=fixtures, spec=spec_dir / "chat.yaml",
                     admin_spec=spec_dir / "admin.yaml") as server:
        yield server


def status(server: LiveServer) -> dict[str, object]:
    result: dict[str, object] = httpx.get(server.base_url + "/__mock/status").json()
    return result


def save(path: Path, text: str | None, server: LiveServer) -> dict[str, object]:
    """Write ``text`` to ``path`` (None: delete it) and wait for the watcher to act on it: a reload
    served or an edit refused (each poll a real request, bounded). Returns the status then."""
    before = status(server)
    if text is None:
        path.unlink()
    else:
        path.write_text(text)
    started = time.monotonic()
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        while time.monotonic() - started < PATIENCE:
            now: dict[str, object] = client.get("/__mock/status").json()
            if now["reloads"] != before["reloads"] or now["reloadError"] != before["reloadError"]:
                return now
    pytest.fail(f"no reload within {PATIENCE} s of saving {path}")


def text_of(raw: bytes) -> str:
    return "".join(c["delta"] for c in chunks_of(raw) if c["type"] == "text-delta")


def test_a_run_in_flight_keeps_its_text_and_the_next_request_gets_the_edit(watched: LiveServer,
                                                                          files: tuple[Path, Path]) -> None:
    scenario = files[0] / "scenarios" / "editable.yaml"
    with httpx.stream("POST", watched.base_url + "/api/chat", json=chat_body(), timeout=10,
                      headers={**H, "prefer": "scenario=editable"}) as response:
        pieces = response.iter_raw()
        in_flight = SseParser().read(pieces, chunks=4)
        assert save(scenario, EDITABLE.format(text=NEW), watched)["reloadError"] is None
        in_flight.read(pieces)
    assert text_of(in_flight.raw) == OLD
    after = httpx.post(watched.base_url + "/api/chat", json=chat_body(), timeout=10,
                       headers={**H, "prefer": "scenario=editable"})
    assert text_of(after.content) == NEW


def test_a_broken_edit_is_refused_with_its_file_and_line_and_a_fix_is_picked_up(
        watched: LiveServer, files: tuple[Path, Path]) -> None:
    scenario = files[0] / "scenarios" / "editable.yaml"
    now = save(scenario, "name: editable\nsteps:\n  - text: [unclosed\n", watched)
    error = str(now["reloadError"])
    assert str(scenario) in error and "line 3" in error, error
    # The last good version is still served, and the server is alive.
    served = httpx.post(watched.base_url + "/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=editable"})
    assert text_of(served.content) == OLD
    # A scenario that parses but breaks the chunk rules is refused too, naming the step.
    now = save(scenario, "name: editable\nsteps:\n  - chunk: {type: text-delta, id: t9, delta: x}\n", watched)
    assert str(scenario) in str(now["reloadError"]) and "steps[0]" in str(now["reloadError"]), now["reloadError"]
    now = save(scenario, EDITABLE.format(text=NEW), watched)
    assert now["reloadError"] is None
    served = httpx.post(watched.base_url + "/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=editable"})
    assert text_of(served.content) == NEW


def test_new_and_deleted_scenario_files_add_and_remove_scenarios(watched: LiveServer, files: tuple[Path, Path]) -> None:
    added = files[0] / "scenarios" / "brand-new.yaml"
    save(added, EDITABLE.format(text="fresh").replace("name: editable", "name: brand-new"), watched)
    names = {s["name"] for s in httpx.get(watched.base_url + "/__mock/scenarios").json()["scenarios"]}
    assert "brand-new" in names
    save(added, None, watched)
    gone = httpx.post(watched.base_url + "/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=brand-new"})
    assert gone.status_code == 400 and "brand-new" in gone.json()["message"]


def test_world_yaml_applies_at_the_next_reset_and_the_spec_at_the_next_request(
        watched: LiveServer, files: tuple[Path, Path]) -> None:
    fixtures, spec_dir = files
    world = fixtures / "world.yaml"
    save(world, world.read_text().replace("title: Idle chat", "title: Renamed chat"), watched)

    def idle_title() -> str:
        chats = httpx.get(f"{watched.base_url}/api/sessions/{SESSION_READY}/chats", headers=H).json()["chats"]
        return str(next(c["title"] for c in chats if c["id"] == CHAT_IDLE))

    assert idle_title() == "Idle chat"  # live state is not rewritten under a client
    httpx.post(watched.base_url + "/__mock/reset").raise_for_status()
    assert idle_title() == "Renamed chat"
    # The spec: startIndex now has to be at least 1.
    spec = spec_dir / "chat.yaml"
    text, zero, one = spec.read_text(), "type: integer\n        minimum: 0\n", "type: integer\n        minimum: 1\n"
    assert text.count(zero) == 1
    save(spec, text.replace(zero, one), watched)
    assert httpx.get(f"{watched.base_url}/api/chat/{CHAT_IDLE}/stream?startIndex=0", headers=H).status_code == 400
    # A spec that does not load is refused, and the server keeps the last good one.
    now = save(spec, "openapi: 3.2.0\npaths: [\n", watched)
    assert str(spec) in str(now["reloadError"])
    assert httpx.get(f"{watched.base_url}/api/chat/{CHAT_IDLE}/stream?startIndex=0", headers=H).status_code == 400


def test_a_spec_that_renames_a_parameter_a_handler_reads_is_refused_and_the_old_one_kept(
        watched: LiveServer, files: tuple[Path, Path]) -> None:
    spec = files[1] / "chat.yaml"
    now = save(spec, renamed_chat_param(spec), watched)
    error = str(now["reloadError"])
    assert "resumeChatStream" in error and "'chatId'" in error and "'cid'" in error, error
    # The old spec is still served: its route answers (no 500), and the renamed one is unknown.
    assert httpx.get(f"{watched.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
    assert httpx.post(f"{watched.base_url}/api/chat/{CHAT_IDLE}/stop", headers=H).status_code == 200
    assert status(watched)["reloads"] == 0
