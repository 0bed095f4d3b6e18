"""Load client of the bench's ``proxy`` section: what ``recoup-mock proxy`` adds to a direct connection.

A separate process (pinned by ``bench/run.py`` to the client CPU), loopback only, one JSON object on stdout.

``latency``  Against a mock (``--direct``) and a proxy in front of it (``--proxy``):

             - first byte: ``POST /legacy/api/chat`` (``slow``: its ``start`` chunk goes out at once), direct and
               proxied in turn, ``--ttfb`` of each; the time from sending the request to the first body byte;
             - per chunk: ``--streams`` headless runs of ``slow`` at a time (``POST /api/chat/runs``), each read
               by two resumes that start together, one direct and one through the proxy. The mock writes each
               chunk to both readers at the same instant, so a chunk's proxied arrival minus its direct arrival
               is what the proxy adds to it. Chunks already written when a reader connected (its first read) are
               left out. ``--rounds`` rounds.

``replay``   Against a mock serving a recording (``--url``, ``--file`` the recording): ``--rounds`` replays at
             ``--speed 1``, each chunk's arrival time, and each gap between chunks set against the recorded one.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from mockserver.streams.sse import EventDecoder

API_KEY = "recoup_sk_test_alice"
H = {"x-api-key": API_KEY}
IDLE_CHAT = "c4a70000-0000-4000-8000-000000000001"
SESSION = "5e551011-0000-4000-8000-000000000001"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": pct(values, 50), "p99": pct(values, 99), "max": max(values, default=None)}


async def first_byte(client: httpx.AsyncClient, base: str) -> float:
    sent = time.perf_counter()
    headers = {**H, "prefer": "scenario=slow"}
    async with client.stream("POST", base + "/legacy/api/chat", json={"prompt": "hi"}, headers=headers) as answer:
        async for _ in answer.aiter_raw():
            return (time.perf_counter() - sent) * 1000
    raise RuntimeError(f"{base}: an empty answer")


async def read_timed(client: httpx.AsyncClient, url: str, chat: str) -> list[tuple[float, int]]:
    """(arrival, number of the read) of each data event of a resume, as it arrives."""
    decoder, seen, reads = EventDecoder(), [], 0
    async with client.stream("GET", f"{url}/api/chat/{chat}/stream", headers=H) as answer:
        if answer.status_code != 200:
            raise RuntimeError(f"{url}: resume answered {answer.status_code}")
        async for piece in answer.aiter_raw():
            at = time.perf_counter()
            reads += 1
            seen += [(at, reads) for event in decoder.feed(piece) if event.data is not None]
    return seen


async def paired(client: httpx.AsyncClient, direct: str, proxy: str) -> list[float]:
    """Milliseconds the proxy added to each live chunk of one headless run read both ways at once."""
    started = await client.post(direct + "/api/chat/runs", json={"prompt": "bench"},
                                headers={**H, "prefer": "scenario=slow"})
    chat = started.json()["chatId"]
    a, b = await asyncio.gather(read_timed(client, direct, chat), read_timed(client, proxy, chat))
    if len(a) != len(b):
        raise RuntimeError(f"direct read {len(a)} events, proxied {len(b)}")
    return [(tb - ta) * 1000 for (ta, ra), (tb, rb) in zip(a, b, strict=True) if ra > 1 and rb > 1]


async def latency(args: argparse.Namespace) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=4 * args.streams + 8, max_keepalive_connections=4 * args.streams + 8)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for base in (args.direct, args.proxy):  # warm both paths (connections, code)
            for _ in range(5):
                await first_byte(client, base)
        ttfb: dict[str, list[float]] = {"direct": [], "proxied": []}
        for i in range(args.ttfb):
            order = [("direct", args.direct), ("proxied", args.proxy)]
            for name, base in order if i % 2 == 0 else order[::-1]:
                ttfb[name].append(await first_byte(client, base))
        added: list[float] = []
        for _ in range(args.rounds):
            for pairs in await asyncio.gather(*(paired(client, args.direct, args.proxy)
                                                for _ in range(args.streams))):
                added += pairs
    out: dict[str, Any] = {"ttfb_ms": {k: summary(v) for k, v in ttfb.items()}, "chunk_added_ms": summary(added)}
    direct, proxied = out["ttfb_ms"]["direct"], out["ttfb_ms"]["proxied"]
    out["ttfb_added_ms"] = {q: proxied[q] - direct[q] for q in ("p50", "p99")}
    out["settings"] = {"ttfb": args.ttfb, "streams": args.streams, "rounds": args.rounds}
    return out


async def replay(args: argparse.Namespace, doc: dict[str, Any]) -> dict[str, Any]:
    wanted = [step["delay_ms"] for step in doc["steps"] if "chunk" in step]
    errors: list[float] = []
    firsts: list[float] = []
    body = {"chatId": IDLE_CHAT, "sessionId": SESSION,
            "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]}
    async with httpx.AsyncClient(timeout=30) as client:
        for round_no in range(args.rounds + 1):  # round 0 warms the mock up and is not counted
            decoder, arrivals = EventDecoder(), []
            sent = time.perf_counter()
            async with client.stream("POST", args.url + "/api/chat", json=body,
                                     headers={**H, "prefer": f"scenario={doc['name']}"}) as answer:
                async for piece in answer.aiter_raw():
                    at = time.perf_counter()
                    arrivals += [at for e in decoder.feed(piece) if e.data not in (None, "[DONE]")]
            if len(arrivals) != len(wanted):
                raise RuntimeError(f"replayed {len(arrivals)} chunks, recorded {len(wanted)}")
            if round_no == 0:
                continue
            firsts.append((arrivals[0] - sent) * 1000)
            gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
            errors += [abs(gap - want) / want for gap, want in zip(gaps, wanted[1:], strict=True) if want > 20]
    return {"scenario": doc["name"], "gaps_over_20ms": len(errors) // max(args.rounds, 1), "rounds": args.rounds,
            "share_within_10pct": sum(e <= 0.1 for e in errors) / len(errors) if errors else None,
            "relative_error": summary(errors), "recorded_first_byte_ms": wanted[0],
            "replayed_first_byte_ms": summary(firsts)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("latency", "replay"))
    parser.add_argument("--direct", help="latency: the mock")
    parser.add_argument("--proxy", help="latency: the proxy in front of it")
    parser.add_argument("--ttfb", type=int, default=200, help="latency: first-byte requests each way")
    parser.add_argument("--streams", type=int, default=10, help="latency: paired runs at a time")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="replay: the mock serving the recording")
    parser.add_argument("--file", help="replay: the recording")
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    args = parser.parse_args()
    for url in (args.direct, args.proxy, args.url):
        if url is not None and not url.startswith(("http://127.0.0.1:", "http://localhost:")):
            parser.error(f"{url}: loopback only")
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.mode == "latency":
        result = asyncio.run(latency(args))
    else:
        result = asyncio.run(replay(args, yaml.safe_load(Path(args.file).read_text())))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
