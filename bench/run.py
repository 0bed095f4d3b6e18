"""The bench: the mock, the bare Starlette ceiling and Prism, side by side, in one run on one machine.

``make bench`` runs this. It writes ``bench/results/latest.json``, ``latest.md`` and ``ratios.png``.
Every server runs as its own process, one at a time, pinned to the same CPU; every load generator
(wrk, ``bench/streams.py``) is a separate process pinned to the other CPU. Only loopback is used,
every loop is bounded in count and time, and every server this script starts is stopped by its pid.

Sections (``--only`` picks some): startup, rates, worlds, paced, unpaced, contract, proxy, soak. ``--merge`` puts
a partial run's sections into the existing ``latest.json`` and rewrites ``latest.md`` and ``ratios.png`` from it.
``--rewrite`` redraws ``latest.md`` and ``ratios.png`` from ``latest.json``, against the targets below.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import proxy_section

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
RESULTS = BENCH / "results"
PRISM_DIR = BENCH / "prism"
PRISM_JS = PRISM_DIR / "node_modules" / "@stoplight" / "prism-cli" / "dist" / "index.js"
IDLE_CHAT = "c4a70000-0000-4000-8000-000000000001"
API_KEY = "recoup_sk_test_alice"
SERVERS = ("mock", "bare", "prism")
#: The rates test's servers: the three above, and the mock as a user starts it (`defaults`: `recoup-mock serve`
#: with no --speed, no --quiet: speed 1 and one access-log line per request), for POST /api/chat/runs only.
RATE_SERVERS = ("mock", "defaults", "bare", "prism")
SECTIONS = ("startup", "rates", "worlds", "paced", "unpaced", "contract", "proxy", "soak")
#: The mock's default ``max_worlds`` (mockserver.settings.Settings): past it, the memory test raises the limit.
DEFAULT_MAX_WORLDS = 256
#: Worlds made (one request each) before the memory test's first RSS reading, so that what the first
#: worlds touch once (code paths, caches, allocator arenas) is not charged to the measured ones.
WARM_WORLDS = 10
#: The mock's environment for the worlds rate test's second pair (--worlds-no-keep): no finished run kept, a
#: journal of one entry, so that one world and many hold the same (nothing) and only the per-request cost differs.
NO_KEEP = {"RECOUP_MOCK_MAX_FINISHED_RUNS": "0", "RECOUP_MOCK_JOURNAL_SIZE": "1"}
#: The soak's defaults (issue 22: 10 minutes of runs over 256 worlds).
SOAK_SECONDS, SOAK_WORLDS = 600.0, 256

#: (metric key, label, comparison, target): what issue 22's Done-when asks for (and, for idle worlds, its
#: "idle worlds stay <= 16 KB each"); measured and reported, never asserted.
TARGETS: list[tuple[str, str, str, float]] = [
    ("runs_vs_bare", "POST /api/chat/runs rate vs bare (--speed 0 --quiet)", ">=", 0.8),
    ("runs_defaults_vs_bare", "POST /api/chat/runs rate at the defaults (speed 1, access log) vs bare", ">=", 0.5),
    ("resume_vs_bare", "resume 204 rate vs bare (--speed 0 --quiet)", ">=", 0.9),
    ("worlds_runs_vs_single", "POST /api/chat/runs rate over {worlds} worlds vs one world", ">=", 0.95),
    ("world_idle_kb", "memory per idle world, {idle_small:,} worlds (KB)", "<=", 16.0),
    ("world_idle_kb_large", "memory per idle world, {idle_large:,} worlds (KB)", "<=", 16.0),
    ("paced1000_complete", "1,000 slow streams: share complete", ">=", 1.0),
    ("paced1000_p99_ms", "1,000 slow streams: p99 lateness (ms)", "<=", 50.0),
    ("unpaced_vs_bare", "unpaced chunks/s vs bare", ">=", 0.95),
    ("startup_s", "start-up to first answer (s)", "<=", 0.3),
    ("soak_completed", "soak, runs over {soak_worlds} worlds: share of its {soak_minutes} run (not stopped by "
                       "--soak-rss-cap)", ">=", 1.0),
    ("soak_peak_rss_mb", "soak, runs over {soak_worlds} worlds for {soak_minutes}: peak RSS (MB)", "<=", 300.0),
    ("soak_slope_mb_per_min", "soak: RSS slope over the last half (MB/min)", "<=", 1.0),
    ("soak_rise_pct", "soak: RSS peak of the last half over its first sample (%)", "<=", 5.0),
    ("soak_check_found", "no budget pressure: share of run ids still answered 200", ">=", 1.0),
    ("soak_check_journal", "no budget pressure: share of worlds whose journal holds every POST", ">=", 1.0),
    # Kept from earlier issues (issue 22 does not ask for them; they still hold the line).
    ("paced1000_rss_mb", "1,000 slow streams: peak RSS (MB)", "<=", 400.0),
    *proxy_section.TARGETS,
]
#: The targets above that earlier issues set; latest.md lists them apart. Prism's ratio has no target any more
#: (issue 22's Done-when does not ask for one; the earlier ">= 4x Prism" is gone): it is shown as information.
EARLIER_TARGETS = {"paced1000_rss_mb", *(t[0] for t in proxy_section.TARGETS)}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- processes

@dataclass
class Pinning:
    server: set[int] | None
    client: set[int] | None

    @classmethod
    def choose(cls, enabled: bool) -> Pinning:
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if not enabled or len(cpus) < 2:
            return cls(None, None)
        return cls({cpus[0]}, {cpus[1]})

    def describe(self) -> str:
        if self.server is None:
            return "none (fewer than 2 CPUs, or --no-pin)"
        return f"servers on CPU {sorted(self.server)}, load generators on CPU {sorted(self.client or ())}"


def _preexec(cpus: set[int] | None) -> Callable[[], None]:
    def setup() -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = hard if hard != resource.RLIM_INFINITY else 65536
        if soft < target:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


def commit(paths: Sequence[str] = ("mockserver", "openapi", "fixtures")) -> str:
    """The checkout's short commit, marked when what is measured (``paths``) has uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return head.stdout.strip() + (" + uncommitted changes" if dirty else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_command(kind: str, port: int, speed: float, extra: Sequence[str] = ()) -> list[str]:
    if kind == "mock":
        return [str(VENV_BIN / "recoup-mock"), "serve", "--host", "127.0.0.1", "--port", str(port),
                "--speed", f"{speed:g}", "--quiet", *extra]
    if kind == "defaults":  # as a user starts it: speed 1, the access log on (`speed` does not apply)
        return [str(VENV_BIN / "recoup-mock"), "serve", "--host", "127.0.0.1", "--port", str(port), *extra]
    if extra and kind not in ("proxy", "bare"):
        raise ValueError(f"extra arguments are for the mock, the bare app and the proxy only, not {kind}")
    if kind == "bare":
        return [sys.executable, str(BENCH / "bare_app.py"), "--host", "127.0.0.1", "--port", str(port),
                "--speed", f"{speed:g}", *extra]
    if kind == "proxy":  # `recoup-mock proxy`: --target (and the rest) come in `extra`
        return [str(VENV_BIN / "recoup-mock"), "proxy", "--host", "127.0.0.1", "--port", str(port), *extra]
    if kind == "prism":
        return ["node", str(PRISM_JS), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "error",
                str(PRISM_DIR / "seed-spec.json")]
    raise ValueError(kind)


