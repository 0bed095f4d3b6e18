"""Loading and checking a fixtures directory: the world blueprint and every scenario, against the spec.

Each scenario chunk is checked against the spec's chunk schema, the stream against the ordering
rules clients enforce, and each chunk against the client versions the scenario targets (by
default every ai 5.x-7.x). A scenario that breaks a rule on purpose lists it under ``violates``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import FixtureError, ScenarioError
from ..spec import ChunkSchemas
from ..streams.protocol import ALL_CLIENTS, check_order, client_problems
from ..streams.scenarios import Scenario, load_scenarios
from .blueprint import Blueprint, load_blueprint

REQUIRED_SCENARIOS = ("default",)


@dataclass(frozen=True)
class Fixtures:
    blueprint: Blueprint
    scenarios: dict[str, Scenario]


def load_fixtures(directory: Path, chunks: ChunkSchemas) -> Fixtures:
    """Load ``world.yaml`` and ``scenarios/*.yaml`` and check them; raise on the first problem."""
    scenarios = load_scenarios(directory / "scenarios")
    for name in REQUIRED_SCENARIOS:
        if name not in scenarios:
            raise FixtureError(str(directory / "scenarios"), "", f"the '{name}' scenario is required")
    for scenario in scenarios.values():
        problems = scenario_problems(scenario, chunks)
        if problems:
            raise ScenarioError(scenario.file, problems[0][0], problems[0][1])
    blueprint = load_blueprint(directory / "world.yaml", set(scenarios))
    for chat in blueprint.chats:
        if chat.pinned_run and scenarios[chat.pinned_run.scenario].kind != "stream":
            raise FixtureError(blueprint.file, f"chat {chat.id}", "a pinned run needs a stream scenario")
    return Fixtures(blueprint, scenarios)


def scenario_problems(scenario: Scenario, chunks: ChunkSchemas) -> list[tuple[str, str]]:
    """Every problem of one scenario as ``(where, what)``; ``where`` names the step and chunk. What it
    declares under ``violates`` is not a problem."""
    return [(where, what) for kind, where, what in kinds_of_problems(scenario, chunks)
            if kind not in scenario.violates]


def kinds_of_problems(scenario: Scenario, chunks: ChunkSchemas) -> list[tuple[str, str, str]]:
    """Every problem of one scenario as ``(kind, where, what)``, whatever it declares: ``kind`` is the
    name ``violates`` would give it (``schema``, ``clients`` or ``order``)."""
    if scenario.http is not None:
        return []
    problems: list[tuple[str, str, str]] = []
    chunk_items = [item for item in scenario.items if item.chunk is not None]

    def where(index: int) -> str:
        if index >= len(chunk_items):
            return "end of stream"
        item = chunk_items[index]
        step = "framing" if item.step < 0 else f"steps[{item.step}]"
        return f"{step} (chunk {index}, type '{item.chunk.get('type') if item.chunk else '?'}')"

    target = scenario.clients or ALL_CLIENTS
    for index, item in enumerate(chunk_items):
        assert item.chunk is not None
        problems += [("schema", where(index), p) for p in chunks.problems(item.chunk)]
        schema = chunks.schema_for(str(item.chunk.get("type")))
        if schema is not None:
            problems += [("clients", where(index), p + " (declare 'clients:' to target newer versions)")
                         for p in client_problems(item.chunk, schema, target)]
    problems += [("order", where(i), p) for i, p in check_order([i.chunk for i in chunk_items if i.chunk])]
    return problems


def check_all(directory: Path, chunks: ChunkSchemas) -> list[str]:
    """Every problem in a fixtures directory, one line each (for `recoup-mock validate`)."""
    lines: list[str] = []
    try:
        scenarios = load_scenarios(directory / "scenarios")
    except FixtureError as exc:
        return [str(exc)]
    for scenario in scenarios.values():
        lines += [f"{scenario.file}: {w}: {p}" for w, p in scenario_problems(scenario, chunks)]
    try:
        load_blueprint(directory / "world.yaml", set(scenarios))
    except FixtureError as exc:
        lines.append(str(exc))
    return lines
