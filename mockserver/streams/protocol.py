"""The AI SDK UI message stream protocol as pure functions: ordering rules, client versions, assembly.

`check_order` applies the ordering rules of `mockserver.streams.rules` at the fixtures' strictness (what
`processUIMessageStream` enforces, and the stricter ones a well-formed server keeps); `client_problems` reads
the spec's ``x-ai-sdk-min`` annotations to say which clients would reject a chunk; `assemble`
builds the assistant `UIMessage` the client ends up with. Imports nothing else from the package
but the leaf `rules`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from .rules import FIXTURES, check_chunks

Chunk = Mapping[str, Any]
#: Client target: major line -> minimum version of that line the stream must work with.
ClientTarget = Mapping[str, str]

#: Every ai 5.x, 6.x and 7.x client (ui-message-stream.md §3 "baseline").
ALL_CLIENTS: dict[str, str] = {"5": "5.0.0", "6": "6.0.0", "7": "7.0.0"}

_PART_KINDS = {"text": "text", "reasoning": "reasoning"}


def version_tuple(version: str) -> tuple[int, ...]:
    """``"5.0.217"`` -> ``(5, 0, 217)``; pre-release suffixes are ignored."""
    return tuple(int(p) for p in version.split("-")[0].split(".") if p.isdigit())


def _accepts(minimums: Mapping[str, str], target: ClientTarget) -> list[str]:
    """The target lines that would reject a feature whose minimum versions are ``minimums``."""
    rejecting = []
    for line, lowest in sorted(target.items()):
        needed = minimums.get(line)
        if needed is None or version_tuple(lowest) < version_tuple(needed):
            rejecting.append(f"ai {lowest}" + ("" if needed is None else f" (needs {needed})"))
    return rejecting


def client_problems(chunk: Chunk, schema: Mapping[str, Any], target: ClientTarget) -> list[str]:
    """Why clients of ``target`` would reject ``chunk``, from the spec annotations of its schema."""
    problems = []
    if "x-ai-sdk-min" in schema and (bad := _accepts(schema["x-ai-sdk-min"], target)):
        problems.append(f"chunk type '{chunk.get('type')}' is rejected by {', '.join(bad)}")
    properties = schema.get("properties", {})
    for key, value in chunk.items():
        prop = properties.get(key, {})
        if "x-ai-sdk-min" in prop and (bad := _accepts(prop["x-ai-sdk-min"], target)):
            problems.append(f"key '{key}' is rejected by {', '.join(bad)}")
        enum_min = prop.get("x-ai-sdk-enum-min", {})
        if isinstance(value, str) and value in enum_min and (bad := _accepts(enum_min[value], target)):
            problems.append(f"'{key}: {value}' is rejected by {', '.join(bad)}")
    return problems


def check_order(chunks: Sequence[Chunk]) -> list[tuple[int, str]]:
    """Ordering problems as ``(chunk index, message)`` under the fixtures' strictness (`mockserver.streams.rules`);
    a problem of the stream as a whole is at index ``len(chunks)``. Empty when the stream is well formed."""
    return [(len(chunks) if v.index is None else v.index, v.message) for v in check_chunks(chunks, FIXTURES)]


def _merge(target: dict[str, Any], update: Any) -> None:
    if not isinstance(update, Mapping):
        return
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def assemble(chunks: Sequence[Chunk], message_id: str | None = None) -> dict[str, Any]:
    """The assistant `UIMessage` a client builds from ``chunks`` (as `readUIMessageStream` does)."""
    message: dict[str, Any] = {"id": message_id or "", "role": "assistant", "parts": []}
    parts: list[dict[str, Any]] = message["parts"]
    metadata: dict[str, Any] = {}
    open_parts: dict[tuple[str, str], dict[str, Any]] = {}
    tools: dict[str, dict[str, Any]] = {}
    for chunk in chunks:
        kind = str(chunk.get("type", ""))
        family, _, phase = kind.rpartition("-")
        if kind == "start":
            message["id"] = chunk.get("messageId") or message["id"]
            _merge(metadata, chunk.get("messageMetadata"))
        elif kind == "start-step":
            parts.append({"type": "step-start"})
        elif family in _PART_KINDS and phase in {"start", "delta", "end"}:
            key = (family, str(chunk.get("id")))
            if phase == "start":
                open_parts[key] = {"type": family, "text": "", "state": "streaming"}
                parts.append(open_parts[key])
            elif key in open_parts:
                if phase == "delta":
                    open_parts[key]["text"] += str(chunk.get("delta", ""))
                else:
                    open_parts.pop(key)["state"] = "done"
        elif kind.startswith("tool-"):
            _apply_tool_chunk(kind, chunk, parts, tools)
        elif kind in {"source-url", "source-document", "file", "reasoning-file"}:
            parts.append({k: copy.deepcopy(v) for k, v in chunk.items() if k != "providerMetadata"})
        elif kind.startswith("data-"):
            if chunk.get("transient"):
                continue
            same = [p for p in parts if p["type"] == kind and "id" in chunk and p.get("id") == chunk["id"]]
            if same:
                same[0]["data"] = copy.deepcopy(chunk.get("data"))
            else:
                parts.append({k: copy.deepcopy(v) for k, v in chunk.items() if k != "transient"})
        elif kind in {"message-metadata", "finish"}:
            _merge(metadata, chunk.get("messageMetadata"))
    if metadata:
        message["metadata"] = metadata
    return message


def _apply_tool_chunk(
    kind: str, chunk: Chunk, parts: list[dict[str, Any]], tools: dict[str, dict[str, Any]]
) -> None:
    call_id = str(chunk.get("toolCallId"))
    part = tools.get(call_id)
    if part is None and "toolName" in chunk:
        name = str(chunk["toolName"])
        part = {"type": "dynamic-tool", "toolName": name} if chunk.get("dynamic") else {"type": f"tool-{name}"}
        part.update(toolCallId=call_id, state="input-streaming", input=None)
        tools[call_id] = part
        parts.append(part)
    if part is None:
        return
    if kind == "tool-input-start":
        part["state"] = "input-streaming"
    elif kind in {"tool-input-available", "tool-input-error"}:
        part["input"] = copy.deepcopy(chunk.get("input"))
        part["state"] = "input-available" if kind == "tool-input-available" else "output-error"
        if "errorText" in chunk:
            part["errorText"] = chunk["errorText"]
    elif kind == "tool-output-available":
        part.update(state="output-available", output=copy.deepcopy(chunk.get("output")))
    elif kind == "tool-output-error":
        part.update(state="output-error", errorText=chunk.get("errorText"))
    elif kind == "tool-output-denied":
        part["state"] = "output-denied"
