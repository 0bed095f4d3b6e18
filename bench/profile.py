"""Profile the mock's hot paths under load with py-spy, and summarise where the time goes.

    .venv/bin/python bench/profile.py [--routes runs defaults resume worlds unpaced] [--seconds 10] [--no-bare]

For each route a fresh ``recoup-mock serve --speed 0 --quiet`` (pinned like in the bench; for ``defaults``,
``recoup-mock serve`` with no ``--speed`` and no ``--quiet``, its access log going to a file as in the bench) is
loaded by wrk (``runs`` and ``defaults``: ``POST /api/chat/runs``; ``worlds``: the same, spread over 100 worlds
by ``x-mock-world`` as in the bench's worlds section; ``resume``: resume of an idle chat, 204) or by
``bench/streams.py unpaced`` (fresh chats, ``slow`` scenario), and py-spy samples it twice: once as
collapsed stacks (``<route>.folded``, summarised here) and once as a flame graph (``<route>.svg``),
both at the same time. The bare app (``bench/bare_app.py``) gets the same for runs, resume and unpaced
(``bare-<route>.*``; ``--no-bare`` leaves it out): the ceiling each route's time is compared with.
Shares are of the samples in which the server's thread was busy (py-spy leaves idle samples out); py-spy
pauses the server for each sample (about 1 % overhead at 250 Hz).

"Where each µs goes": every sample is put in one category (routing, world pick, auth, request validation,
handlers, state, journaling, rendering, logging, ...) by its innermost frame that says which (`CATEGORIES`;
standard-library helpers such as ``json`` or ``typing`` count for their caller), and the category's busy
share is turned into µs per request with the rate measured under the profiler:
µs/request = 1e6 / (requests/s) x (samples of the category / (rate x seconds)).

Everything lands in ``bench/results/profiles/``: the flame graphs and ``summary.md``/``summary.json`` are
committed (the evidence issue 22 asks for); the ``.folded`` stacks stay out of git (``--summarise-only``
re-reads them). py-spy needs ptrace rights over the server (root, or kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run as bench  # bench/run.py: servers, pinning, load generators

OUT = bench.RESULTS / "profiles"
PY_SPY = bench.VENV_BIN / "py-spy"
SPINE_SHARE = 0.75
SPINE_FILES = ("uvicorn/", "asyncio/", "mockserver/cli.py", "recoup-mock", "starlette/middleware/",
               "starlette/_exception_handler.py", "starlette/applications.py", "starlette/_utils.py",
               "starlette/routing.py")
#: wrk-loaded routes: (script under bench/wrk, its arguments).
WRK_ROUTES: dict[str, tuple[str, tuple[str, ...]]] = {
    "runs": ("post_runs.lua", ()), "defaults": ("post_runs.lua", ()), "resume": ("resume_idle.lua", ()),
    "worlds": ("post_runs_worlds.lua", ("100",))}
ROUTES = ("runs", "defaults", "resume", "worlds", "unpaced")
#: The bare app's profile each route is compared with (the bare app has no worlds and no access log).
BARE_FOR = {"runs": "runs", "defaults": "runs", "worlds": "runs", "resume": "resume", "unpaced": "unpaced"}
#: (category, file fragment, function regex or None): a sample counts for the category of its innermost frame
#: that matches one of these (first match in this order for that frame); frames of `TRANSPARENT` files are
#: skipped, so that json, typing, copy... count for whoever called them. Kept loose on purpose: the files
#: change while the hot path is worked on, and a frame nothing matches counts as "other".
CATEGORIES: list[tuple[str, str, str | None]] = [
    ("logging", "mockserver/accesslog.py", None),
    ("logging", "mockserver/middleware.py", r"_log$|DropFilter"),
    ("logging", "logging/", None),
    ("logging", "uvicorn/logging.py", None),
    ("journaling", "mockserver/state/journal.py", None),
    ("journaling", "mockserver/state/events.py", None),
    ("journaling", "mockserver/middleware.py", r"_journal|_publish"),
    ("world pick", "mockserver/middleware.py", r"_world_name|_announces_world|_named"),
    ("world pick", "mockserver/state/worlds.py", r"^Worlds\.(get|_create|_drop)"),
    ("auth", "mockserver/auth.py", None),
    ("auth", "mockserver/pipeline.py", r"auth"),
    ("request validation", "mockserver/spec.py", None),
    ("request validation", "mockserver/pipeline.py", r"read_body|parse_json|read_json|check_content_type|Checks|"
                                                      r"checked|_finite|_no_constants"),
    ("request validation", "openapi_core/", None),
    ("request validation", "jsonschema", None),
    ("request validation", "starlette/requests.py", None),
    ("routing", "starlette/routing.py", None),
    ("routing", "mockserver/app.py", None),
    ("routing", "mockserver/routing.py", None),
    ("routing", "mockserver/pipeline.py", r"no_such_operation"),
    ("rendering", "mockserver/streams/sse.py", None),
    ("rendering", "mockserver/errors.py", None),
    ("rendering", "mockserver/api/chat.py", r"stream_response|FinishedStream"),
    ("rendering", "starlette/responses.py", None),
    ("handlers", "mockserver/api/", None),
    ("handlers", "bench/bare_app.py", None),
    ("state", "mockserver/state/", None),
    ("state", "mockserver/streams/", None),
    ("state", "mockserver/pipeline.py", r"scenario|answer_fault|http_answer"),
    ("middleware & pipeline (own code)", "mockserver/", None),
    ("Starlette stack", "starlette/", None),
    ("uvicorn/httptools", "uvicorn/", None),
    ("uvicorn/httptools", "httptools", None),
    ("asyncio/event loop", "asyncio/", None),
    ("asyncio/event loop", "uvloop", None),
    ("asyncio/event loop", "selectors.py", None),
]
CATEGORY_ORDER = [*dict.fromkeys(c for c, _, _ in CATEGORIES), "other"]
_CATEGORY_RULES = [(c, frag, re.compile(rx) if rx else None) for c, frag, rx in CATEGORIES]
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (/proc/PID/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def record(pid: int, seconds: float, rate: int, outputs: dict[str, Path], cpus: set[int] | None) -> None:
    """Sample ``pid`` for ``seconds`` once per format, at the same time. py-spy pauses the process for each
    sample (its default): ``--nonblocking`` costs less but, on this busy machine, truncated half the stacks."""
    procs = []
    for fmt, path in outputs.items():
        argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
                "--format", fmt, "--output", str(path)]
        procs.append((subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       preexec_fn=bench._preexec(cpus)), path))
    for proc, path in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        if proc.returncode or not path.exists():
            raise RuntimeError(f"py-spy failed ({proc.returncode}): {out[-800:]}")


#: The checkout this script runs from: frames of our own code are shown relative to it.
REPO_ROOT = Path(__file__).resolve().parents[1]


def short_file(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.", f"{REPO_ROOT}/"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return tail.split("/", 1)[1] if marker == "/lib/python3." else tail
    return path


def package(path: str) -> str:
    f = short_file(path)
    if f.startswith("mockserver/"):
        return f.split(".")[0] if f.count("/") == 1 else "mockserver"
    if "/" not in f:
        return "stdlib:" + f.removesuffix(".py")
    return f.split("/")[0]


def parse_folded(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    """(stack of (function, file), count) from py-spy's raw collapsed format."""
    stacks = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        stack_text, _, count = line.rpartition(" ")
        frames = []
        for raw in stack_text.split(";"):
            match = _FRAME.match(raw)
            if match and match.group("file"):
                frames.append((match.group("func"), match.group("file")))
        if frames:
            stacks.append((frames, int(count)))
    return stacks


