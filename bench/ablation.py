"""What each per-request behaviour costs: the mock in process with one behaviour at a time switched off.

    .venv/bin/python bench/ablation.py [--routes runs resume defaults] [--requests 20000] [--readings 3]

`bench/profile.py` says where the samples fall and `bench/instructions.py` how work turns into time; this
asks the question the targets of issue 22 leave: how much of the mock's time over the bare app's is each
documented behaviour, and what is left when all of them are gone. For each route it times, in process
(the app driven through ASGI, 32 requests at a time on uvloop, the server's GC settings, pinned; the
median of ``--readings`` fresh interpreters; `bench/instructions.py`'s driver), CPU µs per request of:

- the mock as served (``--speed 0``, no access log; ``defaults``: speed 1 and the batched access log,
  written to /dev/null by its own thread, whose CPU counts);
- the mock with one behaviour switched off (`SWITCHES`; a measuring device only: each replaces a piece
  of the app in the child process, so the answer stays the same for this request but the behaviour is
  gone: no journal entry, no credential check, no spec validation, ...);
- the mock with all of them off at once: the middleware, routing and pipeline's own cost with nothing in
  them, and what the handler's state costs beside the bare app's handler;
- the bare app (`bench/bare_app.py`).

Then, over the socket (fresh servers in turn, pinned, wrk as in the bench, the best of two rounds), each
route's rate for the mock and the bare app, so that the allowance a target leaves can be set beside the
behaviours' costs: to be ``t`` of the bare app's rate the mock may spend at most ``(1/t - 1)`` times the
bare app's time per request more than it does. Writes ``bench/results/profiles/ablation.md`` and
``.json``; about 4 minutes for the three routes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instructions  # bench/instructions.py: the in-process driver and the requests it sends
import run as bench  # bench/run.py: servers, pinning, load generators

OUT = bench.RESULTS / "profiles"
#: Each route: the request (`instructions.REQUESTS`), the wrk script, the mock's settings, the target of issue 22.
ROUTES: dict[str, dict[str, Any]] = {
    "runs": {"request": "runs", "script": "post_runs.lua", "settings": {"speed": 0.0, "access_log": False},
             "kind": "mock", "target": 0.8},
    "resume": {"request": "resume", "script": "resume_idle.lua", "settings": {"speed": 0.0, "access_log": False},
               "kind": "mock", "target": 0.9},
    "defaults": {"request": "runs", "script": "post_runs.lua", "settings": {"speed": 1.0, "access_log": True},
                 "kind": "defaults", "target": 0.5},
}


def _no_journal() -> None:
    from mockserver import middleware

    def journal_begin(self: Any, scope: dict[str, Any], world: Any) -> None:
        scope["recoup.world"], scope["recoup.entry"] = world, None  # what the pipeline reads; no entry

    middleware.MockMiddleware._journal_begin = journal_begin  # type: ignore[method-assign,assignment]


def _no_credentials() -> None:
    from mockserver import pipeline

    def authorize(request: Any, world: Any, op: Any, authorize: Any) -> Any:
        return world.store.accounts_by_key[bench.API_KEY]  # the key the load sends, not looked for

    pipeline._authorize = authorize


def _no_validation() -> None:
    from mockserver import pipeline

    def checks(self: Any, parts: Any = None) -> Any:
        return pipeline.parse_json(self.body) if self.body else None  # the body still parsed: the handler reads it

    pipeline.Checks.run = checks  # type: ignore[method-assign]


def _no_scenario_choice() -> None:
    from mockserver import pipeline
    from mockserver.api import chat

    def no_fault(call: Any, *, streams: Any, answers: Any = None) -> None:
        return None

    def default_scenario(call: Any, messages: Any, chat: Any) -> Any:
        return call.world.scenarios["default"]

    pipeline.answer_fault = no_fault
    chat.select_scenario = default_scenario


def _no_state() -> None:
    """``POST /api/chat/runs`` answered with the ids it draws and nothing kept: no session, chat, messages
    or run (the bare app's handler, on the mock's ids)."""
    import dataclasses

    from mockserver import app
    from mockserver.responses import JsonAnswer

    async def start_chat_run(call: Any) -> Any:
        ids = call.world.store.ids
        session_id, chat_id, run_id = ids.uuid(), ids.uuid(), ids.run_id()
        return JsonAnswer({"runId": run_id, "chatId": chat_id, "sessionId": session_id}, status_code=202,
                          headers={"location": f"/api/chat/runs/{run_id}"})

    app.API_HANDLERS["startChatRun"] = dataclasses.replace(app.API_HANDLERS["startChatRun"], handler=start_chat_run)


def _no_access_log() -> dict[str, Any]:
    return {"access_log": False}


def _no_pacing() -> dict[str, Any]:
    return {"speed": 0.0}


#: name -> (what is gone, the routes it applies to, the switch: it replaces a piece of the app, or returns
#: settings to serve with instead of the route's).
SWITCHES: dict[str, tuple[str, tuple[str, ...], Callable[[], dict[str, Any] | None]]] = {
    "journal": ("no journal entry (the world's request journal, the inspector's list)",
                ("runs", "resume", "defaults"), _no_journal),
    "credentials": ("no credential check (x-api-key or bearer, the account it names)",
                    ("runs", "resume", "defaults"), _no_credentials),
    "validation": ("no spec validation (content type, parameters, body schema); the body still parsed",
                   ("runs", "resume", "defaults"), _no_validation),
    "scenario": ("no scenario choice (Prefer, the queue, chaos, a turn's marker): the default one",
                 ("runs", "resume", "defaults"), _no_scenario_choice),
    "state": ("no state kept: the ids drawn and answered, no session, chat, messages or run",
              ("runs", "defaults"), _no_state),
    "pacing": ("no pacing (speed 0): the run played at once", ("defaults",), _no_pacing),
    "access log": ("no access log line", ("defaults",), _no_access_log),
}


def _child(route: str, variant: str, requests: int) -> None:
    """Print the µs per request of one variant: ``mock``, ``mock-`` + comma-separated switch names, ``all``
    (every switch of the route), or ``bare``."""
    import uvloop

    config = ROUTES[route]
    if variant == "bare":
        import bare_app

        app: Any = bare_app.create_app(0.0)
    else:
        names = [n for n, (_, routes, _) in SWITCHES.items() if route in routes] if variant == "all" else \
            [n for n in variant.removeprefix("mock").lstrip("-").split(",") if n]
        settings = dict(config["settings"])
        for name in names:
            settings.update(SWITCHES[name][2]() or {})
        from mockserver import accesslog
        from mockserver.app import create_app
        from mockserver.settings import Settings

        if settings["access_log"]:  # as `serve` writes it: batched, formatted on the writer's thread
            accesslog.install(accesslog.BatchedAccessLog(open(os.devnull, "w")))  # noqa: SIM115 (the process's)
        app = create_app(Settings(**settings))
        gc.freeze()  # what `recoup-mock serve` does (mockserver/cli.py)
        gc.set_threshold(10_000, 20, 20)
    # process_time counts every thread of the process: the access log's writer included.
    print(json.dumps(uvloop.run(instructions._drive(app, config["request"], requests))))
    if variant != "bare":
        accesslog.installed().close()


def in_process(b: bench.Bench, route: str, variant: str, requests: int, readings: int) -> float:
    return instructions.child_median(b, [sys.executable, __file__, "--child", route, variant, str(requests)], readings)


def over_socket(b: bench.Bench, route: str, seconds: float, rounds: int = 2) -> dict[str, float]:
    """Requests/s of the mock (as the route serves it) and the bare app, fresh servers in turn, best of ``rounds``."""
    config = ROUTES[route]
    best = {"mock": 0.0, "bare": 0.0}
    for round_no in range(rounds):
        order = [(config["kind"], "mock"), ("bare", "bare")]
        for kind, label in order if round_no % 2 == 0 else reversed(order):
            with b.serving(kind) as server:
                b.wrk(config["script"], server.port, 2)
                best[label] = max(best[label], b.wrk(config["script"], server.port, seconds)["rps"])
    return best


def measure(b: bench.Bench, route: str, requests: int, readings: int, seconds: float) -> dict[str, Any]:
    names = [n for n, (_, routes, _) in SWITCHES.items() if route in routes]
    bench.log(f"{route}: in process, the mock, {len(names)} switches, all of them, the bare app")
    mock = in_process(b, route, "mock", requests, readings)
    off = {name: in_process(b, route, f"mock-{name}", requests, readings) for name in names}
    everything = in_process(b, route, "all", requests, readings)
    bare = in_process(b, route, "bare", requests, readings)
    bench.log(f"{route}: over the socket")
    rates = over_socket(b, route, seconds)
    target = ROUTES[route]["target"]
    bare_socket_us, mock_socket_us = 1e6 / rates["bare"], 1e6 / rates["mock"]
    return {"mock_us": mock, "off_us": off, "cost_us": {n: mock - v for n, v in off.items()},
            "all_off_us": everything, "bare_us": bare, "gap_in_process_us": mock - bare,
            "rates": rates, "ratio": rates["mock"] / rates["bare"], "target": target,
            "gap_socket_us": mock_socket_us - bare_socket_us,
            # The most the mock could spend per request over the bare app's time and still be `target` of its rate.
            "allowance_socket_us": bare_socket_us * (1 / target - 1),
            "allowance_in_process_us": bare * (1 / target - 1)}


def markdown(results: dict[str, Any]) -> str:
    lines = ["# What each behaviour costs a request", "",
             f"{results['date']} · commit `{results['commit']}` · `bench/ablation.py` ({results['requests']:,} "
             f"requests in process, median of {results['readings']} fresh interpreters; rates over the socket: "
             f"fresh servers in turn, best of 2 rounds of {results['seconds']:g} s).", "",
             "CPU µs per request of the app alone, in process, with one behaviour switched off at a time "
             "(a measuring device: the answer is the same, the behaviour is gone). \"Costs\" is the mock's time "
             "less the time without it.", ""]
    for route, r in results["routes"].items():
        config = ROUTES[route]
        lines += [f"## `{route}` ({'the defaults: speed 1, the access log' if route == 'defaults' else '--speed 0'}"
                  f"; target ≥ {config['target']:g} of bare)", "",
                  "| reading | µs/request | costs |", "|---|--:|--:|",
                  f"| the mock as served | {r['mock_us']:.1f} | |"]
        for name, value in r["off_us"].items():
            lines.append(f"| without: {SWITCHES[name][0]} | {value:.1f} | {r['cost_us'][name]:.1f} |")
        lines += [f"| without all of them | {r['all_off_us']:.1f} | {r['mock_us'] - r['all_off_us']:.1f} |",
                  f"| the bare app | {r['bare_us']:.1f} | |", ""]
        rates = r["rates"]
        lines += [f"Over the socket now: {rates['mock']:,.0f} req/s against the bare app's {rates['bare']:,.0f}, "
                  f"**{r['ratio']:.2f}** of it; the mock spends {r['gap_socket_us']:.1f} µs a request more there "
                  f"({r['gap_in_process_us']:.1f} µs more in process). At ≥ {r['target']:g} it could spend "
                  f"{r['allowance_socket_us']:.1f} µs more over the socket (in process, the same share of the "
                  f"bare app's time is {r['allowance_in_process_us']:.1f} µs).", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--routes", nargs="+", default=list(ROUTES), choices=ROUTES)
    parser.add_argument("--requests", type=int, default=20_000, help="requests of each in-process reading")
    parser.add_argument("--readings", type=int, default=3, help="fresh interpreters per variant (the median counts)")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk seconds of each rate over the socket")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("ROUTE", "VARIANT", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        route, variant, requests = args.child
        _child(route, variant, int(requests))
        return 0
    b = bench.Bench(argparse.Namespace(no_pin=args.no_pin, connections=32))
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": bench.commit(),
                               "requests": args.requests, "readings": args.readings, "seconds": args.seconds,
                               "routes": {}}
    try:
        for route in args.routes:
            results["routes"][route] = measure(b, route, args.requests, args.readings, args.seconds)
    finally:
        for server in list(bench._RUNNING):
            server.stop()
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ablation.json").write_text(json.dumps(results, indent=2) + "\n")
    (OUT / "ablation.md").write_text(markdown(results))
    print((OUT / "ablation.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
