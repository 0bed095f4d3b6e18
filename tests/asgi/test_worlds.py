"""Isolated worlds (``x-mock-world``), in process: the name rule, isolation, determinism, admin calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from support import (
    ALICE,
    CHAT_BUSY,
    CHAT_IDLE,
    SESSION_READY,
    assert_cors,
    assert_error,
    assert_json,
    assert_no_content,
    assert_stream,
    chat_body,
)

from mockserver import Settings, create_app

H = {"x-api-key": ALICE}


def w(name: str) -> dict[str, str | bytes]:
    """Alice's key, in world ``name`` (sent as UTF-8 bytes where it is not ASCII)."""
    return {**H, "x-mock-world": name if name.isascii() else name.encode()}


@pytest.fixture
def worlds(client: TestClient) -> TestClient:
    """The session's app with every world dropped (the `client` fixture resets only the default one)."""
    assert_json(client.post("/__mock/reset?all=true"))
    return client


@pytest.mark.parametrize("name", ["", " ", "a b", "../a", "a/b", "x" * 65, "caf\u00e9", "a:b", "a\tb", "*"])
def test_a_name_that_breaks_the_rule_is_a_400_naming_the_header_and_the_rule(worlds: TestClient, name: str) -> None:
    message = assert_error(worlds.get(f"/api/chat/{CHAT_IDLE}/stream", headers=w(name)), 400, "x-mock-world")
    assert "1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'" in message
    assert_error(worlds.get("/__mock/status", headers={"x-mock-world": w(name)["x-mock-world"]}), 400, "x-mock-world")
    listed = assert_json(worlds.get("/__mock/worlds"))["worlds"]
    assert [x["name"] for x in listed] == ["default"]


def test_a_long_name_is_quoted_short(worlds: TestClient) -> None:
    message = assert_error(worlds.get("/__mock/status", headers={"x-mock-world": "-" * 5000}), 400)
    assert len(message) < 300, message


@pytest.mark.parametrize("name", ["a", "x" * 64, "Team.ci_run-42", "default"])
def test_names_within_the_rule_are_accepted(worlds: TestClient, name: str) -> None:
    assert_no_content(worlds.get(f"/api/chat/{CHAT_IDLE}/stream", headers=w(name)))
    assert assert_json(worlds.get("/__mock/status", headers={"x-mock-world": name}))["world"] == name


def test_the_first_run_in_two_fresh_worlds_is_the_same_bytes_whatever_else_happened(worlds: TestClient) -> None:
    first = worlds.post("/api/chat", json=chat_body(), headers=w("a"))
    # Traffic elsewhere (the default world, another world) must not move world b's ids or clock.
    for _ in range(3):
        assert_stream(worlds.post("/api/chat", json=chat_body(), headers=H))
        assert_json(worlds.post("/api/sessions", json={"repoUrl": "https://github.com/recoupable/x"},
                                headers=w("c")))
    second = worlds.post("/api/chat", json=chat_body(), headers=w("b"))
    assert_stream(first)
    assert_stream(second, first.headers["x-workflow-run-id"])
    assert first.content == second.content
    # ... and a world given the same requests after a reset gives the same bytes again.
    assert_json(worlds.post("/__mock/reset", headers={"x-mock-world": "a"}))
    assert worlds.post("/api/chat", json=chat_body(), headers=w("a")).content == first.content


def test_state_made_in_one_world_is_not_in_another(worlds: TestClient) -> None:
    created = assert_json(worlds.post("/api/sessions", json={"repoUrl": "https://github.com/recoupable/x"},
                                      headers=w("a")))["session"]
    assert_json(worlds.get(f"/api/sessions/{created['id']}", headers=w("a")))
    assert_error(worlds.get(f"/api/sessions/{created['id']}", headers=w("b")), 404)
    assert_error(worlds.get(f"/api/sessions/{created['id']}", headers=H), 404)
    assert_stream(worlds.post("/api/chat", json=chat_body(text="only in a"), headers=w("a")))
    in_a = assert_json(worlds.get(f"/api/chats/{CHAT_IDLE}/messages", headers=w("a")))["data"]
    assert [row["content"]["role"] for row in in_a] == ["user", "assistant"]
    assert assert_json(worlds.get(f"/api/chats/{CHAT_IDLE}/messages", headers=w("b")))["data"] == []


def test_the_fixture_world_is_whole_in_every_world(worlds: TestClient) -> None:
    for name in ("a", "b"):
        assert_error(worlds.post("/api/chat", json=chat_body(CHAT_BUSY), headers=w(name)), 409)
        assert_stream(worlds.get(f"/api/chat/{CHAT_BUSY}/stream", headers=w(name)))
        assert_json(worlds.get(f"/api/sessions/{SESSION_READY}", headers=w(name)))


def test_each_world_has_its_own_journal(worlds: TestClient) -> None:
    worlds.get(f"/api/chat/{CHAT_IDLE}/stream", headers=w("a"))
    worlds.post(f"/api/chat/{CHAT_IDLE}/stop", json={}, headers=w("a"))
    worlds.get(f"/api/sessions/{SESSION_READY}", headers=w("b"))
    worlds.get(f"/api/sessions/{SESSION_READY}", headers=H)
    journal = {name: [(e["method"], e["path"]) for e in assert_json(
        worlds.get("/__mock/requests", headers={"x-mock-world": name}))["requests"]] for name in ("a", "b", "default")}
    assert journal["a"] == [("GET", f"/api/chat/{CHAT_IDLE}/stream"), ("POST", f"/api/chat/{CHAT_IDLE}/stop")]
    assert journal["b"] == [("GET", f"/api/sessions/{SESSION_READY}")]
    assert journal["default"] == [("GET", f"/api/sessions/{SESSION_READY}")]


