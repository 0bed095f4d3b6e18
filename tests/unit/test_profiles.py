"""Profiles are data: every switch names a drift row that exists, and the overlay derives a valid contract."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from oas_patch.overlay import apply_overlay

from mockserver.cli import main
from mockserver.errors import ConfigError
from mockserver.profiles import (
    DRIFT_ROWS,
    PROFILES,
    Behaviour,
    derived_document,
    overlay_applier,
    overlay_path,
    profile_named,
)
from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC
from mockserver.spec import check_document, load_document

DRIFT = Path(__file__).resolve().parents[2] / "docs" / "drift.md"


def drift_rows() -> dict[str, str]:
    """The rows of docs/drift.md's table: first cell -> the `deployed` profile cell."""
    rows = {}
    for line in DRIFT.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 6 and cells[0] not in ("what", "---"):
            rows[cells[0]] = cells[5]
    return rows


def test_every_switch_names_rows_of_drift_md() -> None:
    rows = drift_rows()
    assert len(rows) >= 35
    assert set(DRIFT_ROWS) == {f.name for f in dataclasses.fields(Behaviour)}
    for switch, names in DRIFT_ROWS.items():
        for name in names:
            assert name in rows, f"{switch}: no row {name!r} in docs/drift.md"
            # The row's deployed column says it is reproduced, and by which switch (or the overlay).
            assert rows[name].startswith(("**Yes**", "**Partly**")), (name, rows[name])


def test_deployed_turns_every_switch_and_documented_none() -> None:
    documented, deployed = PROFILES["documented"].behaviour, PROFILES["deployed"].behaviour
    assert documented == Behaviour()
    for f in dataclasses.fields(Behaviour):
        assert getattr(deployed, f.name) != getattr(documented, f.name), f.name


def test_every_overlay_action_names_a_drift_row() -> None:
    rows = drift_rows()
    overlay = yaml.safe_load(overlay_path(DEFAULT_SPEC).read_text(encoding="utf-8"))
    for action in overlay["actions"][1:]:  # the first only retitles the document
        named = re.findall(r"\[([^\]]+)\]", action["description"])
        assert named, action
        for name in named:
            assert name in rows, f"overlay action on {action['target']} names no row: {name!r}"


def test_the_derived_contract_is_valid_and_lacks_the_paths_deployed_lacks() -> None:
    document = derived_document(DEFAULT_SPEC, PROFILES["deployed"])
    check_document(DEFAULT_SPEC, document)
    assert "/api/chat/workflow" not in document["paths"] and "/legacy/api/chat" not in document["paths"]
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["status", "error"]
    assert derived_document(DEFAULT_SPEC, PROFILES["documented"]) == yaml.safe_load(DEFAULT_SPEC.read_text())


def test_an_unknown_profile_names_the_choices() -> None:
    with pytest.raises(ConfigError, match="documented, deployed"):
        profile_named("staging")


def test_validate_checks_the_profiles_contract(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["validate", "--profile", "deployed"]) == 0
    assert "(profile deployed)" in capsys.readouterr().out
    # A spec of one's own brings its own overlay; a broken one is refused with the file named.
    spec = tmp_path / "chat.yaml"
    spec.write_text(DEFAULT_SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "deployed.overlay.yaml").write_text("overlay: 1.0.0\nactions: {}\n", encoding="utf-8")
    assert main(["validate", "--profile", "deployed", "--spec", str(spec), "--fixtures", str(DEFAULT_FIXTURES)]) == 1
    assert "deployed.overlay.yaml is not an OpenAPI Overlay" in capsys.readouterr().err


def test_the_overlay_is_applied_by_oas_patch_own_code_loaded_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    document = load_document(DEFAULT_SPEC)
    overlay = yaml.safe_load(overlay_path(DEFAULT_SPEC, document).read_text(encoding="utf-8"))  # type: ignore[union-attr]
    expected = apply_overlay(copy.deepcopy(document), overlay)
    assert overlay_applier() is not apply_overlay  # the module alone, not the package's import
    assert derived_document(DEFAULT_SPEC, profile_named("deployed"), document) == expected
    # A layout it cannot load the module from alone: the package's own import.
    overlay_applier.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    try:
        assert overlay_applier() is apply_overlay
        assert derived_document(DEFAULT_SPEC, profile_named("deployed"), document) == expected
    finally:
        overlay_applier.cache_clear()
