"""What a contract run found: findings (operation, check, message, curl), the console text, JUnit XML,
and the Markdown summary (``--report``, and ``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import html
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

#: Findings that do not come from an HTTP check.
CHECK_CONNECTION = "connection"
CHECK_ERROR = "schemathesis_error"
#: What a printed command names instead of the keys: export them and it runs as is.
ENV_API_KEY = "RECOUP_API_KEY"
ENV_OTHER_API_KEY = "RECOUP_OTHER_API_KEY"

Identity = tuple[str, str, str, str]


@dataclass
class Finding:
    """One failure: where (operation), what decided it (check), why (message), and how to see it again (curl)."""

    operation: str
    check: str
    title: str
    message: str
    curl: str | None
    #: "flow:<name>" for a scripted flow, "phase:<name>" for a Schemathesis phase.
    source: str
    #: (operation, check, failure class, signature): what a baseline entry names.
    identity: Identity
    #: The baseline entry id, when the failure is known drift.
    known: str | None = None
    #: The docs/drift.md row of that entry, when it names one.
    drift: str | None = None

    @property
    def is_new(self) -> bool:
        return self.known is None


@dataclass(frozen=True)
class StaleEntry:
    """A baseline entry for an operation the run tested that matched none of its failures."""

    id: str
    operation: str
    check: str
    drift: str

    def describe(self) -> str:
        return f"{self.id}: {self.operation} · {self.check}" + (f" ({self.drift})" if self.drift else "")


@dataclass
class ContractReport:
    base_url: str
    target: str
    seed: int
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: How many requests each part made, e.g. {"flows": 61, "phase:fuzzing": 412}.
    requests: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0
    baseline: str | None = None
    baseline_recorded: int | None = None
    #: Baseline entries the run did not see (the target no longer drifts there, or the entry is wrong).
    stale_entries: list[StaleEntry] = field(default_factory=list)
    #: How many responses each check judged (passed or failed), over the whole run.
    check_runs: dict[str, int] = field(default_factory=dict)
    #: Every group that ran (flow or phase, operation), for the JUnit report.
    groups: set[tuple[str, str]] = field(default_factory=set)
    #: At most this many requests that could start an agent run were allowed (None: no cap).
    stream_cap: int | None = None
    #: Where the cap came from, for people ("--max-streams", "the default against --base-url").
    stream_cap_source: str = ""
    #: Requests that could start an agent run: sent, and skipped at the cap, by part.
    streams_sent: dict[str, int] = field(default_factory=dict)
    streams_skipped: dict[str, int] = field(default_factory=dict)
    #: The request rate limit in force ("10/s", "auto"), or None.
    rate_limit: str | None = None
    #: Secret values (keys, ``--header`` values) and the variables printed instead: every finding and
    #: note is redacted as it is recorded, so no output built from the report holds them.
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, finding: Finding) -> bool:
        """Record a finding unless the same failure was already recorded; True when it was new to the report."""
        if self.secrets:
            finding.title = redact(finding.title, self.secrets)
            finding.message = redact(finding.message, self.secrets)
            finding.curl = redact(finding.curl, self.secrets) if finding.curl is not None else None
        with self._lock:
            if any(existing.identity == finding.identity for existing in self.findings):
                return False
            self.findings.append(finding)
            return True

    def note(self, message: str) -> None:
        message = redact(message, self.secrets)
        with self._lock:
            self.notes.append(message)

    def count(self, part: str, n: int = 1) -> None:
        with self._lock:
            self.requests[part] = self.requests.get(part, 0) + n

    def checked(self, check: str, n: int = 1) -> None:
        with self._lock:
            self.check_runs[check] = self.check_runs.get(check, 0) + n

    def stream_sent(self, part: str) -> None:
        with self._lock:
            self.streams_sent[part] = self.streams_sent.get(part, 0) + 1

    def stream_skipped(self, part: str) -> None:
        with self._lock:
            self.streams_skipped[part] = self.streams_skipped.get(part, 0) + 1

    def note_once(self, message: str) -> None:
        message = redact(message, self.secrets)
        with self._lock:
            if message not in self.notes:
                self.notes.append(message)

    @property
    def new_findings(self) -> list[Finding]:
        return [f for f in self.findings if f.is_new]

    @property
    def known_findings(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_new]

    @property
    def passed(self) -> bool:
        return not self.new_findings

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    @property
    def checks_failed(self) -> set[str]:
        return {f.check for f in self.new_findings}


def redact(text: str, secrets: dict[str, str]) -> str:
    """Replace each secret value with a reference to the environment variable that holds it.

    Inside a single-quoted shell word the reference becomes ``'"$NAME"'``, so the printed curl
    command still runs once the variables are exported.
    """
    for value, name in sorted(secrets.items(), key=lambda item: -len(item[0])):
        if value:
            text = text.replace(value, f"'\"${name}\"'").replace(f"\"${name}\"''", f"\"${name}\"")
    return text


def header_variable(name: str) -> str:
    """The environment variable a printed command names for a ``--header`` value:
    ``x-vercel-protection-bypass`` -> ``X_VERCEL_PROTECTION_BYPASS``."""
    variable = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "HEADER"
    return f"_{variable}" if variable[0].isdigit() else variable


def _by_part(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


def stream_summary(report: ContractReport) -> str | None:
    """One line on the requests that could start an agent run, when a cap applied or any was skipped."""
    if report.stream_cap is None and not report.streams_skipped:
        return None
    sent, skipped = sum(report.streams_sent.values()), sum(report.streams_skipped.values())
    cap = f"at most {report.stream_cap}" if report.stream_cap is not None else "no cap"
    source = f" ({report.stream_cap_source})" if report.stream_cap_source else ""
    line = f"Requests that could start an agent run: {sent} sent"
    if sent:
        line += f" ({_by_part(report.streams_sent)})"
    line += f", {cap}{source}; {skipped} skipped at the cap"
    if skipped:
        line += f" ({_by_part(report.streams_skipped)})"
    return line


def format_report(report: ContractReport, *, max_lines: int = 14) -> str:
    """The console text: one block per failure (operation, check, message, curl), then a summary."""
    lines: list[str] = []
    for title, items in (("FAILURES", report.new_findings), ("KNOWN DRIFT (baseline)", report.known_findings)):
        if not items:
            continue
        lines.append(f"==================== {title} ({len(items)}) ====================")
        for n, finding in enumerate(sorted(items, key=lambda f: (f.operation, f.check)), 1):
            lines.append("")
            lines.append(f"{n}. {finding.operation}  --  check: {finding.check}  [{finding.source}]")
            lines.append(f"   {finding.title}")
            if finding.known:
                drift = f" ({finding.drift})" if finding.drift else ""
                lines.append(f"   known drift, baseline entry {finding.known}{drift}")
            message = finding.message.strip().splitlines()
            for line in message[:max_lines]:
                lines.append(f"     {line}")
            if len(message) > max_lines:
                lines.append(f"     ... ({len(message) - max_lines} more lines in the JUnit report)")
            if finding.curl:
                lines.append("   reproduce:")
                lines.extend(f"     {line}" for line in finding.curl.strip().splitlines())
        lines.append("")
    if report.notes:
        lines.append("Notes:")
        lines.extend(f"  - {note}" for note in report.notes)
        lines.append("")
    if report.stale_entries:
        lines.append(f"Baseline entries not seen in this run ({len(report.stale_entries)}; fixed, or stale):")
        lines.extend(f"  - {entry.describe()}" for entry in sorted(report.stale_entries, key=lambda e: e.id))
        lines.append("")
    if report.check_runs:
        ran = ", ".join(f"{name} {n}" for name, n in sorted(report.check_runs.items()))
        lines.append(f"Responses judged per check: {ran}")
    if (streams := stream_summary(report)) is not None:
        lines.append(streams)
    total = sum(report.requests.values())
    parts = ", ".join(f"{name} {n}" for name, n in sorted(report.requests.items()))
    verdict = "PASSED" if report.passed else "FAILED"
    known = f", {len(report.known_findings)} known drift" if report.known_findings else ""
    lines.append(f"recoup-mock contract {verdict}: {len(report.new_findings)} failure(s){known}; "
                 f"{total} requests ({parts}) against {report.base_url} [{report.target}]")
    lines.append(f"Seed {report.seed}; took {report.duration:.1f} s"
                 + (f"; baseline {report.baseline}" if report.baseline else ""))
    return "\n".join(lines)


def write_junit(report: ContractReport, path: Path) -> None:
    """One test case per (flow or phase, operation) that ran; each new failure is a <failure>."""
    suite = ET.Element("testsuite", name="recoup-mock contract", timestamp="", hostname=report.base_url)
    by_group: dict[tuple[str, str], list[Finding]] = {}
    for finding in report.findings:
        by_group.setdefault((finding.source, finding.operation), []).append(finding)
    groups = sorted(report.groups | set(by_group))
    failures = 0
    for source, operation in groups:
        case = ET.SubElement(suite, "testcase", classname=source, name=operation)
        for finding in by_group.get((source, operation), []):
            text = finding.message + (f"\n\nReproduce with:\n\n    {finding.curl}" if finding.curl else "")
            if finding.is_new:
                failures += 1
                element = ET.SubElement(case, "failure", type=finding.check,
                                        message=f"{finding.check}: {finding.title}")
            else:
                element = ET.SubElement(case, "skipped", message=f"known drift {finding.known}: {finding.check}")
            element.text = text
    suite.set("tests", str(len(groups)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(len(report.known_findings)))
    suite.set("time", f"{report.duration:.3f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


# ---------------------------------------------------------------------------------------- Markdown
def _fence(text: str, language: str) -> list[str]:
    """``text`` as a fenced code block whose fence no backtick run inside it can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", text.rstrip("\n"), fence]


