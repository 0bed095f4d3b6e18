"""The wheel a user gets, built once per session from the repository's files (not from the checkout's
build leftovers, caches or virtualenvs)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

#: The checkout (tests/packaging/ -> the repository's top).
ROOT = Path(__file__).resolve().parents[2]


def repository_files() -> list[str]:
    """What a clean clone holds: tracked files, plus new ones not yet committed (and not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                         capture_output=True, check=True, timeout=60).stdout
    return [name for name in out.decode().split("\0") if name and (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``recoup_mock-<version>-py3-none-any.whl``, built with pip from a copy of the repository's files."""
    clone = tmp_path_factory.mktemp("clone")
    for name in repository_files():
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out),
                            str(clone)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    (found,) = out.glob("recoup_mock-*.whl")
    return found
