"""`ChunkSchemas` judges a chunk as jsonschema does, though a compiled validator answers first for the
branches it reads the same way (so that a fixture that loads needs no jsonschema at start-up): each
chunk of the bundled scenarios, and each of many broken copies, gets the problems jsonschema finds."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC
from mockserver.spec import CHUNK_SCHEMA, ChunkSchemas, _pointer, exact_scope, load_document
from mockserver.streams.scenarios import load_scenarios

DOCUMENT = load_document(DEFAULT_SPEC)
#: Values of each JSON type, and strings Python's and ECMA's regex classes read differently
#: (``\x1c`` is a space to Python's ``\s``, not to ECMA's; ``\r`` is no line end to Python's ``.``).
ODD_VALUES: list[Any] = [None, True, 0, 1.0, -3, 2**70, "", " ", "\x1c", "\r", "data-\r", "data-x", [], {}, ["x"],
                         {"a": 1}]


def expected(document: Mapping[str, Any], chunk: Mapping[str, Any], schemas: ChunkSchemas) -> list[str]:
    """The problems jsonschema alone finds (what `ChunkSchemas.problems` said before it had a fast path)."""
    schema = schemas.schema_for(str(chunk.get("type")))
    assert schema is not None
    branch = next(b for b in document["components"]["schemas"][CHUNK_SCHEMA]["oneOf"]
                  if schemas._resolve(document["components"]["schemas"], b) == schema)
    validator = Draft202012Validator({"components": document["components"], **branch},
                                     format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [f"{'type' if not e.absolute_path else _pointer(e).lstrip('.')}: {e.message}"
            for e in validator.iter_errors(dict(chunk))]


def broken_copies(chunk: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """``chunk`` with each field dropped, and each field (and one new one) set to each of `ODD_VALUES`."""
    for key in chunk:
        if key != "type":
            yield {k: v for k, v in chunk.items() if k != key}
    for key in [*chunk, "extra"]:
        if key != "type":
            for value in ODD_VALUES:
                yield {**chunk, key: copy.deepcopy(value)}


def bundled_chunks() -> list[dict[str, Any]]:
    chunks = []
    for scenario in load_scenarios(DEFAULT_FIXTURES / "scenarios").values():
        chunks += [dict(item.chunk) for item in scenario.items if item.chunk is not None]
    return chunks


def test_every_bundled_chunk_type_is_judged_by_a_compiled_validator() -> None:
    schemas = ChunkSchemas(DOCUMENT)
    assert [t for t, s in schemas.by_type.items() if schemas._fast_for(s) is None] == []


def test_bundled_chunks_and_their_broken_copies_get_what_jsonschema_finds() -> None:
    schemas = ChunkSchemas(DOCUMENT)
    seen_types = set()
    checked = 0
    for chunk in bundled_chunks():
        seen_types.add(chunk["type"])
        for variant in [chunk, *broken_copies(chunk)]:
            assert schemas.problems(variant) == expected(DOCUMENT, variant, schemas), variant
            checked += 1
    assert len(seen_types) >= 10 and checked > 1000


def spec_with_branch(properties: dict[str, Any]) -> dict[str, Any]:
    """The bundled document with one more chunk branch, ``type: probe``, of these properties."""
    document = copy.deepcopy(DOCUMENT)
    document["components"]["schemas"]["ChunkProbe"] = {
        "type": "object", "required": ["type", "value"], "additionalProperties": False,
        "properties": {"type": {"const": "probe"}, **properties}}
    document["components"]["schemas"][CHUNK_SCHEMA]["oneOf"].append({"$ref": "#/components/schemas/ChunkProbe"})
    return document


@pytest.mark.parametrize("value_schema", [
    {"type": "string", "pattern": r"\S"},  # Python's \s is not ECMA's: jsonschema's reading holds
    {"type": "string", "pattern": r"^a.$"},
    {"type": "string", "format": "uuid"},  # a format: jsonschema alone (its checkers depend on what is installed)
    {"type": "string", "format": "date-time"},
    {"type": "integer", "multipleOf": 3},  # not in the shared set: jsonschema alone
    {"anyOf": [{"type": "integer", "minimum": 2}, {"const": "x"}]},
    {"$ref": "#/components/schemas/ProviderMetadata"},
])
def test_a_branch_of_any_keywords_gets_what_jsonschema_finds(value_schema: dict[str, Any]) -> None:
    document = spec_with_branch({"value": value_schema})
    schemas = ChunkSchemas(document)
    for value in [*ODD_VALUES, "a\n", "ab\n", "\x1c\x1d", "8a2f5a1e-8f9b-4a62-9d0e-0b5c8b2a4e11", "not-a-uuid",
                  "2026-01-01T00:00:00Z", "2026-13-01T00:00:00Z", 6, 7, 2.0]:
        chunk = {"type": "probe", "value": value}
        assert schemas.problems(chunk) == expected(document, chunk, schemas), chunk


def test_a_branch_with_a_keyword_outside_the_shared_set_has_no_compiled_validator() -> None:
    assert exact_scope(DOCUMENT, {"type": "string", "format": "uuid"}) is None
    assert exact_scope(DOCUMENT, {"$ref": "#/components/schemas/Nope"}) is None
    assert exact_scope(DOCUMENT, {"properties": {"a": {"$anchor": "x"}}}) is None
    scope = exact_scope(DOCUMENT, {"$ref": "#/components/schemas/ChunkTextDelta"})
    assert scope is not None and set(scope["components"]["schemas"]) >= {"ChunkTextDelta"}
