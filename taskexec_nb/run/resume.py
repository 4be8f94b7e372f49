"""Resuming a run: finding it, checking it may be resumed, and the settings it keeps."""

from __future__ import annotations

import json
import os
import shlex
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taskexec_nb._procfs import runner_alive
from taskexec_nb._sha import sha256_hex
from taskexec_nb.errors import ResumeError, ResumeRunningError, StoreError, UsageError
from taskexec_nb.events import RunStatus
from taskexec_nb.model import Task
from taskexec_nb.settings import KEPT_ON_RESUME, RunSettings
from taskexec_nb.store import RunRecord, StateStore


def task_hash(task: Task) -> str:
    """A hash of a task's definition: an edit between runs changes it.

    Args:
        task: The task.

    Returns:
        16 hex digits over its ID, description, body, action and parameters.
    """
    doc = {
        "id": task.id,
        "description": task.description,
        "body": task.body,
        "action": [task.action.kind.value, task.action.code, task.action.target],
        "params": task.params.as_dict(),
    }
    return sha256_hex(json.dumps(doc, sort_keys=True, default=str).encode())[:16]


def find_run(
    tasks_file: str | Path, state_dir: Path, resume: str | bool, *, takeover: bool = False
) -> RunRecord:
    """The recorded run that a resume continues, checked to be resumable.

    Args:
        tasks_file: The tasks.md being run.
        state_dir: Folder of the state store.
        resume: A run ID; ``True``, ``""`` or ``"latest"`` for the newest run of this file.
        takeover: See :func:`check_resumable`.

    Returns:
        The run's row in the store.

    Raises:
        ResumeError: If there is no store or no such run, or :func:`check_resumable`
            refuses the run.
    """
    path = state_dir / "state.db"
    target = str(Path(tasks_file).resolve())
    if not path.is_file():
        raise ResumeError(
            f"resume: no earlier run of {tasks_file}: no state store at {path}",
            reason="no_run",
            tasks_file=target,
        )
    store = StateStore(path)
    try:
        run_id = store.latest_run(target) if resume in (True, "", "latest") else str(resume)
        if run_id is None:
            raise ResumeError(
                f"resume: no earlier run of {tasks_file} in {path}",
                reason="no_run",
                tasks_file=target,
            )
        run = run_row(store, run_id)
    finally:
        store.close()
    check_resumable(run, target, takeover=takeover)
    return run


def resumed_settings(
    settings: RunSettings, run: RunRecord, arguments: Mapping[str, Any]
) -> tuple[RunSettings, str | None]:
    """The settings a resume runs with: the run's own for how it runs, unless given again.

    A resume continues the run as it was started (``-j``, ``--fail-fast``,
    retries, resources...), whatever the configuration says now; a setting given
    again for the resume (a flag or an argument) wins.

    Args:
        settings: The settings worked out for this invocation.
        run: The resumed run's row in the store (its ``settings`` as recorded).
        arguments: The settings given for the resume (flags or keyword arguments;
            None means not given).

    Returns:
        The settings, and a notice naming what was kept where it differs (or None).
    """
    import dataclasses
    from types import MappingProxyType

    try:
        stored = json.loads(run.settings or "{}")
    except ValueError:
        return settings, None  # an unreadable record: nothing to keep
    given = {name for name, value in arguments.items() if value is not None}
    changes: dict[str, Any] = {}
    for name in KEPT_ON_RESUME:
        if name in given or name not in stored:
            continue
        value = stored[name]
        now = getattr(settings, name)
        if name == "resources":
            if not isinstance(value, dict) or value == dict(now):
                continue
            value = MappingProxyType(value)
        elif value == now:
            continue
        changes[name] = value
    if not changes:
        return settings, None
    try:
        kept = dataclasses.replace(settings, **changes)
    except (UsageError, TypeError):
        return settings, None  # recorded by another version, and no longer valid
    shown = ", ".join(
        f"{name}={_setting(name, kept)} (now {_setting(name, settings)})" for name in changes
    )
    return kept, (
        f"resume keeps the settings run {run.run_id} started with: {shown}; give a "
        "setting again to change it"
    )


def _setting(name: str, settings: RunSettings) -> str:
    """A setting's value for a notice: JSON, or what an unset one means (never ``null``)."""
    value = getattr(settings, name)
    if value is None and name == "no_action":
        return f"not set, default {settings.effective_no_action}"
    if value is None and name == "timeout":
        return "not set, no limit"
    return json.dumps(dict(value) if isinstance(value, Mapping) else value)


def run_row(store: StateStore, run_id: str) -> RunRecord:
    """A run to resume, from the store.

    Args:
        store: The state store.
        run_id: The run.

    Returns:
        The run's row.

    Raises:
        ResumeError: If there is no such run (the message lists recent ones).
    """
    try:
        return store.run(run_id)
    except StoreError as exc:
        raise ResumeError(f"resume: {exc}", reason="no_run", run_id=run_id) from None


