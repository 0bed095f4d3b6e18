"""Races over real sockets: the slot compare-and-set, stop during a resume, reset during streams."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import pytest
from support import ALICE, CHAT_IDLE, DONE, LiveServer, ServerProcess, chat_body, chunks_of, simultaneous_posts

H = {"x-api-key": ALICE}
SLOW = {"prefer": "scenario=slow"}


@pytest.mark.parametrize("rounds", [pytest.param(3, id="short"),
                                    pytest.param(20, id="long", marks=pytest.mark.stress)])
def test_hundred_simultaneous_posts_stream_exactly_once_every_time(live: LiveServer, rounds: int) -> None:
    for _ in range(rounds):
        statuses = asyncio.run(simultaneous_posts(live.base_url, 100, chat_body(), {**H, "prefer": "scenario=slow"}))
        assert statuses == Counter({200: 1, 409: 99})
        # The winner read its stream to the end, so its run is over and the slot is free again.
        assert httpx.get(f"{live.base_url}/api/chat/{CHAT_IDLE}/stream", headers=H).status_code == 204


def test_stop_during_a_resume_ends_both_streams_cleanly(live: LiveServer) -> None:
    async def scenario() -> tuple[bytes, bytes, dict[str, object]]:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10, headers=H) as client:
            async with client.stream("POST", "/api/chat", json=chat_body(),
                                     headers={"prefer": "scenario=slow"}) as posted:
                post_pieces = posted.aiter_raw()
                await anext(post_pieces)
                async with client.stream("GET", f"/api/chat/{CHAT_IDLE}/stream") as resumed:
                    resume_pieces = resumed.aiter_raw()
                    first = await anext(resume_pieces)
                    stop = (await client.post(f"/api/chat/{CHAT_IDLE}/stop")).json()
                    resumed_body = first + b"".join([p async for p in resume_pieces])
                posted_body = b"".join([p async for p in post_pieces])
            return resumed_body, posted_body, stop

    resumed, posted, stop = asyncio.run(scenario())
    assert stop == {"success": True, "stopped": True}
    assert resumed.endswith(DONE) and posted.endswith(DONE)
    assert chunks_of(resumed)[0]["type"] == "start"
    status = httpx.get(f"{live.base_url}/__mock/status").json()
    assert status["runsLive"] == 0 and status["readers"] == 0


def test_reset_during_streams_ends_them_and_restores_the_world(live: LiveServer) -> None:
    async def scenario() -> list[bytes]:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=10, headers=H) as client:
            runs = [(await client.post("/api/chat/runs", json={"prompt": "go"}, headers={"prefer": "scenario=slow"}))
                    .json() for _ in range(20)]
            # Passed by every reader once its first bytes are in, and by this test.
            streaming = asyncio.Barrier(len(runs) + 1)

            async def read(chat_id: str) -> bytes:
                async with client.stream("GET", f"/api/chat/{chat_id}/stream") as response:
                    assert response.status_code == 200
                    pieces = response.aiter_raw()
                    first = await anext(pieces)
                    await streaming.wait()
                    return first + b"".join([p async for p in pieces])

            readers = [asyncio.create_task(read(r["chatId"])) for r in runs]
            async with asyncio.timeout(10):  # a safety bound only: every reader gets its first bytes at once
                await streaming.wait()
            # Every run is live and followed: the reset lands mid-stream.
            status = (await client.get("/__mock/status")).json()
            assert status["runsLive"] == 20 and status["readers"] == 20
            reset = (await client.post("/__mock/reset")).json()
            assert reset["runsCancelled"] == 20
            return list(await asyncio.gather(*readers))

    bodies = asyncio.run(scenario())
    assert all(b.endswith(DONE) for b in bodies)
    # Cut by the reset: each ends without the script's `finish`.
    assert all(chunks_of(b)[-1]["type"] != "finish" for b in bodies)
    status = httpx.get(f"{live.base_url}/__mock/status").json()
    assert status == {**status, "runsLive": 0, "readers": 0, "chats": 4, "sessions": 3}


@pytest.mark.parametrize("readers", [pytest.param(30, id="short"),
                                     pytest.param(300, id="long", marks=pytest.mark.stress)])
def test_many_readers_of_one_run_agree(readers: int) -> None:
    async def scenario(base_url: str) -> list[tuple[int, bytes]]:
        limits = httpx.Limits(max_connections=readers + 5)
        async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=H, limits=limits) as client:
            started = await client.post("/api/chat/runs", json={"prompt": "go"}, headers={"prefer": "scenario=slow"})
            chat_id = started.json()["chatId"]

            async def read() -> tuple[int, bytes]:
                async with client.stream("GET", f"/api/chat/{chat_id}/stream") as response:
                    return response.status_code, b"".join([p async for p in response.aiter_raw()])

            return list(await asyncio.gather(*(read() for _ in range(readers))))

    # Its own process (so the readers do not share the server's GIL), slowed down (`slow` lasts
    # about 7 s) so that every reader connects while the run is live.
    server = ServerProcess("--speed", "3")
    try:
        results = asyncio.run(scenario(server.base_url))
    finally:
        server.stop()
    assert {status for status, _ in results} == {200}
    bodies = {body for _, body in results}
    assert len(bodies) == 1 and bodies.pop().endswith(DONE)


#: Rounds of a POST racing a stop or a reset; the race was lost within the first few before the fix.
CANCEL_RACE_ROUNDS = 200
#: A bound on each read of a raced exchange (a cancelled stream ends at once; a run left open would
#: only ever send keep-alives).
READ_BOUND_S = 5.0


class RawConnection:
    """One keep-alive HTTP/1.1 connection on a plain socket. The race needs two requests' bytes
    written at the same instant, with no await between them, which a client library cannot promise."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, base_url: str) -> RawConnection:
        url = httpx.URL(base_url)
        return cls(*await asyncio.open_connection(url.host, url.port))

    def send(self, path: str, body: dict[str, object] | None = None, **headers: str) -> None:
        """Write a POST now (no await: the bytes are handed to the socket at once)."""
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", f"x-api-key: {ALICE}",
                 f"content-length: {len(payload)}", *(f"{k}: {v}" for k, v in headers.items())]
        if body is not None:
            lines.append("content-type: application/json")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)

    async def head(self) -> tuple[int, dict[str, str]]:
        """The next response's status and headers (names in lower case)."""
        async with asyncio.timeout(READ_BOUND_S):
            lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        return int(lines[0].split()[1]), headers

    async def body(self, headers: dict[str, str], what: str = "") -> bytes:
        """The response's body, chunked or sized. Fails, instead of hanging, when it has not ended
        within `READ_BOUND_S`."""
        body = b""
        try:
            async with asyncio.timeout(READ_BOUND_S):
                if headers.get("transfer-encoding") != "chunked":
                    return await self.reader.readexactly(int(headers.get("content-length", "0")))
                while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
                    body += (await self.reader.readexactly(size + 2))[:-2]
                await self.reader.readuntil(b"\r\n")
        except TimeoutError:
            pytest.fail(f"the stream did not end within {READ_BOUND_S} s ({what}); it had sent {body[-200:]!r}")
        return body

    async def json(self) -> Any:
        status, headers = await self.head()
        assert status == 200, status
        return json.loads(await self.body(headers))

    def close(self) -> None:
        self.writer.close()