def _transparent(file: str) -> bool:
    """Standard-library helpers (json, typing, copy, re, collections...) that count for their caller."""
    return ("/" not in file or file.startswith(("<frozen", "json/", "collections/", "email/", "http/", "urllib/",
                                                "importlib/", "concurrent/", "re/", "encodings/"))
            or file in ("starlette/datastructures.py", "starlette/_utils.py", "starlette/concurrency.py"))


def category(frames: list[tuple[str, str]]) -> str:
    """The category of one sample: that of its innermost frame a rule of `CATEGORIES` matches."""
    for function, path in reversed(frames):
        file = short_file(path)
        if _transparent(file) and file != "selectors.py":
            continue
        for name, fragment, function_rx in _CATEGORY_RULES:
            if fragment in file and (function_rx is None or function_rx.search(function)):
                return name
    return "other"


def categories(stacks: list[tuple[list[tuple[str, str]], int]]) -> dict[str, int]:
    """Samples per category, in `CATEGORY_ORDER` (categories with none left out)."""
    counts: Counter[str] = Counter()
    for frames, count in stacks:
        counts[category(frames)] += count
    return {name: counts[name] for name in CATEGORY_ORDER if counts[name]}


def per_request(summary: dict[str, Any], rate: int, seconds: float) -> None:
    """Add to ``summary`` the busy share (busy samples / the samples ``rate`` x ``seconds`` would make) and, per
    category, its share of the busy samples and its µs per request at the measured request rate."""
    expected = rate * seconds
    busy = min(1.0, summary["samples"] / expected) if expected else None
    rps = summary.get("requests_per_s")
    summary["busy_share"] = busy
    summary["us_per_request"] = 1e6 / rps * busy if rps and busy is not None else None
    summary["categories"] = [
        {"category": name, "samples": n, "share_of_busy": n / summary["samples"],
         "us_per_request": (1e6 / rps * n / expected) if rps and expected else None}
        for name, n in summary["category_samples"].items()]


