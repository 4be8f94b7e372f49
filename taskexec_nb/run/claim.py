"""A run's start in its state store: what it checks and writes there before anything runs.

Before a run (or a resumed run's new session) starts, :func:`sweep` ends what
runners that died left running and marks their runs interrupted;
:func:`refuse_overlap` refuses the start while another live runner runs any
of the same tasks; and the run is recorded with :func:`task_rows` and
:func:`recorded_settings`. :class:`~taskexec_nb.run.session.RunSession` calls
them; it refuses an overlap and records the run under one hold of the store's
write lock (``StateStore.claim``), so two runners starting at the same moment
cannot both find the tasks free.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskexec_nb._procfs import end_marked, end_process_group, runner_alive
from taskexec_nb.errors import RunInProgressError
from taskexec_nb.run.resume import ACTIVE, stale_here, task_hash
from taskexec_nb.run.selection import listed
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import StateStore

if TYPE_CHECKING:
    from taskexec_nb.config import Config
    from taskexec_nb.plan import ExecutionPlan


def sweep(store: StateStore) -> list[str]:
    """End processes left by runners that died, and mark their runs interrupted.

    Args:
        store: The state store.

    Returns:
        Notices naming what was ended.
    """
    notices: list[str] = []
    dead: set[str] = set()
    for orphan in store.orphans():
        if end_process_group(orphan.pgid, orphan.run_id):
            notices.append(
                f"ended process group {orphan.pgid} left by run {orphan.run_id} "
                f"({orphan.task_id}, attempt {orphan.attempt})"
            )
        store.close_orphan(orphan.run_id, orphan.task_id, orphan.attempt)
        store.mark_interrupted(orphan.run_id)
        dead.add(orphan.run_id)
    for run in store.runs():
        # runner_alive None: on another host, not ours to say
        if run.status in ACTIVE and (runner_alive(run) is False or stale_here(run)):
            store.mark_interrupted(run.run_id)
            dead.add(run.run_id)
    # What left its group (setsid, a daemon) is found by the run's marker.
    for run_id, count in sorted(end_marked(dead).items()):
        notices.append(
            f"ended {count} process{'es' if count > 1 else ''} left by run {run_id} "
            "outside its recorded process groups"
        )
    return notices


def refuse_overlap(
    store: StateStore, tasks_file: str, run_id: str, selection: Sequence[str]
) -> None:
    """Refuse a start or resume while another live runner runs any of the same tasks.

    Args:
        store: The state store (held under its claim by a start).
        tasks_file: The tasks.md as the store records it (resolved).
        run_id: The run starting or resumed (a resumed run is checked on its own).
        selection: The tasks it runs.

    Raises:
        RunInProgressError: Naming the live run, its pid and the shared tasks.
    """
    for run in store.runs(tasks_file):
        if run.run_id == run_id:
            continue  # the run being resumed: checked on its own
        if run.status not in ACTIVE or runner_alive(run) is not True:
            continue  # ended; dead (swept); or on another host (cannot be checked)
        theirs = set(json.loads(run.selection or "[]"))
        shared = [t for t in selection if t in theirs]
        if shared:
            raise RunInProgressError(
                f"run {run.run_id} of {tasks_file} is still running (runner pid "
                f"{run.pid}) and also runs {listed(shared, 3)}: a second run "
                "would run them twice. Wait for it to end or stop it, or select other "
                "tasks (--only / only=)",
                run_id=run.run_id,
                pid=run.pid,
                host=run.host,
                tasks_file=tasks_file,
                tasks=shared,
            )


def task_rows(plan: ExecutionPlan, selection: Sequence[str]) -> list[dict[str, Any]]:
    """The rows a run records for the tasks it runs (all pending).

    Args:
        plan: The plan.
        selection: The tasks the run runs, in run order.

    Returns:
        One row per task: ID, definition hash, line, phase, story, description and
        prerequisites (what :meth:`~taskexec_nb.store.StateStore.create_run` takes).
    """
    rows = []
    for task_id in selection:
        task = plan[task_id]
        rows.append(
            {
                "task_id": task_id,
                "def_hash": task_hash(task),
                "line": task.line,
                "phase": task.phase.label,
                "story": task.story,
                "description": task.description,
                "deps": plan.depends_on(task_id),
            }
        )
    return rows


def recorded_settings(settings: RunSettings, config: Config | None) -> dict[str, Any]:
    """The settings a run records: secrets masked, with the configuration they come from.

    Args:
        settings: The run's settings.
        config: The configuration the settings come from, if any.

    Returns:
        The settings as a dict, with ``config`` (file, profile, mode and each
        setting's source) when a configuration is given.
    """
    recorded = settings.to_dict()  # secrets masked
    if config is not None:
        recorded["config"] = {
            "file": str(config.file) if config.file else None,
            "profile": config.profile,
            "mode": config.mode,
            "sources": dict(config.sources),
        }
    return recorded
