"""One contract run: start the bundled mock if no target is given, run the flows, then the phases.

The flows go first: they are short, they check what the generator cannot reach (409, 403, 401,
204, the run lifecycle, full streams), and they create the chat the generated turns stream on.
The phases then use what is left of ``--max-time``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from mockserver.serving import ServedApp
from mockserver.settings import DEFAULT_SPEC

from . import baseline as baselines
from .flows import Workspace, run_flows
from .options import ContractOptions
from .phases import flow_config, load_schema, run_phases
from .report import ContractReport
from .target import Target
from .transport import bundled_mock, stream_byte_cap


def run_contract(options: ContractOptions, progress: Callable[[str], None] | None = None) -> ContractReport:
    """Run the whole suite as ``options`` say and return what it found; ``progress`` hears each part end."""
    started = time.monotonic()
    deadline = started + options.max_time if options.max_time is not None else None
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    spec = options.spec or DEFAULT_SPEC
    server: ServedApp | None = None
    if options.base_url is None:
        server = bundled_mock().start()
        base_url, kind = server.base_url, "bundled mock, full speed"
    else:
        base_url, kind = options.base_url.rstrip("/"), "target"
        if options.rate_limit is None:
            # Against a deployment, wait out 429s (Retry-After) rather than report them.
            options = options.replace(rate_limit="auto")
    report = ContractReport(base_url=base_url, target=kind, seed=seed)
    try:
        # Schemathesis' stream reader is byte-capped for this run only (see `transport.stream_byte_cap`).
        with stream_byte_cap(options.stream_byte_cap):
            workspace: Workspace | None = None
            if options.flows or options.phases:
                schema = load_schema(spec, flow_config(options, base_url, seed), ())
                target = Target(schema, base_url, options, report, deadline)
                workspace = run_flows(target, options.flows, options.repo_url)
                if progress is not None:
                    flows = ", ".join(options.flows) or "provisioning only"
                    progress(f"flows: {flows} ({report.requests.get('flows', 0)} requests, "
                             f"{len(report.findings)} failure(s) so far)")
                if workspace.created:
                    report.note("created: " + ", ".join(workspace.created))
                if workspace.world is not None:
                    report.note("the target has the mock's fixture world (409 from its pinned busy chat)")
            remaining = None if deadline is None else deadline - time.monotonic()
            if options.phases and (remaining is None or remaining > 0):
                run_phases(options, spec, base_url, report, workspace, seed, deadline, progress)
            elif options.phases:
                report.note("--max-time was spent before the Schemathesis phases could start")
    finally:
        if server is not None:
            server.stop()
    path = baselines.select(base_url, explicit=options.baseline, enabled=options.use_baseline,
                            bundled_mock=server is not None)
    if path is not None:
        if path.exists():
            baselines.apply(report, path)
        if options.baseline_update:
            baselines.update(report, path)
            report.note(f"baseline {path}: {report.baseline_recorded} new entr(y/ies) recorded")
    if server is not None:
        report.note(f"the bundled mock served on {base_url} for this run only; to replay a curl command, "
                    f"run `recoup-mock serve --speed 0 --port {server.port}` first")
    report.duration = time.monotonic() - started
    return report


def write_outputs(report: ContractReport, junit: Path | None) -> None:
    if junit is not None:
        from .report import write_junit

        write_junit(report, junit)