def summarise(stacks: list[tuple[list[tuple[str, str]], int]], top: int = 15) -> dict[str, Any]:
    total = sum(c for _, c in stacks)
    self_time: Counter[tuple[str, str]] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    by_package: Counter[str] = Counter()
    own_code: Counter[tuple[str, str]] = Counter()  # the innermost mockserver frame of each sample
    stdlib_callers: Counter[tuple[str, str, str]] = Counter()  # stdlib leaves, by their nearest non-stdlib caller
    for frames, count in stacks:
        leaf = frames[-1]
        self_time[(leaf[0], short_file(leaf[1]))] += count
        by_package[package(leaf[1])] += count
        for key in {(f, short_file(p)) for f, p in frames}:
            inclusive[key] += count
        ours = [(f, short_file(p)) for f, p in frames
                if short_file(p).startswith("mockserver/") and short_file(p) != "mockserver/cli.py"]
        own_code[ours[-1] if ours else ("(none: uvicorn, Starlette, event loop)", "")] += count
        if package(leaf[1]).startswith("stdlib:"):
            caller = next(((f, short_file(p)) for f, p in reversed(frames) if not package(p).startswith("stdlib:")),
                          ("?", "?"))
            stdlib_callers[(f"{leaf[0]} ({short_file(leaf[1])})", *caller)] += count

    def table(counter: Counter[Any]) -> list[dict[str, Any]]:
        return [{"function": k[0], "file": k[1], "share": v / total} for k, v in counter.most_common(top)]

    partial = sum(c for frames, c in stacks if frames[0][0] != "<module>")
    return {
        "samples": total,
        "category_samples": categories(stacks),
        "partial_stacks": partial / total if total else None,
        "self": table(self_time),
        # Below the spine that every request shares (event loop, uvicorn, Starlette's middleware stack).
        "inclusive": [{"function": k[0], "file": k[1], "share": v / total} for k, v in inclusive.most_common()
                      if v / total < SPINE_SHARE and not k[1].startswith(SPINE_FILES)][:top],
        "mockserver_innermost": table(own_code),
        "self_by_package": [{"package": k, "share": v / total} for k, v in by_package.most_common(top)],
        "stdlib_leaves_by_caller": [{"leaf": k[0], "function": k[1], "file": k[2], "share": v / total}
                                    for k, v in stdlib_callers.most_common(8)],
    }


