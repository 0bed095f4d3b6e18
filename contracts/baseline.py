"""Known drift: a Schemathesis baseline file (format version 1, as ``schemathesis run --baseline`` reads it).

An entry names a failure by (operation, check, failure class, signature) — the identity Schemathesis
itself uses — and may carry extra keys, which Schemathesis keeps and ignores; ours are ``drift``
(the ``docs/drift.md`` row) and ``why``. The file's top level may also list ``targets``: base URLs
for which the suite applies the baseline without being told (the production deployment).

A finding that matches an unexpired entry is *known drift*: it is reported, but it does not fail
the run. Anything else is a new failure.

``--baseline`` names a file, a bundled baseline by name (``production``: `BUNDLED`), or ``none``;
``--update-baseline PATH`` writes the run's failures there (`update`): a team that accepts today's
drift runs once with it, fills in each entry's ``why``, and from then on sees only new regressions.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from schemathesis.baseline import Baseline, BaselineEntry
from schemathesis.core.version import SCHEMATHESIS_VERSION

from .report import ContractReport, StaleEntry

BASELINES = Path(__file__).resolve().parent / "baselines"
BUNDLED = BASELINES / "production.json"


#: An entry's key saying its failure is intermittent: not seeing it in a run does not make it stale.
INTERMITTENT = "intermittent"


def _origin(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.scheme}://{parsed.netloc}".lower()


def targets(path: Path) -> list[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    listed = data.get("targets", []) if isinstance(data, dict) else []
    return [str(item) for item in listed]


def select(base_url: str, *, explicit: Path | Literal["none"] | None, bundled_mock: bool) -> Path | None:
    """The baseline for this run: the one given (or none), else the bundled one when ``base_url`` is a
    listed target."""
    if explicit == "none":
        return None
    if explicit is not None:
        return explicit
    if bundled_mock or not BUNDLED.exists():
        return None
    if _origin(base_url) in {_origin(target) for target in targets(BUNDLED)}:
        return BUNDLED
    return None


def apply(report: ContractReport, path: Path, today: date | None = None) -> None:
    """Mark every finding that an unexpired entry of ``path`` covers as known drift."""
    baseline = Baseline.load(path)
    day = today or date.today()
    entries = {entry.identity: entry for entry in baseline.entries if not entry.is_expired(day)}
    seen: set[tuple[str, str, str, str]] = set()
    for finding in report.findings:
        entry = entries.get(finding.identity)
        if entry is not None:
            seen.add(entry.identity)
            finding.known = entry.id
            drift = entry.extra.get("drift")
            finding.drift = str(drift) if drift is not None else None
    report.baseline = str(path)
    # An entry this run did not see is stale, unless it says the failure comes and goes (a 502 when a
    # status read fails, ...). Only entries for what the run tested count: a narrowed run sees less.
    tested = {operation for _source, operation in report.groups}
    report.stale_entries = [
        StaleEntry(entry.id, entry.operation, entry.check, str(entry.extra.get("drift") or ""))
        for entry in entries.values()
        if entry.identity not in seen and not entry.extra.get(INTERMITTENT) and entry.operation in tested
    ]


def update(report: ContractReport, path: Path) -> int:
    """Merge this run's failures, new and known, into ``path`` (created if missing); returns how many
    entries were added. Existing entries are kept as they are (their ``why`` too); new ones get
    ``drift: unclassified`` and an empty ``why`` for a person to fill in."""
    document: dict[str, Any] = {}
    if path.exists():
        document = json.loads(path.read_text(encoding="utf-8"))
    baseline = Baseline.load(path)
    known = {entry.identity: entry for entry in baseline.entries}
    stamp = date.today().isoformat()
    added = 0
    for finding in report.findings:
        entry = known.get(finding.identity)
        if entry is None:
            operation, check, failure, signature = finding.identity
            entry = BaselineEntry(operation=operation, check=check, failure=failure, signature=signature,
                                  first_seen=stamp, last_seen=stamp,
                                  extra={"drift": "unclassified", "why": "", "title": finding.title})
            baseline.entries.append(entry)
            known[finding.identity] = entry
            added += 1
        else:
            entry.last_seen = stamp
    document.update({
        "format_version": 1,
        "schemathesis_version": SCHEMATHESIS_VERSION,
        "entries": [entry.to_dict() for entry in sorted(baseline.entries, key=lambda e: e.identity)],
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    report.baseline_recorded = added
    return added
