"""``taskexec status``: one row per task of a run, once or ``--watch``."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any, TextIO

from taskexec_nb.cli.common import add_state_dir, open_store, pick_run, run_or_tasks
from taskexec_nb.errors import UsageError
from taskexec_nb.exitcodes import EXIT_OK
from taskexec_nb.report.runs import plain, with_runner

HELP = "show the state of a run"
"""What ``taskexec --help`` says ``status`` does."""


def add_parser(sub: Any) -> None:
    """Register ``status`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
    """
    status = sub.add_parser(
        "status",
        help=HELP,
        description="Show one row per task of a run, from the state store.",
    )
    status.add_argument(
        "run",
        nargs="?",
        help="run ID, or a tasks.md for its latest run (default: the latest of ./tasks.md)",
    )
    add_state_dir(status)
    status.add_argument("--json", action="store_true", help="print JSON for tools")
    status.add_argument(
        "--watch",
        action="store_true",
        help="refresh in place until the run ends (Ctrl-C stops watching)",
    )
    status.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="--watch refresh period"
    )


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec status [RUN] [--watch] [--json]``.

    With ``--watch --json`` a JSON document is printed on one line each time the
    run changes (JSON Lines), until the run ends.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code.
    """
    if not 0 < args.interval <= _MAX_INTERVAL:  # also nan, and inf, which sleep() refuses
        raise UsageError(
            f"--interval {args.interval:g}: give a number of seconds above 0, "
            f"at most {_MAX_INTERVAL:g} (a day)"
        )
    if not args.watch:
        print(_status_render(args, indent=2)[0], file=out)
        return EXIT_OK
    redraw = out.isatty() and not args.json
    last = ""
    try:
        while True:
            text, active = _status_render(args, indent=None)
            # On a pipe a new snapshot only when something changed: a growing "12+" is none.
            key = text if redraw else _RUNNING_FOR.sub(" ", text)
            if key != last:
                if redraw:
                    out.write("\x1b[H\x1b[2J")  # home, clear: redraw in place
                out.write(text + "\n")
                out.flush()
                last = key
            if not active:
                return EXIT_OK
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return EXIT_OK


_MAX_INTERVAL = 86400.0
"""The longest ``--watch`` period taken (a day): ``time.sleep`` refuses huge ones."""

_RUNNING_FOR = re.compile(r" +\d+\+ ")  # the SECONDS of a task still running


def _status_render(args: argparse.Namespace, indent: int | None) -> tuple[str, bool]:
    """The run's status as text or JSON, and whether the run is still going."""
    given, tasks_file = run_or_tasks(args.run)
    store = open_store(args.state_dir, tasks_file)
    try:
        run_id = pick_run(store, given, tasks_file)
        run = with_runner(store.run(run_id))
        records = store.tasks(run_id)
    finally:
        store.close()
    from taskexec_nb.report.status import status_text

    if "recorded_status" in run:
        from taskexec_nb.store import as_gone

        records = [as_gone(t) for t in records]
    tasks = [t.as_dict() for t in records]
    active = run["status"] in ("running", "paused")
    if args.json:
        doc = {"run": plain(run), "tasks": [plain(t) for t in tasks]}
        import json

        return json.dumps(doc, indent=indent, default=str), active
    return status_text(run, tasks, Path(store.path).parent), active
