"""What the magics show: a plan's summary tables, its problems, past runs as a table.

Small tables (:class:`Table`) carry both an HTML form (with a caption and column
headers) and an aligned text form, so a notebook, a terminal and a static viewer
each get a readable one.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from IPython.display import display as _display

if TYPE_CHECKING:
    import pandas as pd

    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.run.handle import RunHandle

DAG_LIMIT = 300
"""Plans of more tasks show no DAG unless asked (``--dag``): a 1,000-task DAG takes longer
to draw than the rest of ``%load_tasks`` together, and reads as a blur at a notebook's width."""


def show(value: Any, label: str | None = None) -> None:
    """Display a value in the cell's output (IPython's ``display``, typed).

    Args:
        value: What to show; its richest representation is used.
        label: For a DataFrame, its accessible name: it is shown by :func:`show_frame`.
    """
    if label is not None:
        show_frame(value, label)
        return
    _display(value)  # type: ignore[no-untyped-call]


def show_frame(frame: pd.DataFrame, label: str) -> None:
    """Display a DataFrame that may be wider than the notebook, reachable by keyboard.

    A wide table scrolls sideways; a scrolling region must take the keyboard's focus
    and have a name (WCAG 2.1: keyboard access), which pandas' own HTML lacks.

    Args:
        frame: The table.
        label: Its accessible name (what the table is).
    """
    table = frame._repr_html_()  # type: ignore[operator]  # pandas' notebook HTML
    page = (
        f'<div class="te-table" role="region" tabindex="0" aria-label="{html.escape(label)}" '
        f'style="overflow-x: auto">{table}</div>'
    )
    _display({"text/html": page, "text/plain": repr(frame)}, raw=True)  # type: ignore[no-untyped-call]


