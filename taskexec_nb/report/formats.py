"""The report's export formats: one registry entry per format (name, file suffixes, writer).

:data:`FORMATS` is what :meth:`ExecutionReport.export` and ``taskexec report
--format`` read: adding a format is adding one entry. The CLI reads the names
at every start, so the writers import what they need when they run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from taskexec_nb.errors import ReportError

if TYPE_CHECKING:
    import pandas as pd

    from taskexec_nb.report.tables import ExecutionReport


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        name: What ``--format`` and :meth:`ExecutionReport.export` call it.
        suffixes: The file suffixes that choose it (``-o report.html``).
        text: The report as text (None for a binary format, written to a file only).
        write: Write the report to a file; default: :attr:`text` as UTF-8.
    """

    name: str
    suffixes: tuple[str, ...]
    text: Callable[[ExecutionReport], str] | None
    write: Callable[[ExecutionReport, Path], None] | None = None

    def save(self, rep: ExecutionReport, path: Path) -> None:
        """Write ``rep`` to ``path`` in this format.

        Args:
            rep: The report.
            path: The file.

        Raises:
            ReportError: If ``path`` cannot be written.
        """
        if self.write is not None:
            self.write(rep, path)
        elif self.text is not None:
            _write(path, self.text(rep))


def _with_run_status(rep: ExecutionReport, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (a task table with its ID as a column) with the run's status last.

    CSV and Parquet hold the tasks table alone; without this column the file of
    an ``incomplete`` run (tasks skipped for want of an action) reads like a
    finished one.

    Args:
        rep: The report.
        frame: Its tasks table, flattened for the format.

    Returns:
        ``frame`` with a ``run_status`` column.
    """
    frame["run_status"] = str(rep.summary["status"])
    return frame


def csv_text(rep: ExecutionReport) -> str:
    """The tasks table as CSV (list cells comma-joined), the run's status last.

    Args:
        rep: The report.

    Returns:
        The CSV text.
    """
    from taskexec_nb.report.cells import _flat

    return str(_with_run_status(rep, _flat(rep.tasks)).to_csv(index=False))


def write_csv(rep: ExecutionReport, path: Path) -> None:
    """Write :func:`csv_text` to ``path``.

    Args:
        rep: The report.
        path: The file.

    Raises:
        ReportError: If ``path`` cannot be written.
    """
    from taskexec_nb.report.cells import _flat

    frame = _with_run_status(rep, _flat(rep.tasks))
    with _writing(path):
        frame.to_csv(path, index=False)


def json_text(rep: ExecutionReport) -> str:
    """:meth:`ExecutionReport.to_dict` as JSON.

    Args:
        rep: The report.

    Returns:
        The JSON text.
    """
    return json.dumps(rep.to_dict(), indent=2, default=str)


def write_parquet(rep: ExecutionReport, path: Path) -> None:
    """The tasks table as Parquet (needs pyarrow), the run's status last.

    Args:
        rep: The report.
        path: The file.

    Raises:
        ReportError: If ``path`` cannot be written.
    """
    frame = rep.tasks.reset_index()
    frame["phase"] = frame["phase"].astype("string")
    frame["depends_on"] = [list(d) for d in frame["depends_on"]]
    frame = _with_run_status(rep, frame)
    with _writing(path):
        frame.to_parquet(path, index=False)


def markdown(rep: ExecutionReport) -> str:
    """A Markdown summary: counts, times, critical path, failures, what did not run, tasks.

    Args:
        rep: The report.

    Returns:
        The Markdown text.
    """
    from taskexec_nb.report.summary import FINAL_FAILURES, _counts_text
    from taskexec_nb.store import shown_status

    s = rep.summary
    lines = [
        f"# Run {rep.run_id}: {s['status']}",
        "",
        f"- File: `{s['tasks_file']}`",
        f"- Started {s['started'] or '-'}, finished {s['finished'] or 'not yet'}",
        f"- Tasks: {s['total']}; {_counts_text(s)}",
        f"- Success rate: {s['success_rate']:.0%}",
        f"- Wall time {s['wall_time']:.1f} s; task time {s['task_time']:.1f} s; "
        f"parallelism {s['parallelism']:.2f}",
        f"- Critical path ({s['critical_path_time']:.1f} s): "
        + (" → ".join(s["critical_path"]) or "none"),
        "",
    ]
    errors = rep.errors
    failing = errors[errors["status"].isin(FINAL_FAILURES)]
    if len(failing):
        lines += ["## Failures", ""]
        for row in failing.reset_index().to_dict("records"):
            shown = shown_status(row["status"], row["allowed"])
            lines.append(f"- **{row['id']}** {shown}: {row['failure_point']}")
            if row["log_path"]:
                lines.append(f"  log: `{row['log_path']}`")
            if row["stderr_tail"]:
                last = str(row["stderr_tail"]).splitlines()[-5:]
                longest = max((len(m) for m in re.findall(r"`+", "\n".join(last))), default=0)
                fence = "`" * max(3, longest + 1)  # the tail is shown, never rendered
                tail = "\n".join(f"  {x}" for x in [fence, *last, fence])
                lines.append(tail)
        lines.append("")
    skipped = errors[errors["status"] == "skipped"]
    if len(skipped):  # not done: for want of an action, a failed prerequisite, fail-fast
        lines += ["## Not run", ""]
        lines += [
            f"- **{row['id']}** skipped: {row['failure_point']}"
            for row in skipped.reset_index().to_dict("records")
        ]
        lines.append("")
    lines += ["## Tasks", ""]
    header = ["ID", "Phase", "Story", "Status", "Attempts", "Seconds", "Description"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join("---" for _ in header) + "|")
    for r in rep._task_rows:
        seconds = rep._durations.get(r["task_id"]) or 0.0
        cells = [
            r["task_id"],
            r["phase"] or "",
            r["story"] or "",
            shown_status(r["status"], r.get("allowed")),
            str(r["attempt"]),
            f"{seconds:.1f}" if seconds else "",
            r["description"] or "",
        ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _html(rep: ExecutionReport) -> str:
    from taskexec_nb.report.html import html_page

    return html_page(rep)


def _junit(rep: ExecutionReport) -> str:
    from taskexec_nb.report.junit import junit_xml

    return junit_xml(rep)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("html", (".html", ".htm"), _html),
        Format("junit", (".xml",), lambda rep: _junit(rep) + "\n"),
        Format("csv", (".csv",), csv_text, write_csv),
        Format("json", (".json",), lambda rep: json_text(rep) + "\n"),
        Format("md", (".md",), markdown),
        Format("parquet", (".parquet",), None, write_parquet),
    )
}
"""Every export format, by name."""

SUFFIXES = {suffix: f.name for f in FORMATS.values() for suffix in f.suffixes}
"""File suffix to format name."""


def export(rep: ExecutionReport, fmt: str, path: Path) -> None:
    """Write ``rep`` in the format named ``fmt``.

    Args:
        rep: The report.
        fmt: A name in :data:`FORMATS`.
        path: The file.

    Raises:
        ReportError: For an unknown format, or a path that cannot be written.
    """
    from taskexec_nb.errors import ReportError

    chosen = FORMATS.get(fmt)
    if chosen is None:
        raise ReportError(f"unknown report format {fmt!r}; use one of: {', '.join(FORMATS)}")
    chosen.save(rep, path)


@contextmanager
def _writing(path: str | Path) -> Iterator[None]:
    """Turn a failure to write ``path`` into a :class:`ReportError` that names it."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if Path(path).is_dir():
            reason = "it is a folder (give a file name)"
        elif not Path(path).parent.is_dir():
            reason = f"there is no folder {Path(path).parent}"
        raise ReportError(f"{path}: cannot write the report: {reason}") from None


def _write(path: str | Path, text: str) -> None:
    """Write a text report as UTF-8 (a failure is a :class:`ReportError` naming ``path``)."""
    with _writing(path):
        Path(path).write_text(text, encoding="utf-8")
