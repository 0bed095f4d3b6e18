"""The generic responder: how the mock answers an operation of the spec that no handler knows.

A newer spec (or an upstream document) may have routes the mock has no code for. They are served,
not refused: the request goes through the same pipeline (auth, the spec's request validation) and is
answered with the operation's first documented success status and its documented example, else a
value built from its response schema (`mockserver.examples`), seeded by the world's seed, the
operation and how many times the world has answered it: the same requests after a reset give the
same bytes. A value that does not validate against its schema is never sent.
"""

from __future__ import annotations

import json
import random
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from starlette.responses import Response

from ..errors import ApiError
from ..examples import Resolver, Unbuildable, ValueBuilder, documented_example
from ..pipeline import Call
from ..spec import ApiSpec, Operation

#: Media types answered with a JSON value, in order of preference.
JSON_TYPES = ("application/json", "application/problem+json")


@dataclass(frozen=True)
class Plan:
    """What one operation is answered with, worked out once per spec."""

    status: int
    media_type: str | None
    #: The documented example (encoded once), or None to build a value per request.
    example: bytes | None
    schema: Mapping[str, Any] | None
    validator: Any  # jsonschema_rs validator of ``schema``, or None


_plans: weakref.WeakKeyDictionary[ApiSpec, dict[str, Plan]] = weakref.WeakKeyDictionary()


def plan_for(spec: ApiSpec, op: Operation) -> Plan:
    """The answer of ``op`` (cached per spec: a reload brings a new spec and new plans)."""
    plans = _plans.setdefault(spec, {})
    if op.key not in plans:
        plans[op.key] = _plan(spec, op)
    return plans[op.key]


def _success(op: Operation) -> tuple[int, Mapping[str, Any]]:
    """The lowest documented 2xx (``2XX`` counts as 200), else ``default`` as 200."""
    codes = sorted(c for c in op.responses if c[0] == "2" and (c.isdigit() or c == "2XX"))
    if codes:
        return (200 if codes[0] == "2XX" else int(codes[0])), op.responses[codes[0]]
    return 200, op.responses.get("default", {})


def _plan(spec: ApiSpec, op: Operation) -> Plan:
    status, answer = _success(op)
    content: Mapping[str, Any] = answer.get("content") or {}
    if status == 204 or not content:
        return Plan(status, None, b"", None, None)
    media_type = next((m for m in JSON_TYPES if m in content), next(iter(content)))
    media = content[media_type]
    resolver = Resolver(spec.document)
    found, example = documented_example(media, resolver)
    is_json = media_type in JSON_TYPES or media_type.endswith("+json")
    if found:
        encoded = json.dumps(example).encode() if is_json or not isinstance(example, str) else example.encode()
        return Plan(status, media_type, encoded, None, None)
    schema = media.get("schema")
    if not is_json or not isinstance(schema, Mapping):
        return Plan(status, media_type, b"", None, None)  # a stream or text without an example: an empty body
    validator = jsonschema_rs.Draft202012Validator({"components": spec.document.get("components", {}), **schema},
                                                   validate_formats=True)
    return Plan(status, media_type, None, schema, validator)


def body_for(plan: Plan, spec: ApiSpec, seed: int, key: str, count: int) -> bytes:
    """The body of one answer: the example, or a value built with the generator of (seed, key, count)."""
    if plan.example is not None:
        return plan.example
    assert plan.schema is not None
    try:
        value = ValueBuilder(Resolver(spec.document), random.Random(f"{seed}:{key}:{count}")).build(plan.schema)
    except Unbuildable as exc:
        raise ApiError(500, f"The mock has no handler for {key} and cannot build a response for it from the "
                            f"spec: {exc}. Add an example to its success response.") from None
    if not plan.validator.is_valid(value):
        raise ApiError(500, f"The mock has no handler for {key}, and the value it built from the response "
                            f"schema does not validate against it (a pattern or a constraint it cannot meet). "
                            f"Add an example to its success response.")
    return json.dumps(value).encode()


async def respond(call: Call) -> Response:
    """Answer an operation no handler knows, after the pipeline has checked the request."""
    op: Operation = call.request.scope["recoup.op"]
    spec: ApiSpec = call.request.scope["recoup.spec"]
    plan = plan_for(spec, op)
    counts = call.world.store.generated
    counts[op.key] = count = counts.get(op.key, 0) + 1
    body = body_for(plan, spec, call.state.settings.seed, op.key, count)
    return Response(body, status_code=plan.status, media_type=plan.media_type)
