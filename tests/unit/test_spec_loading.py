"""Loading a spec (`ApiSpec`) stays as strict as it was while it does less: a schema the compiled
validator cannot compile, or one openapi-core cannot build a validator for, is refused at load; each
compiled validator, built with only the components its schema reaches, judges as one built with all of
them; openapi-core's validator, which explains a refusal, is built on the first refused value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from mockserver.settings import DEFAULT_ADMIN_SPEC, DEFAULT_SPEC
from mockserver.spec import ApiSpec, load_document, reached_scope

CHAT = load_document(DEFAULT_SPEC)
VALUES: list[Any] = [None, True, 0, 7, -1, 2.5, "", "x", "c4a70000-0000-4000-8000-000000000001", "2026-01-01",
                     [], ["x"], {}, {"title": 7}, {"title": "x"}, {"messages": []}, {"extra": 1},
                     {"messages": [{"role": "user", "parts": [{"type": "text", "text": "hi"}]}]},
                     {"chatId": "c4a70000-0000-4000-8000-000000000001", "messages": [{"role": "user", "content": "x"}]}]


def with_body(document: dict[str, Any], schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """``document`` with ``createSession``'s body schema replaced, and more schemas in its components."""
    document = copy.deepcopy(document)
    document["components"]["schemas"].update(components)
    operation = document["paths"]["/api/sessions"]["post"]
    operation["requestBody"] = {"content": {"application/json": {"schema": schema}}}
    return document


def test_a_broken_schema_reached_through_two_references_is_refused_at_load() -> None:
    document = with_body(CHAT, {"$ref": "#/components/schemas/Outer"},
                         {"Outer": {"properties": {"inner": {"$ref": "#/components/schemas/Inner"}}},
                          "Inner": {"type": "string", "pattern": "["}})
    with pytest.raises(jsonschema_rs.ValidationError, match="regex"):
        ApiSpec(DEFAULT_SPEC, document)


def test_a_broken_schema_nothing_reaches_is_left_alone_as_before() -> None:
    document = with_body(CHAT, {"$ref": "#/components/schemas/Outer"},
                         {"Outer": {"type": "object"}, "Unused": {"type": "string", "pattern": "["}})
    assert ApiSpec(DEFAULT_SPEC, document).operation("createSession") is not None


def test_a_dialect_openapi_core_does_not_know_is_refused_at_load() -> None:
    document = copy.deepcopy(CHAT)
    document["jsonSchemaDialect"] = "https://example.com/no-such-dialect"
    with pytest.raises(ValueError, match="Unknown JSON Schema dialect"):
        ApiSpec(DEFAULT_SPEC, document)


@pytest.mark.parametrize("path", [DEFAULT_SPEC, DEFAULT_ADMIN_SPEC], ids=lambda p: Path(p).name)
def test_each_compiled_validator_judges_as_one_built_with_all_the_components(path: Path) -> None:
    spec = ApiSpec(path)
    components = spec.document.get("components", {})
    checked = 0
    for op in spec.operations:
        for where, checker in [*((p.name, p.validator) for p in op.params), ("body", op.body_validator)]:
            if checker is None:
                continue
            schema = _raw_schema(spec, checker._location)
            full = jsonschema_rs.Draft202012Validator({"components": components, **schema}, validate_formats=True)
            for value in VALUES:
                assert checker.fast.is_valid(value) == full.is_valid(value), (op.key, where, value)
                checked += 1
    assert checked > 100


def _raw_schema(spec: ApiSpec, location: tuple[str | int, ...]) -> Any:
    node: Any = spec.document
    for part in location:
        node = spec.deref(node)[part]
    return node


def test_a_reference_out_of_the_components_or_an_anchor_gets_all_the_components() -> None:
    assert reached_scope(CHAT, {"$ref": "#/paths/x"}) is None
    assert reached_scope(CHAT, {"$ref": "other.yaml#/X"}) is None
    assert reached_scope(CHAT, {"$ref": "#/components/schemas/Nope"}) is None
    assert reached_scope(CHAT, {"items": {"$anchor": "a"}, "$ref": "#/components/schemas/RunId"}) is None
    scope = reached_scope(CHAT, {"$ref": "#/components/schemas/ChatRunRequest"})
    assert scope is not None and "ChatRunRequest" in scope["components"]["schemas"]
    assert len(scope["components"]["schemas"]) < len(CHAT["components"]["schemas"])


def test_openapi_core_is_built_on_the_first_refused_value_and_explains_it() -> None:
    spec = ApiSpec(DEFAULT_SPEC)
    body = spec.operation("createSession").body_validator  # type: ignore[union-attr]
    assert body is not None and "explainer" not in vars(body)
    assert body.problems({"title": "fine"}, "body") == []
    assert "explainer" not in vars(body)
    problems = body.problems({"title": 7}, "body")
    assert "explainer" in vars(body)
    assert [p.where for p in problems] == ["body.title"]
