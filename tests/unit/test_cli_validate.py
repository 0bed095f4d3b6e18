"""`recoup-mock validate`: passes on the bundled files, and names the file and the step/field of each problem."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import RENAMED_PATH, renamed_chat_param

from mockserver.cli import main
from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC


@pytest.fixture
def fixtures(tmp_path: Path) -> Path:
    """A private copy of the bundled fixtures directory."""
    target = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, target)
    return target


def validate(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", "--fixtures", str(fixtures)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_scenario(fixtures: Path, name: str, body: dict[str, Any]) -> Path:
    path = fixtures / "scenarios" / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "description": "test", **body}, sort_keys=False), encoding="utf-8")
    return path


def edit_world(fixtures: Path, change: Any) -> Path:
    path = fixtures / "world.yaml"
    world = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(world)
    path.write_text(yaml.safe_dump(world, sort_keys=False), encoding="utf-8")
    return path


def problem_lines(err: str, file: Path) -> list[str]:
    return [line for line in err.splitlines() if str(file) in line]


MANUAL_FRAMING_OUT_OF_ORDER = {
    "framing": "manual",
    "steps": [
        {"chunk": {"type": "start", "messageId": "msg_placeholder"}},
        {"chunk": {"type": "start-step"}},
        {"chunk": {"type": "text-delta", "id": "t1", "delta": "too early"}},
        {"chunk": {"type": "text-start", "id": "t1"}},
        {"chunk": {"type": "text-end", "id": "t1"}},
        {"chunk": {"type": "finish-step"}},
        {"chunk": {"type": "finish"}},
    ],
}


def test_bundled_files_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "OK" in captured.out


def test_copied_fixtures_are_valid(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = validate(fixtures, capsys)
    assert (code, err) == (0, "")
    assert str(fixtures) in out


def test_text_delta_before_text_start_manual_framing(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(fixtures, "bad-order", MANUAL_FRAMING_OUT_OF_ORDER)
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert lines, err
    assert any("steps[2]" in line and "text-delta" in line and "text-start" in line for line in lines), err
    assert "problem(s) found" in err


def test_text_delta_before_text_start_auto_framing(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(fixtures, "early-delta", {"steps": [
        {"text": "Hello there"},
        {"chunk": {"type": "text-delta", "id": "orphan", "delta": "no start"}},
    ]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert any("steps[1]" in line and "text-delta" in line and "orphan" in line for line in lines), err


def test_unknown_chunk_type(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(fixtures, "legacy-events", {"steps": [
        {"text": "fine"},
        {"chunk": {"type": "message-start"}},
    ]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert any("steps[1]" in line and "message-start" in line for line in lines), err


def test_extra_key_on_a_chunk(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(fixtures, "extra-key", {"steps": [
        {"chunk": {"type": "text-start", "id": "x"}},
        {"chunk": {"type": "text-delta", "id": "x", "delta": "y", "foo": 1}},
        {"chunk": {"type": "text-end", "id": "x"}},
    ]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert any("steps[1]" in line and "foo" in line for line in lines), err
    assert not any("steps[0]" in line or "steps[2]" in line for line in lines), err


def test_missing_required_field_on_a_chunk(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(fixtures, "no-delta", {"steps": [
        {"chunk": {"type": "text-start", "id": "x"}},
        {"chunk": {"type": "text-delta", "id": "x"}},
        {"chunk": {"type": "text-end", "id": "x"}},
    ]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    assert any("steps[1]" in line and "delta" in line for line in problem_lines(err, path)), err


def test_every_broken_scenario_is_reported(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write_scenario(fixtures, "bad-order", MANUAL_FRAMING_OUT_OF_ORDER)
    second = write_scenario(fixtures, "legacy-events", {"steps": [{"chunk": {"type": "message-start"}}]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    assert problem_lines(err, first), err
    assert problem_lines(err, second), err


def test_world_chat_with_unknown_session(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = "5e551011-0000-4000-8000-0000000000ff"

    def change(world: dict[str, Any]) -> None:
        world["chats"][1]["session"] = missing

    path = edit_world(fixtures, change)
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert any("chats[1].session" in line and missing in line for line in lines), err


def test_world_chat_with_non_uuid_id(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(world: dict[str, Any]) -> None:
        world["chats"][0]["id"] = "idle-chat"

    path = edit_world(fixtures, change)
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert any("chats[0].id" in line and "idle-chat" in line for line in lines), err


def test_world_session_with_unknown_account(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(world: dict[str, Any]) -> None:
        world["sessions"][2]["account"] = "mallory"

    path = edit_world(fixtures, change)
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    assert any("sessions[2].account" in line and "mallory" in line for line in problem_lines(err, path)), err


def test_world_chat_with_unknown_scenario(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def change(world: dict[str, Any]) -> None:
        world["chats"][0]["scenario"] = "nope"

    path = edit_world(fixtures, change)
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    assert any("chats[0].scenario" in line and "nope" in line for line in problem_lines(err, path)), err


def test_declared_order_violation_passes(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_scenario(fixtures, "bad-order", {**MANUAL_FRAMING_OUT_OF_ORDER, "violates": ["order"]})
    code, out, err = validate(fixtures, capsys)
    assert (code, err) == (0, "")
    assert "OK" in out


def test_declaring_order_does_not_excuse_schema_problems(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_scenario(fixtures, "bad-order", {**MANUAL_FRAMING_OUT_OF_ORDER, "violates": ["order"], "steps": [
        *MANUAL_FRAMING_OUT_OF_ORDER["steps"][:-1],
        {"chunk": {"type": "finish", "foo": 1}},
    ]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    lines = problem_lines(err, path)
    assert any("steps[6]" in line and "foo" in line for line in lines), err
    assert not any("text-start' must come first" in line for line in lines), err


def test_a_stop_scenario_must_answer_with_an_http_status(fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    streamed = write_scenario(fixtures, "stop-stream", {"answers": "stop", "steps": [{"text": "no"}]})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    assert any("answers" in line and "http-status" in line for line in problem_lines(err, streamed)), err
    streamed.unlink()
    unknown = write_scenario(fixtures, "for-nothing", {"answers": "resume", "response": {"status": 502}})
    code, _, err = validate(fixtures, capsys)
    assert code == 1
    assert any("'resume'" in line and "turn, stop" in line for line in problem_lines(err, unknown)), err


# ---------------------------------------------------------------- the parameters handlers read


@pytest.fixture
def renamed_spec(tmp_path: Path) -> Path:
    """A copy of the bundled spec folder whose resume route calls its chat id ``cid``."""
    folder = tmp_path / "openapi"
    shutil.copytree(DEFAULT_SPEC.parent, folder)
    (folder / "chat.yaml").write_text(renamed_chat_param(DEFAULT_SPEC), encoding="utf-8")
    return folder / "chat.yaml"


def test_a_renamed_path_parameter_fails_validate(renamed_spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["validate", "--spec", str(renamed_spec)])
    captured = capsys.readouterr()
    assert code == 1, captured.out
    assert str(renamed_spec) in captured.err
    # It names the operation, the parameter its handler reads, and the ones the spec has.
    assert "resumeChatStream" in captured.err and RENAMED_PATH in captured.err
    assert "'chatId'" in captured.err and "'cid'" in captured.err and "'startIndex'" in captured.err


def test_serve_refuses_a_renamed_path_parameter(renamed_spec: Path) -> None:
    # Refused before it binds; one that starts would serve on until killed at the timeout.
    done = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--spec", str(renamed_spec), "--port", "0"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert "resumeChatStream" in done.stderr and "'chatId'" in done.stderr and "'cid'" in done.stderr
    assert "Traceback" not in done.stderr
