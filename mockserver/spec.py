"""The OpenAPI contract as the server uses it: operations, request validation, the chunk schema.

Routes, request validation and the chunk schema that fixtures are checked against all come from
the one document loaded here. Requests are validated against the operation the router already
matched, by a compiled validator (jsonschema-rs) per parameter and body schema, built at load: a
schema the validator cannot compile stops the load. Only a value that fails it is explained, by
openapi-core's OAS 3.2 schema validator, which is built (and openapi-core imported, a third of a
second) on the first such value: start-up reads the document as plain data. Responses are not
validated here, because that would buffer a stream.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from .errors import ErrorStyle, Problem, SpecError
from .yamlfile import read_yaml

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError as JsonSchemaError
    from openapi_core import OpenAPI
    from openapi_core.validation.schemas.validators import SchemaValidator
    from starlette.requests import Request

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


#: Where a schema is in its document: the keys (and list indexes) from the root (``paths``, a path,
#: a method, ``parameters``, 0, ``schema``), as openapi-core's `SchemaPath` walks them.
Location = tuple[str | int, ...]


class Checker:
    """One schema, two validators: a compiled one (jsonschema-rs, built with the spec) that answers
    "valid?" on the hot path, and openapi-core's OAS 3.2 validator, which explains why not. Only a
    request that fails the first pays for the second, built on the first such request."""

    def __init__(self, spec: ApiSpec, location: Location, fast: jsonschema_rs.Validator) -> None:
        self._spec = spec
        self._location = location
        self.fast = fast

    @functools.cached_property
    def explainer(self) -> SchemaValidator:
        """openapi-core's validator of this schema, its ``$ref``s resolved once (built on first use)."""
        from openapi_core.validation.schemas import oas32_schema_validators_factory

        return oas32_schema_validators_factory.create(self._spec.openapi.spec, self._spec.schema_path(self._location))

    def problems(self, value: Any, where: str) -> list[Problem]:
        if self.fast.is_valid(value):
            return []
        from openapi_core.validation.schemas.exceptions import InvalidSchemaValue

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
        #: Compiled validators by the schema object they check (kept with it, so that its id stays its
        #: own): a schema shared through a ``$ref`` (a parameter several operations use) is compiled once.
        self._compiled: dict[int, tuple[Any, jsonschema_rs.Validator]] = {}
        self.operations = list(self._operations())
        self._by_key = {op.key: op for op in self.operations}

    @functools.cached_property
    def openapi(self) -> OpenAPI:
        """openapi-core's view of the document, for the explainers (`Checker.explainer`): built, and
        openapi-core imported, on first use. The document is checked by `recoup-mock validate` and the
        tests; skipping openapi-core's own full check here (about half a second) keeps that fast too."""
        from openapi_core import Config, OpenAPI

        return OpenAPI.from_dict(self.document, config=Config(spec_validator_cls=None),
                                 base_uri=self.path.resolve().as_uri())

    def schema_path(self, location: Location) -> Any:
        """openapi-core's `SchemaPath` of the node at ``location``, following ``$ref``s on the way."""
        return functools.reduce(operator.truediv, location, self.openapi.spec)

    def operation(self, key: str) -> Operation | None:
        """The operation with this `Operation.key` (its operationId, else ``"METHOD /path"``), if any."""
        return self._by_key.get(key)

    def _operations(self) -> Iterator[Operation]:
        for path, item in self.document["paths"].items():
            for method in METHODS:
                if method not in item:
                    continue
                op = item[method]
                body = self.deref(op.get("requestBody", {}))
                body_validator = None
                if "application/json" in body.get("content", {}):
                    body_validator = self._checker(
                        ("paths", path, method, "requestBody", "content", "application/json", "schema"),
                        body["content"]["application/json"]["schema"])
                responses = {str(code): self.deref(answer) for code, answer in op.get("responses", {}).items()}
                operation_id = op.get("operationId")
                yield Operation(operation_id, operation_id or f"{method.upper()} {path}", method.upper(), path,
                                "requestBody" in op, bool(body.get("required")), tuple(body.get("content", {})),
                                bool(op.get("security", self.document.get("security", [{}]))),
                                tuple(self._params(path, method, item, op)), body_validator, responses,
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

    def _checker(self, location: Location, raw: Mapping[str, Any]) -> Checker:
        """The validators of the schema ``raw`` at ``location``; the compiled one built now (a schema it
        cannot compile is refused here, at load), once per schema object."""
        refs = list(_references(raw))
        if id(raw) not in self._compiled:
            # Compiled with the components it reaches (none, without a reference), a schema validates
            # and is refused exactly as with all of them, in a fraction of the time.
            scope = reached_scope(self.document, raw) if refs else {}
            if scope is None:
                scope = {"components": self.document.get("components", {})}
            self._compiled[id(raw)] = raw, jsonschema_rs.Draft202012Validator({**scope, **raw}, validate_formats=True)
        checker = Checker(self, location, self._compiled[id(raw)][1])
        if ("jsonSchemaDialect" in self.document or any(not ref.startswith("#") for ref in refs)
                or (isinstance(schema := self.deref(raw), Mapping) and "$schema" in schema)):
            # What building openapi-core's validator can refuse (a dialect it does not know, a reference
            # out of the document it cannot read) is refused at load, as a spec that compiles is.
            checker.explainer  # noqa: B018 (built for its checks)
        return checker

    def _params(self, path: str, method: str, item: Mapping[str, Any], op: Mapping[str, Any]) -> Iterator[Param]:
        """The parameters of an operation (its own override the path item's of the same name and place)."""
        found: dict[tuple[str, str], tuple[Mapping[str, Any], Location]] = {}
        for level, node in ((("paths", path), item), (("paths", path, method), op)):
            for index, param in enumerate(node.get("parameters", [])):
                where = (*level, "parameters", index)
                doc = self.deref(param)
                if isinstance(doc, Mapping) and "$ref" in doc:  # a reference out of the document: openapi-core reads it
                    with self.schema_path(where).resolve() as resolved:
                        doc = resolved.contents
                found[(str(doc["name"]), str(doc["in"]))] = doc, where
        for (name, location), (doc, where) in found.items():
            raw = doc.get("schema", {})
            kind = self.deref(raw).get("type", "string")
            yield Param(name, location, bool(doc.get("required", False)), str(kind),
                        self._checker((*where, "schema"), raw), str(doc.get("x-error-message", "is required")))

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


def _references(node: Any) -> Iterator[str]:
    """Every reference (``$ref``, ``$dynamicRef``) in the schema ``node``, however deep (a key of that
    name that is no reference, a property called ``$ref``, counts too: a false "yes" only costs time)."""
    if isinstance(node, Mapping):
        for key, sub in node.items():
            if key in ("$ref", "$dynamicRef"):
                yield str(sub)
            yield from _references(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _references(sub)


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


#: The keywords whose values are data, not schemas, and whose meaning jsonschema-rs and jsonschema share
#: exactly for the values JSON has (``pattern`` read with Python's ``re`` in both: `_PythonPattern`).
EXACT_DATA_KEYWORDS = frozenset({
    "type", "const", "enum", "required", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties", "pattern",
    "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "$comment"})
#: The keywords that hold subschemas, the same in both: a map of them, a list of them, one.
EXACT_SCHEMA_MAPS = frozenset({"properties", "$defs"})
EXACT_SCHEMA_LISTS = frozenset({"oneOf", "anyOf", "allOf", "prefixItems"})
EXACT_SCHEMA_ONE = frozenset({"items", "not", "additionalProperties"})


class _PythonPattern:
    """``pattern`` as jsonschema reads it (``re.search``, Python's syntax and classes: its ``\\s`` is not
    ECMA's), for the compiled chunk validators: a jsonschema-rs custom keyword."""

    def __init__(self, parent_schema: Mapping[str, Any], value: Any, schema_path: list[str | int]) -> None:
        self.pattern = value

    def validate(self, instance: Any) -> None:
        if isinstance(instance, str) and not re.search(self.pattern, instance):
            raise ValueError(f"{instance!r} does not match {self.pattern!r}")


def exact_scope(document: Mapping[str, Any], schema: Any) -> dict[str, Any] | None:
    """The components ``schema`` reaches (`reached_scope`), when every keyword it uses on the way is one
    whose meaning jsonschema-rs shares with jsonschema (`EXACT_DATA_KEYWORDS`, the ``EXACT_SCHEMA_*``
    ones, ``x-`` annotations); None for any other schema. Compiled in that scope, the schema says "valid"
    exactly when jsonschema would."""
    return _scope(document, schema, exact=True)


def reached_scope(document: Mapping[str, Any], schema: Any) -> dict[str, Any] | None:
    """The components ``schema`` reaches through its references, ``{"components": {section: {name: ...}}}``,
    when each is a pointer into the components and nothing on the way is found otherwise than by its
    pointer (`NAMING_KEYWORDS`); None for any other schema. Compiled in that scope, a schema validates,
    and is refused for what it reaches, as in all the components, for a fraction of the time."""
    return _scope(document, schema, exact=False)


#: Keywords that identify a schema or find one otherwise than by its pointer.
NAMING_KEYWORDS = frozenset({"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor"})


def _scope(document: Mapping[str, Any], schema: Any, exact: bool) -> dict[str, Any] | None:
    """`exact_scope` (``exact``: only the shared keywords) or `reached_scope` (any keyword, any value
    walked: a reference in a ``const`` counts too, which only costs a wider scope or None)."""
    components = document.get("components", {})
    reached: dict[str, dict[str, Any]] = {}
    followed: set[str] = set()
    todo = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, list) and not exact:
            todo += node
            continue
        if not isinstance(node, Mapping):
            if exact and not isinstance(node, bool):
                return None
            continue
        for key, value in node.items():
            if key == "$ref":
                if not (isinstance(value, str) and value.startswith("#/components/")):
                    return None
                if value in followed:
                    continue
                followed.add(value)
                section, _, rest = value[len("#/components/"):].partition("/")
                name = rest.partition("/")[0].replace("~1", "/").replace("~0", "~")
                entry = components.get(section, {}).get(name) if isinstance(components.get(section), Mapping) else None
                if entry is None:
                    return None
                reached.setdefault(section, {})[name] = entry
                try:
                    todo.append(resolve_ref(document, {"$ref": value}))
                except SpecError:
                    return None
            elif not exact:
                if key in NAMING_KEYWORDS:
                    return None
                todo.append(value)
            elif key in EXACT_DATA_KEYWORDS or (isinstance(key, str) and key.startswith("x-")):
                continue
            elif key in EXACT_SCHEMA_ONE:
                todo.append(value)
            elif key in EXACT_SCHEMA_LISTS and isinstance(value, list):
                todo += value
            elif key in EXACT_SCHEMA_MAPS and isinstance(value, Mapping):
                todo += value.values()
            else:
                return None
    return {"components": reached}


class ChunkSchemas:
    """Validators for each chunk type of ``components.schemas.UIMessageChunk``.

    The union is split by each branch's ``type`` constant so that an error names the exact field
    (a bare ``oneOf`` only says "not valid under any of the given schemas"). jsonschema judges and
    explains a chunk; a branch whose keywords jsonschema-rs reads the same way (`exact_scope`) is first
    asked of a compiled validator, so that a valid chunk (every chunk of a loading fixture) costs neither
    jsonschema's import nor its time. Each validator is built on its first chunk.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        schemas = document.get("components", {}).get("schemas", {})
        if CHUNK_SCHEMA not in schemas:
            raise SpecError(f"The spec has no components.schemas.{CHUNK_SCHEMA}: fixtures cannot be checked.")
        self.by_type: dict[str, dict[str, Any]] = {}
        self.patterns: list[tuple[str, dict[str, Any]]] = []
        self._document = document
        #: The branch each resolved schema of `by_type` and `patterns` came from, which chunks are checked by.
        self._branches: dict[int, Mapping[str, Any]] = {}
        self._validators: dict[int, Draft202012Validator] = {}
        self._fast: dict[int, jsonschema_rs.Validator | None] = {}
        for branch in schemas[CHUNK_SCHEMA].get("oneOf", []):
            resolved = self._resolve(schemas, branch)
            type_schema = resolved.get("properties", {}).get("type", {})
            self._branches[id(resolved)] = branch
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

    def _fast_for(self, schema: Mapping[str, Any]) -> jsonschema_rs.Validator | None:
        """The compiled validator of ``schema``'s branch whose "valid" is jsonschema's, or None."""
        if id(schema) not in self._fast:
            branch = self._branches[id(schema)]
            scope = exact_scope(self._document, branch)
            try:
                fast = None if scope is None else jsonschema_rs.Draft202012Validator(
                    {**scope, **branch}, keywords={"pattern": _PythonPattern})
            except (jsonschema_rs.ValidationError, ValueError):  # what it cannot compile, jsonschema judges
                fast = None
            self._fast[id(schema)] = fast
        return self._fast[id(schema)]

    def _validator_for(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        if id(schema) not in self._validators:
            from jsonschema import Draft202012Validator

            self._validators[id(schema)] = Draft202012Validator(
                {"components": self._document["components"], **self._branches[id(schema)]},
                format_checker=Draft202012Validator.FORMAT_CHECKER)
        return self._validators[id(schema)]

    def problems(self, chunk: Any) -> list[str]:
        """Schema problems of one chunk, each naming the field; empty when valid."""
        if not isinstance(chunk, Mapping) or not isinstance(chunk.get("type"), str):
            return ["a chunk must be an object with a string 'type'"]
        schema = self.schema_for(chunk["type"])
        if schema is None:
            known = ", ".join(sorted(self.by_type)) + ", data-*"
            return [f"unknown chunk type '{chunk['type']}'; the spec defines: {known}"]
        instance = dict(chunk)
        fast = self._fast_for(schema)
        try:
            if fast is not None and fast.is_valid(instance):
                return []
        except ValueError:  # a value JSON has no type for (a date YAML read): jsonschema judges it
            pass
        return [f"{'type' if not e.absolute_path else _pointer(e).lstrip('.')}: {e.message}"
                for e in self._validator_for(schema).iter_errors(instance)]
