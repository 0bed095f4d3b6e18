"""The project's error tree, and the one HTTP error body.

```
MockServerError            anything recoup-mock raises on purpose
├── ConfigError            a setting or command-line value is wrong
├── SpecError              the OpenAPI document cannot be used
├── FixtureError           a fixture file (world or scenario) is wrong
│   └── ScenarioError      a scenario file breaks the schema or the protocol rules
└── ApiError               an HTTP request must be answered with an error status
    └── UnknownPath        no operation at that method and path (404)
```

Every HTTP error is raised as an `ApiError` and leaves the server through `error_response`, the
one place that writes the documented body ``{"status": "error", "message": ...}``. This module
imports nothing else from the package.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response


class MockServerError(Exception):
    """Base class of every error recoup-mock raises on purpose."""


class ConfigError(MockServerError):
    """A setting or command-line value is wrong: the message names it, its value and the choices."""


class SpecError(MockServerError):
    """The OpenAPI document is missing, invalid, or lacks something the server needs."""


class FixtureError(MockServerError):
    """A fixture file is wrong. ``str()`` gives ``file: where: what``."""

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        super().__init__(f"{file}: {where}: {problem}" if where else f"{file}: {problem}")


class ScenarioError(FixtureError):
    """A scenario breaks the chunk schema, the ordering rules or its declared client versions."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, kept structured until the error is rendered.

    ``where`` names the place (``body.messages[0].role``, ``query parameter 'startIndex'``) and
    ``rule`` the rule it breaks; ``missing`` is the field's name when the problem is that a
    required field is absent (the deployed server lists those as ``missing_fields``).
    """

    where: str
    rule: str
    missing: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}"

    @property
    def sentence(self) -> str:
        """The problem on its own, as a one-issue error text: the rule, with the field named when the
        rule does not name it (``'chatId' is a required property``, ``chatId: 'x' is not a 'uuid'``,
        ``sessionId is required``)."""
        name = self.field
        if self.missing is not None and self.rule == "is required":
            return f"{self.missing} is required"
        named = bool(name) and re.search(rf"\b{re.escape(name)}\b", self.rule) is not None  # not "id" in "uuid"
        return self.rule if not name or named else f"{name}: {self.rule}"

    @property
    def field(self) -> str:
        """The top-level field the problem is about (``chatId``, ``messages``, ``startIndex``), as the
        deployed server's ``missing_fields`` lists it; empty for the body as a whole."""
        if self.missing is not None and self.where in ("body", ""):
            return self.missing
        if "parameter '" in self.where:
            return self.where.split("parameter '", 1)[1].rstrip("'")
        rest = self.where.removeprefix("body").lstrip(".")
        return re.split(r"[.\[]", rest, maxsplit=1)[0] if rest else (self.missing or "")


class ApiError(MockServerError):
    """An HTTP error answer: status, a human-readable message, the structured problems behind it
    (validation failures) and any extra headers (``Retry-After``, ``Allow``)."""

    def __init__(self, status: int, message: str, details: Sequence[Problem] = (), *,
                 headers: Mapping[str, str] | None = None, terse: str | None = None) -> None:
        self.status = status
        self.message = message
        self.details = tuple(details)
        self.headers = dict(headers or {})
        self._terse = terse
        super().__init__(self.text)

    @property
    def text(self) -> str:
        """The message, followed by each problem: what the documented body's ``message`` says."""
        return self.message + (": " + "; ".join(map(str, self.details)) if self.details else "")

    @property
    def terse(self) -> str:
        """The short fixed text a real server answers with instead (``Chat not found``, ``Forbidden``):
        the one given, else, for a validation failure, its first problem (what zod's first issue
        says), else the whole `text`. A profile's error style chooses it (`ErrorStyle.terse`)."""
        if self._terse is not None:
            return self._terse
        if self.details:
            return self.details[0].sentence
        return self.text


#: How much of a value a client sent an error message quotes.
QUOTE_LIMIT = 80


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """A value the client sent, as an error message shows it: escaped (``repr``: no control
    characters reach a log line or a terminal) and cut to ``limit`` characters, saying how long it was."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


class UnknownPath(ApiError):
    """No operation at the request's path (a 404 that a profile may answer with a page of its own)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message)


