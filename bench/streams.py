"""Stream load client for the bench: a separate process, raw asyncio sockets, HTTP/1.1 keep-alive.

Two modes, both printing one JSON object on stdout:

``paced``   N concurrent ``POST /api/chat`` with ``Prefer: scenario=slow``, each on a fresh chat,
            all sent at the same moment on pre-opened connections. Every SSE event's arrival time is
            recorded. Lateness of chunk i = arrival_i - (stream start + the scenario's due time of chunk
            i), with the due times from ``mockserver.streams.engine.schedule`` and the stream start taken as the
            latest instant every chunk of the stream agrees with, min(arrival_i - due_i) (the first
            chunk's arrival when it is on time); TTFB = first response byte - request sent.
            Bounded by ``--timeout``: streams still open then count as incomplete.
``unpaced`` ``--concurrency`` connections each sending ``POST /api/chat`` one after another (fresh chat
            each time) until ``--streams`` streams are done or ``--duration`` has passed; reports data
            events (chunks, ``[DONE]`` included) per second and streams per second, measured here.
``runs``    the soak's "nothing lost" check: ``--n`` ``POST /api/chat/runs`` spread over ``--worlds`` worlds
            (``x-mock-world: w-0`` .. in turn) on ``--concurrency`` connections, keeping every run id a 202
            gave back (its ``Location``); then ``GET`` each of those (200 expected), and each world's journal
            (``GET /__mock/requests?method=POST&path=/api/chat/runs``), which should hold every one of the
            world's POSTs. Reports what is missing.

``--fresh-chats api`` creates the chats through the API first (``POST /api/sessions``, then
``POST /api/sandbox`` for the session and ``POST /api/sessions/{id}/chats`` for its other chats, sixteen chats
a session: see `CHATS_PER_SESSION`), before anything is timed; ``--fresh-chats random`` just makes up ids (for
the bare app, which keeps no state).

Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import resource
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "recoup_sk_test_alice"


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    sent: float = 0.0
    first_byte: float = 0.0
    finished: float = 0.0
    event_times: list[float] = field(default_factory=list)
    events: int = 0
    saw_done: bool = False
    complete: bool = False
    error: str = ""


class Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: one request at a time, the response parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.resp: Response | None = None
        self.waiter: asyncio.Future[Response] | None = None
        self.keep_body = False
        self.times = False
        self.state = "idle"
        self.remaining = 0
        self.sse = bytearray()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.resp is not None and self.waiter is not None and not self.waiter.done():
            if self.state == "close-body":
                self._finish(time.perf_counter())
            else:
                self.resp.error = f"connection lost ({exc or 'closed by server'}) in state {self.state}"
                self.waiter.set_result(self.resp)

    def send(self, request: bytes, *, keep_body: bool = False, times: bool = False) -> asyncio.Future[Response]:
        assert self.transport is not None and self.state == "idle"
        loop = asyncio.get_running_loop()
        self.resp = Response(sent=time.perf_counter())
        self.waiter = loop.create_future()
        self.keep_body, self.times = keep_body, times
        self.state = "head"
        self.sse.clear()
        if self.lost:
            self.resp.error = "connection already closed"
            self.waiter.set_result(self.resp)
        else:
            self.transport.write(request)
        return self.waiter

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        resp = self.resp
        if resp is None or self.state == "idle":
            return
        if not resp.first_byte:
            resp.first_byte = now
        self.buf += data
        if self.state == "head":
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            del self.buf[: end + 4]
            resp.status = int(lines[0].split(" ", 2)[1])
            for line in lines[1:]:
                name, _, value = line.partition(":")
                resp.headers[name.strip().lower()] = value.strip()
            if resp.status in (204, 304) or 100 <= resp.status < 200:
                self._finish(now)
                return
            if resp.headers.get("transfer-encoding", "").lower() == "chunked":
                self.state = "size"
            elif "content-length" in resp.headers:
                self.state, self.remaining = "length", int(resp.headers["content-length"])
                if self.remaining == 0:
                    self._finish(now)
                    return
            else:
                self.state = "close-body"
        self._parse_body(now)

    def _parse_body(self, now: float) -> None:
        buf = self.buf
        pos = 0
        while self.state not in ("idle", "head"):
            if self.state == "size":
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                self.remaining = int(bytes(buf[pos:eol]).split(b";")[0], 16)
                pos = eol + 2
                self.state = "data" if self.remaining else "trailer"
            elif self.state in ("data", "length"):
                take = min(self.remaining, len(buf) - pos)
                if take <= 0:
                    break
                self._body(buf[pos : pos + take], now)
                pos += take
                self.remaining -= take
                if not self.remaining:
                    if self.state == "length":
                        self._finish(now)
                        break
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(buf) - pos < 2:
                    break
                pos += 2
                self.state = "size"
            elif self.state == "trailer":
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    break
                empty = eol == pos
                pos = eol + 2
                if empty:
                    self._finish(now)
                    break
            else:  # close-body: everything until the server closes
                self._body(buf[pos:], now)
                pos = len(buf)
                break
        del buf[:pos]

    def _body(self, piece: bytearray, now: float) -> None:
        resp = self.resp
        assert resp is not None
        if self.keep_body:
            resp.body += piece
        sse = self.sse
        start = len(sse)
        sse += piece
        scan = max(0, start - 1)
        cut = 0
        while (i := sse.find(b"\n\n", scan)) >= 0:
            if sse.startswith(b"data:", cut):
                resp.events += 1
                if self.times:
                    resp.event_times.append(now)
                if sse[cut:i] == b"data: [DONE]":
                    resp.saw_done = True
            cut = scan = i + 2
        if cut:
            del sse[:cut]

    def _finish(self, now: float) -> None:
        resp = self.resp
        assert resp is not None and self.waiter is not None
        resp.finished = now
        resp.complete = True
        self.state = "idle"
        if not self.waiter.done():
            self.waiter.set_result(resp)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def request(method: str, path: str, port: int, body: Any = None, extra: dict[str, str] | None = None) -> bytes:
    data = json.dumps(body, separators=(",", ":")).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"host: 127.0.0.1:{port}", f"x-api-key: {API_KEY}"]
    if body is not None:
        head += ["content-type: application/json", f"content-length: {len(data)}"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


async def connect(host: str, port: int, count: int, batch: int = 200) -> list[Http]:
    loop = asyncio.get_running_loop()
    conns: list[Http] = []
    for first in range(0, count, batch):
        made = await asyncio.gather(*(loop.create_connection(Http, host, port)
                                      for _ in range(min(batch, count - first))))
        conns += [proto for _, proto in made]
    return conns


#: Fresh chats made per session (and so per sandbox) by ``--fresh-chats api``. At ``--speed 0`` the mock skips
#: POST /api/sandbox's provisioning wait but its world clock still moves by it (300 ms), so one sandbox per
#: chat would age the first sandboxes past their idle deadline (5 minutes of that clock) after ~1,000 chats:
#: their chats answer 400 "Sandbox not initialized". Sixteen chats a session keep every sandbox fresh up to
#: ~16,000 chats (bench/profile.py's unpaced load makes 500 a second of load).
CHATS_PER_SESSION = 16


async def fresh_chats(host: str, port: int, count: int, mode: str, concurrency: int = 32,
                      per_session: int = CHATS_PER_SESSION) -> list[tuple[str, str]]:
    """(sessionId, chatId) pairs: made through the API (``api``: ``POST /api/sessions``, ``POST /api/sandbox``,
    then ``POST /api/sessions/{id}/chats`` for the session's other chats, ``per_session`` chats a session, none
    with a message) or made up (``random``)."""
    if mode == "random":
        return [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(count)]
    conns = await connect(host, port, min(concurrency, count))
    out: list[tuple[str, str]] = []
    todo = iter(range(0, count, per_session))

    async def worker(conn: Http) -> None:
        for first in todo:
            made = await conn.send(request("POST", "/api/sessions", port, {"title": "bench"}), keep_body=True)
            if made.status != 200:
                raise RuntimeError(f"POST /api/sessions answered {made.status}: {bytes(made.body)[:300]!r}")
            doc = json.loads(made.body)
            sid, cid = doc["session"]["id"], doc["chat"]["id"]
            box = await conn.send(request("POST", "/api/sandbox", port,
                                          {"repoUrl": "https://github.com/recoupable/bench", "sessionId": sid}),
                                  keep_body=True)
            if box.status != 200:
                raise RuntimeError(f"POST /api/sandbox answered {box.status}: {bytes(box.body)[:300]!r}")
            out.append((sid, cid))
            for _ in range(min(per_session, count - first) - 1):
                more = await conn.send(request("POST", f"/api/sessions/{sid}/chats", port, {}), keep_body=True)
                if more.status != 200:
                    raise RuntimeError(f"POST /api/sessions/{sid}/chats answered {more.status}: "
                                       f"{bytes(more.body)[:300]!r}")
                out.append((sid, json.loads(more.body)["chat"]["id"]))

    try:
        await asyncio.gather(*(worker(c) for c in conns))
    finally:
        for c in conns:
            c.close()
    return out


def chat_request(port: int, session_id: str, chat_id: str, scenario: str) -> bytes:
    body = {"chatId": chat_id, "sessionId": session_id,
            "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Count to forty-eight"}]}]}
    return request("POST", "/api/chat", port, body, {"prefer": f"scenario={scenario}"})


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def due_times(scenario: str, speed: float) -> list[float]:
    sys.path.insert(0, str(ROOT))
    from mockserver.streams.engine import schedule
    from mockserver.streams.scenarios import load_scenarios

    loaded = load_scenarios(ROOT / "fixtures" / "scenarios")[scenario]
    return schedule(loaded, random.Random(0), speed)


async def paced(args: argparse.Namespace) -> dict[str, Any]:
    due = due_times(args.scenario, args.speed)
    expected = len(due) + 1  # every chunk, then [DONE]
    chats = await fresh_chats(args.host, args.port, args.n, args.fresh_chats)
    conns = await connect(args.host, args.port, args.n)
    requests = [chat_request(args.port, sid, cid, args.scenario) for sid, cid in chats]
    await asyncio.sleep(0.2)  # let the server settle after the setup burst
    started = time.perf_counter()
    futures = [c.send(r, times=True) for c, r in zip(conns, requests, strict=True)]
    done, pending = await asyncio.wait(futures, timeout=args.timeout)
    wall = time.perf_counter() - started
    for c in conns:
        c.close()
    results = [f.result() for f in done]
    lateness: list[float] = []  # anchored at the earliest stream start every chunk agrees with
    lateness_from_first: list[float] = []  # anchored at the first chunk's arrival
    lateness_from_send: list[float] = []  # anchored at the request's sending
    ttfb: list[float] = []
    completed = 0
    errors: dict[str, int] = {}
    for r in results:
        if r.first_byte:
            ttfb.append(r.first_byte - r.sent)
        ok = r.complete and r.status == 200 and r.saw_done and r.events == expected
        if not ok:
            key = r.error or f"status {r.status}, {r.events}/{expected} events, done={r.saw_done}"
            errors[key[:120]] = errors.get(key[:120], 0) + 1
        completed += ok
        if r.event_times:
            times = r.event_times[: len(due)]
            # The server cannot send chunk i before (run start + due_i), so the run started at or before
            # min(arrival_i - due_i): the latest start every chunk agrees with. Anchoring there, no chunk is
            # early, and a first chunk held back (sent together with later ones) does not flatter the rest.
            anchor = min(at - due[i] for i, at in enumerate(times))
            for i, at in enumerate(times):
                lateness.append(at - (anchor + due[i]))
                if i:
                    lateness_from_first.append(at - (times[0] + due[i]))
                    lateness_from_send.append(at - (r.sent + due[i]))
    if pending:
        errors[f"not finished within {args.timeout} s"] = len(pending)
    ms = 1000.0
    return {
        "mode": "paced", "n": args.n, "scenario": args.scenario, "events_per_stream": expected,
        "completed": completed, "incomplete": args.n - completed, "errors": errors,
        "wall_s": wall, "schedule_s": due[-1] if due else 0.0,
        "lateness_ms": {"p50": _scale(pct(lateness, 50), ms), "p99": _scale(pct(lateness, 99), ms),
                        "max": _scale(max(lateness, default=None), ms), "samples": len(lateness)},
        "lateness_from_first_chunk_ms": {"p50": _scale(pct(lateness_from_first, 50), ms),
                                         "p99": _scale(pct(lateness_from_first, 99), ms),
                                         "min": _scale(min(lateness_from_first, default=None), ms)},
        # Chunks more than 5 ms "early" against the first chunk: the first chunk was held back and came
        # together with later ones (the reason the headline anchors elsewhere).
        "first_chunk_held_share": (sum(1 for x in lateness_from_first if x < -0.005) / len(lateness_from_first)
                                   if lateness_from_first else None),
        "lateness_from_send_ms": {"p50": _scale(pct(lateness_from_send, 50), ms),
                                  "p99": _scale(pct(lateness_from_send, 99), ms)},
        "ttfb_ms": {"p50": _scale(pct(ttfb, 50), ms), "p99": _scale(pct(ttfb, 99), ms),
                    "max": _scale(max(ttfb, default=None), ms)},
    }


def _scale(value: float | None, factor: float) -> float | None:
    return None if value is None else value * factor


async def unpaced(args: argparse.Namespace) -> dict[str, Any]:
    chats = await fresh_chats(args.host, args.port, args.streams, args.fresh_chats)
    conns = await connect(args.host, args.port, args.concurrency)
    todo: Iterator[tuple[str, str]] = iter(chats)
    reqs = {id(c): 0 for c in conns}
    bodies: list[bytes] = []
    totals = {"streams": 0, "events": 0, "bytes": 0, "failed": 0}
    errors: dict[str, int] = {}
    first_ttfb: list[float] = []
    await asyncio.sleep(0.2)
    if args.announce:
        print("timed part starts", file=sys.stderr, flush=True)
    started = time.perf_counter()
    deadline = started + args.duration
    last = started

    async def worker(conn: Http) -> None:
        nonlocal last
        for sid, cid in todo:
            if time.perf_counter() >= deadline:
                return
            r = await conn.send(chat_request(args.port, sid, cid, args.scenario), keep_body=not bodies)
            reqs[id(conn)] += 1
            if r.complete and r.status == 200 and r.saw_done:
                totals["streams"] += 1
                totals["events"] += r.events
                if not bodies:
                    bodies.append(bytes(r.body))
                first_ttfb.append(r.first_byte - r.sent)
                last = max(last, r.finished)
            else:
                totals["failed"] += 1
                key = (r.error or f"status {r.status}")[:120]
                errors[key] = errors.get(key, 0) + 1
                return

    try:
        await asyncio.wait_for(asyncio.gather(*(worker(c) for c in conns)), args.duration + 30)
    finally:
        for c in conns:
            c.close()
    elapsed = max(last - started, 1e-9)
    return {
        "mode": "unpaced", "scenario": args.scenario, "concurrency": args.concurrency,
        "streams": totals["streams"], "failed": totals["failed"], "errors": errors,
        "events": totals["events"], "elapsed_s": elapsed,
        "chunks_per_s": totals["events"] / elapsed, "streams_per_s": totals["streams"] / elapsed,
        "ttfb_ms": {"p50": _scale(pct(first_ttfb, 50), 1000.0), "p99": _scale(pct(first_ttfb, 99), 1000.0)},
        "sample_body": bodies[0].decode("utf-8", "replace") if bodies else "",
        "exhausted_chats": totals["streams"] + totals["failed"] >= len(chats),
    }


async def runs(args: argparse.Namespace) -> dict[str, Any]:
    """Start ``--n`` runs over ``--worlds`` worlds, then ask the API and the journal for every one of them."""
    worlds = [f"w-{k}" for k in range(args.worlds)]
    conns = await connect(args.host, args.port, min(args.concurrency, args.n))
    deadline = time.perf_counter() + args.timeout
    started: list[tuple[str, str]] = []  # (world, Location) of every 202
    start_status: dict[str, int] = {}
    lookup_status: dict[str, int] = {}
    missing: list[dict[str, Any]] = []
    sent = dict.fromkeys(worlds, 0)

    def count(table: dict[str, int], status: int) -> None:
        table[str(status)] = table.get(str(status), 0) + 1

    async def each(items: Iterator[Any], work: Any) -> None:
        async def worker(conn: Http) -> None:
            for item in items:
                if time.perf_counter() >= deadline:
                    raise TimeoutError(f"the runs check did not finish within {args.timeout:g} s")
                await work(conn, item)

        await asyncio.gather(*(worker(c) for c in conns))

    async def start(conn: Http, i: int) -> None:
        world = worlds[i % len(worlds)]
        sent[world] += 1
        r = await conn.send(request("POST", "/api/chat/runs", args.port, {"prompt": "hi"}, {"x-mock-world": world}),
                            keep_body=True)
        count(start_status, r.status)
        if r.status == 202:
            location = r.headers.get("location") or f"/api/chat/runs/{json.loads(r.body)['runId']}"
            started.append((world, location))

    async def look(conn: Http, item: tuple[str, str]) -> None:
        world, location = item
        r = await conn.send(request("GET", location, args.port, extra={"x-mock-world": world}), keep_body=True)
        count(lookup_status, r.status)
        if r.status != 200 and len(missing) < 20:
            missing.append({"world": world, "location": location, "status": r.status,
                            "body": bytes(r.body)[:300].decode("utf-8", "replace")})

    journal_short: dict[str, dict[str, int]] = {}

    async def journal(conn: Http, world: str) -> None:
        r = await conn.send(request("GET", "/__mock/requests?method=POST&path=/api/chat/runs&limit=10000", args.port,
                                    extra={"x-mock-world": world}), keep_body=True)
        held = len(json.loads(r.body)["requests"]) if r.status == 200 else -1
        if held != sent[world]:
            journal_short[world] = {"sent": sent[world], "held": held, "status": r.status}

    try:
        t0 = time.perf_counter()
        await each(iter(range(args.n)), start)
        start_s = time.perf_counter() - t0
        await each(iter(list(started)), look)
        await each(iter(worlds), journal)
    finally:
        for c in conns:
            c.close()
    found = lookup_status.get("200", 0)
    return {
        "mode": "runs", "n": args.n, "worlds": args.worlds, "concurrency": len(conns), "start_s": start_s,
        "start_status": start_status, "accepted": len(started), "lookup_status": lookup_status, "found": found,
        "lost": len(started) - found, "missing_examples": missing,
        "journal_worlds_short": len(journal_short), "journal_short_examples": dict(list(journal_short.items())[:10]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["paced", "unpaced", "runs"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--scenario", default="slow")
    parser.add_argument("--fresh-chats", choices=["api", "random"], default="api")
    parser.add_argument("--n", type=int, default=100, help="paced: concurrent streams; runs: runs to start")
    parser.add_argument("--worlds", type=int, default=256, help="runs: worlds (w-0 ..) the runs go to in turn")
    parser.add_argument("--speed", type=float, default=1.0, help="paced: the server's --speed (scales the schedule)")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="paced: seconds before open streams count as failed; runs: seconds for the whole "
                             "check")
    parser.add_argument("--streams", type=int, default=3000, help="unpaced: fresh chats to stream at most")
    parser.add_argument("--concurrency", type=int, default=32, help="unpaced, runs: connections")
    parser.add_argument("--duration", type=float, default=8.0, help="unpaced: seconds at most")
    parser.add_argument("--announce", action="store_true", help="say on stderr when the timed part starts")
    parser.add_argument("--cpu", type=int, default=None, help="pin this client to one CPU")
    args = parser.parse_args(argv)
    if not ipaddress.ip_address(args.host).is_loopback:
        parser.error("load tests run against loopback addresses only")
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {args.cpu})
    limit = raise_fd_limit()
    if args.mode == "paced" and args.n + 64 > limit:
        parser.error(f"{args.n} streams need more file descriptors than the limit of {limit}")
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    modes = {"paced": paced, "unpaced": unpaced, "runs": runs}
    result = runner(modes[args.mode](args))
    result["fd_limit"] = limit
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
