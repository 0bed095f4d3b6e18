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

from starlette.responses import Response, StreamingResponse

from ..auth import mask
from ..errors import ApiError
from ..pipeline import Call
from ..responses import JsonAnswer
from ..state.events import BYE
from ..state.journal import PackedHeaders, unpack_headers
from ..state.store import iso, ulid_ms
from ..state.worlds import World
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


def _headers(packed: PackedHeaders) -> list[list[str]]:
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
        journal = call.world.journal
        why = (f"; the memory budget evicted the oldest {journal.evicted} of its entries, up to request "
               f"{journal.evicted_seq} ({journal.budget.describe() if journal.budget else 'the budget'})"
               if 0 < seq <= journal.evicted_seq else "")
        raise ApiError(404, f"No request {seq} in the journal of world {call.world.name!r} "
                            f"(it keeps the last {journal.entries.maxlen}){why}")
    run = call.world.runs.get(entry.run_id)
    return JsonAnswer({
        **entry.to_json(),
        "request": {"headers": _headers(entry.request_headers), "body": _body(entry.request_body)},
        "response": {"status": entry.status, "headers": _headers(entry.response_headers)},
        "run": run_view(run) if run is not None else None,
    })


async def list_runs(call: Call) -> Response:
    return JsonAnswer({"runs": [run.summary() for run in call.world.runs.runs.values()]})


async def get_run(call: Call) -> Response:
    run = call.world.runs.get(call.request.path_params["runId"])
    if run is None:
        raise no_run(call.world, call.request.path_params["runId"])
    return JsonAnswer(run_view(run))


def no_run(world: World, run_id: str, hint: str = "") -> ApiError:
    """The 404 of an admin route for a run the world does not keep: one the memory budget evicted says so."""
    evicted = world.runs.evicted_message(run_id)
    return ApiError(404, f"No run {run_id!r} in world {world.name!r}" + (f"; {evicted}" if evicted else hint))


async def run_scenario(call: Call) -> Response:
    """The run as it was served, as a scenario file (``application/yaml``, to save in ``fixtures/scenarios/``).

    Each chunk of the run's log is a ``chunk:`` step whose ``delay_ms`` is the gap the run measured
    before it (the first one's from the run's start); the transport faults the live connection got
    (``raw``, ``disconnect``) are steps where they came, with no delay of their own (a run keeps no time
    for them). A pinned run was never served and a live one has not ended: both are a 409.
    """
    world = call.world
    run = world.runs.get(call.request.path_params["runId"])
    if run is None:
        raise no_run(world, call.request.path_params["runId"], "; GET /__mock/runs lists the runs it keeps")
    source = run.scenario
    if run.pinned:
        raise ApiError(409, f"Run {run.id} is the pinned run of chat {run.chat_id} in world.yaml: it was never "
                            f"served, it holds scenario {source.name!r} as written ({source.file})")
    if not run.closed:
        raise ApiError(409, f"Run {run.id} is still running ({len(run.chunks)} chunks so far): its scenario is "
                            f"written when it ends (POST /__mock/runs/{run.id}/stop ends it now)")
    # The recorder's writer is the proxy's: imported here, so that serving loads no part of the proxy.
    from ..proxy.recorder import count_chunks, scenario_text, stream_body, timed_steps

    steps = timed_steps(_served_steps(run), run.started_at, None, done=True)
    name = _served_name(source.name, run.id)
    when = iso(ulid_ms(run.id))
    span = (run.times[-1] - run.started_at) if run.times else 0.0
    speed = world.settings.speed
    origin = (f"Served by recoup-mock in world {world.name!r}, chat {run.chat_id}"
              f"{' (headless)' if run.headless else ''}, run {run.id}, from scenario {source.name!r}, "
              f"at {when} (the world's clock), --speed {speed:g}")
    summary = f"{count_chunks(steps)} chunks in {span:.2f} s, {run.status}"
    header = [f"{origin}: {summary}.",
              "Saved by GET /__mock/runs/{runId}/scenario. Each delay_ms is the gap the run measured before its "
              "chunk" + (", at that speed" if speed not in (0, 1) else "") + "; raw and disconnect steps are "
              "what the connection that started the run got.",
              "Save it as fixtures/scenarios/" + name + ".yaml; `recoup-mock validate` checks it."]
    body = {**stream_body(steps, source.timing.write_sizes), "outcome": run.status}
    try:
        text = scenario_text(name, f"{origin}: {summary}.", body, header, call.state.catalog.specs.of_documented()
                             .chunk_schemas(), where=f"run {run.id}", clients=source.clients)
    except ValueError as exc:
        raise ApiError(409, f"Run {run.id} cannot be written as a scenario: {exc}") from exc
    return Response(text, media_type="application/yaml",
                    headers={"content-disposition": f'attachment; filename="{name}.yaml"',
                             "cache-control": "no-store"})


def _served_steps(run: Run) -> list[tuple[float, dict[str, Any]]]:
    """``(time, step)`` of every chunk of the run's log and every transport item filed before one (at the
    time of the chunk before it: that is when it was due at the latest)."""
    steps: list[tuple[float, dict[str, Any]]] = []
    for index in range(len(run.chunks) + 1):
        before = run.times[index - 1] if index else run.started_at
        for item in run.live_items.get(index, ()):
            steps.append((before, {"disconnect": True} if item.kind == "disconnect" else
                          {"raw": item.raw.decode("utf-8", errors="replace")}))
        if index < len(run.chunks):
            steps.append((run.times[index], {"chunk": dict(run.chunks[index])}))
    return steps


def _served_name(scenario: str, run_id: str) -> str:
    """``served-<scenario>-<run's ULID>``, lowercase, within a scenario name's 64 characters."""
    tail = run_id.removeprefix("wrun_").lower()
    return f"served-{scenario[:64 - len(tail) - 8]}".rstrip("-") + f"-{tail}"


async def stop_run(call: Call) -> Response:
    """Cancel a live run, as the chat's stop would (without needing the account's key)."""
    run = call.world.runs.get(call.request.path_params["runId"])
    if run is None:
        raise no_run(call.world, call.request.path_params["runId"])
    return JsonAnswer({"runId": run.id, "stopped": await call.world.runs.cancel(run)})
