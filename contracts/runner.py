"""One contract run: start the bundled mock if no target is given, run the flows, then the phases,
then clean up.

The flows go first: they are short, they check what the generator cannot reach (409, 403, 401,
204, the run lifecycle, full streams, the state behind the front end's surface), and they create
the chat the generated turns stream on. The phases then use what is left of ``--max-time``, of the
rate limit and of ``--max-streams`` (`limits`: one limiter and one cap for the whole run). Last,
`flows.clean_up` deletes the chats and rooms the flows made and archives their sessions (within
what is left of ``--max-time``; a note names anything left behind).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from mockserver.serving import ServedApp

from . import baseline as baselines
from .document import load_schema
from .flows import Workspace, clean_up, run_flows
from .limits import RunLimits, StreamCap, Throttle
from .options import DEFAULT_MAX_STREAMS, ContractOptions
from .phases import flow_config, run_phases
from .report import ContractReport
from .target import Target
from .transport import bundled_mock, stream_byte_cap

if TYPE_CHECKING:
    pass


def run_contract(options: ContractOptions, progress: Callable[[str], None] | None = None) -> ContractReport:
    """Run the whole suite as ``options`` say and return what it found; ``progress`` hears each part end."""
    started = time.monotonic()
    deadline = started + options.max_time if options.max_time is not None else None
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    spec = options.spec_path
    server: ServedApp | None = None
    if options.base_url is None:
        server = bundled_mock().start()
        base_url, kind = server.base_url, "bundled mock, full speed"
    else:
        # Against a deployment, 429s are waited out (Retry-After) rather than reported (`limits.RunLimits`).
        base_url, kind = options.base_url.rstrip("/"), "target"
    report = ContractReport(base_url=base_url, target=kind, seed=seed, stream_cap=options.stream_cap(),
                            stream_cap_source=stream_cap_source(options), rate_limit=options.effective_rate_limit(),
                            secrets=options.secrets())
    rate = options.effective_rate_limit()
    limits = RunLimits(StreamCap(options.stream_cap(), (options.api_key, options.other_api_key), report),
                       Throttle(rate, base_url), wait_on_429=rate is not None, deadline=deadline)
    try:
        # Schemathesis' stream reader is byte-capped for this run only (see `transport.stream_byte_cap`).
        with stream_byte_cap(options.stream_byte_cap):
            workspace: Workspace | None = None
            target: Target | None = None
            if options.flows or options.phases:
                schema = load_schema(spec, flow_config(options, base_url, seed))
                target = Target(schema, base_url, options, report, deadline, limits)
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
                run_phases(options, spec, base_url, report, workspace, seed, deadline, progress, limits)
            elif options.phases:
                report.note("--max-time was spent before the Schemathesis phases could start")
            if target is not None and workspace is not None:
                clean_up(target, workspace)
    finally:
        if server is not None:
            server.stop()
    path = baselines.select(base_url, explicit=options.baseline, bundled_mock=server is not None)
    if path is not None:
        if path.exists():
            baselines.apply(report, path)
        else:
            report.note(f"baseline {path} does not exist, so no failure counts as known drift")
    written = options.update_baseline or (path if options.baseline_update else None)
    if written is not None:
        baselines.update(report, written)
        report.note(f"baseline {written}: {report.baseline_recorded} new entr(y/ies) recorded"
                    + (" (fill in each `why`)" if report.baseline_recorded else ""))
    if server is not None:
        report.note(f"the bundled mock served on {base_url} for this run only; to replay a curl command, "
                    f"run `recoup-mock serve --speed 0 --port {server.port}` first")
    report.duration = time.monotonic() - started
    return report


def stream_cap_source(options: ContractOptions) -> str:
    if options.max_streams is not None:
        return "--max-streams"
    if options.stream_cap() == DEFAULT_MAX_STREAMS:
        return "the default against --base-url"
    return ""


def write_outputs(report: ContractReport, options: ContractOptions, environ: Mapping[str, str] | None = None) -> None:
    """The JUnit XML (``--junit``) and the Markdown summary (``--report``, also appended to
    ``$GITHUB_STEP_SUMMARY`` when that is set)."""
    from .report import write_junit, write_markdown

    if options.junit is not None:
        write_junit(report, options.junit)
    if options.report is not None:
        env = os.environ if environ is None else environ
        write_markdown(report, options.report, env.get("GITHUB_STEP_SUMMARY") or None)
