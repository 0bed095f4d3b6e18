"""Seeded chaos (``serve --chaos RATE``): a share of chat requests served a fault scenario instead of their default.

**Which scenarios are faults** is read from their content, so a scenario added to the fixtures counts
without being listed anywhere: a scenario for chat turns (``answers: turn``) that answers an HTTP
error (``response:``: 429, 5xx...), or whose stream has a transport event on the live connection (a
``disconnect``, a ``raw`` frame such as a malformed chunk, a ``stall``), an ``error`` or ``abort``
chunk, or frames cut into pieces (``timing.write_sizes``). A stream that only streams parts (text,
tools, reasoning, however slowly) is not a fault; nor is a scenario for stops (``answers: stop``).

**Which requests**: the chat requests (`STREAM_OPERATIONS`: ``POST /api/chat``, ``/api/chat/workflow``,
``/api/chat/runs``) draw from every fault of the set; a resume (``GET /api/chat/{chatId}/stream``) reads
a run that exists, so it draws only the set's http-status faults.

**The draw** is a function of the world's seed and the request's place in the world's sequence of chat
requests (`Chaos.draw`, a counter per world that a reset starts again), through a generator of its own:
never the store's ids, so chaos changes no id a later request gets, and the same seed and the same
requests after a reset give the same faults. Every chat request that comes to choosing its scenario
takes its place, whether chaos, an explicit ``Prefer: scenario=`` or a queued scenario answers it, so
one request named explicitly does not shift the picks of the others.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from ..errors import ConfigError
from ..streams.scenarios import Scenario

#: Operations whose requests start a run: chaos may serve them any fault.
STREAM_OPERATIONS = frozenset({"postChat", "postChatWorkflow", "startChatRun"})
#: Operations that read a run's stream: chaos may serve them an http-status fault only.
READ_OPERATIONS = frozenset({"resumeChatStream"})
#: Chunk types that make a stream a fault.
FAULT_CHUNKS = frozenset({"error", "abort"})


def is_fault(scenario: Scenario) -> bool:
    """Whether ``scenario`` is a fault chaos may serve (the rule in the module's docstring)."""
    if scenario.answers != "turn":
        return False
    if scenario.http is not None or scenario.timing.write_sizes:
        return True
    return any(item.kind != "chunk" or (item.chunk is not None and item.chunk.get("type") in FAULT_CHUNKS)
               for item in scenario.items)


def chaos_names(scenarios: Mapping[str, Scenario], narrowed: str | None) -> tuple[str, ...]:
    """The names chaos picks from, sorted: every fault scenario, or the comma-separated ``narrowed`` ones.
    A name that is not loaded, or not a fault, is a `ConfigError` naming the faults that exist."""
    faults = sorted(name for name, scenario in scenarios.items() if is_fault(scenario))
    if narrowed is None:
        return tuple(faults)
    names = [name.strip() for name in narrowed.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"--chaos-scenarios is {narrowed!r}; expected a comma-separated list of fault "
                          f"scenarios: {', '.join(faults)}")
    for name in names:
        if name not in scenarios:
            raise ConfigError(f"--chaos-scenarios names {name!r}, which is not a loaded scenario; the fault "
                              f"scenarios are: {', '.join(faults)}")
        if name not in faults:
            raise ConfigError(f"--chaos-scenarios names {name!r}, which is not a fault (an http-status answer or "
                              f"a stream with a disconnect, raw frame, stall, error, abort or split writes); "
                              f"the fault scenarios are: {', '.join(faults)}")
    return tuple(sorted(set(names)))


class Chaos:
    """One world's chaos: its rate and its place in the sequence of chat requests."""

    def __init__(self, seed: int, rate: float) -> None:
        self.seed = seed
        self.rate = rate
        #: Chat requests that have drawn so far (since the world's last reset).
        self.count = 0

    def draw(self, candidates: Sequence[str]) -> str | None:
        """The next request's place is taken; the fault it gets from ``candidates``, or None (most)."""
        self.count += 1
        if self.rate <= 0 or not candidates:
            return None
        # A str seed is hashed with SHA-512: the same on every run and platform (PYTHONHASHSEED plays no part).
        rng = random.Random(f"recoup-mock chaos:{self.seed}:{self.count}")
        if rng.random() >= self.rate:
            return None
        return candidates[rng.randrange(len(candidates))]
