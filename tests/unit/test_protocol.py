"""Ordering rules, client-version rules and message assembly of the UI message stream protocol."""

from __future__ import annotations

from typing import Any

import pytest

from mockserver.streams.protocol import ALL_CLIENTS, assemble, check_order, client_problems, version_tuple

START = {"type": "start", "messageId": "m1"}
FINISH = {"type": "finish"}


def text(part: str = "t1", *deltas: str) -> list[dict[str, Any]]:
    return [{"type": "text-start", "id": part}, *({"type": "text-delta", "id": part, "delta": d} for d in deltas),
            {"type": "text-end", "id": part}]


def test_a_well_formed_stream_has_no_problems() -> None:
    chunks = [START, {"type": "start-step"}, *text("t1", "Hi", " there"), {"type": "finish-step"}, FINISH,
              {"type": "data-commit", "id": "c", "data": {}}]
    assert check_order(chunks) == []


@pytest.mark.parametrize(
    ("chunks", "index", "fragment"),
    [
        ([{"type": "start"}, FINISH], 0, "'start' chunk carrying a 'messageId'"),
        ([START, {"type": "text-delta", "id": "x", "delta": "a"}, FINISH], 1, "missing text part 'x'"),
        ([START, {"type": "reasoning-end", "id": "r"}, FINISH], 1, "missing reasoning part 'r'"),
        ([START, {"type": "text-start", "id": "a"}, {"type": "text-start", "id": "a"}, FINISH], 2, "already open"),
        ([START, {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "{"}, FINISH], 1, "unknown tool"),
        ([START, {"type": "tool-input-start", "toolCallId": "c", "toolName": "t"},
          {"type": "tool-output-available", "toolCallId": "c", "output": 1}, FINISH], 2, "before its tool input"),
        ([START, *text("t", "a")], 4, "no 'finish'"),
        ([START, FINISH, {"type": "text-start", "id": "late"}], 2, "after 'finish'"),
        ([START, {"type": "text-start", "id": "open"}, FINISH], 1, "never ended"),
        ([START, {"type": "start-step"}, {"type": "text-start", "id": "s"}, {"type": "finish-step"},
          {"type": "text-end", "id": "s"}, FINISH], 2, "still open at 'finish-step'"),
        ([START, {"type": "finish-step"}, FINISH], 1, "without a 'start-step'"),
    ],
)
def test_ordering_problems_name_the_chunk(chunks: list[dict[str, Any]], index: int, fragment: str) -> None:
    problems = check_order(chunks)
    assert any(i == index and fragment in p for i, p in problems), problems


def test_an_error_excuses_an_unfinished_part() -> None:
    chunks = [START, {"type": "text-start", "id": "t"}, {"type": "error", "errorText": "boom"}, FINISH]
    assert check_order(chunks) == []


def test_version_tuple() -> None:
    assert version_tuple("5.0.217") == (5, 0, 217)
    assert version_tuple("7.0.0-beta.12") == (7, 0, 0)


def test_client_problems_read_the_annotations() -> None:
    schema = {"x-ai-sdk-min": {"6": "6.0.0", "7": "7.0.0"},
              "properties": {"title": {"x-ai-sdk-min": {"5": "5.0.217", "6": "6.0.0", "7": "7.0.0"}},
                             "finishReason": {"x-ai-sdk-enum-min": {"interrupted": {"7": "7.0.149"}}}}}
    chunk = {"type": "tool-approval-request", "title": "x", "finishReason": "interrupted"}
    problems = client_problems(chunk, schema, ALL_CLIENTS)
    assert len(problems) == 3 and "ai 5.0.0" in problems[0]
    assert client_problems(chunk, schema, {"7": "7.0.160"}) == []
    assert client_problems({"type": "text-delta"}, {"properties": {}}, ALL_CLIENTS) == []


def test_assemble_builds_the_message_a_client_sees() -> None:
    chunks = [
        {"type": "start", "messageId": "m1", "messageMetadata": {"a": 1}},
        {"type": "start-step"},
        {"type": "reasoning-start", "id": "r"}, {"type": "reasoning-delta", "id": "r", "delta": "think"},
        {"type": "reasoning-end", "id": "r"},
        *text("t", "Hel", "lo"),
        {"type": "tool-input-start", "toolCallId": "c1", "toolName": "bash"},
        {"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": '{"a":'},
        {"type": "tool-input-available", "toolCallId": "c1", "toolName": "bash", "input": {"a": 1}},
        {"type": "tool-output-available", "toolCallId": "c1", "output": {"ok": True}},
        {"type": "source-url", "sourceId": "s", "url": "https://x"},
        {"type": "data-status", "id": "d", "data": 1}, {"type": "data-status", "id": "d", "data": 2},
        {"type": "data-tick", "data": 0, "transient": True},
        {"type": "finish-step"},
        {"type": "message-metadata", "messageMetadata": {"b": {"c": 2}}},
        {"type": "finish", "messageMetadata": {"b": {"d": 3}}},
    ]
    message = assemble(chunks)
    assert message["id"] == "m1" and message["role"] == "assistant"
    assert message["metadata"] == {"a": 1, "b": {"c": 2, "d": 3}}
    assert message["parts"] == [
        {"type": "step-start"},
        {"type": "reasoning", "text": "think", "state": "done"},
        {"type": "text", "text": "Hello", "state": "done"},
        {"type": "tool-bash", "toolCallId": "c1", "state": "output-available", "input": {"a": 1},
         "output": {"ok": True}},
        {"type": "source-url", "sourceId": "s", "url": "https://x"},
        {"type": "data-status", "id": "d", "data": 2},
    ]
