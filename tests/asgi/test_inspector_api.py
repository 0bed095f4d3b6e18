"""The calls behind the inspector page, in process: the page's files, a request's details, runs, stop."""

from __future__ import annotations

import itertools

import pytest
from starlette.testclient import TestClient
from support import ALICE, CHAT_BUSY, PINNED_RUN, assert_error, assert_json, assert_stream, chat_body

from mockserver import Settings, create_app

H = {"x-api-key": ALICE}


@pytest.mark.parametrize(("path", "kind", "marker"), [("/__mock/", "text/html", b"<html"),
                                                      ("/__mock/inspector/app.js", "text/javascript", b"events"),
                                                      ("/__mock/inspector/style.css", "text/css", b"{")])
def test_the_page_and_its_files_are_served_from_the_package(client: TestClient, path: str, kind: str,
                                                           marker: bytes) -> None:
    response = client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith(kind)
    assert marker in response.content


def test_only_the_pages_own_files_are_served(client: TestClient) -> None:
    assert_error(client.get("/__mock/inspector/..%2Fadmin.py"), 404)  # no such route: the slash is a path
    assert_error(client.get("/__mock/inspector/secrets.txt"), 400)


def test_a_requests_detail_has_its_headers_masked_its_body_and_its_runs_chunks(client: TestClient) -> None:
    posted = assert_stream(client.post("/api/chat", json=chat_body(text="Show me"), headers=H))
    [entry] = assert_json(client.get("/__mock/requests"))["requests"]
    detail = assert_json(client.get(f"/__mock/requests/{entry['seq']}"))
    headers = dict(detail["request"]["headers"])
    assert headers["x-api-key"] == "recoup_sk_…lice" and ALICE not in str(detail)
    assert detail["request"]["body"]["messages"][0]["parts"][0]["text"] == "Show me"
    assert detail["response"]["status"] == 200
    assert ["content-type", "text/event-stream"] in detail["response"]["headers"]
    log = detail["run"]["chunkLog"]
    assert [c["chunk"] for c in log] == posted
    assert [c["index"] for c in log] == list(range(len(posted)))
    assert all(b["atMs"] >= a["atMs"] >= 0 for a, b in itertools.pairwise(log))
    assert_error(client.get("/__mock/requests/999"), 404)


def test_runs_are_listed_and_a_pinned_one_cannot_be_stopped(client: TestClient) -> None:
    runs = {r["runId"]: r for r in assert_json(client.get("/__mock/runs"))["runs"]}
    assert runs[PINNED_RUN] == {**runs[PINNED_RUN], "chatId": CHAT_BUSY, "pinned": True, "status": "running",
                                "live": False}
    detail = assert_json(client.get(f"/__mock/runs/{PINNED_RUN}"))
    assert detail["chunkLog"][0]["chunk"]["type"] == "start"
    assert assert_json(client.post(f"/__mock/runs/{PINNED_RUN}/stop")) == {"runId": PINNED_RUN, "stopped": False}
    assert_error(client.get("/__mock/runs/wrun_nope"), 404)
    assert_error(client.post("/__mock/runs/wrun_nope/stop"), 404)


def test_with_an_admin_token_the_page_is_open_and_its_calls_are_not() -> None:
    with TestClient(create_app(Settings(speed=0, access_log=False, admin_token="s3cret"))) as client:
        assert client.get("/__mock/").status_code == 200
        assert client.get("/__mock/inspector/app.js").status_code == 200
        assert_error(client.get("/__mock/runs"), 401)
        assert_error(client.get("/__mock/events"), 401)
        assert client.get("/__mock/runs", headers={"x-mock-admin-token": "s3cret"}).status_code == 200
