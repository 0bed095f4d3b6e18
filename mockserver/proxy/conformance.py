"""Is an exchange what the spec says? Requests, finite responses and streams, judged against a profile's contract.

`Conformance` matches a request to its operation and checks it (parameters, content type, body
schema), then the response: a documented status, the documented required headers and their
schemas, a documented content type and, for JSON, the body schema. A stream is judged event by
event as it passes (`StreamCheck`): each ``data`` against the chunk schema of the spec's
``itemSchema``, and the order against the rules clients enforce (`mockserver.streams.rules`, strictness
``clients``). Nothing here buffers a stream or changes what it judges; every problem is a
`Finding` with a stable ``rule`` key, a ``where`` and a message. What cannot be judged (JSON nested
deeper than the parser follows) is a finding too, ``unchecked``, never an exception: the proxy passes
it on as it came and says it did not check it. Used by ``recoup-mock proxy``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from starlette.requests import Request

from ..profiles import Behaviour
from ..spec import ApiSpec, ChunkSchemas, Operation, template_regex
from ..streams.rules import CLIENTS, DONE, RULE_UNCHECKED, TOO_DEEP, StreamRules
from ..streams.sse import EventDecoder, SseEvent

#: The proxy's own rule keys; a stream's ordering rules use `mockserver.streams.rules`' keys, and so does what could
#: not be judged (`RULE_UNCHECKED`, the same for a body as for an event).
RULE_OPERATION = "request-operation"
RULE_REQUEST_CONTENT_TYPE = "request-content-type"
RULE_REQUEST_SCHEMA = "request-schema"
RULE_STATUS = "response-status"
RULE_HEADER = "response-header"
RULE_CONTENT_TYPE = "response-content-type"
RULE_BODY = "response-body"
RULE_SCHEMA = "response-schema"
RULE_CHUNK_SCHEMA = "chunk-schema"
#: Schema errors reported per body at most (the rest say nothing new).
MAX_SCHEMA_ERRORS = 5


@dataclass(frozen=True)
class Finding:
    """One thing the exchange does that the spec does not allow."""

    rule: str
    where: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"rule": self.rule, "where": self.where, "message": self.message}


@dataclass(frozen=True)
class Matched:
    """The operation a request is for, with its path's template and the responses it documents."""

    operation: Operation
    responses: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.operation.method} {self.operation.path}"


class Conformance:
    """The checks of one contract (a profile's spec, and its behaviour's content-type leniency)."""

    def __init__(self, spec: ApiSpec, behaviour: Behaviour) -> None:
        self.spec = spec
        self.behaviour = behaviour
        self.chunks: ChunkSchemas = spec.chunk_schemas()
        self._components = spec.document.get("components", {})
        self._validators: dict[int, Draft202012Validator] = {}
        # Literal segments first: /api/chat/runs before /api/chat/{chatId}.
        ops = sorted(spec.operations, key=lambda op: -sum(not s.startswith("{") for s in op.path.split("/")))
        self._routes = [(re.compile(regex), names, op) for op in ops for regex, names in [template_regex(op.path)]]

    def match(self, method: str, path: str) -> tuple[Matched, dict[str, str]] | None:
        """The operation at ``method`` and ``path``, and the path's parameters. A HEAD is the GET without its
        body (RFC 9110 §9.3.2): it is judged as that GET (its status and headers; it has no body to judge)."""
        method = "GET" if method == "HEAD" else method
        for pattern, names, op in self._routes:
            if op.method == method and (found := pattern.fullmatch(path)):
                item = self.spec.document["paths"][op.path][method.lower()]
                responses = {str(k): self.spec.deref(v) for k, v in item.get("responses", {}).items()}
                return Matched(op, responses), dict(zip(names, found.groups(), strict=True))
        return None

    def check_request(self, scope: Mapping[str, Any], body: bytes) -> tuple[Matched | None, list[Finding]]:
        """The operation of the request in ``scope`` (None when the spec has none) and what is wrong with it."""
        method, path = scope["method"], scope["path"]
        found = self.match(method, path)
        if found is None:
            paths = sorted({f"{op.method} {op.path}" for op in self.spec.operations if op.path == path})
            also = f"; at this path the spec has {', '.join(paths)}" if paths else ""
            return None, [Finding(RULE_OPERATION, "request", f"the spec has no operation at {method} {path}{also}")]
        matched, params = found
        op = matched.operation
        request = Request({**scope, "path_params": params})
        findings: list[Finding] = []
        parsed: Any = None
        if body:
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media not in op.media_types and not self.behaviour.json_whatever_content_type:
                findings.append(Finding(RULE_REQUEST_CONTENT_TYPE, "request header content-type",
                                        f"{media or '(none)'!r} is not one of {', '.join(op.media_types) or 'none'} "
                                        f"({matched.label})"))
            try:
                parsed = json.loads(body)
            except RecursionError:
                findings.append(Finding(RULE_UNCHECKED, "body", f"{TOO_DEEP}: the request's schema is not checked "
                                                                f"({matched.label})"))
                return matched, findings
            except ValueError as exc:
                findings.append(Finding(RULE_REQUEST_SCHEMA, "body", f"not JSON: {exc}"))
                return matched, findings
        for problem in self.spec.validate_request(op, request, parsed, has_body=bool(body)):
            findings.append(Finding(RULE_REQUEST_SCHEMA, problem.where, problem.rule))
        return matched, findings

    def response(self, matched: Matched, status: int) -> Mapping[str, Any] | None:
        """The response the spec documents for ``status`` (exact, then ``5XX``, then ``default``)."""
        for key in (str(status), f"{status // 100}XX", "default"):
            if key in matched.responses:
                return dict(matched.responses[key])
        return None

    def check_head(self, matched: Matched, status: int, headers: Mapping[str, str]) -> list[Finding]:
        """Status, required headers (and their schemas) and content type of a response."""
        definition = self.response(matched, status)
        if definition is None:
            documented = ", ".join(sorted(matched.responses))
            return [Finding(RULE_STATUS, "status", f"{status} is not documented for {matched.label} "
                                                   f"(documented: {documented})")]
        findings: list[Finding] = []
        for name, raw in definition.get("headers", {}).items():
            header = self.spec.deref(raw)
            value = headers.get(name.lower())
            if name.lower() == "content-type":
                continue  # OpenAPI: a Content-Type header definition is ignored
            if value is None:
                if header.get("required"):
                    findings.append(Finding(RULE_HEADER, f"header {name.lower()}", f"required by {matched.label} "
                                                                                   f"{status}, and missing"))
                continue
            for error in self._errors(header["schema"], value) if "schema" in header else ():
                findings.append(Finding(RULE_HEADER, f"header {name.lower()}", f"{value!r}: {error}"))
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        content = definition.get("content", {})
        if content and media not in content:
            findings.append(Finding(RULE_CONTENT_TYPE, "header content-type", f"{media or '(none)'!r} is not one of "
                                    f"{', '.join(content)} ({matched.label} {status})"))
        return findings

    def check_body(self, matched: Matched, status: int, media: str, body: bytes) -> list[Finding]:
        """A finite body: none where none is documented, and JSON that matches its schema."""
        definition = self.response(matched, status)
        if definition is None:
            return []
        content = definition.get("content", {})
        if not content:
            if body:
                return [Finding(RULE_BODY, "body", f"{matched.label} {status} documents no body; "
                                                   f"got {len(body)} bytes")]
            return []
        schema = content.get(media, {}).get("schema")
        if schema is None or media != "application/json":
            return []
        try:
            value = json.loads(body)
        except RecursionError:
            return [Finding(RULE_UNCHECKED, "body", f"{TOO_DEEP}: the answer's schema is not checked "
                                                    f"({matched.label} {status})")]
        except ValueError as exc:
            return [Finding(RULE_BODY, "body", f"not JSON ({exc}): {body[:120]!r}")]
        return [Finding(RULE_SCHEMA, where, message) for where, message in self._located(schema, value)]

    def stream(self, from_start: bool = True) -> StreamCheck:
        return StreamCheck(self.chunks, from_start)

    def _validator(self, schema: Mapping[str, Any]) -> Draft202012Validator:
        key = id(schema)
        if key not in self._validators:
            self._validators[key] = Draft202012Validator({"components": self._components, **schema},
                                                         format_checker=Draft202012Validator.FORMAT_CHECKER)
        return self._validators[key]

    def _errors(self, schema: Mapping[str, Any], value: Any) -> list[str]:
        return [message for _, message in self._located(schema, value)]

    def _located(self, schema: Mapping[str, Any], value: Any) -> list[tuple[str, str]]:
        errors = list(self._validator(schema).iter_errors(value))[:MAX_SCHEMA_ERRORS]
        return [("body" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in e.absolute_path),
                 e.message[:240]) for e in errors]


