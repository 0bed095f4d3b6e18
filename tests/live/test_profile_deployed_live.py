"""The `deployed` profile on a live uvicorn: a POST that resumes a live run, and disconnects that cancel."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support import (
    ALICE,
    CHAT_IDLE,
    DONE,
    LiveServer,
    ServerProcess,
    SseParser,
    chat_body,
    chunks_of,
    live_server,
)

H = {"x-api-key": ALICE}
SLOW = {**H, "prefer": "scenario=slow"}


@pytest.fixture(scope="module")
def deployed_server() -> Iterator[LiveServer]:
    with live_server(speed=1.0, profile="deployed") as server:
        yield server


@pytest.fixture
def deployed(deployed_server: LiveServer) -> LiveServer:
    httpx.post(deployed_server.base_url + "/__mock/reset?all=true").raise_for_status()
    return deployed_server


def status_of(server: LiveServer, run_id: str) -> str:
    return str(httpx.get(f"{server.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"])


def wait_for_status(server: LiveServer, run_id: str, wanted: str) -> None:
    """Poll the run's status (each poll a real request, bounded) until it is ``wanted``: the cancel
    after a disconnect happens when the server notices the reader is gone."""
    with httpx.Client(timeout=5) as client:
        for _ in range(200):
            if client.get(f"{server.base_url}/api/chat/runs/{run_id}", headers=H).json()["status"] == wanted:
                return
    pytest.fail(f"run {run_id} never became {wanted!r}: {status_of(server, run_id)!r}")


def test_a_second_post_on_a_live_run_replays_it_from_chunk_0_and_follows_it(deployed: LiveServer) -> None:
    url = deployed.base_url
    with httpx.stream("POST", url + "/api/chat", json=chat_body(), headers=SLOW, timeout=10) as first:
        pieces = first.iter_raw()
        seen = SseParser().read(pieces, chunks=4)
        second = httpx.post(url + "/api/chat", json=chat_body(text="again"), headers=SLOW, timeout=10)
        rest = seen.read(pieces)
    assert second.status_code == 200
    assert second.headers["x-workflow-run-id"] == first.headers["x-workflow-run-id"]
    assert second.content.endswith(DONE)
    # The same message from its start chunk: the replay is the first stream, byte for byte.
    assert second.content == rest.raw
    assert chunks_of(second.content)[-1]["type"] == "finish"
    assert status_of(deployed, first.headers["x-workflow-run-id"]) == "completed"


def test_dropping_the_post_stream_cancels_the_run(deployed: LiveServer) -> None:
    url = deployed.base_url
    with httpx.stream("POST", url + "/api/chat", json=chat_body(), headers=SLOW, timeout=10) as response:
        run_id = response.headers["x-workflow-run-id"]
        SseParser().read(response.iter_raw(), chunks=3)
    # The client went away mid-stream: the run is cancelled and the chat's slot freed.
    wait_for_status(deployed, run_id, "cancelled")
    assert httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204
    assert httpx.post(url + "/api/chat", json=chat_body(), headers=H).status_code == 200


def test_dropping_a_resume_cancels_the_run_but_dropping_a_post_replay_does_not(deployed: LiveServer) -> None:
    url = deployed.base_url
    with httpx.Client(timeout=10) as client, client.stream("POST", url + "/api/chat", json=chat_body(),
                                                           headers=SLOW) as owner:
        run_id = owner.headers["x-workflow-run-id"]
        owner_pieces = owner.iter_raw()
        SseParser().read(owner_pieces, chunks=2)
        # A second POST replays the run; its reader leaving is not watched.
        with httpx.stream("POST", url + "/api/chat", json=chat_body(), headers=SLOW, timeout=10) as replay:
            SseParser().read(replay.iter_raw(), chunks=3)
        assert status_of(deployed, run_id) == "running"
        # A resume is watched: its reader leaving cancels the run, and the owner's stream ends.
        with httpx.stream("GET", f"{url}/api/chat/{CHAT_IDLE}/stream", headers=H, timeout=10) as resume:
            assert resume.status_code == 200
            SseParser().read(resume.iter_raw(), chunks=3)
        owner_rest = SseParser().read(owner_pieces)
    wait_for_status(deployed, run_id, "cancelled")
    assert owner_rest.raw.endswith(DONE)
    assert all(c["type"] != "finish" for c in owner_rest.chunks())


def test_a_dropped_connection_cancels_the_run_so_there_is_nothing_to_resume(deployed: LiveServer) -> None:
    url = deployed.base_url
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
            "POST", url + "/api/chat", json=chat_body(), headers={**H, "prefer": "scenario=disconnect"},
            timeout=10) as response:
        run_id = response.headers["x-workflow-run-id"]
        SseParser().read(response.iter_raw())
    wait_for_status(deployed, run_id, "cancelled")
    assert httpx.get(f"{url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204


def test_the_serve_command_takes_the_profile() -> None:
    server = ServerProcess("--profile", "deployed", "--speed", "0")
    try:
        gone = httpx.post(server.base_url + "/api/chat/workflow", json=chat_body(), headers=H)
        status = httpx.get(server.base_url + "/__mock/status").json()
    finally:
        server.stop()
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/html")
    assert status["profile"] == "deployed"
