"""A run's summary and the comparison of two runs, from its stored rows (no pandas at import).

:class:`~taskexec_nb.report.tables.ExecutionReport` reads the rows from the
store; :func:`summarize` and :func:`compare_rows` are the figures it gives of
them (``report.summary``, ``report.compare(other)``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskexec_nb.events import TaskStatus

if TYPE_CHECKING:
    import pandas as pd

STATUSES = tuple(s.value for s in TaskStatus)
FINAL_FAILURES = ("failed", "timed_out")


def summarize(
    run_id: str,
    run: Mapping[str, Any],
    task_rows: Sequence[Mapping[str, Any]],
    attempt_rows: Sequence[Mapping[str, Any]],
    durations: Mapping[str, float],
    critical: Sequence[str],
) -> dict[str, Any]:
    """Counts, rates, times, parallelism, critical path and slowest tasks (JSON-ready).

    ``counts`` are by status; ``allowed_failures`` says how many of the failed
    and timed-out ones ran under ``allow_failure``.

    Args:
        run_id: The run.
        run: Its stored row.
        task_rows: Its stored task rows.
        attempt_rows: Its stored attempt rows.
        durations: Each task's duration in seconds (0 when it has none).
        critical: The critical path's task IDs.

    Returns:
        The summary.
    """
    counts = dict.fromkeys(STATUSES, 0)
    for r in task_rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    total = len(task_rows)
    started, finished = run.get("started"), run.get("finished")
    times = [(a["started"], a["finished"]) for a in attempt_rows if a["started"]]
    # A resumed run: the sessions before this one, without the idle time between.
    session = run.get("resumed") or started
    before = run.get("elapsed") or 0.0
    if finished is not None:
        wall = before + (finished - session if session else 0.0)
    elif run.get("status") in ("running", "paused") and session:
        wall = before + time.time() - session  # still going
    else:  # the runner died: up to the last thing it recorded
        ends = [e or s for s, e in times]
        wall = before + (max(0.0, max(ends) - session) if ends and session else 0.0)
    task_time = sum((e - s) for s, e in times if e)
    slow = sorted(durations.items(), key=lambda kv: kv[1], reverse=True)[:5]
    path = critical
    return {
        "run_id": run_id,
        "tasks_file": run.get("tasks_file"),
        "status": run.get("status"),
        "started": _iso(started),
        "finished": _iso(finished),
        "total": total,
        "counts": counts,
        "allowed_failures": sum(1 for r in task_rows if _allowed(r)),
        "success_rate": (counts["completed"] / total) if total else 0.0,
        "wall_time": wall,
        "task_time": task_time,
        "parallelism": (task_time / wall) if wall > 0 else 0.0,
        "critical_path": path,
        "critical_path_time": sum(durations.get(t, 0.0) for t in path),
        "slowest": [{"id": t, "duration": d} for t, d in slow if d > 0],
        "attempts": len(attempt_rows),
        "retried": sorted({a["task_id"] for a in attempt_rows if a["attempt"] > 1}),
    }


def compare_rows(
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    durations_a: Mapping[str, float],
    durations_b: Mapping[str, float],
    threshold: float,
) -> pd.DataFrame:
    """What changed between two runs' task rows (see :func:`~taskexec_nb.report.compare`).

    Args:
        rows_a: The earlier run's task rows.
        rows_b: The later run's task rows.
        durations_a: The earlier run's task durations.
        durations_b: The later run's task durations.
        threshold: Relative change in duration (and at least 0.1 s) that counts.

    Returns:
        One row per task in either run, indexed by task ID: status and duration in
        each (NaN when it did not end there), and ``change``.
    """
    import pandas as pd

    left = {r["task_id"]: r for r in rows_a}
    right = {r["task_id"]: r for r in rows_b}
    rows = []
    for tid in list(dict.fromkeys([*left, *right])):
        ra, rb = left.get(tid), right.get(tid)
        da = durations_a.get(tid) if ra else None
        db = durations_b.get(tid) if rb else None
        sa = ra["status"] if ra else None
        sb = rb["status"] if rb else None
        rows.append((tid, sa, sb, da, db, _change(sa, sb, da, db, threshold)))
    frame = pd.DataFrame.from_records(
        rows, columns=["id", "status_a", "status_b", "duration_a", "duration_b", "change"]
    )
    for col in ("duration_a", "duration_b"):  # NaN where a task did not run or end
        frame[col] = frame[col].astype("float64")
    return frame.set_index("id")


def _change(
    sa: str | None, sb: str | None, da: float | None, db: float | None, threshold: float
) -> str:
    if sa is None:
        return "added"
    if sb is None:
        return "removed"
    bad_a, bad_b = sa in FINAL_FAILURES, sb in FINAL_FAILURES
    if bad_b and not bad_a:
        return "newly failing"
    if bad_a and sb == TaskStatus.COMPLETED.value:
        return "fixed"
    if sa != sb:
        return "status changed"
    if sa == TaskStatus.COMPLETED.value and da and db:
        if db - da > max(0.1, threshold * da):
            return "slower"
        if da - db > max(0.1, threshold * da):
            return "faster"
    return "same"


def _failure_point(r: Mapping[str, Any]) -> str:
    status = r["status"]
    attempt = r["attempt"] or 0
    if status == TaskStatus.TIMED_OUT.value:
        return f"attempt {attempt}: {r['error'] or 'timed out'}"
    if status == TaskStatus.FAILED.value:
        if r["signal"]:
            how = f"killed by signal {r['signal']}"
        elif r["exit_code"] is not None:
            how = f"exit code {r['exit_code']}"
        else:
            how = r["error"] or "failed"
        return f"attempt {attempt}: {how}" if attempt else how
    return str(r["error"] or status)


def _allowed(r: Mapping[str, Any]) -> bool:
    """A failure under ``allow_failure`` (the flag of a task that since ended otherwise is not)."""
    return bool(r.get("allowed")) and r["status"] in FINAL_FAILURES


def _iso(ts: float | None) -> str | None:
    return (
        dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None
    )


def _counts_text(s: Mapping[str, Any]) -> str:
    """``3 completed, 2 failed (1 allowed)``: a summary's counts as a phrase."""
    text = ", ".join(f"{n} {k}" for k, n in s["counts"].items() if n) or "no tasks"
    allowed = s.get("allowed_failures")
    return f"{text} ({allowed} allowed)" if allowed else text
