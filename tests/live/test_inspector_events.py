"""``GET /__mock/events`` on a live uvicorn: what another client does is pushed as it happens."""

from __future__ import annotations

import signal

import httpx
from support import ALICE, LiveServer, ServerProcess, chat_body, inspector_events

H = {"x-api-key": ALICE}



def test_a_stream_sent_by_another_client_is_pushed_as_it_grows_and_stop_ends_it(live: LiveServer) -> None:
    url = live.base_url
    with httpx.Client(timeout=10) as client, client.stream("GET", url + "/__mock/events") as watching:
        assert watching.headers["content-type"].startswith("text/event-stream")
        pushed = inspector_events(watching.iter_raw())
        with httpx.stream("POST", url + "/api/chat", json=chat_body(), timeout=10,
                          headers={**H, "prefer": "scenario=slow", "x-mock-world": "watched"}) as chat:
            run_id = chat.headers["x-workflow-run-id"]
            chat_pieces = chat.iter_raw()
            request = next(e for e in pushed if e["type"] == "request")
            assert request["world"] == "watched" and request["entry"]["path"] == "/api/chat"
            started = next(e for e in pushed if e["type"] == "run")
            assert started["run"]["runId"] == run_id and started["run"]["scenario"] == "slow"
            chunks = [next(e for e in pushed if e["type"] == "chunk") for _ in range(5)]
            assert [c["index"] for c in chunks] == [0, 1, 2, 3, 4] and chunks[0]["chunk"]["type"] == "start"
            assert all(c["runId"] == run_id and c["world"] == "watched" for c in chunks)
            # Stop from the inspector's own call: the run closes as cancelled, and that is pushed too.
            stopped = client.post(f"{url}/__mock/runs/{run_id}/stop", headers={"x-mock-world": "watched"})
            assert stopped.json() == {"runId": run_id, "stopped": True}
            closed = next(e for e in pushed if e["type"] == "run")
            assert closed["run"]["status"] == "cancelled" and closed["run"]["live"] is False
            body = b"".join(chat_pieces)
        ended = next(e for e in pushed if e["type"] == "request" and e["entry"]["done"])
        assert ended["entry"]["status"] == 200 and ended["entry"]["runId"] == run_id
    assert body.endswith(b"data: [DONE]\n\n")
    assert httpx.get(f"{url}/api/chat/runs/{run_id}", headers={**H, "x-mock-world": "watched"}).json()["status"] == \
        "cancelled"
    assert httpx.get(url + "/__mock/status").json()["readers"] == 0


def test_the_event_stream_ends_when_the_server_shuts_down() -> None:
    """uvicorn waits for open responses before a shutdown completes: the events stream must end by itself."""
    server = ServerProcess("--speed", "0", quiet=False)
    try:
        with httpx.stream("GET", server.base_url + "/__mock/events", timeout=10) as watching:
            pieces = watching.iter_raw()
            next(pieces)  # watching
            server.process.send_signal(signal.SIGINT)
            rest = b"".join(pieces)  # ends (with a last event) instead of hanging until a timeout
        assert server.process.wait(timeout=10) in (0, 130)
    finally:
        server.stop()
    assert b'"type":"bye"' in rest
    assert "timeout graceful shutdown exceeded" not in server.log() and "Traceback" not in server.log()
