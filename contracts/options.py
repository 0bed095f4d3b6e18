"""What a contract run is configured with: one table of options, and `ContractOptions`, the result.

`OPTIONS` lists every option once: the flag (``recoup-mock contract`` and ``pytest contracts`` both
build theirs from this table, with `argument_specs`), the ``RECOUP_CONTRACT_*`` variable that may
also set it, and how its text is read and checked. A flag wins over its variable, the variable over
the default. A bad value is an `OptionError` naming the flag (or variable), the value and what is
expected; the command prints it and exits 2.

Variables (each also a flag, but the first five)::

    RECOUP_CONTRACT_SESSION_ID        use this session (it must have a sandbox) instead of creating one
    RECOUP_CONTRACT_OTHER_SESSION_ID  with ..._OTHER_CHAT_ID: the other account's chat, for the 403s
    RECOUP_CONTRACT_OTHER_CHAT_ID
    RECOUP_CONTRACT_REPO_URL          the repository the created sandbox clones
    RECOUP_CONTRACT_BASELINE_UPDATE   1: merge this run's failures into the baseline in use
    RECOUP_CONTRACT_RATE_LIMIT        --rate-limit
    RECOUP_CONTRACT_REQUEST_TIMEOUT   --request-timeout
    RECOUP_CONTRACT_BASELINE          --baseline
    RECOUP_CONTRACT_PHASES            --phases
    RECOUP_CONTRACT_FLOWS             --flows (``none``: --no-flows)
    RECOUP_CONTRACT_OPERATIONS        --include (comma-separated)
    RECOUP_CONTRACT_SPEC              --spec

An operation (``--include``, ``--exclude``) is named by its operationId or by ``METHOD /path``; both
are read as its `operations.SpecOperation.key` (the operationId when it has one).

This module imports nothing heavy (the ``recoup-mock`` parser is built from it for every command).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .operations import SpecOperation, resolve, spec_operations

PHASES = ("examples", "coverage", "fuzzing", "stateful")
#: The scripted flows, in the order they run (`provision` always runs first when any other does).
FLOWS = ("sandbox_active", "chat_turn", "resume_idle", "busy_conflict", "foreign_chat", "credentials", "run_lifecycle",
         "read_back", "turn_persisted", "read_marks", "rename_visible", "delete_gone", "cross_account")
#: Every built-in Schemathesis check (4.32). `use_after_free` judges what follows a DELETE (a deleted
#: chat answers 404 afterwards); `max_response_time` is left out: streams are slow by design.
BUILTIN_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "ignored_auth",
    "object_level_authorization",
    "unsupported_method",
    "allow_header_conformance",
    "ensure_resource_availability",
    "use_after_free",
)
DEFAULT_MAX_EXAMPLES = 50
DEFAULT_REQUEST_TIMEOUT = 10.0
#: --max-streams when --base-url is given and the flag is not: a real deployment pays for each run.
DEFAULT_MAX_STREAMS = 20
DEFAULT_REPO_URL = "https://github.com/recoupable/mock-workspace"
ENV_PREFIX = "RECOUP_CONTRACT_"
#: Headers the suite sets itself; --header may not replace them.
RESERVED_HEADERS = frozenset({"x-api-key", "authorization", "content-type", "content-length", "host",
                              "transfer-encoding", "connection"})
_RATE = re.compile(r"^([1-9][0-9]*)/([smhd])$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

Baseline = Path | Literal["none"] | None
MaxStreams = int | Literal["unlimited"] | None


class OptionError(ValueError):
    """A bad option value: which option, the value as given, and what is expected."""

    def __init__(self, field: str, value: object, expected: str, *, source: str | None = None,
                 secret: bool = False) -> None:
        self.field, self.value, self.expected, self.secret = field, value, expected, secret
        self.source = source or _flag_of(field)
        super().__init__(self._text())

    def _text(self) -> str:
        if self.value is None:
            return f"{self.source} {self.expected}"
        shown = _mask(str(self.value)) if self.secret else str(self.value)
        return f"{self.source} {shown!r}: {self.expected}"

    def from_source(self, source: str) -> OptionError:
        return OptionError(self.field, self.value, self.expected, source=source, secret=self.secret)


def _mask(text: str) -> str:
    """Enough of a secret to recognise it, never all of it."""
    name, sep, _ = text.partition(":")
    if sep and _TOKEN.match(name.strip()):
        return f"{name}: ***"
    return text[:3] + "***" if len(text) > 6 else "***"


# ---------------------------------------------------------------------------------------- parsers
# Each reads one text (a flag's value or a variable) and returns the field's value, or raises
# OptionError(field, text, what is expected).

def _text(field: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw.strip():
            raise OptionError(field, raw, "expected a non-empty value")
        return raw.strip()
    return parse


def _path(field: str) -> Callable[[str], Path]:
    def parse(raw: str) -> Path:
        if not raw.strip():
            raise OptionError(field, raw, "expected a file path")
        return Path(raw.strip())
    return parse


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise OptionError("base_url", raw, "expected the API's base URL, http:// or https:// (e.g. https://api.example.com)")
    return value


def _int(field: str, minimum: int, what: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip())
        except ValueError:
            raise OptionError(field, raw, f"expected {what}") from None
        if value < minimum:
            raise OptionError(field, raw, f"expected {what}")
        return value
    return parse


def _seconds(field: str) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            raise OptionError(field, raw, "expected a number of seconds greater than 0 (e.g. 10 or 2.5)") from None
        if not value > 0 or value == float("inf"):
            raise OptionError(field, raw, "expected a number of seconds greater than 0 (e.g. 10 or 2.5)")
        return value
    return parse


def _seed(raw: str) -> int:
    return _int("seed", -(2**63), "a whole number")(raw)


def _rate(raw: str) -> str:
    value = raw.strip().lower()
    if value in ("auto", "none") or _RATE.match(value):
        return value
    raise OptionError("rate_limit", raw, "expected N/s or N/m (at most N requests a second or a minute, N >= 1, "
                                         "e.g. 10/s; 429s are waited out too), auto (no limit, 429s waited out; the "
                                         "default against --base-url) or none")


def _max_streams(raw: str) -> int | Literal["unlimited"]:
    value = raw.strip().lower()
    if value == "unlimited":
        return "unlimited"
    return _int("max_streams", 0, f"a whole number >= 0, or unlimited (default: unlimited against the bundled "
                                  f"mock, {DEFAULT_MAX_STREAMS} against --base-url)")(raw)


def _names(field: str, known: tuple[str, ...], what: str) -> Callable[[str], tuple[str, ...]]:
    """A comma-separated subset of ``known`` (kept in the canonical order), ``all`` or ``none``."""
    def parse(raw: str) -> tuple[str, ...]:
        value = raw.strip().lower()
        if value == "none":
            return ()
        if value == "all":
            return known
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        unknown = [part for part in parts if part not in known]
        if unknown or not parts:
            raise OptionError(field, raw, f"expected a comma-separated list of {what} ({', '.join(known)}), "
                                          "all or none")
        return tuple(name for name in known if name in parts)
    return parse


def _operations(field: str) -> Callable[[str], tuple[str, ...]]:
    """Operations, comma-separated: operationIds or ``METHOD /path`` (checked against the spec once every
    option is read)."""
    def parse(raw: str) -> tuple[str, ...]:
        parts = tuple(part.strip() for part in raw.split(",") if part.strip())
        if not parts:
            raise OptionError(field, raw, "expected an operation of the spec: its operationId or 'METHOD /path' "
                                          "(e.g. postChat, or 'POST /api/chat')")
        return parts
    return parse


def _header(raw: str) -> tuple[tuple[str, str]]:
    name, sep, value = raw.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or not _TOKEN.match(name) or not value or "\r" in value or "\n" in value:
        raise OptionError("headers", raw, "expected 'Name: value' (e.g. 'x-vercel-protection-bypass: $SECRET'); "
                                          "the value is a secret and is never printed", secret=True)
    if name.lower() in RESERVED_HEADERS:
        raise OptionError("headers", raw, f"expected a header the suite does not set itself (not "
                                          f"{', '.join(sorted(RESERVED_HEADERS))})", secret=True)
    return ((name, value),)


def _baseline(raw: str) -> Path | Literal["none"]:
    value = raw.strip()
    if not value:
        raise OptionError("baseline", raw, "expected a baseline file, the name of a bundled one, or none")
    if value.lower() == "none":
        return "none"
    return resolve_baseline(value)


def _switch(field: str) -> Callable[[str], bool]:
    def parse(raw: str) -> bool:
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off", ""):
            return False
        raise OptionError(field, raw, "expected 1 or 0 (true or false)")
    return parse


def resolve_baseline(value: str) -> Path:
    """A baseline path as given; or, for a bare name like ``production``, the bundled
    ``contracts/baselines/production.json`` (an existing file of that name wins)."""
    path = Path(value)
    bundled = Path(__file__).resolve().parent / "baselines" / f"{value}.json"
    bare = "/" not in value and "\\" not in value and not value.endswith(".json")
    if bare and not path.exists() and bundled.exists():
        return bundled
    return path


def bundled_baselines() -> list[str]:
    return sorted(path.stem for path in (Path(__file__).resolve().parent / "baselines").glob("*.json"))


# ---------------------------------------------------------------------------------------- the table
OptionKind = Literal["value", "repeat", "switch", "optional"]


@dataclass(frozen=True)
class Option:
    #: The `ContractOptions` field it sets.
    field: str
    #: The flag of both front ends; None for a variable without a flag.
    flag: str | None
    help: str
    parse: Callable[[str], Any]
    metavar: str | None = None
    #: The variable's name after ``RECOUP_CONTRACT_``.
    env: str | None = None
    #: value: one; repeat: the flag may be given again (values add up); switch: no value;
    #: optional: the flag alone means `const`.
    kind: OptionKind = "value"
    const: str | None = None
    #: A second flag meaning the text "none" (``--no-flows``).
    negative: str | None = None
    required: bool = False

    @property
    def dest(self) -> str:
        """The argparse/pytest destination. ``base_url`` keeps pytest-base-url's, so both plugins agree."""
        return "base_url" if self.field == "base_url" else f"contract_{self.field}"

    @property
    def env_name(self) -> str | None:
        return ENV_PREFIX + self.env if self.env else None


