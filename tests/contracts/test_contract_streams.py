"""The stream rules of the contract suite, on hand-made streams (no server)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.contracts import streams
from mockserver.contracts.report import ContractReport, Finding, redact, write_junit


def sse(*chunks: Any, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(chunk).encode() + b"\n\n" for chunk in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


GOOD = [
    {"type": "start", "messageId": "m1"},
    {"type": "start-step"},
    {"type": "reasoning-start", "id": "r"}, {"type": "reasoning-delta", "id": "r", "delta": "hm"},
    {"type": "reasoning-end", "id": "r"},
    {"type": "tool-input-start", "toolCallId": "c1", "toolName": "t"},
    {"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": "{}"},
    {"type": "tool-input-available", "toolCallId": "c1", "toolName": "t", "input": {}},
    {"type": "tool-output-available", "toolCallId": "c1", "output": 1},
    {"type": "text-start", "id": "t"},
    {"type": "text-delta", "id": "t", "delta": "hi"},
    {"type": "text-end", "id": "t"},
    {"type": "finish-step"},
    {"type": "finish"},
]


def rules(raw: bytes, **kwargs: Any) -> list[str]:
    return [problem.rule for problem in streams.stream_problems(raw, **kwargs)]


def test_a_whole_stream_breaks_no_rule() -> None:
    assert rules(sse(*GOOD)) == []
    # CRLF, no space after the colon, comments and a BOM are all fine (eventsource-parser accepts them).
    raw = b"\xef\xbb\xbf: keep-alive\r\n\r\n" + sse(*GOOD).replace(b"data: ", b"data:").replace(b"\n", b"\r\n")
    assert rules(raw) == []


@pytest.mark.parametrize(("chunks", "rule"), [
    ([{"type": "start-step"}, *GOOD[1:]], streams.RULE_START_FIRST),
    ([{"type": "start"}, *GOOD[1:]], streams.RULE_MESSAGE_ID),
    ([c for c in GOOD if c["type"] != "text-start"], streams.RULE_PART_ORDER),
    ([*GOOD[:-2], {"type": "text-delta", "id": "t", "delta": "after the end"}, *GOOD[-2:]], streams.RULE_PART_ORDER),
    ([c for c in GOOD if c["type"] != "reasoning-start"], streams.RULE_PART_ORDER),
    ([c for c in GOOD if c["type"] != "tool-input-start"], streams.RULE_TOOL_ORDER),
    ([c for c in GOOD if not c["type"].startswith("tool-input")], streams.RULE_TOOL_ORDER),
    (GOOD[:-1], streams.RULE_FINISH),
])
def test_each_rule(chunks: list[dict[str, Any]], rule: str) -> None:
    assert rule in rules(sse(*chunks))


def test_done_must_be_last_and_present() -> None:
    assert rules(sse(*GOOD, done=False)) == [streams.RULE_DONE_LAST]
    assert rules(sse(*GOOD) + sse({"type": "finish"}, done=False)) == [streams.RULE_DONE_LAST]


def test_an_empty_stream_and_invalid_json() -> None:
    assert rules(b"") == [streams.RULE_START_FIRST]
    assert streams.RULE_JSON in rules(sse(*GOOD[:3], done=False) + b"data: {not json\n\n" + sse(*GOOD[3:]))


def test_a_resume_from_an_index_is_judged_by_its_end_only() -> None:
    tail = sse(*GOOD[10:])  # starts with a text-delta
    assert rules(tail, from_start=False) == []
    assert rules(sse(*GOOD[10:-1]), from_start=False) == [streams.RULE_FINISH]


def test_an_unfinished_last_event_is_not_an_event() -> None:
    raw = sse(*GOOD) + b'data: {"type": "text-delta"'
    assert [e.data for e in streams.parse_events(raw)][-1] == "[DONE]"


def test_redact_keeps_curl_runnable() -> None:
    text = "curl -H 'x-api-key: sk_1' -d '{\"k\": \"sk_1\"}' http://h"
    assert redact(text, {"sk_1": "KEY"}) == "curl -H 'x-api-key: '\"$KEY\" -d '{\"k\": \"'\"$KEY\"'\"}' http://h"


def test_junit_lists_groups_and_failures(tmp_path: Any) -> None:
    report = ContractReport(base_url="http://x", target="t", seed=1)
    report.groups.add(("flow:a", "GET /x"))
    report.add(Finding("POST /y", "stream_ordering", "T", "M", "curl y", "flow:b", ("POST /y", "c", "F", "r")))
    report.add(Finding("POST /y", "stream_ordering", "T", "M", "curl y", "flow:b", ("POST /y", "c", "F", "r")))
    path = tmp_path / "j.xml"
    write_junit(report, path)
    text = path.read_text()
    assert 'tests="2"' in text and 'failures="1"' in text and "curl y" in text
