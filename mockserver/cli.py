"""``recoup-mock``: serve the mock, validate a spec and fixtures, copy the fixtures to edit, run the contract suite.

Logging is configured here and only here (not at import, not in `create_app`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import ConfigError, MockServerError
from .settings import DEFAULT_ADMIN_SPEC, DEFAULT_FIXTURES, DEFAULT_SPEC, Settings, env_settings
from .types import PROFILE_NAMES

#: The top-level modules the ``contract`` extra installs (pyproject's optional-dependencies).
CONTRACT_EXTRA_MODULES = frozenset({"schemathesis", "hypothesis"})
#: Where ``recoup-mock init`` writes when no directory is given (relative to the working directory).
DEFAULT_INIT_DIR = Path("recoup-fixtures")
#: Where ``recoup-mock import-har`` writes without ``--out``.
DEFAULT_HAR_DIR = Path("har-fixtures")


def version() -> str:
    """The installed distribution's version; in a checkout run without installing, its pyproject's."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("recoup-mock")
    except PackageNotFoundError:
        pass
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        project = {}
    found = project.get("version") if project.get("name") == "recoup-mock" else None
    return str(found) if found else "unknown (not installed)"


class _VersionAction(argparse.Action):
    """``--version``, looked up when asked for: reading the installed metadata is start-up time that
    every other command would pay."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        print(f"{parser.prog} {version()}")
        parser.exit()


def _command(argv: Sequence[str]) -> str | None:
    """The command a command line names (its first word that is no option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line of every command; given the ``command`` that will be parsed, the contract suite's
    flags (a table of its own, with their help) are only built for it, or for none named."""
    parser = argparse.ArgumentParser(
        prog="recoup-mock",
        description="Serve the Recoup chat API mock, check a spec and fixtures, run the contract suite against the "
                    "mock or a deployment, or check (and record) a deployment through a proxy.")
    parser.add_argument("--version", action=_VersionAction, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the mock API")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, help="port (default 4010; 0 picks a free one)")
    serve.add_argument("--spec", type=Path, help=f"OpenAPI document (default {DEFAULT_SPEC.name})")
    serve.add_argument("--fixtures", type=Path, help="fixtures directory (world.yaml, scenarios/)")
    serve.add_argument("--speed", type=float,
                       help="multiply every scripted delay, POST /api/sandbox's provisioning wait included (0 = no "
                            "waits); the sandbox's idle and expiry timers follow each world's clock, which "
                            "POST /__mock/clock moves")
    serve.add_argument("--seed", type=int, help="seed for ids and jitter (default 0)")
    serve.add_argument("--no-admin", action="store_true", help="do not serve /__mock/*")
    serve.add_argument("--admin-token", help="require x-mock-admin-token on /__mock/*")
    serve.add_argument("--quiet", action="store_true", help="no per-request log lines")
    serve.add_argument("--watch", action="store_true",
                       help="reload the fixtures and the spec as they are saved (a broken edit is refused and "
                            "the last good version kept; a changed world.yaml applies at each world's next reset)")
    serve.add_argument("--profile", choices=PROFILE_NAMES,
                       help="documented (default: the contract as written) or deployed (what the deployed server "
                            "does, docs/drift.md); per world: POST /__mock/worlds/NAME")
    serve.add_argument("--chaos", type=float, metavar="RATE",
                       help="seeded chaos: serve this share (0 to 1) of chat requests (POST /api/chat, /workflow, "
                            "/runs, and resumes) one of the fault scenarios instead of their default, drawn from "
                            "the seed and each request's place in its world (the same after a reset); the journal "
                            "marks each with chaos: true and its scenario's name, to replay with Prefer: "
                            "scenario=NAME; per world: POST /__mock/worlds/NAME {\"chaos\": RATE}")
    serve.add_argument("--chaos-scenarios", metavar="A,B,C",
                       help="the fault scenarios chaos picks from (default: every loaded fault scenario: an "
                            "http-status answer, or a stream with a disconnect, raw frame, stall, error, abort or "
                            "split writes)")
    serve.add_argument("--max-worlds", type=int, metavar="N",
                       help="most worlds alive at once, counting the default world (so at least 2; default 256); "
                            "past it the least recently used idle x-mock-world world is dropped, or a new one gets "
                            "503")
    serve.add_argument("--memory-budget", type=float, metavar="MB",
                       help="one memory budget, in MB, for what all worlds keep: finished runs (their streams, a "
                            "headless run's session and chat), journal entries, chat turns' stored messages and idle "
                            "worlds, as estimated; past it the oldest finished state of the least recently used "
                            "worlds is evicted, then idle worlds (never a live run, a pinned run or a queued "
                            "scenario), and an evicted run is a 404 that says so (default 160; 0 = no budget, only "
                            "the per-world caps; env RECOUP_MOCK_MEMORY_BUDGET)")

    # No defaults on these flags: a flag left out is None, and the setting then comes from RECOUP_MOCK_<NAME>
    # or the default of `Settings`, the same way for every command (`env_settings`).
    validate = sub.add_parser("validate", help="check the spec and every fixture file")
    validate.add_argument("--spec", type=Path, help=f"OpenAPI document (default {DEFAULT_SPEC.name})")
    validate.add_argument("--fixtures", type=Path, help="fixtures directory (world.yaml, scenarios/)")
    validate.add_argument("--profile", choices=PROFILE_NAMES,
                          help="also check the profile's derived contract (deployed: chat.yaml with "
                               "deployed.overlay.yaml applied)")

    init = sub.add_parser(
        "init", help="write an editable copy of the bundled fixtures (world.yaml, scenarios/) into DIR",
        description="Write an editable copy of the bundled fixture world (world.yaml) and scenarios (scenarios/*.yaml) "
                    "into DIR, then use it with `recoup-mock serve --fixtures DIR` and check your edits with "
                    "`recoup-mock validate --fixtures DIR`. Existing files are never overwritten: if any of them "
                    "is already there, nothing is written and the command exits 2.")
    init.add_argument("dir", metavar="DIR", type=Path, nargs="?",
                      help=f"where to write (default: RECOUP_MOCK_FIXTURES if set, else ./{DEFAULT_INIT_DIR}; "
                           "created if missing)")

    proxy = sub.add_parser(
        "proxy", help="a reverse proxy in front of a deployment that checks every exchange against the spec, "
                      "and can record streams as scenarios",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Forward every request to --target as it came, and every answer back as it comes (a stream\n"
                    "write by write). Check each exchange against the profile's contract: the request, the status,\n"
                    "headers and body, and each stream event (chunk schema, and the ordering rules clients enforce).\n"
                    "Violations change nothing the client gets: each is logged on one line, kept on the journal\n"
                    "entry, counted in x-mock-violations on finite answers and listed at GET /__mock/violations.\n"
                    "What cannot be checked (JSON nested too deeply) passes unchanged and is listed as unchecked.",
        epilog="The proxy's own API (openapi/proxy-admin.yaml; the target's /__mock/ is not forwarded):\n"
               "  GET  /__mock/violations  every violation: seq, method, path, status, rule, where, message, time\n"
               "                           (?rule= and the journal's ?method= ?path= ?status= ?limit=)\n"
               "  GET  /__mock/requests    the journal, each entry with its violations (?method= ?path= ?status=\n"
               "                           ?limit=: the last N exchanges, in both)\n"
               "  GET  /__mock/status      target, profile, record directory, counts\n"
               "  POST /__mock/reset       forget the journal and the violations\n\n"
               "With --record DIR, DIR becomes a fixtures directory (world.yaml and the default scenario are\n"
               "copied in when missing); each stream is written to DIR/scenarios/recorded-<n>-<slug>.yaml, and\n"
               "each 429 or 5xx answer as an http-status scenario. Replay one with\n"
               "`recoup-mock serve --fixtures DIR` and the header `Prefer: scenario=recorded-<n>-<slug>`.")
    proxy.add_argument("--target", required=True, metavar="URL",
                       help="the deployment to forward to, e.g. https://api.recoupable.dev (a path prefix is kept)")
    proxy.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: loopback only)")
    proxy.add_argument("--port", type=int, default=4011, help="port (default 4011; 0 picks a free one)")
    proxy.add_argument("--record", type=Path, metavar="DIR",
                       help="record each stream (and each 429/5xx answer) as a scenario in DIR/scenarios/")
    proxy.add_argument("--spec", type=Path, help=f"OpenAPI document (default {DEFAULT_SPEC.name})")
    proxy.add_argument("--profile", choices=PROFILE_NAMES,
                       help="the contract to check against: documented (default) or deployed (chat.yaml with "
                            "deployed.overlay.yaml applied)")

    har = sub.add_parser(
        "import-har", help="write the Recoup API exchanges of a browser's HAR file as scenarios",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Read a HAR 1.2 file (Chrome or Firefox: DevTools > Network > \"Save all as HAR with content\";\n"
                    "Playwright: recordHar) and write each exchange with the Recoup API as a scenario in\n"
                    "DIR/scenarios/har-<n>-<slug>.yaml: a text/event-stream answer as a stream scenario of its\n"
                    "chunks as they came, a 4xx/5xx JSON answer as an http-status scenario. A HAR keeps no time\n"
                    "per chunk: the first chunk waits the entry's timings.wait and its timings.receive is spread\n"
                    "over the others. Other hosts, non-API paths, preflights and 2xx JSON answers are skipped and\n"
                    "listed. No header (but Retry-After) and no query is written, and every credential value of\n"
                    "the file (authorization, API keys, cookies) is replaced with REDACTED wherever it appears.\n"
                    "A stream that breaks the contract is kept and declares the violates: it needs.",
        epilog="DIR becomes a fixtures directory (world.yaml and the default scenario are copied in when missing;\n"
               "nothing is overwritten). A file that is not HAR, or an exchange without its body, writes nothing\n"
               "and exits 2. Then: recoup-mock validate --fixtures DIR; recoup-mock serve --fixtures DIR and\n"
               "Prefer: scenario=har-<n>-<slug>.")
    har.add_argument("file", metavar="FILE", type=Path, help="the HAR file")
    har.add_argument("--out", type=Path, metavar="DIR", default=DEFAULT_HAR_DIR,
                     help=f"the fixtures directory to write into (default ./{DEFAULT_HAR_DIR}; created if missing)")
    har.add_argument("--spec", type=Path,
                     help=f"OpenAPI document whose paths are the API's (default {DEFAULT_SPEC.name})")

    contract = sub.add_parser("contract", help="run the contract suite against the bundled mock or --base-url")
    if command in (None, "contract"):
        # The flags come from the suite's one table of options, which `pytest contracts` is built from too
        # (importing it loads neither Schemathesis nor the rest of the suite).
        from .contracts.options import DEFAULT_MAX_STREAMS, argument_specs

        contract.description = (
            "Run the contract suite (Schemathesis phases and scripted flows) against the bundled mock, or a "
            f"deployment with --base-url. Bounded against a deployment: at most {DEFAULT_MAX_STREAMS} requests "
            "that could start an agent run unless --max-streams says otherwise; see also --rate-limit and "
            "--dry-run. Exit 0 when nothing new failed, 1 otherwise, 2 on a bad option.")
        for flag, kwargs in argument_specs(enforce_required=True):
            contract.add_argument(flag, **kwargs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recoup-mock`` command and of ``python -m mockserver``."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(_command(argv)).parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "contract":
            return _contract(args)
        if args.command == "proxy":
            return _proxy(args)
        if args.command == "import-har":
            return _import_har(args)
        if args.command == "init":
            return _init(args.dir if args.dir is not None else _init_dir())
        return _validate(env_settings(spec=args.spec, fixtures=args.fixtures, profile=args.profile))
    except MockServerError as exc:
        print(f"recoup-mock: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl+C: uvicorn has already shut down gracefully (and logged it) when it re-raises the interrupt.
        return 130


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from . import accesslog
    from .app import create_app
    from .middleware import DropFilter
    from .serving import graceful_server

    settings = env_settings(host=args.host, port=args.port, spec=args.spec, fixtures=args.fixtures,
                            speed=args.speed, seed=args.seed, admin_token=args.admin_token,
                            admin=False if args.no_admin else None, access_log=False if args.quiet else None,
                            max_worlds=args.max_worlds, profile=args.profile, watch=True if args.watch else None,
                            chaos=args.chaos, chaos_scenarios=args.chaos_scenarios,
                            memory_budget_mb=args.memory_budget)
    logging.basicConfig(level=logging.INFO if settings.access_log else logging.WARNING,
                        format=accesslog.LOG_FORMAT, stream=sys.stderr)
    # This process's access lines are written in batches, off the requests: installed before create_app
    # (its middleware takes the process's access log), closed after the server, so no line is lost.
    access = accesslog.BatchedAccessLog(sys.stderr) if settings.access_log else None
    if access is not None:
        accesslog.install(access)
    app = create_app(settings)
    if generic := app.state.mock.generic_operations:
        print(f"recoup-mock: served generically (no handler knows them): {', '.join(generic)}", file=sys.stderr)
    # This process is the server's own, so process-wide tuning is ours to do (never in create_app,
    # which may run inside a user's test process). Everything loaded so far (spec, validators,
    # fixtures) lives as long as the process: keep it out of the cyclic collector's full passes.
    gc.freeze()
    # What a request makes lives on (runs, sessions, journal entries, up to the memory budget), so the
    # youngest generation's collections, at the default 700 allocations, mostly find nothing to free.
    gc.set_threshold(10_000, 20, 20)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, access_log=False, log_level="info",
                            timeout_graceful_shutdown=2, server_header=False)
    # After Config, which (re)configures uvicorn's loggers.
    logging.getLogger("uvicorn.error").addFilter(DropFilter())
    if access is not None:
        access.precede(logging.getLogger(), logging.getLogger("uvicorn"))  # their lines come after ours
    try:
        graceful_server(config).run()
    finally:
        if access is not None:
            access.close()
    return 0


def _proxy(args: argparse.Namespace) -> int:
    import uvicorn

    from .proxy.admin import ProxySettings, ProxyState
    from .proxy.server import Proxy
    from .proxy.upstream import ProxyLogFilter

    # The contract comes from the settings every command reads (RECOUP_MOCK_SPEC, RECOUP_MOCK_PROFILE). Host
    # and port are the proxy's own flags: a shell set up for `serve` must not move the proxy onto the mock.
    contract = env_settings(spec=args.spec, profile=args.profile)
    settings = ProxySettings(target=args.target, host=args.host, port=args.port, record=args.record,
                             spec=contract.spec, profile=contract.profile)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the proxy logs each exchange itself, once
    state = ProxyState(settings)
    if state.recorder is not None:
        try:
            copied = state.recorder.prepare()
        except OSError as exc:  # not writable, or a parent that is no directory (ProxySettings refuses most)
            raise ConfigError(f"--record {settings.record}: cannot make it a fixtures directory: "
                              f"{exc.strerror or exc} ({exc.filename or settings.record}); expected a directory "
                              "this user can write (created if missing)") from None
        for path in copied:
            print(f"recoup-mock proxy: copied {path} (--record makes {settings.record} a fixtures directory)",
                  file=sys.stderr)
    print(f"recoup-mock proxy: forwarding to {state.target}, checking against the {settings.profile} contract"
          + (f", recording into {settings.record}/scenarios" if settings.record else ""), file=sys.stderr)
    # The upstream's own Date and Server headers go through: uvicorn adds none of its own.
    config = uvicorn.Config(Proxy(state), host=settings.host, port=settings.port, access_log=False, log_level="info",
                            timeout_graceful_shutdown=2, server_header=False, date_header=False)
    logging.getLogger("uvicorn.error").addFilter(ProxyLogFilter())
    uvicorn.Server(config).run()
    return 0


def _contract(args: argparse.Namespace) -> int:
    # Imported here: `serve` and `validate` never load Schemathesis (nor need the extra that brings it).
    try:
        from .contracts.cli import run
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in CONTRACT_EXTRA_MODULES:
            raise
        raise ConfigError(f"`recoup-mock contract` needs the 'contract' extra, which installs {missing}: "
                          'pip install "recoup-mock[contract]", or "<the wheel>[contract]".') from None
    return int(run(args))


def _init_dir() -> Path:
    """Where ``init`` writes without a DIR: the fixtures folder the settings name (RECOUP_MOCK_FIXTURES),
    which ``serve`` and ``validate`` then read, or ./recoup-fixtures when they name the bundled one."""
    fixtures = env_settings().fixtures
    return DEFAULT_INIT_DIR if fixtures == DEFAULT_FIXTURES else fixtures


def _init(target: Path) -> int:
    """Copy the bundled world.yaml and scenarios/*.yaml into ``target``: all of them or none. If one of them
    exists there already, refuse (exit 2) before writing anything."""
    import shlex

    scenarios = sorted((DEFAULT_FIXTURES / "scenarios").glob("*.yaml"))
    names = ["world.yaml", *(f"scenarios/{path.name}" for path in scenarios)]
    if not (DEFAULT_FIXTURES / "world.yaml").is_file() or not scenarios:
        raise ConfigError(f"The bundled fixtures are missing from {DEFAULT_FIXTURES}; reinstall recoup-mock.")
    for folder in (target, target / "scenarios"):
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder} exists and is not a directory; nothing was written.")
    existing = [target / name for name in names if (target / name).exists()]
    if existing:
        listed = "\n".join(f"  {path}" for path in existing)
        raise ConfigError(f"{len(existing)} file(s) already exist and init never overwrites; nothing was written:\n"
                          f"{listed}\nChoose another directory, or move these files away.")
    written: list[Path] = []
    try:
        (target / "scenarios").mkdir(parents=True, exist_ok=True)
        for name in names:
            # "x": never replace a file, not even one that appeared after the check above.
            with (target / name).open("xb") as out:
                written.append(target / name)
                out.write((DEFAULT_FIXTURES / name).read_bytes())
    except OSError as exc:
        for path in written:
            path.unlink(missing_ok=True)
        problem = f"Cannot write {exc.filename or target}: {exc.strerror or exc}"
        raise ConfigError(f"{problem}; nothing was written.") from None
    print(f"Wrote {len(written)} fixture files to {target}:")
    for path in written:
        print(f"  {path}")
    quoted = shlex.quote(str(target))
    print("\nEdit them, then check them and serve them:\n"
          f"  recoup-mock validate --fixtures {quoted}\n"
          f"  recoup-mock serve --fixtures {quoted}")
    return 0


def _import_har(args: argparse.Namespace) -> int:
    from .proxy.har import import_har
    from .spec import ApiSpec

    result = import_har(args.file, args.out, ApiSpec(env_settings(spec=args.spec).spec))
    for path in result.copied:
        print(f"copied {path} (every fixtures directory needs it)")
    for path in result.written:
        print(f"wrote {path}")
    if result.skipped:
        print(f"skipped {len(result.skipped)} entr{'y' if len(result.skipped) == 1 else 'ies'}:")
        for skipped in result.skipped:
            print(f"  {skipped}")
    if not result.written:
        print(f"No exchange with the Recoup API to import in {args.file}.", file=sys.stderr)
        return 1
    print(f"\nCheck them and serve them:\n  recoup-mock validate --fixtures {args.out}\n"
          f"  recoup-mock serve --fixtures {args.out}")
    return 0


def _validate(settings: Settings) -> int:
    """Check what `serve` with these settings would load, and more: the spec's full structure, that it fits
    the handlers (as start-up does), and every fixture file (all problems, not only the first)."""
    from .app import ADMIN_HANDLERS, API_HANDLERS, check_handlers, generic_operations
    from .profiles import derived_document, overlay_path, profile_named
    from .spec import ApiSpec, check_document, load_document
    from .state.fixtures import check_all

    spec_path, fixtures, profile = settings.spec, settings.fixtures, profile_named(settings.profile)
    problems: list[str] = []
    try:
        document = load_document(spec_path)  # read once: checked, overlaid, and the fixtures' chunk schema
        check_document(spec_path, document)
        spec = ApiSpec(spec_path, document)
        check_handlers(spec, API_HANDLERS, DEFAULT_SPEC)
        if profile.overlaid:
            overlay = overlay_path(spec_path, document)
            document = derived_document(spec_path, profile, document)
            check_document(spec_path, document, name=f"{spec_path} with {overlay or 'no overlay'} applied")
            spec = ApiSpec(spec_path, document)
            check_handlers(spec, API_HANDLERS, DEFAULT_SPEC)
        # The admin spec serve would load: one of the user's own, or the bundled ones when checking the bundle.
        if settings.admin and (settings.admin_spec != DEFAULT_ADMIN_SPEC or spec_path == DEFAULT_SPEC):
            check_document(settings.admin_spec)
            check_handlers(ApiSpec(settings.admin_spec), ADMIN_HANDLERS, DEFAULT_ADMIN_SPEC)
        if spec_path == DEFAULT_SPEC:
            check_document(DEFAULT_ADMIN_SPEC.with_name("proxy-admin.yaml"))  # what `recoup-mock proxy` serves
    except MockServerError as exc:
        problems.append(str(exc))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    lines = check_all(fixtures, spec.chunk_schemas())
    for line in lines:
        print(line, file=sys.stderr)
    if lines:
        print(f"{len(lines)} problem(s) found.", file=sys.stderr)
        return 1
    what = f"{spec_path} (profile {profile.name})" if profile.overlaid else str(spec_path)
    print(f"OK: {what} and the fixtures in {fixtures} are valid.")
    if generic := generic_operations(spec):
        print(f"Served generically (no handler knows them; documented example or a value built from the "
              f"response schema): {', '.join(generic)}")
    return 0