OPTIONS: tuple[Option, ...] = (
    Option("base_url", "--base-url", "the API to test (default: the bundled mock, started on a free port at full "
           "speed)", _url, metavar="URL"),
    Option("api_key", "--api-key", "the account the suite acts as", _text("api_key"), metavar="KEY", required=True),
    Option("other_api_key", "--other-api-key", "a second account (403s on its chat, object_level_authorization)",
           _text("other_api_key"), metavar="KEY"),
    Option("junit", "--junit", "write a JUnit XML report to PATH", _path("junit"), metavar="PATH"),
    Option("report", "--report", "write a Markdown summary to PATH (also appended to $GITHUB_STEP_SUMMARY when "
           "that is set)", _path("report"), metavar="PATH.md"),
    Option("max_examples", "--max-examples", f"test cases per operation and phase (default {DEFAULT_MAX_EXAMPLES})",
           _int("max_examples", 1, "a whole number >= 1"), metavar="N"),
    Option("seed", "--seed", "seed of the generated data", _seed, metavar="N"),
    Option("max_time", "--max-time", "stop sending after S seconds in all", _seconds("max_time"), metavar="S"),
    Option("request_timeout", "--request-timeout", f"seconds a request, and the reading of a whole stream, may take "
           f"(default {DEFAULT_REQUEST_TIMEOUT:g})", _seconds("request_timeout"), metavar="S", env="REQUEST_TIMEOUT"),
    Option("rate_limit", "--rate-limit", "at most N requests a second (N/s) or a minute (N/m) over the whole run, "
           "429s waited out (Retry-After); auto: only the waiting (the default against --base-url); none: neither",
           _rate, metavar="N/s", env="RATE_LIMIT"),
    Option("max_streams", "--max-streams", f"at most N requests that could start an agent run (POST /api/chat, "
           f"/api/chat/workflow, /api/chat/runs, /legacy/api/chat); the rest are skipped (default: unlimited against "
           f"the bundled mock, {DEFAULT_MAX_STREAMS} against --base-url)", _max_streams, metavar="N"),
    Option("spec", "--spec", "the OpenAPI 3.1 or 3.2 document to test against (default: the bundled "
           "openapi/chat.yaml, which the bundled mock serves)", _path("spec"), metavar="FILE", env="SPEC"),
    Option("include", "--include", "test only this operation in the phases: its operationId, or 'METHOD /path' "
           "(repeatable; default: all)", _operations("include"), metavar="OPERATION", env="OPERATIONS", kind="repeat"),
    Option("exclude", "--exclude", "never call this operation, in the phases or the flows: its operationId, or "
           "'METHOD /path' (repeatable)", _operations("exclude"), metavar="OPERATION", kind="repeat"),
    Option("phases", "--phases", f"Schemathesis phases to run: a comma-separated subset of {', '.join(PHASES)}, all "
           "or none (default all)", _names("phases", PHASES, "phases"), metavar="LIST", env="PHASES"),
    Option("flows", "--flows", "run the scripted flows (default), or only these: a comma-separated subset of "
           f"{', '.join(FLOWS)}", _names("flows", FLOWS, "flows"), metavar="LIST", env="FLOWS", kind="optional",
           const="all", negative="--no-flows"),
    Option("headers", "--header", "add this header to every request (repeatable), e.g. a deployment-protection "
           "bypass; its value is never printed", _header, metavar="'Name: value'", kind="repeat"),
    Option("dry_run", "--dry-run", "print the plan (operations, phases, flows, caps, baseline) and send nothing",
           _switch("dry_run"), kind="switch"),
    Option("baseline", "--baseline", "known drift: a baseline file, a bundled one by name "
           f"({', '.join(bundled_baselines()) or 'none bundled'}), or none (default: the bundled one for the hosts "
           "it lists)", _baseline, metavar="PATH", env="BASELINE"),
    Option("update_baseline", "--update-baseline", "write this run's failures to PATH as a baseline (new entries "
           "with an empty `why` to fill in; existing entries are kept)", _path("update_baseline"), metavar="PATH"),
    Option("baseline_update", None, "merge this run's failures into the baseline in use",
           _switch("baseline_update"), env="BASELINE_UPDATE"),
    Option("session_id", None, "a session of ours (with a sandbox) to use", _text("session_id"), env="SESSION_ID"),
    Option("other_session_id", None, "the other account's session", _text("other_session_id"),
           env="OTHER_SESSION_ID"),
    Option("other_chat_id", None, "the other account's chat", _text("other_chat_id"), env="OTHER_CHAT_ID"),
    Option("repo_url", None, "the repository the created sandbox clones", _text("repo_url"), env="REPO_URL"),
)
_BY_FIELD = {option.field: option for option in OPTIONS}


