"""Recording: what ``recoup-mock proxy --record DIR`` writes, scenarios that ``serve --fixtures DIR`` replays.

DIR becomes a fixtures directory: the bundled ``world.yaml`` (and the ``default`` scenario it and
every fixtures directory need) is copied in when DIR has none. Each streamed response becomes
``DIR/scenarios/recorded-<n>-<slug>.yaml`` in the scenario format (``docs/scenarios.md``):
``framing: manual``, one raw ``chunk:`` step per chunk as received, each with its measured
``delay_ms`` (the gap since the previous chunk's write arrived; for the first, since the request
was sent), ``raw:`` for an event that is not a JSON object (or one nested deeper than
`MAX_CHUNK_DEPTH`), and ``disconnect: true`` when the stream ended without ``[DONE]``. A 429 or
5xx answer that is not a stream becomes an http-status scenario.

A recording that breaks the fixture rules (schema, client versions, order) declares the
``violates:`` it needs and lists the problems in its header, so ``recoup-mock validate`` accepts
it. Credentials never reach a file: the request's credential values (and anything shaped like a
bearer token or a Recoup key) are replaced wherever they appear, and the query is left out.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from ..settings import DEFAULT_FIXTURES
from ..spec import ChunkSchemas
from ..state.fixtures import kinds_of_problems
from ..streams.scenarios import parse_scenario
from ..streams.sse import SseEvent
from ..yamlfile import SAFE_LOADER

REDACTED = "REDACTED"
#: Header and query names whose values are credentials.
_SECRET_NAME = re.compile(r"auth|token|key|secret|password|cookie|bypass|session-id", re.IGNORECASE)
#: What a credential looks like wherever it appears: a bearer token (long, with a digit), a Recoup key.
_TOKEN_SHAPES = re.compile(r"(?i)\bbearer\s+(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{16,}|\brecoup_sk_\w{4,}")
_ID_SEGMENT = re.compile(r"^(?:[0-9a-f-]{16,}|wrun_\w+|\d+|.{25,})$", re.IGNORECASE)
_RECORDED = re.compile(r"^recorded-(\d+)-")
#: The answers (that are not streams) recorded as http-status scenarios.
RECORDED_STATUSES = frozenset({429}) | frozenset(range(500, 600))
DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
#: A chunk nested deeper than this is recorded as the bytes it came as (a ``raw:`` step, replayed
#: exactly): writing it as YAML, scrubbing it and checking it all recurse once per level, and would
#: run out of stack long before Python's JSON parser does (about 1,000 levels).
MAX_CHUNK_DEPTH = 100


@dataclass
class Exchange:
    """What one recording needs to know of its request and response."""

    method: str
    path: str
    status: int
    #: ``time.monotonic()`` when the request was sent upstream.
    sent_at: float
    secrets: list[str] = field(default_factory=list)
    had_query: bool = False


@dataclass
class StreamRecording:
    """A streamed response as it arrives: each event with the arrival time of the write that completed it."""

    exchange: Exchange
    items: list[tuple[float, SseEvent]] = field(default_factory=list)
    done: bool = False
    ended_at: float | None = None

    def add(self, events: Iterable[SseEvent], at: float) -> None:
        for event in events:
            if event.data == "[DONE]":
                self.done = True
            elif event.data is not None:  # comments are transport: the mock sends its own keep-alives
                self.items.append((at, event))


def secrets_of(headers: Iterable[tuple[str, str]], query: str) -> list[str]:
    """The credential values a request carries (in headers named like credentials, or the query)."""
    found: list[str] = []
    for name, value in [*headers, *parse_qsl(query, keep_blank_values=False)]:
        if _SECRET_NAME.search(name) and value.strip():
            found.append(value.strip())
            scheme, _, token = value.strip().partition(" ")
            if token.strip() and scheme.isalpha():
                found.append(token.strip())
    # Longest first: a token inside its own "Bearer ..." value is replaced with the whole of it.
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


class Recorder:
    """Writes recordings into one fixtures directory (safe to call from several threads)."""

    def __init__(self, directory: Path, target: str, chunks: ChunkSchemas) -> None:
        self.directory = directory
        self.scenarios = directory / "scenarios"
        parts = urlsplit(target)
        # Where, for the header: never the userinfo (a credential) of the target URL.
        self.origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self.chunks = chunks
        self._lock = threading.Lock()

    def prepare(self) -> list[Path]:
        """Make DIR a fixtures directory; the files copied in."""
        self.scenarios.mkdir(parents=True, exist_ok=True)
        copied = []
        for name in ("world.yaml", "scenarios/default.yaml"):
            if not (self.directory / name).exists():
                shutil.copyfile(DEFAULT_FIXTURES / name, self.directory / name)
                copied.append(self.directory / name)
        return copied

    def write_stream(self, recording: StreamRecording) -> Path:
        """Write a streamed response as a scenario; returns its file."""
        exchange = recording.exchange
        scrub = Scrubber(exchange.secrets)
        steps = timed_steps(((at, event_step(event.data or "", scrub)) for at, event in recording.items),
                            exchange.sent_at, recording.ended_at, done=recording.done)
        last = recording.items[-1][0] if recording.items else exchange.sent_at
        span = (recording.ended_at or last) - exchange.sent_at
        summary = f"{count_chunks(steps)} chunks in {span:.2f} s" + ("" if recording.done else ", no [DONE]")
        return self._write(exchange, stream_body(steps), summary, scrub)

    def write_http(self, exchange: Exchange, message: str, retry_after: str | None) -> Path:
        """Write a 429 or 5xx answer as an http-status scenario; returns its file."""
        scrub = Scrubber(exchange.secrets)
        response: dict[str, Any] = {"status": exchange.status}
        if retry_after is not None:
            response["headers"] = {"Retry-After": retry_after}
        response["message"] = scrub(message) or f"HTTP {exchange.status}"
        return self._write(exchange, {"response": response}, f"HTTP {exchange.status}", scrub)

    def _write(self, exchange: Exchange, body: dict[str, Any], summary: str, scrub: Scrubber) -> Path:
        stamp = now_stamp()
        where = f"{exchange.method} {self.origin}{exchange.path}"
        with self._lock:
            number = self._next_number()
            name = f"recorded-{number}-{slug(exchange.method, exchange.path)}"[:64].rstrip("-")
            header = [f"Recorded by `recoup-mock proxy` from {where} ({exchange.status}) at {stamp}: {summary}."]
            if exchange.had_query:
                header.append("The query string is left out (it may carry credentials).")
            if "steps" in body:
                header.append("Each delay_ms is a measured gap between writes; the first one is from the request "
                              "to the first byte.")
            header.append(scrub.note())
            path = self.scenarios / f"{name}.yaml"
            text = scenario_text(name, f"Recorded from {exchange.method} {exchange.path} ({exchange.status}) at "
                                       f"{stamp}: {summary}.", body, header, self.chunks, where=where)
            with path.open("x", encoding="utf-8") as out:  # never over another recording
                out.write(text)
        return path

    def _next_number(self) -> int:
        numbers = [int(m.group(1)) for p in self.scenarios.glob("recorded-*.yaml") if (m := _RECORDED.match(p.stem))]
        return max(numbers, default=0) + 1


def now_stamp() -> str:
    """The time now as the headers say it: ``2026-01-01T12:00:00Z``."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def event_step(data: str, scrub: Callable[[Any], Any]) -> dict[str, Any]:
    """The step of one received event: its chunk, or (not a JSON object, or too deep) ``raw:`` bytes."""
    chunk = _json_object(data)
    # An event that is not a JSON object goes out again as the bytes it was.
    return {"chunk": scrub(chunk)} if chunk is not None else {"raw": scrub(f"data: {data}\n\n")}


