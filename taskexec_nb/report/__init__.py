"""Reports of runs, built from the state store: DataFrames, a summary, comparisons, exports.

``ExecutionReport.load(state_dir, run_id)`` (or :func:`report`) reads one run:

* ``tasks``: one row per task (status, whether a failure was allowed, attempts,
  times, exit code or signal,
  error, the last lines of stderr, the log, dependencies, critical path);
* ``attempts``: one row per attempt; ``events``: the stored event stream;
* ``summary``: counts by status, success rate, wall time, summed task time,
  achieved parallelism, the critical path and its length, the slowest tasks;
* ``errors``: what went wrong with each task that did not complete.

Exports (:mod:`~taskexec_nb.report.formats`, one entry per format): CSV, JSON,
Parquet, Markdown, a self-contained HTML page (tables and figures, working
offline; :mod:`~taskexec_nb.report.html`) and JUnit XML (one testcase per task;
:mod:`~taskexec_nb.report.junit`). :mod:`~taskexec_nb.report.status` is the
task status table ``taskexec status`` prints.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskexec_nb.report.summary import FINAL_FAILURES, STATUSES
    from taskexec_nb.report.tables import (
        ATTEMPT_COLUMNS,
        TASK_COLUMNS,
        ExecutionReport,
        compare,
        report,
        rollup,
    )

__all__ = [
    "ATTEMPT_COLUMNS",
    "FINAL_FAILURES",
    "STATUSES",
    "TASK_COLUMNS",
    "ExecutionReport",
    "compare",
    "report",
    "rollup",
]


def __getattr__(name: str) -> Any:
    """The names of :mod:`.tables` and :mod:`.summary`, imported on first use.

    ``taskexec`` reads the export formats (:mod:`.formats`) at every start; this
    keeps that from loading the store and the tables.

    Args:
        name: The attribute.

    Returns:
        Its value.

    Raises:
        AttributeError: If the package has no such name.
    """
    if name in ("FINAL_FAILURES", "STATUSES"):
        from taskexec_nb.report import summary

        return getattr(summary, name)
    if name in __all__:
        from taskexec_nb.report import tables

        return getattr(tables, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
