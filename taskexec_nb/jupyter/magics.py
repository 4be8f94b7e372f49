"""IPython magics for tasks.md files: ``%load_ext taskexec_nb``.

* ``%load_tasks tasks.md`` loads, validates and plans a file and binds the plan
  (``plan``); ``%%tasks`` does the same with a tasks.md written in the cell;
* ``%run_tasks`` starts a run of a plan on the kernel's event loop, through the one
  start path (:func:`~taskexec_nb.run.launch.start_run`, with the options of
  ``taskexec run``: :mod:`taskexec_nb.run.options`), and returns at once with its
  handle (``run``; ``await run`` waits for its end);
* ``%tasks_status``, ``%pause_tasks``, ``%resume_tasks``, ``%cancel_tasks`` act on
  that run; ``%tasks_report`` and ``%tasks_runs`` read the state store.

A bad argument is a one-line ``UsageError`` (no traceback) naming the magic and
its usage; ``%load_tasks?`` shows each magic's options. A file with errors is shown
(its tasks next to its problems), never raised; what is shown is built in
:mod:`taskexec_nb.jupyter.summary`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import keyword
import os
import shlex
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from IPython.core.error import UsageError as MagicUsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class

from taskexec_nb.errors import TaskexecError
from taskexec_nb.jupyter.completion import path_matcher
from taskexec_nb.jupyter.summary import DAG_LIMIT, runs_frame, show, show_plan, state_line
from taskexec_nb.settings import MODES

if TYPE_CHECKING:
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.run.handle import RunHandle

_F = TypeVar("_F", bound=Callable[..., Any])

# --- arguments ------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """A magic's arguments: a bad one is a one-line :class:`MagicUsageError`, never an exit."""

    def __init__(self, magic: str, usage: str, description: str) -> None:
        super().__init__(
            prog=usage.split()[0],
            usage=usage.replace("%", "%%"),
            description=description,
            add_help=False,
        )
        self.magic, self.line = magic, usage
        self.called = usage.split()[0]  # as typed: %load_tasks, %%tasks

    def error(self, message: str) -> NoReturn:
        """Raise a bad argument as the magic's one-line usage error (argparse calls this).

        Args:
            message: What argparse found wrong (an unknown option, a missing value...).

        Raises:
            MagicUsageError: Always, with the magic's usage line and its ``?`` help.
        """
        raise MagicUsageError(f"{self.called}: {message}; usage: {self.line} ({self.called}?)")

    def read(self, line: str) -> argparse.Namespace:
        """The magic's line, read like a shell's (quotes for spaces).

        Args:
            line: The text after the magic's name.

        Returns:
            The parsed arguments.

        Raises:
            MagicUsageError: For unbalanced quotes or arguments the magic does not take.
        """
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.error(f"cannot read the arguments: {exc}")
        return self.parse_args(words)


def _output(parser: _Parser, default: str | None) -> None:
    what = f"(default: {default})" if default else "(default: not bound)"
    parser.add_argument(
        "-o", "--output", metavar="NAME", default=default, help=f"bind it to NAME {what}"
    )


def _config(parser: _Parser) -> None:
    parser.add_argument(
        "--dag",
        action=argparse.BooleanOptionalAction,
        help=f"draw the DAG (default: for plans of at most {DAG_LIMIT} tasks)",
    )
    parser.add_argument(
        "--mode", choices=MODES, help="dependency mode (default: from the config, else template)"
    )
    parser.add_argument(
        "--profile", metavar="NAME", help="config profile (default: $TASKEXEC_PROFILE)"
    )


def _store(parser: _Parser) -> None:
    parser.add_argument("--tasks", metavar="FILE", help="the tasks.md whose runs to read")
    parser.add_argument("--state-dir", metavar="DIR", help="the state store's folder")


