"""The rules every AI SDK UI message stream must follow, judged over the bytes of a whole body.

`parse_events` reads Server-Sent Events the way the AI SDK's `eventsource-parser` does, and
`stream_problems` lists every broken rule (see `docs/drift.md` and the stream reference, §3-4):

- the first event is ``start`` with a non-empty ``messageId`` (a resume replay relies on it);
- every ``*-delta`` and ``*-end`` of a text or reasoning part is inside a ``*-start`` with the same id;
- tool input deltas follow their ``tool-input-start``, and tool output follows the tool's input;
- there is a ``finish``;
- ``data: [DONE]`` is the last event.

The rules themselves are `mockserver.streams.rules` at the ``clients`` strictness: the same core judges the
mock's fixtures (stricter) and the streams ``recoup-mock proxy`` forwards. Each problem carries a
short, stable ``rule`` key (used in baselines) and a message for people.

`chunks` and `assembled` read a stream the way a client does, for the flows that compare what a
turn streamed with what the server stored: the chunks, and the assistant message
`mockserver.streams.protocol.assemble` builds from them (the mock's own assembly of a run). An
event too deeply nested to read (`UnreadableEvent`) stops them: a finding for the flow, not a crash.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mockserver.streams.protocol import assemble
from mockserver.streams.rules import (
    CLIENTS,
    DONE,
    RULE_DONE_LAST,
    RULE_FINISH,
    RULE_JSON,
    RULE_MESSAGE_ID,
    RULE_PART_ORDER,
    RULE_START_FIRST,
    RULE_TOOL_ORDER,
    RULE_UNCHECKED,
    TOO_DEEP,
    StreamRules,
)
from mockserver.streams.sse import SseEvent, parse_events

__all__ = [
    "DONE", "RULE_DONE_LAST", "RULE_FINISH", "RULE_JSON", "RULE_MESSAGE_ID", "RULE_PART_ORDER", "RULE_START_FIRST",
    "RULE_TOOL_ORDER", "RULE_UNCHECKED", "SseEvent", "StreamProblem", "UnreadableEvent", "assembled", "chunks",
    "data_events", "parse_events", "stream_problems",
]


@dataclass(frozen=True)
class StreamProblem:
    rule: str
    message: str


def data_events(raw: bytes) -> list[str]:
    """The ``data`` of every event that carries one (what the client validates), in order."""
    return [event.data for event in parse_events(raw) if event.data is not None]


class UnreadableEvent(Exception):
    """A stream event nested too deeply to read (``index``: which event; None when the depth showed only in
    building the message from the chunks). What is built from the chunks would leave it out, so
    nothing is: the caller reports it under `RULE_UNCHECKED`."""

    rule = RULE_UNCHECKED

    def __init__(self, index: int | None, data: str) -> None:
        where = f"event {index}: " if index is not None else ""
        shown = data if len(data) <= 80 else data[:80] + "…"
        super().__init__(f"{where}{TOO_DEEP}: {shown}")
        self.index = index


def chunks(raw: bytes) -> Iterator[dict[str, Any]]:
    """Every JSON object chunk of the stream, in order. ``[DONE]`` and data that is not JSON are skipped
    (`stream_problems` reports the latter); an event nested too deeply to parse raises `UnreadableEvent`."""
    for index, data in enumerate(data_events(raw)):
        if data == DONE:
            continue
        try:
            value = json.loads(data)
        except RecursionError:
            raise UnreadableEvent(index, data) from None
        except ValueError:
            continue
        if isinstance(value, dict):
            yield value


def assembled(raw: bytes) -> dict[str, Any]:
    """The assistant message a client builds from the stream ``raw`` (`mockserver.streams.protocol.assemble`,
    as the mock stores its runs' answers). `UnreadableEvent` when an event is nested too deeply to parse,
    or to copy into the message."""
    read = list(chunks(raw))
    try:
        return assemble(read)
    except RecursionError:
        raise UnreadableEvent(None, json.dumps([c.get("type") for c in read])) from None


def stream_problems(raw: bytes, *, from_start: bool = True) -> list[StreamProblem]:
    """Every ordering rule ``raw`` breaks, the first time it breaks it. ``from_start`` is false for a
    resume from ``startIndex`` > 0, which begins mid-message: then only the end of the stream
    (``finish``, ``[DONE]`` last) is checked."""
    rules = StreamRules(CLIENTS, from_start=from_start)
    found = [v for data in data_events(raw) for v in rules.event(data)]
    problems: list[StreamProblem] = []
    seen: set[str] = set()
    # One problem per rule is enough to explain a stream, and keeps the report short.
    for violation in [*found, *rules.end()]:
        if violation.rule not in seen:
            seen.add(violation.rule)
            where = "" if violation.index is None else f"event {violation.index}: "
            problems.append(StreamProblem(violation.rule, where + violation.message))
    return problems