def body_decoder(encoding: str) -> Callable[[bytes], bytes] | None:
    """What turns a body's pieces, as they come, into what is judged (the client still gets them as they
    came): nothing to do for no ``Content-Encoding``, zlib for ``gzip`` and ``deflate``; None when the
    encoding cannot be read here (``br``, ``zstd``: that body goes unjudged)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return lambda piece: piece
    if encoding in ("gzip", "x-gzip", "deflate"):
        # 32 + MAX_WBITS reads a gzip or zlib header, whichever comes; -MAX_WBITS a raw deflate stream.
        wbits = 32 + zlib.MAX_WBITS if encoding != "deflate" else zlib.MAX_WBITS
        state = {"inflater": zlib.decompressobj(wbits), "first": True}

        def inflate(piece: bytes) -> bytes:
            inflater: Any = state["inflater"]
            try:
                out: bytes = inflater.decompress(piece)
            except zlib.error:
                if not (state["first"] and encoding == "deflate"):
                    raise
                # Some servers send `deflate` without the zlib header.
                state["inflater"] = inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                out = inflater.decompress(piece)
            state["first"] = False
            return out

        return inflate
    return None


class StreamCheck:
    """One stream's events, judged as they arrive: `feed` each piece of the body as it is forwarded."""

    def __init__(self, chunks: ChunkSchemas, from_start: bool) -> None:
        self.decoder = EventDecoder()
        self.rules = StreamRules(CLIENTS, from_start=from_start)
        self.chunk_schemas = chunks

    def feed(self, piece: bytes) -> tuple[list[SseEvent], list[Finding]]:
        """The events ``piece`` completed, and what is wrong with them."""
        events = self.decoder.feed(piece)
        findings: list[Finding] = []
        for event in events:
            if event.data is None:
                continue  # a comment: clients skip it
            where = f"event {self.rules.index}"
            findings += [Finding(v.rule, where, v.message) for v in self.rules.event(event.data)]
            if event.data != DONE:
                findings += [Finding(RULE_CHUNK_SCHEMA, where, p) for p in self._schema(event.data)]
        return events, findings

    def end(self) -> list[Finding]:
        return [Finding(v.rule, "end of stream", v.message) for v in self.rules.end()]

    def _schema(self, data: str) -> Iterable[str]:
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):
            return ()  # the rules' `json` or `unchecked` finding says so
        return self.chunk_schemas.problems(chunk) if isinstance(chunk, dict) else ()
