"""The request journal: the last N exchanges of a world (or of the proxy), for people and the inspector.

Entries hold their headers as tuples of ``bytes`` pairs (`pack_headers`): one C-level copy per
request, and nothing for the cyclic collector to scan once it has seen them (it stops tracking a
tuple of untracked objects), so a journal of many worlds costs it nothing.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Header pairs as a journal entry keeps them.
PackedHeaders = tuple[tuple[bytes, bytes], ...]


def pack_headers(headers: Iterable[tuple[bytes, bytes]]) -> PackedHeaders:
    """ASGI header pairs as the journal keeps them (a tuple of the pairs, which are tuples already)."""
    return tuple(headers)


def unpack_headers(packed: PackedHeaders) -> list[tuple[bytes, bytes]]:
    """The pairs `pack_headers` packed."""
    return list(packed)


@dataclass(slots=True)
class JournalEntry:
    seq: int
    time: float  # epoch seconds; formatted only when the journal is read
    method: str
    path: str
    status: int
    scenario: str | None = None
    #: The scenario was seeded chaos's pick (`mockserver.state.chaos`), not the request's own choice.
    chaos: bool = False
    run_id: str | None = None
    account: str | None = None
    duration_ms: float = 0.0
    #: For the inspector's detail view (`mockserver.admin.inspector.request_detail` masks the credentials).
    #: Headers as tuples (`pack_headers`): a journal of many worlds holds many entries, and tuples of
    #: bytes are nothing for the cyclic collector to scan, where lists are.
    request_headers: PackedHeaders = ()
    request_body: bytes = b""
    response_headers: PackedHeaders = ()
    #: False until the response has ended (a stream ends when it closes).
    done: bool = False
    #: What ``recoup-mock proxy`` found wrong with the exchange, ``{rule, where, message}`` each (None
    #: in the mock's own journal, which answers by the spec).
    violations: list[dict[str, str]] | None = None

    def to_json(self) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.time, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out = {"seq": self.seq, "time": stamp, "method": self.method, "path": self.path,
               "status": self.status, "scenario": self.scenario, "chaos": self.chaos, "runId": self.run_id,
               "account": self.account, "durationMs": round(self.duration_ms, 3), "done": self.done}
        if self.violations is not None:
            out["violations"] = list(self.violations)
        return out


def select_entries(entries: list[JournalEntry], query: Mapping[str, str]) -> list[JournalEntry]:
    """The entries a journal query keeps (``method``, ``path`` substring, ``status``, ``scenario``,
    ``runId``, then the last ``limit``); the admin spec has checked the values' types."""
    if "method" in query:
        entries = [e for e in entries if e.method == query["method"].upper()]
    if "path" in query:
        entries = [e for e in entries if query["path"] in e.path]
    if "status" in query:
        entries = [e for e in entries if e.status == int(query["status"])]
    if "scenario" in query:
        entries = [e for e in entries if e.scenario == query["scenario"]]
    if "runId" in query:
        entries = [e for e in entries if e.run_id == query["runId"]]
    if "limit" in query:
        entries = entries[-int(query["limit"]):]
    return entries


class Journal:
    """The last N requests, oldest dropped first. Times are wall-clock (this is for people)."""

    def __init__(self, size: int) -> None:
        self.entries: deque[JournalEntry] = deque(maxlen=size)
        self._seq = 0

    def record(self, method: str, path: str, status: int) -> JournalEntry:
        self._seq += 1
        entry = JournalEntry(self._seq, time.time(), method, path, status)
        self.entries.append(entry)
        return entry

    def clear(self) -> None:
        self.entries.clear()

