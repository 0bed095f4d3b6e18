"""``recoup-mock contract``: what the command prints and returns (its flags are `options.OPTIONS`)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .options import ContractOptions, OptionError, flag_values
from .plan import describe
from .report import format_report

# Imported with this module (not when a run starts), so that `recoup-mock contract` without the
# 'contract' extra fails at once, where mockserver.cli says which extra to install.
from .runner import run_contract, write_outputs


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the suite for parsed ``args``; print the plan, each failure and a summary; 0 when nothing new
    failed, 1 otherwise, 2 on a bad option (its flag, value and what is expected; no traceback)."""
    stream = out or sys.stdout
    try:
        options = ContractOptions.from_sources(flag_values(lambda dest: getattr(args, dest, None)))
    except OptionError as exc:
        print(f"recoup-mock contract: {exc}", file=sys.stderr)
        return 2
    for line in describe(options, full=options.dry_run):
        print(line, file=stream, flush=True)
    if options.dry_run:
        print("recoup-mock contract: dry run, nothing was sent", file=stream)
        return 0

    def progress(message: str) -> None:
        print(f"  {message}", file=stream, flush=True)

    report = run_contract(options, progress)
    write_outputs(report, options)
    print(format_report(report), file=stream, flush=True)
    if options.junit is not None:
        print(f"JUnit report: {options.junit}", file=stream)
    if options.report is not None:
        print(f"Markdown summary: {options.report}", file=stream)
    return report.exit_code
