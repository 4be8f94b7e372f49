"""``taskexec notebook``: run a tasks.md through the report notebook (papermill)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from taskexec_nb.exitcodes import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TASKS_FAILED,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from taskexec_nb.errors import NotebookError

_USAGE_ERRORS = ("ValidationError", "UsageError", "ConfigError", "ReportError", "ResumeError")
"""Errors of the kernel that mean bad input: the command exits 2, as ``taskexec run`` does."""


HELP = "run a tasks.md in the report notebook (papermill)"
"""What ``taskexec --help`` says ``notebook`` does."""


def add_parser(sub: Any) -> None:
    """Register ``notebook`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
    """
    notebook = sub.add_parser(
        "notebook",
        help=HELP,
        description="Run a tasks.md through the report notebook with papermill, and write "
        "the executed notebook: the plan, the run's summary, progress, problems, task "
        "and attempt tables and figures. A run that does not complete, or a cell that "
        "fails, still writes it, with the error where it happened.",
    )
    notebook.add_argument("file", help="the tasks.md file")
    notebook.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="the executed notebook (.ipynb)"
    )
    notebook.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a notebook parameter: profile, mode, workers, only, from_task, until, run_id, "
        "html_report, require_success (repeat -p for more)",
    )
    notebook.add_argument(
        "--notebook", metavar="IPYNB", help="run this notebook instead of the report notebook"
    )
    notebook.add_argument("--kernel", metavar="NAME", help="Jupyter kernel (default: python3)")
    notebook.add_argument("--progress", action="store_true", help="show a progress bar")


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec notebook``.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code: 0 when every cell ran, 1 when the run failed (or another
        cell's error), 3 when it is incomplete, 2 for bad input (a missing file, a
        bad parameter, a tasks.md that does not validate), 130 when interrupted.
    """
    from taskexec_nb.errors import NotebookError, UsageError
    from taskexec_nb.jupyter.batch import run_notebook

    parameters: dict[str, str] = {}
    for name, value in args.parameter:
        if name == "tasks":
            raise UsageError("-p tasks: give the tasks.md as the command's argument")
        parameters[name] = value
    try:
        written = run_notebook(
            args.file,
            args.output,
            parameters,
            notebook=args.notebook,
            kernel=args.kernel,
            progress=args.progress,
        )
    except NotebookError as exc:
        print(f"taskexec: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    print(f"wrote the executed notebook to {written}", file=out)
    return EXIT_OK


def exit_code(error: NotebookError) -> int:
    """The exit code for a notebook that stopped at a cell's error.

    Args:
        error: The error.

    Returns:
        2 when the kernel's error is bad input (a tasks.md that does not validate, a
        bad setting), 3 when the run ended incomplete, 130 when it was interrupted
        (Ctrl-C, SIGTERM, SIGHUP), else 1.
    """
    if error.ename in _USAGE_ERRORS:
        return EXIT_USAGE
    if error.ename == "KeyboardInterrupt":
        return EXIT_INTERRUPTED
    if error.ename == "RunFailedError" and " ended incomplete:" in error.evalue:
        return EXIT_INCOMPLETE
    return EXIT_TASKS_FAILED
