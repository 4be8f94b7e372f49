"""A run's options as ``taskexec run`` and the ``%run_tasks`` magic take them.

Both front ends read the same options (:func:`add_run_options`: ``--profile``,
``--dry-run``, ``--resume [RUN]``, ``--takeover`` and one flag per setting) and
turn them into a run the same way (:func:`run_options`: the configuration with the
flags applied, the run a resume continues); then each makes a
:class:`~taskexec_nb.run.launch.RunRequest` of it and starts it its own way (the
terminal blocks, a notebook starts the run on the kernel's event loop).
:func:`check_tasks_file` is the check both make of a tasks.md argument, and
:func:`dry_run_lines` what both show for ``--dry-run``.
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taskexec_nb.config.flags import FLAGS, add_setting_flags, cli_arguments
from taskexec_nb.errors import ResumeError, UsageError

if TYPE_CHECKING:
    from taskexec_nb.config import Config
    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.run.handle import RunHandle
    from taskexec_nb.run.launch import Resumed


def add_run_options(parser: argparse.ArgumentParser, *, skip: Collection[str] = ()) -> None:
    """Add a run's options to a parser: ``--profile``, ``--dry-run``, ``--resume`` and the settings.

    Args:
        parser: ``taskexec run``'s parser, or a magic's.
        skip: Settings left without a flag (``%run_tasks`` has no ``--mode``: its plan
            is loaded already, in its mode).
    """
    parser.add_argument(
        "--profile", metavar="NAME", help="config profile (default: $TASKEXEC_PROFILE)"
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="",
        metavar="RUN",
        help="continue a run (default: the latest run of this file)",
    )
    parser.add_argument(
        "--takeover",
        action="store_true",
        help="with --resume: take over a run marked running on another host whose runner is gone",
    )
    add_setting_flags(parser, skip=skip)  # one flag per setting declared with flags


def check_tasks_file(name: str) -> None:
    """Refuse a tasks.md argument that is not a regular file, saying what it is.

    Args:
        name: The path as given.

    Raises:
        UsageError: If it does not exist, is a folder or is not a regular file; the
            message names the path.
    """
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


@dataclass(frozen=True)
class RunOptions:
    """What a run's options come to, before its plan is loaded (or once it is).

    Attributes:
        config: The configuration with the flags applied (its warnings are the
            caller's to show).
        resumed: The run ``--resume`` continues (None: a new run).
        mode: The dependency mode to load the plan in: the resumed run's, else the
            configuration's.
    """

    config: Config
    resumed: Resumed | None
    mode: str


def run_options(
    args: argparse.Namespace, tasks_file: str | None, *, profile: str | None = None
) -> RunOptions:
    """Turn a run's parsed options into its configuration and the run it resumes.

    Args:
        args: Options read by a parser set up with :func:`add_run_options`.
        tasks_file: The tasks.md, or a text plan's name in angle brackets
            (``<cell plan>``; None: ``<string>``): for text, the configuration is
            searched from the current folder.
        profile: The profile when ``--profile`` is not given (a plan's own).

    Returns:
        The configuration, the resumed run and the mode.

    Raises:
        UsageError: For a flag's bad value, ``--takeover`` without ``--resume``,
            ``--resume`` with a selection, or a run that cannot be resumed.
        ConfigError: For a bad configuration.
    """
    from taskexec_nb.config import resolve
    from taskexec_nb.paths import is_text_path
    from taskexec_nb.run.launch import find_resumed

    arguments = cli_arguments(args)
    config = resolve(
        None if tasks_file is None or is_text_path(tasks_file) else tasks_file,
        profile=args.profile or profile,
        arguments=arguments,
        argument_names=FLAGS,
    )
    mode = config.mode
    if args.takeover and args.resume is None:
        raise UsageError("--takeover goes with --resume (it takes over a run to continue it)")
    if args.resume is None:
        return RunOptions(config, None, mode)
    given = [
        flag
        for flag, key in (("--only", "only"), ("--from", "from_task"), ("--until", "until"))
        if arguments[key] is not None
    ]
    if given:
        raise UsageError(
            f"--resume continues the run's own selection: leave out {', '.join(given)} "
            "(or start a new run with them)"
        )
    where = tasks_file if tasks_file is not None else "<string>"
    resumed = find_resumed(
        where, config.settings, args.resume, takeover=args.takeover, given=arguments
    )
    run = resumed.run
    given_mode = arguments.get("mode")
    if given_mode is not None and run.mode and given_mode != run.mode:
        raise ResumeError(
            f"--mode {given_mode}: run {resumed.run_id} used --mode {run.mode}; "
            "a resume keeps its run's mode (leave --mode out)",
            reason="other_mode",
            run_id=resumed.run_id,
            tasks_file=str(Path(where).resolve()),
        )
    return RunOptions(config, resumed, run.mode or mode)  # the run's mode, whatever the config


def dry_run_lines(plan: ExecutionPlan, handle: RunHandle) -> tuple[list[str], list[str]]:
    """What ``--dry-run`` shows: the tasks a start would run, by wave.

    Args:
        plan: The plan.
        handle: Its run, made and not started.

    Returns:
        The notes a start would give, and the lines of the report.

    Raises:
        UsageError: Where a start would fail (see :meth:`RunHandle.preview`).
    """
    selection = handle.preview()
    settings = handle.settings
    what = f"resume of run {handle.run_id}" if handle.resumed else "dry run"
    lines = [
        f"{what}: {len(selection)} task(s) would run with max_workers={settings.max_workers}, "
        f"no_action={settings.effective_no_action}"
    ]
    if settings.agent_command:
        from taskexec_nb.agentcmd import agent_command_form

        lines.append(f"agent command: {agent_command_form(settings.agent_command)}")
    for i, ids in enumerate(plan.waves_of(selection)):
        lines.append(f"wave {i}:")
        for tid in ids:
            task = plan[tid]
            kind = task.action.kind.value
            if kind == "none":
                kind = f"none -> {settings.effective_no_action}"
            lines.append(f"  {tid:<8} {kind:<16} {task.description[:70]}")
    return list(handle.notices), lines
