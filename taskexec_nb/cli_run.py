"""The ``taskexec run``, ``status`` and ``runs`` commands."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from taskexec_nb.config.flags import FLAGS as _FLAGS
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


def add_state_dir(parser: Any) -> None:
    """The ``--state-dir`` option of the commands that read the state store.

    Args:
        parser: The argparse parser of one command.
    """
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="state store folder (default: the configured one, else .taskexec)",
    )


def add_parsers(sub: Any, modes: list[str]) -> None:
    """Register ``run``, ``status`` and ``runs`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
        modes: The dependency modes (``--mode`` takes its words from the setting's
            declaration, the same list).
    """
    from taskexec_nb.config.flags import add_setting_flags

    run = sub.add_parser(
        "run",
        help="run a tasks.md",
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

    status = sub.add_parser(
        "status",
        help="show the state of a run",
        description="Show one row per task of a run, from the state store.",
    )
    status.add_argument("run", nargs="?", help="run ID (default: the latest)")
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

    runs = sub.add_parser("runs", help="list runs", description="List the runs in the state store.")
    add_state_dir(runs)
    runs.add_argument("--json", action="store_true", help="print JSON for tools")


def _resources(items: list[str] | None) -> dict[str, float] | None:
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, amount = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(amount)
        except ValueError:
            raise UsageError(f"--resource {item!r}: write NAME=AMOUNT, e.g. gpu=1") from None
    return out


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


def run_command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec run``.

    Args:
        args: The parsed command line.
        out: Where the command's result goes (stdout; messages go to stderr).

    Returns:
        The exit code: 0 when the run completed (or there was nothing to run),
        1 when tasks failed, 2 for a tasks.md with errors, 3 for an incomplete run
        (tasks left for an agent), 130 when interrupted or cancelled.

    Raises:
        UsageError: If the arguments are wrong, e.g. no tasks.md or a resume of a
            run that does not match.
    """
    import taskexec_nb
    from taskexec_nb.config import resolve
    from taskexec_nb.run.launch import RunRequest, find_resumed, start, start_run
    from taskexec_nb.run.selection import CLI_NAMES
    from taskexec_nb.terminal import TerminalView

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
        "resources": _resources(args.resource),
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
        if args.mode is not None and run["mode"] and args.mode != run["mode"]:
            raise UsageError(
                f"--mode {args.mode}: run {resumed.run_id} used --mode {run['mode']}; "
                "a resume keeps its run's mode (leave --mode out)"
            )
        mode = run["mode"] or mode  # the run's mode, whatever the config says now
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
        from taskexec_nb.settings import agent_command_form

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


def state_dir_default(tasks_file: Path | None = None) -> str:
    """The state folder when none is given: the configured one, else ``.taskexec``.

    Args:
        tasks_file: The tasks.md (its folder is where the config search and the
            default ``.taskexec`` are); None: the current folder.

    Returns:
        The folder.
    """
    from taskexec_nb.config import find_config, resolve

    start = tasks_file if tasks_file is not None else Path.cwd()
    found = find_config(start)
    configured = resolve(config_file=found.path).settings.state_dir if found else None
    if configured:
        return str(configured)
    base = tasks_file.resolve().parent if tasks_file is not None else Path(".")
    return str(base / ".taskexec")


def tasks_file_here(given: str | None = None) -> Path | None:
    """The tasks.md whose runs ``status``, ``runs`` and ``report`` look at.

    Args:
        given: The file named on the command line (``--tasks``), if any.

    Returns:
        That file, else ``./tasks.md`` when there is one, else None. A link is
        followed as a run follows it: its store is beside the file it points to.

    Raises:
        UsageError: If ``given`` is not a file.
    """
    tasks = Path(given) if given else Path("tasks.md")
    if given and not tasks.is_file():
        raise UsageError(f"{given}: no such file")
    return tasks if tasks.is_file() else None


def _open_store(state_dir: str | None, tasks_file: Path | None = None) -> Any:
    from taskexec_nb.store import StateStore

    if state_dir is None:
        state_dir = state_dir_default(tasks_file)
    path = Path(state_dir) / "state.db"
    if not path.exists():
        raise UsageError(f"no state store at {path} (run a tasks.md first, or pass --state-dir)")
    return StateStore(path, readonly=True)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def status_command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec status [RUN] [--watch] [--json]``.

    With ``--watch --json`` a JSON document is printed on one line each time the
    run changes (JSON Lines), until the run ends.

    Args:
        args: The parsed command line.
        out: Where the command's result goes (stdout; messages go to stderr).

    Returns:
        0 (also when ``--watch`` is stopped with Ctrl-C).

    Raises:
        UsageError: If ``--interval`` is not above 0.
    """
    if not args.interval > 0:
        raise UsageError(f"--interval {args.interval:g}: give a number of seconds above 0")
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


_RUNNING_FOR = re.compile(r" +\d+\+ ")  # the SECONDS of a task still running

_JSON_COLUMNS = frozenset({"settings", "selection", "deps", "artifacts"})


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A store row for JSON output: the columns stored as JSON text decoded."""
    return {
        k: json.loads(v) if k in _JSON_COLUMNS and isinstance(v, str) and v else v
        for k, v in row.items()
    }


def _with_runner(run: dict[str, Any]) -> dict[str, Any]:
    """A run row whose status says ``interrupted`` if it claims to run but its runner is gone."""
    from taskexec_nb._procfs import runner_alive
    from taskexec_nb.store import GONE_STATUS

    out = dict(run)
    out["runner_alive"] = runner_alive(run)  # None: on another host, not checked
    if run["status"] in ("running", "paused") and out["runner_alive"] is False:
        out["recorded_status"] = run["status"]
        out["status"] = "interrupted"
        if "counts" in out:
            counts: dict[str, int] = {}
            for status, n in out["counts"].items():
                shown = GONE_STATUS.get(status, status)
                counts[shown] = counts.get(shown, 0) + n
            out["counts"] = counts
    return out


def _status_render(args: argparse.Namespace, indent: int | None) -> tuple[str, bool]:
    """The run's status as text or JSON, and whether the run is still going."""
    tasks_file = tasks_file_here()
    store = _open_store(args.state_dir, tasks_file)
    try:
        run_id = _pick_run(store, args.run, tasks_file)
        run = _with_runner(store.run(run_id))
        tasks = store.tasks(run_id)
    finally:
        store.close()
    from taskexec_nb.report.status import status_text

    if "recorded_status" in run:
        from taskexec_nb.store import as_gone

        tasks = [as_gone(t) for t in tasks]
    active = run["status"] in ("running", "paused")
    if args.json:
        doc = {"run": _plain(run), "tasks": [_plain(t) for t in tasks]}
        return json.dumps(doc, indent=indent, default=str), active
    return status_text(run, tasks), active


def _pick_run(store: Any, run_id: str | None, tasks_file: Path | None = None) -> str:
    """The run asked for, else the latest of ``tasks_file`` (as ``report`` picks it)."""
    if run_id:
        return run_id
    chosen = store.latest_run(str(tasks_file.resolve()) if tasks_file else None)
    if chosen is None:
        where = f" of {tasks_file}" if tasks_file else ""
        raise UsageError(f"no runs{where} in {store.path}")
    return str(chosen)


def runs_command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec runs``.

    Args:
        args: The parsed command line.
        out: Where the command's result goes (stdout; messages go to stderr).

    Returns:
        0.
    """
    store = _open_store(args.state_dir, tasks_file_here())
    try:
        runs = store.runs()
    finally:
        store.close()
    runs = [_with_runner(r) for r in runs]
    if args.json:
        print(json.dumps([_plain(r) for r in runs], indent=2, default=str), file=out)
        return EXIT_OK
    print(f"{'RUN':<22} {'STATUS':<12} {'STARTED':<20} TASKS", file=out)
    for r in runs:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(r["counts"].items()))
        print(f"{r['run_id']:<22} {r['status']:<12} {_when(r['started']):<20} {counts}", file=out)
    return EXIT_OK
