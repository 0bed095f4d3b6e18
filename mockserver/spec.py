"""The OpenAPI contract as the server uses it: operations, request validation, the chunk schema.

Routes, request validation and the chunk schema that fixtures are checked against all come from
the one document loaded here. Requests are validated with openapi-core's OAS 3.2 schema validators,
built once per parameter and body schema at load (with their ``$ref``s resolved once), against the
operation the router already matched: per request there is only casting and validating. Responses
are not validated here, because that would buffer a stream.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as JsonSchemaError
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.validation.schemas import oas32_schema_validators_factory
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from openapi_core.validation.schemas.validators import SchemaValidator
from starlette.requests import Request

from .errors import ErrorStyle, Problem, SpecError
from .yamlfile import read_yaml

#: The parts of a request `ApiSpec.validate_request` checks: the parameter locations and the body.
ALL_PARTS = frozenset({"path", "query", "header", "cookie", "body"})
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
CHUNK_SCHEMA = "UIMessageChunk"
MAX_MESSAGE = 240
#: A parameter of an OpenAPI path template (``{chatId}``): the one reading of templates (`template_regex`,
#: `template_shape`, `Operation.template_names`).
_TEMPLATE_PARAM = re.compile(r"\{([^{}/]+)\}")


def template_regex(template: str) -> tuple[str, list[str]]:
    """The regex that matches the paths of an OpenAPI path template (for ``re.fullmatch``), one group per
    parameter, and the parameters' names in order: ``/api/chat/{chatId}/stop`` -> ``/api/chat/([^/]+)/stop``,
    ``["chatId"]``. The proxy matches with it, `Specs.lacks` too."""
    # split() with a group alternates literal text and parameter names: escape the one, capture the other.
    parts = _TEMPLATE_PARAM.split(template)
    return "".join(re.escape(part) if i % 2 == 0 else "([^/]+)" for i, part in enumerate(parts)), parts[1::2]


def template_shape(template: str) -> str:
    """A path template without its parameter names (``/api/chat/{}/stream``): two specs' operations at the
    same place compare equal, whatever they call the parameters."""
    return _TEMPLATE_PARAM.sub("{}", template)


@dataclass(frozen=True)
class Operation:
    """One operation of the spec, as the router and the validator need it.

    ``key`` names it everywhere in the server (routes, journal, listings): its ``operationId``, or
    ``"METHOD /path"`` for an operation without one (as upstream documents have)."""

    operation_id: str | None
    key: str
    method: str
    path: str
    has_body: bool
    body_required: bool
    media_types: tuple[str, ...]
    secured: bool
    params: tuple[Param, ...]
    body_validator: Checker | None
    #: The responses as documented, ``$ref``s of the response objects resolved (status code -> object).
    responses: Mapping[str, Any]
    #: The error body shape each documented error status asks for (`errors.ErrorStyle.of_schema`).
    error_styles: Mapping[str, ErrorStyle]

    def error_style(self, status: int) -> ErrorStyle | None:
        """The shape of this operation's error body for ``status``: its own code's, else ``4XX``/``5XX``'s,
        else ``default``'s; None when the spec documents no JSON object for it."""
        styles = self.error_styles
        return styles.get(str(status)) or styles.get(f"{status // 100}XX") or styles.get("default")

    @property
    def template_names(self) -> list[str]:
        """The names in the path template (``chatId`` of ``/api/chat/{chatId}/stream``): routing fills these."""
        return _TEMPLATE_PARAM.findall(self.path)


@dataclass(frozen=True)
class Param:
    """One parameter, with its schema validator built once."""

    name: str
    location: str
    required: bool
    type: str
    validator: Checker
    #: What a request without it is told (the parameter's ``x-error-message``), else "is required".
    missing_rule: str = "is required"


class Checker:
    """One schema, two validators built once from the spec: a compiled one (jsonschema-rs) that
    answers "valid?" on the hot path, and openapi-core's OAS 3.2 validator, which explains why not.
    Only a request that fails the first pays for the second."""

    def __init__(self, explainer: SchemaValidator, schema: Mapping[str, Any], components: Mapping[str, Any]) -> None:
        self.explainer = explainer
        self.fast = jsonschema_rs.Draft202012Validator({"components": components, **schema}, validate_formats=True)

    def problems(self, value: Any, where: str) -> list[Problem]:
        if self.fast.is_valid(value):
            return []
        try:
            self.explainer.validate(value)
        except InvalidSchemaValue as exc:
            return _problems(where, exc.schema_errors)
        # The two disagree (never seen): trust openapi-core, which is the reference here.
        return []