def check_resumable(
    run: RunRecord, tasks_file: str, mode: str | None = None, *, takeover: bool = False
) -> None:
    """Refuse to resume a run of another file, of another mode, or one still running.

    Args:
        run: The run's row in the store.
        tasks_file: The resolved path of the tasks.md being run.
        mode: The plan's dependency mode (None: not checked).
        takeover: Resume a run marked running by a runner on another host (which
            cannot be checked from here); a live runner on this host is still refused.

    Raises:
        ResumeError: Naming the reason (:attr:`~taskexec_nb.errors.ResumeError.reason`
            ``other_file``, ``other_mode`` or ``other_host``).
        ResumeRunningError: If the run's runner is still alive.
    """
    run_id = run.run_id
    if run.tasks_file != tasks_file:
        raise ResumeError(
            f"resume: run {run_id} ran {run.tasks_file}, not {tasks_file}; "
            "resume it with that file, or leave the run ID out for this file's latest run",
            reason="other_file",
            run_id=run_id,
            tasks_file=tasks_file,
        )
    if mode is not None and run.mode and run.mode != mode:
        raise ResumeError(
            f"resume: run {run_id} used dependency mode {run.mode!r}, this plan {mode!r}; "
            f"load the plan with mode={run.mode!r} (taskexec run: leave --mode out)",
            reason="other_mode",
            run_id=run_id,
            tasks_file=tasks_file,
        )
    if run.status not in ACTIVE:
        return
    alive = runner_alive(run)
    if alive:
        raise still_running(run)
    if alive is None and not takeover:
        raise ResumeError(
            f"resume: run {run_id} is marked {run.status} by its runner on host "
            f"{run.host} (pid {run.pid}), which cannot be checked from here; resume it "
            f"there, or, if that runner is gone, take the run over: taskexec run "
            f"{shlex.quote(str(run.tasks_file))} --resume {run_id} --takeover "
            "(plan.run(resume=..., takeover=True))",
            reason="other_host",
            run_id=run_id,
            tasks_file=tasks_file,
            pid=run.pid,
            host=run.host,
        )


ACTIVE = (RunStatus.RUNNING.value, RunStatus.PAUSED.value)
"""Statuses of a run whose runner may still be at work."""

LIVE_HERE: set[str] = set()
"""Runs this process is running now (a run it left marked running after an error is not)."""


def resume_command(tasks_file: str | Path, run_id: str, state_dir: str | Path | None = None) -> str:
    """The ``taskexec run`` command line that resumes a run, as printed to the user.

    Args:
        tasks_file: The run's tasks.md, as the command should name it.
        run_id: The run's ID.
        state_dir: The folder of the run's state store. When a plain run of
            ``tasks_file`` would not find the store there (it came from
            ``--state-dir``, a profile or ``TASKEXEC_STATE_DIR``), the command
            names it with ``--state-dir``: the run is only found in its own store.

    Returns:
        The command, shell-quoted.
    """
    command = f"taskexec run {shlex.quote(str(tasks_file))} --resume {run_id}"
    if state_dir is not None:
        from taskexec_nb.report.runs import state_dir_default

        where = Path(state_dir).resolve()
        try:
            found = Path(state_dir_default(Path(tasks_file))).resolve()
        except (OSError, UsageError):  # a config file that no longer reads: say where
            found = None
        if where != found:
            command += f" --state-dir {shlex.quote(str(where))}"
    return command


def stale_here(run: RunRecord | Mapping[str, Any]) -> bool:
    """Whether a run marked running belongs to this process, which no longer runs it.

    Args:
        run: The run's record, or its entry among the live runs (its ``pid``,
            ``host`` and ``run_id``).

    Returns:
        True when this process on this host started it and it is not live here
        (e.g. a notebook whose earlier run was interrupted).
    """
    if isinstance(run, RunRecord):
        pid, host, run_id = run.pid, run.host, run.run_id
    else:
        pid, host, run_id = run["pid"], run["host"], run["run_id"]
    return pid == os.getpid() and host == socket.gethostname() and run_id not in LIVE_HERE


def still_running(run: RunRecord) -> ResumeRunningError:
    """The error for a resume of a run whose runner is alive.

    Args:
        run: The run's row in the store.

    Returns:
        The error, naming the run and how to stop it.
    """
    run_id, pid = run.run_id, run.pid
    return ResumeRunningError(
        f"resume: run {run_id} is still running (runner pid {pid}); wait for it to end, or "
        f"stop it first (Ctrl-C in its terminal, or kill {pid}): its tasks would run twice",
        run_id=run_id,
        pid=pid,
        host=run.host,
        tasks_file=run.tasks_file,
    )
