"""Every command reads ``RECOUP_MOCK_<NAME>`` the way ``serve`` does, and a flag wins over it: driven as
a user would, each command in its own process with the variable exported."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC

#: Bounds each command: `validate` and a refused `serve` or `proxy` end in about a second.
TIMEOUT = 60


def run(*args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = TIMEOUT
        ) -> subprocess.CompletedProcess[str]:
    """``python -m mockserver ARGS`` with only ``env`` of the RECOUP_MOCK_* variables (none of ours leak in)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECOUP_MOCK_")}
    return subprocess.run([sys.executable, "-m", "mockserver", *args], env={**environ, **env}, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def broken_fixtures(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the bundled fixtures with one scenario that breaks the chunk schema; and that file."""
    fixtures = tmp_path / "fixtures"
    shutil.copytree(DEFAULT_FIXTURES, fixtures)
    bad = fixtures / "scenarios" / "broken.yaml"
    bad.write_text(yaml.safe_dump({"name": "broken", "steps": [{"chunk": {"type": "message-start"}}]}))
    return fixtures, bad


@pytest.fixture
def broken_spec(tmp_path: Path) -> Path:
    """A copy of the bundled spec folder whose chat.yaml is not an OpenAPI document."""
    folder = tmp_path / "openapi"
    shutil.copytree(DEFAULT_SPEC.parent, folder)
    (folder / "chat.yaml").write_text("openapi: 3.2.0\ninfo: {title: x, version: '1'}\n")
    return folder / "chat.yaml"


def test_validate_and_serve_both_read_the_fixtures_from_the_environment(broken_fixtures: tuple[Path, Path]) -> None:
    fixtures, bad = broken_fixtures
    env = {"RECOUP_MOCK_FIXTURES": str(fixtures)}
    served = run("serve", "--port", "0", env=env)
    assert served.returncode == 2 and str(bad) in served.stderr, served.stderr
    checked = run("validate", env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert str(bad) in checked.stderr and "message-start" in checked.stderr
    # A flag wins over the environment.
    flagged = run("validate", "--fixtures", str(DEFAULT_FIXTURES), env=env)
    assert (flagged.returncode, flagged.stderr) == (0, "")
    assert str(DEFAULT_FIXTURES) in flagged.stdout


def test_validate_reads_the_spec_from_the_environment(broken_spec: Path) -> None:
    checked = run("validate", env={"RECOUP_MOCK_SPEC": str(broken_spec)})
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert str(broken_spec) in checked.stderr and "paths" in checked.stderr
    flagged = run("validate", "--spec", str(DEFAULT_SPEC), env={"RECOUP_MOCK_SPEC": str(broken_spec)})
    assert flagged.returncode == 0, flagged.stderr


def test_validate_reads_the_profile_from_the_environment() -> None:
    checked = run("validate", env={"RECOUP_MOCK_PROFILE": "deployed"})
    assert checked.returncode == 0, checked.stderr
    assert "(profile deployed)" in checked.stdout
    flagged = run("validate", "--profile", "documented", env={"RECOUP_MOCK_PROFILE": "deployed"})
    assert flagged.returncode == 0 and "profile deployed" not in flagged.stdout
    refused = run("validate", env={"RECOUP_MOCK_PROFILE": "production"})
    assert refused.returncode == 2 and "'production'" in refused.stderr and "deployed" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_proxy_reads_the_spec_from_the_environment(broken_spec: Path) -> None:
    # The spec is loaded before the proxy binds: a broken one stops it at once (exit 2, naming the file).
    refused = run("proxy", "--target", "http://127.0.0.1:9", "--port", "0", env={"RECOUP_MOCK_SPEC": str(broken_spec)},
                  timeout=20)  # one that ignores the variable serves on until killed here
    assert refused.returncode == 2 and str(broken_spec) in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_init_writes_into_the_fixtures_folder_the_environment_names(tmp_path: Path) -> None:
    named = tmp_path / "named"
    written = run("init", env={"RECOUP_MOCK_FIXTURES": str(named)}, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    assert (named / "world.yaml").is_file() and not (tmp_path / "recoup-fixtures").exists()
    # ... which is what serve and validate then read, with no flag.
    assert run("validate", env={"RECOUP_MOCK_FIXTURES": str(named)}).returncode == 0
    # DIR wins over the environment.
    flagged = run("init", str(tmp_path / "given"), env={"RECOUP_MOCK_FIXTURES": str(named)}, cwd=tmp_path)
    assert flagged.returncode == 0 and (tmp_path / "given" / "world.yaml").is_file()
