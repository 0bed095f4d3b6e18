"""HAR import: what ``recoup-mock import-har FILE --out DIR`` writes, scenarios that ``serve --fixtures DIR`` replays.

A HAR 1.2 file as Chrome, Firefox or Playwright (``recordHar``) export it: ``log.entries[]``, each with
``request`` (method, url, headers) and ``response`` (status, headers, ``content.text``, base64 when
``content.encoding`` says so). Each exchange with the Recoup API (a path of the chat contract, on the
host most such paths went to) becomes a scenario, written by the recorder's writer
(`mockserver.proxy.recorder.scenario_text`), in the recorder's format: a ``text/event-stream`` answer a
stream scenario of its chunks as they came (``raw:`` for an event that is not a JSON object,
``disconnect`` when no ``[DONE]`` came), a 4xx/5xx JSON answer an http-status scenario. A HAR keeps no
time per chunk: the first chunk waits the entry's ``timings.wait`` (the time to first byte) and its
``timings.receive`` is spread evenly over the others; the description says so. Everything else
(other hosts, non-API paths, preflights, 2xx JSON answers) is skipped and listed.

No header is written (but a 429's ``Retry-After``), nor the query; every credential value of every
entry (authorization and API-key headers, cookies, anything named like a credential) is replaced
with ``REDACTED`` wherever it appears in what is written, as is anything shaped like a bearer token
or a Recoup key. A stream that breaks the contract is kept and declares the ``violates:`` it needs.

Everything is read and checked before anything is written: a file that is not HAR, or an entry to
import without its body, is a `HarError` and nothing is written.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import MockServerError
from ..spec import ApiSpec, ChunkSchemas, template_regex
from ..streams.sse import parse_events
from .recorder import (
    Recorder,
    Scrubber,
    count_chunks,
    event_step,
    scenario_text,
    secrets_of,
    slug,
    stream_body,
)

EXPECTED = ('expected a HAR 1.2 file: JSON {"log": {"version": "1.2", "entries": [{"request": {...}, '
            '"response": {...}}, ...]}}, as Chrome or Firefox save it (DevTools > Network > "Save all as HAR with '
            'content") or Playwright records it (recordHar)')
_HAR_NAME = re.compile(r"^har-(\d+)-")


class HarError(MockServerError):
    """The file is not a HAR this can import: the message says what was found and what was expected."""


@dataclass(frozen=True)
class Skipped:
    """An entry left out, and why."""

    index: int
    method: str
    url: str
    why: str

    def __str__(self) -> str:
        return f"entries[{self.index}] {self.method} {self.url}: {self.why}"


@dataclass
class HarImport:
    """What an import wrote and what it left out."""

    written: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    copied: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    index: int
    method: str
    url: str
    origin: str
    path: str
    status: int
    mime: str
    raw: dict[str, Any]


def api_paths(spec: ApiSpec) -> re.Pattern[str]:
    """One pattern for every path of the chat contract (what counts as a Recoup API exchange)."""
    return re.compile("|".join(template_regex(op.path)[0] for op in spec.operations))


def import_har(file: Path, out: Path, spec: ApiSpec) -> HarImport:
    """Read ``file`` (a HAR) and write its Recoup API exchanges as scenarios in ``out/scenarios/``.

    ``out`` becomes a fixtures directory (the bundled ``world.yaml`` and ``default`` scenario are copied
    in when missing). Raises `HarError` (and writes nothing) when the file is not HAR or an exchange to
    import has no body."""
    entries = _entries(file)
    result = HarImport()
    api = api_paths(spec)
    candidates = [e for e in entries if api.fullmatch(e.path)]
    origins = collections.Counter(e.origin for e in candidates)
    home = origins.most_common(1)[0][0] if origins else None
    secrets = _all_secrets(entries)
    planned: list[tuple[_Entry, dict[str, Any], str, list[str]]] = []
    for entry in entries:
        why = _skip_reason(entry, api, home)
        if why is not None:
            result.skipped.append(Skipped(entry.index, entry.method, entry.url, why))
            continue
        body = _body(entry)
        scrub = Scrubber(secrets)
        if _is_stream(entry):
            doc, summary, notes = _stream(entry, body, scrub)
        else:
            doc, summary, notes = _http(entry, body, scrub)
        notes.append(scrub.note())
        planned.append((entry, doc, summary, notes))
    recorder = Recorder(out, home or "http://localhost", spec.chunk_schemas())
    texts = _texts(planned, recorder.scenarios, spec.chunk_schemas(), file.name)
    if not texts:
        return result
    # Only now, with every entry read and every file made: a bad HAR writes nothing.
    result.copied = recorder.prepare()
    for path, text in texts:
        with path.open("x", encoding="utf-8") as target:  # never over another file
            target.write(text)
        result.written.append(path)
    return result


def _texts(planned: list[tuple[_Entry, dict[str, Any], str, list[str]]], scenarios: Path, chunks: ChunkSchemas,
           source: str) -> list[tuple[Path, str]]:
    taken = [int(m.group(1)) for p in scenarios.glob("har-*.yaml") if (m := _HAR_NAME.match(p.stem))]
    number = max(taken, default=0)
    texts = []
    for entry, doc, summary, notes in planned:
        number += 1
        name = f"har-{number}-{slug(entry.method, entry.path)}"[:64].rstrip("-")
        started = str(entry.raw.get("startedDateTime", "")) or "an unknown time"
        where = f"{entry.method} {entry.origin}{entry.path}"
        header = [f"Imported by `recoup-mock import-har` from {source}, entries[{entry.index}]: {where} "
                  f"({entry.status}) at {started}: {summary}.", *notes]
        description = (f"Imported from a HAR ({source}): {entry.method} {entry.path} ({entry.status}) at {started}: "
                       f"{summary}." + (" The HAR keeps no time per chunk: its receive time is spread evenly over "
                                        "the chunks." if "steps" in doc else ""))
        try:
            text = scenario_text(name, description, doc, header, chunks, where=where)
        except ValueError as exc:
            raise HarError(f"{source}: entries[{entry.index}] ({where}): {exc}") from exc
        texts.append((scenarios / f"{name}.yaml", text))
    return texts


def _entries(file: Path) -> list[_Entry]:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise HarError(f"{file}: cannot read it ({exc.strerror or exc}); {EXPECTED}") from exc
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        found = f" ({exc})" if isinstance(exc, json.JSONDecodeError) else ""
        raise HarError(f"{file} is not JSON{found}; {EXPECTED}") from exc
    log = document.get("log") if isinstance(document, dict) else None
    if not isinstance(log, dict) or not isinstance(log.get("entries"), list):
        has = (f"top-level keys {', '.join(sorted(map(str, document))) or 'none'}" if isinstance(document, dict)
               else f"a JSON {type(document).__name__}")
        where = "log.entries is not a list" if isinstance(log, dict) else "no log object"
        raise HarError(f"{file} is JSON but not HAR: {where} (it has {has}); {EXPECTED}")
    entries = []
    for index, item in enumerate(log["entries"]):
        request = item.get("request") if isinstance(item, dict) else None
        response = item.get("response") if isinstance(item, dict) else None
        if not (isinstance(request, dict) and isinstance(request.get("url"), str)
                and isinstance(request.get("method"), str) and isinstance(response, dict)
                and isinstance(response.get("status"), int)):
            raise HarError(f"{file}: entries[{index}] is not a HAR entry: expected request.method, request.url and "
                           f"response.status (it has {_keys(item)}); {EXPECTED}")
        parts = urlsplit(request["url"])
        origin = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        content = response.get("content")
        mime = str(content.get("mimeType", "")) if isinstance(content, dict) else ""
        entries.append(_Entry(index, request["method"].upper(), request["url"].split("?")[0], origin,
                              parts.path or "/", response["status"], mime.split(";")[0].strip().lower(), item))
    return entries


def _keys(item: Any) -> str:
    if not isinstance(item, dict):
        return f"a JSON {type(item).__name__}"
    return "keys " + ", ".join(f"{k}" + (f" ({', '.join(sorted(v))})" if isinstance(v, dict) else "")
                               for k, v in sorted(item.items())) if item else "nothing"


def _skip_reason(entry: _Entry, api: re.Pattern[str], home: str | None) -> str | None:
    if not api.fullmatch(entry.path):
        return "not a path of the Recoup API"
    if entry.origin != home:
        return f"another host than the API's ({home})"
    if entry.method == "OPTIONS":
        return "a CORS preflight"
    if entry.status == 0:
        return "no response (the request failed or was cancelled before an answer)"
    if _is_stream(entry):
        return None
    if entry.status >= 400 and _is_json(entry):
        return None
    if entry.status >= 400:
        return f"a {entry.status} answer that is not JSON ({entry.mime or 'no type'})"
    return f"a {entry.status} {entry.mime or 'answer'} (neither a stream nor an error)"


def _is_stream(entry: _Entry) -> bool:
    return entry.mime == "text/event-stream" or _header(entry, "content-type").startswith("text/event-stream")


def _is_json(entry: _Entry) -> bool:
    kind = entry.mime or _header(entry, "content-type").split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _header(entry: _Entry, name: str) -> str:
    for header in entry.raw["response"].get("headers") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name:
            return str(header.get("value", ""))
    return ""


def _body(entry: _Entry) -> str:
    content = entry.raw["response"].get("content")
    text = content.get("text") if isinstance(content, dict) else None
    where = f"entries[{entry.index}] ({entry.method} {entry.url}, {entry.status} {entry.mime or 'no type'})"
    if not isinstance(text, str):
        raise HarError(f"{where} has no response body (response.content.text is missing): expected the body of "
                       f"every exchange to import; export the HAR with content (Chrome/Firefox: \"Save all as "
                       f"HAR with content\"; Playwright: recordHar with content: 'embed')")
    if str(content.get("encoding", "")).lower() == "base64":
        try:
            return base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as exc:
            raise HarError(f"{where}: response.content.text says encoding base64 but is not base64 text of UTF-8 "
                           f"({exc}); expected the body as text, or as base64 with encoding: base64") from exc
    return text


def _all_secrets(entries: list[_Entry]) -> list[str]:
    """Every credential value any request of the file sent or any response set (headers, cookies, query)."""
    found: set[str] = set()
    for entry in entries:
        for part in ("request", "response"):
            message = entry.raw[part]
            pairs = [(str(h.get("name", "")), str(h.get("value", ""))) for h in message.get("headers") or ()
                     if isinstance(h, dict)]
            # Cookies by their own names are secrets whatever they are called.
            pairs += [("cookie", str(c.get("value", ""))) for c in message.get("cookies") or () if isinstance(c, dict)]
            pairs += [(str(q.get("name", "")), str(q.get("value", ""))) for q in message.get("queryString") or ()
                      if isinstance(q, dict)]
            for name, value in pairs:
                if name.lower() in {"cookie", "set-cookie"}:
                    # A cookie header holds many: each value, and the first part of a set-cookie.
                    pairs_in = value.split(";") if name.lower() == "cookie" else value.split(";")[:1]
                    for pair in pairs_in:
                        found.update(secrets_of([("cookie", pair.partition("=")[2])], ""))
                found.update(secrets_of([(name, value)], ""))
    return sorted(found, key=len, reverse=True)


def _timing(entry: _Entry, key: str) -> float:
    timings = entry.raw.get("timings")
    value = timings.get(key) if isinstance(timings, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else 0.0


def _stream(entry: _Entry, body: str, scrub: Scrubber) -> tuple[dict[str, Any], str, list[str]]:
    events = [e for e in parse_events(body.encode()) if e.data is not None]  # comments are transport
    done = any(e.data == "[DONE]" for e in events)
    items = [event_step(e.data or "", scrub) for e in events if e.data != "[DONE]"]
    wait, receive = _timing(entry, "wait"), _timing(entry, "receive")
    gap = round(receive / (len(items) - 1), 1) if len(items) > 1 else 0.0
    steps = [{**step, "delay_ms": round(wait, 1) if i == 0 else gap} for i, step in enumerate(items)]
    if not done:
        steps.append({"disconnect": True, "delay_ms": 0.0})
    summary = f"{count_chunks(steps)} chunks in {(wait + receive) / 1000:.2f} s" + ("" if done else ", no [DONE]")
    notes = [f"A HAR keeps no time per chunk: the first waits the entry's timings.wait ({wait:.1f} ms, the time "
             f"to first byte) and its timings.receive ({receive:.1f} ms) is spread evenly over the others.",
             "Request and response headers and the query are not written."]
    return stream_body(steps), summary, notes


def _http(entry: _Entry, body: str, scrub: Scrubber) -> tuple[dict[str, Any], str, list[str]]:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body
    message = parsed.get("message") or parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        message = body.strip() or f"HTTP {entry.status}"
    response: dict[str, Any] = {"status": entry.status}
    if retry := _header(entry, "retry-after"):
        response["headers"] = {"Retry-After": retry}
    response["message"] = scrub(message)
    doc: dict[str, Any] = {"response": response}
    if re.fullmatch(r"/api/chat/[^/]+/stop", entry.path):
        doc = {"answers": "stop", **doc}
    shown = json.dumps(scrub(parsed), ensure_ascii=False)
    notes = [f"The answer's body was {shown[:300]}{'...' if len(shown) > 300 else ''}; the mock answers its "
             f"message in the error body of the world's profile.",
             "Request and response headers (but Retry-After) and the query are not written."]
    return doc, f"HTTP {entry.status}", notes
