"""The spec a run loads into Schemathesis: the file as written, but for event streams it leaves as text.

OpenAPI 3.0 and 3.1 have no way to describe the events of a stream (3.2's ``itemSchema``), so documents
written for them, the upstream Recoup documents among them, give ``text/event-stream`` a
``schema: {type: string}``. Schemathesis would validate each event against it (3.1: ``schema`` is one
event), or the whole stream read as an array of events (3.2: ``schema`` covers the stream), and fail
every stream. Every event stream of the Recoup API is an AI SDK UI message stream, so such a media type
gets the built-in event schema instead: the one ``openapi/chat.yaml`` gives its own streams
(``UIMessageStreamEvent``: a ``data`` that is ``[DONE]`` or a JSON ``UIMessageChunk``), taken with
everything it references from chat.yaml as ``mockserver.spec`` reads it, never a copy. It goes in as
``schema`` (3.1) or ``itemSchema`` (3.2), so the same checks judge those streams as chat.yaml's:
``response_schema_conformance`` on every chunk, and the stream checks.

A document that already has chat.yaml's stream schemas, identical, refers to its own; any other gets
them under ``recoup-mock.``-prefixed names, which cannot clash with its own components.

The document is read the way Schemathesis' ``from_path`` reads it (its YAML rules), and relative
``$ref``s still resolve against the file.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import schemathesis
from schemathesis.openapi.loaders import detect_content_type, load_content

from mockserver.settings import DEFAULT_SPEC

if TYPE_CHECKING:
    from schemathesis.config import SchemathesisConfig
    from schemathesis.schemas import BaseSchema
from mockserver.spec import load_document

#: What the built-in stream schemas are called in a document that has other components of those names.
PREFIX = "recoup-mock."
SCHEMAS = "#/components/schemas/"
#: Keywords that say nothing about the value: a string schema with only these is "any text".
ANNOTATIONS = frozenset({"type", "title", "description", "example", "examples", "default", "deprecated", "readOnly",
                         "writeOnly", "$comment", "format", "contentMediaType"})


def load_schema(spec: Path, config: SchemathesisConfig) -> BaseSchema:
    """The Schemathesis schema of ``spec``, its text-only event streams given the built-in event schema."""
    with open(spec, encoding="utf-8") as file:
        document = load_content(file.read(), detect_content_type(headers=None, path=str(spec)))
    schema: BaseSchema = schemathesis.openapi.from_dict(with_event_schemas(document), config=config)
    schema.location = spec.absolute().as_uri()  # as from_path: relative references resolve against the file
    return schema


def with_event_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` (untouched), or a copy whose text-only event streams have the built-in event schema."""
    if not any(True for _ in _text_streams(document)):
        return document
    document = copy.deepcopy(document)
    event, closure = builtin_stream_schemas()
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    names = {name: name for name in closure}
    if any(schemas.get(name, schema) != schema for name, schema in closure.items()):
        names = {name: PREFIX + name for name in closure}
    for name, schema in closure.items():
        renamed = _renamed(schema, names)
        existing = schemas.setdefault(names[name], renamed)
        if existing != renamed:
            raise ValueError(f"components.schemas.{names[name]} is taken by another schema; the suite needs that "
                             "name for the built-in UI message stream schema")
    reference = {"$ref": SCHEMAS + names[event]}
    item_schema = str(document.get("openapi", "")).startswith("3.2")
    for media_type in list(_text_streams(document)):
        if item_schema:
            media_type.pop("schema", None)
            media_type["itemSchema"] = dict(reference)
        else:
            media_type["schema"] = dict(reference)
    return document


@functools.lru_cache(maxsize=1)
def builtin_stream_schemas() -> tuple[str, dict[str, Any]]:
    """The event schema chat.yaml gives its streams (by name) and every component schema it needs, by name."""
    document = load_document(DEFAULT_SPEC)
    schemas: dict[str, Any] = document["components"]["schemas"]
    refs = {media_type["itemSchema"].get("$ref", "") for response in document["components"]["responses"].values()
            for content_type, media_type in (response.get("content") or {}).items()
            if _is_event_stream(content_type) and "itemSchema" in media_type}
    if len(refs) != 1 or not next(iter(refs)).startswith(SCHEMAS):
        raise ValueError(f"{DEFAULT_SPEC.name} should give all its event streams one itemSchema $ref, not {refs}")
    event = next(iter(refs)).removeprefix(SCHEMAS)
    closure: dict[str, Any] = {}
    pending = [event]
    while pending:
        name = pending.pop()
        if name not in closure:
            closure[name] = schemas[name]
            pending += [ref.removeprefix(SCHEMAS) for ref in _refs(schemas[name]) if ref.startswith(SCHEMAS)]
    return event, closure


def _text_streams(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every event-stream media type of a response whose schema is only "a string" (and no ``itemSchema``)."""
    responses: list[Any] = list((document.get("components") or {}).get("responses", {}).values())
    for item in (document.get("paths") or {}).values():
        for operation in (item or {}).values():
            if isinstance(operation, dict):
                responses += list((operation.get("responses") or {}).values())
    for response in responses:
        if not isinstance(response, dict) or "$ref" in response:
            continue  # a reference is to components.responses, walked already
        for content_type, media_type in (response.get("content") or {}).items():
            if _is_event_stream(content_type) and isinstance(media_type, dict) and "itemSchema" not in media_type \
                    and _is_text(media_type.get("schema")):
                yield media_type


def _is_text(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "string" and set(schema) <= ANNOTATIONS


def _is_event_stream(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "text/event-stream"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _renamed(node: Any, names: dict[str, str]) -> Any:
    """A copy of ``node`` whose component references follow ``names``."""
    if isinstance(node, dict):
        copied = {key: _renamed(value, names) for key, value in node.items()}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS) and ref.removeprefix(SCHEMAS) in names:
            copied["$ref"] = SCHEMAS + names[ref.removeprefix(SCHEMAS)]
        return copied
    if isinstance(node, list):
        return [_renamed(value, names) for value in node]
    return node