def probe(port: int, timeout: float = 1.0) -> int:
    """One ``GET /api/chat/{idle}/stream``; the status code, or 0 when nothing answered."""
    request = (f"GET /api/chat/{IDLE_CHAT}/stream HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-api-key: {API_KEY}\r\n"
               f"prefer: code=204\r\nconnection: close\r\n\r\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(request)
            head = s.recv(64)
    except OSError:
        return 0
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else 0


def admin_json(port: int, path: str, world: str | None = None) -> Any:
    """``GET`` an admin path of the mock (loopback), in ``world`` when given, and return its JSON."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"x-mock-world": world} if world else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def admin_status(port: int, world: str | None) -> dict[str, Any]:
    """``GET /__mock/status`` of ``world`` (the default world when None), or why it could not be read."""
    try:
        doc: dict[str, Any] = admin_json(port, "/__mock/status", world)
    except (OSError, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return doc


def evictions(status: Any) -> int | None:
    """The sum of the integer fields of a ``/__mock/status`` answer whose name says evicted (the budget's count),
    None when it has none (a mock without a budget)."""
    found = [v for k, v in (status or {}).items() if "evict" in k.lower() and isinstance(v, int)] \
        if isinstance(status, dict) else []
    nested = [n for v in (status or {}).values() if isinstance(v, dict) and (n := evictions(v)) is not None] \
        if isinstance(status, dict) else []
    return sum(found) + sum(nested) if found or nested else None


def flatness(samples: Sequence[tuple[float, int]], seconds: float) -> dict[str, Any]:
    """RSS over the soak's last half (the samples at or after ``seconds`` / 2): the least-squares slope in
    MB/min, its min and max, and how far its max rose above its first sample (%). "Flat" is slope <= 1 MB/min
    and that rise <= 5 % (`TARGETS`)."""
    half = [(t, kb) for t, kb in samples if t >= seconds / 2]
    if len(half) < 3:
        return {"slope_mb_per_min": None, "rise_pct": None, "last_half_samples": len(half)}
    first, low, high = half[0][1], min(kb for _, kb in half), max(kb for _, kb in half)
    return {"last_half_samples": len(half), "last_half_from_s": half[0][0],
            "slope_mb_per_min": _slope([(t / 60, kb / 1024) for t, kb in half]),
            "last_half_first_mb": first / 1024, "last_half_min_mb": low / 1024, "last_half_max_mb": high / 1024,
            "rise_pct": (high - first) / first * 100}


class Resumer:
    """One keep-alive connection sending ``GET /api/chat/{idle}/stream`` (204, no body) in a given world."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def __enter__(self) -> Resumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def resume(self, world: str | None) -> None:
        header = f"x-mock-world: {world}\r\n" if world else ""
        self.sock.sendall(f"GET /api/chat/{IDLE_CHAT}/stream HTTP/1.1\r\nhost: 127.0.0.1:{self.port}\r\n"
                          f"x-api-key: {API_KEY}\r\n{header}\r\n".encode())
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"the mock closed the connection (world {world})")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 204"):
            raise RuntimeError(f"expected 204 in world {world}, got: {head[:200]!r}")


@dataclass
class Server:
    kind: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    spawned: float
    ready_s: float = 0.0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def status(self) -> dict[str, int]:
        """VmHWM (peak RSS) and VmRSS of the server process, in kB."""
        out: dict[str, int] = {}
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith(("VmHWM:", "VmRSS:")):
                    out[line.split(":")[0]] = int(line.split()[1])
        return out

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, and SIGKILL if the server has not exited within ``timeout`` seconds."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        _RUNNING.discard(self)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    __hash__ = object.__hash__


_RUNNING: set[Server] = set()


def wrk_result(returncode: int, stdout: str, stderr: str) -> dict[str, Any]:
    """The WRK_JSON line `bench/wrk/report.lua` prints, with the rate and the error count added."""
    line = next((ln for ln in stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if returncode or line is None:
        raise RuntimeError(f"wrk failed ({returncode}): {stdout[-800:]} {stderr[-800:]}")
    out: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    out["rps"] = out["requests"] / (out["duration_us"] / 1e6)
    out["error_count"] = sum(out["errors"].values())
    return out


def count_lines(path: Path) -> int:
    """Lines in a server's output file (the access log of the `defaults` mock), read in blocks."""
    lines = 0
    with contextlib.suppress(OSError), path.open("rb") as f:
        while block := f.read(1 << 20):
            lines += block.count(b"\n")
    return lines


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pin = Pinning.choose(not args.no_pin)
        self.tmp = Path(tempfile.mkdtemp(prefix="recoup-bench-"))
        self.errors: list[str] = []

    # -- servers

    def start(self, kind: str, speed: float = 0.0, ready_timeout: float = 30.0, extra: Sequence[str] = (),
              env: dict[str, str] | None = None, wrap: Sequence[str] = ()) -> Server:
        """Spawn ``kind`` on a free loopback port and wait for its first 204; ``extra`` arguments (not Prism's) and
        ``env`` variables are added to the command and to this process's environment; ``wrap`` goes before the
        command (``valgrind ...``: `bench/instructions.py`)."""
        port = free_port()
        log_path = self.tmp / f"{kind}-{port}.log"
        with log_path.open("wb") as out:
            spawned = time.perf_counter()
            proc = subprocess.Popen([*wrap, *server_command(kind, port, speed, extra)], cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env={**os.environ, **env} if env else None,
                                    preexec_fn=_preexec(self.pin.server), start_new_session=True)
        server = Server(kind, port, proc, log_path, spawned)
        _RUNNING.add(server)
        deadline = spawned + ready_timeout
        while time.perf_counter() < deadline:
            if probe(port, 0.5) == 204:
                server.ready_s = time.perf_counter() - spawned
                return server
            if proc.poll() is not None:
                break
            time.sleep(0.002)
        server.stop()
        raise RuntimeError(f"{kind} did not answer 204 within {ready_timeout:g} s (exit {proc.poll()}):\n"
                           f"{server.log_tail()}")

    @contextlib.contextmanager
    def serving(self, kind: str, speed: float = 0.0, extra: Sequence[str] = (),
                env: dict[str, str] | None = None) -> Iterator[Server]:
        server = self.start(kind, speed, extra=extra, env=env)
        try:
            yield server
        finally:
            server.stop()

    # -- load generators

    def client(self, argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=_preexec(self.pin.client), stdin=subprocess.DEVNULL)

    def wrk_argv(self, script: str, port: int, duration: float, script_args: Sequence[str] = ()) -> list[str]:
        argv = ["wrk", "-t1", f"-c{self.args.connections}", f"-d{duration:g}s", "-s", str(BENCH / "wrk" / script),
                f"http://127.0.0.1:{port}/"]
        return [*argv, "--", *script_args] if script_args else argv

    def wrk(self, script: str, port: int, duration: float, script_args: Sequence[str] = ()) -> dict[str, Any]:
        done = self.client(self.wrk_argv(script, port, duration, script_args), timeout=duration + 60)
        return wrk_result(done.returncode, done.stdout, done.stderr)

    def wrk_background(self, script: str, port: int, duration: float,
                       script_args: Sequence[str] = ()) -> subprocess.Popen[str]:
        """wrk as in `wrk`, started and left running (on the client CPU): `wrk_result` of its output when it ends."""
        return subprocess.Popen(self.wrk_argv(script, port, duration, script_args), cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                preexec_fn=_preexec(self.pin.client), start_new_session=True)

    def client_json(self, argv: Sequence[str], timeout: float) -> dict[str, Any]:
        """Run ``bench/<argv[0]>`` with the rest of ``argv`` on the client CPU; its last stdout line, as JSON."""
        command = [sys.executable, str(BENCH / argv[0]), *argv[1:]]
        if self.pin.client:
            command += ["--cpu", str(min(self.pin.client))]
        done = self.client(command, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{argv[0]} {argv[1]} failed ({done.returncode}): {done.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    def streams(self, mode: str, port: int, extra: Sequence[str], timeout: float) -> dict[str, Any]:
        argv = [sys.executable, str(BENCH / "streams.py"), mode, "--port", str(port), *extra]
        if self.pin.client:
            argv += ["--cpu", str(min(self.pin.client))]
        done = self.client(argv, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"streams.py {mode} failed ({done.returncode}): {done.stderr[-1500:]}")
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    # -- sections

    def section(self, name: str, results: dict[str, Any], body: Callable[[], Any]) -> None:
        if self.args.only and name not in self.args.only:
            return
        log(f"section {name}")
        started = time.perf_counter()
        results[name] = self._guarded(name, body)
        results.setdefault("section_seconds", {})[name] = round(time.perf_counter() - started, 1)

    def available(self, kind: str) -> str | None:
        """None when ``kind`` can run here, else why not."""
        if kind == "prism" and not PRISM_JS.exists():
            return f"Prism is not installed ({PRISM_JS.relative_to(ROOT)} missing: run `npm ci` in bench/prism)"
        return None

    def startup(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in SERVERS:
            if reason := self.available(kind):
                out[kind] = {"error": reason}
                continue
            samples = []
            for _ in range(self.args.startup_runs):
                server = self.start(kind, speed=0.0)
                samples.append(server.ready_s)
                server.stop()
            out[kind] = {"samples_s": samples, "median_s": statistics.median(samples)}
            log(f"  start-up {kind}: median {statistics.median(samples):.3f} s of {samples}")
        return out

    def rates(self) -> dict[str, Any]:
        """Each of `RATE_SERVERS` on a fresh server a round, the order alternating by round. The `defaults` mock
        (runs only) writes its access log to a file beside the other servers' output, on the bench's temporary
        directory: the lines are counted afterwards (`log_lines`), the proof that it logged one per request."""
        routes = {"resume": "resume_idle.lua", "runs": "post_runs.lua"}
        out: dict[str, Any] = {route: {kind: {"rounds": []} for kind in RATE_SERVERS} for route in routes}
        del out["resume"]["defaults"]
        out["defaults_log_sink"] = f"a file on {filesystem(self.tmp)} (the server's stdout and stderr)"
        for round_no in range(self.args.rounds):
            order = list(RATE_SERVERS) if round_no % 2 == 0 else list(reversed(RATE_SERVERS))
            for kind in order:
                kind_routes = {r: s for r, s in routes.items() if kind in out[r]}
                if reason := self.available(kind):
                    for route in kind_routes:
                        out[route][kind]["error"] = reason
                    continue
                # One fresh server a round; resume first, since POST /api/chat/runs leaves runs behind.
                with self.serving(kind) as server:
                    answered = 0
                    for route, script in kind_routes.items():
                        if self.args.warmup > 0:
                            answered += self.wrk(script, server.port, self.args.warmup)["requests"]
                        result = self.wrk(script, server.port, self.args.duration)
                        answered += result["requests"]
                        result["rss_kb_after"] = server.status().get("VmRSS")
                        out[route][kind]["rounds"].append(result)
                        log(f"  round {round_no + 1} {kind:8} {route:6} {result['rps']:9.0f} req/s  "
                            f"p50 {result['latency_us']['p50'] / 1000:.2f} ms  p99 "
                            f"{result['latency_us']['p99'] / 1000:.2f} ms  errors {result['error_count']}")
                if kind == "defaults":  # counted once the server has stopped (and flushed what it buffered)
                    lines = count_lines(server.log_path)
                    result["log_lines"], result["requests_answered"] = lines, answered
                    result["log_bytes"] = server.log_path.stat().st_size
                    log(f"  round {round_no + 1} defaults: {lines:,} output lines for {answered:,} requests")
        for route in routes:
            for kind in RATE_SERVERS:
                if kind not in out[route]:
                    continue
                rounds = out[route][kind]["rounds"]
                if rounds:
                    good = [r for r in rounds if r["error_count"] == 0] or rounds
                    out[route][kind]["best"] = max(good, key=lambda r: r["rps"])
                    out[route][kind]["spread"] = [round(r["rps"]) for r in rounds]
        return out

    def worlds(self) -> dict[str, Any]:
        """Isolated worlds (``x-mock-world``): the runs rate spread over many worlds against one world, and the
        memory an idle world costs. Each part is kept when the other fails."""
        return self._parts("worlds", {"rates": self.world_rates, "memory": self.world_memory})

    def world_rates(self) -> dict[str, Any]:
        """``POST /api/chat/runs`` as in ``rates``, on the default world (``post_runs.lua``, the same request as
        there) and spread over ``--worlds`` worlds, one after another per request (``post_runs_worlds.lua``).
        A fresh mock per (round, variant), the order alternating by round; the warm-up creates the worlds.
        With ``--worlds-no-keep`` (the default) the same pair runs again on mocks that keep nothing
        (`NO_KEEP`): what a world costs per request, apart from the state every world keeps."""
        n = self.args.worlds
        variants: dict[str, tuple[str, tuple[str, ...], dict[str, str] | None]] = {
            "single": ("post_runs.lua", (), None), "spread": ("post_runs_worlds.lua", (str(n),), None)}
        if self.args.worlds_no_keep:
            variants["single_no_keep"] = ("post_runs.lua", (), NO_KEEP)
            variants["spread_no_keep"] = ("post_runs_worlds.lua", (str(n),), NO_KEEP)
        out: dict[str, Any] = {"worlds": n, "no_keep_env": NO_KEEP if self.args.worlds_no_keep else None,
                               **{v: {"rounds": []} for v in variants}}
        for round_no in range(self.args.rounds):
            for variant in list(variants) if round_no % 2 == 0 else list(reversed(variants)):
                script, script_args, env = variants[variant]
                with self.serving("mock", env=env) as server:
                    if self.args.warmup > 0:
                        self.wrk(script, server.port, self.args.warmup, script_args)
                    result = self.wrk(script, server.port, self.args.duration, script_args)
                    result["rss_kb_after"] = server.status().get("VmRSS")
                    result["worlds_live"] = len(admin_json(server.port, "/__mock/worlds")["worlds"])
                out[variant]["rounds"].append(result)
                log(f"  worlds round {round_no + 1} {variant:14} {result['rps']:9.0f} req/s  "
                    f"p50 {result['latency_us']['p50'] / 1000:.2f} ms  p99 {result['latency_us']['p99'] / 1000:.2f} ms"
                    f"  errors {result['error_count']}  worlds live {result['worlds_live']}")
        for variant in variants:
            rounds = out[variant]["rounds"]
            good = [r for r in rounds if r["error_count"] == 0] or rounds
            out[variant]["best"] = max(good, key=lambda r: r["rps"])
            out[variant]["spread"] = [round(r["rps"]) for r in rounds]
        # Each round's own ratio (spread ÷ single of the same round): how much the noise moves it.
        for suffix in ("", "_no_keep"):
            if f"spread{suffix}" in out:
                out[f"round_ratios{suffix}"] = [
                    round(s["rps"] / o["rps"], 3)
                    for s, o in zip(out[f"spread{suffix}"]["rounds"], out[f"single{suffix}"]["rounds"], strict=True)]
        return out

    def world_memory(self) -> dict[str, Any]:
        """RSS growth of a fresh mock per idle world, for each N of ``--idle-worlds``, ``--memory-rounds`` times
        each (a fresh server each time); the median round counts."""
        out: dict[str, Any] = {"warm_worlds": WARM_WORLDS}
        for n in self.args.idle_worlds:
            rounds = [self.idle_worlds_once(n) for _ in range(self.args.memory_rounds)]
            for r in rounds:
                log(f"  idle worlds N={n}: {r['kb_per_world']:.1f} KB/world (RSS {r['rss_kb_before'] / 1024:.1f} -> "
                    f"{r['rss_kb_after'] / 1024:.1f} MB; slope {r['slope_kb_per_world']:.1f} KB/world; "
                    f"{r['create_ms_per_world']:.2f} ms/world; limit {r['max_worlds']})")
            per_world = [r["kb_per_world"] for r in rounds]
            out[str(n)] = {"kb_per_world": statistics.median(per_world), "spread": [round(x, 1) for x in per_world],
                           "rounds": rounds}
        return out

    def idle_worlds_once(self, n: int) -> dict[str, Any]:
        """One fresh mock (``--speed 0 --quiet``; ``--max-worlds`` raised only when N + the warm-up worlds + the
        default one would pass the default limit): warm up, read VmRSS, make N worlds with one resume of the idle
        chat each (204) on one keep-alive connection, reading VmRSS every N/10 worlds, then read it again."""
        needed = n + WARM_WORLDS + 1
        limit = max(needed, DEFAULT_MAX_WORLDS)
        extra = ["--max-worlds", str(limit)] if needed > DEFAULT_MAX_WORLDS else []
        with self.serving("mock", extra=extra) as server, Resumer(server.port) as client:
            for _ in range(self.args.memory_warmup):  # the default world: the request path's first-use costs
                client.resume(None)
            for i in range(WARM_WORLDS):
                client.resume(f"warm-{i}")
            time.sleep(0.2)
            before = server.status()["VmRSS"]
            checkpoints = [(0, before)]
            step = max(1, n // 10)
            started = time.perf_counter()
            for i in range(n):
                client.resume(f"idle-{i}")
                if (i + 1) % step == 0 and i + 1 < n:
                    checkpoints.append((i + 1, server.status()["VmRSS"]))
            create_s = time.perf_counter() - started
            time.sleep(0.2)
            after = server.status()["VmRSS"]
            checkpoints.append((n, after))
            live = len(admin_json(server.port, "/__mock/worlds")["worlds"])
            if live != needed:
                raise RuntimeError(f"{live} worlds live after making {n} (expected {needed}): some were dropped")
        return {"n": n, "max_worlds": limit, "rss_kb_before": before, "rss_kb_after": after,
                "kb_per_world": (after - before) / n, "slope_kb_per_world": _slope(checkpoints),
                "checkpoints": checkpoints, "create_ms_per_world": create_s * 1000 / n, "worlds_live": live}

    def paced(self) -> dict[str, Any]:
        """Each (N, server) ``--paced-rounds`` times on a fresh server; the round with the lowest p99 counts."""
        out: dict[str, Any] = {"schedule_check": self.schedule_check()}
        for n in self.args.paced_n:
            rounds: dict[str, list[dict[str, Any]]] = {"mock": [], "bare": []}
            for round_no in range(self.args.paced_rounds):
                for kind in ("mock", "bare") if round_no % 2 == 0 else ("bare", "mock"):
                    with self.serving(kind, speed=1.0) as server:
                        fresh = "api" if kind == "mock" else "random"
                        result = self.streams("paced", server.port, ["--n", str(n), "--fresh-chats", fresh,
                                                                     "--timeout", str(self.args.stream_timeout)],
                                              timeout=self.args.stream_timeout + 120)
                        result["peak_rss_mb"] = server.status().get("VmHWM", 0) / 1024
                    rounds[kind].append(result)
                    lat = result["lateness_ms"]
                    log(f"  paced N={n} round {round_no + 1} {kind}: {result['completed']}/{n} complete, lateness "
                        f"p50 {_fmt(lat['p50'])} p99 {_fmt(lat['p99'])} ms, TTFB p50 "
                        f"{_fmt(result['ttfb_ms']['p50'])} ms, peak RSS {result['peak_rss_mb']:.0f} MB")
            out[str(n)] = {}
            for kind, results in rounds.items():
                best = min(results, key=lambda r: (-r["completed"], r["lateness_ms"]["p99"] or float("inf")))
                out[str(n)][kind] = {**best, "rounds": [
                    {"completed": r["completed"], "lateness_p99_ms": r["lateness_ms"]["p99"],
                     "ttfb_p50_ms": r["ttfb_ms"]["p50"], "peak_rss_mb": r["peak_rss_mb"]} for r in results]}
        return out

    def schedule_check(self) -> dict[str, Any]:
        """The bare app paces the ``slow`` bytes on the mock's own schedule (or the comparison is off)."""
        sys.path.insert(0, str(ROOT))
        sys.path.insert(0, str(BENCH))
        import bare_app

        from mockserver.streams.engine import schedule
        from mockserver.streams.scenarios import load_scenarios

        due = schedule(load_scenarios(ROOT / "fixtures" / "scenarios")["slow"], random.Random(0), 1.0)
        same = [round(d, 6) for d in due[1:]] == [round(d, 6) for d in bare_app.DUE]
        return {"bare_matches_mock_schedule": same, "chunks": len(due), "last_due_s": due[-1]}

    def unpaced(self) -> dict[str, Any]:
        out: dict[str, Any] = {kind: {"rounds": []} for kind in ("mock", "bare")}
        common = ["--streams", str(self.args.unpaced_streams), "--duration", str(self.args.unpaced_duration),
                  "--concurrency", str(self.args.connections)]
        for round_no in range(self.args.rounds):
            for kind in ("mock", "bare") if round_no % 2 == 0 else ("bare", "mock"):
                with self.serving(kind, speed=0.0) as server:
                    fresh = "api" if kind == "mock" else "random"
                    result = self.streams("unpaced", server.port, [*common, "--fresh-chats", fresh],
                                          timeout=self.args.unpaced_duration + 180)
                    result["peak_rss_mb"] = server.status().get("VmHWM", 0) / 1024
                    out[kind]["rounds"].append(result)
                    if result["failed"]:  # a stream that failed is a measurement not taken, not a slow one
                        self.errors.append(f"unpaced: {kind} round {round_no + 1}: {result['failed']} streams "
                                           f"failed: {result['errors']}")
                    log(f"  unpaced round {round_no + 1} {kind}: {result['chunks_per_s']:.0f} chunks/s, "
                        f"{result['streams_per_s']:.0f} streams/s ({result['streams']} streams, "
                        f"{result['failed']} failed)")
        for kind in ("mock", "bare"):
            rounds = out[kind]["rounds"]
            out[kind]["best"] = max(rounds, key=lambda r: r["chunks_per_s"])
            out[kind]["spread"] = [round(r["chunks_per_s"]) for r in rounds]
        mock_body = out["mock"]["best"].get("sample_body", "")
        bare_body = out["bare"]["best"].get("sample_body", "")
        out["same_bytes"] = _normalise(mock_body) == _normalise(bare_body) and bool(mock_body)
        out["body_bytes"] = {"mock": len(mock_body.encode()), "bare": len(bare_body.encode())}
        for kind in ("mock", "bare"):
            for r in out[kind]["rounds"]:
                r.pop("sample_body", None)
        return out

    def contract(self) -> dict[str, Any]:
        exe = str(VENV_BIN / "recoup-mock")
        probe_help = subprocess.run([exe, "contract", "--help"], cwd=ROOT, capture_output=True, text=True,
                                    timeout=60, stdin=subprocess.DEVNULL)
        if probe_help.returncode != 0:
            return {"available": False, "reason": "`recoup-mock contract --help` failed: "
                                                  + (probe_help.stderr.strip().splitlines() or ["?"])[-1]}
        argv = [exe, "contract", "--api-key", API_KEY, "--other-api-key", "recoup_sk_test_bob"]
        started = time.perf_counter()
        try:
            done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=self.args.contract_timeout,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        except subprocess.TimeoutExpired:
            return {"available": True, "exit_code": None, "duration_s": time.perf_counter() - started,
                    "reason": f"timed out after {self.args.contract_timeout:g} s"}
        duration = time.perf_counter() - started
        log(f"  contract: exit {done.returncode} in {duration:.1f} s")
        return {"available": True, "exit_code": done.returncode, "duration_s": duration, "command": " ".join(argv[1:]),
                "output_tail": (done.stdout + done.stderr)[-1500:]}

    def soak(self) -> dict[str, Any]:
        """``--soak-seconds`` of ``POST /api/chat/runs`` over ``--soak-worlds`` worlds (``post_runs_worlds.lua``)
        against one mock at ``--speed 0 --quiet`` with its default memory budget, its VmRSS read every
        ``--soak-sample`` seconds; then the "nothing lost" check on a fresh mock. Each part is kept when the
        other fails."""
        return self._parts("soak", {"load": self.soak_load, "check": self.soak_check})

    def _parts(self, section: str, parts: dict[str, Callable[[], dict[str, Any]]]) -> dict[str, Any]:
        """Each part's figures, or its error (noted in the run's errors) when it failed: the others are kept."""
        return {part: self._guarded(f"{section} {part}", body) for part, body in parts.items()}

    def _guarded(self, label: str, body: Callable[[], Any]) -> Any:
        """``body()``'s figures, or ``{"error": ...}`` when it failed (noted in the run's errors and logged)."""
        try:
            return body()
        except Exception as exc:
            message = f"{label}: {type(exc).__name__}: {exc}"
            self.errors.append(message)
            log("FAILED " + message)
            traceback.print_exc()
            return {"error": message}

    def soak_extra(self) -> list[str]:
        """``--max-worlds`` raised to the soak's worlds + the default world when that passes the default limit
        (256 counts the default world, so 256 named worlds need 257); nothing else: the budget is the default."""
        needed = self.args.soak_worlds + 1
        return ["--max-worlds", str(needed)] if needed > DEFAULT_MAX_WORLDS else []

    def soak_load(self) -> dict[str, Any]:
        seconds, n, every = self.args.soak_seconds, self.args.soak_worlds, self.args.soak_sample
        extra = self.soak_extra()
        with self.serving("mock", extra=extra) as server:
            start_rss = server.status().get("VmRSS", 0)
            load = self.wrk_background("post_runs_worlds.lua", server.port, seconds, (str(n),))
            started = time.perf_counter()
            samples: list[tuple[float, int]] = [(0.0, start_rss)]
            deadline = started + seconds + 60
            next_at = started + every
            stopped: str | None = None
            try:
                while load.poll() is None and time.perf_counter() < deadline:
                    time.sleep(max(0.0, min(next_at, deadline) - time.perf_counter()))
                    next_at += every
                    if load.poll() is None and (rss := server.status().get("VmRSS")):
                        samples.append((round(time.perf_counter() - started, 2), rss))
                        if len(samples) % max(1, round(60 / every)) == 0:
                            log(f"  soak {samples[-1][0]:6.0f} s: RSS {rss / 1024:.0f} MB")
                        if rss > self.args.soak_rss_cap * 1024:  # a mock without a bound: spare the machine
                            stopped = (f"stopped after {samples[-1][0]:.0f} s: RSS {rss / 1024:.0f} MB passed "
                                       f"--soak-rss-cap {self.args.soak_rss_cap:g} MB")
                            log("  soak " + stopped)
                            load.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
                            break
                stdout, stderr = load.communicate(timeout=max(1.0, deadline - time.perf_counter()))
            finally:
                if load.poll() is None:
                    load.kill()
                    load.communicate()
            result = wrk_result(load.returncode, stdout, stderr)
            status = server.status()
            worlds_live = len(admin_json(server.port, "/__mock/worlds")["worlds"])
            mock_status = {w: admin_status(server.port, w) for w in (None, "w-0")}
        ran = samples[-1][0] if stopped else seconds
        out = {"worlds": n, "seconds": seconds, "sample_every_s": every, "extra_args": extra,
               "stopped_early": stopped, "ran_s": ran, "wrk": result, "rss_samples": samples,
               "peak_rss_kb": status.get("VmHWM"),
               "rss_kb_end": status.get("VmRSS"), "worlds_live": worlds_live, "status": mock_status,
               **flatness(samples, ran)}
        log(f"  soak: {result['rps']:.0f} req/s, {result['error_count']} errors, peak RSS "
            f"{(out['peak_rss_kb'] or 0) / 1024:.0f} MB, last half slope {_fmt(out['slope_mb_per_min'], 2)} MB/min, "
            f"rise {_fmt(out['rise_pct'], 1)} %, {worlds_live} worlds live")
        return out

    def soak_check(self) -> dict[str, Any]:
        """A fresh mock as in the soak; ``--soak-check-runs`` runs (few enough that the budget is never reached)
        over the same worlds, every run id a 202 gave back asked for again (``bench/streams.py runs``)."""
        extra = self.soak_extra()
        with self.serving("mock", extra=extra) as server:
            result = self.streams("runs", server.port, ["--n", str(self.args.soak_check_runs),
                                                        "--worlds", str(self.args.soak_worlds),
                                                        "--concurrency", str(self.args.connections),
                                                        "--timeout", "600"], timeout=660)
            result["rss_kb_end"] = server.status().get("VmRSS")
            result["status"] = admin_status(server.port, None)
        log(f"  soak check: {result['accepted']:,} of {result['n']:,} runs accepted, {result['found']:,} still "
            f"answered, {result['journal_worlds_short']} of {result['worlds']} worlds' journals short")
        return result

    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        results: dict[str, Any] = {"meta": self.meta()}
        self.section("startup", results, self.startup)
        self.section("rates", results, self.rates)
        self.section("worlds", results, self.worlds)
        self.section("paced", results, self.paced)
        self.section("unpaced", results, self.unpaced)
        self.section("contract", results, self.contract)
        self.section("proxy", results, lambda: proxy_section.run(self, log))
        self.section("soak", results, self.soak)
        results["meta"]["wall_s"] = round(time.perf_counter() - started, 1)
        results["meta"]["loadavg_after"] = os.getloadavg()
        results["errors"] = self.errors
        results["targets"] = evaluate(results)
        return results

    def meta(self) -> dict[str, Any]:
        def version(argv: list[str]) -> str:
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
                return (done.stdout + done.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.TimeoutExpired):
                return "not available"

        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as pkg_version

        packages = {}
        for name in ("starlette", "uvicorn", "uvloop", "httptools", "openapi-core", "recoup-mock"):
            try:
                packages[name] = pkg_version(name)
            except PackageNotFoundError:
                packages[name] = "not installed"
        prism_version = "not installed"
        with contextlib.suppress(OSError, ValueError):
            prism_version = json.loads((PRISM_JS.parent.parent / "package.json").read_text())["version"]
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), platform.processor())
        a = self.args
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": commit(),
            "cpu": cpu, "cpus": os.cpu_count(),
            "python": platform.python_version(), "node": version(["node", "--version"]),
            "wrk": version(["wrk", "--version"]), "prism": prism_version, "packages": packages,
            "pinning": self.pin.describe(), "loadavg_before": os.getloadavg(),
            "settings": {"wrk": f"-t1 -c{a.connections} -d{a.duration:g}s (warm-up {a.warmup:g} s)",
                         "rounds": a.rounds, "paced_rounds": a.paced_rounds, "paced_n": a.paced_n,
                         "unpaced_streams": a.unpaced_streams, "unpaced_duration_s": a.unpaced_duration,
                         "startup_runs": a.startup_runs, "worlds": a.worlds, "worlds_no_keep": a.worlds_no_keep,
                         "idle_worlds": a.idle_worlds,
                         "memory_rounds": a.memory_rounds, "memory_warmup": a.memory_warmup,
                         "soak_seconds": a.soak_seconds, "soak_worlds": a.soak_worlds, "soak_sample_s": a.soak_sample,
                         "soak_check_runs": a.soak_check_runs},
        }


def filesystem(path: Path) -> str:
    """The type and mount point of the filesystem ``path`` is on (from /proc/mounts), e.g. ``ext4 (/)``."""
    best = ("?", "/")
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and str(path.resolve()).startswith(fields[1].rstrip("/") + "/") \
                    and len(fields[1]) >= len(best[1]):
                best = (fields[2], fields[1])
    return f"{best[0]} ({best[1]}, {path})"


def _normalise(body: str) -> str:
    return re.sub(r'"messageId":"[^"]*"', '"messageId":"…"', body)


def _worlds_note(r: dict[str, Any]) -> str:
    s = r["meta"]["settings"]
    if "worlds" not in r:
        return "- Worlds: not run."
    ratios = _get(r, "worlds", "rates", "round_ratios") or []
    return (
        f"- Worlds (`x-mock-world`): the runs request above, on the default world (`post_runs.lua`) and spread over "
        f"{s.get('worlds')} worlds, `w-0` .. `w-{(s.get('worlds') or 1) - 1}` in turn, one per request "
        f"(`post_runs_worlds.lua`; the warm-up creates them); same wrk settings, a fresh mock per variant and round, "
        f"order alternating, best of {s['rounds']} rounds each; each round's own ratio: "
        f"{', '.join(f'{x:.2f}' for x in ratios) or 'n/a'}. Finished runs (1,000) and the journal (10,000 requests) "
        f"are kept per world, so over many worlds the mock keeps many times what one world keeps (RSS after, above)"
        + (f"; the pair 'keeping nothing' runs with {', '.join(f'`{k}={v}`' for k, v in NO_KEEP.items())}, each "
           f"round's own ratio: {', '.join(f'{x:.2f}' for x in nk) or 'n/a'}"
           if (nk := _get(r, "worlds", "rates", "round_ratios_no_keep")) is not None else "")
        + f". Idle worlds: a fresh mock, {s.get('memory_warmup')} "
        f"requests to the default world and {WARM_WORLDS} warm-up worlds, then `VmRSS`; then N new worlds, one "
        f"resume of the idle chat (204) each, on one keep-alive connection, then `VmRSS` again: (after - before) / N; "
        f"the slope is the least-squares fit of RSS read every N/10 worlds; the median of "
        f"{s.get('memory_rounds')} rounds counts; `--max-worlds` raised only above the default 256.")


def _duration(seconds: float) -> str:
    """``600`` -> ``10 min``, ``20`` -> ``20 s``."""
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


def _target_line(t: dict[str, Any]) -> str:
    return (f"- {t['label']}: {_fmt(t['value'], 2)} (target {t['op']} {t['target']:g}) → "
            f"{'met' if t['met'] else 'not met' if t['met'] is not None else 'not measured'}")


def _soak_note(r: dict[str, Any]) -> str:
    sl, sc = _get(r, "soak", "load"), _get(r, "soak", "check")
    if sl is None and sc is None:
        return "- Soak: not run."
    text = "- Soak: "
    if sl and "error" not in sl:
        raised = " ".join(sl["extra_args"])
        text += (f"one mock at `--speed 0 --quiet` with its default memory budget"
                 f"{f' and `{raised}` (the named worlds and the default one)' if raised else ''}, "
                 f"wrk {r['meta']['settings']['wrk'].split(' -d')[0]} for {_duration(sl['seconds'])} with "
                 f"`post_runs_worlds.lua {sl['worlds']}` (`x-mock-world: w-0` .. `w-{sl['worlds'] - 1}`, in turn); "
                 f"`VmRSS` read every {sl['sample_every_s']:g} s ({len(sl['rss_samples'])} samples), peak RSS is "
                 "`VmHWM` at the end. Flat means: over the last half (the samples from "
                 f"{sl.get('last_half_from_s', 0):.0f} s on), the least-squares slope ≤ 1 MB/min and the highest "
                 "sample ≤ 5 % above the first. ")
    if sc and "error" not in sc:
        text += (f"No budget pressure: a fresh mock, the same flags, {sc['n']:,} `POST /api/chat/runs` over "
                 f"{sc['worlds']} worlds in turn ({sc['concurrency']} connections, `bench/streams.py runs`); every "
                 "`Location` a 202 gave back asked for again (`GET /api/chat/runs/{runId}`, 200 expected), then "
                 "each world's journal (`GET /__mock/requests?method=POST&path=/api/chat/runs`), which must hold "
                 f"every POST sent to it; RSS at the end {cell_mb(sc.get('rss_kb_end'))} MB; evictions in "
                 f"`/__mock/status`: {'not reported' if (e := evictions(sc.get('status'))) is None else e}.")
    return text


def cell_mb(kb: Any) -> str:
    return "—" if not isinstance(kb, int | float) else f"{kb / 1024:,.0f}"


def _said(value: Any) -> str:
    return "not run" if value is None else str(value)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


# --------------------------------------------------------------------------------------------- figures

def _get(doc: Any, *path: Any) -> Any:
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return None
        doc = doc[key]
    return doc


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (x, y): for (worlds, RSS kB), kB per world, the idle worlds' linearity check; for
    (minutes, RSS MB), the soak's MB/min."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def _idle_ns(r: dict[str, Any]) -> tuple[int | None, int | None]:
    """The smallest and the largest N of the idle-world memory test (None when it was not run)."""
    ns = sorted(int(k) for k in (_get(r, "worlds", "memory") or {}) if k.isdigit())
    ns = ns or sorted(_get(r, "meta", "settings", "idle_worlds") or [])
    return (ns[0], ns[-1]) if ns else (None, None)


def figures(r: dict[str, Any]) -> dict[str, float | None]:
    rps = {(route, kind): _get(r, "rates", route, kind, "best", "rps") for route in ("runs", "resume")
           for kind in RATE_SERVERS}
    peak = _get(r, "soak", "load", "peak_rss_kb")
    check = _get(r, "soak", "check") or {}
    n1000 = _get(r, "paced", "1000", "mock")
    small, large = _idle_ns(r)
    unpaced = {kind: _get(r, "unpaced", kind, "best", "chunks_per_s") for kind in ("mock", "bare")}
    return {
        "runs_vs_bare": _ratio(rps["runs", "mock"], rps["runs", "bare"]),
        "runs_defaults_vs_bare": _ratio(rps["runs", "defaults"], rps["runs", "bare"]),
        "soak_peak_rss_mb": None if peak is None else peak / 1024,
        "soak_completed": _ratio(_get(r, "soak", "load", "ran_s"), _get(r, "soak", "load", "seconds")),
        "soak_slope_mb_per_min": _get(r, "soak", "load", "slope_mb_per_min"),
        "soak_rise_pct": _get(r, "soak", "load", "rise_pct"),
        "soak_check_found": _ratio(check.get("found"), check.get("accepted")),
        "soak_check_journal": None if "journal_worlds_short" not in check else
        (check["worlds"] - check["journal_worlds_short"]) / check["worlds"],
        "runs_vs_prism": _ratio(rps["runs", "mock"], rps["runs", "prism"]),
        "resume_vs_bare": _ratio(rps["resume", "mock"], rps["resume", "bare"]),
        "resume_vs_prism": _ratio(rps["resume", "mock"], rps["resume", "prism"]),
        "paced1000_complete": _ratio(_get(n1000, "completed"), _get(n1000, "n")),
        "paced1000_p99_ms": _get(n1000, "lateness_ms", "p99"),
        "paced1000_rss_mb": _get(n1000, "peak_rss_mb"),
        "unpaced_vs_bare": _ratio(unpaced["mock"], unpaced["bare"]),
        "startup_s": _get(r, "startup", "mock", "median_s"),
        "worlds_runs_vs_single": _ratio(_get(r, "worlds", "rates", "spread", "best", "rps"),
                                        _get(r, "worlds", "rates", "single", "best", "rps")),
        "worlds_runs_vs_single_no_keep": _ratio(_get(r, "worlds", "rates", "spread_no_keep", "best", "rps"),
                                                _get(r, "worlds", "rates", "single_no_keep", "best", "rps")),
        "world_idle_kb": _get(r, "worlds", "memory", str(small), "kb_per_world"),
        "world_idle_kb_large": _get(r, "worlds", "memory", str(large), "kb_per_world") if large != small else None,
        **proxy_section.figures(r),
    }


def evaluate(r: dict[str, Any]) -> list[dict[str, Any]]:
    values = figures(r)
    small, large = _idle_ns(r)
    soak_s = _get(r, "soak", "load", "seconds") or _get(r, "meta", "settings", "soak_seconds") or SOAK_SECONDS
    names = {"worlds": _get(r, "meta", "settings", "worlds") or "N", "idle_small": small or 0,
             "idle_large": large or 0, "soak_minutes": _duration(soak_s),
             "soak_worlds": _get(r, "soak", "load", "worlds") or _get(r, "meta", "settings", "soak_worlds")
             or SOAK_WORLDS}
    out = []
    for key, template, op, target in TARGETS:
        if key == "world_idle_kb_large" and large == small:
            continue  # one N only: no second figure
        label = template.format(**names)
        value = values.get(key)
        met = None if value is None else (value >= target if op == ">=" else value <= target)
        out.append({"key": key, "label": label, "op": op, "target": target, "value": value, "met": met,
                    "source": "earlier" if key in EARLIER_TARGETS else "issue 22"})
    return out


# --------------------------------------------------------------------------------------------- reports

def markdown(r: dict[str, Any]) -> str:
    m = r["meta"]
    values = figures(r)
    targets = {t["key"]: t for t in r["targets"]}

    def met(key: str) -> str:
        t = targets.get(key)
        if t is None or t["met"] is None:
            return "n/a"
        return "yes" if t["met"] else "**no**"

    def target(key: str) -> str:
        t = targets.get(key)
        if t is None:
            return "—"
        return f"{'≥' if t['op'] == '>=' else '≤'} {t['target']:g}"

    rows: list[tuple[str, str, str, str, str, str, str]] = []

    def cell(value: Any, digits: int = 0, suffix: str = "") -> str:
        if isinstance(value, dict) and "error" in value:
            return "n/a"
        return "—" if value is None else f"{value:,.{digits}f}{suffix}"

    for route, label in (("runs", "`POST /api/chat/runs` → 202"), ("resume", "resume idle chat → 204")):
        best = {k: _get(r, "rates", route, k, "best") for k in SERVERS}
        rate = {k: _get(best[k], "rps") for k in SERVERS}
        key = "runs_vs_bare" if route == "runs" else "resume_vs_bare"
        rows.append((f"{label}: req/s", cell(rate["mock"]), cell(rate["bare"]), cell(rate["prism"]),
                     f"{cell(values[key], 2)} of bare", target(key), met(key)))
        pkey = "runs_vs_prism" if route == "runs" else "resume_vs_prism"
        rows.append((f"{label}: vs Prism", "", "", "", f"{cell(values[pkey], 1)}x Prism",
                     target(pkey) + "x" if pkey in targets else "—", met(pkey) if pkey in targets else ""))

        def lat(kind: str, best: dict[str, Any] = best) -> str:
            p50, p99 = _get(best[kind], "latency_us", "p50"), _get(best[kind], "latency_us", "p99")
            return "—" if p50 is None else f"{p50 / 1000:.1f} / {p99 / 1000:.1f}"

        rows.append((f"{label}: latency p50 / p99 (ms)", lat("mock"), lat("bare"), lat("prism"), "", "", ""))
        if route == "runs":
            d = _get(r, "rates", "runs", "defaults", "best")
            rows.append((f"{label} at the defaults (speed 1, access log on): req/s", cell(_get(d, "rps")),
                         cell(rate["bare"]), "—", f"{cell(values['runs_defaults_vs_bare'], 2)} of bare",
                         target("runs_defaults_vs_bare"), met("runs_defaults_vs_bare")))
            d50, d99 = _get(d, "latency_us", "p50"), _get(d, "latency_us", "p99")
            per = _ratio(_get(d, "log_lines"), _get(d, "requests_answered"))
            rows.append((f"{label} at the defaults: latency p50 / p99 (ms) · log lines per request",
                         "—" if d50 is None else f"{d50 / 1000:.1f} / {d99 / 1000:.1f} · {_fmt(per, 2)}",
                         "", "", "", "", ""))
    wr = _get(r, "worlds", "rates") or {}
    if wr:
        single, spread = _get(wr, "single", "best"), _get(wr, "spread", "best")
        rows.append(("`POST /api/chat/runs` → 202, default world only (worlds test): req/s", cell(_get(single, "rps")),
                     "—", "—", "", "", ""))
        rows.append((f"`POST /api/chat/runs` → 202, spread over {wr.get('worlds', m['settings'].get('worlds'))} "
                     "worlds: req/s",
                     cell(_get(spread, "rps")), "—", "—", f"{cell(values['worlds_runs_vs_single'], 2)} of one world",
                     target("worlds_runs_vs_single"), met("worlds_runs_vs_single")))

        def wlat(doc: Any) -> str:
            p50, p99 = _get(doc, "latency_us", "p50"), _get(doc, "latency_us", "p99")
            return "—" if p50 is None else f"{p50 / 1000:.1f} / {p99 / 1000:.1f}"

        rows.append(("runs, one world · over worlds: latency p50 / p99 (ms)",
                     f"{wlat(single)} · {wlat(spread)}", "—", "—", "", "", ""))
        rss = [_get(doc, "rss_kb_after") for doc in (single, spread)]
        rows.append(("runs, one world · over worlds: server RSS after (MB)",
                     " · ".join("—" if x is None else f"{x / 1024:,.0f}" for x in rss), "—", "—", "", "", ""))
        if "spread_no_keep" in wr:
            nk1, nk2 = _get(wr, "single_no_keep", "best"), _get(wr, "spread_no_keep", "best")
            rows.append(("same pair, mocks keeping nothing: req/s one world · over worlds",
                         f"{cell(_get(nk1, 'rps'))} · {cell(_get(nk2, 'rps'))}", "—", "—",
                         f"{cell(values['worlds_runs_vs_single_no_keep'], 2)} of one world", "", ""))
    wm = _get(r, "worlds", "memory") or {}
    small, large = _idle_ns(r)
    for n, key in ((small, "world_idle_kb"), (large, "world_idle_kb_large")):
        if n is None or key not in targets or str(n) not in wm:
            continue
        doc = wm[str(n)]
        best = min(doc.get("rounds") or [{}], key=lambda x: abs(x.get("kb_per_world", 0) - doc["kb_per_world"]))
        rows.append((f"{n:,} idle worlds: RSS per world (KB; slope {cell(_get(best, 'slope_kb_per_world'), 0)})",
                     cell(doc.get("kb_per_world"), 1), "—", "—", "", target(key), met(key)))
    for n in r["meta"]["settings"]["paced_n"]:
        mk, bk = _get(r, "paced", str(n), "mock"), _get(r, "paced", str(n), "bare")
        big = n == 1000

        def pair(doc: Any, key: str) -> str:
            a, b = _get(doc, key, "p50"), _get(doc, key, "p99")
            return "—" if a is None else f"{a:,.1f} / {b:,.1f}"

        def done(d: Any) -> str:
            return "—" if d is None else f"{d['completed']:,}/{d['n']:,}"

        rows.append((f"{n:,} paced `slow` streams: complete", done(mk), done(bk), "—", "",
                     "all" if big else "", met("paced1000_complete") if big else ""))
        rows.append((f"{n:,} streams: lateness p50 / p99 (ms)", pair(mk, "lateness_ms"), pair(bk, "lateness_ms"),
                     "—", "", "p99 " + target("paced1000_p99_ms") if big else "",
                     met("paced1000_p99_ms") if big else ""))
        rows.append((f"{n:,} streams: TTFB p50 / p99 (ms)", pair(mk, "ttfb_ms"), pair(bk, "ttfb_ms"), "—", "", "", ""))
        rows.append((f"{n:,} streams: server peak RSS (MB)", cell(_get(mk, "peak_rss_mb")),
                     cell(_get(bk, "peak_rss_mb")), "—", "", target("paced1000_rss_mb") if big else "",
                     met("paced1000_rss_mb") if big else ""))
    um, ub = _get(r, "unpaced", "mock", "best"), _get(r, "unpaced", "bare", "best")
    rows.append(("unpaced `slow` streams (`--speed 0`): chunks/s", cell(_get(um, "chunks_per_s")),
                 cell(_get(ub, "chunks_per_s")), "—", f"{cell(values['unpaced_vs_bare'], 2)} of bare",
                 target("unpaced_vs_bare"), met("unpaced_vs_bare")))
    rows.append(("unpaced: streams/s", cell(_get(um, "streams_per_s")), cell(_get(ub, "streams_per_s")), "—",
                 "", "", ""))
    st = {k: _get(r, "startup", k, "median_s") for k in SERVERS}
    rows.append(("start-up to first answered request (s, median)", cell(st["mock"], 2), cell(st["bare"], 2),
                 cell(st["prism"], 2), "", target("startup_s"), met("startup_s")))
    sl, sc = _get(r, "soak", "load") or {}, _get(r, "soak", "check") or {}
    if sl and "error" not in sl:
        w = sl.get("wrk") or {}
        ran = f"{sl.get('ran_s', sl['seconds']):.0f} of {sl['seconds']:g}"
        rows.append(("soak: seconds run" + (f" (**{sl['stopped_early']}**)" if sl.get("stopped_early") else ""),
                     ran, "—", "—", "", "all", met("soak_completed")))
        rows.append((f"soak: runs over {sl['worlds']} worlds for {_duration(sl['seconds'])}: req/s (non-2xx, "
                     "socket errors)", f"{cell(w.get('rps'))} ({_get(w, 'errors', 'status') or 0:,}, "
                     f"{(w.get('error_count') or 0) - (_get(w, 'errors', 'status') or 0):,})", "—", "—", "", "", ""))
        rows.append(("soak: peak RSS (VmHWM, MB)", cell(values["soak_peak_rss_mb"]), "—", "—", "",
                     target("soak_peak_rss_mb"), met("soak_peak_rss_mb")))
        rows.append(("soak, last half: RSS slope (MB/min)", cell(values["soak_slope_mb_per_min"], 2), "—", "—", "",
                     target("soak_slope_mb_per_min"), met("soak_slope_mb_per_min")))
        rows.append(("soak, last half: RSS first · min · max (MB); max over first (%)",
                     f"{cell(sl.get('last_half_first_mb'))} · {cell(sl.get('last_half_min_mb'))} · "
                     f"{cell(sl.get('last_half_max_mb'))}; {cell(values['soak_rise_pct'], 1)}", "—", "—", "",
                     target("soak_rise_pct"), met("soak_rise_pct")))
        ev = [evictions(x) for x in (sl.get("status") or {}).values()]
        rows.append(("soak: worlds live at the end · evictions in `/__mock/status` (default world, w-0)",
                     f"{sl.get('worlds_live')} · " + " / ".join("not reported" if e is None else f"{e:,}" for e in ev),
                     "—", "—", "", "", ""))
    elif sl:
        rows.append(("soak", "error", "", "", "", "", ""))
    if sc and "error" not in sc:
        rows.append((f"no budget pressure: {sc['n']:,} runs over {sc['worlds']} worlds: run ids still answered 200",
                     f"{sc['found']:,}/{sc['accepted']:,} (of {sc['n']:,} sent)", "—", "—", "",
                     "all", met("soak_check_found")))
        rows.append(("no budget pressure: worlds whose journal holds every POST",
                     f"{sc['worlds'] - sc['journal_worlds_short']}/{sc['worlds']}", "—", "—", "", "all",
                     met("soak_check_journal")))
    elif sc:
        rows.append(("soak: no budget pressure check", "error", "", "", "", "", ""))
    c = r.get("contract") or {}
    if not c:
        contract = "not run"
    elif c.get("available"):
        contract = f"{c['duration_s']:.1f} s (exit {c.get('exit_code')})"
    elif "error" in c:
        contract = "error"
    else:
        contract = "not available"
    rows.append(("`recoup-mock contract` against the bundled mock", contract, "", "", "", "", ""))

    lines = [
        "# recoup-mock bench: latest results",
        "",
        f"{m['date']} · commit `{m['commit']}` · {m['cpus']} x {m['cpu']} · wall time {m.get('wall_s', 0):.0f} s"
        f" · `make bench`",
        "",
        *merged_note(r),
        "Ratios are the headline: this machine is shared and noisy, so absolute numbers move between runs.",
        "The bare app is the ceiling (Starlette + uvicorn doing the least the route needs); Prism 5.14.2 serves",
        "the upstream seed spec. Targets are measured here, not asserted anywhere.",
        "",
        "| metric | mock | bare | prism | ratio | target | met? |",
        "|---|--:|--:|--:|--:|--:|:-:|",
        *(f"| {' | '.join(row)} |" for row in rows),
        "",
        "## Targets",
        "",
        "Issue 22's Done-when (and its idle world ≤ 16 KB):",
        "",
        *(_target_line(t) for t in r["targets"] if t.get("source", "issue 22") == "issue 22"),
        "",
        "Kept from earlier issues:",
        "",
        *(_target_line(t) for t in r["targets"] if t.get("source") == "earlier"),
        "",
        "Prism's ratios are information: issue 22 sets no target against Prism (the earlier ≥ 4x is dropped).",
        "",
        "## How this was measured",
        "",
        f"- Pinning: {m['pinning']}. One server at a time, each a fresh process.",
        f"- Rates: wrk {m['settings']['wrk']}, best of {m['settings']['rounds']} rounds (round order alternates); "
        "all rounds are in `latest.json`. The mock runs `--speed 0 --quiet`. **Every 202 from the mock starts a "
        "run** (default scenario, finished at once at speed 0) and stores a session, a chat and messages; the "
        "bare app and Prism store nothing.",
        "- Resume: `GET /api/chat/<idle chat>/stream` with `Prefer: code=204` (so Prism answers 204 too).",
        "- Defaults: `recoup-mock serve` with no `--speed` and no `--quiet` (speed 1: every run plays its scenario "
        "in real time; one access-log line per request), in the same rounds as the other servers, runs only. Its "
        f"output goes to {_get(r, 'rates', 'defaults_log_sink') or 'a file'}: a sink that never blocks, as "
        "a terminal's pty can when the terminal draws slower than the lines come; the lines are counted after "
        "the server stops (log lines per request, above).",
        _soak_note(r),
        _worlds_note(r),
        f"- Paced streams: best of {m['settings'].get('paced_rounds', 1)} rounds (lowest p99 lateness); the mock at "
        "`--speed 1`, each stream on a fresh chat (made through the API before timing, sixteen to a session), "
        "all requests sent at once on open connections. Lateness of a chunk = its arrival - (stream start "
        "+ its due time from `mockserver.streams.engine.schedule`), the stream start being the latest instant all of "
        "the stream's chunks agree with, min(arrival - due): the first chunk's arrival unless it was held back; "
        "TTFB is from the request. "
        "Peak RSS is `VmHWM` of the server process. The bare app paces the same bytes on the same schedule "
        f"(schedule check: {_said(_get(r, 'paced', 'schedule_check', 'bare_matches_mock_schedule'))}).",
        "- First chunk held back (chunks > 5 ms early against the first chunk's arrival, the reason for that "
        "anchor): " + (", ".join(
            f"N={n} {k} {share:.1%}" for n in m["settings"]["paced_n"] for k in ("mock", "bare")
            if (share := _get(r, "paced", str(n), k, "first_chunk_held_share")) is not None) or "not measured")
        + "; p99 lateness against the first chunk instead: " + (", ".join(
            f"N={n} {k} {_fmt(p99)} ms" for n in m["settings"]["paced_n"] for k in ("mock", "bare")
            if (p99 := _get(r, "paced", str(n), k, "lateness_from_first_chunk_ms", "p99")) is not None)
            or "not measured") + ".",
        f"- Unpaced: `--speed 0`, {m['settings']['unpaced_streams']:,} fresh chats at most over "
        f"{m['settings']['unpaced_duration_s']:g} s, 32 connections; chunks = SSE data events incl. `[DONE]`, "
        f"counted by the client. Same bytes as the bare app (apart from the message id): "
        f"{_said(_get(r, 'unpaced', 'same_bytes'))}.",
        f"- Versions: Python {m['python']}, node {m['node']}, {m['wrk']}, Prism {m['prism']}, "
        + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        f"- Load average before/after: {', '.join(f'{x:.2f}' for x in m['loadavg_before'])} / "
        f"{', '.join(f'{x:.2f}' for x in m.get('loadavg_after', ()))}.",
    ]
    if c and not c.get("available"):
        lines.append(f"- `recoup-mock contract`: not available ({c.get('reason') or c.get('error')}); the bench "
                     "runs it as soon as the command exists.")
    lines += proxy_section.markdown(r)
    if r.get("errors"):
        lines += ["", "## Errors", "", *(f"- {e}" for e in r["errors"])]
    return "\n".join(lines) + "\n"


def chart(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = figures(r)
    fig = plt.figure(figsize=(16.5, 10.5))
    grid = fig.add_gridspec(2, 2, width_ratios=[1.3, 1.25], height_ratios=[1.2, 1])
    left, soak, right = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    # Left: the ratios themselves, each with its target.
    ratio_keys = [("runs_vs_bare", "runs 202\nvs bare"), ("runs_defaults_vs_bare", "runs 202,\ndefaults\nvs bare"),
                  ("resume_vs_bare", "resume 204\nvs bare"), ("unpaced_vs_bare", "unpaced\nchunks/s\nvs bare"),
                  ("worlds_runs_vs_single", "runs 202, many\nworlds vs one"),
                  ("runs_vs_prism", "runs 202\nvs Prism\n(no target)")]
    targets = {t["key"]: t for t in r["targets"]}
    xs = range(len(ratio_keys))
    for x, (key, _label) in zip(xs, ratio_keys, strict=True):
        value, t = values.get(key), targets.get(key)
        color = ("#9e9e9e" if value is None else "#78909c" if t is None else "#2e7d32" if t["met"] else "#c62828")
        left.bar(x, value or 0, color=color, width=0.6)
        inside = value is not None and value >= 0.15  # inside the bar's top: clear of the target's label above
        left.annotate("n/a" if value is None else f"{value:.2f}", (x, value or 0), ha="center",
                      va="top" if inside else "bottom", fontsize=10, xytext=(0, -4 if inside else 3),
                      textcoords="offset points", color="white" if inside else "black",
                      fontweight="bold" if inside else "normal")
        if t is not None:
            left.hlines(t["target"], x - 0.4, x + 0.4, colors="black", linestyles="--", linewidth=1.5)
            left.annotate(f"target ≥ {t['target']:g}", (x, t["target"]), ha="center", va="bottom", fontsize=8,
                          xytext=(0, 3), textcoords="offset points", color="#333333")
    left.set_xticks(list(xs), [label for _, label in ratio_keys], fontsize=7.5)
    tallest = max([values.get(k) or 0 for k, _ in ratio_keys] + [t["target"] for k, _ in ratio_keys
                                                                   if (t := targets.get(k)) is not None])
    left.set_ylim(0, max(1.1, tallest * 1.15))
    left.set_ylabel("mock ÷ other server, or ÷ one world")
    left.set_title("Ratios (dashed: target)")
    # Right: every target as a share of what it asks for (>= 1 means met).
    labels, scores, colors = [], [], []
    for t in r["targets"]:
        value = t["value"]
        if value is None:
            score = 0.0
        elif t["op"] == ">=":
            score = value / t["target"] if t["target"] else 10.0
        else:  # a value at or below zero (a falling RSS slope) meets any <= target with a positive bound
            score = t["target"] / value if value > 0 else 10.0
        earlier = " · earlier target" if t.get("source") == "earlier" else ""
        shown = "not measured" if value is None else _fmt(value, 2)
        labels.append(f"{t['label']}\n{shown} ({'≥' if t['op'] == '>=' else '≤'} {t['target']:g}){earlier}")
        scores.append(min(max(score, 0.05), 10.0))
        colors.append("#9e9e9e" if t["met"] is None else "#2e7d32" if t["met"] else "#c62828")
    ys = list(range(len(labels)))[::-1]
    right.barh(ys, scores, color=colors, height=0.6)
    right.axvline(1.0, color="black", linestyle="--", linewidth=1.5)
    right.set_yticks(ys, labels, fontsize=8)
    right.set_xscale("log")
    right.set_xlim(0.04, 12)
    right.set_xlabel("share of target (≥ 1 = met; for ≤ targets: target ÷ value)")
    right.set_title("Targets")
    soak_chart(soak, r)
    fig.suptitle(f"recoup-mock bench · {r['meta']['date']} · commit {r['meta']['commit']}", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def soak_chart(ax: Any, r: dict[str, Any]) -> None:
    """The soak's RSS over time, its last half shaded, the peak target as a line."""
    sl = _get(r, "soak", "load") or {}
    samples = sl.get("rss_samples") or []
    ax.set_title("Soak: server RSS (VmRSS) over time")
    if not samples:
        ax.text(0.5, 0.5, "soak not run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    minutes = [t / 60 for t, _ in samples]
    ax.plot(minutes, [kb / 1024 for _, kb in samples], color="#1565c0", linewidth=1.5)
    ran = (sl.get("ran_s") or sl["seconds"]) / 60
    ax.axvspan(ran / 2, ran, color="#e0e0e0", zorder=0, label="last half (flatness)")
    peak = next((t for t in r["targets"] if t["key"] == "soak_peak_rss_mb"), None)
    if peak is not None:
        ax.axhline(peak["target"], color="black", linestyle="--", linewidth=1.5,
                   label=f"target ≤ {peak['target']:g} MB")
    ax.set_xlabel(f"minutes ({sl['worlds']} worlds, runs at {_get(sl, 'wrk', 'rps') or 0:,.0f} req/s)")
    ax.set_ylabel("MB")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", fontsize=8)


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (out / "latest.md").write_text(markdown(results))
    try:
        chart(results, out / "ratios.png")
    except ImportError as exc:
        log(f"no chart: {exc} (install the bench extra: pip install -e '.[bench]')")


def merged_note(r: dict[str, Any]) -> list[str]:
    """The lines of latest.md that name the sections measured again since its header's run (``--merge``)."""
    later = r.get("merged_sections") or {}
    if not later:
        return []
    parts = [f"`{name}` at `{m['commit']}` ({m['date']})" for name, m in sorted(later.items())]
    return [f"Measured again since, by `bench/run.py --only ... --merge`: {', '.join(parts)}.", ""]


def merged(old: dict[str, Any], new: dict[str, Any], sections: Sequence[str]) -> dict[str, Any]:
    """``old`` results with the ``sections`` of ``new`` (and their timings and errors) in place of its own."""
    out = {**old, **{name: new[name] for name in sections if name in new}}
    out["section_seconds"] = {**old.get("section_seconds", {}), **new.get("section_seconds", {})}
    # Where a section comes from a later run than the header's, latest.md says which commit and when.
    out["merged_sections"] = {**old.get("merged_sections", {}),
                              **{name: {"commit": new["meta"]["commit"], "date": new["meta"]["date"]}
                                 for name in sections if name in new}}
    out["errors"] = [e for e in old.get("errors", []) if e.split(":")[0].split()[0] not in sections] \
        + new.get("errors", [])
    out["targets"] = evaluate(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    # The servers start as an installed package does: with their bytecode written once and read after
    # (a shell that sets PYTHONDONTWRITEBYTECODE would have every start compile the package again).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--only", nargs="*", choices=SECTIONS,
                        help="run only these sections (the results still go to --out: point it elsewhere to keep "
                             "latest.* as they are)")
    parser.add_argument("--duration", type=float, default=10.0, help="wrk seconds a measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="wrk warm-up seconds before each measurement")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the rate, worlds-rate and unpaced tests (best is kept)")
    parser.add_argument("--paced-n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--paced-rounds", type=int, default=2, help="rounds of each paced test (lowest p99 is kept)")
    parser.add_argument("--stream-timeout", type=float, default=30.0)
    parser.add_argument("--unpaced-streams", type=int, default=3000)
    parser.add_argument("--unpaced-duration", type=float, default=8.0)
    parser.add_argument("--startup-runs", type=int, default=3)
    parser.add_argument("--worlds", type=int, default=100,
                        help="worlds (x-mock-world: w-0 .. w-<N-1>) the 'worlds' section spreads POST /api/chat/runs "
                             "over, one per request in turn; compared with the same load on one world")
    parser.add_argument("--worlds-no-keep", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the worlds rate pair on mocks that keep nothing (max_finished_runs 0, "
                             "journal_size 1): the per-request cost of worlds apart from the state each world keeps "
                             "(default: on; --no-worlds-no-keep saves 2 x rounds x (warm-up + duration))")
    parser.add_argument("--idle-worlds", type=int, nargs="+", default=[200, 1000], metavar="N",
                        help="numbers of idle worlds the 'worlds' section makes (one request each) to measure RSS per "
                             "world; a fresh mock for each N, --max-worlds raised when N passes the default 256")
    parser.add_argument("--memory-rounds", type=int, default=3,
                        help="rounds of each idle-world memory test (the median counts)")
    parser.add_argument("--memory-warmup", type=int, default=500,
                        help="requests to the default world before the idle-world memory test's first RSS reading")
    parser.add_argument("--contract-timeout", type=float, default=900.0)
    parser.add_argument("--soak-seconds", type=float, default=SOAK_SECONDS,
                        help="soak: seconds of POST /api/chat/runs over --soak-worlds worlds on one mock")
    parser.add_argument("--soak-worlds", type=int, default=SOAK_WORLDS,
                        help="soak: worlds (w-0 ..) the runs go to in turn")
    parser.add_argument("--soak-sample", type=float, default=5.0, help="soak: seconds between two VmRSS readings")
    parser.add_argument("--soak-rss-cap", type=float, default=4096.0,
                        help="soak: stop the load when the mock's RSS passes this many MB (a mock without a memory "
                             "bound would otherwise take the machine's memory); the soak then reports it")
    parser.add_argument("--soak-check-runs", type=int, default=2560,
                        help="soak: runs of the 'no budget pressure' check (few enough that the budget is not "
                             "reached), every one of them asked for again")
    parser.add_argument("--proxy-ttfb", type=int, default=200, help="proxy: first-byte requests each way")
    parser.add_argument("--proxy-streams", type=int, default=10, help="proxy: runs read both ways at a time")
    parser.add_argument("--proxy-rounds", type=int, default=3, help="proxy: rounds of runs, and replays")
    parser.add_argument("--merge", action="store_true",
                        help="with --only: put the sections run into the existing latest.json (the rest, and its "
                             "meta, stay) and rewrite latest.md and ratios.png from it")
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and clients to CPUs")
    parser.add_argument("--quick", action="store_true", help="short smoke run (not for the record)")
    parser.add_argument("--rewrite", action="store_true", help="rewrite latest.md and ratios.png from latest.json")
    args = parser.parse_args(argv)
    if args.rewrite:  # against the targets as they are now, not as they were when it was measured
        results = json.loads((args.out / "latest.json").read_text())
        results["targets"] = evaluate(results)
        write(results, args.out)
        return 0
    if args.quick:
        args.duration, args.warmup, args.rounds, args.startup_runs, args.paced_rounds = 3.0, 1.0, 1, 1, 1
        args.memory_rounds = 1
        args.paced_n, args.unpaced_streams, args.unpaced_duration = [100], 500, 3.0
        args.proxy_ttfb, args.proxy_rounds = 50, 1
        # The soak's own flags win over --quick's short values when they are given.
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])}
        if "--soak-seconds" not in given:
            args.soak_seconds = 20.0
        if "--soak-sample" not in given:
            args.soak_sample = 1.0
        if "--soak-check-runs" not in given:
            args.soak_check_runs = 512
    if subprocess.run(["which", "wrk"], capture_output=True).returncode:
        parser.error("wrk is not installed (apt-get install -y wrk; `make bench` does it)")
    bench = Bench(args)
    try:
        results = bench.run()
    finally:
        for server in list(_RUNNING):
            server.stop()
    if args.merge:
        results = merged(json.loads((args.out / "latest.json").read_text()), results, args.only or SECTIONS)
    write(results, args.out)
    log(f"wrote {args.out / 'latest.md'} ({results['meta']['wall_s']:.0f} s)")
    print((args.out / "latest.md").read_text())
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
