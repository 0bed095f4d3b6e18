"""What a contract run is configured with: the command's flags, plus ``RECOUP_CONTRACT_*`` variables.

The flags of ``recoup-mock contract`` are exactly those of the issue (``--base-url``, ``--api-key``,
``--other-api-key``, ``--junit``, ``--max-examples``, ``--seed``, ``--max-time``). Everything else a
run against a deployment may need is an environment variable, read by `ContractOptions.from_env`:

===================================  ===================================================================
``RECOUP_CONTRACT_SESSION_ID``       use this session (it must have a sandbox) instead of creating one
``RECOUP_CONTRACT_OTHER_SESSION_ID`` with ``..._OTHER_CHAT_ID``: the other account's chat, for the 403s
``RECOUP_CONTRACT_OTHER_CHAT_ID``
``RECOUP_CONTRACT_REPO_URL``        the GitHub repository the created sandbox clones
                                     (default ``https://github.com/recoupable/mock-workspace``)
``RECOUP_CONTRACT_RATE_LIMIT``       e.g. ``60/m``; ``auto`` (the default against a ``--base-url``)
                                     waits out ``Retry-After`` on 429s; ``none`` disables it
``RECOUP_CONTRACT_REQUEST_TIMEOUT``  seconds; also the bound on reading one stream (default 10)
``RECOUP_CONTRACT_BASELINE``         a baseline file, or ``none``; by default the bundled baseline
                                     applies when the target is one of the hosts it lists
``RECOUP_CONTRACT_BASELINE_UPDATE``  ``1``: write this run's failures into the baseline file
``RECOUP_CONTRACT_PHASES``           comma-separated subset of examples,coverage,fuzzing,stateful
``RECOUP_CONTRACT_FLOWS``            comma-separated subset of the flows (``none`` for no flows)
``RECOUP_CONTRACT_OPERATIONS``       comma-separated operationIds the phases test (default: all)
===================================  ===================================================================
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PHASES = ("examples", "coverage", "fuzzing", "stateful")
#: The scripted flows, in the order they run (`provision` always runs first when any other does).
FLOWS = ("chat_turn", "resume_idle", "busy_conflict", "foreign_chat", "credentials", "run_lifecycle")
#: Every built-in Schemathesis check (4.32). `use_after_free` never fires here (the API has no DELETE),
#: and `max_response_time` is left out: streams are slow by design.
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
ENV_PREFIX = "RECOUP_CONTRACT_"


@dataclass(frozen=True)
class ContractOptions:
    api_key: str
    base_url: str | None = None
    other_api_key: str | None = None
    junit: Path | None = None
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    max_time: float | None = None
    # ---- not flags: RECOUP_CONTRACT_* variables, and the knobs the suite's own tests turn
    phases: tuple[str, ...] = PHASES
    flows: tuple[str, ...] = FLOWS
    #: operationIds the phases test; empty means every operation of the spec.
    operations: tuple[str, ...] = ()
    #: Built-in checks enabled in the phases; the custom stream checks always run.
    checks: tuple[str, ...] = BUILTIN_CHECKS
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    stream_byte_cap: int = 4 * 1024 * 1024
    rate_limit: str | None = None
    baseline: Path | None = None
    #: False: never apply a baseline (even the bundled one for a listed host).
    use_baseline: bool = True
    baseline_update: bool = False
    session_id: str | None = None
    other_session_id: str | None = None
    other_chat_id: str | None = None
    repo_url: str = "https://github.com/recoupable/mock-workspace"
    spec: Path | None = None
    workers: int = 1

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("--api-key is required")
        unknown = set(self.phases) - set(PHASES)
        if unknown:
            raise ValueError(f"unknown phase(s) {', '.join(sorted(unknown))}; choose from {', '.join(PHASES)}")
        unknown = set(self.flows) - set(FLOWS)
        if unknown:
            raise ValueError(f"unknown flow(s) {', '.join(sorted(unknown))}; choose from {', '.join(FLOWS)}")
        unknown = set(self.checks) - set(BUILTIN_CHECKS)
        if unknown:
            raise ValueError(f"unknown check(s) {', '.join(sorted(unknown))}; choose from {', '.join(BUILTIN_CHECKS)}")
        if self.max_examples < 1:
            raise ValueError("--max-examples must be at least 1")
        if self.max_time is not None and self.max_time <= 0:
            raise ValueError("--max-time must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **flags: Any) -> ContractOptions:
        """Flags (``None`` = not given) over ``RECOUP_CONTRACT_*`` variables over the defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}

        def get(name: str) -> str | None:
            raw = env.get(ENV_PREFIX + name)
            return raw.strip() if raw is not None and raw.strip() else None

        for name in ("session_id", "other_session_id", "other_chat_id"):
            if (raw := get(name.upper())) is not None:
                values[name] = raw
        if (raw := get("REPO_URL")) is not None:
            values["repo_url"] = raw
        if (raw := get("RATE_LIMIT")) is not None:
            values["rate_limit"] = raw
        if (raw := get("REQUEST_TIMEOUT")) is not None:
            values["request_timeout"] = float(raw)
        if (raw := get("BASELINE")) is not None:
            if raw.lower() == "none":
                values["use_baseline"] = False
            else:
                values["baseline"] = Path(raw)
        if (raw := get("BASELINE_UPDATE")) is not None:
            values["baseline_update"] = raw.lower() in ("1", "true", "yes", "on")
        for name, known in (("PHASES", PHASES), ("FLOWS", FLOWS)):
            if (raw := get(name)) is not None:
                values[name.lower()] = () if raw.lower() == "none" else _split(raw, known)
        if (raw := get("OPERATIONS")) is not None:
            values["operations"] = tuple(part.strip() for part in raw.split(",") if part.strip())
        values.update({key: value for key, value in flags.items() if value is not None})
        return cls(**values)

    def replace(self, **changes: Any) -> ContractOptions:
        return dataclasses.replace(self, **changes)


def _split(raw: str, known: tuple[str, ...]) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in raw.split(",") if part.strip())
    # Keep the canonical order, so that "stateful,examples" still runs examples first.
    return tuple(name for name in known if name in parts) + tuple(p for p in parts if p not in known)
