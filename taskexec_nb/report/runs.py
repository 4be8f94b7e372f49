"""The runs in a state store, as ``taskexec runs`` lists them and :func:`runs` returns them.

A run recorded as running whose runner is gone reads ``interrupted`` (the
recorded status kept under ``recorded_status``); the columns stored as JSON
text are decoded. No heavy library is imported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb.errors import ReportError

if TYPE_CHECKING:
    from taskexec_nb.store import RunRecord

JSON_COLUMNS = frozenset({"settings", "selection", "deps", "artifacts"})
"""Store columns holding JSON text."""


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """A store row for JSON output: the columns stored as JSON text decoded.

    Args:
        row: A run, task or attempt row.

    Returns:
        A copy with :data:`JSON_COLUMNS` decoded.
    """
    import json

    return {
        k: json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) and v else v
        for k, v in row.items()
    }


def with_runner(run: RunRecord) -> dict[str, Any]:
    """A run's row whose status says ``interrupted`` if it claims to run but its runner is gone.

    Args:
        run: The run's record in the store (with ``counts`` when read by ``StateStore.runs``).

    Returns:
        The run as a row (:meth:`~taskexec_nb.store.RunRecord.as_dict`) with
        ``runner_alive`` (None: on another host, not checked) and, for a run whose
        runner is gone, the status it now has (``recorded_status``: the recorded
        one) and its task counts as they now stand.
    """
    from taskexec_nb._procfs import runner_alive
    from taskexec_nb.store import GONE_STATUS

    out = run.as_dict()
    out["runner_alive"] = runner_alive(run)  # None: on another host, not checked
    if run.status in ("running", "paused") and out["runner_alive"] is False:
        out["recorded_status"] = run.status
        out["status"] = "interrupted"
        if "counts" in out:
            counts: dict[str, int] = {}
            for status, n in out["counts"].items():
                shown = GONE_STATUS.get(status, status)
                counts[shown] = counts.get(shown, 0) + n
            out["counts"] = counts
    return out


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


def runs(
    tasks_file: str | Path | None = None, state_dir: str | Path | None = None
) -> list[dict[str, Any]]:
    """The runs recorded in a state store, newest first, as ``taskexec runs --json`` prints them.

    For a DataFrame: ``pandas.DataFrame(taskexec_nb.runs("tasks.md"))``.

    Args:
        tasks_file: Only the runs of this tasks.md (default: every run in the store).
        state_dir: The state folder (default: the configured one, else ``.taskexec``
            beside ``tasks_file``, else in the current folder).

    Returns:
        One record per run: its row (``run_id``, ``tasks_file``, ``status``,
        ``started``, ``finished``, ``settings``, ``selection``...), ``counts`` (tasks
        by status) and ``runner_alive``; a run whose runner is gone reads
        ``interrupted``.

    Raises:
        ReportError: If there is no state store there.
        StoreError: If the store cannot be read.
    """
    from taskexec_nb.store import StateStore

    path_of_tasks = Path(tasks_file) if tasks_file is not None else None
    if state_dir is None:
        state_dir = state_dir_default(path_of_tasks)
    path = Path(state_dir) / "state.db"
    if not path.exists():
        raise ReportError(f"no state store at {path} (run a tasks.md first)")
    store = StateStore(path, readonly=True)
    try:
        rows = store.runs(str(path_of_tasks.resolve()) if path_of_tasks is not None else None)
    finally:
        store.close()
    return [plain(with_runner(r)) for r in rows]


def past_durations(
    tasks_file: str | Path, state_dir: str | Path | None = None, last: int = 5
) -> dict[str, float]:
    """What each task took when it completed, over the latest runs of a tasks.md (median).

    Args:
        tasks_file: The tasks.md whose runs to read.
        state_dir: The state folder (default: the configured one, else ``.taskexec``
            beside ``tasks_file``).
        last: How many of its latest runs to read.

    Returns:
        Task ID -> seconds, for the tasks that completed in those runs; empty when
        there is no store or no run there.
    """
    import statistics

    from taskexec_nb.errors import StoreError
    from taskexec_nb.store import StateStore

    if state_dir is None:
        state_dir = state_dir_default(Path(tasks_file))
    path = Path(state_dir) / "state.db"
    if not path.is_file():
        return {}
    seen: dict[str, list[float]] = {}
    try:
        store = StateStore(path, readonly=True)
        try:
            for run in store.runs(str(Path(tasks_file).resolve()))[:last]:
                for t in store.tasks(run.run_id):
                    if t.status == "completed" and t.started and t.finished:
                        seen.setdefault(t.task_id, []).append(t.finished - t.started)
        finally:
            store.close()
    except StoreError:  # a store that cannot be read gives no estimate, not an error
        return {}
    return {tid: statistics.median(values) for tid, values in seen.items()}
