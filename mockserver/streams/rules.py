"""The ordering rules of an AI SDK UI message stream, in one place, read one event at a time.

Three users, two strictnesses:

- ``clients`` is what the AI SDK client itself enforces (``processUIMessageStream``, ai 5.x-7.x)
  plus what a server must send for a resume replay to work (``start`` with a ``messageId``) and
  for the client to finish (a ``finish``, ``data: [DONE]`` last). The contract suite judges a
  deployment by it (`mockserver.contracts.streams`), and so does ``recoup-mock proxy``, as the
  stream passes.
- ``fixtures`` adds what a well-formed server keeps and the mock's own scenarios must keep: no part
  started twice, none left open at a step end or at ``finish``, steps paired, nothing but
  ``data-*`` and ``message-metadata`` after ``finish``, tool output only after the tool's complete
  input (`mockserver.state.fixtures` checks every scenario with it).

`StreamRules` takes SSE ``data`` payloads (`StreamRules.event`, which also judges JSON and
``[DONE]``) or chunks (`StreamRules.chunk`) as they come and answers the `Violation` each one
causes; `StreamRules.end` gives what the whole stream lacks. Each violation names a stable rule
key (contract baselines store them) and the index of the event or chunk it is about. An event
whose JSON is nested too deeply to read is reported as ``unchecked`` (it is not judged, and the
rules go on from the next one) rather than stopping the reading. Imports nothing else from the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Strictness = Literal["clients", "fixtures"]
CLIENTS: Strictness = "clients"
FIXTURES: Strictness = "fixtures"
DONE = "[DONE]"

#: Rule keys, in the order a stream is read. The first seven are the contract suite's (stable).
RULE_JSON = "json"
RULE_START_FIRST = "start-first"
RULE_MESSAGE_ID = "start-message-id"
RULE_PART_ORDER = "part-order"
RULE_TOOL_ORDER = "tool-order"
RULE_FINISH = "finish"
RULE_DONE_LAST = "done-last"
#: Only under ``fixtures``.
RULE_PART_OPEN = "part-open"
RULE_STEP_ORDER = "step-order"
RULE_AFTER_FINISH = "after-finish"
#: Not a broken rule: an event that could not be judged (JSON nested deeper than the parser follows).
#: It is said, not skipped, so that a clean report never hides what went unchecked.
RULE_UNCHECKED = "unchecked"

#: What an unchecked finding says (here and in `mockserver.proxy.conformance`).
TOO_DEEP = "JSON nested too deeply to check (deeper than Python's JSON parser follows)"

_PART_KINDS = ("text", "reasoning")
_TOOL_AFTER_INPUT = {"tool-output-available", "tool-output-error", "tool-approval-request", "tool-output-denied"}
_AFTER_FINISH_OK = ("data-", "message-metadata")


@dataclass(frozen=True)
class Violation:
    """One broken rule: its key, the index of the event or chunk it is about (None: the stream as a
    whole, at its end), and what is wrong, for people."""

    rule: str
    index: int | None
    message: str


class StreamRules:
    """The rules over one stream, fed as it arrives.

    ``from_start`` is false for a resume from ``startIndex`` > 0, which begins mid-message: then only
    the end of the stream (``finish``, ``[DONE]`` last) is judged. ``expect_done`` asks for
    ``data: [DONE]`` as the last event (default: under ``clients``, which judges SSE bodies; a
    fixture's chunks never carry it, the mock adds it)."""

    def __init__(self, strictness: Strictness = CLIENTS, *, from_start: bool = True,
                 expect_done: bool | None = None) -> None:
        self.strict = strictness == FIXTURES
        self.from_start = from_start
        self.expect_done = strictness == CLIENTS if expect_done is None else expect_done
        self.index = 0  # of the next event or chunk
        self.done_at: int | None = None
        self.finished_at: int | None = None
        self.failed = False  # an `error` or `abort` came: unfinished parts are excused
        self.open_parts: dict[tuple[str, str], int] = {}  # (kind, id) -> index of its -start
        self.forgotten: dict[tuple[str, str], int] = {}  # parts open at a 'finish-step' -> its index
        self.tool_starts: set[str] = set()
        self.tool_inputs: set[str] = set()
        self.in_step = False

    def event(self, data: str) -> list[Violation]:
        """Judge one SSE event's ``data``: a JSON chunk, or ``[DONE]``."""
        index = self.index
        self.index += 1
        if self.done_at is not None:
            return [Violation(RULE_DONE_LAST, index, f"'[DONE]' is event {self.done_at} but this event follows it: "
                                                     f"{_short(data)}")]
        if data == DONE:
            self.done_at = index
            return []
        try:
            chunk = json.loads(data)
        except RecursionError:
            return [Violation(RULE_UNCHECKED, index, f"{TOO_DEEP}; the ordering rules go on from the next "
                                                     f"event: {_short(data)}")]
        except ValueError:
            return [Violation(RULE_JSON, index, f"not JSON: {_short(data)}")]
        if not isinstance(chunk, dict) or not isinstance(chunk.get("type"), str):
            return [Violation(RULE_JSON, index, f"not a chunk object with a string 'type': {_short(data)}")]
        return self._chunk(index, chunk)

    def chunk(self, chunk: Mapping[str, Any]) -> list[Violation]:
        """Judge one chunk (already parsed)."""
        index = self.index
        self.index += 1
        return self._chunk(index, chunk)

    def _chunk(self, index: int, chunk: Mapping[str, Any]) -> list[Violation]:
        found: list[Violation] = []
        kind = str(chunk.get("type", ""))
        if index == 0 and self.from_start:
            if kind != "start":
                found.append(Violation(RULE_START_FIRST, index, f"the stream must begin with a 'start' chunk carrying "
                                                                f"a 'messageId', not '{kind}'"))
            elif not isinstance(chunk.get("messageId"), str) or not chunk["messageId"]:
                found.append(Violation(RULE_MESSAGE_ID, index, "the 'start' chunk has no 'messageId': the stream must "
                                       "begin with a 'start' chunk carrying a 'messageId', or a resume replay "
                                       "duplicates the assistant message"))
        if self.strict and self.finished_at is not None and not kind.startswith(_AFTER_FINISH_OK):
            found.append(Violation(RULE_AFTER_FINISH, index, f"'{kind}' after 'finish' (only data-* and "
                                                              "message-metadata may follow it)"))
        if kind in {"error", "abort"}:
            self.failed = True
        if kind == "finish":
            self.finished_at = index
        if not self.from_start:
            return found
        self._part(index, kind, chunk, found)
        self._tool(index, kind, chunk, found)
        if self.strict:
            self._step(index, kind, found)
        if kind == "finish-step":
            # ai 5.x/6.x forget the open text/reasoning parts at a step end (7.x does not): a later delta or
            # end for one of them throws in those clients, whatever the strictness.
            self.forgotten.update(dict.fromkeys(self.open_parts, index))
            self.open_parts.clear()
        return found

    def _part(self, index: int, kind: str, chunk: Mapping[str, Any], found: list[Violation]) -> None:
        family, _, phase = kind.rpartition("-")
        if family in _PART_KINDS and phase in {"start", "delta", "end"}:
            key = (family, str(chunk.get("id")))
            if phase == "start":
                if self.strict and key in self.open_parts:
                    found.append(Violation(RULE_PART_OPEN, index, f"{kind} for {family} part '{key[1]}', which is "
                                                                  "already open"))
                self.open_parts[key] = index
                self.forgotten.pop(key, None)
            elif key in self.forgotten:
                found.append(Violation(RULE_PART_ORDER, index, f"{kind} for {family} part '{key[1]}' after the "
                                       f"'finish-step' (chunk {self.forgotten[key]}) that ended its step: ai 5.x/6.x "
                                       f"forget open parts there and throw \"Received {kind} for missing {family} "
                                       f"part\"; end the part before 'finish-step', or start it again"))
            elif key not in self.open_parts:
                found.append(Violation(RULE_PART_ORDER, index, f"{kind} for missing {family} part '{key[1]}': no open "
                                       f"'{family}-start' with that id (the client throws \"Received {kind} for "
                                       f"missing {family} part\")"))
            elif phase == "end":
                del self.open_parts[key]
        elif kind == "finish" and self.strict:
            for (family, part_id), start in self.open_parts.items():
                if not self.failed:
                    found.append(Violation(RULE_PART_OPEN, start, f"{family} part '{part_id}' never ended before "
                                                                  "'finish'"))
            self.open_parts.clear()

    def _tool(self, index: int, kind: str, chunk: Mapping[str, Any], found: list[Violation]) -> None:
        call_id = str(chunk.get("toolCallId"))
        if kind == "tool-input-start":
            self.tool_starts.add(call_id)
            if not self.strict:  # the client creates the tool part here: output may follow
                self.tool_inputs.add(call_id)
        elif kind in {"tool-input-available", "tool-input-error"}:
            self.tool_inputs.add(call_id)
        elif kind == "tool-input-delta" and call_id not in self.tool_starts:
            found.append(Violation(RULE_TOOL_ORDER, index, f"tool-input-delta for tool call '{call_id}' comes before "
                                                           "its 'tool-input-start' (unknown tool call)"))
        elif kind in _TOOL_AFTER_INPUT and call_id not in self.tool_inputs:
            needed = "'tool-input-available'" if self.strict else "'tool-input-start' or 'tool-input-available'"
            found.append(Violation(RULE_TOOL_ORDER, index, f"{kind} for tool call '{call_id}' before its tool input "
                                                           f"({needed})"))

    def _step(self, index: int, kind: str, found: list[Violation]) -> None:
        if kind == "start-step":
            if self.in_step:
                found.append(Violation(RULE_STEP_ORDER, index, "'start-step' inside an open step: send 'finish-step' "
                                                               "first"))
            self.in_step = True
        elif kind == "finish-step":
            if not self.in_step:
                found.append(Violation(RULE_STEP_ORDER, index, "'finish-step' without a 'start-step'"))
            self.in_step = False
            # ai 5.x/6.x forget open text/reasoning parts at a step end: a later delta would fail.
            for (family, part_id), start in self.open_parts.items():
                found.append(Violation(RULE_PART_OPEN, start, f"{family} part '{part_id}' is still open at "
                                                              "'finish-step'"))

    def end(self) -> list[Violation]:
        """What the whole stream lacks, once it has ended."""
        if self.index == 0:
            return [Violation(RULE_START_FIRST, None, "the stream carries no events at all; expected 'start', the "
                                                      "message's chunks, 'finish'" +
                                                      (" and '[DONE]'" if self.expect_done else ""))]
        found: list[Violation] = []
        if self.finished_at is None:
            found.append(Violation(RULE_FINISH, None, "the stream has no 'finish' chunk, so the client never "
                                                      "finishes the message"))
        if self.strict and self.in_step and not self.failed:
            found.append(Violation(RULE_STEP_ORDER, None, "a step is still open at the end: send 'finish-step'"))
        if self.expect_done and self.done_at is None:
            found.append(Violation(RULE_DONE_LAST, None, "the stream does not end with 'data: [DONE]'"))
        return found


def check_chunks(chunks: Sequence[Mapping[str, Any]], strictness: Strictness = FIXTURES) -> list[Violation]:
    """Every violation of a whole chunk sequence (no ``[DONE]`` expected)."""
    rules = StreamRules(strictness, expect_done=False)
    found = [v for chunk in chunks for v in rules.chunk(chunk)]
    return found + rules.end()


def _short(data: str, limit: int = 120) -> str:
    return data if len(data) <= limit else data[: limit - 1] + "…"
