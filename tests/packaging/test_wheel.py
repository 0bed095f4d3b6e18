"""The distribution as a user gets it: a wheel built from the repository's files.

It adds one name to site-packages, ``mockserver``: the contract suite is ``mockserver.contracts``
and the bundled spec and fixture world are its package data, never top-level ``contracts``,
``openapi`` or ``fixtures`` packages (names other projects use).
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

# The `wheel` fixture (tests/packaging/conftest.py) builds it from the repository's files.


def test_the_wheel_adds_only_the_mockserver_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = archive.read(next(n for n in names if n.endswith(".dist-info/top_level.txt"))).decode().split()
    assert {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")} == {"mockserver"}
    assert top_level == ["mockserver"]
    assert "mockserver/contracts/runner.py" in names
    assert "mockserver/contracts/baselines/production.json" in names
    bundled = {"openapi/chat.yaml", "openapi/admin.yaml", "openapi/proxy-admin.yaml", "fixtures/world.yaml",
               "fixtures/scenarios/default.yaml"}
    assert {f"mockserver/bundled/{name}" for name in bundled} <= set(names)


def test_the_suite_is_imported_under_the_project_namespace(tmp_path: Path) -> None:
    # Outside the checkout, only the installed names exist.
    code = ("import importlib.util as u; import mockserver.contracts.runner; "
            "print(u.find_spec('contracts') is None)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "True"
