"""Work against time: instructions and CPU per request over a real socket, the mock against the bare app.

    .venv/bin/python bench/instructions.py [--routes runs resume] [--seconds 8] [--cpu-seconds 5]

`bench/profile.py` says where the mock's time goes; this says how much of its extra time is extra work.
For each route (``runs``: ``POST /api/chat/runs``; ``resume``: resume of an idle chat, 204) and each server
(``recoup-mock serve --speed 0 --quiet`` and ``bench/bare_app.py``), both pinned and loaded as in the bench:

- **instructions per request**: a fresh server under valgrind's callgrind (user-space instructions, the
  interpreter's, uvicorn's and uvloop's included; the kernel's are not), loaded by wrk for S and, on
  another fresh server, for 2S seconds; the difference of the two totals over the difference of their
  request counts, so start-up and shutdown cancel out;
- **CPU per request, natively**: user and system time of a fresh server (``/proc/PID/stat``) over a wrk
  of ``--cpu-seconds``, divided by its requests; and its rate.

If the mock's time per request exceeds the bare app's by much more than its instructions do, the rest of
the gap is not work the mock does but the cost of the memory it touches (the kernel's socket work, timed
as system time, slows down with it). Writes ``bench/results/profiles/instructions.md`` and ``.json``.
Needs valgrind (``apt install valgrind``); takes about 10 minutes for both routes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py: servers, pinning, load generators

OUT = bench.RESULTS / "profiles"
ROUTES = {"runs": "post_runs.lua", "resume": "resume_idle.lua"}
KINDS = ("bare", "mock")
_TOTALS = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def callgrind(b: bench.Bench, kind: str, script: str, seconds: float) -> tuple[int, int]:
    """(instructions, requests) of one fresh ``kind`` server under callgrind, loaded for ``seconds``."""
    out = b.tmp / f"callgrind-{kind}-{script}-{seconds:g}.out"
    server = b.start(kind, ready_timeout=300, env={"PYTHONHASHSEED": "0"},
                     wrap=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
    try:
        requests = int(b.wrk(script, server.port, seconds)["requests"])
    finally:
        server.stop(timeout=300)  # callgrind writes its totals as the server exits
    found = _TOTALS.search(out.read_bytes())
    if found is None:
        raise RuntimeError(f"no totals in {out}:\n{server.log_tail()}")
    return int(found.group(1)), requests


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def native(b: bench.Bench, kind: str, script: str, seconds: float) -> dict[str, float]:
    """A fresh ``kind`` server's rate and user/system µs per request over ``seconds`` of wrk (after 2 s)."""
    with b.serving(kind) as server:
        b.wrk(script, server.port, 2)
        user, system = cpu_times(server.pid)
        load = b.wrk(script, server.port, seconds)
        user_after, system_after = cpu_times(server.pid)
    requests = load["requests"]
    return {"rps": load["rps"], "user_us": (user_after - user) / requests * 1e6,
            "system_us": (system_after - system) / requests * 1e6}


def measure(b: bench.Bench, route: str, seconds: float, cpu_seconds: float) -> dict[str, Any]:
    script = ROUTES[route]
    out: dict[str, Any] = {}
    for kind in KINDS:
        bench.log(f"{route}: {kind} under callgrind, {seconds:g} s and {2 * seconds:g} s")
        short, long = callgrind(b, kind, script, seconds), callgrind(b, kind, script, 2 * seconds)
        if long[1] <= short[1]:
            raise RuntimeError(f"{kind} {route}: {long[1]} requests in {2 * seconds:g} s, {short[1]} in {seconds:g} s")
        out[kind] = {"instructions": (long[0] - short[0]) / (long[1] - short[1]),
                     "callgrind_requests": [short[1], long[1]], **native(b, kind, script, cpu_seconds)}
    mock, bare = out["mock"], out["bare"]
    out["ratios"] = {"instructions": mock["instructions"] / bare["instructions"],
                     "time": bare["rps"] / mock["rps"], "user": mock["user_us"] / bare["user_us"],
                     "system": mock["system_us"] / bare["system_us"]}
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Instructions against time, mock against bare", "",
        f"{results['date']} · commit `{results['commit']}` · `bench/instructions.py` (callgrind "
        f"{results['seconds']:g} s and {2 * results['seconds']:g} s of wrk per server, CPU times over "
        f"{results['cpu_seconds']:g} s natively).", "",
        "| route | server | instructions/request | req/s natively | user µs/request | system µs/request |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for route, r in results["routes"].items():
        for kind in KINDS:
            k = r[kind]
            lines.append(f"| {route} | {kind} | {k['instructions']:,.0f} | {k['rps']:,.0f} | {k['user_us']:.1f} | "
                         f"{k['system_us']:.1f} |")
    lines += ["", "| route | instructions, mock / bare | time per request, mock / bare | user | system |",
              "|---|--:|--:|--:|--:|"]
    for route, r in results["routes"].items():
        q = r["ratios"]
        lines.append(f"| {route} | {q['instructions']:.2f} | {q['time']:.2f} | {q['user']:.2f} | {q['system']:.2f} |")
    lines += ["", "Instructions are user space only (valgrind does not see the kernel); the same syscalls answer a "
              "request in both servers (one read, one write), so system time per request differs only by how "
              "fast the kernel's socket work runs beside each server's own.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk seconds of the shorter callgrind run")
    parser.add_argument("--cpu-seconds", type=float, default=5.0, help="wrk seconds of the native CPU reading")
    parser.add_argument("--no-pin", action="store_true")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed: apt-get install valgrind")
    b = bench.Bench(argparse.Namespace(no_pin=args.no_pin, connections=32))
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": bench.commit(),
                               "seconds": args.seconds, "cpu_seconds": args.cpu_seconds, "routes": {}}
    try:
        for route in args.routes:
            results["routes"][route] = measure(b, route, args.seconds, args.cpu_seconds)
    finally:
        for server in list(bench._RUNNING):
            server.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "instructions.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "instructions.md").write_text(markdown(results))
    print((OUT / "instructions.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