def _parsers() -> dict[str, _Parser]:
    from taskexec_nb.run.options import add_run_options

    made: dict[str, _Parser] = {}

    def _new(magic: str, usage: str, description: str) -> _Parser:
        """A magic's parser (prog, usage line, ``?`` help), kept in ``made`` by name."""
        made[magic] = _Parser(magic, usage, description)
        return made[magic]

    p = _new(
        "load_tasks",
        "%load_tasks FILE [--mode M] [--profile P] [--[no-]dag] [-o NAME]",
        "Load, validate and plan a tasks.md; bind the plan and show its summary: counts per "
        "phase and story, problems with their lines and hints, the plan table and the DAG. "
        "A relative FILE is read from the notebook's folder.",
    )
    p.add_argument("file", metavar="FILE", help="the tasks.md file (Tab completes paths)")
    _config(p)
    _output(p, "plan")
    p = _new(
        "tasks",
        "%%tasks [--mode M] [--profile P] [--[no-]dag] [-o NAME]",
        "Load a tasks.md written in the cell, as %load_tasks does a file. Its runs keep their "
        "state in .taskexec in the notebook's folder, and its tasks run there.",
    )
    _config(p)
    _output(p, "plan")
    p = _new(
        "run_tasks",
        "%run_tasks [PLAN] [-j N] [--dry-run] [--resume [RUN]] [--only SEL] [--from TASK] "
        "[--until TASK] [other taskexec run options] [-o NAME]",
        "Start a run of a plan on the kernel's event loop and return at once with its handle, "
        "bound and shown; other cells keep working, and `await run` waits for the end. The "
        "options are those of `taskexec run`.",
    )
    p.add_argument("plan", nargs="?", metavar="PLAN", help="the plan's name (default: plan)")
    add_run_options(p, skip=("mode",))  # the plan is loaded already, in its mode
    p.add_argument("--mode", help=argparse.SUPPRESS)  # read only to say where it goes
    _output(p, "run")
    p = _new(
        "tasks_status",
        "%tasks_status [--by phase|story]",
        "The live status of the run started by %run_tasks: one row per task (or per group).",
    )
    p.add_argument("--by", choices=("phase", "story"), help="done/total per phase or story")
    p = _new(
        "pause_tasks",
        "%pause_tasks [--suspend]",
        "Pause the run started by %run_tasks: no new task starts.",
    )
    p.add_argument("--suspend", action="store_true", help="also suspend the running tasks")
    _new("resume_tasks", "%resume_tasks", "Continue the paused run started by %run_tasks.")
    _new(
        "cancel_tasks",
        "%cancel_tasks",
        "Cancel the run started by %run_tasks: running tasks are stopped, the rest recorded "
        "as cancelled.",
    )
    p = _new(
        "tasks_report",
        "%tasks_report [RUN] [--tasks FILE] [--state-dir DIR] [-o NAME]",
        "Show the report of a run (default: the last one): its summary and its task table.",
    )
    p.add_argument("run", nargs="?", metavar="RUN", help="run ID (default: the latest)")
    _store(p)
    _output(p, None)
    p = _new(
        "tasks_runs",
        "%tasks_runs [--tasks FILE] [--state-dir DIR] [-o NAME]",
        "The runs recorded in the state store, newest first, as a DataFrame.",
    )
    _store(p)
    _output(p, None)
    return made


PARSERS = _parsers()
"""Each magic's parser, by name (its help is the magic's ``?`` text)."""


def _reported(fn: _F) -> _F:
    """Show the package's own errors as one-line usage errors, not tracebacks."""

    @functools.wraps(fn)
    def _wrapper(self: TaskMagics, *args: Any) -> Any:
        try:
            return fn(self, *args)
        except TaskexecError as exc:
            raise MagicUsageError(f"{PARSERS[fn.__name__].called}: {exc}") from None

    return _wrapper  # type: ignore[return-value]


# --- the magics -----------------------------------------------------------------------------