@dataclass(frozen=True)
class ErrorStyle:
    """How the one error body is shaped. The default is the documented ``{"status", "message"}``;
    a profile (`mockserver.profiles`) may name the text ``error`` and list ``missing_fields``, and an
    operation's documented error schema may ask for another shape (`of_schema`)."""

    #: The key of the human-readable text.
    key: str = "message"
    #: Statuses whose body says ``message`` whatever ``key`` is (the deployed server's 401s).
    message_statuses: frozenset[int] = frozenset()
    #: Add ``missing_fields`` (the fields of the structured problems) to a validation failure.
    missing_fields: bool = False
    #: The key ``missing_fields`` goes under; ``path`` holds the first problem's path only (the
    #: deployed ``PATCH /api/sessions/{id}``'s zod body: ``{"status":"error","path":[...],"error":...}``).
    fields_key: str = "missing_fields"
    #: Whether the body has ``"status": "error"``.
    status_field: bool = True
    #: A key that carries the HTTP status as an integer (``{"error": 404, "message": ...}``).
    code_key: str | None = None
    #: The only texts the schema allows (its ``const`` or ``enum``): the error's own text when it is
    #: one of them, else the first (``{"error": "Invalid chat id"}`` is all that operation may say).
    texts: tuple[str, ...] = ()
    #: Say the error's terse text (`ApiError.terse`: the deployed server's own words) instead of its
    #: whole explanation.
    terse: bool = False

    @classmethod
    def of_schema(cls, schema: Mapping[str, Any]) -> ErrorStyle | None:
        """The shape an error schema documents (``properties`` and ``required``, references resolved):
        ``{status, message}``, ``{status, error}``, a bare ``{error}``, or ``{error: <int>, message}``;
        with ``missing_fields`` (or an array ``path``) for the fields of a validation failure. None when
        it names neither ``message`` nor ``error`` (nothing to put the text in)."""
        properties = schema.get("properties", {})
        required = set(schema.get("required", []))
        status_field = "status" in properties or "status" in required
        path = properties.get("path")
        zod_path = isinstance(path, Mapping) and path.get("type") == "array"  # an issue path, not a URL's
        missing = "missing_fields" in properties or zod_path
        fields_key = "missing_fields" if "missing_fields" in properties or not zod_path else "path"
        error = properties.get("error", {}) if isinstance(properties.get("error"), Mapping) else {}
        if error.get("type") in ("integer", "number") and ("message" in properties or "message" in required):
            key, code_key = "message", "error"
        elif "error" in properties or "error" in required:
            key, code_key = "error", None
        elif "message" in properties or "message" in required:
            key, code_key = "message", None
        else:
            return None
        text = properties.get(key, {}) if isinstance(properties.get(key), Mapping) else {}
        texts = (text["const"],) if "const" in text else tuple(text.get("enum") or ())
        return cls(key, status_field=status_field, code_key=code_key, missing_fields=missing, fields_key=fields_key,
                   texts=tuple(t for t in texts if isinstance(t, str)))


DOCUMENTED_ERRORS = ErrorStyle()


def error_body(exc: ApiError, style: ErrorStyle = DOCUMENTED_ERRORS) -> dict[str, object]:
    """The error body of ``exc`` in ``style``."""
    key = "message" if exc.status in style.message_statuses else style.key
    body: dict[str, object] = {"status": "error"} if style.status_field else {}
    if style.code_key is not None:
        body[style.code_key] = exc.status
    if style.missing_fields and exc.details:
        fields = [p.field for p in exc.details[:1 if style.fields_key == "path" else None] if p.field]
        body[style.fields_key] = list(dict.fromkeys(fields))
    text = exc.terse if style.terse else exc.text
    body[key] = text if not style.texts or text in style.texts else style.texts[0]
    return body


def error_response(exc: ApiError, style: ErrorStyle = DOCUMENTED_ERRORS) -> Response:
    """The one renderer of an `ApiError`: the documented ``{"status": "error", "message": ...}`` body,
    or the shape ``style`` gives."""
    body = json.dumps(error_body(exc, style), ensure_ascii=False).encode()
    return Response(body, status_code=exc.status, headers=exc.headers, media_type="application/json")


def sole_exception(record: logging.LogRecord) -> BaseException | None:
    """The exception a log record carries, taken out of exception groups of one (a task group wraps what
    a stream's task raised): what the servers' log filters judge a traceback by."""
    exc = record.exc_info[1] if record.exc_info else None
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
