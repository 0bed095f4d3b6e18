"""``recoup-mock contract``: the flags, and what the command prints and returns."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .options import ContractOptions
from .report import format_report
from .runner import run_contract, write_outputs


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the suite for parsed ``args``; print each failure and a summary; 0 when nothing new failed."""
    stream = out or sys.stdout
    try:
        options = ContractOptions.from_env(
            api_key=args.api_key, base_url=args.base_url, other_api_key=args.other_api_key, junit=args.junit,
            max_examples=args.max_examples, seed=args.seed, max_time=args.max_time,
        )
    except ValueError as exc:
        print(f"recoup-mock contract: {exc}", file=sys.stderr)
        return 2
    target = options.base_url or "the bundled mock"
    print(f"recoup-mock contract: testing {target} (seed {options.seed if options.seed is not None else 'random'}, "
          f"max {options.max_examples} examples per operation and phase)", file=stream, flush=True)
    def progress(message: str) -> None:
        print(f"  {message}", file=stream, flush=True)

    report = run_contract(options, progress)
    write_outputs(report, options.junit)
    print(format_report(report), file=stream, flush=True)
    if options.junit is not None:
        print(f"JUnit report: {options.junit}", file=stream)
    return report.exit_code