def _flag_of(field: str) -> str:
    option = _BY_FIELD.get(field)
    if option is None:
        return field
    return option.flag or option.env_name or field


def argument_specs(*, enforce_required: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(flag, keyword arguments)`` for argparse's ``add_argument`` and pytest's ``addoption`` alike.

    Values stay text (or lists of text, or True): `ContractOptions.from_sources` reads them, so both
    front ends accept and refuse exactly the same values with the same messages. ``enforce_required``
    lets argparse refuse a missing ``--api-key`` with its usage line (pytest would then need it even
    for ``--help``; there `from_sources` refuses it)."""
    for option in OPTIONS:
        if option.flag is None:
            continue
        kwargs: dict[str, Any] = {"dest": option.dest, "default": None, "help": option.help}
        if option.required and enforce_required:
            kwargs["required"] = True
        if option.kind == "switch":
            kwargs["action"] = "store_true"
        else:
            kwargs["metavar"] = option.metavar
        if option.kind == "repeat":
            kwargs["action"] = "append"
        if option.kind == "optional":
            kwargs["nargs"] = "?"
            kwargs["const"] = option.const
        yield option.flag, kwargs
        if option.negative:
            yield option.negative, {"dest": option.dest, "action": "store_const", "const": "none", "default": None,
                                    "help": f"the same as {option.flag} none"}


def flag_values(get: Callable[[str], Any]) -> dict[str, Any]:
    """The parsed flags of a front end (``get(dest)``), by field."""
    return {option.field: get(option.dest) for option in OPTIONS if option.flag is not None}


# ---------------------------------------------------------------------------------------- the options
@dataclass(frozen=True)
class ContractOptions:
    api_key: str
    base_url: str | None = None
    other_api_key: str | None = None
    junit: Path | None = None
    report: Path | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    max_time: float | None = None
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    #: None: ``auto`` against --base-url, no limit against the bundled mock.
    rate_limit: str | None = None
    #: None: unlimited against the bundled mock, `DEFAULT_MAX_STREAMS` against --base-url.
    max_streams: MaxStreams = None
    #: The OpenAPI document (None: the bundled openapi/chat.yaml).
    spec: Path | None = None
    #: The operations the phases test, by `SpecOperation.key`; empty means every operation of the spec.
    #: Given as operationIds or ``METHOD /path``, they are read as keys.
    include: tuple[str, ...] = ()
    #: The operations never called, by the phases or the flows (keys, as ``include``).
    exclude: tuple[str, ...] = ()
    phases: tuple[str, ...] = PHASES
    flows: tuple[str, ...] = FLOWS
    #: Added to every request; the values are secrets (see `secrets`).
    headers: tuple[tuple[str, str], ...] = ()
    dry_run: bool = False
    #: None: the bundled baseline for the hosts it lists; "none": no baseline.
    baseline: Baseline = None
    update_baseline: Path | None = None
    baseline_update: bool = False
    session_id: str | None = None
    other_session_id: str | None = None
    other_chat_id: str | None = None
    repo_url: str = DEFAULT_REPO_URL
    # ---- not options: the knobs the suite's own tests turn
    #: Built-in checks enabled in the phases; the custom stream checks always run.
    checks: tuple[str, ...] = BUILTIN_CHECKS
    stream_byte_cap: int = 4 * 1024 * 1024
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.api_key:
            raise OptionError("api_key", None, "is required (the account the suite acts as)")
        for field, known, what in (("phases", PHASES, "phases"), ("flows", FLOWS, "flows")):
            unknown = [name for name in getattr(self, field) if name not in known]
            if unknown:
                raise OptionError(field, ",".join(unknown), f"expected a subset of the {what}: {', '.join(known)}")
        unknown = [name for name in self.checks if name not in BUILTIN_CHECKS]
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(unknown)}; choose from {', '.join(BUILTIN_CHECKS)}")
        if self.max_examples < 1:
            raise OptionError("max_examples", self.max_examples, "expected a whole number >= 1")
        if self.max_time is not None and self.max_time <= 0:
            raise OptionError("max_time", self.max_time, "expected a number of seconds greater than 0")
        if self.request_timeout <= 0:
            raise OptionError("request_timeout", self.request_timeout, "expected a number of seconds greater than 0")
        if self.rate_limit is not None:
            _rate(self.rate_limit)
        if isinstance(self.max_streams, int) and self.max_streams < 0:
            raise OptionError("max_streams", self.max_streams, "expected a whole number >= 0, or unlimited")
        try:
            operations = spec_operations(self.spec_path)
        except ValueError as why:
            raise OptionError("spec", str(self.spec_path),
                              f"expected an OpenAPI 3.1 or 3.2 document; it {why}") from None
        for field in ("include", "exclude"):
            given: tuple[str, ...] = getattr(self, field)
            found = [resolve(operations, name) for name in given]
            unknown = [name for name, operation in zip(given, found, strict=True) if operation is None]
            if unknown:
                raise OptionError(field, ",".join(unknown), f"expected operations of {self.spec_path.name}, each its "
                                  f"operationId or 'METHOD /path': {', '.join(op.key for op in operations)}")
            # Frozen, but read as keys once here, so that everything after compares keys only.
            object.__setattr__(self, field, tuple(dict.fromkeys(op.key for op in found if op is not None)))
        names = [name.lower() for name, _ in self.headers]
        for name, value in self.headers:
            _header(f"{name}: {value}")
        if len(set(names)) != len(names):
            twice = sorted({name for name in names if names.count(name) > 1})
            raise OptionError("headers", ", ".join(twice), "expected each header once")

    # ------------------------------------------------------------------ reading the sources
    @classmethod
    def from_sources(cls, flags: Mapping[str, Any], environ: Mapping[str, str] | None = None,
                     **programmatic: Any) -> ContractOptions:
        """Options from a front end's flags (text, by field; None or [] when not given) over the
        ``RECOUP_CONTRACT_*`` variables of ``environ`` (the process's by default) over the defaults.
        ``programmatic`` values (typed) are set as they are. Raises `OptionError`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for option in OPTIONS:
            raw = flags.get(option.field) if option.flag is not None else None
            source = option.flag or ""
            if raw is None or raw == [] or raw is False:
                raw, source = None, ""
                if option.env_name is not None and (text := env.get(option.env_name, "").strip()):
                    raw, source = text, option.env_name
            if raw is None:
                continue
            sources[option.field] = source
            try:
                values[option.field] = _read(option, raw)
            except OptionError as exc:
                raise exc.from_source(source) from None
        if not values.get("api_key") and "api_key" not in programmatic:
            raise OptionError("api_key", None, "is required (the account the suite acts as)")
        values.update(programmatic)
        try:
            return cls(**values)
        except OptionError as exc:
            raise exc.from_source(sources.get(exc.field) or exc.source) from None

    def replace(self, **changes: Any) -> ContractOptions:
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ what the defaults come to
    @property
    def spec_path(self) -> Path:
        from mockserver.settings import DEFAULT_SPEC

        return self.spec or DEFAULT_SPEC

    @property
    def bundled(self) -> bool:
        """Whether the run starts the bundled mock (no --base-url)."""
        return self.base_url is None

    def stream_cap(self) -> int | None:
        """How many requests that could start an agent run may reach the target; None: no cap."""
        if self.max_streams == "unlimited":
            return None
        if self.max_streams is None:
            return None if self.bundled else DEFAULT_MAX_STREAMS
        return self.max_streams

    def effective_rate_limit(self) -> str | None:
        """``N/s``-style, ``auto`` or None (no limit)."""
        rate = self.rate_limit if self.rate_limit is not None else (None if self.bundled else "auto")
        return None if rate is None or rate == "none" else rate

    def spec_operations(self) -> tuple[SpecOperation, ...]:
        """Every operation of the spec, in its order."""
        return spec_operations(self.spec_path)

    def operations(self) -> tuple[SpecOperation, ...]:
        """The operations the phases test, in the spec's order."""
        everything = self.spec_operations()
        included = set(self.include) or {operation.key for operation in everything}
        return tuple(op for op in everything if op.key in included and op.key not in self.exclude)

    def operation_key(self, label: str) -> str:
        """What the plan and the report call the operation ``METHOD /path`` (its operationId, when it has one)."""
        operation = resolve(self.spec_operations(), label)
        return operation.key if operation is not None else label

    def excludes(self, label: str) -> bool:
        """Whether ``--exclude`` names the operation ``METHOD /path``."""
        return self.operation_key(label) in self.exclude

    def secrets(self) -> dict[str, str]:
        """Each secret value and the environment variable a printed command names instead."""
        from .report import ENV_API_KEY, ENV_OTHER_API_KEY, header_variable

        found = {self.api_key: ENV_API_KEY}
        if self.other_api_key:
            found[self.other_api_key] = ENV_OTHER_API_KEY
        for name, value in self.headers:
            found[value] = header_variable(name)
        return found


def _read(option: Option, raw: Any) -> Any:
    if option.kind == "switch":
        return raw if isinstance(raw, bool) else option.parse(str(raw))
    if option.kind == "repeat":
        items = raw if isinstance(raw, list | tuple) else [raw]
        combined: list[Any] = []
        for item in items:
            for value in option.parse(str(item)):
                if value not in combined:
                    combined.append(value)
        return tuple(combined)
    return option.parse(str(raw))
