"""The one rules core at its two strictnesses, and the incremental SSE decoder that feeds it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mockserver.contracts import streams
from mockserver.streams import rules
from mockserver.streams.protocol import check_order
from mockserver.streams.sse import EventDecoder, parse_events

START = {"type": "start", "messageId": "m1"}
FINISH = {"type": "finish"}
TEXT = [{"type": "text-start", "id": "t"}, {"type": "text-delta", "id": "t", "delta": "hi"},
        {"type": "text-end", "id": "t"}]


def keys(chunks: list[dict[str, Any]], strictness: rules.Strictness) -> list[str]:
    return [v.rule for v in rules.check_chunks(chunks, strictness)]


@pytest.mark.parametrize(("chunks", "rule"), [
    # What a well-formed server keeps, though no client throws on it: fixtures only.
    ([START, {"type": "text-start", "id": "t"}, *TEXT, FINISH], rules.RULE_PART_OPEN),
    ([START, {"type": "text-start", "id": "open"}, FINISH], rules.RULE_PART_OPEN),
    ([START, {"type": "finish-step"}, FINISH], rules.RULE_STEP_ORDER),
    ([START, {"type": "start-step"}, FINISH], rules.RULE_STEP_ORDER),
    ([START, FINISH, {"type": "text-start", "id": "late"}, {"type": "text-end", "id": "late"}],
     rules.RULE_AFTER_FINISH),
    ([START, {"type": "tool-input-start", "toolCallId": "c", "toolName": "t"},
      {"type": "tool-output-available", "toolCallId": "c", "output": 1}, FINISH], rules.RULE_TOOL_ORDER),
])
def test_fixtures_are_stricter_than_clients(chunks: list[dict[str, Any]], rule: str) -> None:
    assert rule in keys(chunks, rules.FIXTURES)
    assert keys(chunks, rules.CLIENTS) == []


@pytest.mark.parametrize(("chunks", "rule"), [
    ([{"type": "start"}, FINISH], rules.RULE_MESSAGE_ID),
    ([{"type": "start-step"}, FINISH], rules.RULE_START_FIRST),
    ([START, *TEXT[1:], FINISH], rules.RULE_PART_ORDER),
    ([START, {"type": "tool-input-delta", "toolCallId": "c", "inputTextDelta": "{"}, FINISH], rules.RULE_TOOL_ORDER),
    ([START, *TEXT], rules.RULE_FINISH),
])
def test_both_strictnesses_share_what_clients_enforce(chunks: list[dict[str, Any]], rule: str) -> None:
    assert rule in keys(chunks, rules.FIXTURES)
    assert rule in keys(chunks, rules.CLIENTS)


@pytest.mark.parametrize("family", ["text", "reasoning"])
@pytest.mark.parametrize("after", ["delta", "end"])
def test_a_part_delta_or_end_after_finish_step_is_flagged_under_clients_too(family: str, after: str) -> None:
    # ai 5.x/6.x forget the open text/reasoning parts at 'finish-step' (ui-message-stream.md section 4): a
    # delta or end for one of them afterwards throws "Received text-delta for missing text part".
    late = {"type": f"{family}-{after}", "id": "p", **({"delta": "x"} if after == "delta" else {})}
    chunks = [START, {"type": "start-step"}, {"type": f"{family}-start", "id": "p"},
              {"type": f"{family}-delta", "id": "p", "delta": "a"}, {"type": "finish-step"}, late, FINISH]
    found = rules.check_chunks(chunks, rules.CLIENTS)
    assert [(v.rule, v.index) for v in found] == [(rules.RULE_PART_ORDER, 5)]
    assert "'finish-step'" in found[0].message
    # The part's own open-at-finish-step is a fixtures matter; the late chunk is flagged under both.
    assert (rules.RULE_PART_ORDER, 5) in [(v.rule, v.index) for v in rules.check_chunks(chunks, rules.FIXTURES)]
    # A part started again in the next step is fine for clients.
    again = [START, {"type": "start-step"}, {"type": "text-start", "id": "p"}, {"type": "finish-step"},
             {"type": "start-step"}, *[{**c, "id": "p"} for c in TEXT], {"type": "finish-step"}, FINISH]
    assert keys(again, rules.CLIENTS) == []


def test_events_judge_json_and_done_as_they_come() -> None:
    checker = rules.StreamRules(rules.CLIENTS)
    assert checker.event(json.dumps(START)) == []
    (bad,) = checker.event("{broken")
    assert (bad.rule, bad.index) == (rules.RULE_JSON, 1)
    assert checker.event(json.dumps(FINISH)) == []
    assert checker.event("[DONE]") == []
    (late,) = checker.event(json.dumps(FINISH))
    assert (late.rule, late.index) == (rules.RULE_DONE_LAST, 4)
    assert checker.end() == []
    unfinished = rules.StreamRules(rules.CLIENTS)
    unfinished.event(json.dumps(START))
    assert [v.rule for v in unfinished.end()] == [rules.RULE_FINISH, rules.RULE_DONE_LAST]


def test_the_three_users_agree() -> None:
    """The fixture check, the contract suite and the proxy's core give the same rule for what clients enforce."""
    chunks = [START, *TEXT[1:], FINISH]
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    assert [p.rule for p in streams.stream_problems(raw)] == [rules.RULE_PART_ORDER]
    index, message = check_order(chunks)[0]
    assert index == 1 and "missing text part 't'" in message


RAW = (b"\xef\xbb\xbf: keep-alive\r\n\r\n"
       b"event: ping\r\ndata: {\"type\":\"start\",\r\ndata: \"messageId\":\"m\xc3\xa9\"}\r\n\r\n"
       b"id: 7\rdata:[DONE]\r\rdata: unfinished")


def test_the_decoder_reads_a_body_whole() -> None:
    events = parse_events(RAW)
    assert [e.comments for e in events] == [["keep-alive"], [], []]
    assert events[1].event == "ping" and json.loads(events[1].data or "") == {"type": "start", "messageId": "mé"}
    assert (events[2].id, events[2].data) == ("7", "[DONE]")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_the_decoder_gives_the_same_events_whatever_the_cuts(size: int) -> None:
    decoder = EventDecoder()
    events = [e for i in range(0, len(RAW), size) for e in decoder.feed(RAW[i:i + size])]
    assert events == parse_events(RAW)


def test_an_event_nested_too_deeply_to_read_is_unchecked_and_the_rest_still_judged() -> None:
    checker = rules.StreamRules(rules.CLIENTS)
    assert checker.event(json.dumps(START)) == []
    (deep,) = checker.event('{"type":"data-x","data":' + "[" * 5000 + "]" * 5000 + "}")
    assert (deep.rule, deep.index) == (rules.RULE_UNCHECKED, 1)
    assert "nested too deeply to check" in deep.message
    (orphan,) = checker.event(json.dumps(TEXT[1]))
    assert (orphan.rule, orphan.index) == (rules.RULE_PART_ORDER, 2)
    assert checker.event(json.dumps(FINISH)) == [] and checker.event("[DONE]") == [] and checker.end() == []
