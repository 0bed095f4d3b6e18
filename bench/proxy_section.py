"""The bench's ``proxy`` section (``bench/run.py --only proxy``): what ``recoup-mock proxy`` adds, and how a
recording replays.

1. A mock (``serve --speed 1``) and ``recoup-mock proxy --record DIR`` in front of it, both pinned to the
   server CPU; ``bench/proxy_latency.py latency`` on the client CPU measures the first byte direct and
   proxied, and each chunk of runs read both ways at once (see that file). Targets: added p99 <= 20 ms.
2. One ``slow`` turn through the proxy is recorded; a fresh mock serves DIR at ``--speed 1`` and
   ``bench/proxy_latency.py replay`` streams the recording: each gap above 20 ms against the recorded one.
   Target: every such gap within 10 %.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

IDLE_CHAT = "c4a70000-0000-4000-8000-000000000001"
SESSION = "5e551011-0000-4000-8000-000000000001"
#: (metric key, label, comparison, target), as in run.py's TARGETS.
TARGETS: list[tuple[str, str, str, float]] = [
    ("proxy_ttfb_added_p99_ms", "proxy: added first-byte latency p99 (ms)", "<=", 20.0),
    ("proxy_chunk_added_p99_ms", "proxy: added per-chunk latency p99 (ms)", "<=", 20.0),
    ("replay_gaps_within_10pct", "recorded `slow` replayed at speed 1: share of gaps > 20 ms within 10%", ">=", 1.0),
]


def bench_root() -> Path:
    return Path(__file__).resolve().parent.parent


def figures(r: dict[str, Any]) -> dict[str, float | None]:
    p = r.get("proxy") or {}
    latency, replay = p.get("latency") or {}, p.get("replay") or {}
    return {"proxy_ttfb_added_p99_ms": (latency.get("ttfb_added_ms") or {}).get("p99"),
            "proxy_chunk_added_p99_ms": (latency.get("chunk_added_ms") or {}).get("p99"),
            "replay_gaps_within_10pct": replay.get("share_within_10pct")}


def run(bench: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """The section's measurements; ``bench`` is run.py's `Bench` (servers, pinning, the client runner)."""
    directory = bench.tmp / "proxy-recordings"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=bench_root(), capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "mockserver"], cwd=bench_root(), capture_output=True,
                           text=True).stdout.strip()
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "commit": commit.stdout.strip() + (" + uncommitted changes" if dirty else "")}
    with bench.serving("mock", speed=1.0) as upstream, bench.serving(
            "proxy", extra=["--target", f"http://127.0.0.1:{upstream.port}", "--record", str(directory)]) as proxy:
        a = bench.args
        out["latency"] = bench.client_json(
            ["proxy_latency.py", "latency", "--direct", f"http://127.0.0.1:{upstream.port}",
             "--proxy", f"http://127.0.0.1:{proxy.port}", "--ttfb", str(a.proxy_ttfb),
             "--streams", str(a.proxy_streams), "--rounds", str(a.proxy_rounds)], timeout=600)
        lat = out["latency"]
        log(f"  proxy: first byte +{lat['ttfb_added_ms']['p50']:.2f} / +{lat['ttfb_added_ms']['p99']:.2f} ms "
                  f"(p50 / p99), each chunk +{lat['chunk_added_ms']['p50']:.2f} / +{lat['chunk_added_ms']['p99']:.2f}"
                  f" ms over {lat['chunk_added_ms']['n']} chunks")
        name = _record_slow(proxy.port)
        out["proxy_peak_rss_mb"] = proxy.status().get("VmHWM", 0) / 1024
    with bench.serving("mock", speed=1.0, extra=["--fixtures", str(directory)]) as replaying:
        out["replay"] = bench.client_json(
            ["proxy_latency.py", "replay", "--url", f"http://127.0.0.1:{replaying.port}",
             "--file", str(directory / "scenarios" / f"{name}.yaml"), "--rounds", str(bench.args.proxy_rounds)],
            timeout=300)
    rep = out["replay"]
    log(f"  replay of {name}: {rep['share_within_10pct']:.1%} of {rep['gaps_over_20ms'] * rep['rounds']} gaps "
        f"> 20 ms within 10% ({rep['rounds']} rounds; relative error p50 {rep['relative_error']['p50']:.1%}, p99 "
        f"{rep['relative_error']['p99']:.1%})")
    return out


def _record_slow(port: int) -> str:
    """One `slow` turn through the proxy, read to its end; the name of its recording."""
    body = json.dumps({"chatId": IDLE_CHAT, "sessionId": SESSION, "messages": [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "record me"}]}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/chat", data=body, method="POST", headers={
        "x-api-key": "recoup_sk_test_alice", "content-type": "application/json", "prefer": "scenario=slow",
        "x-mock-world": "bench-record"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
    for _ in range(200):  # bounded: the recording is written once the stream has ended
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/__mock/requests?method=POST&path=/api/chat",
                                    timeout=10) as listed:
            entries = json.loads(listed.read())["requests"]
        if entries and entries[-1]["scenario"]:
            return str(entries[-1]["scenario"])
        time.sleep(0.05)
    raise RuntimeError("the proxy wrote no recording of the slow turn")


def markdown(r: dict[str, Any]) -> list[str]:
    """The section's lines in latest.md (nothing when it was not run)."""
    p = r.get("proxy")
    if not p:
        return []
    if "error" in p:
        return ["", "## recoup-mock proxy", "", f"Not measured: {p['error']}"]
    lat, rep, s = p["latency"], p["replay"], p["latency"]["settings"]

    def ms(doc: dict[str, Any], key: str) -> str:
        return f"{doc[key]:.2f}" if doc.get(key) is not None else "—"

    return [
        "", "## recoup-mock proxy", "",
        f"Measured {p['date']}, commit `{p.get('commit', '?')}` (`bench/run.py --only proxy --merge`): the mock at "
        "`--speed 1` and `recoup-mock proxy --record` in front of it, both on the server CPU, the client on the "
        "other; loopback.", "",
        "| metric | direct | proxied | added by the proxy | target |", "|---|--:|--:|--:|--:|",
        f"| first byte p50 (ms) | {ms(lat['ttfb_ms']['direct'], 'p50')} | {ms(lat['ttfb_ms']['proxied'], 'p50')} | "
        f"{ms(lat['ttfb_added_ms'], 'p50')} | |",
        f"| first byte p99 (ms) | {ms(lat['ttfb_ms']['direct'], 'p99')} | {ms(lat['ttfb_ms']['proxied'], 'p99')} | "
        f"{ms(lat['ttfb_added_ms'], 'p99')} | ≤ 20 |",
        f"| each chunk p50 (ms) | | | {ms(lat['chunk_added_ms'], 'p50')} | |",
        f"| each chunk p99 (ms) | | | {ms(lat['chunk_added_ms'], 'p99')} | ≤ 20 |",
        f"| each chunk max (ms) | | | {ms(lat['chunk_added_ms'], 'max')} | |",
        f"| recorded `slow` replayed at `--speed 1`: gaps > 20 ms within 10% | | | "
        f"{rep['share_within_10pct']:.1%} of {rep['gaps_over_20ms'] * rep['rounds']} | 100% |", "",
        f"- First byte: `POST /legacy/api/chat` (`slow`, whose `start` goes out at once), {s['ttfb']} each way, "
        "direct and proxied in turn; request sent to first body byte. \"Added\" is proxied minus direct, per "
        "percentile.",
        f"- Each chunk: {s['streams']} headless `slow` runs at a time, {s['rounds']} rounds, each read by a direct "
        "and a proxied resume at once; the mock writes a chunk to both readers at the same instant, so proxied "
        f"arrival minus direct arrival is the proxy's share ({lat['chunk_added_ms']['n']:,} chunks; the backlog of "
        "each reader's first read left out).",
        f"- Replay: {rep['rounds']} replays of one recorded `slow` turn ({rep['scenario']}); a late chunk makes one "
        f"long gap and one short one (the schedule is absolute). Relative error p50 "
        f"{rep['relative_error']['p50']:.1%}, p99 {rep['relative_error']['p99']:.1%}, max "
        f"{rep['relative_error']['max']:.1%}; first byte recorded {rep['recorded_first_byte_ms']} ms, replayed "
        f"p50 {ms(rep['replayed_first_byte_ms'], 'p50')} ms. Proxy peak RSS {p['proxy_peak_rss_mb']:.0f} MB.",
    ]
