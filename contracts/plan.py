"""A run's plan in words: its first lines (target, limits, scope, headers, baseline), and with
``--dry-run`` all of it (every operation the phases would test, the outputs), sending nothing.

The caps are always printed: against a ``--base-url``, at most `options.DEFAULT_MAX_STREAMS`
requests that could start an agent run, so that nobody is surprised by what is, or is not, sent.
"""

from __future__ import annotations

from .options import ContractOptions
from .report import header_variable


def describe(options: ContractOptions, *, full: bool = False) -> list[str]:
    target = options.base_url or "the bundled mock (started on a free port at full speed)"
    seed = options.seed if options.seed is not None else "random"
    lines = [f"recoup-mock contract: testing {target} (seed {seed}, at most {options.max_examples} examples per "
             "operation and phase)"]
    spec = str(options.spec) if options.spec is not None else f"the bundled {options.spec_path.name}"
    lines.append(f"  spec: {spec} ({len(options.spec_operations())} operations)")
    lines.append(f"  limits: {_streams(options)}; {_rate(options)}; request timeout {options.request_timeout:g} s; "
                 + (f"--max-time {options.max_time:g} s" if options.max_time is not None else "no time limit"))
    operations = options.operations()
    total = len(options.spec_operations())
    flows = ", ".join(options.flows) or "none"
    if not options.flows and options.phases:
        flows += " (provisioning still creates the session and chats the generated turns use)"
    scope = (f"  scope: phases {', '.join(options.phases) or 'none'} on {len(operations)} of {total} operations; "
             f"flows {flows}")
    if options.exclude:
        scope += f"; never called: {', '.join(options.exclude)}"
    lines.append(scope)
    if options.headers:
        shown = ", ".join(f"{name} (value hidden; printed as ${header_variable(name)})" for name, _ in options.headers)
        lines.append(f"  headers on every request: {shown}")
    lines.append(f"  baseline: {_baseline(options)}")
    if not full:
        return lines
    if options.phases:
        lines.append(f"  operations the phases test ({len(operations)}):")
        # Two columns, operationId and METHOD /path, when any has an operationId.
        ids = any(op.operation_id for op in operations)
        lines += [f"    {op.operation_id or '':<20} {op.label}" if ids else f"    {op.label}" for op in operations]
    if options.flows:
        lines.append("  flows: provision (creates what they need), then " + ", ".join(options.flows)
                     + (" (their steps on excluded operations are skipped)" if options.exclude else ""))
    if options.flows or options.phases:
        lines.append("  at the end: the chats and rooms the flows made are deleted, their sessions archived")
    outputs = []
    if options.junit is not None:
        outputs.append(f"JUnit {options.junit}")
    if options.report is not None:
        outputs.append(f"Markdown {options.report} (also appended to $GITHUB_STEP_SUMMARY when set)")
    if options.update_baseline is not None:
        outputs.append(f"baseline of this run's failures {options.update_baseline}")
    lines.append(f"  writes: {'; '.join(outputs) or 'nothing (the report is printed)'}")
    return lines


def _streams(options: ContractOptions) -> str:
    cap = options.stream_cap()
    if cap is None:
        why = "--max-streams unlimited" if options.max_streams == "unlimited" else "the bundled mock"
        return f"no cap on requests that could start an agent run ({why})"
    why = "--max-streams" if options.max_streams is not None else "the default against --base-url"
    return f"at most {cap} requests that could start an agent run ({why}; --max-streams N or unlimited to change)"


def _rate(options: ContractOptions) -> str:
    rate = options.effective_rate_limit()
    if rate is None:
        return "no rate limit"
    if rate == "auto":
        return "rate limit auto (429s are waited out)"
    count, unit = rate.split("/")
    per = "second" if unit == "s" else {"m": "minute", "h": "hour"}.get(unit, "day")
    return f"at most {count} requests a {per} (429s are waited out)"


def _baseline(options: ContractOptions) -> str:
    from . import baseline as baselines

    if options.baseline == "none":
        return "none (--baseline none)"
    if options.baseline is not None:
        missing = "" if options.baseline.exists() else " (does not exist yet: nothing counts as known drift)"
        return f"{options.baseline}{missing}"
    if options.base_url is None:
        return "none (the bundled mock must pass as it is)"
    chosen = baselines.select(options.base_url, explicit=None, bundled_mock=False)
    if chosen is not None:
        return f"{chosen} (bundled; this host is one of its targets)"
    return "none (no bundled baseline lists this host; --baseline PATH or NAME to use one)"
