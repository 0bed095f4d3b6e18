"""The vocabulary shared across modules, named once (as starlette's ``types.py`` does).

Imports nothing else from the package.
"""

from __future__ import annotations

from typing import Literal, get_args

#: A run's status, as ``GET /api/chat/runs/{runId}`` reports it.
RunStatus = Literal["queued", "running", "completed", "failed", "cancelled"]
#: How a run can end (a scenario's ``outcome``).
RunOutcome = Literal["completed", "failed", "cancelled"]
RUN_OUTCOMES: tuple[RunOutcome, ...] = get_args(RunOutcome)
#: One entry of a compiled scenario script: a chunk for the run's durable log, or a transport event
#: on the live connection (bytes written as they are, a dropped connection, a silence).
ItemKind = Literal["chunk", "raw", "disconnect", "stall"]
#: A scenario streams, or answers with an HTTP status instead.
ScenarioKind = Literal["stream", "http-status"]
#: How the mock behaves: as the documents say, or as the deployed server does (docs/drift.md).
ProfileName = Literal["documented", "deployed"]
PROFILE_NAMES: tuple[ProfileName, ...] = get_args(ProfileName)
