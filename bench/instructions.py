"""Work against time: instructions and CPU per request over a real socket, the mock against the bare app.

    .venv/bin/python bench/instructions.py [--routes runs resume] [--seconds 8] [--cpu-seconds 5]

`bench/profile.py` says where the mock's time goes; this says how much of its extra time is extra work.
For each route (``runs``: ``POST /api/chat/runs``; ``resume``: resume of an idle chat, 204) and each server
(``recoup-mock serve --speed 0 --quiet`` and ``bench/bare_app.py``), both pinned and loaded as in the bench:

- **instructions per request**: a fresh server under valgrind's callgrind (user-space instructions, the
  interpreter's, uvicorn's and uvloop's included; the kernel's are not), loaded by wrk for S and, on
  another fresh server, for 2S seconds; the difference of the two totals over the difference of their
  request counts, so start-up and shutdown cancel out; with valgrind's cache and branch simulation on,
  the same difference gives each request's simulated cache misses (its last level set to this CPU's L2)
  and mispredicted branches;
- **CPU per request, natively**: user and system time of a fresh server (``/proc/PID/stat``) over a wrk
  of ``--cpu-seconds``, divided by its requests; and its rate;
- **the app alone, in process**: CPU µs per request of each app driven through its ASGI interface (no
  socket, no HTTP parsing; 32 requests at a time on uvloop, in a fresh pinned interpreter, with the GC
  settings its server uses), so the mock's own extra work can be read apart from the transport's;
- **what a microsecond of work costs over the socket here**: the bare app's resume with and without
  ``--spin`` (a pure interpreter loop of known length before each 204), the time per request added
  against the work added. Over this machine's loopback a slower server pays more kernel time per request
  (its client sleeps between answers and must be woken), so extra work costs more than itself.

Writes ``bench/results/profiles/instructions.md`` and ``.json``. Needs valgrind (``apt install valgrind``);
takes about 7 minutes for both routes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py: servers, pinning, load generators

OUT = bench.RESULTS / "profiles"
ROUTES = {"runs": "post_runs.lua", "resume": "resume_idle.lua"}
KINDS = ("bare", "mock")
#: Each route's request as its wrk script sends it, for the in-process reading: method, path, body, headers.
REQUESTS: dict[str, tuple[str, str, bytes, list[tuple[bytes, bytes]]]] = {
    "runs": ("POST", "/api/chat/runs", b'{"prompt":"hi"}',
             [(b"x-api-key", bench.API_KEY.encode()), (b"content-type", b"application/json"),
              (b"content-length", b"15")]),
    "resume": ("GET", f"/api/chat/{bench.IDLE_CHAT}/stream", b"",
               [(b"x-api-key", bench.API_KEY.encode()), (b"prefer", b"code=204")]),
}
#: Turns of `bare_app.spin` before each 204 in the amplification reading (about 10 µs of work here).
SPIN_TURNS = 600
_EVENTS = re.compile(rb"^events: (.+)$", re.MULTILINE)
_TOTALS = re.compile(rb"^(?:summary|totals): ([\d ]+)$", re.MULTILINE)
#: Valgrind's cache model, its last level set to this CPU's L2 (2 MB a core, 16-way): the level a request's
#: footprint would spill out of (the shared L3 beyond it is not modelled).
LAST_LEVEL = "--LL=2097152,16,64"
#: The simulated events kept per request: instructions; first-level instruction and data misses; misses of
#: the modelled L2; mispredicted conditional and indirect branches.
EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bcm", "Bim")


def callgrind(b: bench.Bench, kind: str, script: str, seconds: float) -> tuple[dict[str, int], int]:
    """(events, requests) of one fresh ``kind`` server under callgrind with its cache and branch
    simulation, loaded for ``seconds``."""
    out = b.tmp / f"callgrind-{kind}-{script}-{seconds:g}.out"
    server = b.start(kind, ready_timeout=300, env={"PYTHONHASHSEED": "0"},
                     wrap=["valgrind", "--tool=callgrind", "--cache-sim=yes", "--branch-sim=yes", LAST_LEVEL,
                           f"--callgrind-out-file={out}"])
    try:
        requests = int(b.wrk(script, server.port, seconds)["requests"])
    finally:
        server.stop(timeout=300)  # callgrind writes its totals as the server exits
    data = out.read_bytes()
    names, found = _EVENTS.search(data), _TOTALS.search(data)
    if names is None or found is None:
        raise RuntimeError(f"no totals in {out}:\n{server.log_tail()}")
    totals = dict(zip(names.group(1).decode().split(), map(int, found.group(1).split()), strict=False))
    return {name: totals.get(name, 0) for name in EVENTS}, requests


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def native(b: bench.Bench, kind: str, script: str, seconds: float, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """A fresh ``kind`` server's rate and user/system µs per request over ``seconds`` of wrk (after 2 s)."""
    with b.serving(kind, extra=extra) as server:
        b.wrk(script, server.port, 2)
        user, system = cpu_times(server.pid)
        load = b.wrk(script, server.port, seconds)
        user_after, system_after = cpu_times(server.pid)
    requests = load["requests"]
    return {"rps": load["rps"], "user_us": (user_after - user) / requests * 1e6,
            "system_us": (system_after - system) / requests * 1e6}


