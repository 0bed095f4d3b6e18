"""Frozen settings: CLI and environment flow into one `Settings`, and from there into the app.

Nothing here reads the environment at import time; `Settings.from_env` is called by the CLI
(and by the pytest plugin) only.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .types import PROFILE_NAMES


def _bundled(name: str) -> Path:
    """A folder the distribution ships: inside the installed package (the wheel's package data), or
    at the top of the checkout, where the repository keeps it (an editable install, a clone)."""
    package = Path(__file__).resolve().parent
    installed = package / "bundled" / name
    return installed if installed.is_dir() else package.parent / name


#: The bundled contract and fixture world, used when no path is given.
DEFAULT_SPEC = _bundled("openapi") / "chat.yaml"
DEFAULT_ADMIN_SPEC = _bundled("openapi") / "admin.yaml"
DEFAULT_FIXTURES = _bundled("fixtures")


#: The environment variables whose name is not ``RECOUP_MOCK_`` + the setting's name in capitals.
ENV_NAMES = {"memory_budget_mb": "RECOUP_MOCK_MEMORY_BUDGET"}


def env_name(setting: str) -> str:
    """The environment variable a setting is read from."""
    return ENV_NAMES.get(setting, f"RECOUP_MOCK_{setting.upper()}")


@dataclass(frozen=True)
class Settings:
    """Everything the server is configured with. Build with keyword arguments or `from_env`."""

    host: str = "127.0.0.1"
    port: int = 4010
    spec: Path = DEFAULT_SPEC
    admin_spec: Path = DEFAULT_ADMIN_SPEC
    fixtures: Path = DEFAULT_FIXTURES
    #: Multiplies every scripted delay; 0 means no waits at all (CI).
    speed: float = 1.0
    #: Seeds ids, message ids and jitter: the same requests after a reset give the same bytes.
    seed: int = 0
    #: Serve ``/__mock/*``. Off, those paths answer 404 like any unknown path.
    admin: bool = True
    #: When set, ``/__mock/*`` requires the header ``x-mock-admin-token`` with this value.
    admin_token: str | None = None
    #: Request bodies over this many bytes get 413.
    max_body_bytes: int = 1024 * 1024
    #: A request body that has not fully arrived after this many seconds gets 408.
    body_timeout_seconds: float = 30.0
    #: Seconds of silence on a live stream before a ``: keep-alive`` comment is sent.
    keepalive_seconds: float = 10.0
    #: Finished runs are forgotten after this many seconds, or when more than this many are kept.
    run_ttl_seconds: float = 3600.0
    max_finished_runs: int = 1000
    #: How many requests each world's journal keeps (oldest dropped first).
    journal_size: int = 10_000
    #: One memory budget, in megabytes (1 MB = 1,048,576 bytes), for what every world keeps: finished runs
    #: (their recorded streams, a headless run's session and chat), journal entries, chat turns' stored
    #: messages and the idle worlds themselves, as estimated by `mockserver.state.budget`. Past it the
    #: oldest finished state of the least recently used worlds is evicted (never a live run, a pinned run
    #: or a queued scenario); 0: no budget, only the per-world caps above. The default keeps a CI
    #: machine's mock under 300 MB of RSS: 160 MB of kept state over a process of 60 to 80 MB, with room
    #: for live streams and what the allocator holds on to after an eviction.
    memory_budget_mb: float = 160.0
    #: ``documented`` (the contract) or ``deployed`` (what production does, docs/drift.md): the
    #: profile of the default world and of every world that does not choose its own.
    profile: str = "documented"
    #: At most this many worlds live at once, the default world included (so at least 2); past it the
    #: least recently used idle ``x-mock-world`` world is dropped, and a new one gets 503 when none is idle.
    max_worlds: int = 256
    #: Log one line per request to stderr.
    access_log: bool = True
    #: Reload the fixtures and the spec as they are saved (``serve --watch``).
    watch: bool = False
    #: Seeded chaos: the share (0 to 1) of chat requests served a fault scenario instead of their default
    #: (`mockserver.state.chaos`); each world's own with ``POST /__mock/worlds/{name}``.
    chaos: float = 0.0
    #: The fault scenarios chaos picks from, comma-separated (None: every fault scenario loaded).
    chaos_scenarios: str | None = None

    def __post_init__(self) -> None:
        checks: list[tuple[str, Any, bool, str]] = [
            ("port", self.port, 0 <= self.port <= 65535, "an integer from 0 to 65535"),
            ("speed", self.speed, self.speed >= 0, "a number >= 0 (0 = no waits)"),
            ("max_body_bytes", self.max_body_bytes, self.max_body_bytes > 0, "a positive integer"),
            ("keepalive_seconds", self.keepalive_seconds, self.keepalive_seconds > 0, "a number > 0"),
            ("body_timeout_seconds", self.body_timeout_seconds, self.body_timeout_seconds > 0, "a number > 0"),
            ("run_ttl_seconds", self.run_ttl_seconds, self.run_ttl_seconds >= 0, "a number >= 0"),
            ("max_finished_runs", self.max_finished_runs, self.max_finished_runs >= 0, "an integer >= 0"),
            ("chaos", self.chaos, 0 <= self.chaos <= 1,
             "a number from 0 to 1 (the share of chat requests served a fault scenario; 0 = none)"),
            ("journal_size", self.journal_size, self.journal_size > 0, "a positive integer"),
            ("memory_budget_mb", self.memory_budget_mb, 0 <= self.memory_budget_mb < math.inf,
             "a number of megabytes >= 0 (0 = no budget, only the per-world caps)"),
            ("max_worlds", self.max_worlds, self.max_worlds >= 2,
             "an integer >= 2 (the limit counts the default world, which is always there, so 1 leaves no room "
             "for an x-mock-world world)"),
        ]
        checks.append(("profile", self.profile, self.profile in PROFILE_NAMES, f"one of {', '.join(PROFILE_NAMES)}"))
        for name, value, ok, expected in checks:
            if not ok:
                raise ConfigError(f"Setting '{name}' has value {value!r}; expected {expected}.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Read ``RECOUP_MOCK_<NAME>`` variables (`env_name`), then apply ``overrides`` (CLI flags win)."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(env_name(field.name))
            if raw is not None:
                values[field.name] = _cast(field.name, raw, str(field.type))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def _cast(name: str, raw: str, type_name: str) -> Any:
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            if raw.lower() in {"1", "true", "yes", "on"}:
                return True
            if raw.lower() in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if type_name == "Path":
            return Path(raw)
    except ValueError:
        raise ConfigError(
            f"Environment variable {env_name(name)} has value {raw!r}; not a valid {type_name}."
        ) from None
    return raw or None if type_name == "str | None" else raw


def env_settings(**overrides: Any) -> Settings:
    """`Settings.from_env` over the process environment (for the CLI and the pytest plugin)."""
    return Settings.from_env(os.environ, **overrides)
