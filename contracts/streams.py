"""The rules every AI SDK UI message stream must follow, as pure functions over the bytes of a body.

`parse_events` reads Server-Sent Events the way the AI SDK's `eventsource-parser` does, and
`stream_problems` lists every broken rule (see `docs/drift.md` and the stream reference, §3-4):

- the first event is ``start`` with a non-empty ``messageId`` (a resume replay relies on it);
- every ``*-delta`` and ``*-end`` of a text or reasoning part is inside a ``*-start`` with the same id;
- tool input deltas follow their ``tool-input-start``, and tool output follows the tool's input;
- there is a ``finish``;
- ``data: [DONE]`` is the last event.

Each problem carries a short, stable ``rule`` key (used in baselines) and a message for people.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"

#: Rule keys, in the order a stream is read.
RULE_JSON = "json"
RULE_START_FIRST = "start-first"
RULE_MESSAGE_ID = "start-message-id"
RULE_PART_ORDER = "part-order"
RULE_TOOL_ORDER = "tool-order"
RULE_FINISH = "finish"
RULE_DONE_LAST = "done-last"

_PART_KINDS = ("text", "reasoning")
_TOOL_INPUT = {"tool-input-start", "tool-input-available", "tool-input-error"}
_TOOL_AFTER_INPUT = {"tool-output-available", "tool-output-error", "tool-approval-request", "tool-output-denied"}


@dataclass
class SseEvent:
    """One dispatched event: its ``data`` (lines joined by ``\\n``), or ``None`` for a comment-only block."""

    data: str | None = None
    event: str | None = None
    id: str | None = None
    comments: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StreamProblem:
    rule: str
    message: str


def parse_events(raw: bytes) -> list[SseEvent]:
    """Split ``raw`` into events; a trailing block without its blank line is not an event (it never arrived)."""
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    events: list[SseEvent] = []
    blocks = text.split("\n\n")
    # The last element is what follows the final blank line: an unfinished event, or "".
    for block in blocks[:-1]:
        event = _parse_block(block)
        if event is not None:
            events.append(event)
    return events


def _parse_block(block: str) -> SseEvent | None:
    event = SseEvent()
    data: list[str] = []
    for line in block.split("\n"):
        if not line:
            continue
        if line.startswith(":"):
            event.comments.append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event.event = value
        elif name == "id":
            event.id = value
    if data:
        event.data = "\n".join(data)
    if event.data is None and not event.comments and event.event is None and event.id is None:
        return None
    return event


def data_events(raw: bytes) -> list[str]:
    """The ``data`` of every event that carries one (what the client validates), in order."""
    return [event.data for event in parse_events(raw) if event.data is not None]


def chunks(raw: bytes) -> Iterator[dict[str, Any]]:
    """Every JSON object chunk of the stream (``[DONE]`` and unparsable data are skipped)."""
    for data in data_events(raw):
        if data == DONE:
            continue
        try:
            value = json.loads(data)
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def stream_problems(raw: bytes, *, from_start: bool = True) -> list[StreamProblem]:
    """Every ordering rule ``raw`` breaks. ``from_start`` is false for a resume from ``startIndex`` > 0,
    which begins mid-message: then only the end of the stream (``finish``, ``[DONE]`` last) is checked."""
    problems: list[StreamProblem] = []
    seen: set[str] = set()

    def report(rule: str, message: str) -> None:
        # One problem per rule is enough to explain a stream, and keeps the report short.
        if rule not in seen:
            seen.add(rule)
            problems.append(StreamProblem(rule, message))

    datas = data_events(raw)
    if not datas:
        return [StreamProblem(RULE_START_FIRST, "The stream carries no events at all (an empty 200 stream); "
                                                 "expected `start`, the message's chunks, `finish` and `[DONE]`.")]
    open_parts: dict[str, set[str]] = {kind: set() for kind in _PART_KINDS}
    tool_inputs: set[str] = set()
    tool_starts: set[str] = set()
    has_finish = False
    done_at: int | None = None
    for index, data in enumerate(datas):
        where = f"event {index}"
        if done_at is not None:
            report(RULE_DONE_LAST, f"`data: [DONE]` is event {done_at} but {where} follows it: `{_short(data)}`.")
            continue
        if data == DONE:
            done_at = index
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            report(RULE_JSON, f"{where} is not JSON: `{_short(data)}`.")
            continue
        if not isinstance(chunk, dict) or not isinstance(chunk.get("type"), str):
            report(RULE_JSON, f"{where} is not a chunk object with a string `type`: `{_short(data)}`.")
            continue
        kind: str = chunk["type"]
        if index == 0 and from_start:
            if kind != "start":
                report(RULE_START_FIRST, f"The first event is `{kind}`, not `start`: `{_short(data)}`.")
            elif not isinstance(chunk.get("messageId"), str) or not chunk["messageId"]:
                report(RULE_MESSAGE_ID, "The `start` chunk has no `messageId`, so a resume replay would duplicate "
                                        f"the assistant message: `{_short(data)}`.")
        if kind == "finish":
            has_finish = True
        if not from_start:
            continue
        _check_part(kind, chunk, where, open_parts, report)
        _check_tool(kind, chunk, where, tool_starts, tool_inputs, report)
    if not has_finish:
        report(RULE_FINISH, "The stream has no `finish` chunk, so the client never finishes the message.")
    if done_at is None:
        report(RULE_DONE_LAST, "The stream does not end with `data: [DONE]`.")
    return problems


def _check_part(kind: str, chunk: dict[str, Any], where: str, open_parts: dict[str, set[str]],
                report: Any) -> None:
    for part in _PART_KINDS:
        if not kind.startswith(part + "-"):
            continue
        suffix = kind[len(part) + 1:]
        part_id = chunk.get("id")
        if suffix == "start":
            open_parts[part].add(str(part_id))
        elif suffix in ("delta", "end"):
            if str(part_id) not in open_parts[part]:
                report(RULE_PART_ORDER, f"{where} `{kind}` for id {json.dumps(part_id)} has no open `{part}-start` "
                                        f"with that id (the client throws \"Received {kind} for missing {part} "
                                        f"part\").")
            elif suffix == "end":
                open_parts[part].discard(str(part_id))


def _check_tool(kind: str, chunk: dict[str, Any], where: str, tool_starts: set[str], tool_inputs: set[str],
                report: Any) -> None:
    call_id = str(chunk.get("toolCallId"))
    if kind == "tool-input-start":
        tool_starts.add(call_id)
    if kind in _TOOL_INPUT:
        tool_inputs.add(call_id)
    elif kind == "tool-input-delta" and call_id not in tool_starts:
        report(RULE_TOOL_ORDER, f"{where} `tool-input-delta` for toolCallId {json.dumps(call_id)} comes before its "
                                "`tool-input-start`.")
    elif kind in _TOOL_AFTER_INPUT and call_id not in tool_inputs:
        report(RULE_TOOL_ORDER, f"{where} `{kind}` for toolCallId {json.dumps(call_id)} comes before that tool's "
                                "input (`tool-input-start` or `tool-input-available`).")


def _short(data: str, limit: int = 120) -> str:
    return data if len(data) <= limit else data[: limit - 1] + "…"
