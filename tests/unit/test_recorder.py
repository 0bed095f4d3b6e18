"""Recordings as files: names, timing, what a replay needs, and no credential anywhere (no server)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mockserver.proxy.recorder import REDACTED, Exchange, Recorder, StreamRecording, secrets_of
from mockserver.settings import DEFAULT_SPEC
from mockserver.spec import ApiSpec
from mockserver.state.fixtures import load_fixtures
from mockserver.streams.sse import SseEvent

KEY = "recoup_sk_live_0123456789abcdef"
BYPASS = "bypass-7f2d9c41e0a1b2c3"


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    made = Recorder(tmp_path, "https://user:hunter2@api.example.com:8443", ApiSpec(DEFAULT_SPEC).chunk_schemas())
    assert [p.name for p in made.prepare()] == ["world.yaml", "default.yaml"]
    return made


def event(chunk: object) -> SseEvent:
    return SseEvent(data=chunk if isinstance(chunk, str) else json.dumps(chunk, separators=(",", ":")))


def exchange(path: str = "/api/chat", status: int = 200) -> Exchange:
    headers = [("authorization", f"Bearer {KEY}"), ("x-vercel-protection-bypass", BYPASS), ("accept", "*/*")]
    return Exchange("POST", path, status, sent_at=100.0, secrets=secrets_of(headers, "token=abcdef12"),
                    had_query=True)


def test_secrets_are_the_credential_values() -> None:
    found = secrets_of([("authorization", f"Bearer {KEY}"), ("x-api-key", "k-123456"), ("accept", "*/*")],
                       "startIndex=2&token=abcdef12")
    assert set(found) == {f"Bearer {KEY}", KEY, "k-123456", "abcdef12"}


def test_a_stream_is_written_as_a_scenario_with_its_measured_gaps(recorder: Recorder) -> None:
    recording = StreamRecording(exchange("/api/chat/c4a70000-0000-4000-8000-000000000001/stream"))
    recording.add([event({"type": "start", "messageId": "m1"})], 100.120)
    recording.add([event({"type": "start-step"}), event({"type": "text-start", "id": "t"})], 100.5)
    recording.add([event({"type": "text-delta", "id": "t", "delta": f"my key is {KEY} and {BYPASS}"}),
                   SseEvent(comments=["keep-alive"]), event("{truncated")], 100.55)
    recording.add([event({"type": "text-end", "id": "t"}), event({"type": "finish-step"}), event({"type": "finish"}),
                   event("[DONE]")], 100.6)
    recording.ended_at = 100.6
    path = recorder.write_stream(recording)
    assert path.name == "recorded-1-post-api-chat-stream.yaml"
    text = path.read_text()
    for secret in (KEY, BYPASS, "hunter2", "abcdef12", "token="):
        assert secret not in text
    assert "from POST https://api.example.com:8443/api/chat/c4a70000-0000-4000-8000-000000000001/stream (200)" in text
    assert "2 value(s) were replaced" in text and "query string is left out" in text
    scenario = load_fixtures(recorder.directory, ApiSpec(DEFAULT_SPEC).chunk_schemas()).scenarios[path.stem]
    assert [i.delay_ms for i in scenario.items] == [120.0, 380.0, 0.0, 50.0, 0.0, 50.0, 0.0, 0.0]
    assert [i.kind for i in scenario.items].count("raw") == 1 and scenario.items[4].raw == b"data: {truncated\n\n"
    assert scenario.chunks[3]["delta"] == f"my key is {REDACTED} and {REDACTED}"
    assert scenario.violates == frozenset()  # the fixtures' rules do not see the raw frame
    # The next one gets the next number; a stream cut short says so and declares what it breaks.
    cut = StreamRecording(exchange())
    cut.add([event({"type": "start", "messageId": "m2"})], 100.1)
    cut.ended_at = 100.2
    second = recorder.write_stream(cut)
    assert second.name == "recorded-2-post-api-chat.yaml"
    assert "violates: [order]" in second.read_text() and "no 'finish'" in second.read_text()
    assert load_fixtures(recorder.directory, ApiSpec(DEFAULT_SPEC).chunk_schemas()).scenarios[second.stem] \
        .items[-1].kind == "disconnect"


def test_an_error_answer_is_written_as_an_http_status_scenario(recorder: Recorder) -> None:
    path = recorder.write_http(exchange(status=503), f"overloaded (key {KEY})", "5")
    scenario = load_fixtures(recorder.directory, ApiSpec(DEFAULT_SPEC).chunk_schemas()).scenarios[path.stem]
    assert scenario.http is not None
    assert (scenario.http.status, scenario.http.headers, scenario.http.message) == \
        (503, {"retry-after": "5"}, f"overloaded (key {REDACTED})")


@pytest.mark.parametrize("depth", [500, 5000])  # past what the writer follows; past what json reads
def test_a_chunk_nested_too_deeply_to_write_is_recorded_as_the_bytes_it_came_as(recorder: Recorder,
                                                                               depth: int) -> None:
    deep = '{"type":"data-x","data":' + "[" * depth + "]" * depth + "}"
    recording = StreamRecording(exchange())
    recording.add([event({"type": "start", "messageId": "m1"}), event(deep), event({"type": "finish"}),
                   event("[DONE]")], 100.1)
    recording.ended_at = 100.2
    path = recorder.write_stream(recording)
    scenario = load_fixtures(recorder.directory, ApiSpec(DEFAULT_SPEC).chunk_schemas()).scenarios[path.stem]
    assert [i.kind for i in scenario.items] == ["chunk", "raw", "chunk"]
    assert scenario.items[1].raw == f"data: {deep}\n\n".encode()
