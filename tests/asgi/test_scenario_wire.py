"""Each well-known scenario, parsed off the wire and assembled, is what the README's table says."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from support import ALICE, CHAT_IDLE, assert_error, assert_no_content, assert_stream, chat_body, parse_sse

from mockserver.streams.protocol import assemble

H = {"x-api-key": ALICE}


def run(client: TestClient, scenario: str) -> tuple[bytes, list[dict[str, Any]], dict[str, Any]]:
    """A well-formed stream of ``scenario`` (`assert_stream`): its bytes, chunks and assembled message."""
    response = client.post("/api/chat", json=chat_body(), headers={**H, "prefer": f"scenario={scenario}"})
    chunks = assert_stream(response)
    return response.content, chunks, assemble(chunks)


def parts(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [p for p in message["parts"] if p["type"] == kind]


@pytest.mark.parametrize("scenario", ["default", "reasoning", "tool-call", "multi-step", "rich-parts", "slow",
                                      "error-mid-stream", "abort", "split-frames"])
def test_well_formed_scenarios_end_with_finish_and_done(client: TestClient, scenario: str) -> None:
    _, chunks, _ = run(client, scenario)
    assert len(chunks[0]["messageId"]) == 16


def test_default_reasoning_and_tool_call(client: TestClient) -> None:
    _, _, message = run(client, "default")
    assert [p["type"] for p in message["parts"]] == ["step-start", "text"]
    _, _, message = run(client, "reasoning")
    assert [p["type"] for p in message["parts"]] == ["step-start", "reasoning", "text"]
    _, chunks, message = run(client, "tool-call")
    (tool,) = parts(message, "tool-get_artist_stats")
    assert tool["state"] == "output-available" and tool["output"]["monthly_listeners"] == 1834221
    assert any(c["type"] == "tool-input-delta" for c in chunks)
    assert parts(message, "text")[0]["text"].startswith("Del Water Gap has")


def test_multi_step_has_two_steps(client: TestClient) -> None:
    _, _, message = run(client, "multi-step")
    assert [p["type"] for p in message["parts"]] == ["step-start", "text", "tool-bash", "step-start", "text"]
    assert message["metadata"] == {"stepFinishReasons": ["tool-calls"]}


def test_rich_parts(client: TestClient) -> None:
    _, _, message = run(client, "rich-parts")
    assert parts(message, "data-status") == [{"type": "data-status", "id": "status-1", "data": {"stage": "done"}}]
    assert parts(message, "data-progress") == []  # transient
    assert parts(message, "source-url")[0]["url"] == "https://example.com/charts"
    assert parts(message, "source-document")[0]["filename"] == "release-plan.pdf"
    assert parts(message, "file")[0]["mediaType"] == "image/png"
    assert message["metadata"] == {"model": "mock/recoup-1"}


def test_failures(client: TestClient) -> None:
    _, chunks, _ = run(client, "error-mid-stream")
    errors = [c for c in chunks if c["type"] == "error"]
    assert errors == [{"type": "error", "errorText": "The model provider returned an error: overloaded"}]
    assert [c["type"] for c in chunks][-2:] == ["finish-step", "finish"]
    _, chunks, _ = run(client, "abort")
    assert {"type": "abort"} in chunks
    body = client.post("/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=malformed"}).content
    bad = [e.data for e in parse_sse(body) if e.data and e.data.startswith("{") and not e.data.endswith("}")]
    assert len(bad) == 1


@pytest.mark.parametrize(("scenario", "status", "retry_after"),
                         [("http-429", 429, "2"), ("http-500", 500, None), ("http-502", 502, None),
                          ("http-503", 503, "5")])
def test_http_status_scenarios(client: TestClient, scenario: str, status: int, retry_after: str | None) -> None:
    response = client.post("/api/chat", json=chat_body(), headers={**H, "prefer": f"scenario={scenario}"})
    assert_error(response, status)
    assert response.headers.get("retry-after") == retry_after
    # Nothing started: the chat is still idle.
    assert_no_content(client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=H))