@magics_class
class TaskMagics(Magics):
    """The taskexec magics; ``%load_ext taskexec_nb`` registers them.

    Args:
        shell: The IPython shell.
    """

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell)
        self.plan: ExecutionPlan | None = None  # the last plan loaded
        self.run: RunHandle | None = None  # the last run started

    def _bind(self, name: str | None, value: Any) -> None:
        if name is None:
            return
        assert self.shell is not None
        self.shell.user_ns[name] = value

    @staticmethod
    def _args(magic: str, line: str) -> argparse.Namespace:
        args = PARSERS[magic].read(line)
        name = getattr(args, "output", None)
        if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
            PARSERS[magic].error(f"-o {name}: not a Python name")
        return args

    @line_magic
    @_reported
    def load_tasks(self, line: str) -> None:
        """``%load_tasks FILE [--mode M] [--profile P] [-o NAME]``.

        Args:
            line: The magic's arguments.
        """
        from taskexec_nb.api import load
        from taskexec_nb.run.options import check_tasks_file

        args = self._args("load_tasks", line)
        given = os.path.expanduser(args.file)
        check_tasks_file(given)
        # Kept absolute: a later %cd changes neither the file its runs tick nor their state.
        path = os.path.abspath(given)
        plan = load(path, args.mode, profile=args.profile, strict=False)
        self._loaded(plan, args)

    @cell_magic
    @_reported
    def tasks(self, line: str, cell: str) -> None:
        """``%%tasks [--mode M] [--profile P] [-o NAME]``: a tasks.md written in the cell.

        Args:
            line: The magic's arguments.
            cell: The tasks.md text.
        """
        from taskexec_nb.api import loads

        args = self._args("tasks", line)
        mode = args.mode
        if mode is None or args.profile is not None:
            from taskexec_nb.config import resolve

            mode = mode or resolve(None, profile=args.profile).mode
        # Each cell's plan is its own in the store (its runs, what --resume continues),
        # by the name it is bound to: two %%tasks cells do not share runs.
        plan = loads(cell, mode, f"<cell {args.output}>", strict=False)
        plan.profile = args.profile
        self._loaded(plan, args)

    def _loaded(self, plan: ExecutionPlan, args: argparse.Namespace) -> None:
        self.plan = plan
        self._bind(args.output, plan)
        show_plan(plan, args.output, args.dag)

    @line_magic
    @_reported
    def run_tasks(self, line: str) -> None:
        """``%run_tasks [PLAN] [options of taskexec run] [-o NAME]``: start a run, return at once.

        Args:
            line: The magic's arguments.
        """
        from taskexec_nb.run.launch import RunRequest, start, start_run
        from taskexec_nb.run.options import dry_run_lines, run_options
        from taskexec_nb.run.selection import CLI_NAMES

        args = self._args("run_tasks", line)
        if args.mode is not None:
            PARSERS["run_tasks"].error(
                f"--mode {args.mode}: the mode is chosen when the plan is loaded "
                f"(%load_tasks FILE --mode {args.mode})"
            )
        plan = self._plan_named(args.plan)
        options = run_options(args, plan.path, profile=plan.profile)
        for warning in options.config.warnings:
            print(f"taskexec: warning: {warning}")
        request = RunRequest(
            plan,
            config=options.config,
            resumed=options.resumed,
            takeover=args.takeover,
            names=CLI_NAMES,
            start="none",
        )
        handle = start_run(request)
        if args.dry_run:
            notes, lines = dry_run_lines(plan, handle)
            print("\n".join([*(f"note: {n}" for n in notes), *lines]))
            return
        if not handle.resumed and not handle.requested:
            print(f"nothing to run in {plan.path}: the selected tasks are done")
            return
        notices = list(handle.notices)
        handle.preview()  # a start's checks, now: their errors show in this cell
        handle.notices[:] = notices  # the start gives its notices itself
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a shell without an event loop (a terminal's IPython)
            start(handle, "thread")
        else:
            start(handle, "loop")
        self.run = handle
        self._bind(args.output, handle)
        show(handle)

    def _plan_named(self, name: str | None) -> ExecutionPlan:
        from taskexec_nb.plan import ExecutionPlan

        assert self.shell is not None
        namespace = self.shell.user_ns
        if name is None:
            found = namespace.get("plan", self.plan)
            if found is None:
                raise MagicUsageError(
                    "%run_tasks: no plan: load one first (%load_tasks tasks.md) or name it"
                )
            name = "plan"
        elif name not in namespace:
            raise MagicUsageError(f"%run_tasks: no variable {name!r} (load a plan with -o {name})")
        else:
            found = namespace[name]
        if not isinstance(found, ExecutionPlan):
            raise MagicUsageError(
                f"%run_tasks: {name} is a {type(found).__name__}, not a plan "
                "(%load_tasks binds one)"
            )
        return found

    def _current(self, magic: str) -> RunHandle:
        if self.run is None:
            raise MagicUsageError(f"%{magic}: no run started here yet (start one with %run_tasks)")
        return self.run

    def _active(self, magic: str, what: str) -> RunHandle:
        handle = self._current(magic)
        if handle.done:
            state = handle.result.value if handle.result else "ended"
            raise MagicUsageError(
                f"%{magic}: run {handle.run_id} has ended ({state}); nothing to {what}"
            )
        return handle

    @line_magic
    @_reported
    def tasks_status(self, line: str) -> pd.DataFrame | None:
        """``%tasks_status [--by phase|story]``: the live status of the run.

        In the cell that starts the run, the run has not started yet (it starts
        once the cell ends, on the kernel's loop): that is said instead.

        Args:
            line: The magic's arguments.

        Returns:
            One row per task of the run (or per phase or story with ``--by``);
            None before the run has started.
        """
        args = self._args("tasks_status", line)
        handle = self._current("tasks_status")
        if handle.model is None and not handle.done:
            print(
                f"run {handle.run_id} has not started yet (it starts once this cell ends): "
                "%tasks_status in a later cell lists its tasks"
            )
            return None
        print(state_line(handle))
        return handle.progress(args.by) if args.by else handle.status()

    @line_magic
    @_reported
    def pause_tasks(self, line: str) -> None:
        """``%pause_tasks [--suspend]``: no new task starts.

        Args:
            line: The magic's arguments.
        """
        args = self._args("pause_tasks", line)
        handle = self._active("pause_tasks", "pause")
        _when_started(handle, lambda: handle.pause(args.suspend))
        also = "running tasks are suspended" if args.suspend else "running tasks go on"
        print(f"run {handle.run_id} paused: no new task starts ({also}); %resume_tasks continues")

    @line_magic
    @_reported
    def resume_tasks(self, line: str) -> None:
        """``%resume_tasks``: continue the paused run.

        Args:
            line: The magic's arguments.
        """
        self._args("resume_tasks", line)
        handle = self._active("resume_tasks", "resume")
        if handle.model is not None and not handle.paused:
            print(f"run {handle.run_id} is not paused: nothing to resume")
            return
        _when_started(handle, handle.resume)
        print(f"run {handle.run_id} resumed")

    @line_magic
    @_reported
    def cancel_tasks(self, line: str) -> None:
        """``%cancel_tasks``: end the run.

        Args:
            line: The magic's arguments.
        """
        self._args("cancel_tasks", line)
        handle = self._active("cancel_tasks", "cancel")
        _when_started(handle, handle.cancel)
        print(
            f"run {handle.run_id} cancelled: its running tasks are stopped and the rest "
            "recorded as cancelled"
        )

    def _store_of(
        self, magic: str, args: argparse.Namespace
    ) -> tuple[Path, str | None, str | None]:
        """The state folder, tasks.md and run a store-reading magic looks at."""
        from taskexec_nb.report.runs import state_dir_default

        tasks = args.tasks
        if tasks is not None and not Path(tasks).is_file():
            raise MagicUsageError(f"%{magic}: --tasks {tasks}: no such file")
        run_id: str | None = getattr(args, "run", None)
        if tasks is None and args.state_dir is None and self.run is not None:
            handle = self.run
            return handle.state_dir, handle.plan.path, run_id or handle.run_id
        if tasks is None and self.plan is not None and args.state_dir is None:
            tasks = self.plan.path
        state_dir = args.state_dir or state_dir_default(Path(tasks) if tasks else None)
        return Path(state_dir), tasks, run_id

    @line_magic
    @_reported
    def tasks_report(self, line: str) -> None:
        """``%tasks_report [RUN] [--tasks FILE] [--state-dir DIR] [-o NAME]``: a run's report.

        Args:
            line: The magic's arguments.
        """
        from taskexec_nb.report import ExecutionReport

        args = self._args("tasks_report", line)
        state_dir, tasks, run_id = self._store_of("tasks_report", args)
        report = ExecutionReport.load(state_dir, run_id, tasks_file=tasks)
        show(report)
        self._bind(args.output, report.tasks)
        show(report.tasks, f"Tasks of run {report.run_id}")

    @line_magic
    @_reported
    def tasks_runs(self, line: str) -> pd.DataFrame:
        """``%tasks_runs [--tasks FILE] [--state-dir DIR] [-o NAME]``: past runs.

        Args:
            line: The magic's arguments.

        Returns:
            One row per run, newest first, indexed by run ID.
        """
        from taskexec_nb.report.runs import runs

        args = self._args("tasks_runs", line)
        state_dir, tasks, _ = self._store_of("tasks_runs", args)
        frame = runs_frame(runs(tasks, state_dir))
        self._bind(args.output, frame)
        return frame


def _when_started(handle: RunHandle, action: Callable[[], None]) -> None:
    """Act on a run now, or as soon as it has started (a pause in the cell that started it)."""
    if handle.model is not None or handle.done:
        action()
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # a run on a thread: it starts at once
        _started_on_thread(handle)
        action()
        return

    async def later() -> None:
        try:
            await handle.started()
        except TaskexecError:  # it could not start: `await run` says why
            return
        action()

    task = loop.create_task(later())
    _PENDING.add(task)  # kept until done: the loop holds tasks only weakly
    task.add_done_callback(_PENDING.discard)


_PENDING: set[asyncio.Task[None]] = set()


def _started_on_thread(handle: RunHandle, within: float = 10.0) -> None:
    """Wait until a run started on a thread runs (its ``run_started``), or has ended."""
    from taskexec_nb.events import EventKind

    started = threading.Event()

    def seen(event: Any) -> None:
        """Note the run's start when its ``run_started`` event arrives.

        Args:
            event: One of the run's events, replayed or new, on any thread.
        """
        if event.kind is EventKind.RUN_STARTED:
            started.set()

    stop = handle.subscribe(seen)
    try:
        deadline = time.monotonic() + within
        while not started.wait(0.01) and not handle.done and time.monotonic() < deadline:
            pass
    finally:
        stop()


# --- loading ---------------------------------------------------------------------------------


def load(ipython: InteractiveShell) -> None:
    """Register the magics and the path completion on a shell.

    Args:
        ipython: The shell (``%load_ext taskexec_nb`` passes it).
    """
    ipython.register_magics(TaskMagics)
    matchers = ipython.Completer.custom_matchers
    if path_matcher not in matchers:
        matchers.append(path_matcher)


def unload(ipython: InteractiveShell) -> None:
    """Remove the magics and the completion again.

    Args:
        ipython: The shell.
    """
    manager = ipython.magics_manager
    manager.registry.pop(TaskMagics.__name__, None)
    for kind, names in TaskMagics.magics.items():
        for name in names:
            manager.magics[kind].pop(name, None)
    matchers = ipython.Completer.custom_matchers
    if path_matcher in matchers:
        matchers.remove(path_matcher)


for _name, _parser in PARSERS.items():
    _magic = getattr(TaskMagics, _name)
    _magic.__doc__ = _parser.format_help()
