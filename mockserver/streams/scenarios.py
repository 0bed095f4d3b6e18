"""Scenarios as data: ``fixtures/scenarios/*.yaml`` parsed and expanded into chunk scripts.

A scenario is either a **stream** (``steps``, expanded here into UI message chunks and
transport faults) or an **http-status** answer (``response``: status, headers, message).
Shorthand steps expand into correct chunk sequences with deterministic ids; see
``docs/scenarios.md`` for the format. Checking chunks against the spec and the protocol rules
is not done here (`mockserver.state.fixtures` does it); this module imports only the leaves `errors`,
`types` and `yamlfile`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import ApiError, ScenarioError, quote
from ..types import RUN_OUTCOMES, ItemKind, RunOutcome, ScenarioKind
from ..yamlfile import read_yaml

#: Chunk types that are due together with their neighbours (no pacing delay before them).
STRUCTURAL = frozenset(
    {"start", "start-step", "finish-step", "finish", "text-start", "text-end", "reasoning-start",
     "reasoning-end", "tool-input-start"}
)
MESSAGE_ID_PLACEHOLDER = "msg_placeholder"
VIOLATION_KINDS = frozenset({"schema", "order", "clients"})
#: The requests a scenario is for (its ``answers`` key): ``turn``, those that start a run (``POST /api/chat``,
#: ``/api/chat/workflow``, ``/api/chat/runs``, ``/legacy/api/chat``; the default), or ``stop``
#: (``POST /api/chat/{chatId}/stop``). The admin queue serves each request the first scenario for it.
Answers = Literal["turn", "stop"]
ANSWERS: tuple[Answers, ...] = get_args(Answers)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_STEP_KEYS = ("text", "reasoning", "tool", "data", "source", "document", "file", "metadata", "step",
              "chunk", "error", "abort", "disconnect", "stall", "raw")


@dataclass(frozen=True)
class Timing:
    """Pacing in milliseconds, before `Settings.speed` scales it."""

    first_chunk_ms: float = 150.0
    chunk_delay_ms: float = 30.0
    jitter_ms: float = 0.0
    #: Transport: cut every frame into writes of these sizes (cycling), for split-frame tests.
    write_sizes: tuple[int, ...] = ()


@dataclass(frozen=True)
class Item:
    """One entry of a compiled script: a chunk, or a transport event on the live connection.

    ``kind`` is ``chunk`` (kept in the run's durable log), ``raw`` (bytes written as is),
    ``disconnect`` (the live connection drops) or ``stall`` (``delay_ms`` of silence, no heartbeats).
    """

    kind: ItemKind
    step: int
    chunk: Mapping[str, Any] | None = None
    raw: bytes = b""
    delay_ms: float | None = None


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP error answered instead of a stream."""

    status: int
    message: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A loaded scenario. ``items`` is empty for http-status scenarios."""

    name: str
    description: str
    file: str
    timing: Timing = Timing()
    items: tuple[Item, ...] = ()
    http: HttpAnswer | None = None
    clients: Mapping[str, str] | None = None
    violates: frozenset[str] = frozenset()
    outcome: RunOutcome = "completed"
    answers: Answers = "turn"

    @property
    def kind(self) -> ScenarioKind:
        return "http-status" if self.http else "stream"

    @property
    def chunks(self) -> list[Mapping[str, Any]]:
        return [item.chunk for item in self.items if item.chunk is not None]


def find_scenario(scenarios: Mapping[str, Scenario], name: str) -> Scenario:
    """The scenario a request names (``Prefer``, marker, admin queue); a 400 naming what exists if none."""
    scenario = scenarios.get(name)
    if scenario is None:
        raise ApiError(400, f"Unknown scenario {quote(name)}; available: {', '.join(sorted(scenarios))}")
    return scenario


def load_scenarios(directory: Path) -> dict[str, Scenario]:
    """Every ``*.yaml`` scenario in ``directory``, by name. Raises `ScenarioError` on the first problem."""
    if not directory.is_dir():
        raise ScenarioError(str(directory), "", "scenario directory not found")
    scenarios: dict[str, Scenario] = {}
    for path in sorted(directory.glob("*.yaml")):
        file = str(path)
        scenario = parse_scenario(read_yaml(path, functools.partial(_unreadable, file)), file)
        if scenario.name != path.stem:
            raise ScenarioError(str(path), "name", f"'{scenario.name}' must match the file name '{path.stem}'")
        scenarios[scenario.name] = scenario
    return scenarios


def _unreadable(file: str, why: str) -> ScenarioError:
    return ScenarioError(file, "", f"cannot read YAML: {why}")


def parse_scenario(doc: Any, file: str) -> Scenario:
    """Parse one scenario document (already loaded from YAML)."""
    if not isinstance(doc, Mapping):
        raise ScenarioError(file, "", "a scenario must be a mapping with 'name' and 'steps' or 'response'")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ScenarioError(file, "name", f"{name!r} is not a valid name (lowercase letters, digits, '-')")
    unknown = set(doc) - {"name", "description", "timing", "steps", "response", "clients", "violates",
                          "outcome", "framing", "finish", "answers"}
    if unknown:
        raise ScenarioError(file, ", ".join(sorted(unknown)), "unknown top-level key")
    violates = frozenset(doc.get("violates") or ())
    if not violates <= VIOLATION_KINDS:
        raise ScenarioError(file, "violates", f"expected some of {sorted(VIOLATION_KINDS)}")
    clients = doc.get("clients")
    if clients is not None and not (
        isinstance(clients, Mapping) and all(str(k) in {"5", "6", "7"} and isinstance(v, str)
                                             for k, v in clients.items())
    ):
        raise ScenarioError(file, "clients", "expected a mapping like {'6': '6.0.0', '7': '7.0.0'}")
    answers = doc.get("answers", "turn")
    if answers not in ANSWERS:
        raise ScenarioError(file, "answers", f"{answers!r}; expected one of {', '.join(ANSWERS)} (default turn)")
    common: dict[str, Any] = {
        "name": name, "file": file, "description": str(doc.get("description", "")),
        "clients": {str(k): v for k, v in clients.items()} if clients else None, "violates": violates,
        "answers": answers,
    }
    if "response" in doc:
        return Scenario(**common, http=_parse_http(doc["response"], file))
    if answers == "stop":
        raise ScenarioError(file, "answers", "a stop answers JSON, not a stream: 'answers: stop' takes an "
                                             "http-status scenario ('response' instead of 'steps')")
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(file, "steps", "a stream scenario needs a non-empty list of steps")
    expander = _Expander(name, file)
    for index, step in enumerate(steps):
        expander.expand(index, step)
    items = expander.framed(doc.get("framing", "auto"), doc.get("finish") or {})
    outcome = doc.get("outcome") or _default_outcome(items)
    if outcome not in RUN_OUTCOMES:
        raise ScenarioError(file, "outcome", f"{outcome!r}; expected one of {', '.join(RUN_OUTCOMES)}")
    return Scenario(**common, timing=_parse_timing(doc.get("timing") or {}, file), items=items,
                    outcome=outcome)


def _default_outcome(items: tuple[Item, ...]) -> RunOutcome:
    types = {item.chunk.get("type") for item in items if item.chunk is not None}
    return "failed" if "error" in types else "cancelled" if "abort" in types else "completed"


def _parse_timing(raw: Any, file: str) -> Timing:
    if not isinstance(raw, Mapping):
        raise ScenarioError(file, "timing", "expected a mapping")
    values: dict[str, Any] = {}
    for key in ("first_chunk_ms", "chunk_delay_ms", "jitter_ms"):
        if key in raw:
            if not isinstance(raw[key], int | float) or raw[key] < 0:
                raise ScenarioError(file, f"timing.{key}", f"{raw[key]!r}; expected a number >= 0")
            values[key] = float(raw[key])
    if "write_sizes" in raw:
        sizes = raw["write_sizes"]
        if not isinstance(sizes, list) or not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
            raise ScenarioError(file, "timing.write_sizes", "expected a list of positive integers")
        values["write_sizes"] = tuple(sizes)
    if unknown := set(raw) - {"first_chunk_ms", "chunk_delay_ms", "jitter_ms", "write_sizes"}:
        raise ScenarioError(file, f"timing.{sorted(unknown)[0]}", "unknown timing key")
    return Timing(**values)


def _parse_http(raw: Any, file: str) -> HttpAnswer:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("status"), int) or not 400 <= raw["status"] <= 599:
        raise ScenarioError(file, "response.status", "expected an HTTP error status from 400 to 599")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise ScenarioError(file, "response.headers", "expected a mapping of header names to values")
    message = raw.get("message") or f"Scenario answered HTTP {raw['status']}"
    return HttpAnswer(raw["status"], str(message), {str(k).lower(): str(v) for k, v in headers.items()})


def _words(text: str) -> list[str]:
    """Split text into deltas the way a model streams tokens: words with their trailing space."""
    pieces = re.findall(r"\s*\S+\s*", text)
    return pieces or [text]


class _Expander:
    """Turns shorthand steps into chunk items with deterministic ids."""

    def __init__(self, name: str, file: str) -> None:
        self.name, self.file = name, file
        self.items: list[Item] = []
        self.counters: dict[str, int] = {}

    def _id(self, prefix: str) -> str:
        n = self.counters.get(prefix, 0)
        self.counters[prefix] = n + 1
        if prefix == "call":  # tool call ids look like a provider's, but are stable per scenario
            return "call_" + hashlib.sha256(f"{self.name}:{n}".encode()).hexdigest()[:24]
        return f"{prefix}-{n}"

    def _chunk(self, step: int, chunk: dict[str, Any], delay: float | None = None) -> None:
        self.items.append(Item("chunk", step, chunk=chunk, delay_ms=delay))

    def expand(self, index: int, step: Any) -> None:
        where = f"steps[{index}]"
        if not isinstance(step, Mapping):
            raise ScenarioError(self.file, where, f"expected a mapping with one of {', '.join(_STEP_KEYS)}")
        kinds = [k for k in _STEP_KEYS if k in step]
        extra = set(step) - set(_STEP_KEYS) - {"delay_ms"}
        if len(kinds) != 1 or extra:
            raise ScenarioError(self.file, where, f"expected exactly one of {', '.join(_STEP_KEYS)} "
                                                  f"(plus an optional delay_ms); got {sorted(step)}")
        kind, value = kinds[0], step[kinds[0]]
        delay = step.get("delay_ms")
        if delay is not None and (not isinstance(delay, int | float) or delay < 0):
            raise ScenarioError(self.file, f"{where}.delay_ms", f"{delay!r}; expected a number >= 0")
        try:
            getattr(self, "_step_" + kind)(index, value, None if delay is None else float(delay))
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise ScenarioError(self.file, f"{where}.{kind}", f"malformed step: {exc}") from None

    def _step_text(self, i: int, value: Any, delay: float | None, family: str = "text") -> None:
        deltas = [str(v) for v in value] if isinstance(value, list) else _words(str(value))
        part_id = self._id("rsn" if family == "reasoning" else "txt")
        self._chunk(i, {"type": f"{family}-start", "id": part_id}, delay)
        for delta in deltas:
            self._chunk(i, {"type": f"{family}-delta", "id": part_id, "delta": delta})
        self._chunk(i, {"type": f"{family}-end", "id": part_id})

    def _step_reasoning(self, i: int, value: Any, delay: float | None) -> None:
        self._step_text(i, value, delay, family="reasoning")

    def _step_tool(self, i: int, value: Mapping[str, Any], delay: float | None) -> None:
        call_id, name = self._id("call"), str(value["name"])
        extra = {k: value[k] for k in ("dynamic", "providerExecuted") if k in value}
        self._chunk(i, {"type": "tool-input-start", "toolCallId": call_id, "toolName": name, **extra}, delay)
        text = json.dumps(value.get("input", {}), separators=(",", ":"))
        if value.get("stream_input", True):
            size = max(1, -(-len(text) // int(value.get("input_chunks", 3))))
            for pos in range(0, len(text), size):
                self._chunk(i, {"type": "tool-input-delta", "toolCallId": call_id,
                                "inputTextDelta": text[pos : pos + size]})
        self._chunk(i, {"type": "tool-input-available", "toolCallId": call_id, "toolName": name,
                        "input": value.get("input", {}), **extra})
        out_delay = value.get("output_delay_ms")
        if "error" in value:
            self._chunk(i, {"type": "tool-output-error", "toolCallId": call_id,
                            "errorText": str(value["error"]), **extra}, out_delay)
        elif "output" in value:
            self._chunk(i, {"type": "tool-output-available", "toolCallId": call_id,
                            "output": value["output"], **extra}, out_delay)

    def _step_data(self, i: int, value: Mapping[str, Any], delay: float | None) -> None:
        chunk: dict[str, Any] = {"type": f"data-{value['name']}"}
        chunk.update({k: value[k] for k in ("id", "transient") if k in value})
        chunk["data"] = value["data"]
        self._chunk(i, chunk, delay)

    def _step_source(self, i: int, value: Mapping[str, Any], delay: float | None) -> None:
        chunk = {"type": "source-url", "sourceId": self._id("src"), "url": str(value["url"])}
        chunk.update({"title": str(value["title"])} if "title" in value else {})
        self._chunk(i, chunk, delay)

    def _step_document(self, i: int, value: Mapping[str, Any], delay: float | None) -> None:
        chunk = {"type": "source-document", "sourceId": self._id("src"),
                 "mediaType": str(value["mediaType"]), "title": str(value["title"])}
        chunk.update({"filename": str(value["filename"])} if "filename" in value else {})
        self._chunk(i, chunk, delay)

    def _step_file(self, i: int, value: Mapping[str, Any], delay: float | None) -> None:
        self._chunk(i, {"type": "file", "url": str(value["url"]), "mediaType": str(value["mediaType"])}, delay)

    def _step_metadata(self, i: int, value: Any, delay: float | None) -> None:
        self._chunk(i, {"type": "message-metadata", "messageMetadata": value}, delay)

    def _step_step(self, i: int, value: Any, delay: float | None) -> None:
        self._chunk(i, {"type": "finish-step"}, delay)
        self._chunk(i, {"type": "start-step"})

    def _step_chunk(self, i: int, value: Any, delay: float | None) -> None:
        if not isinstance(value, Mapping) or not isinstance(value.get("type"), str):
            raise ValueError("a raw chunk must be a mapping with a string 'type'")
        self._chunk(i, dict(value), delay)

    def _step_error(self, i: int, value: Any, delay: float | None) -> None:
        self._chunk(i, {"type": "error", "errorText": str(value)}, delay)

    def _step_abort(self, i: int, value: Any, delay: float | None) -> None:
        self._chunk(i, {"type": "abort", **({"reason": str(value)} if isinstance(value, str) else {})}, delay)

    def _step_disconnect(self, i: int, value: Any, delay: float | None) -> None:
        self.items.append(Item("disconnect", i, delay_ms=delay))

    def _step_stall(self, i: int, value: Any, delay: float | None) -> None:
        if not isinstance(value, int | float) or value < 0:
            raise ValueError("stall takes the silence in milliseconds")
        self.items.append(Item("stall", i, delay_ms=float(value)))

    def _step_raw(self, i: int, value: Any, delay: float | None) -> None:
        self.items.append(Item("raw", i, raw=str(value).encode(), delay_ms=delay))

    def framed(self, framing: Any, finish: Mapping[str, Any]) -> tuple[Item, ...]:
        if framing == "manual":
            return tuple(self.items)
        if framing != "auto":
            raise ScenarioError(self.file, "framing", f"{framing!r}; expected 'auto' or 'manual'")
        head = [Item("chunk", -1, chunk={"type": "start", "messageId": MESSAGE_ID_PLACEHOLDER}),
                Item("chunk", -1, chunk={"type": "start-step"})]
        tail = [Item("chunk", -1, chunk={"type": "finish-step"}),
                Item("chunk", -1, chunk={"type": "finish", **dict(finish)})]
        return (*head, *self.items, *tail)

