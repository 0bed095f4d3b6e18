"""Profile the mock's hot paths under load with py-spy, and summarise where the time goes.

    .venv/bin/python bench/profile.py [--routes runs resume unpaced worlds] [--seconds 10]

For each route a fresh ``recoup-mock serve --speed 0 --quiet`` (pinned like in the bench) is loaded
by wrk (``runs``: ``POST /api/chat/runs``; ``worlds``: the same, spread over 100 worlds by
``x-mock-world`` as in the bench's worlds section; ``resume``: resume of an idle chat, 204) or by
``bench/streams.py unpaced`` (fresh chats, ``slow`` scenario), and py-spy samples it twice: once as
collapsed stacks (``<route>.folded``, summarised here) and once as a flame graph (``<route>.svg``),
both at the same time.
Shares are of the samples in which the server's thread was busy (py-spy leaves idle samples out); py-spy
pauses the server for each sample (about 1 % overhead at 250 Hz).
Everything lands in ``bench/results/profiles/`` (ignored by git), with ``summary.md`` and ``summary.json``.
py-spy needs ptrace rights over the server (root, or kernel.yama.ptrace_scope = 0).
"""

from __future__ import annotations

import argparse
import json
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
    "runs": ("post_runs.lua", ()), "resume": ("resume_idle.lua", ()), "worlds": ("post_runs_worlds.lua", ("100",))}
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


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


def profile_route(b: bench.Bench, route: str, seconds: float, rate: int) -> dict[str, Any]:
    folded, svg = OUT / f"{route}.folded", OUT / f"{route}.svg"
    with b.serving("mock", speed=0.0) as server:
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
                    "--streams", str(int(load_seconds * 500)), "--duration", str(load_seconds), "--announce"]
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
            record(server.pid, seconds, rate, {"raw": folded, "flamegraph": svg}, b.pin.client)
        finally:
            try:
                out, _ = load.communicate(timeout=load_seconds + 60)
            except subprocess.TimeoutExpired:
                load.kill()
                out, _ = load.communicate()
    summary = summarise(parse_folded(folded))
    summary["load_output_tail"] = (out or "")[-600:]
    return summary


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Profiles of the mock's hot paths", "",
             f"{results['date']} · commit `{results['commit']}` · py-spy, {results['rate']} Hz, "
             f"{results['seconds']:g} s per route, `--speed 0 --quiet`, busy samples only.", ""]
    titles = {"runs": "`POST /api/chat/runs` (202)", "resume": "resume of an idle chat (204)",
              "worlds": "`POST /api/chat/runs` (202) spread over 100 worlds (`x-mock-world`)",
              "unpaced": "unpaced `slow` streams (`POST /api/chat`, fresh chats)"}
    for route, s in results["routes"].items():
        lines += [f"## {titles.get(route, route)}", ""]
        if "error" in s:
            lines += [f"failed: {s['error']}", ""]
            continue
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
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", nargs="+", default=["runs", "resume", "unpaced"],
                        choices=["runs", "resume", "unpaced", "worlds"])
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of sampling per route and format")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--summarise-only", action="store_true", help="re-read the .folded files of the last run")
    args = parser.parse_args()
    if args.summarise_only:
        results = json.loads((OUT / "summary.json").read_text())
        for route, old in results["routes"].items():
            if "error" not in old:
                results["routes"][route] = {**summarise(parse_folded(OUT / f"{route}.folded")),
                                            "load_output_tail": old.get("load_output_tail", "")}
        (OUT / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
        (OUT / "summary.md").write_text(markdown(results))
        print((OUT / "summary.md").read_text())
        return 0
    if not PY_SPY.exists():
        parser.error("py-spy is not installed: pip install -e '.[bench]'")
    OUT.mkdir(parents=True, exist_ok=True)
    ns = argparse.Namespace(no_pin=args.no_pin, connections=32)
    b = bench.Bench(ns)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=bench.ROOT, capture_output=True, text=True)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit.stdout.strip(),
                               "rate": args.rate, "seconds": args.seconds, "routes": {}}
    try:
        for route in args.routes:
            bench.log(f"profiling {route}")
            try:
                results["routes"][route] = profile_route(b, route, args.seconds, args.rate)
            except Exception as exc:
                results["routes"][route] = {"error": f"{type(exc).__name__}: {exc}"}
                bench.log(f"FAILED {route}: {exc}")
    finally:
        for server in list(bench._RUNNING):
            server.stop()
    (OUT / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "summary.md").write_text(markdown(results))
    print((OUT / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
