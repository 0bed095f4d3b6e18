"""Scenario loading: shorthand expansion, timing, and the checks against the spec and protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mockserver.errors import ScenarioError
from mockserver.settings import DEFAULT_FIXTURES, DEFAULT_SPEC
from mockserver.spec import ApiSpec, ChunkSchemas
from mockserver.state.fixtures import load_fixtures, scenario_problems
from mockserver.streams.scenarios import MESSAGE_ID_PLACEHOLDER, load_scenarios, parse_scenario

WELL_KNOWN = {"default", "reasoning", "tool-call", "multi-step", "slow", "error-mid-stream", "disconnect", "abort",
              "malformed", "split-frames", "http-429", "http-500", "http-502", "http-503"}


@pytest.fixture(scope="module")
def chunks() -> ChunkSchemas:
    return ApiSpec(DEFAULT_SPEC).chunk_schemas()


def scenario(steps: list[Any], **extra: Any) -> dict[str, Any]:
    return {"name": "t", "steps": steps, **extra}


def test_every_shipped_scenario_is_valid(chunks: ChunkSchemas) -> None:
    fixtures = load_fixtures(DEFAULT_FIXTURES, chunks)
    assert set(fixtures.scenarios) >= WELL_KNOWN
    for s in fixtures.scenarios.values():
        assert scenario_problems(s, chunks) == [], s.name


def test_slow_has_at_least_forty_deltas_fifty_ms_apart() -> None:
    slow = load_scenarios(DEFAULT_FIXTURES / "scenarios")["slow"]
    assert sum(c["type"] == "text-delta" for c in slow.chunks) >= 40
    assert slow.timing.chunk_delay_ms == 50


def test_text_shorthand_expands_with_auto_framing() -> None:
    s = parse_scenario(scenario([{"text": "Hi there"}]), "t.yaml")
    assert s.chunks == [
        {"type": "start", "messageId": MESSAGE_ID_PLACEHOLDER}, {"type": "start-step"},
        {"type": "text-start", "id": "txt-0"}, {"type": "text-delta", "id": "txt-0", "delta": "Hi "},
        {"type": "text-delta", "id": "txt-0", "delta": "there"}, {"type": "text-end", "id": "txt-0"},
        {"type": "finish-step"}, {"type": "finish"},
    ]


def test_tool_shorthand_streams_input_then_output() -> None:
    s = parse_scenario(scenario([{"tool": {"name": "w", "input": {"city": "Paris"}, "output": {"t": 21}}}]), "t")
    types = [c["type"] for c in s.chunks]
    assert types[2] == "tool-input-start" and types[-4:] == ["tool-input-available", "tool-output-available",
                                                             "finish-step", "finish"]
    deltas = "".join(c["inputTextDelta"] for c in s.chunks if c["type"] == "tool-input-delta")
    assert deltas == '{"city":"Paris"}'
    call_ids = {c["toolCallId"] for c in s.chunks if "toolCallId" in c}
    assert len(call_ids) == 1 and call_ids.pop().startswith("call_")


def test_faults_are_transport_items_not_chunks() -> None:
    s = parse_scenario(scenario([{"text": "a"}, {"disconnect": True}, {"raw": "data: {\n\n"}, {"stall": 5}]), "t")
    assert [i.kind for i in s.items if i.kind != "chunk"] == ["disconnect", "raw", "stall"]
    assert s.outcome == "completed"
    assert parse_scenario(scenario([{"error": "x"}]), "t").outcome == "failed"
    assert parse_scenario(scenario([{"abort": True}]), "t").outcome == "cancelled"


def test_http_scenario() -> None:
    s = parse_scenario({"name": "h", "response": {"status": 429, "headers": {"Retry-After": "2"}}}, "h.yaml")
    assert s.kind == "http-status" and s.http is not None
    assert s.http.status == 429 and s.http.headers == {"retry-after": "2"}


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"name": "Bad Name", "steps": [{"text": "a"}]}, "name"),
        (scenario([]), "steps"),
        (scenario([{"text": "a", "tool": {}}]), "steps[0]"),
        (scenario([{"bogus": 1}]), "steps[0]"),
        (scenario([{"tool": {"input": {}}}]), "steps[0].tool"),
        (scenario([{"text": "a", "delay_ms": -1}]), "steps[0].delay_ms"),
        (scenario([{"text": "a"}], timing={"chunk_delay_ms": "fast"}), "timing.chunk_delay_ms"),
        (scenario([{"text": "a"}], violates=["everything"]), "violates"),
        ({"name": "h", "response": {"status": 200}}, "response.status"),
    ],
)
def test_parse_errors_name_the_file_and_place(doc: dict[str, Any], where: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "fixtures/scenarios/t.yaml")
    assert info.value.file == "fixtures/scenarios/t.yaml" and info.value.where.startswith(where)


@pytest.mark.parametrize(
    ("steps", "where", "fragment"),
    [
        ([{"chunk": {"type": "text-delta", "id": "x", "delta": "a"}}], "steps[0]", "missing text part"),
        ([{"chunk": {"type": "message-start"}}], "steps[0]", "unknown chunk type 'message-start'"),
        ([{"chunk": {"type": "text-start", "id": "x", "foo": 1}}, {"chunk": {"type": "text-end", "id": "x"}}],
         "steps[0]", "foo"),
        ([{"chunk": {"type": "tool-approval-request", "approvalId": "a", "toolCallId": "c"}}], "steps[0]",
         "rejected by ai 5.0.0"),
    ],
)
def test_protocol_and_schema_problems_name_the_step(chunks: ChunkSchemas, steps: list[Any], where: str,
                                                    fragment: str) -> None:
    problems = scenario_problems(parse_scenario(scenario(steps), "t.yaml"), chunks)
    assert any(w.startswith(where) and fragment in p for w, p in problems), problems


def test_declared_violations_and_targets_are_honoured(chunks: ChunkSchemas) -> None:
    early_delta = [{"chunk": {"type": "text-delta", "id": "x", "delta": "a"}}]
    assert scenario_problems(parse_scenario(scenario(early_delta, violates=["order"]), "t"), chunks) == []
    newer = scenario([{"chunk": {"type": "reset-step"}}], clients={"7": "7.0.173"})
    assert scenario_problems(parse_scenario(newer, "t"), chunks) == []


def test_name_must_match_file(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text("name: two\nsteps: [{text: hi}]\n")
    with pytest.raises(ScenarioError, match="must match the file name"):
        load_scenarios(tmp_path)
