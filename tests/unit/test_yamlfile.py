"""`yamlfile.Loader` gives what PyYAML's safe loader gives, value for value and type for type (aliases
shared the same way), and the same errors: it only builds plain documents faster."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockserver.yamlfile import SAFE_LOADER, Loader

ROOT = Path(__file__).resolve().parents[2]
TRICKY = {
    "scalars": "a: 1\nb: 0x1f\nc: 0o17\nd: 1_000\ne: 190:20:30\nf: 1.5e3\ng: .inf\nh: -.inf\ni: .nan\nj: yes\n"
               "k: ~\nl: null\nm: 2026-01-02\nn: 2026-01-02T03:04:05Z\no: 2026-01-02 03:04:05.5+01:00\n"
               "p: !!binary aGVsbG8=\nq: '1'\nr: !!str 2\ns: !!int '3'\nt: !!float '4'\nu: ''\nv:\n",
    "keys": "1: one\n1.5: x\ntrue: t\n~: n\n2026-01-02: d\n[1, 2]: unhashable\n",
    "duplicate keys": "a: 1\na: 2\n",
    "aliases": "base: &b {x: [1, 2], y: text}\nagain: *b\nlist: &l [a, b]\nboth: [*l, *l]\ns: &s word\nt: *s\n",
    "merge": "base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\nmany:\n  <<: [*b, {z: 4}]\n",
    "value key": "a:\n  =: 1\n",
    "set": "!!set {a: null, b: null}\n",
    "omap": "!!omap [a: 1, b: 2]\n",
    "pairs": "!!pairs [a: 1, a: 2]\n",
    "recursive": "&r {self: *r, n: 1}\n",
    "recursive list": "&r [1, *r]\n",
    "nested": "a: {b: {c: [{d: [1, [2, [3, {e: f}]]]}]}}\n",
    "unknown tag": "a: !thing 1\n",
    "python tag": "a: !!python/tuple [1, 2]\n",
    "syntax": "a: [1, 2\nb: 3\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "empty": "",
    "comment only": "# nothing\n",
    "scalar document": "just text\n",
    "unicode": "é: \"\\u00e9 \\U0001F600\"\nk: ünïcode\n",
}


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (a NaN is the same as a NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(k1, k2) and same(a[k1], b[k2]) for k1, k2 in zip(a, b, strict=True))
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def load(text: str, loader: type[Any]) -> tuple[str, Any]:
    try:
        return "value", yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        return "error", f"{type(exc).__name__}: {exc}"


def repository_yaml() -> list[Path]:
    return sorted(path for pattern in ("openapi/*.yaml", "fixtures/**/*.yaml", "contracts/**/*.yaml",
                                       "examples/**/*.yaml", "tests/**/*.yaml")
                  for path in ROOT.glob(pattern) if "node_modules" not in path.parts)


def test_every_yaml_file_of_the_repository_reads_the_same() -> None:
    paths = repository_yaml()
    assert len(paths) >= 20
    for path in paths:
        text = path.read_text(encoding="utf-8")
        (kind, mine), (expected_kind, theirs) = load(text, Loader), load(text, SAFE_LOADER)
        assert kind == expected_kind and (same(mine, theirs) if kind == "value" else mine == theirs), path


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_a_tricky_document_reads_the_same(name: str) -> None:
    (kind, mine), (expected_kind, theirs) = load(TRICKY[name], Loader), load(TRICKY[name], SAFE_LOADER)
    assert kind == expected_kind
    if kind == "error":
        assert mine == theirs
    elif name.startswith("recursive"):
        assert repr(mine) == repr(theirs)
    else:
        assert same(mine, theirs), (mine, theirs)


def test_aliases_share_their_value_as_with_pyyaml() -> None:
    mine = yaml.load(TRICKY["aliases"], Loader=Loader)
    assert mine["again"] is mine["base"] and mine["both"][0] is mine["both"][1] is mine["list"]


def test_a_constructor_registered_for_a_plain_tag_is_used() -> None:
    class Upper(Loader):  # type: ignore[misc,valid-type]
        pass

    Upper.add_constructor("tag:yaml.org,2002:str", lambda loader, node: node.value.upper())
    assert yaml.load("a: b\n", Loader=Upper) == {"A": "B"}