def timed_steps(events: Iterable[tuple[float, dict[str, Any]]], start: float, end: float | None, *,
                done: bool) -> list[dict[str, Any]]:
    """Each ``(time, step)`` with its ``delay_ms``: the gap since the previous one (the first one's since
    ``start``); then, when the stream ended without ``[DONE]`` (``done`` false), a ``disconnect`` step
    at ``end``. Times in seconds, on one clock."""
    steps: list[dict[str, Any]] = []
    last = start
    for at, step in events:
        steps.append({**step, "delay_ms": _ms(at - last)})
        last = at
    if not done:
        steps.append({"disconnect": True, "delay_ms": _ms((end or last) - last)})
    return steps


def count_chunks(steps: Iterable[Mapping[str, Any]]) -> int:
    """How many of ``steps`` are chunks (not transport)."""
    return sum(1 for step in steps if "chunk" in step)


def stream_body(steps: list[dict[str, Any]], write_sizes: tuple[int, ...] = ()) -> dict[str, Any]:
    """The body of a scenario that replays ``steps`` exactly: manual framing, no pacing but the steps' own."""
    timing: dict[str, Any] = {"first_chunk_ms": 0, "chunk_delay_ms": 0}
    if write_sizes:
        timing["write_sizes"] = list(write_sizes)
    return {"framing": "manual", "timing": timing, "steps": steps}


