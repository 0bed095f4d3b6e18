"""The project's error tree, and the one HTTP error body.

```
MockServerError            anything recoup-mock raises on purpose
├── ConfigError            a setting or command-line value is wrong
├── SpecError              the OpenAPI document cannot be used
├── FixtureError           a fixture file (world or scenario) is wrong
│   └── ScenarioError      a scenario file breaks the schema or the protocol rules
└── ApiError               an HTTP request must be answered with an error status
```

Every HTTP error leaves the server as the documented body
``{"status": "error", "message": ...}``; `ApiError` carries the status, the message and any
extra headers (``Retry-After``, ``Allow``). This module imports nothing else from the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

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


class ApiError(MockServerError):
    """An HTTP error answer: status, human-readable message, optional extra headers."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def error_body(message: str) -> bytes:
    """The documented error body, as bytes."""
    return json.dumps({"status": "error", "message": message}, ensure_ascii=False).encode()


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON error response in the documented shape."""
    return Response(error_body(message), status_code=status, headers=headers, media_type="application/json")


def api_error_response(exc: ApiError) -> Response:
    """Render an `ApiError`."""
    return error_response(exc.status, exc.message, exc.headers)