def _inline(text: str) -> str:
    """Plain text for a Markdown line: no HTML, no table pipes, one line."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "\\|")


def format_markdown(report: ContractReport, *, max_lines: int = 30) -> str:
    """The summary a person reads on the job page: the numbers, each new failure with its curl
    command, and the known drift as a collapsed list. Built from the findings, which are redacted."""
    verdict = "PASSED" if report.passed else "FAILED"
    total = sum(report.requests.values())
    lines = [f"## recoup-mock contract: {verdict}", ""]
    lines.append(f"`{report.base_url}` ({_inline(report.target)}) · seed {report.seed} · {report.duration:.1f} s"
                 + (f" · baseline `{report.baseline}`" if report.baseline else ""))
    lines += ["", "| | |", "|---|---|",
              f"| New failures | {len(report.new_findings)} |",
              f"| Known drift (baseline) | {len(report.known_findings)} |",
              f"| Requests | {total}" + (f" ({_by_part(report.requests)})" if report.requests else "") + " |"]
    if report.stream_cap is not None or report.streams_skipped:
        cap = str(report.stream_cap) if report.stream_cap is not None else "none"
        lines.append(f"| Requests that could start an agent run | {sum(report.streams_sent.values())} sent, "
                     f"{sum(report.streams_skipped.values())} skipped (cap {cap}) |")
    if report.rate_limit:
        lines.append(f"| Rate limit | {_inline(report.rate_limit)} |")
    if report.new_findings:
        lines += ["", f"### New failures ({len(report.new_findings)})"]
        for n, finding in enumerate(sorted(report.new_findings, key=lambda f: (f.operation, f.check)), 1):
            lines += ["", f"**{n}. `{finding.operation}` — check `{finding.check}`** ({_inline(finding.source)})",
                      "", _inline(finding.title), ""]
            message = finding.message.strip().splitlines()
            shown = "\n".join(message[:max_lines])
            if len(message) > max_lines:
                shown += f"\n... ({len(message) - max_lines} more lines in the JUnit report)"
            lines += _fence(shown, "text")
            if finding.curl:
                lines += ["", "Reproduce:", "", *_fence(finding.curl.strip(), "sh")]
    if report.known_findings:
        lines += ["", f"<details><summary>Known drift: {len(report.known_findings)} failure(s) the baseline "
                      "accounts for</summary>", ""]
        for finding in sorted(report.known_findings, key=lambda f: (f.operation, f.check)):
            drift = f"; {_inline(finding.drift)}" if finding.drift else ""
            lines.append(f"- `{finding.operation}` — `{finding.check}`: {_inline(finding.title)} "
                         f"(entry `{finding.known}`{drift})")
        lines += ["", "</details>"]
    if report.stale_entries:
        lines += ["", f"<details><summary>Baseline entries not seen: {len(report.stale_entries)} (fixed, or "
                      "stale)</summary>", ""]
        lines += [f"- {_inline(entry.describe())}" for entry in sorted(report.stale_entries, key=lambda e: e.id)]
        lines += ["", "</details>"]
    if report.notes:
        lines += ["", "<details><summary>Notes</summary>", ""]
        lines += [f"- {_inline(note)}" for note in report.notes]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_markdown(report: ContractReport, path: Path | None, step_summary: str | None = None) -> None:
    """Write the summary to ``path`` and append it to ``step_summary`` (``$GITHUB_STEP_SUMMARY``)."""
    text = format_markdown(report)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as summary:
            summary.write(text + "\n")
