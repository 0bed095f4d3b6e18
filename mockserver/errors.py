"""The project's error tree, and the one HTTP error body.

```
MockServerError            anything recoup-mock raises on purpose
├── ConfigError            a setting or command-line value is wrong
├── SpecError              the OpenAPI document cannot be used
├── FixtureError           a fixture file (world or scenario) is wrong
│   └── ScenarioError      a scenario file breaks the schema or the protocol rules
└── ApiError               an HTTP request must be answered with an error status
```

Every HTTP error is raised as an `ApiError` and leaves the server through `error_response`, the
one place that writes the documented body ``{"status": "error", "message": ...}``. This module
imports nothing else from the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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


class ApiError(MockServerError):
    """An HTTP error answer: status, a human-readable message, the structured problems behind it
    (validation failures) and any extra headers (``Retry-After``, ``Allow``)."""

    def __init__(self, status: int, message: str, details: Sequence[Problem] = (), *,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.details = tuple(details)
        self.headers = dict(headers or {})
        super().__init__(self.text)

    @property
    def text(self) -> str:
        """The message, followed by each problem: what the documented body's ``message`` says."""
        return self.message + (": " + "; ".join(map(str, self.details)) if self.details else "")


#: How much of a value a client sent an error message quotes.
QUOTE_LIMIT = 80


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """A value the client sent, as an error message shows it: escaped (``repr``: no control
    characters reach a log line or a terminal) and cut to ``limit`` characters, saying how long it was."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


def error_response(exc: ApiError) -> Response:
    """The one renderer of an `ApiError`: the documented ``{"status": "error", "message": ...}`` body."""
    body = json.dumps({"status": "error", "message": exc.text}, ensure_ascii=False).encode()
    return Response(body, status_code=exc.status, headers=exc.headers, media_type="application/json")
