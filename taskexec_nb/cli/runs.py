"""``taskexec runs``: the runs in the state store, newest first."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from taskexec_nb.cli.common import add_state_dir, open_store, tasks_file_here
from taskexec_nb.exitcodes import EXIT_OK
from taskexec_nb.report.runs import plain, with_runner

HELP = "list runs"
"""What ``taskexec --help`` says ``runs`` does."""


def add_parser(sub: Any) -> None:
    """Register ``runs`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
    """
    runs = sub.add_parser("runs", help=HELP, description="List the runs in the state store.")
    runs.add_argument(
        "tasks",
        nargs="?",
        metavar="tasks.md",
        help="only this tasks.md's runs, its store found beside it (as status and report "
        "find it; default: every run in the store of ./tasks.md)",
    )
    add_state_dir(runs)
    runs.add_argument("--json", action="store_true", help="print JSON for tools")


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec runs``.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code.
    """
    from taskexec_nb.report.status import _when

    tasks_file = tasks_file_here(args.tasks)
    store = open_store(args.state_dir, tasks_file)
    try:
        records = store.runs(str(tasks_file.resolve()) if args.tasks and tasks_file else None)
    finally:
        store.close()
    runs = [with_runner(r) for r in records]
    if args.json:
        import json

        print(json.dumps([plain(r) for r in runs], indent=2, default=str), file=out)
        return EXIT_OK
    print(f"{'RUN':<22} {'STATUS':<12} {'STARTED':<20} TASKS", file=out)
    for r in runs:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r["counts"].items()))
        print(f"{r['run_id']:<22} {r['status']:<12} {_when(r['started']):<20} {counts}", file=out)
    return EXIT_OK
