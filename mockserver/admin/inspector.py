"""The web inspector: a page at ``GET /__mock/`` and the admin calls behind it (in ``openapi/admin.yaml``).

The page (``mockserver/inspector_page/``: plain HTML, JS and CSS shipped in the package; no CDN, no
build) shows the journal, the live runs and their chunks as they are produced, the scenarios, and
the last refused reload. It is pushed what happens over ``GET /__mock/events`` (SSE), and reads the
details it opens from the calls below. The page itself needs no token; every call it makes sends
the admin token when the server has one.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse

from ..auth import mask
from ..errors import ApiError
from ..pipeline import Call
from ..state.events import BYE
from ..state.journal import unpack_headers
from ..streams import sse
from ..streams.engine import Run

#: The page's files, by the name the page asks for, with their content types.
FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "style.css": "text/css; charset=utf-8"}
#: Seconds of quiet on the event stream before a comment keeps proxies from closing it.
EVENTS_KEEPALIVE = 15.0
SECRET_HEADERS = {b"x-api-key", b"authorization", b"x-mock-admin-token"}


@functools.cache
def _page_bytes(name: str) -> bytes:
    """A file of the page, read from the package once (package data does not change while we run)."""
    return resources.files(__package__).joinpath("inspector_page", name).read_bytes()


def _page_file(name: str) -> Response:
    if name not in FILES:
        raise ApiError(404, f"No inspector file {name!r}; the inspector has {', '.join(sorted(FILES))}")
    return Response(_page_bytes(name), media_type=FILES[name], headers={"cache-control": "no-cache"})


async def page(call: Call) -> Response:
    return _page_file("index.html")


async def page_file(call: Call) -> Response:
    return _page_file(call.request.path_params["file"])


async def events(call: Call) -> Response:
    """Every event from now on, as SSE: ``data: {"type": "request" | "run" | "chunk" | "reset" | "reload", ...}``,
    until the client goes away or the server shuts down (a last ``{"type": "bye"}``)."""
    bus = call.state.bus

    async def stream() -> AsyncIterator[bytes]:
        async with bus.watch() as queue:
            yield b": watching\n\n"
            while True:
                try:
                    async with asyncio.timeout(EVENTS_KEEPALIVE):
                        event = await queue.get()
                except TimeoutError:
                    yield sse.KEEPALIVE_FRAME
                    continue
                yield b"data: " + sse.encode_json(event).encode() + b"\n\n"
                if event is BYE:
                    return  # the server is shutting down: end, so that it need not wait for us

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


def _headers(packed: bytes) -> list[list[str]]:
    """Header pairs for people: credentials masked, everything else as sent."""
    return [[name.decode("latin-1"), mask(value.decode("latin-1")) if name.lower() in SECRET_HEADERS
             else value.decode("latin-1")] for name, value in unpack_headers(packed)]


def _body(raw: bytes) -> Any:
    """A request body as the page shows it: JSON when it is JSON, else text (as much as the journal keeps)."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def run_view(run: Run) -> dict[str, Any]:
    return {**run.summary(), "chunkLog": run.timed_chunks()}


async def request_detail(call: Call) -> Response:
    seq = int(call.request.path_params["seq"])
    entry = next((e for e in call.world.journal.entries if e.seq == seq), None)
    if entry is None:
        raise ApiError(404, f"No request {seq} in the journal of world {call.world.name!r} "
                            f"(it keeps the last {call.world.journal.entries.maxlen})")
    run = call.world.runs.get(entry.run_id)
    return JSONResponse({
        **entry.to_json(),
        "request": {"headers": _headers(entry.request_headers), "body": _body(entry.request_body)},
        "response": {"status": entry.status, "headers": _headers(entry.response_headers)},
        "run": run_view(run) if run is not None else None,
    })


async def list_runs(call: Call) -> Response:
    return JSONResponse({"runs": [run.summary() for run in call.world.runs.runs.values()]})


async def get_run(call: Call) -> Response:
    run = call.world.runs.get(call.request.path_params["runId"])
    if run is None:
        raise ApiError(404, f"No run {call.request.path_params['runId']!r} in world {call.world.name!r}")
    return JSONResponse(run_view(run))


async def stop_run(call: Call) -> Response:
    """Cancel a live run, as the chat's stop would (without needing the account's key)."""
    run = call.world.runs.get(call.request.path_params["runId"])
    if run is None:
        raise ApiError(404, f"No run {call.request.path_params['runId']!r} in world {call.world.name!r}")
    return JSONResponse({"runId": run.id, "stopped": await call.world.runs.cancel(run)})
