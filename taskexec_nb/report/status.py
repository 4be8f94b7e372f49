"""The task status table of a run, as ``taskexec status`` prints it (no pandas here)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from taskexec_nb.store import shown_status


def by_group(keys: Iterable[Any], statuses: Iterable[str]) -> dict[str, list[str]]:
    """Statuses by group (phase or story), groups in order of first appearance.

    The one grouping of ``taskexec status``'s roll-ups and of
    :func:`~taskexec_nb.report.rollup` (``run.progress()``, ``report.progress()``).

    Args:
        keys: Each task's group; a missing one (None, empty, NaN, ``pd.NA``)
            counts under ``(none)``.
        statuses: Each task's status, in the same order.

    Returns:
        Each group's statuses.
    """
    groups: dict[str, list[str]] = {}
    for key, status in zip(keys, statuses, strict=True):
        name = key if isinstance(key, str) and key else "(none)"
        groups.setdefault(name, []).append(status)
    return groups


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def status_text(
    run: Mapping[str, Any],
    tasks: Sequence[Mapping[str, Any]],
    state_dir: str | Path | None = None,
) -> str:
    """The task status table of a run and its roll-ups by phase and story (``taskexec status``).

    Args:
        run: The run's row, with ``recorded_status`` and ``runner_alive`` when
            ``status`` checked its runner.
        tasks: Its task rows, in file order.
        state_dir: The folder of the store the run was read from: the resume
            command shown names it when a plain run of the file would not find it.

    Returns:
        The text, one line per task then one per phase and story.
    """
    run_id = run["run_id"]
    lines = [
        f"run {run_id}: {run['status']}  started {_when(run['started'])}  "
        f"finished {_when(run['finished'])}  file {run['tasks_file']}",
        "",
    ]
    shown = [shown_status(t["status"], t.get("allowed")) for t in tasks]
    width = max([10, *map(len, shown)])  # failed (allowed) is wider than the rest
    lines[1] = f"{'ID':<8} {'STATUS':<{width}} {'TRY':>3} {'SECONDS':>8}  DETAIL"
    now = time.time()
    for t, status in zip(tasks, shown, strict=True):
        if t["started"] and t["finished"]:
            seconds = f"{t['finished'] - t['started']:.1f}"
        elif t["started"] and t["status"] in ("running", "paused"):
            seconds = f"{now - t['started']:.0f}+"
        else:
            seconds = "-"
        detail = t["error"] or (f"waiting on {t['waiting_on']}" if t["waiting_on"] else "")
        lines.append(
            f"{t['task_id']:<8} {status:<{width}} {t['attempt']:>3} {seconds:>8}  {detail[:80]}"
        )
    for key, title in (("phase", "BY PHASE"), ("story", "BY STORY")):
        groups = by_group([t[key] for t in tasks], shown)
        if not groups or list(groups) == ["(none)"]:
            continue  # e.g. no task has a story
        lines.append(title)
        for name, statuses in groups.items():
            done = statuses.count("completed")
            extra = ", ".join(
                f"{statuses.count(s)} {s}"
                for s in (
                    "failed",
                    "failed (allowed)",
                    "timed_out",
                    "timed_out (allowed)",
                    "running",
                    "interrupted",
                    "skipped",
                    "cancelled",
                    "pending",
                )
                if statuses.count(s)
            )
            pct = 100.0 * done / len(statuses)
            lines.append(
                f"  {name[:40]:<40} {done:>4}/{len(statuses):<4} {pct:5.1f}%"
                + (f"  ({extra})" if extra else "")
            )
    from taskexec_nb.run.resume import resume_command

    resume = resume_command(run["tasks_file"], run_id, state_dir)
    if "recorded_status" in run:
        lines[0] += (
            f"  (recorded {run['recorded_status']}, but its runner is gone: resume it with "
            f"{resume})"
        )
    elif run["status"] in ("running", "paused") and run.get("runner_alive") is None:
        lines[0] += f"  (its runner, pid {run['pid']}, is on host {run['host']}: not checked here)"
    elif run["status"] in _RESUMABLE:
        lines.append(f"resume: {resume}  (runs what did not complete; completed tasks are kept)")
    return "\n".join(lines)


_RESUMABLE = ("failed", "incomplete", "interrupted", "cancelled")
"""Run statuses whose runs ``--resume`` continues (a completed one has nothing left)."""
