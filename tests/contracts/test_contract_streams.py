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


#: A chunk whose JSON is nested deeper than Python's parser follows (valid JSON all the same).
DEEP = '{"type":"data-x","data":' + "[" * 100_000 + "]" * 100_000 + "}"


def test_a_chunk_nested_too_deeply_to_read_is_reported_not_a_crash() -> None:
    """`chunks` gives the chunks a flow builds on: an event it cannot read stops the reading with
    `UnreadableEvent` (a finding's rule and message), never a RecursionError out of the suite."""
    raw = sse(GOOD[0], done=False) + b"data: " + DEEP.encode() + b"\n\n" + sse(*GOOD[1:])
    with pytest.raises(streams.UnreadableEvent) as caught:
        list(streams.chunks(raw))
    assert caught.value.rule == streams.RULE_UNCHECKED
    assert caught.value.index == 1
    assert "event 1: JSON nested too deeply to check" in str(caught.value)
    # Data that is not JSON is still skipped (the ordering check reports it), as before.
    assert [c["type"] for c in streams.chunks(sse(GOOD[0], done=False) + b"data: {oops\n\n")] == ["start"]


def test_a_chunk_too_deep_to_copy_into_the_message_is_reported_too() -> None:
    """Parsed, but too deep for the copy into the assembled message: `assembled` says so instead of raising
    RecursionError; a plain stream assembles as the mock's runs do."""
    middling = '{"type":"data-x","data":' + "[" * 700 + "]" * 700 + "}"
    raw = sse(GOOD[0], done=False) + b"data: " + middling.encode() + b"\n\n" + sse(*GOOD[1:])
    assert len(list(streams.chunks(raw))) == len(GOOD) + 1
    with pytest.raises(streams.UnreadableEvent, match="JSON nested too deeply to check"):
        streams.assembled(raw)
    message = streams.assembled(sse(*GOOD))
    assert message["id"] == "m1" and message["role"] == "assistant"
    assert [part["text"] for part in message["parts"] if part["type"] == "text"] == ["hi"]
