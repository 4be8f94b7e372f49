"""A run's stored rows as the report's DataFrames: tasks, attempts, events, errors, roll-ups.

:class:`~taskexec_nb.report.tables.ExecutionReport` reads the rows from the
state store and builds its tables here; :func:`rollup` also serves the live
status of a run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskexec_nb._columns import by_task, set_phase_from_labels
from taskexec_nb._stamps import utc_stamps
from taskexec_nb.errors import ReportError
from taskexec_nb.events import TaskStatus
from taskexec_nb.report.status import by_group
from taskexec_nb.report.summary import STATUSES, _allowed, _failure_point

if TYPE_CHECKING:
    import pandas as pd

TASK_COLUMNS = [
    "id",
    "phase",
    "story",
    "description",
    "status",
    "allowed",
    "attempts",
    "start",
    "end",
    "duration",
    "exit_code",
    "signal",
    "timed_out",
    "error",
    "stderr_tail",
    "log_path",
    "depends_on",
    "waiting_on",
    "line",
    "critical",
]
ATTEMPT_COLUMNS = [
    "id",
    "attempt",
    "status",
    "start",
    "end",
    "duration",
    "exit_code",
    "signal",
    "error",
    "stderr_tail",
    "log_path",
    "phase",
    "story",
]


def attempts_frame(
    task_rows: Sequence[Mapping[str, Any]], attempt_rows: Sequence[Mapping[str, Any]]
) -> pd.DataFrame:
    """One row per attempt: id, attempt, status, start, end, duration, exit code, ...

    Args:
        task_rows: The run's task rows (for each attempt's phase and story).
        attempt_rows: The run's attempt rows, as the store gives them.

    Returns:
        The table, with :data:`ATTEMPT_COLUMNS`.
    """
    import pandas as pd

    phase = {r["task_id"]: r["phase"] for r in task_rows}
    story = {r["task_id"]: r["story"] for r in task_rows}
    rows = [
        (
            a["task_id"],
            a["attempt"],
            a["status"],
            a["started"],
            a["finished"],
            (a["finished"] - a["started"]) if a["started"] and a["finished"] else None,
            a["exit_code"],
            a["signal"],
            a["error"],
            a["stderr_tail"],
            a["log_path"],
            phase.get(a["task_id"]),
            story.get(a["task_id"]),
        )
        for a in attempt_rows
    ]
    frame = pd.DataFrame.from_records(rows, columns=ATTEMPT_COLUMNS)
    set_phase_from_labels(frame, (r["phase"] for r in task_rows))
    return by_task(_with_times(frame))


def tasks_frame(
    task_rows: Sequence[Mapping[str, Any]],
    deps: Mapping[str, list[str]],
    critical: Collection[str],
) -> pd.DataFrame:
    """One row per task of the run, in file order.

    Args:
        task_rows: The run's task rows, as the store gives them.
        deps: Each task's prerequisites.
        critical: The tasks on the critical path.

    Returns:
        The table, with :data:`TASK_COLUMNS`.
    """
    import pandas as pd

    rows = []
    for r in task_rows:
        start, end = r["started"], r["finished"]
        rows.append(
            (
                r["task_id"],
                r["phase"],
                r["story"],
                r["description"],
                r["status"],
                _allowed(r),
                r["attempt"],
                start,
                end,
                (end - start) if start and end else None,
                r["exit_code"],
                r["signal"],
                r["status"] == TaskStatus.TIMED_OUT.value,
                r["error"],
                r["stderr_tail"],
                r["log_path"],
                deps.get(r["task_id"], []),
                r["waiting_on"],
                r["line"],
                r["task_id"] in critical,
            )
        )
    frame = pd.DataFrame.from_records(rows, columns=TASK_COLUMNS)
    set_phase_from_labels(frame)
    return by_task(_with_times(frame))


def events_frame(events: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The stored events: seq, time, kind, id, attempt, status, data.

    Args:
        events: The run's events, as the store gives them.

    Returns:
        The table, one row per event.
    """
    import pandas as pd

    rows = [
        (e["seq"], e["time"], e["kind"], e["task_id"], e["attempt"], e["status"], e["data"])
        for e in events
    ]
    frame = pd.DataFrame.from_records(
        rows, columns=["seq", "time", "kind", "id", "attempt", "status", "data"]
    )
    frame["time"] = utc_stamps(frame["time"])
    return frame


def errors_frame(task_rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Each task that did not complete: how and where it ended, stderr's last lines, the log.

    Args:
        task_rows: The run's task rows, as the store gives them.

    Returns:
        The table, one row per task that did not complete.
    """
    import pandas as pd

    rows = []
    for r in task_rows:
        if r["status"] in (TaskStatus.COMPLETED.value, TaskStatus.PENDING.value):
            continue
        rows.append(
            (
                r["task_id"],
                r["status"],
                _allowed(r),
                r["attempt"],
                r["exit_code"],
                r["signal"],
                r["status"] == TaskStatus.TIMED_OUT.value,
                _failure_point(r),
                r["error"],
                r["stderr_tail"],
                r["log_path"],
            )
        )
    frame = pd.DataFrame.from_records(
        rows,
        columns=[
            "id",
            "status",
            "allowed",
            "attempts",
            "exit_code",
            "signal",
            "timed_out",
            "failure_point",
            "error",
            "stderr_tail",
            "log_path",
        ],
    )
    for col in ("exit_code", "signal"):
        frame[col] = frame[col].astype("Int64")
    return by_task(frame)


def rollup(frame: pd.DataFrame, by: str = "phase") -> pd.DataFrame:
    """Done/total and percent per phase or story, with counts by status.

    Args:
        frame: A table with ``status`` and the ``by`` column (``run.status()``
            or ``report.tasks``).
        by: ``phase`` or ``story``.

    Returns:
        One row per group (file order): the group (and ``phase_title`` by phase,
        when the table has it), done, total, percent, and a column per status.

    Raises:
        ReportError: If ``by`` is not a column.
    """
    import pandas as pd

    if by not in frame.columns:
        raise ReportError(f"cannot roll up by {by!r}: use phase or story")
    groups = by_group(frame[by].tolist(), frame["status"].tolist())
    keys: Any = list(groups)
    if not groups:  # the dtypes of no rows: a text column keeps its type, others read as numbers
        keys = pd.Series([], dtype=frame[by].dtype if _is_text(frame[by]) else "float64")
    totals = [len(statuses) for statuses in groups.values()]  # statuses of every kind count
    out = pd.DataFrame(
        {
            by: keys,
            "done": pd.Series([s.count("completed") for s in groups.values()], dtype="int64"),
            "total": pd.Series(totals, dtype="int64" if groups else "float64"),
        }
    )
    if by == "phase" and "phase_title" in frame.columns:  # the phase's title beside its number
        titles = dict(zip(frame["phase"].astype(str), frame["phase_title"], strict=True))
        out.insert(1, "phase_title", pd.Series([titles.get(k) for k in groups], dtype="string"))
    out["percent"] = (100.0 * out["done"] / out["total"]).round(1)
    for status in STATUSES:
        out[status] = pd.Series([s.count(status) for s in groups.values()], dtype="int64")
    return out


def _is_text(column: pd.Series) -> bool:
    import pandas as pd

    return isinstance(column.dtype, pd.StringDtype)


def _with_times(frame: pd.DataFrame) -> pd.DataFrame:

    for col in ("start", "end"):
        frame[col] = utc_stamps(frame[col])
    frame["duration"] = frame["duration"].astype("float64")  # NaN until it ends
    for col in ("exit_code", "signal"):
        frame[col] = frame[col].astype("Int64")
    return frame
