"""A value for a response schema: the one the spec documents, else one generated from the schema.

Used to answer an operation that no handler knows (a newer spec's route). The spec's own example
wins (``example``, ``examples``, at the media type or at the schema); otherwise a value is built
from the schema, walking ``$ref`` (inside the document), ``allOf``, ``oneOf``/``anyOf`` (the first
branch that gives a valid value), ``const``, ``enum``, ``type`` (3.1 type lists included), the
object's properties (every documented one, so a front end sees the whole shape), the array's
``minItems``, the string formats a front end parses (``uuid``, ``date-time``, ``date``, ``email``,
``uri``) and the numeric bounds. Every choice comes from the ``random.Random`` given, so the same
seed gives the same value. The caller checks the result against the schema (`Unbuildable` when no
valid value could be made, for example for a ``pattern``, which is not modelled).

"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from .errors import SpecError
from .spec import resolve_ref
from .state.store import EPOCH_MS, iso, seeded_uuid

#: How deep a schema may nest (recursive ``$ref``s stop here with the smallest value).
MAX_DEPTH = 12
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")


class Unbuildable(Exception):
    """No value could be built for a schema (a cycle with no way out, a pattern, contradictory bounds)."""


def documented_example(media: Mapping[str, Any], resolve: Resolver) -> tuple[bool, Any]:
    """The example a media type object documents: its ``example``, its first ``examples`` value,
    or its schema's ``example``/``examples``. ``(False, None)`` when there is none."""
    if "example" in media:
        return True, media["example"]
    examples = media.get("examples")
    if isinstance(examples, Mapping) and examples:
        first = resolve.node(next(iter(examples.values())))
        if isinstance(first, Mapping) and "value" in first:
            return True, first["value"]
    schema = resolve.node(media.get("schema", {}))
    if isinstance(schema, Mapping):
        if "example" in schema:
            return True, schema["example"]
        listed = schema.get("examples")
        if isinstance(listed, list) and listed:
            return True, listed[0]
    return False, None


class Resolver:
    """Follows local ``$ref``s in one document (`mockserver.spec.resolve_ref`); a dangling or cyclic one
    makes the value `Unbuildable`."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def node(self, node: Any) -> Any:
        try:
            return resolve_ref(self.document, node)
        except SpecError as exc:
            raise Unbuildable(str(exc)) from None


class ValueBuilder:
    """Builds one value for a schema, every choice drawn from ``rng``."""

    def __init__(self, resolver: Resolver, rng: random.Random) -> None:
        self.resolve = resolver
        self.rng = rng

    def build(self, schema: Any, depth: int = 0) -> Any:
        schema = self.resolve.node(schema)
        if schema is True or schema == {} or schema is None:
            return self._word()
        if schema is False:
            raise Unbuildable("the schema `false` admits no value")
        if not isinstance(schema, Mapping):
            raise Unbuildable(f"not a schema: {schema!r}")
        if depth > MAX_DEPTH:
            raise Unbuildable("the schema nests deeper than a value can be built")
        if "const" in schema:
            return schema["const"]
        if "example" in schema:
            return schema["example"]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.rng.choice(schema["enum"])
        if "allOf" in schema:
            return self.build(self._merged(schema), depth + 1)
        for key in ("oneOf", "anyOf"):
            if key in schema:  # the first branch, with the keywords beside the union applied to it
                branch = self.resolve.node(schema[key][0])
                rest = {k: v for k, v in schema.items() if k not in (key, "discriminator")}
                return self.build({**rest, **branch} if isinstance(branch, Mapping) else branch, depth + 1)
        return self._typed(schema, self._type_of(schema), depth)

    def _merged(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``allOf`` as one schema: properties and required lists joined, other keywords the last's."""
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = self.resolve.node(part)
            if isinstance(part, Mapping) and "allOf" in part:
                part = self._merged(part)
            if not isinstance(part, Mapping):
                continue
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    @staticmethod
    def _type_of(schema: Mapping[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            if "properties" in schema or "required" in schema:
                return "object"
            if "items" in schema:
                return "array"
            return "string"
        return str(kind)

    def _typed(self, schema: Mapping[str, Any], kind: str, depth: int) -> Any:
        if kind == "object":
            properties = schema.get("properties", {})
            return {name: self.build(sub, depth + 1) for name, sub in properties.items()}
        if kind == "array":
            count = max(int(schema.get("minItems", 1)), 1)
            count = min(count, int(schema.get("maxItems", count)))
            return [self.build(schema.get("items", {}), depth + 1) for _ in range(count)]
        if kind == "integer":
            return int(self._number(schema, integer=True))
        if kind == "number":
            return self._number(schema, integer=False)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._string(schema)

    def _number(self, schema: Mapping[str, Any], *, integer: bool) -> float:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        if "exclusiveMinimum" in schema and not isinstance(schema["exclusiveMinimum"], bool):
            low = schema["exclusiveMinimum"] + 1
        high = schema.get("maximum", low + 100)
        if "exclusiveMaximum" in schema and not isinstance(schema["exclusiveMaximum"], bool):
            high = schema["exclusiveMaximum"] - 1
        if high < low:
            raise Unbuildable(f"the bounds {low}..{high} admit no number")
        value: float = self.rng.randint(int(low), int(high)) if integer else round(self.rng.uniform(low, high), 2)
        step = schema.get("multipleOf")
        if step:
            value = (value // step) * step
        return value

    def _string(self, schema: Mapping[str, Any]) -> str:
        fmt = schema.get("format")
        if fmt == "uuid":
            return seeded_uuid(self.rng)
        if fmt == "date-time":
            return iso(EPOCH_MS + self.rng.randrange(86_400_000))
        if fmt == "date":
            return iso(EPOCH_MS + self.rng.randrange(86_400_000))[:10]
        if fmt == "email":
            return f"{self._word()}@example.com"
        if fmt in ("uri", "url", "uri-reference"):
            return f"https://example.com/{self._word()}"
        text = self._word()
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        while len(text) < low:
            text += "-" + self._word()
        if high is not None:
            text = text[: int(high)]
        return text

    def _word(self) -> str:
        return self.rng.choice(_WORDS)