def profile_route(b: bench.Bench, route: str, seconds: float, rate: int, kind: str = "mock") -> dict[str, Any]:
    """Load a fresh server (``kind`` mock or bare) with ``route`` and sample it; the summary, with the request
    rate the load generator measured (under the profiler) and the server's CPU share while it was sampled."""
    name = route if kind == "mock" else f"{kind}-{route}"
    folded, svg = OUT / f"{name}.folded", OUT / f"{name}.svg"
    server_kind = "bare" if kind == "bare" else "defaults" if route == "defaults" else "mock"
    with b.serving(server_kind, speed=0.0) as server:
        load_seconds = seconds + 8
        if route in WRK_ROUTES:
            script, script_args = WRK_ROUTES[route]
            b.wrk(script, server.port, 2, script_args)  # warm-up (for worlds: creates them)
            argv = ["wrk", "-t1", "-c32", f"-d{load_seconds:g}s", "-s", str(bench.BENCH / "wrk" / script),
                    f"http://127.0.0.1:{server.port}/", *(["--", *script_args] if script_args else [])]
            load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                    preexec_fn=bench._preexec(b.pin.client))
            time.sleep(1)
        else:
            argv = [sys.executable, str(bench.BENCH / "streams.py"), "unpaced", "--port", str(server.port),
                    "--streams", str(int(load_seconds * 500)), "--duration", str(load_seconds), "--announce",
                    "--fresh-chats", "api" if kind == "mock" else "random"]
            if b.pin.client:
                argv += ["--cpu", str(min(b.pin.client))]
            load = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    preexec_fn=bench._preexec(b.pin.client))
            assert load.stderr is not None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "timed part starts" not in (load.stderr.readline() or "x"):
                if load.poll() is not None:
                    raise RuntimeError("streams.py ended before its timed part")
            time.sleep(0.5)
        try:
            cpu_before, wall_before = cpu_seconds(server.pid), time.perf_counter()
            record(server.pid, seconds, rate, {"raw": folded, "flamegraph": svg}, b.pin.client)
            cpu_share = (cpu_seconds(server.pid) - cpu_before) / (time.perf_counter() - wall_before)
        finally:
            try:
                out, _ = load.communicate(timeout=load_seconds + 60)
            except subprocess.TimeoutExpired:
                load.kill()
                out, _ = load.communicate()
    summary = summarise(parse_folded(folded))
    summary["requests_per_s"] = load_rate(out or "")
    summary["cpu_share"] = cpu_share
    summary["server"] = {"mock": "recoup-mock serve --speed 0 --quiet", "defaults": "recoup-mock serve",
                         "bare": "bench/bare_app.py --speed 0"}[server_kind]
    summary["load_output_tail"] = (out or "")[-600:]
    per_request(summary, rate, seconds)
    return summary


def load_rate(output: str) -> float | None:
    """Requests (wrk) or streams (streams.py unpaced) per second, from the load generator's output."""
    for line in reversed(output.splitlines()):
        if line.startswith("WRK_JSON "):
            doc = json.loads(line.removeprefix("WRK_JSON "))
            return float(doc["requests"] / (doc["duration_us"] / 1e6))
        if line.startswith("{"):
            with contextlib.suppress(ValueError, KeyError):
                return float(json.loads(line)["streams_per_s"])
    return None


