"""``taskexec run``: run a tasks.md, with the live terminal view, and ``--dry-run``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from taskexec_nb.config.flags import FLAGS as _FLAGS
from taskexec_nb.config.flags import table_items
from taskexec_nb.errors import ResumeError, UsageError, ValidationError
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
    from taskexec_nb.config.flags import add_setting_flags

    run = sub.add_parser(
        "run",
        help=HELP,
        description="Run the pending tasks of a "
        "tasks.md: parallel where independent, resumable, ticking [X] on success.",
    )
    run.add_argument("file", nargs="?", help="the tasks.md file")
    run.add_argument(
        "--profile", metavar="NAME", help="config profile (default: $TASKEXEC_PROFILE)"
    )
    run.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    run.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="RUN",
        help="continue a run (default: the latest run of this file)",
    )
    run.add_argument(
        "--takeover",
        action="store_true",
        help="with --resume: take over a run marked running on another host whose runner is gone",
    )
    add_setting_flags(run)  # one flag per setting declared with flags on RunSettings
    run.add_argument("-v", "--verbose", action="store_true", help="a line per task start and end")


def _agent_command(text: str | None) -> list[str] | None:
    if text is None:
        return None
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"--agent-command: not a JSON list: {exc}") from None
        if not isinstance(value, list):
            raise UsageError("--agent-command: the JSON must be a list of strings")
        return [str(v) for v in value]
    try:
        return shlex.split(stripped)
    except ValueError as exc:
        raise UsageError(f"--agent-command: {exc}") from None


def _tasks_file(name: str) -> None:
    """Refuse a tasks.md argument that is not a regular file, saying what it is."""
    import os
    import stat

    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        broken = " (a broken symbolic link)" if os.path.islink(name) else ""
        raise UsageError(f"{name}: no such file{broken}") from None
    except OSError as exc:  # e.g. a symlink loop, a permission
        raise UsageError(f"{name}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{name}: is a folder; give the tasks.md file in it")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{name}: not a regular file (a tasks.md is read, then ticked in place)")


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
    from taskexec_nb.config import resolve
    from taskexec_nb.run.launch import RunRequest, find_resumed, start, start_run
    from taskexec_nb.run.selection import CLI_NAMES

    if args.file is None:
        if args.resume and Path(args.resume).is_file():
            raise UsageError(
                f"--resume took {args.resume!r} as a run ID and no tasks.md is left: "
                f"write the file first, e.g. taskexec run {shlex.quote(args.resume)} --resume"
            )
        raise UsageError("run: give the tasks.md file, e.g. taskexec run tasks.md")
    _tasks_file(args.file)
    only = None
    if args.only is not None:
        only = [s for group in args.only for s in group.split(",")]
    arguments = {
        "mode": args.mode,
        "max_workers": args.max_workers,
        "fail_fast": args.fail_fast,
        "timeout": args.timeout,
        "retries": args.retries,
        "backoff": args.backoff,
        "kill_grace": args.kill_grace,
        "allow_failure": args.allow_failure,
        "resources": table_items(_FLAGS["resources"], args.resource),
        "no_action": args.no_action,
        "agent_command": _agent_command(args.agent_command),
        "agent_context": args.agent_context,
        "writeback": args.writeback,
        "state_dir": str(Path(args.state_dir).resolve()) if args.state_dir else None,
        "only": only,
        "from_task": args.from_task,
        "until": args.until,
    }
    config = resolve(args.file, profile=args.profile, arguments=arguments, argument_names=_FLAGS)
    for warning in config.warnings:
        print(f"taskexec: warning: {warning}", file=sys.stderr)
    mode = config.mode
    resumed = None
    if args.takeover and args.resume is None:
        raise UsageError("--takeover goes with --resume (it takes over a run to continue it)")
    if args.resume is not None:
        given = [
            f
            for f, v in (("--only", only), ("--from", args.from_task), ("--until", args.until))
            if v is not None
        ]
        if given:
            raise UsageError(
                f"--resume continues the run's own selection: leave out {', '.join(given)} "
                "(or start a new run with them)"
            )
        resumed = find_resumed(
            args.file, config.settings, args.resume, takeover=args.takeover, given=arguments
        )
        run = resumed.run
        if args.mode is not None and run.mode and args.mode != run.mode:
            raise ResumeError(
                f"--mode {args.mode}: run {resumed.run_id} used --mode {run.mode}; "
                "a resume keeps its run's mode (leave --mode out)",
                reason="other_mode",
                run_id=resumed.run_id,
                tasks_file=str(Path(args.file).resolve()),
            )
        mode = run.mode or mode  # the run's mode, whatever the config says now
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
        print(
            f"interrupted; resume with: taskexec run {shlex.quote(args.file)} "
            f"--resume {handle.run_id}",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(f"state: {handle.store_path}  logs: {handle.log_dir}", file=out)
    from taskexec_nb.events import RunStatus

    if handle.result is RunStatus.COMPLETED:
        return EXIT_OK
    if handle.result in (RunStatus.INTERRUPTED, RunStatus.CANCELLED):
        return EXIT_INTERRUPTED
    if handle.result is RunStatus.INCOMPLETE:
        resume = f"taskexec run {shlex.quote(args.file)} --resume {handle.run_id}"
        if handle.settings.agent_command:  # kept from no_action=skip: say agent this time
            print(f"incomplete; resume with: {resume} --no-action agent", file=sys.stderr)
        else:
            print(f"incomplete; once an agent is connected, resume with: {resume}", file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_TASKS_FAILED


def _dry_run(plan: ExecutionPlan, handle: RunHandle, out: TextIO) -> int:
    """What ``taskexec run --dry-run`` prints: the tasks a start would run, by wave."""
    selection = handle.preview()
    settings = handle.settings
    for note in handle.notices:
        print(f"taskexec: note: {note}", file=sys.stderr)
    what = f"resume of run {handle.run_id}" if handle.resumed else "dry run"
    print(
        f"{what}: {len(selection)} task(s) would run with max_workers={settings.max_workers}, "
        f"no_action={settings.effective_no_action}",
        file=out,
    )
    if settings.agent_command:
        from taskexec_nb.agentcmd import agent_command_form

        print(f"agent command: {agent_command_form(settings.agent_command)}", file=out)
    for i, ids in enumerate(plan.waves_of(selection)):
        print(f"wave {i}:", file=out)
        for tid in ids:
            task = plan[tid]
            kind = task.action.kind.value
            if kind == "none":
                kind = f"none -> {settings.effective_no_action}"
            print(f"  {tid:<8} {kind:<16} {task.description[:70]}", file=out)
    return EXIT_OK
