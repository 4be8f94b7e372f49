"""A run's report as tables and a summary, read from the state store.

See :mod:`taskexec_nb.report` for what a report holds; the exports are in
:mod:`~taskexec_nb.report.formats` (and :mod:`.junit`, :mod:`.html`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb.errors import ReportError
from taskexec_nb.graph import critical_path
from taskexec_nb.report.cells import _records
from taskexec_nb.report.frames import (
    ATTEMPT_COLUMNS,
    TASK_COLUMNS,
    attempts_frame,
    errors_frame,
    events_frame,
    rollup,
    tasks_frame,
)
from taskexec_nb.report.summary import (
    _counts_text,
    compare_rows,
    summarize,
)
from taskexec_nb.store import RunRecord, StateStore, as_gone

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

# The table builders live in .frames; their public names are served here too.
__all__ = ["ATTEMPT_COLUMNS", "TASK_COLUMNS", "ExecutionReport", "compare", "report", "rollup"]


def report(
    run_id: str | os.PathLike[str] | None = None,
    *,
    state_dir: str | Path | None = None,
    tasks_file: str | Path | None = None,
) -> ExecutionReport:
    """The report of a run.

    Args:
        run_id: The run (default: the latest run of ``tasks_file``, else the
            latest in the store). A path instead (a tasks.md, a state folder, a
            folder holding ``.taskexec``, or a ``state.db``) reports that file's or
            store's latest run.
        state_dir: The state folder (default: the one ``taskexec.toml`` sets
            (``state_dir``), else ``.taskexec`` beside ``tasks_file``, else in the
            current folder).
        tasks_file: The tasks.md whose runs to look at.

    Returns:
        The report.

    Raises:
        ReportError: If there is no store or no such run, or ``run_id`` names a
            path that does not exist.
    """
    given = None if run_id is None else os.fspath(run_id)
    if given is not None and state_dir is None and tasks_file is None and _is_path(given):
        state_dir, tasks_file = _report_source(Path(given))
        given = None
    if state_dir is None:  # as `taskexec report` finds it: configured, else .taskexec
        from taskexec_nb.report.runs import state_dir_default

        state_dir = Path(state_dir_default(Path(tasks_file) if tasks_file else None)).absolute()
    return ExecutionReport.load(state_dir, given, tasks_file=tasks_file)


def _is_path(text: str) -> bool:
    """Whether a "run ID" is a path: run IDs have no slash and no file suffix."""
    return "/" in text or os.sep in text or text.endswith((".md", ".db")) or Path(text).exists()


def _report_source(path: Path) -> tuple[Path | None, Path | None]:
    """``(state_dir, tasks_file)`` for ``report(path)``: a state folder, its store, or a tasks.md.

    Raises:
        ReportError: If ``path`` does not exist, or is a ``.db`` file not named
            ``state.db``.
    """
    if path.is_dir():
        return (path if (path / "state.db").is_file() else path / ".taskexec"), None
    if path.is_file() and path.suffix == ".db" and path.name != "state.db":
        raise ReportError(
            f"{path}: report() reads a store's state.db (its folder, or that file), "
            "not a database of another name"
        )
    if path.is_file():
        return (path.parent, None) if path.suffix == ".db" else (None, path)
    raise ReportError(
        f"{path}: no such file or folder (report() takes a run ID, a tasks.md, "
        "a state folder or its state.db)"
    )


class ExecutionReport:
    """One run as stored: tables, summary, figures and exports.

    Args:
        run: The run's row (``StateStore.run(...).as_dict()``).
        tasks: Its task rows (each ``TaskRecord.as_dict()`` of ``StateStore.tasks``).
        attempts: Its attempt rows (of ``StateStore.attempts``, the same way).
        events: Its events (of ``StateStore.events``, the same way); None reads
            them from the store on first use (a report loaded with :meth:`load`)
            or has none.
    """

    def __init__(
        self,
        run: Mapping[str, Any],
        tasks: Sequence[Mapping[str, Any]],
        attempts: Sequence[Mapping[str, Any]],
        events: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.run = dict(run)
        self.run_id = str(run["run_id"])
        self._task_rows = list(tasks)
        self._attempt_rows = list(attempts)
        self._event_rows = list(events) if events is not None else None
        self._store_path: Path | None = None  # where to read the events from, on demand

    @classmethod
    def load(
        cls,
        state_dir: str | Path,
        run_id: str | None = None,
        *,
        tasks_file: str | Path | None = None,
    ) -> ExecutionReport:
        """Read a run from the store in ``state_dir``.

        Args:
            state_dir: Folder holding ``state.db``.
            run_id: The run (default: the latest of ``tasks_file``, else the latest).
            tasks_file: Limit "latest" to this tasks.md's runs.

        Returns:
            The report.

        Raises:
            ReportError: If there is no store or no such run.
        """
        path = Path(state_dir) / "state.db"
        if not path.is_file():
            raise ReportError(f"no state store at {path} (run a tasks.md first)")
        store = StateStore(path, readonly=True)
        try:
            if run_id is None:
                wanted = str(Path(tasks_file).resolve()) if tasks_file else None
                run_id = store.latest_run(wanted)
                if run_id is None:
                    where = f" of {tasks_file}" if tasks_file else ""
                    raise ReportError(f"no runs{where} in {path}")
            try:
                run = store.run(run_id)
            except Exception as exc:  # StoreError names the recent runs
                raise ReportError(str(exc)) from None
            tasks, attempts = store.tasks(run_id), store.attempts(run_id)
            if _runner_died(run):  # as the next run will record it, and as status shows it
                run = replace(run, status="interrupted")
                tasks = [as_gone(t) for t in tasks]
                attempts = [as_gone(a) for a in attempts]
            # The report only reads its rows: the records' own fields serve, uncopied (a
            # copy of each of 10,000 tasks and attempts slows report.tasks by a tenth).
            made = cls(run.as_dict(), [vars(t) for t in tasks], [vars(a) for a in attempts])
            made._store_path = path
            return made
        finally:
            store.close()

    # -- tables ---------------------------------------------------------------------------
    @cached_property
    def attempts(self) -> pd.DataFrame:
        """One row per attempt: id, attempt, status, start, end, duration, exit code, ..."""
        return attempts_frame(self._task_rows, self._attempt_rows)

    @cached_property
    def tasks(self) -> pd.DataFrame:
        """One row per task of the run, in file order (see the module docstring)."""
        return tasks_frame(self._task_rows, self._deps, set(self.critical_path))

    @cached_property
    def events(self) -> pd.DataFrame:
        """The stored events: seq, time, kind, id, attempt, status, data."""
        stored: Sequence[Mapping[str, Any]] = []
        if self._event_rows is not None:
            stored = self._event_rows
        elif self._store_path is not None:
            store = StateStore(self._store_path, readonly=True)
            try:
                stored = [e.as_dict() for e in store.events(self.run_id)]
            finally:
                store.close()
        return events_frame(stored)

    @cached_property
    def errors(self) -> pd.DataFrame:
        """Each task that did not complete: how and where it ended, stderr's last lines, the log."""
        return errors_frame(self._task_rows)

    @cached_property
    def _deps(self) -> dict[str, list[str]]:
        out = {}
        for r in self._task_rows:
            raw = r.get("deps")
            out[r["task_id"]] = json.loads(raw) if raw else []
        return out

    @cached_property
    def _durations(self) -> dict[str, float]:
        """Seconds per task that ended (a task that never did has none: NaN in the tables)."""
        return {
            r["task_id"]: r["finished"] - r["started"]
            for r in self._task_rows
            if r["started"] and r["finished"]
        }

    @cached_property
    def critical_path(self) -> list[str]:
        """The chain of dependent tasks with the longest summed duration."""
        return critical_path([r["task_id"] for r in self._task_rows], self._deps, self._durations)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """Counts, rates, times, parallelism, critical path and slowest tasks (JSON-ready).

        ``counts`` are by status; ``allowed_failures`` says how many of the failed
        and timed-out ones ran under ``allow_failure``.
        """
        return summarize(
            self.run_id,
            self.run,
            self._task_rows,
            self._attempt_rows,
            self._durations,
            self.critical_path,
        )

    @cached_property
    def settings(self) -> dict[str, Any]:
        """The settings the run used (secrets masked), with their sources."""
        raw = self.run.get("settings")
        return dict(json.loads(raw)) if raw else {}

    def progress(self, by: str = "phase") -> pd.DataFrame:
        """Roll-up per phase or story: done/total and percent, plus counts by status.

        Args:
            by: ``phase`` or ``story``.

        Returns:
            One row per group, in file order.
        """
        return rollup(self.tasks, by)

    # -- comparing ----------------------------------------------------------------------------
    def compare(self, other: ExecutionReport, threshold: float = 0.2) -> pd.DataFrame:
        """What changed from this run to ``other`` (see :func:`compare`).

        Args:
            other: The later run's report.
            threshold: Relative change in duration (and at least 0.1 s) that counts
                as slower or faster.

        Returns:
            One row per task in either run, with its ``change``.

        Raises:
            ReportError: If ``other`` is not a report.
        """
        return compare(self, other, threshold)

    # -- figures -----------------------------------------------------------------------------
    def gantt(self, group_by: str = "phase", *, figure: go.Figure | None = None) -> go.Figure:
        """A Gantt timeline: one bar per attempt (see :func:`taskexec_nb.figures.gantt`).

        Args:
            group_by: The lanes: ``phase``, ``story`` or any other column of :attr:`tasks`.
            figure: A figure to redraw in place (a ``plotly.graph_objects.FigureWidget``
                shown in a notebook updates where it is).

        Returns:
            The Plotly figure (``figure`` when given); an attempt still going on is
            drawn up to the run's end, or to now while the run goes on, and a task
            that never started has a marker in its row.

        Raises:
            ReportError: If ``group_by`` is not a column of :attr:`tasks`.
        """
        import pandas as pd

        if group_by not in self.tasks.columns:
            raise ReportError(
                f"gantt(group_by={group_by!r}): no such column; use phase, story or one of "
                f"{', '.join(map(str, self.tasks.columns))}"
            )

        from taskexec_nb.figures import gantt

        finished = self.run.get("finished")
        # An attempt without an end is drawn up to the run's end, or to now while it runs.
        now = pd.Timestamp(finished, unit="s", tz="UTC") if finished else None
        return gantt(
            self.attempts,
            self.tasks,
            group_by=group_by,
            title=self._title("Timeline"),
            now=now,
            figure=figure,
        )

    def dag(self, *, figure: go.Figure | None = None) -> go.Figure:
        """The run's dependency graph by status, critical path highlighted.

        Args:
            figure: A figure to redraw in place (e.g. a ``FigureWidget``).

        Returns:
            The Plotly figure: one node per task, by its status's colour and shape.
        """
        from taskexec_nb.figures import dag

        return dag(
            self.tasks,
            title=self._title("Dependencies"),
            critical=self.critical_path,
            figure=figure,
        )

    def progress_figure(self, by: str = "phase", *, figure: go.Figure | None = None) -> go.Figure:
        """Progress per phase or story as a bar chart.

        Args:
            by: ``phase`` or ``story`` (see :meth:`progress`).
            figure: A figure to redraw in place (e.g. a ``FigureWidget``).

        Returns:
            The Plotly figure: one bar per group, split by status.
        """
        from taskexec_nb.figures import progress

        title = self._title(f"Progress by {by}")
        return progress(self.progress(by), by=by, title=title, figure=figure)

    def _title(self, what: str) -> str:
        return f"{what} of run {self.run_id} ({self.run.get('status')})"

    # -- exports ------------------------------------------------------------------------------
    def to_csv(self, path: str | Path | None = None) -> str | None:
        """The tasks table as CSV, the run's status last (text when no path is given).

        Args:
            path: Where to write it.

        Returns:
            The text without ``path``, else None.

        Raises:
            ReportError: If ``path`` cannot be written.
        """
        from taskexec_nb.report.formats import csv_text

        return self._text_or_file("csv", csv_text, path)

    def to_dict(self) -> dict[str, Any]:
        """Run, settings, summary, tasks and attempts as JSON-ready data.

        Returns:
            What the ``json`` report format writes.
        """
        return {
            "run": {k: v for k, v in self.run.items() if k != "settings"},
            "settings": self.settings,
            "summary": self.summary,
            "tasks": _records(self.tasks),
            "attempts": _records(self.attempts),
        }

    def to_json(self, path: str | Path | None = None) -> str | None:
        """:meth:`to_dict` as JSON (returned as text when no path is given).

        Args:
            path: Where to write it.

        Returns:
            The text without ``path``, else None.

        Raises:
            ReportError: If ``path`` cannot be written.
        """
        from taskexec_nb.report.formats import json_text

        return self._text_or_file("json", json_text, path)

    def _text_or_file(
        self, fmt: str, text: Callable[[ExecutionReport], str], path: str | Path | None
    ) -> str | None:
        """``text(self)`` without ``path``; else the report exported as ``fmt`` to ``path``."""
        if path is None:
            return text(self)
        self.export(fmt, path)
        return None

    def to_parquet(self, path: str | Path) -> None:
        """The tasks table as Parquet (needs pyarrow), the run's status last.

        Args:
            path: Where to write it.

        Raises:
            ReportError: If ``path`` cannot be written.
        """
        self.export("parquet", path)

    def to_markdown(self) -> str:
        """A Markdown summary: counts, times, critical path, failures, what did not run, tasks.

        Returns:
            The Markdown text (what the ``md`` report format writes).
        """
        from taskexec_nb.report.formats import markdown

        return markdown(self)

    def to_junit(self) -> str:
        """JUnit XML: a testsuite per phase, a testcase per task (see :mod:`.junit`).

        Returns:
            The XML document as text.
        """
        from taskexec_nb.report.junit import junit_xml

        return junit_xml(self)

    def to_html(self, path: str | Path | None = None) -> str | None:
        """A self-contained HTML report (summary, tables, Gantt, DAG), working offline.

        Args:
            path: Where to write it.

        Returns:
            The text without ``path``, else None.

        Raises:
            ReportError: If ``path`` cannot be written.
        """
        return self._text_or_write("html", path)

    def _text_or_write(self, fmt: str, path: str | Path | None) -> str | None:
        from taskexec_nb.report.formats import FORMATS

        text = FORMATS[fmt].text
        if path is None and text is not None:
            return text(self)
        self.export(fmt, path or "")
        return None

    def export(self, fmt: str, path: str | Path) -> None:
        """Write the report in one format of :data:`~.formats.FORMATS`.

        Args:
            fmt: html, junit, csv, json, md or parquet.
            path: Where to write it.

        Raises:
            ReportError: For an unknown format, or a path that cannot be written.
        """
        from taskexec_nb.report.formats import export

        export(self, fmt, Path(path))

    def _repr_html_(self) -> str:
        from taskexec_nb.report.html import summary_html

        return summary_html(self.summary)

    def __repr__(self) -> str:
        s = self.summary
        return f"<ExecutionReport {self.run_id} {s['status']}: {_counts_text(s)}>"


# --- helpers used by the report and the live status ----------------------------------------


def compare(a: ExecutionReport, b: ExecutionReport, threshold: float = 0.2) -> pd.DataFrame:
    """What changed between two runs, task by task.

    Args:
        a: The earlier run.
        b: The later run.
        threshold: Relative change in duration (and at least 0.1 s) that counts
            as slower or faster.

    Returns:
        One row per task in either run: id, status and duration in each, and
        ``change``: ``newly failing``, ``fixed``, ``slower``, ``faster``,
        ``added``, ``removed``, ``status changed`` or ``same``.

    Raises:
        ReportError: If ``a`` or ``b`` is not a report.
    """
    for name, given in (("a", a), ("b", b)):
        if not isinstance(given, ExecutionReport):
            raise ReportError(
                f"compare(): {name} must be a run's report (run.report(), report(run_id)), "
                f"got {type(given).__name__}"
            )
    return compare_rows(a._task_rows, b._task_rows, a._durations, b._durations, threshold)


def _runner_died(run: RunRecord) -> bool:
    """A run still marked running or paused whose runner process (on this host) is gone."""
    from taskexec_nb._procfs import runner_alive

    if run.status not in ("running", "paused"):
        return False
    return runner_alive(run) is False