TITLES = {"runs": "`POST /api/chat/runs` (202)",
          "defaults": "`POST /api/chat/runs` (202) at the defaults (speed 1, access log to a file)",
          "resume": "resume of an idle chat (204)",
          "worlds": "`POST /api/chat/runs` (202) spread over 100 worlds (`x-mock-world`)",
          "unpaced": "unpaced `slow` streams (`POST /api/chat`, fresh chats; a request = a stream)"}


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def where_the_time_goes(route: str, s: dict[str, Any], bare: dict[str, Any] | None) -> list[str]:
    """The route's "where each µs goes" table: per category, its share of the busy samples and its µs per
    request, beside the bare app's (for the same kind of request) and the difference."""
    bare_us = {c["category"]: c["us_per_request"] for c in (bare or {}).get("categories", [])}
    rps, bare_rps = s.get("requests_per_s"), (bare or {}).get("requests_per_s")
    bare_total = (bare or {}).get("us_per_request")
    lines = [f"{'—' if rps is None else f'{rps:,.0f}'} requests/s under the profiler "
             f"({'—' if bare_rps is None else f'{bare_rps:,.0f}'} for the bare app): "
             f"{_us(s.get('us_per_request'))} µs of busy time a request (bare {_us(bare_total)});"
             f" busy share {_share(s.get('busy_share'))} of the samples py-spy would take, server CPU share "
             f"{_share(s.get('cpu_share'))} (/proc, user + system, kernel socket work included).", "",
             "| category | share of busy | µs/request | bare µs/request | mock - bare |", "|---|--:|--:|--:|--:|"]
    names = [c["category"] for c in s.get("categories", [])]
    names += [n for n in bare_us if n not in names]
    mine = {c["category"]: c for c in s.get("categories", [])}
    for name in sorted(names, key=CATEGORY_ORDER.index):
        c = mine.get(name, {})
        mock_us, b_us = c.get("us_per_request"), bare_us.get(name)
        gap = None if mock_us is None and b_us is None else (mock_us or 0.0) - (b_us or 0.0)
        lines.append(f"| {name} | {_share(c.get('share_of_busy'))} | {_us(mock_us)} | {_us(b_us)} | {_us(gap)} |")
    total_gap = None if s.get("us_per_request") is None or bare_total is None else s["us_per_request"] - bare_total
    lines += [f"| **all** | {_share(1.0 if s.get('categories') else None)} | **{_us(s.get('us_per_request'))}** | "
              f"{_us((bare or {}).get('us_per_request'))} | {_us(total_gap)} |", ""]
    return lines


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Profiles of the mock's hot paths", "",
             f"{results['date']} · commit `{results['commit']}` · py-spy, {results['rate']} Hz, "
             f"{results['seconds']:g} s per route, `--speed 0 --quiet` (but `defaults`), busy samples only.", "",
             "Flame graphs: `<route>.svg` (the mock) and `bare-<route>.svg` (the bare app), beside this file.",
             "Categories: each sample counts for the innermost frame that names one (`bench/profile.py`, "
             "`CATEGORIES`); standard-library helpers (json, typing, copy...) count for their caller. "
             "µs/request = 1e6 / (requests/s) x (the category's samples / (rate x seconds)): busy time per request "
             "under the profiler, which pauses the server for each sample; what is left to the ceiling is the "
             "mock - bare column.", ""]
    bare_all = results.get("bare", {})
    lines += ["## Where each µs goes, all routes", "", "| category | " + " | ".join(
        f"{route}" for route in results["routes"]) + " |", "|---|" + "--:|" * len(results["routes"])]
    for name in CATEGORY_ORDER:
        row = [next((c["us_per_request"] for c in s.get("categories", []) if c["category"] == name), None)
               for s in results["routes"].values()]
        if any(v is not None for v in row):
            lines.append(f"| {name} | " + " | ".join(_us(v) for v in row) + " |")
    lines.append("| **all (µs of busy time a request)** | " + " | ".join(
        f"**{_us(s.get('us_per_request'))}**" for s in results["routes"].values()) + " |")
    lines.append("| bare app, same request | " + " | ".join(
        _us((bare_all.get(BARE_FOR.get(route, route)) or {}).get("us_per_request")) for route in results["routes"])
        + " |")
    lines.append("")
    for route, s in results["routes"].items():
        lines += [f"## {TITLES.get(route, route)}", ""]
        if "error" in s:
            lines += [f"failed: {s['error']}", ""]
            continue
        bare = bare_all.get(BARE_FOR.get(route, route))
        lines += where_the_time_goes(route, s, bare if bare and "error" not in bare else None)
        lines += [f"{s['samples']:,} samples ({s.get('partial_stacks') or 0:.0%} with a truncated stack, counted under "
                  "'(none...)' below).", "", "Self time by package: " + ", ".join(
            f"{p['package']} {p['share']:.0%}" for p in s["self_by_package"][:8]) + ".", "",
            "Inclusive time below the shared request spine (event loop, uvicorn, Starlette's middleware stack):", "",
            "| inclusive | function | file |", "|--:|---|---|"]
        lines += [f"| {r['share']:.1%} | `{r['function']}` | {r['file']} |" for r in s["inclusive"]]
        lines += ["", "| self | function | file |", "|--:|---|---|"]
        lines += [f"| {r['share']:.1%} | `{r['function']}` | {r['file']} |" for r in s["self"][:10]]
        lines += ["", "Innermost mockserver frame (what of ours is on the stack):", "",
                  "| share | function | file |", "|--:|---|---|"]
        lines += [f"| {r['share']:.1%} | `{r['function']}` | {r['file']} |" for r in s["mockserver_innermost"][:10]]
        lines += ["", "Standard-library leaves (typing, copy, json...) by their nearest caller outside it:", "",
                  "| share | leaf | caller | file |", "|--:|---|---|---|"]
        lines += [f"| {r['share']:.1%} | `{r['leaf']}` | `{r['function']}` | {r['file']} |"
                  for r in s["stdlib_leaves_by_caller"]]
        lines.append("")
    for route, s in bare_all.items():
        lines += [f"## Bare app: {TITLES.get(route, route)}", ""]
        if "error" in s:
            lines += [f"failed: {s['error']}", ""]
            continue
        lines += [f"{_us(s.get('requests_per_s'))} requests/s under the profiler, {_us(s.get('us_per_request'))} µs of "
                  f"busy time a request; busy share {_share(s.get('busy_share'))}, CPU share "
                  f"{_share(s.get('cpu_share'))}. Self time by package: " + ", ".join(
                      f"{p['package']} {p['share']:.0%}" for p in s["self_by_package"][:8]) + ".", ""]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--bare", action=argparse.BooleanOptionalAction, default=True,
                        help="also profile the bare app on the routes it has (runs, resume, unpaced) for the "
                             "mock - bare column (default: on)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of sampling per route and format")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--summarise-only", action="store_true", help="re-read the .folded files of the last run")
    args = parser.parse_args()
    if args.summarise_only:
        last: dict[str, Any] = json.loads((OUT / "summary.json").read_text())
        for group, prefix in (("routes", ""), ("bare", "bare-")):
            for route, old in last.get(group, {}).items():
                if "error" not in old:
                    new = summarise(parse_folded(OUT / f"{prefix}{route}.folded"))
                    new.update({k: old.get(k) for k in ("requests_per_s", "cpu_share", "server", "load_output_tail")})
                    per_request(new, last["rate"], last["seconds"])
                    last[group][route] = new
        write(last)
        return 0
    if not PY_SPY.exists():
        parser.error("py-spy is not installed: pip install -e '.[bench]'")
    OUT.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(no_pin=args.no_pin, connections=32)
    b = bench.Bench(ns)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": bench.commit(),
                               "rate": args.rate, "seconds": args.seconds, "routes": {}, "bare": {}}
    todo = [("mock", route) for route in args.routes]
    if args.bare:
        todo += [("bare", route) for route in dict.fromkeys(BARE_FOR[r] for r in args.routes)]
    try:
        for kind, route in todo:
            bench.log(f"profiling {kind} {route}")
            group = "routes" if kind == "mock" else "bare"
            try:
                results[group][route] = profile_route(b, route, args.seconds, args.rate, kind)
            except Exception as exc:
                results[group][route] = {"error": f"{type(exc).__name__}: {exc}"}
                bench.log(f"FAILED {kind} {route}: {exc}")
    finally:
        for server in list(bench._RUNNING):
            server.stop()
    write(results)
    return 0


def write(results: dict[str, Any]) -> None:
    (OUT / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "summary.md").write_text(markdown(results))
    print((OUT / "summary.md").read_text())


if __name__ == "__main__":
    sys.exit(main())
