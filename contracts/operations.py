"""The operations of a spec, and the ones of the Recoup API the suite itself calls or treats apart.

An operation is known by ``METHOD /path`` (its method and path template, Schemathesis' label): every
version of the spec has that, while an ``operationId`` is optional (the upstream documents have
none). Where a person names an operation (``--include``, ``--exclude``, the plan, the report's
notes) its `SpecOperation.key` is used: the operationId when it has one, else ``METHOD /path``; both
are accepted (`resolve`).

This module imports nothing heavy (the options read it for every command).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: HTTP methods of an OpenAPI path item (3.2 adds ``query``).
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")

# The operations the flows call, by method and path template.
POST_CHAT = "POST /api/chat"
POST_CHAT_WORKFLOW = "POST /api/chat/workflow"
RESUME_CHAT = "GET /api/chat/{chatId}/stream"
STOP_CHAT = "POST /api/chat/{chatId}/stop"
START_RUN = "POST /api/chat/runs"
RUN_STATUS = "GET /api/chat/runs/{runId}"
CREATE_SESSION = "POST /api/sessions"
GET_SESSION = "GET /api/sessions/{sessionId}"
PATCH_SESSION = "PATCH /api/sessions/{sessionId}"
LIST_SESSION_CHATS = "GET /api/sessions/{sessionId}/chats"
CREATE_SESSION_CHAT = "POST /api/sessions/{sessionId}/chats"
GET_SESSION_CHAT = "GET /api/sessions/{sessionId}/chats/{chatId}"
PATCH_SESSION_CHAT = "PATCH /api/sessions/{sessionId}/chats/{chatId}"
DELETE_SESSION_CHAT = "DELETE /api/sessions/{sessionId}/chats/{chatId}"
MARK_CHAT_READ = "POST /api/sessions/{sessionId}/chats/{chatId}/read"
CREATE_SANDBOX = "POST /api/sandbox"
SANDBOX_STATUS = "GET /api/sandbox/status"
RECONNECT_SANDBOX = "GET /api/sandbox/reconnect"
LIST_CHATS = "GET /api/chats"
CREATE_CHAT = "POST /api/chats"
UPDATE_CHAT = "PATCH /api/chats"
DELETE_CHAT = "DELETE /api/chats"
COMPACT_CHATS = "POST /api/chats/compact"
CHAT_MESSAGES = "GET /api/chats/{id}/messages"
COPY_CHAT_MESSAGES = "POST /api/chats/{id}/messages/copy"
DELETE_TRAILING_MESSAGES = "DELETE /api/chats/{id}/messages/trailing"
CHAT_ARTIST = "GET /api/chats/{id}/artist"
LEGACY_CHAT = "POST /legacy/api/chat"

#: The front end's surface: sessions, their chats, the sandbox and ``/api/chats`` (the flows of
#: `contracts.surface` check it statefully).
SURFACE = (
    CREATE_SESSION, GET_SESSION, PATCH_SESSION, LIST_SESSION_CHATS, CREATE_SESSION_CHAT, GET_SESSION_CHAT,
    PATCH_SESSION_CHAT, DELETE_SESSION_CHAT, MARK_CHAT_READ, CREATE_SANDBOX, SANDBOX_STATUS, RECONNECT_SANDBOX,
    LIST_CHATS, CREATE_CHAT, UPDATE_CHAT, DELETE_CHAT, COMPACT_CHATS, CHAT_MESSAGES, COPY_CHAT_MESSAGES,
    DELETE_TRAILING_MESSAGES, CHAT_ARTIST,
)

#: The operations whose POST starts an agent run (a turn's stream, or a headless run).
STREAM_STARTS = frozenset({POST_CHAT, POST_CHAT_WORKFLOW, START_RUN, LEGACY_CHAT})
#: The operations that answer an event stream (their curl commands get ``-N``).
STREAMING = frozenset({POST_CHAT, POST_CHAT_WORKFLOW, RESUME_CHAT, LEGACY_CHAT})
#: Operations whose schema-valid requests the server may still refuse with a documented 400:
#: "Sandbox not initialized" (a session without a sandbox is schema-valid).
SEMANTIC_400 = (POST_CHAT, POST_CHAT_WORKFLOW)


@dataclass(frozen=True)
class SpecOperation:
    """One operation of a spec: ``METHOD /path`` and its operationId, if it has one."""

    label: str
    operation_id: str | None = None

    @property
    def key(self) -> str:
        """What people name it by: the operationId, else ``METHOD /path``."""
        return self.operation_id or self.label

    @property
    def shown(self) -> str:
        """``postChat (POST /api/chat)``, or ``POST /api/chat`` alone."""
        return f"{self.operation_id} ({self.label})" if self.operation_id else self.label


def read_document(spec: Path) -> dict[str, Any]:
    """The spec as data (YAML or JSON, with a safe loader); ValueError says why it cannot be read."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
    try:
        document = yaml.load(spec.read_text(encoding="utf-8"), Loader=loader)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"is not YAML or JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise ValueError("is not an OpenAPI document (no 'paths')")
    return document


#: The OpenAPI versions the suite reads (Schemathesis validates each with its own dialect; 3.0's is not
#: the JSON Schema 2020-12 of the built-in chunk schema).
VERSIONS = re.compile(r"3\.[12](\.\d+)?")


@functools.lru_cache(maxsize=8)
def spec_operations(spec: Path) -> tuple[SpecOperation, ...]:
    """Every operation of ``spec``, in its order (ValueError when it cannot be read, or is not 3.1 or 3.2)."""
    document = read_document(spec)
    version = str(document.get("openapi", ""))
    if not VERSIONS.fullmatch(version):
        raise ValueError(f"says openapi: {version!r}" if version else "has no 'openapi' version field")
    found: list[SpecOperation] = []
    for path, item in document["paths"].items():
        for method, operation in (item or {}).items():
            if method in METHODS and isinstance(operation, dict):
                operation_id = operation.get("operationId")
                found.append(SpecOperation(f"{method.upper()} {path}", str(operation_id) if operation_id else None))
    return tuple(found)


def resolve(operations: tuple[SpecOperation, ...], name: str) -> SpecOperation | None:
    """The operation ``name`` means: an operationId, or ``METHOD /path`` (the method in any case)."""
    method, _, path = name.strip().partition(" ")
    label = f"{method.upper()} {path.strip()}"
    return next((op for op in operations if name == op.operation_id or label == op.label), None)