async def _drive(app: Any, route: str, requests: int, concurrency: int = 32) -> float:
    """CPU µs per request of ``app`` answering ``requests`` of ``route`` through its ASGI interface."""
    method, path, body, headers = REQUESTS[route]

    async def one() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
                 "raw_path": path.encode(), "query_string": b"", "headers": list(headers), "scheme": "http",
                 "server": ("127.0.0.1", 4010), "client": ("127.0.0.1", 5555), "root_path": ""}
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # the body is all read: nothing more comes
            return {}

        async def send(message: dict[str, Any]) -> None:
            pass

        await app(scope, receive, send)

    async def worker(count: int) -> None:
        for _ in range(count):
            await one()
            await asyncio.sleep(0)  # let the others (and any timers) run, as a loop turn would

    async with app.router.lifespan_context(app):
        for _ in range(300):
            await one()
        started = time.process_time()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        return (time.process_time() - started) / (requests // concurrency * concurrency) * 1e6


def _in_process_child(route: str, kind: str, requests: int) -> None:
    """The in-process reading's child: print the µs per request of ``kind``'s app on ``route``."""
    import uvloop

    if kind == "mock":
        from mockserver.app import create_app
        from mockserver.settings import Settings

        app: Any = create_app(Settings(speed=0.0, access_log=False))
        gc.freeze()  # what `recoup-mock serve` does (mockserver/cli.py); the bare app leaves the GC alone
        gc.set_threshold(10_000, 20, 20)
    else:
        import bare_app

        app = bare_app.create_app(0.0)
    print(json.dumps(uvloop.run(_drive(app, route, requests))))


def child_median(b: bench.Bench, argv: list[str], readings: int = 3) -> float:
    """The median of the numbers ``argv`` prints last, run ``readings`` times, each a fresh pinned interpreter."""
    values = []
    for _ in range(readings):
        done = b.client(argv, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[1:])} failed:\n{done.stderr[-2000:]}")
        values.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(values)


def in_process(b: bench.Bench, route: str, kind: str, requests: int = 20_000) -> float:
    """CPU µs per request of ``kind``'s app alone on ``route`` (median of three fresh interpreters)."""
    return child_median(b, [sys.executable, __file__, "--in-process-child", route, kind, str(requests)])


def spin_us(turns: int) -> float:
    """µs of CPU that ``bare_app.spin(turns)`` takes in this process (best of five)."""
    import bare_app

    return min(timeit.repeat(lambda: bare_app.spin(turns), number=2000, repeat=5)) / 2000 * 1e6


def amplification(b: bench.Bench, cpu_seconds: float, rounds: int = 2) -> dict[str, Any]:
    """What ``SPIN_TURNS`` of pure work added to each of the bare app's 204s costs per request over the
    socket: fresh servers, alternating, the best round of each kept."""
    plain: list[dict[str, float]] = []
    spun: list[dict[str, float]] = []
    for round_no in range(rounds):
        order = ((plain, ()), (spun, ("--spin", str(SPIN_TURNS))))
        for readings, extra in order if round_no % 2 == 0 else reversed(order):
            readings.append(native(b, "bare", ROUTES["resume"], cpu_seconds, extra))
    best_plain, best_spun = max(plain, key=lambda r: r["rps"]), max(spun, key=lambda r: r["rps"])
    work = spin_us(SPIN_TURNS)
    added = 1e6 / best_spun["rps"] - 1e6 / best_plain["rps"]
    return {"spin_turns": SPIN_TURNS, "work_us": work, "plain": best_plain, "spin": best_spun,
            "added_us": added, "factor": added / work}


