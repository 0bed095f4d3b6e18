"""``recoup-mock``: serve the mock, validate a spec and fixtures, run the contract suite.

Logging is configured here and only here (not at import, not in `create_app`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import MockServerError
from .settings import DEFAULT_ADMIN_SPEC, DEFAULT_FIXTURES, DEFAULT_SPEC, env_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="recoup-mock",
        description="Serve the Recoup chat API mock, check a spec and fixtures, or run the contract suite "
                    "against the mock or a deployment.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the mock API")
    serve.add_argument("--host", help="interface to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, help="port (default 4010; 0 picks a free one)")
    serve.add_argument("--spec", type=Path, help=f"OpenAPI document (default {DEFAULT_SPEC.name})")
    serve.add_argument("--fixtures", type=Path, help="fixtures directory (world.yaml, scenarios/)")
    serve.add_argument("--speed", type=float, help="multiply every scripted delay (0 = no waits)")
    serve.add_argument("--seed", type=int, help="seed for ids and jitter (default 0)")
    serve.add_argument("--no-admin", action="store_true", help="do not serve /__mock/*")
    serve.add_argument("--admin-token", help="require x-mock-admin-token on /__mock/*")
    serve.add_argument("--quiet", action="store_true", help="no per-request log lines")

    validate = sub.add_parser("validate", help="check the spec and every fixture file")
    validate.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    validate.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)

    contract = sub.add_parser("contract", help="run the contract suite against the bundled mock or --base-url")
    contract.add_argument("--base-url", metavar="URL",
                          help="the API to test (default: start the bundled mock on a free port at full speed)")
    contract.add_argument("--api-key", metavar="KEY", required=True, help="the account the suite acts as")
    contract.add_argument("--other-api-key", metavar="KEY",
                          help="a second account (403s on its chat, object_level_authorization)")
    contract.add_argument("--junit", metavar="PATH", type=Path, help="write a JUnit XML report to PATH")
    contract.add_argument("--max-examples", metavar="N", type=int, help="test cases per operation and phase")
    contract.add_argument("--seed", metavar="N", type=int, help="seed of the generated data")
    contract.add_argument("--max-time", metavar="S", type=float, help="stop sending after S seconds in all")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``recoup-mock`` command and of ``python -m mockserver``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "contract":
            return _contract(args)
        return _validate(args.spec, args.fixtures)
    except MockServerError as exc:
        print(f"recoup-mock: {exc}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .middleware import DropFilter

    settings = env_settings(host=args.host, port=args.port, spec=args.spec, fixtures=args.fixtures,
                            speed=args.speed, seed=args.seed, admin_token=args.admin_token,
                            admin=False if args.no_admin else None, access_log=False if args.quiet else None)
    logging.basicConfig(level=logging.INFO if settings.access_log else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    app = create_app(settings)
    # This process is the server's own, so process-wide tuning is ours to do (never in create_app,
    # which may run inside a user's test process). Everything loaded so far (spec, validators,
    # fixtures) lives as long as the process: keep it out of the cyclic collector's full passes.
    gc.freeze()
    config = uvicorn.Config(app, host=settings.host, port=settings.port, access_log=False, log_level="info",
                            timeout_graceful_shutdown=2, server_header=False)
    # After Config, which (re)configures uvicorn's loggers.
    logging.getLogger("uvicorn.error").addFilter(DropFilter())
    uvicorn.Server(config).run()
    return 0


def _contract(args: argparse.Namespace) -> int:
    # Imported here: `serve` and `validate` never load Schemathesis.
    from .contracts.cli import run

    return int(run(args))


def _validate(spec_path: Path, fixtures: Path) -> int:
    from .fixtures import check_all
    from .spec import ApiSpec, check_document

    problems: list[str] = []
    for path in (spec_path, DEFAULT_ADMIN_SPEC if spec_path == DEFAULT_SPEC else None):
        if path is not None:
            try:
                check_document(path)
            except MockServerError as exc:
                problems.append(str(exc))
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    lines = check_all(fixtures, ApiSpec(spec_path).chunk_schemas())
    for line in lines:
        print(line, file=sys.stderr)
    if lines:
        print(f"{len(lines)} problem(s) found.", file=sys.stderr)
        return 1
    print(f"OK: {spec_path} and the fixtures in {fixtures} are valid.")
    return 0
