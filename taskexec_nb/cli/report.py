"""``taskexec report``: a run as HTML, JUnit, CSV, JSON, Markdown or Parquet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from taskexec_nb.errors import UsageError
from taskexec_nb.exitcodes import EXIT_OK

HELP = "write the report of a run"
"""What ``taskexec --help`` says ``report`` does."""


def add_parser(sub: Any) -> None:
    """Register ``report`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
    """
    from taskexec_nb.cli.common import add_state_dir
    from taskexec_nb.report.formats import FORMATS

    report = sub.add_parser(
        "report",
        help=HELP,
        description="Write the report of a run: html (self-contained, with figures), junit "
        "(for CI), csv, json, md or parquet. Without RUN: the latest run of the tasks.md in "
        "the current folder (or the latest run in the store).",
    )
    report.add_argument(
        "run",
        nargs="?",
        help="run ID, or a tasks.md for its latest run (default: the latest of ./tasks.md)",
    )
    report.add_argument(
        "--format",
        "-f",
        choices=list(FORMATS),
        help="the format (default: from the -o suffix, else md)",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    report.add_argument(
        "--tasks", metavar="TASKS_MD", help="report runs of this tasks.md (default: ./tasks.md)"
    )
    add_state_dir(report)


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec report``.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code.
    """
    from taskexec_nb.cli.common import run_or_tasks
    from taskexec_nb.report import ExecutionReport
    from taskexec_nb.report.formats import FORMATS, SUFFIXES
    from taskexec_nb.report.runs import state_dir_default

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower() if args.output else ""
        if suffix and suffix not in SUFFIXES:
            known = ", ".join(sorted(SUFFIXES))
            raise UsageError(
                f"-o {args.output}: no report format for {suffix!r} (known: {known}); "
                "give --format to write it anyway"
            )
        fmt = SUFFIXES.get(suffix, "md")
    if fmt == "parquet" and not args.output:
        raise UsageError("--format parquet needs -o FILE (Parquet is binary)")
    run, tasks_file = run_or_tasks(args.run, args.tasks)
    state_dir = args.state_dir or state_dir_default(tasks_file)
    report = ExecutionReport.load(state_dir, run, tasks_file=tasks_file)
    if args.output:
        report.export(fmt, args.output)
        print(f"wrote {fmt} report of run {report.run_id} to {args.output}", file=sys.stderr)
        return EXIT_OK
    writer = FORMATS[fmt].text
    if writer is None:  # a binary format
        raise UsageError(f"--format {fmt} needs -o FILE")
    out.write(writer(report).rstrip("\n") + "\n")
    return EXIT_OK
