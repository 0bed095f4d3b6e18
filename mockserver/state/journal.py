"""The request journal: the last N exchanges of a world (or of the proxy), for people and the inspector.

Entries hold their headers as tuples of ``bytes`` pairs (`pack_headers`): one C-level copy per
request, and nothing for the cyclic collector to scan once it has seen them (it stops tracking a
tuple of untracked objects), so a journal of many worlds costs it nothing. A world's journal counts
what it keeps against the process's memory budget (`mockserver.state.budget`), which may evict its
oldest entries (`Journal.evict_oldest`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .budget import Budget, Charged, entry_cost

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


class Journal(Charged):
    """The last N requests, oldest dropped first. Times are wall-clock (this is for people).

    Given a `Budget`, what it keeps is charged to it (`mockserver.state.budget.entry_cost` of each entry,
    its body once `keep_body` has it), and `evict_oldest` hands its oldest entry back."""

    def __init__(self, size: int, budget: Budget | None = None) -> None:
        self.entries: deque[JournalEntry] = deque(maxlen=size)
        self._seq = 0
        self.budget = budget
        #: The estimated bytes of the entries kept (what was charged to the budget for them).
        self.kept_bytes = 0
        #: How many entries the memory budget evicted, and the last one's ``seq`` (entries go oldest first,
        #: so every ``seq`` up to it that is not kept was evicted, by the budget or by the journal's size).
        self.evicted = 0
        self.evicted_seq = 0

    def record(self, method: str, path: str, status: int) -> JournalEntry:
        self._seq += 1
        entry = JournalEntry(self._seq, time.time(), method, path, status)
        budget = self.budget
        if budget is not None:
            if len(self.entries) == self.entries.maxlen:
                self._forget(self.entries[0])  # the deque is about to drop it
            cost = entry_cost(path, b"")
            self.kept_bytes += cost
            self.entries.append(entry)
            budget.charge(cost)  # after the append: an eviction it sets off may take this entry too
        else:
            self.entries.append(entry)
        return entry

    def keep_body(self, entry: JournalEntry, body: bytes) -> None:
        """Keep ``body`` (already cut to what the journal keeps) as ``entry``'s request body, charged
        to the budget unless the entry is no longer kept."""
        entry.request_body = body
        budget = self.budget
        if budget is not None and body and self.entries and entry.seq >= self.entries[0].seq:
            self.kept_bytes += len(body)
            budget.charge(len(body))

    def _forget(self, entry: JournalEntry) -> None:
        cost = entry_cost(entry.path, entry.request_body)
        self.kept_bytes -= cost
        if self.budget is not None:
            self.budget.credit(cost)

    def oldest_time(self) -> float | None:
        """When the oldest entry kept was recorded (epoch seconds), if any."""
        return self.entries[0].time if self.entries else None

    def evict_oldest(self) -> None:
        """Evict the oldest entry for the memory budget (there is one: see `oldest_time`)."""
        entry = self.entries.popleft()
        self._forget(entry)
        self.evicted += 1
        self.evicted_seq = entry.seq
        if self.budget is not None:
            self.budget.entries_evicted += 1

    def clear(self) -> None:
        if self.budget is not None:
            self.budget.credit(self.kept_bytes)
        self.kept_bytes = 0
        self.evicted = 0
        self.entries.clear()
