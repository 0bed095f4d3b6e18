"""mockserver.examples: a documented example wins; otherwise a seeded value valid against its schema."""

from __future__ import annotations

import random
from typing import Any

import jsonschema_rs
import pytest

from mockserver.examples import Resolver, Unbuildable, ValueBuilder, documented_example
from mockserver.settings import DEFAULT_SPEC
from mockserver.spec import load_document

DOCUMENT: dict[str, Any] = {
    "components": {
        "schemas": {
            "Session": {
                "type": "object",
                "required": ["id", "title", "status"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "title": {"type": "string", "minLength": 3, "maxLength": 50},
                    "status": {"type": "string", "enum": ["running", "archived"]},
                    "artistId": {"type": ["string", "null"], "format": "uuid"},
                    "linesAdded": {"type": "integer", "minimum": 0, "maximum": 5},
                    "createdAt": {"type": "string", "format": "date-time"},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                },
            },
            "Envelope": {"allOf": [{"$ref": "#/components/schemas/Base"},
                                   {"type": "object", "required": ["session"],
                                    "properties": {"session": {"$ref": "#/components/schemas/Session"}}}]},
            "Base": {"type": "object", "required": ["status"], "properties": {"status": {"const": "success"}}},
            "Either": {"oneOf": [{"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}},
                                 {"type": "string"}]},
            "Tree": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Tree"}}},
        }
    }
}


def _valid(schema: dict[str, Any], value: Any, document: dict[str, Any] = DOCUMENT) -> bool:
    validator = jsonschema_rs.Draft202012Validator({"components": document.get("components", {}), **schema},
                                                   validate_formats=True)
    return bool(validator.is_valid(value))


def _build(schema: dict[str, Any], seed: int = 1, document: dict[str, Any] = DOCUMENT) -> Any:
    return ValueBuilder(Resolver(document), random.Random(seed)).build(schema)


@pytest.mark.parametrize("name", ["Session", "Envelope", "Base", "Either"])
def test_a_built_value_is_valid_against_its_schema(name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{name}"}
    for seed in range(20):
        value = _build(schema, seed)
        assert _valid(schema, value), (seed, value)


def test_every_documented_property_is_filled_and_bounds_hold() -> None:
    value = _build({"$ref": "#/components/schemas/Session"})
    assert set(value) == {"id", "title", "status", "artistId", "linesAdded", "createdAt", "tags"}
    assert 3 <= len(value["title"]) <= 50 and 0 <= value["linesAdded"] <= 5 and len(value["tags"]) == 2


def test_the_same_seed_gives_the_same_value_and_another_seed_another() -> None:
    schema = {"$ref": "#/components/schemas/Session"}
    assert _build(schema, 7) == _build(schema, 7)
    assert len({repr(_build(schema, seed)) for seed in range(10)}) > 1


def test_a_recursive_schema_stops_instead_of_looping() -> None:
    with pytest.raises(Unbuildable):
        _build({"$ref": "#/components/schemas/Tree"})


def test_a_dangling_ref_is_unbuildable_with_its_name() -> None:
    with pytest.raises(Unbuildable, match="Missing"):
        _build({"$ref": "#/components/schemas/Missing"})


def test_contradictory_bounds_are_unbuildable() -> None:
    with pytest.raises(Unbuildable, match="bounds"):
        _build({"type": "integer", "minimum": 5, "maximum": 1})


def test_the_documented_example_wins_at_every_level() -> None:
    resolver = Resolver(DOCUMENT)
    assert documented_example({"example": {"a": 1}, "schema": {"type": "object"}}, resolver) == (True, {"a": 1})
    assert documented_example({"examples": {"one": {"value": [1]}}}, resolver) == (True, [1])
    assert documented_example({"schema": {"type": "string", "examples": ["x"]}}, resolver) == (True, "x")
    assert documented_example({"schema": {"type": "string"}}, resolver) == (False, None)
    assert _build({"type": "object", "properties": {"n": {"type": "integer", "example": 42}}}) == {"n": 42}


def test_every_json_response_of_the_projects_spec_gets_a_valid_value() -> None:
    document = load_document(DEFAULT_SPEC)
    resolver = Resolver(document)
    checked = 0
    for item in document["paths"].values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            for response in op.get("responses", {}).values():
                media = resolver.node(response).get("content", {}).get("application/json")
                if media is None or "schema" not in media:
                    continue
                value = ValueBuilder(resolver, random.Random(3)).build(media["schema"])
                assert _valid(media["schema"], value, document), (op.get("operationId"), value)
                checked += 1
    assert checked > 20