class Table:
    """A small table shown as HTML in a notebook and as aligned text elsewhere.

    Args:
        caption: What the table is (its HTML caption, the text's first line).
        headers: The column names.
        rows: The cells.
    """

    def __init__(self, caption: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.caption = caption
        self.headers = list(headers)
        self.rows = [["" if c is None else str(c) for c in row] for row in rows]

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text(), "text/html": self.html()}

    def text(self) -> str:
        """The table as text.

        Returns:
            The caption, then the rows in aligned columns.
        """
        if not self.headers:
            return self.caption
        rows = [[" ".join(c.split()) for c in row] for row in self.rows]  # one line each
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(self.headers)]
        head = "  ".join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))
        lines = [self.caption, head.rstrip()]
        for row in rows:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        return "\n".join(lines)

    def html(self) -> str:
        """The table as HTML.

        Returns:
            A ``<table>`` with its caption and column headers.
        """
        if not self.headers:
            return f'<p class="taskexec-summary">{html.escape(self.caption)}</p>'
        head = "".join(f'<th scope="col">{html.escape(h)}</th>' for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self.rows
        )
        return (
            f'<table class="taskexec-table"><caption style="text-align:left">'
            f"{html.escape(self.caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )


def _counts(plan: ExecutionPlan) -> list[Table]:
    """Tasks per phase and per story: total, done, to run, cancelled."""
    phases: dict[str, list[int]] = {}
    stories: dict[str, list[int]] = {}
    slot = {"done": 1, "pending": 2, "cancelled": 3}
    for task in plan.tasks:
        for key, groups in ((task.phase.label, phases), (task.story or "(none)", stories)):
            counts = groups.setdefault(key, [0, 0, 0, 0])
            counts[0] += 1
            counts[slot[task.state.value]] += 1
    headers = ["tasks", "done", "to run", "cancelled"]
    tables = [Table("Tasks per phase", ["phase", *headers], [[k, *v] for k, v in phases.items()])]
    if set(stories) != {"(none)"}:
        tables.append(
            Table("Tasks per story", ["story", *headers], [[k, *v] for k, v in stories.items()])
        )
    return tables


def diagnostics_table(plan: ExecutionPlan) -> Table | None:
    """The plan's problems as a table: line, severity, code, task, message, hint.

    Args:
        plan: The plan.

    Returns:
        The table, in line order (whole-file problems first); None when there are none.
    """
    found = sorted(plan.diagnostics, key=lambda d: (d.line or 0, d.code))
    if not found:
        return None
    errors = sum(d.is_error for d in found)
    caption = f"{errors} error(s), {len(found) - errors} warning(s) in {plan.path}" + (
        ": the plan cannot run until the errors are fixed" if errors else ""
    )
    rows = [[d.line, d.severity.value, d.code, d.task_id, d.message, d.hint] for d in found]
    return Table(caption, ["line", "severity", "code", "task", "message", "hint"], rows)


def show_plan(plan: ExecutionPlan, name: str, dag: bool | None = None) -> None:
    """Display what ``%load_tasks`` shows: the summary, counts, problems, the plan and its DAG.

    Args:
        plan: The plan.
        name: The name it is bound to.
        dag: Draw the DAG (None: when the plan has at most :data:`DAG_LIMIT` tasks).
    """
    show(Table(f"{name} = the plan of {plan.path}: {len(plan)} task(s)", [], []))
    for table in _counts(plan) if len(plan) else []:
        show(table)
    problems = diagnostics_table(plan)
    if problems is not None:
        show(problems)
    if not len(plan):
        return
    show(plan)
    if dag or (dag is None and len(plan) <= DAG_LIMIT):
        show(_dag(plan))
    else:
        why = f"{len(plan)} tasks, over {DAG_LIMIT}" if dag is None else "--no-dag"
        show(Table(f"DAG not drawn ({why}): --dag draws it", [], []))


def _dag(plan: ExecutionPlan) -> Any:
    """The plan's DAG figure (the plan's own, once it has one)."""
    own = getattr(plan, "dag", None)
    if callable(own):
        return own()
    from taskexec_nb import figures

    return figures.dag(plan.to_frame(), title="Dependencies", critical=plan.critical_path())


def state_line(handle: RunHandle) -> str:
    """A run's state in one line: its ID, whether it runs, is paused or ended, and counts.

    Args:
        handle: The run.

    Returns:
        E.g. ``run 20260101-120000-ab12 paused: 3 completed, 1 running, 6 pending``.
    """
    from taskexec_nb.store import shown_status

    counts: dict[str, int] = {}
    for row in handle.snapshot():
        shown = shown_status(row["status"], row["allowed"])
        counts[shown] = counts.get(shown, 0) + 1
    state = handle.result.value if handle.result else ("paused" if handle.paused else "running")
    text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return f"run {handle.run_id} {state}: {text or 'no tasks'}"


def runs_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Past runs as a table: status, times, mode, task counts by status, the file.

    ``started``, ``finished`` and ``resumed`` (when the run was last resumed) are
    UTC timestamps; ``duration`` is the seconds the run worked, as its report's
    ``wall_time``: a resumed run's sessions without the time between them.

    Args:
        rows: The runs as :func:`~taskexec_nb.report.runs.runs` returns them.

    Returns:
        One row per run, indexed by ``run_id``, the counts as integer columns.
    """
    import pandas as pd

    from taskexec_nb._stamps import utc_stamps
    from taskexec_nb.report.summary import STATUSES

    seen = {s for row in rows for s in (row.get("counts") or {})}
    counted = [s for s in STATUSES if s in seen] + sorted(seen - set(STATUSES))
    records = [
        {
            "run_id": row["run_id"],
            "status": row["status"],
            "started": row.get("started"),
            "finished": row.get("finished"),
            "mode": row.get("mode"),
            "tasks": sum((row.get("counts") or {}).values()),
            **{s: (row.get("counts") or {}).get(s, 0) for s in counted},
            "resumed": row.get("resumed"),
            "tasks_file": row.get("tasks_file"),
        }
        for row in rows
    ]
    columns = ["run_id", "status", "started", "finished", "mode", "tasks", *counted]
    frame = pd.DataFrame(records, columns=[*columns, "resumed", "tasks_file"])
    before = pd.Series([float(row.get("elapsed") or 0.0) for row in rows], dtype="float64")
    for col in ("started", "finished", "resumed"):
        frame[col] = utc_stamps(frame[col])
    session = frame["resumed"].fillna(frame["started"])  # the last session's start
    frame["duration"] = before + (frame["finished"] - session).dt.total_seconds()
    return frame.set_index("run_id")
