"""The ceiling: a bare Starlette app doing the least the benchmarked routes need.

No spec, no validation, no state. It answers the three routes the bench measures the way the mock
does on the wire, so that the mock's rate can be read as a fraction of what Starlette + uvicorn
manage on this machine:

- ``POST /api/chat/runs`` -> 202 ``{runId, chatId, sessionId}`` with a ``Location`` header;
- ``GET /api/chat/{chatId}/stream`` -> 204;
- ``POST /api/chat`` -> the bytes of the mock's ``slow`` scenario as a UI message stream: all at once
  at ``--speed 0`` (one write, as every chunk is due at once), or paced like the mock at ``--speed 1``
  (chunks that are due together go in one write, due times are absolute so lateness does not add up).

The scenario's text and timing are read from ``fixtures/scenarios/slow.yaml`` at start-up and encoded
here, without importing ``mockserver``; the harness checks that the bytes match the mock's.

Run: ``python bench/bare_app.py --port 4020 [--speed 0]``; same uvicorn settings as ``recoup-mock serve``.
``--spin N`` makes each 204 first count to N in a Python loop: a known amount of extra work per request,
with which `bench/instructions.py` reads what a microsecond of work costs over the socket on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

SLOW_YAML = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / "slow.yaml"

#: The mock's response headers (CORS on every response, the stream headers of the AI SDK).
CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS, PATCH",
    "access-control-allow-headers": "Content-Type, Authorization, X-Requested-With, x-api-key, Prefer, "
                                    "x-mock-admin-token",
    "access-control-expose-headers": "x-workflow-run-id, x-workflow-stream-tail-index, Location, Retry-After",
}
STREAM_HEADERS = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "connection": "keep-alive",
    "x-vercel-ai-ui-message-stream": "v1",
    "x-accel-buffering": "no",
}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def frame(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"


def slow_script() -> tuple[list[bytes], list[float]]:
    """Frames 1.. of the ``slow`` scenario (frame 0, ``start``, carries a per-run id) and each frame's
    due time in seconds, both as the mock builds them (auto framing, structural chunks due together)."""
    doc = yaml.safe_load(SLOW_YAML.read_text(encoding="utf-8"))
    timing = doc.get("timing") or {}
    first_ms, gap_ms = float(timing.get("first_chunk_ms", 150)), float(timing.get("chunk_delay_ms", 30))
    words = re.findall(r"\s*\S+\s*", str(doc["steps"][0]["text"]))
    deltas = [first_ms / 1000 + i * gap_ms / 1000 for i in range(len(words))]
    chunks = [{"type": "start-step"}, {"type": "text-start", "id": "txt-0"},
              *({"type": "text-delta", "id": "txt-0", "delta": w} for w in words),
              {"type": "text-end", "id": "txt-0"}, {"type": "finish-step"}, {"type": "finish"}]
    due = [deltas[0], deltas[0], *deltas, deltas[-1], deltas[-1], deltas[-1]]
    return [frame(c) for c in chunks], due


FRAMES, DUE = slow_script()
DONE = b"data: [DONE]\n\n"


def run_id() -> str:
    value = uuid.uuid4().int
    return "wrun_" + "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in range(26))


def message_id() -> str:
    value = uuid.uuid4().int
    return "".join(_ALNUM[(value >> (6 * i)) % 62] for i in range(16))


async def start_run(request: Request) -> Response:
    json.loads(await request.body())
    rid = run_id()
    return JSONResponse({"runId": rid, "chatId": str(uuid.uuid4()), "sessionId": str(uuid.uuid4())},
                        status_code=202, headers={"location": f"/api/chat/runs/{rid}", **CORS})


def spin(n: int) -> int:
    """Pure interpreter work, no memory or syscalls: ``n`` turns of a loop."""
    total = 0
    for i in range(n):
        total += i
    return total


async def resume(request: Request) -> Response:
    return Response(status_code=204, headers=CORS)


def spinning_resume(n: int) -> Any:
    async def resume(request: Request) -> Response:
        spin(n)
        return Response(status_code=204, headers=CORS)

    return resume


def make_chat(speed: float) -> Any:
    groups: list[tuple[float, bytes]] = []  # (due, frames due then), in order
    for due, data in zip(DUE, FRAMES, strict=True):
        if groups and groups[-1][0] == due * speed:
            groups[-1] = (groups[-1][0], groups[-1][1] + data)
        else:
            groups.append((due * speed, data))
    body_unpaced = b"".join(FRAMES) + DONE

    async def paced(first: bytes) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        yield first
        for due, data in groups:
            wait = started + due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            yield data
        yield DONE

    async def unpaced(first: bytes) -> AsyncIterator[bytes]:
        yield first + body_unpaced

    async def chat(request: Request) -> Response:
        json.loads(await request.body())
        first = frame({"type": "start", "messageId": message_id()})
        body = paced(first) if speed > 0 else unpaced(first)
        return StreamingResponse(body, headers={**STREAM_HEADERS, "x-workflow-run-id": run_id(), **CORS})

    return chat


def create_app(speed: float = 0.0, spin_turns: int = 0) -> Starlette:
    return Starlette(routes=[
        Route("/api/chat/runs", start_run, methods=["POST"]),
        Route("/api/chat/{chatId}/stream", spinning_resume(spin_turns) if spin_turns else resume, methods=["GET"]),
        Route("/api/chat", make_chat(speed), methods=["POST"]),
    ])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4020)
    parser.add_argument("--speed", type=float, default=0.0, help="0: streams unpaced; 1: paced like the mock")
    parser.add_argument("--spin", type=int, default=0, metavar="N",
                        help="each 204 first counts to N in a Python loop (bench/instructions.py)")
    args = parser.parse_args()
    # The same settings as `recoup-mock serve` (mockserver/cli.py): auto loop and http (uvloop, httptools).
    uvicorn.run(create_app(args.speed, args.spin), host=args.host, port=args.port, access_log=False, log_level="info",
                timeout_graceful_shutdown=2, server_header=False)


if __name__ == "__main__":
    main()
