"""Queued one-shot scenarios (admin API) for front ends that cannot send a Prefer header."""

from __future__ import annotations

from starlette.testclient import TestClient
from support import ALICE, chat_body, chunks_of

H = {"x-api-key": ALICE}


def kinds(client: TestClient, **headers: str) -> set[str]:
    response = client.post("/api/chat", json=chat_body(), headers={**H, **headers})
    return {c["type"] for c in chunks_of(response.content)} if response.status_code == 200 else {
        str(response.status_code)}


def test_queued_scenarios_are_used_once_each_in_order(client: TestClient) -> None:
    assert client.post("/__mock/scenarios/next", json={"name": "reasoning"}).json() == {"queued": ["reasoning"]}
    assert client.post("/__mock/scenarios/next", json={"name": "http-503", "count": 2}).json() == {
        "queued": ["reasoning", "http-503", "http-503"]}
    assert "reasoning-start" in kinds(client)
    assert kinds(client, prefer="scenario=default") == {"start", "start-step", "text-start", "text-delta",
                                                        "text-end", "finish-step", "finish"}  # header wins
    assert kinds(client) == {"503"}
    assert kinds(client) == {"503"}
    assert "reasoning-start" not in kinds(client)  # queue empty: the default again


def test_queue_rejects_unknown_names_and_reset_empties_it(client: TestClient) -> None:
    bad = client.post("/__mock/scenarios/next", json={"name": "nope"})
    assert bad.status_code == 400 and "available:" in bad.json()["message"]
    assert client.post("/__mock/scenarios/next", json={"name": "slow", "count": 0}).status_code == 400
    client.post("/__mock/scenarios/next", json={"name": "http-500"})
    client.post("/__mock/reset")
    assert kinds(client) != {"500"}


def test_a_float_count_that_is_an_integer_is_accepted(client: TestClient) -> None:
    # Found by the fuzzer: 2.0 is a JSON Schema integer, and used to be a 500.
    assert client.post("/__mock/scenarios/next", json={"name": "default", "count": 2.0}).json() == {
        "queued": ["default", "default"]}
