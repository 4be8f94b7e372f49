"""``taskexec run``: run a tasks.md, with the live terminal view, and ``--dry-run``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from taskexec_nb.errors import UsageError, ValidationError
from taskexec_nb.exitcodes import (
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TASKS_FAILED,
    EXIT_USAGE,
)

if TYPE_CHECKING:
    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.run.handle import RunHandle


HELP = "run a tasks.md"
"""What ``taskexec --help`` says ``run`` does."""


def add_parser(sub: Any, modes: list[str]) -> None:
    """Register ``run`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
        modes: The dependency modes (``--mode`` takes its words from the setting's
            declaration, the same list).
    """
    from taskexec_nb.run.options import add_run_options

    run = sub.add_parser(
        "run",
        help=HELP,
        description="Run the pending tasks of a "
        "tasks.md: parallel where independent, resumable, ticking [X] on success.",
    )
    run.add_argument("file", nargs="?", help="the tasks.md file")
    add_run_options(run)  # shared with %run_tasks: --profile, --dry-run, --resume, settings
    run.add_argument("-v", "--verbose", action="store_true", help="a line per task start and end")


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec run``.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code.
    """
    import taskexec_nb
    from taskexec_nb.cli.terminal import TerminalView
    from taskexec_nb.run.launch import RunRequest, start, start_run
    from taskexec_nb.run.options import check_tasks_file, run_options
    from taskexec_nb.run.resume import resume_command
    from taskexec_nb.run.selection import CLI_NAMES

    if args.file is None:
        if args.resume and Path(args.resume).is_file():
            raise UsageError(
                f"--resume took {args.resume!r} as a run ID and no tasks.md is left: "
                f"write the file first, e.g. taskexec run {shlex.quote(args.resume)} --resume"
            )
        raise UsageError("run: give the tasks.md file, e.g. taskexec run tasks.md")
    check_tasks_file(args.file)
    options = run_options(args, args.file)
    config, resumed, mode = options.config, options.resumed, options.mode
    for warning in config.warnings:
        print(f"taskexec: warning: {warning}", file=sys.stderr)
    try:
        plan = taskexec_nb.load(args.file, mode=mode)
    except ValidationError as exc:
        for d in exc.diagnostics:
            print(d.format(), file=sys.stderr)
        return EXIT_USAGE
    for d in plan.diagnostics:
        print(d.format(), file=sys.stderr)
    # The view learns the run's task count when it starts.
    view = TerminalView(sys.stderr, 0, verbose=args.verbose)
    request = RunRequest(
        plan,
        config=config,
        resumed=resumed,
        takeover=args.takeover,
        observers=[view],
        names=CLI_NAMES,
        start="none",
    )
    handle = start_run(request)
    if args.dry_run:
        return _dry_run(plan, handle, out)
    if not handle.resumed and not handle.requested:
        print(f"nothing to run in {args.file}: the selected tasks are done", file=sys.stderr)
        return EXIT_OK
    try:
        # SIGTERM (a CI job's timeout, kill) and SIGHUP (the terminal closed) stop the run
        # as Ctrl-C does: running tasks are ended and the run can be resumed.
        start(handle, "block", stop_signals=True)
    except KeyboardInterrupt:
        resume = resume_command(args.file, handle.run_id, handle.state_dir)
        print(f"interrupted; resume with: {resume}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"state: {handle.store_path}  logs: {handle.log_dir}", file=out)
    from taskexec_nb.events import RunStatus

    if handle.result is RunStatus.COMPLETED:
        return EXIT_OK
    if handle.result in (RunStatus.INTERRUPTED, RunStatus.CANCELLED):
        return EXIT_INTERRUPTED
    if handle.result is RunStatus.INCOMPLETE:
        resume = resume_command(args.file, handle.run_id, handle.state_dir)
        if handle.settings.agent_command:  # kept from no_action=skip: say agent this time
            print(f"incomplete; resume with: {resume} --no-action agent", file=sys.stderr)
        else:
            print(f"incomplete; once an agent is connected, resume with: {resume}", file=sys.stderr)
        return EXIT_INCOMPLETE
    resume = resume_command(args.file, handle.run_id, handle.state_dir)
    print(
        f"failed; once fixed, resume with: {resume}  (runs what did not complete; "
        "completed tasks are kept)",
        file=sys.stderr,
    )
    return EXIT_TASKS_FAILED


def _dry_run(plan: ExecutionPlan, handle: RunHandle, out: TextIO) -> int:
    """What ``taskexec run --dry-run`` prints: the tasks a start would run, by wave."""
    from taskexec_nb.run.options import dry_run_lines

    notes, lines = dry_run_lines(plan, handle)
    for note in notes:
        print(f"taskexec: note: {note}", file=sys.stderr)
    for line in lines:
        print(line, file=out)
    return EXIT_OK