def test_each_world_has_its_own_scenario_queue(worlds: TestClient) -> None:
    queued = assert_json(worlds.post("/__mock/scenarios/next", json={"name": "http-429"},
                                     headers={"x-mock-world": "a"}))
    assert queued == {"queued": ["http-429"]}
    assert assert_json(worlds.get("/__mock/scenarios/next", headers={"x-mock-world": "b"})) == {"queued": []}
    assert_stream(worlds.post("/api/chat", json=chat_body(), headers=w("b")))
    assert_stream(worlds.post("/api/chat", json=chat_body(), headers=H))
    assert_error(worlds.post("/api/chat", json=chat_body(), headers=w("a")), 429)


def test_reset_acts_on_its_own_world_and_all_drops_every_world(worlds: TestClient) -> None:
    made = {}
    for name in ("a", "b"):
        made[name] = assert_json(worlds.post("/api/sessions", json={"repoUrl": "https://github.com/recoupable/x"},
                                             headers=w(name)))["session"]["id"]
    assert assert_json(worlds.post("/__mock/reset", headers={"x-mock-world": "a"})) == {"status": "ok",
                                                                                          "runsCancelled": 0}
    assert_error(worlds.get(f"/api/sessions/{made['a']}", headers=w("a")), 404)
    assert_json(worlds.get(f"/api/sessions/{made['b']}", headers=w("b")))
    listed = assert_json(worlds.get("/__mock/worlds"))
    assert listed["limit"] == 256
    assert [x["name"] for x in listed["worlds"]] == ["default", "a", "b"]
    assert assert_json(worlds.post("/__mock/reset?all=true")) == {"status": "ok", "runsCancelled": 0,
                                                                   "worldsDropped": 3}
    assert [x["name"] for x in assert_json(worlds.get("/__mock/worlds"))["worlds"]] == ["default"]
    assert_error(worlds.get(f"/api/sessions/{made['b']}", headers=w("b")), 404)


def test_status_and_worlds_report_each_worlds_counts(worlds: TestClient) -> None:
    assert_stream(worlds.post("/api/chat", json=chat_body(), headers=w("a")))
    status = assert_json(worlds.get("/__mock/status", headers={"x-mock-world": "a"}))
    assert status == {**status, "world": "a", "runsLive": 0, "runsKept": 2, "readers": 0, "chats": 4,
                      "sessions": 3, "requests": 1, "queued": 0}
    listed = {x["name"]: x for x in assert_json(worlds.get("/__mock/worlds"))["worlds"]}
    assert listed["a"]["requests"] == 1 and listed["default"]["requests"] == 0


def test_preflights_allow_the_world_header(worlds: TestClient) -> None:
    response = worlds.options("/api/chat", headers={"origin": "http://localhost:5173",
                                                    "access-control-request-method": "POST",
                                                    "access-control-request-headers": "x-mock-world"})
    assert response.status_code == 200
    assert "x-mock-world" in response.headers["access-control-allow-headers"].lower()
    # It announced a world's request: it is not the default world's traffic. A plain one is.
    assert assert_json(worlds.get("/__mock/requests"))["requests"] == []
    worlds.options("/api/chat", headers={"origin": "http://localhost:5173", "access-control-request-method": "POST",
                                         "access-control-request-headers": "content-type,x-api-key"})
    assert [e["method"] for e in assert_json(worlds.get("/__mock/requests"))["requests"]] == ["OPTIONS"]


@pytest.fixture
def small() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(speed=0, access_log=False, max_worlds=3))) as client:
        yield client


def test_past_the_limit_the_least_recently_used_idle_world_goes(small: TestClient) -> None:
    for name in ("a", "b"):
        assert_json(small.post("/api/sessions", json={"repoUrl": "https://github.com/recoupable/x"},
                               headers=w(name)))
    small.get("/__mock/status", headers={"x-mock-world": "a"})  # a is now used more recently than b
    assert_no_content(small.get(f"/api/chat/{CHAT_IDLE}/stream", headers=w("c")))
    assert [x["name"] for x in assert_json(small.get("/__mock/worlds"))["worlds"]] == ["default", "a", "c"]
    # b comes back as a fresh world (its session is gone), and takes the place of the least recent one.
    assert assert_json(small.get("/__mock/status", headers={"x-mock-world": "b"}))["sessions"] == 3
    assert [x["name"] for x in assert_json(small.get("/__mock/worlds"))["worlds"]] == ["default", "c", "b"]


def test_max_worlds_comes_from_settings_and_the_environment() -> None:
    assert Settings.from_env({"RECOUP_MOCK_MAX_WORLDS": "7"}).max_worlds == 7
    with pytest.raises(Exception, match="max_worlds"):
        Settings(max_worlds=0)


def test_a_refused_request_is_journaled_in_the_default_world(worlds: TestClient) -> None:
    response = worlds.get(f"/api/chat/{CHAT_IDLE}/stream", headers=w("bad name"))
    assert_cors(response)
    entries = assert_json(worlds.get("/__mock/requests"))["requests"]
    assert [(e["path"], e["status"]) for e in entries] == [(f"/api/chat/{CHAT_IDLE}/stream", 400)]
