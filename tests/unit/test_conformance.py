"""The proxy's judge: requests and answers against a profile's contract (no server)."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import pytest
from support import ALICE, CHAT_IDLE, chat_body

from mockserver.errors import ConfigError
from mockserver.profiles import Specs, profile_named
from mockserver.proxy.admin import ProxySettings
from mockserver.proxy.conformance import Conformance, Finding, body_decoder
from mockserver.settings import DEFAULT_SPEC
from mockserver.spec import ApiSpec

RUN = "wrun_01KDVDNA0B8940MQ9F6HNTN52N"


@pytest.fixture(scope="module")
def specs() -> Specs:
    return Specs(DEFAULT_SPEC, ApiSpec(DEFAULT_SPEC))


def judge(specs: Specs, profile: str = "documented") -> Conformance:
    chosen = profile_named(profile)
    return Conformance(specs.of(chosen), chosen.behaviour)


def scope(method: str, path: str, query: str = "", **headers: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "query_string": query.encode(),
            "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]}


def rules(findings: list[Finding]) -> list[tuple[str, str]]:
    return [(f.rule, f.where) for f in findings]


def test_a_valid_turn_and_its_stream_head_break_nothing(specs: Specs) -> None:
    checks = judge(specs)
    body = json.dumps(chat_body()).encode()
    matched, found = checks.check_request(scope("POST", "/api/chat", x_api_key=ALICE,
                                                content_type="application/json"), body)
    assert matched is not None and matched.label == "POST /api/chat" and found == []
    head = {"content-type": "text/event-stream", "x-workflow-run-id": RUN}
    assert checks.check_head(matched, 200, head) == []
    assert rules(checks.check_head(matched, 200, {"content-type": "text/event-stream"})) == \
        [("response-header", "header x-workflow-run-id")]
    assert rules(checks.check_head(matched, 200, {**head, "x-workflow-run-id": "run-1"})) == \
        [("response-header", "header x-workflow-run-id")]
    assert rules(checks.check_head(matched, 418, {})) == [("response-status", "status")]


def test_requests_are_judged_by_the_profiles_contract(specs: Specs) -> None:
    body = json.dumps(chat_body()).encode()
    plain = scope("POST", "/api/chat", x_api_key=ALICE, content_type="text/plain")
    assert rules(judge(specs).check_request(plain, body)[1]) == [("request-content-type",
                                                                  "request header content-type")]
    assert judge(specs, "deployed").check_request(plain, body)[1] == []  # production reads any body as JSON
    workflow = scope("POST", "/api/chat/workflow", x_api_key=ALICE, content_type="application/json")
    assert judge(specs).check_request(workflow, body)[1] == []
    assert rules(judge(specs, "deployed").check_request(workflow, body)[1]) == [("request-operation", "request")]
    bad = json.dumps({"chatId": "not-a-uuid", "messages": []}).encode()
    found = rules(judge(specs).check_request(scope("POST", "/api/chat", content_type="application/json"), bad)[1])
    assert ("request-schema", "body.chatId") in found and ("request-schema", "body") in found
    resume = scope("GET", f"/api/chat/{CHAT_IDLE}/stream", "startIndex=-1")
    assert rules(judge(specs).check_request(resume, b"")[1]) == [("request-schema", "query parameter 'startIndex'")]


def test_finite_bodies_are_judged_by_their_schema(specs: Specs) -> None:
    checks = judge(specs)
    found = checks.match("POST", f"/api/chat/{CHAT_IDLE}/stop")
    assert found is not None
    stop = found[0]
    assert checks.check_body(stop, 200, "application/json", b'{"success":true,"stopped":false}') == []
    assert sorted(rules(checks.check_body(stop, 200, "application/json", b'{"success":"yes"}'))) == \
        [("response-schema", "body"), ("response-schema", "body.success")]
    assert rules(checks.check_body(stop, 404, "application/json", b"<html>")) == [("response-body", "body")]
    resume = checks.match("GET", f"/api/chat/{CHAT_IDLE}/stream")
    assert resume is not None
    assert rules(checks.check_body(resume[0], 204, "", b"x")) == [("response-body", "body")]


def test_a_stream_is_judged_event_by_event_whatever_the_cuts(specs: Specs) -> None:
    raw = (b'data: {"type":"start","messageId":"m"}\n\ndata: {"type":"text-delta","id":"t","delta":"a"}\n\n'
           b'data: {"type":"finish","extra":1}\n\n')
    check = judge(specs).stream()
    found = [f for i in range(len(raw)) for f in check.feed(raw[i:i + 1])[1]] + check.end()
    assert rules(found) == [("part-order", "event 1"), ("chunk-schema", "event 2"), ("done-last", "end of stream")]


@pytest.mark.parametrize(("target", "words"), [
    ("ftp://example.com", "is not an http(s) URL"), ("http://", "is not an http(s) URL"),
    ("https://example.com/?key=1", "no query"),
])
def test_the_proxy_refuses_a_target_that_is_no_deployment(target: str, words: str) -> None:
    with pytest.raises(ConfigError, match="--target") as refused:
        ProxySettings(target=target)
    assert words in str(refused.value)


def test_bodies_are_judged_decoded_from_their_encoding() -> None:
    text = b'data: {"type":"start","messageId":"m"}\n\n' * 20
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    for encoding, packed in (("gzip", gzip.compress(text)), ("deflate", zlib.compress(text)),
                             ("deflate", raw_deflate.compress(text) + raw_deflate.flush()), ("", text)):
        decode = body_decoder(encoding)
        assert decode is not None
        assert b"".join(decode(packed[i:i + 7]) for i in range(0, len(packed), 7)) == text, encoding
    assert body_decoder("br") is None and body_decoder("zstd") is None


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_what_is_nested_too_deeply_to_check_is_reported_unchecked(specs: Specs) -> None:
    checks = judge(specs)
    deep = ('{"chatId":' + nested(3000) + "}").encode()
    matched, found = checks.check_request(scope("POST", "/api/chat", content_type="application/json"), deep)
    assert matched is not None and rules(found) == [("unchecked", "body")]
    assert "nested too deeply to check" in found[0].message
    failed = ('{"status":"error","message":' + nested(3000) + "}").encode()
    assert rules(checks.check_body(matched, 500, "application/json", failed)) == [("unchecked", "body")]
    stream = checks.stream()
    raw = (b'data: {"type":"start","messageId":"m"}\n\ndata: {"type":"data-x","data":' + nested(5000).encode()
           + b'}\n\ndata: {"type":"finish"}\n\ndata: [DONE]\n\n')
    assert rules(stream.feed(raw)[1] + stream.end()) == [("unchecked", "event 1")]


def test_a_head_is_judged_as_the_get_it_stands_for(specs: Specs) -> None:
    matched, found = judge(specs).check_request(scope("HEAD", f"/api/chat/{CHAT_IDLE}/stream", x_api_key=ALICE), b"")
    assert matched is not None and matched.label == "GET /api/chat/{chatId}/stream" and found == []