def measure(b: bench.Bench, route: str, seconds: float, cpu_seconds: float) -> dict[str, Any]:
    script = ROUTES[route]
    out: dict[str, Any] = {}
    for kind in KINDS:
        bench.log(f"{route}: {kind} under callgrind, {seconds:g} s and {2 * seconds:g} s")
        short, long = callgrind(b, kind, script, seconds), callgrind(b, kind, script, 2 * seconds)
        if long[1] <= short[1]:
            raise RuntimeError(f"{kind} {route}: {long[1]} requests in {2 * seconds:g} s, {short[1]} in {seconds:g} s")
        per_request = {name: (long[0][name] - short[0][name]) / (long[1] - short[1]) for name in EVENTS}
        out[kind] = {"instructions": per_request["Ir"], "simulated": per_request,
                     "callgrind_requests": [short[1], long[1]], **native(b, kind, script, cpu_seconds),
                     "in_process_us": in_process(b, route, kind)}
    mock, bare = out["mock"], out["bare"]
    out["ratios"] = {"instructions": mock["instructions"] / bare["instructions"],
                     "time": bare["rps"] / mock["rps"], "user": mock["user_us"] / bare["user_us"],
                     "system": mock["system_us"] / bare["system_us"],
                     "in_process": mock["in_process_us"] / bare["in_process_us"],
                     # time per request under callgrind (the same wrk seconds): where the transport is as slow
                     # as the rest, the rates follow the instructions
                     "callgrind_time": bare["callgrind_requests"][1] / mock["callgrind_requests"][1]}
    out["gap_us"] = {"socket": 1e6 / mock["rps"] - 1e6 / bare["rps"],
                     "in_process": mock["in_process_us"] - bare["in_process_us"]}
    return out


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Instructions against time, mock against bare", "",
        f"{results['date']} · commit `{results['commit']}` · `bench/instructions.py` (callgrind "
        f"{results['seconds']:g} s and {2 * results['seconds']:g} s of wrk per server, CPU times over "
        f"{results['cpu_seconds']:g} s natively).", "",
        "| route | server | instructions/request | req/s natively | user µs/request | system µs/request "
        "| app alone, µs/request |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for route, r in results["routes"].items():
        for kind in KINDS:
            k = r[kind]
            lines.append(f"| {route} | {kind} | {k['instructions']:,.0f} | {k['rps']:,.0f} | {k['user_us']:.1f} | "
                         f"{k['system_us']:.1f} | {k['in_process_us']:.1f} |")
    lines += ["", "| route | instructions, mock / bare | time under callgrind | time per request natively | user "
              "| system | app alone | µs more per request: over the socket / app alone |",
              "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for route, r in results["routes"].items():
        q, gap = r["ratios"], r["gap_us"]
        lines.append(f"| {route} | {q['instructions']:.2f} | {q['callgrind_time']:.2f} | {q['time']:.2f} "
                     f"| {q['user']:.2f} | {q['system']:.2f} | {q['in_process']:.2f} "
                     f"| {gap['socket']:.1f} / {gap['in_process']:.1f} |")
    lines += ["", "Instructions are user space only (valgrind does not see the kernel); the same syscalls answer a "
              "request in both servers (one read, one write). \"App alone\" is the app driven through ASGI in "
              "process: no socket, no HTTP parsing.", "",
              "Simulated by callgrind per request (its cache model's last level set to this CPU's 2 MB L2):", "",
              "| route | server | L1 instruction misses | L1 data misses | L2 misses | mispredicted branches |",
              "|---|---|--:|--:|--:|--:|"]
    for route, r in results["routes"].items():
        for kind in KINDS:
            e = r[kind]["simulated"]
            lines.append(f"| {route} | {kind} | {e['I1mr']:,.0f} | {e['D1mr'] + e['D1mw']:,.0f} "
                         f"| {e['ILmr'] + e['DLmr'] + e['DLmw']:,.1f} | {e['Bcm'] + e['Bim']:,.0f} |")
    lines.append("")
    amp = results.get("amplification")
    if amp:
        p, s = amp["plain"], amp["spin"]
        lines += ["## What a microsecond of work costs over the socket", "",
                  f"The bare app's resume, plain and with `--spin {amp['spin_turns']}` ({amp['work_us']:.1f} µs of "
                  "pure interpreter work before each 204, timed in process):", "",
                  "| bare resume | req/s | µs/request | user µs/request | system µs/request |", "|---|--:|--:|--:|--:|",
                  f"| plain | {p['rps']:,.0f} | {1e6 / p['rps']:.1f} | {p['user_us']:.1f} | {p['system_us']:.1f} |",
                  f"| + {amp['work_us']:.1f} µs of work | {s['rps']:,.0f} | {1e6 / s['rps']:.1f} | {s['user_us']:.1f} "
                  f"| {s['system_us']:.1f} |", "",
                  f"{amp['work_us']:.1f} µs of work made each request {amp['added_us']:.1f} µs longer: "
                  f"**{amp['factor']:.1f} times the work**. The syscalls stay the same; the system time per "
                  "request grows because a slower server finds its client asleep more often and pays for waking "
                  "it. So a gap in req/s between two servers here is about that factor times the gap in their own "
                  "work.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--seconds", type=float, default=8.0, help="wrk seconds of the shorter callgrind run")
    parser.add_argument("--cpu-seconds", type=float, default=5.0, help="wrk seconds of the native CPU reading")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--in-process-child", nargs=3, metavar=("ROUTE", "KIND", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process_child:
        route, kind, requests = args.in_process_child
        _in_process_child(route, kind, int(requests))
        return 0
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed: apt-get install valgrind")
    b = bench.Bench(argparse.Namespace(no_pin=args.no_pin, connections=32))
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": bench.commit(),
                               "seconds": args.seconds, "cpu_seconds": args.cpu_seconds, "routes": {}}
    try:
        for route in args.routes:
            results["routes"][route] = measure(b, route, args.seconds, args.cpu_seconds)
        bench.log("amplification: the bare app's resume, plain and spinning")
        results["amplification"] = amplification(b, args.cpu_seconds)
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
