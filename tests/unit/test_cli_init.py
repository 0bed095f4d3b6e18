"""`recoup-mock init` (an editable copy of the bundled fixtures, never overwriting) and `recoup-mock --version`."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mockserver import cli
from mockserver.cli import main
from mockserver.settings import DEFAULT_FIXTURES

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(["world.yaml", *(f"scenarios/{p.name}" for p in (DEFAULT_FIXTURES / "scenarios").glob("*.yaml"))])


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_init_copies_the_bundled_fixtures_and_says_how_to_use_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "mine"
    assert main(["init", str(target)]) == 0
    out = capsys.readouterr().out
    assert files_under(target) == BUNDLED and "scenarios/default.yaml" in BUNDLED
    assert all((target / name).read_bytes() == (DEFAULT_FIXTURES / name).read_bytes() for name in BUNDLED)
    assert all(str(target / name) in out for name in BUNDLED)
    assert f"recoup-mock serve --fixtures {target}" in out
    assert f"recoup-mock validate --fixtures {target}" in out
    assert main(["validate", "--fixtures", str(target)]) == 0


def test_init_defaults_to_recoup_fixtures_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert files_under(tmp_path / "recoup-fixtures") == BUNDLED
    assert "recoup-mock serve --fixtures recoup-fixtures" in capsys.readouterr().out


def test_init_refuses_when_any_file_exists_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "scenarios" / "slow.yaml"
    mine.parent.mkdir()
    mine.write_text("my own slow scenario\n")
    assert main(["init", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(mine) in captured.err and "nothing was written" in captured.err
    assert str(tmp_path / "world.yaml") not in captured.err  # only what exists is named
    assert "Traceback" not in captured.err
    assert files_under(tmp_path) == ["scenarios/slow.yaml"]
    assert mine.read_text() == "my own slow scenario\n"


def test_init_into_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")
    assert main(["init", str(target)]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "not a directory" in err
    assert target.read_text() == "not a folder"


def test_init_that_cannot_write_exits_2_and_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real_open = Path.open
    calls = []

    def failing_open(self: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if "x" in mode:
            calls.append(self)
            if len(calls) == 3:
                raise OSError(28, "No space left on device", str(self))
        return real_open(self, mode, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", failing_open)
    assert main(["init", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing was written" in err
    assert files_under(tmp_path / "full") == []


def test_init_is_documented_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert "init" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["init", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "recoup-mock serve --fixtures DIR" in text and "never overwritten" in text


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"recoup-mock {importlib.metadata.version('recoup-mock')}\n"


def test_version_without_installed_metadata_is_read_from_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert cli.version() == expected


def test_contract_without_the_contract_extra_says_what_to_install(tmp_path: Path) -> None:
    # In a fresh interpreter, so this process's imported suite is left alone.
    code = ("import sys; sys.modules['schemathesis'] = None; from mockserver.cli import main; "
            "sys.exit(main(['contract', '--api-key', 'recoup_sk_test_alice']))")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "contract" in result.stderr and 'pip install "recoup-mock[contract]"' in result.stderr
    assert "Traceback" not in result.stderr