def load_document(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON OpenAPI document."""
    doc = read_yaml(path, lambda why: SpecError(f"Cannot read the OpenAPI document {path}: {why}"))
    if not isinstance(doc, dict) or "paths" not in doc:
        raise SpecError(f"{path} is not an OpenAPI document (no 'paths').")
    return doc


def check_document(path: Path, document: Mapping[str, Any] | None = None, name: str | None = None) -> None:
    """Full structural validation with openapi-spec-validator (slow: for `validate` and tests) of the
    document in ``path``, or of ``document`` (derived from it), called ``name`` in the message."""
    from openapi_spec_validator import validate

    try:
        validate(document if document is not None else load_document(path))
    except Exception as exc:  # the validator raises several unrelated types
        raise SpecError(f"{name or path} is not a valid OpenAPI document: {exc}") from None


class ApiSpec:
    """A loaded spec: its operations, a request validator and (for the chat spec) the chunk schema.

    ``document`` is given for a spec derived from the one in ``path`` (a profile's overlay); ``path``
    still anchors relative references and names the spec in messages."""

    def __init__(self, path: Path, document: dict[str, Any] | None = None) -> None:
        self.path = path
        self.document = document if document is not None else load_document(path)
        # The document is checked by `recoup-mock validate` and the tests; skipping openapi-core's
        # own full check here (about half a second) keeps start-up fast.
        self.openapi = OpenAPI.from_dict(self.document, config=Config(spec_validator_cls=None),
                                         base_uri=path.resolve().as_uri())
        self.operations = list(self._operations())
        self._by_key = {op.key: op for op in self.operations}

    def operation(self, key: str) -> Operation | None:
        """The operation with this `Operation.key` (its operationId, else ``"METHOD /path"``), if any."""
        return self._by_key.get(key)

    def _operations(self) -> Iterator[Operation]:
        paths = self.openapi.spec / "paths"
        for path, item in self.document["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                op = item[method]
                body = self.deref(op.get("requestBody", {}))
                op_path = paths / path / method
                body_validator = None
                if "application/json" in body.get("content", {}):
                    body_schema = op_path / "requestBody" / "content" / "application/json" / "schema"
                    body_validator = self._checker(body_schema, body["content"]["application/json"]["schema"])
                responses = {str(code): self.deref(answer) for code, answer in op.get("responses", {}).items()}
                operation_id = op.get("operationId")
                yield Operation(operation_id, operation_id or f"{method.upper()} {path}", method.upper(), path,
                                "requestBody" in op, bool(body.get("required")), tuple(body.get("content", {})),
                                bool(op.get("security", self.document.get("security", [{}]))),
                                tuple(self._params(paths / path, op_path)), body_validator, responses,
                                self._error_styles(responses))

    def _error_styles(self, responses: Mapping[str, Any]) -> dict[str, ErrorStyle]:
        """The error body shape of each documented 4xx/5xx (and ``default``) JSON answer."""
        styles: dict[str, ErrorStyle] = {}
        for code, answer in responses.items():
            if code[0] not in "45" and code != "default":
                continue
            schema = self.deref(answer.get("content", {}).get("application/json", {}).get("schema"))
            style = ErrorStyle.of_schema(self._flattened(schema)) if isinstance(schema, Mapping) else None
            if style is not None:
                styles[code] = style
        return styles

    def _flattened(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """An object schema with its ``allOf`` parts (and their ``$ref``s) merged: properties and required."""
        flat: dict[str, Any] = {"properties": dict(schema.get("properties", {})),
                                "required": list(schema.get("required", []))}
        for part in schema.get("allOf", []):
            part = self._flattened(self.deref(part))
            flat["properties"].update(part["properties"])
            flat["required"] += part["required"]
        flat["properties"] = {name: self.deref(sub) for name, sub in flat["properties"].items()}
        return flat

    def _checker(self, schema: SchemaPath, raw: Mapping[str, Any]) -> Checker:
        """Validators for one schema, built once, with their $refs resolved once."""
        explainer = oas32_schema_validators_factory.create(self.openapi.spec, schema)
        return Checker(explainer, raw, self.document.get("components", {}))

    def _params(self, item: SchemaPath, operation: SchemaPath) -> Iterator[Param]:
        """The parameters of an operation (its own override the path item's of the same name and place)."""
        found: dict[tuple[str, str], SchemaPath] = {}
        for level in (item, operation):
            if "parameters" in level:
                for param in level / "parameters":
                    found[((param / "name").read_str(), (param / "in").read_str())] = param
        for (name, location), param in found.items():
            doc = self.deref(self._param_doc(param))
            raw = doc.get("schema", {})
            kind = self.deref(raw).get("type", "string")
            yield Param(name, location, (param / "required").read_bool(default=False), str(kind),
                        self._checker(param / "schema", raw), str(doc.get("x-error-message", "is required")))

    @staticmethod
    def _param_doc(param: SchemaPath) -> Any:
        with param.resolve() as resolved:
            return resolved.contents

    def deref(self, node: Any) -> Any:
        """``node`` with its local ``$ref`` followed (`resolve_ref`)."""
        return resolve_ref(self.document, node)

    def validate_request(self, op: Operation, request: Request, body: Any, has_body: bool,
                         parts: Collection[str] = ALL_PARTS) -> list[Problem]:
        """What is wrong with the request's parameters and (parsed JSON) body, one problem each; only
        the ``parts`` named (parameter locations, ``body``): a profile checks some before the others."""
        problems: list[Problem] = []
        for param in op.params:
            if param.location not in parts:
                continue
            where = f"{param.location} parameter '{param.name}'"
            raw = _raw_param(request, param)
            if raw is None:
                if param.required:
                    problems.append(Problem(where, param.missing_rule, missing=param.name))
                continue
            try:
                value = _cast(raw, param.type)
            except ValueError:
                problems.append(Problem(where, _cap(f"{raw!r} is not of type '{param.type}'")))
                continue
            problems += param.validator.problems(value, where)
        if "body" not in parts:
            return problems
        if has_body and op.body_validator is not None:
            problems += op.body_validator.problems(body, "body")
        elif op.body_required and not has_body:
            problems.append(Problem("body", "Missing required request body"))
        return problems

    def chunk_schemas(self) -> ChunkSchemas:
        """The UI message chunk union of this spec, by chunk type; the built-in one (the bundled
        contract's) when this spec has none, as a spec that documents its streams as ``type: string``."""
        return ChunkSchemas(self.document if has_chunk_schema(self.document) else builtin_chunk_document())


def _raw_param(request: Request, param: Param) -> str | None:
    if param.location == "path":
        return request.path_params.get(param.name)
    if param.location == "query":
        # No query string (most requests): nothing to parse.
        return request.query_params.get(param.name) if request.scope.get("query_string") else None
    if param.location == "header":
        return request.headers.get(param.name)
    return request.cookies.get(param.name)


def _cast(raw: str, kind: str) -> Any:
    """A parameter's text as the type its schema declares (simple style: scalars only)."""
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        if raw not in ("true", "false"):
            raise ValueError(raw)
        return raw == "true"
    return raw


def _problems(where: str, errors: Iterable[JsonSchemaError]) -> list[Problem]:
    """Schema errors as `Problem`s, a missing required property named as such. jsonschema gives one
    ``required`` error per absent name, in the keyword's order, without naming it but in prose."""
    problems: list[Problem] = []
    absent_seen: dict[int, int] = {}
    for err in errors:
        missing = None
        if err.validator == "required" and isinstance(err.instance, Mapping) and isinstance(err.validator_value, list):
            absent = [str(n) for n in err.validator_value if n not in err.instance]
            nth = absent_seen.get(id(err.instance), 0)
            absent_seen[id(err.instance)] = nth + 1
            missing = absent[nth] if nth < len(absent) else None
        problems.append(Problem(f"{where}{_pointer(err)}", _cap(_message(err)), missing))
    return problems


def _message(err: JsonSchemaError) -> str:
    """The rule that failed; a spec-given ``x-error-message`` wins."""
    if isinstance(err.schema, Mapping) and "x-error-message" in err.schema:
        return str(err.schema["x-error-message"])
    return str(err.message)


def _cap(line: str) -> str:
    """Cut a rule's text short: messages quote the offending value, which may be huge."""
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE] + "…"


def _pointer(err: JsonSchemaError) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)


#: How long a chain of references may be before it is taken for a cycle.
MAX_REF_CHAIN = 32


def resolve_ref(document: Mapping[str, Any], node: Any) -> Any:
    """``node`` with its local ``$ref`` (``#/components/...``) followed, through chains of them; any other
    node as it is. The one resolver of a document's references (`ApiSpec.deref`, the proxy's conformance
    checks, `mockserver.examples`). A reference to nothing, or a cycle of them, is a `SpecError` naming it."""
    for _ in range(MAX_REF_CHAIN):
        if not (isinstance(node, Mapping) and isinstance(ref := node.get("$ref"), str) and ref.startswith("#/")):
            return node
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise SpecError(f"The reference {ref} points at nothing in the document")
            target = target[part]
        node = target
    raise SpecError(f"The references from {node!r:.80} form a cycle")


def has_chunk_schema(document: Mapping[str, Any]) -> bool:
    """Whether ``document`` defines the UI message chunk union itself."""
    return CHUNK_SCHEMA in document.get("components", {}).get("schemas", {})


@functools.cache
def builtin_chunk_document() -> dict[str, Any]:
    """The bundled contract, where the built-in UI message chunk schema lives (read once)."""
    from .settings import DEFAULT_SPEC

    return load_document(DEFAULT_SPEC)


class ChunkSchemas:
    """Validators for each chunk type of ``components.schemas.UIMessageChunk``.

    The union is split by each branch's ``type`` constant so that an error names the exact field
    (a bare ``oneOf`` only says "not valid under any of the given schemas").
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        schemas = document.get("components", {}).get("schemas", {})
        if CHUNK_SCHEMA not in schemas:
            raise SpecError(f"The spec has no components.schemas.{CHUNK_SCHEMA}: fixtures cannot be checked.")
        self.by_type: dict[str, dict[str, Any]] = {}
        self.patterns: list[tuple[str, dict[str, Any]]] = []
        self._validators: dict[int, Draft202012Validator] = {}
        components = {"components": document["components"]}
        for branch in schemas[CHUNK_SCHEMA].get("oneOf", []):
            resolved = self._resolve(schemas, branch)
            type_schema = resolved.get("properties", {}).get("type", {})
            self._validators[id(resolved)] = Draft202012Validator({**components, **branch},
                                                                  format_checker=Draft202012Validator.FORMAT_CHECKER)
            if "const" in type_schema:
                self.by_type[type_schema["const"]] = resolved
            elif "pattern" in type_schema:
                self.patterns.append((type_schema["pattern"], resolved))
        if not self.by_type:
            raise SpecError(f"components.schemas.{CHUNK_SCHEMA} has no oneOf branches with a 'type' const.")

    @staticmethod
    def _resolve(schemas: Mapping[str, Any], branch: Mapping[str, Any]) -> dict[str, Any]:
        ref = branch.get("$ref", "")
        if ref.startswith("#/components/schemas/"):
            return dict(schemas[ref.rsplit("/", 1)[1]])
        return dict(branch)

    def schema_for(self, chunk_type: str) -> dict[str, Any] | None:
        if chunk_type in self.by_type:
            return self.by_type[chunk_type]
        return next((s for p, s in self.patterns if re.search(p, chunk_type)), None)

    def problems(self, chunk: Any) -> list[str]:
        """Schema problems of one chunk, each naming the field; empty when valid."""
        if not isinstance(chunk, Mapping) or not isinstance(chunk.get("type"), str):
            return ["a chunk must be an object with a string 'type'"]
        schema = self.schema_for(chunk["type"])
        if schema is None:
            known = ", ".join(sorted(self.by_type)) + ", data-*"
            return [f"unknown chunk type '{chunk['type']}'; the spec defines: {known}"]
        validator = self._validators[id(schema)]
        return [f"{'type' if not e.absolute_path else _pointer(e).lstrip('.')}: {e.message}"
                for e in validator.iter_errors(dict(chunk))]