def scenario_text(name: str, description: str, body: dict[str, Any], header: list[str], chunks: ChunkSchemas, *,
                  where: str, clients: Mapping[str, str] | None = None) -> str:
    """A scenario file: the ``header`` lines as comments, then ``name``, ``description``, ``clients`` (when
    given) and ``body``, with the ``violates:`` it needs to validate (its problems listed in the header).
    Raises ValueError when the text would not read back as written (what replays must be what came)."""
    doc: dict[str, Any] = {"name": name, "description": description,
                           **({"clients": dict(clients)} if clients else {}), **body}
    found = kinds_of_problems(parse_scenario(doc, f"{name}.yaml"), chunks)
    kinds = sorted({kind for kind, _, _ in found})
    lines = list(header)
    if kinds:
        doc["violates"] = kinds
        lines.append(f"It breaks rules the fixtures keep, so it says violates: [{', '.join(kinds)}]:")
        lines += [f"  - {step}: {what}" for _, step, what in found[:8]]
        if len(found) > 8:
            lines.append(f"  ... and {len(found) - 8} more")
    text = "".join(f"# {line}\n" for line in lines) + _dump(doc)
    if yaml.load(text, Loader=SAFE_LOADER) != doc:
        raise ValueError(f"the scenario of {where} does not read back as written; not saved")
    return text


class Scrubber:
    """Replaces credentials in strings (recursively in chunks), counting what it replaced."""

    def __init__(self, secrets: list[str]) -> None:
        self.secrets = secrets
        self.count = 0

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    self.count += value.count(secret)
                    value = value.replace(secret, REDACTED)
            value, n = _TOKEN_SHAPES.subn(REDACTED, value)
            self.count += n
            return value
        if isinstance(value, Mapping):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def note(self) -> str:
        """The header line that says what was replaced."""
        return "Credentials are never written" + (f"; {self.count} value(s) were replaced with {REDACTED}."
                                                  if self.count else ".")


def _dump(doc: dict[str, Any]) -> str:
    """The scenario as YAML: top-level keys in block style, each step on one line (keys in their order:
    a replayed chunk is encoded with its keys as received)."""
    lines = []
    for key, value in doc.items():
        if key == "steps":
            lines.append("steps:")
            lines += [f"  - {_flow(step)}" for step in value]
        else:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    text: str = yaml.dump(value, Dumper=DUMPER, default_flow_style=True, sort_keys=False, allow_unicode=True,
                          width=1 << 30)
    return text.removesuffix("\n...\n").strip()


def _json_object(data: str) -> dict[str, Any] | None:
    """The chunk an event carries; None for one to record as its bytes (not a JSON object, or too deep)."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) and _depth(value) <= MAX_CHUNK_DEPTH else None


def _depth(value: Any) -> int:
    """How many levels of objects and arrays ``value`` nests (1 for a flat one). Without recursion: a value
    too deep for recursion is what it measures."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        node, level = pending.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level)
            pending.extend((child, level + 1) for child in children)
    return deepest


def _ms(seconds: float) -> float:
    return round(max(seconds, 0.0) * 1000, 1)


def slug(method: str, path: str) -> str:
    """``POST /api/chat/<uuid>/stream`` -> ``post-api-chat-stream``: the path without its ids."""
    words = [method.lower(), *(s for s in path.split("/") if s and not _ID_SEGMENT.match(s))]
    return re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-") or "request"

