"""Queued one-shot scenarios (admin API) for front ends that cannot send a Prefer header."""

from __future__ import annotations

from starlette.testclient import TestClient
from support import ALICE, CHAT_BOB, CHAT_BUSY, PINNED_RUN, UNKNOWN_CHAT, chat_body, chunks_of

H = {"x-api-key": ALICE}
DEFAULT_KINDS = {"start", "start-step", "text-start", "text-delta", "text-end", "finish-step", "finish"}


def kinds(client: TestClient, **headers: str) -> set[str]:
    response = client.post("/api/chat", json=chat_body(), headers={**H, **headers})
    return {c["type"] for c in chunks_of(response.content)} if response.status_code == 200 else {
        str(response.status_code)}


def test_queued_scenarios_are_used_once_each_in_order(client: TestClient) -> None:
    assert client.post("/__mock/scenarios/next", json={"name": "reasoning"}).json() == {"queued": ["reasoning"]}
    assert client.post("/__mock/scenarios/next", json={"name": "http-503", "count": 2}).json() == {
        "queued": ["reasoning", "http-503", "http-503"]}
    assert "reasoning-start" in kinds(client)
    assert kinds(client, prefer="scenario=default") == DEFAULT_KINDS  # header wins
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


# ---------------------------------------------------------------- stop scenarios (POST /api/chat/{chatId}/stop)


def stop(client: TestClient, chat: str = CHAT_BUSY) -> tuple[int, str]:
    response = client.post(f"/api/chat/{chat}/stop", headers=H)
    body = response.json()
    return response.status_code, str(body.get("message", body))


def queued(client: TestClient) -> list[str]:
    return list(client.get("/__mock/scenarios/next").json()["queued"])


def test_a_queued_stop_scenario_answers_the_next_stop_and_not_a_chat_turn(client: TestClient) -> None:
    assert client.post("/__mock/scenarios/next", json={"name": "stop-502"}).json() == {"queued": ["stop-502"]}
    # The next chat turn streams as usual: the stop scenario is not for it.
    assert kinds(client) == DEFAULT_KINDS
    assert queued(client) == ["stop-502"]
    # The next stop gets the failure, and the run goes on.
    assert stop(client) == (502, "Failed to stop the workflow")
    assert client.get(f"/api/chat/runs/{PINNED_RUN}", headers=H).json()["status"] == "running"
    assert queued(client) == []
    # Used once: the stop after it is a stop again (the pinned run stays: pinned runs are not stoppable).
    assert stop(client)[0] == 200


def test_each_request_takes_the_first_queued_scenario_that_is_for_it(client: TestClient) -> None:
    for name in ("stop-504", "reasoning", "stop-502"):
        client.post("/__mock/scenarios/next", json={"name": name})
    assert "reasoning-start" in kinds(client)
    assert queued(client) == ["stop-504", "stop-502"]
    assert stop(client) == (504, "Workflow did not terminate in time")
    assert stop(client) == (502, "Failed to stop the workflow")
    # A stream scenario queued is left for the next chat turn: a stop does not take it.
    client.post("/__mock/scenarios/next", json={"name": "reasoning"})
    assert stop(client)[0] == 200
    assert queued(client) == ["reasoning"]


def test_a_stop_answered_404_or_403_leaves_the_queued_stop_scenario(client: TestClient) -> None:
    client.post("/__mock/scenarios/next", json={"name": "stop-502"})
    assert stop(client, UNKNOWN_CHAT)[0] == 404
    assert stop(client, CHAT_BOB)[0] == 403
    assert queued(client) == ["stop-502"]
    # A stop's own Prefer header wins and leaves the queue alone.
    answered = client.post(f"/api/chat/{CHAT_BUSY}/stop", headers={**H, "prefer": "scenario=stop-504"})
    assert answered.status_code == 504 and queued(client) == ["stop-502"]


def test_the_scenario_list_says_which_requests_each_answers(client: TestClient) -> None:
    answers = {s["name"]: s["answers"] for s in client.get("/__mock/scenarios").json()["scenarios"]}
    assert answers["stop-502"] == answers["stop-504"] == "stop"
    assert answers["default"] == answers["http-502"] == answers["slow"] == "turn"