async def _post_racing(base_url: str, canceller: str, *, busy: bool) -> None:
    """Rounds of ``POST /api/chat`` and ``POST canceller`` written at the same instant on two
    connections. Whichever lands first, the POST stream ends, its run is no longer running and the
    chat takes the next POST. ``busy``: another run (headless) is live in the world at each race, so
    that a reset has runs to wait for while the POST arrives."""
    stopping = canceller.endswith("/stop")
    poster, other = await RawConnection.open(base_url), await RawConnection.open(base_url)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=10, headers=H) as client:
            for round_ in range(CANCEL_RACE_ROUNDS):
                if busy:
                    started = await client.post("/api/chat/runs", json={"prompt": "go"}, headers=SLOW)
                    assert started.status_code == 202, started.text
                # Written one after the other with no await between, in either order by turns.
                sends = [lambda: poster.send("/api/chat", chat_body(), **SLOW), lambda: other.send(canceller)]
                for send in sends[::1 if round_ % 2 else -1]:
                    send()
                status, headers = await poster.head()
                assert status == 200, f"round {round_}: {status} {await poster.body(headers)!r}"
                run_id = headers["x-workflow-run-id"]
                answer = await other.json()
                landed_first = answer["stopped"] if stopping else answer["runsCancelled"] == 1 + int(busy)
                if not landed_first:  # the POST came second: its run is live; stop it now
                    found = (await client.get(f"/api/chat/runs/{run_id}")).json()
                    assert found["status"] == "running", f"round {round_}: a run started after {canceller}: {found}"
                    assert (await client.post(f"/api/chat/{CHAT_IDLE}/stop")).json()["stopped"] is True
                body = await poster.body(headers, f"round {round_}, after {canceller}")
                assert body.endswith(DONE), f"round {round_}: {body[-200:]!r}"
                assert chunks_of(body)[-1]["type"] != "finish", f"round {round_}: the run was not cut"
                # A stopped run says so; a reset forgets it with the rest of the world's runs.
                found = await client.get(f"/api/chat/runs/{run_id}")
                if stopping or not landed_first:
                    assert found.json() == {"runId": run_id, "status": "cancelled"}, f"round {round_}"
                else:
                    assert found.status_code == 404, f"round {round_}: {found.text}"
                assert (await client.get("/__mock/status")).json()["runsLive"] == 0, f"round {round_}"
            # The chat's slot is free: the next POST streams (a run left open made this a 409).
            final = await client.post("/api/chat", json=chat_body(), headers={"prefer": "scenario=default"})
            assert final.status_code == 200, final.text
    finally:
        poster.close()
        other.close()


@pytest.mark.parametrize(("canceller", "busy"), [(f"/api/chat/{CHAT_IDLE}/stop", False), ("/__mock/reset", False),
                                                 ("/__mock/reset", True)], ids=["stop", "reset", "reset-busy-world"])
def test_a_stop_or_reset_at_the_same_instant_as_a_post_closes_its_run(live: LiveServer, canceller: str,
                                                                       busy: bool) -> None:
    asyncio.run(_post_racing(live.base_url, canceller, busy=busy))
