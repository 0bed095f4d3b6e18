"""The admin API under /__mock/: scenarios, the request journal, reset, determinism, token and off switch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient
from support import (
    ALICE,
    BOB,
    CHAT_BUSY,
    CHAT_IDLE,
    PINNED_RUN,
    SCHEMES,
    SESSION_READY,
    UNKNOWN_RUN,
    assert_cors,
    assert_error,
    chat_body,
)

from mockserver import Settings, create_app

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "scenarios"
NEW_CHAT = "0c11e470-0000-4000-8000-00000000c11e"
ADMIN_CALLS = [("POST", "/__mock/reset"), ("GET", "/__mock/requests"), ("GET", "/__mock/scenarios")]


def journal(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/__mock/requests", params=params)
    assert response.status_code == 200, response.text
    assert_cors(response)
    body = response.json()
    assert set(body) == {"requests", "evicted"} and body["evicted"] == 0  # no budget pressure here
    return list(body["requests"])


def summary(entries: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(e["method"], e["path"], e["status"]) for e in entries]


# ---------------------------------------------------------------- scenarios


def test_scenarios_lists_every_file(client: TestClient) -> None:
    response = client.get("/__mock/scenarios")
    assert response.status_code == 200, response.text
    assert_cors(response)
    listed = response.json()["scenarios"]
    expected = {}
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        expected[path.stem] = ("http-status" if "response" in doc else "stream", str(doc.get("description", "")),
                               doc.get("answers", "turn"))
    assert len(expected) >= 2
    assert [s["name"] for s in listed] == sorted(expected)
    for scenario in listed:
        assert set(scenario) == {"name", "description", "kind", "answers", "clients"}
        assert (scenario["kind"], scenario["description"], scenario["answers"]) == expected[scenario["name"]]
        assert isinstance(scenario["clients"], dict)
    kinds = {s["name"]: s["kind"] for s in listed}
    assert kinds["default"] == "stream"
    assert kinds["http-429"] == "http-status"


# ---------------------------------------------------------------- the journal


def record_sequence(client: TestClient) -> str:
    """A known sequence of API requests; returns the run id of the first."""
    alice_key, alice_bearer = SCHEMES["x-api-key"](ALICE), SCHEMES["bearer"](ALICE)
    posted = client.post("/api/chat", json=chat_body(), headers=alice_key)  # 1
    assert posted.status_code == 200, posted.text
    assert client.get(f"/api/chat/{CHAT_IDLE}/stream", headers=alice_bearer).status_code == 204  # 2
    assert client.post("/api/chat", json=chat_body(), headers={**alice_key, "prefer": "scenario=http-429"}
                       ).status_code == 429  # 3
    assert client.get(f"/api/chat/runs/{UNKNOWN_RUN}", headers=alice_key).status_code == 404  # 4
    assert client.get(f"/api/chat/{CHAT_BUSY}/stream", headers=alice_key).status_code == 200  # 5
    run_id = posted.headers["x-workflow-run-id"]
    assert client.get(f"/api/chat/runs/{run_id}", headers=SCHEMES["bearer"](BOB)).status_code == 404  # 6
    assert client.post("/api/chat", json=chat_body()).status_code == 401  # 7
    return run_id


def test_journal_records_each_request(client: TestClient) -> None:
    run_id = record_sequence(client)
    entries = journal(client)
    assert summary(entries) == [
        ("POST", "/api/chat", 200),
        ("GET", f"/api/chat/{CHAT_IDLE}/stream", 204),
        ("POST", "/api/chat", 429),
        ("GET", f"/api/chat/runs/{UNKNOWN_RUN}", 404),
        ("GET", f"/api/chat/{CHAT_BUSY}/stream", 200),
        ("GET", f"/api/chat/runs/{run_id}", 404),
        ("POST", "/api/chat", 401),
    ]
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    for entry in entries:
        assert set(entry) == {"seq", "time", "method", "path", "status", "scenario", "chaos", "runId", "account",
                              "durationMs", "done"}
        assert entry["durationMs"] >= 0 and entry["done"] is True
    assert [e["scenario"] for e in entries] == ["default", None, "http-429", None, "default", None, None]
    assert [e["runId"] for e in entries] == [run_id, None, None, None, PINNED_RUN, None, None]


def test_journal_masks_keys(client: TestClient) -> None:
    record_sequence(client)
    response = client.get("/__mock/requests")
    assert ALICE not in response.text
    assert BOB not in response.text
    accounts = [e["account"] for e in response.json()["requests"]]
    alice_masked, bob_masked = accounts[0], accounts[5]
    assert isinstance(alice_masked, str)
    assert alice_masked
    assert isinstance(bob_masked, str)
    assert bob_masked
    assert alice_masked != bob_masked
    # Both of Alice's schemes resolve to the same account; no credentials, no account.
    assert accounts == [alice_masked, alice_masked, alice_masked, alice_masked, alice_masked, bob_masked, None]


def test_journal_never_holds_a_key_in_full_even_an_unknown_one(client: TestClient) -> None:
    secret = "recoup_sk_live_0123456789abcdef"
    assert client.post("/api/chat", json=chat_body(), headers={"x-api-key": secret}).status_code == 401
    assert client.post("/api/chat", json=chat_body(), headers={"authorization": f"Bearer {secret}"}
                       ).status_code == 401
    assert secret not in client.get("/__mock/requests").text


@pytest.mark.parametrize(("params", "expected"), [
    ({"method": "GET"}, [2, 4, 5, 6]),
    ({"method": "get"}, [2, 4, 5, 6]),
    ({"method": "POST"}, [1, 3, 7]),
    ({"path": "/stream"}, [2, 5]),
    ({"path": "/api/chat/runs/"}, [4, 6]),
    ({"status": "404"}, [4, 6]),
    ({"status": "200"}, [1, 5]),
    ({"scenario": "default"}, [1, 5]),
    ({"scenario": "http-429"}, [3]),
    ({"scenario": "nope"}, []),
    ({"limit": "2"}, [6, 7]),
    ({"limit": "100"}, [1, 2, 3, 4, 5, 6, 7]),
    ({"method": "GET", "status": "404"}, [4, 6]),
    ({"method": "GET", "limit": "1"}, [6]),
])
def test_journal_filters(client: TestClient, params: dict[str, str], expected: list[int]) -> None:
    record_sequence(client)
    everything = journal(client)
    assert len(everything) == 7
    assert journal(client, **params) == [everything[i - 1] for i in expected]


def test_journal_filter_by_run_id(client: TestClient) -> None:
    run_id = record_sequence(client)
    everything = journal(client)
    assert journal(client, runId=run_id) == [everything[0]]
    assert journal(client, runId=PINNED_RUN) == [everything[4]]
    assert journal(client, runId=UNKNOWN_RUN) == []


def test_journal_leaves_out_admin_calls(client: TestClient) -> None:
    client.get("/__mock/scenarios")
    client.get("/__mock/requests")
    assert journal(client) == []


@pytest.mark.parametrize("params", [{"status": "abc"}, {"limit": "0"}, {"limit": "x"}])
def test_journal_bad_filter_is_400(client: TestClient, params: dict[str, str]) -> None:
    assert_error(client.get("/__mock/requests", params=params), 400)


# ---------------------------------------------------------------- reset


def test_reset_restores_the_world_and_clears_the_journal(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    created = client.post(f"/api/sessions/{SESSION_READY}/chats", json={"id": NEW_CHAT}, headers=alice)
    assert created.status_code == 200, created.text
    session = client.post("/api/sessions", json={}, headers=alice).json()["session"]["id"]
    assert client.post("/api/chat", json=chat_body(), headers=alice).status_code == 200
    assert len(client.get(f"/api/chats/{CHAT_IDLE}/messages", headers=alice).json()["data"]) == 2
    assert journal(client) != []

    reset = client.post("/__mock/reset")
    assert reset.status_code == 200, reset.text
    assert reset.json() == {"status": "ok", "runsCancelled": 0}
    assert_cors(reset)

    assert journal(client) == []
    assert_error(client.get(f"/api/sessions/{SESSION_READY}/chats/{NEW_CHAT}", headers=alice), 404)
    assert_error(client.get(f"/api/chats/{NEW_CHAT}/messages", headers=alice), 404)
    assert_error(client.get(f"/api/sessions/{session}", headers=alice), 404)
    messages = client.get(f"/api/chats/{CHAT_IDLE}/messages", headers=alice)
    assert messages.status_code == 200, messages.text
    assert messages.json() == {"data": []}
    chats = client.get(f"/api/sessions/{SESSION_READY}/chats", headers=alice).json()["chats"]
    assert sorted(c["id"] for c in chats) == sorted([CHAT_IDLE, CHAT_BUSY])
    # The chat id is free again.
    again = client.post(f"/api/sessions/{SESSION_READY}/chats", json={"id": NEW_CHAT}, headers=alice)
    assert again.status_code == 200, again.text


def test_reset_keeps_the_pinned_run(client: TestClient) -> None:
    alice = SCHEMES["x-api-key"](ALICE)
    client.post(f"/api/chat/{CHAT_BUSY}/stop", json={}, headers=alice)
    assert client.post("/__mock/reset").status_code == 200
    status = client.get(f"/api/chat/runs/{PINNED_RUN}", headers=alice)
    assert status.json() == {"runId": PINNED_RUN, "status": "running"}
    assert client.post("/api/chat", json=chat_body(CHAT_BUSY), headers=alice).status_code == 409


def replay(client: TestClient) -> list[Any]:
    """A fixed sequence of requests; everything in it that should be deterministic."""
    alice = SCHEMES["x-api-key"](ALICE)
    out: list[Any] = []
    first = client.post("/api/chat", json=chat_body(), headers=alice)
    assert first.status_code == 200, first.text
    out += [first.headers["x-workflow-run-id"], first.content]
    reasoning = client.post("/api/chat", json=chat_body(text="[scenario:reasoning]"), headers=alice)
    assert reasoning.status_code == 200, reasoning.text
    out += [reasoning.headers["x-workflow-run-id"], reasoning.content]
    session = client.post("/api/sessions", json={"title": "Det"}, headers=alice)
    assert session.status_code == 200, session.text
    out.append(session.json())
    out.append(client.get(f"/api/chats/{CHAT_IDLE}/messages", headers=alice).json())
    # Last: the headless run finishes on its own task, which draws ids when it stores its answer.
    run = client.post("/api/chat/runs", json={"prompt": "Headless"}, headers=alice)
    assert run.status_code == 202, run.text
    out += [run.json(), run.headers["location"]]
    return out


def test_same_requests_after_reset_give_the_same_ids_and_bytes(client: TestClient) -> None:
    first = replay(client)
    assert client.post("/__mock/reset").status_code == 200
    second = replay(client)
    assert second == first
    # Sanity: within one generation, ids do move on.
    third = replay(client)
    assert third[0] != first[0]


# ---------------------------------------------------------------- admin token and the off switch


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_admin_token_is_required_when_configured(method: str, path: str) -> None:
    app = create_app(Settings(speed=0, admin_token="s3cret", access_log=False))
    with TestClient(app) as client:
        assert_error(client.request(method, path), 401)
        assert_error(client.request(method, path, headers={"x-mock-admin-token": "wrong"}), 401)
        assert_error(client.request(method, path, headers={"x-mock-admin-token": ""}), 401)
        ok = client.request(method, path, headers={"x-mock-admin-token": "s3cret"})
        assert ok.status_code == 200, ok.text
        assert_cors(ok)


def test_admin_token_does_not_guard_the_api() -> None:
    app = create_app(Settings(speed=0, admin_token="s3cret", access_log=False))
    with TestClient(app) as client:
        response = client.get(f"/api/chat/runs/{PINNED_RUN}", headers=SCHEMES["x-api-key"](ALICE))
        assert response.status_code == 200, response.text


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_admin_off_answers_404(method: str, path: str) -> None:
    app = create_app(Settings(speed=0, admin=False, access_log=False))
    with TestClient(app) as client:
        assert_error(client.request(method, path), 404)
        # The API itself is unaffected.
        response = client.get(f"/api/chat/runs/{PINNED_RUN}", headers=SCHEMES["x-api-key"](ALICE))
        assert response.status_code == 200, response.text
