"""The Gantt timeline of a run: one bar per attempt, a marker for each task that never started."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from taskexec_nb.figures.style import (
    FONT,
    LONG,
    STYLES,
    _bar_marker,
    _bar_text_color,
    _counts_text,
    _finish,
    _layout,
    _legend_above,
    _phase_label,
    _present,
    _short,
    _with_ids,
    style,
)

GROUP_WIDTH = 28

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def gantt(
    attempts: pd.DataFrame,
    tasks: pd.DataFrame,
    *,
    group_by: str = "phase",
    title: str = "Timeline",
    figure: go.Figure | None = None,
    now: pd.Timestamp | None = None,
) -> go.Figure:
    """A timeline with one bar per attempt, grouped by phase or story.

    Tasks that never started (skipped, cancelled, still pending) have a row too,
    with a marker of their status's shape where they ended (else at ``now``).
    The time axis is drawn above the rows (and below them on a long chart), the
    legend above the plot, and the width follows the notebook's.

    Args:
        attempts: One row per attempt (``report.attempts``, indexed by task ID;
            or a live model's ``attempts_frame()``, indexed alike): attempt,
            status, start, end, exit_code, error, and the ``group_by`` column
            (else the task's).
        tasks: One row per task (``report.tasks``, or a live model's
            ``tasks_frame()``), for descriptions, order, groups and the tasks
            that never started.
        group_by: ``phase`` or ``story``.
        title: The figure's title.
        figure: A figure (or ``FigureWidget``) to update in place instead of a new one.
        now: Where an attempt without an end (still running) stops (default: now).

    Returns:
        The figure: one bar trace per status, on a time axis.
    """
    import pandas as pd
    import plotly.graph_objects as go

    tasks = _with_ids(tasks)
    desc = dict(zip(tasks["id"], tasks["description"].fillna(""), strict=True))
    order = {tid: i for i, tid in enumerate(tasks["id"])}
    if now is None:
        now = pd.Timestamp.now(tz="UTC")
    rows = _with_ids(attempts)
    rows = rows[rows["start"].notna()].copy()
    for col in (group_by, "phase_title"):  # attempts that do not say: their task's
        if col not in rows and col in tasks:
            rows[col] = rows["id"].map(dict(zip(tasks["id"], tasks[col], strict=True)))
    rows["end_shown"] = rows["end"].fillna(now)
    rows["group"] = _groups(rows, group_by)
    rows["order"] = rows["id"].map(order).fillna(len(order))
    rows = rows.sort_values(["order", "attempt"])
    rows["label"] = [f"{t} {_short(desc.get(t, ''))}".strip() for t in rows["id"]]
    unstarted = tasks[~tasks["id"].isin(set(rows["id"]))].copy()
    unstarted["group"] = _groups(unstarted, group_by)
    unstarted["label"] = [f"{t} {_short(desc.get(t, ''))}".strip() for t in unstarted["id"]]
    unstarted["at"] = unstarted["end"].fillna(now) if "end" in unstarted else now
    # An invisible first trace fixes the rows' order (a category axis follows the
    # order in which categories first appear, trace by trace).
    firsts = pd.concat(
        [
            rows.drop_duplicates("id")[["id", "group", "label", "start"]],
            unstarted[["id", "group", "label", "at"]].rename(columns={"at": "start"}),
        ]
    )
    firsts = firsts.assign(order=firsts["id"].map(order)).sort_values("order", kind="stable")
    groups = list(dict.fromkeys(firsts["group"]))
    traces: list[Any] = [
        go.Bar(
            orientation="h",
            base=[t.isoformat() for t in firsts["start"]],
            x=[0] * len(firsts),
            y=[list(firsts["group"]), list(firsts["label"])],
            showlegend=False,
            hoverinfo="skip",
            marker={"opacity": 0},
            name="order",
        )
    ]
    if len(firsts) > LONG:  # the invisible trace also carries the time axis under the rows
        traces[0].xaxis = "x2"
    traces += _attempt_bars(rows, desc)
    traces += _never_started(unstarted, desc)
    n_tasks = len(firsts)
    span = (rows["end_shown"].max() - rows["start"].min()).total_seconds() if len(rows) else 0.0
    longest = ""
    if len(rows):
        seconds = [
            (e - s).total_seconds() for s, e in zip(rows["start"], rows["end_shown"], strict=True)
        ]
        i = max(range(len(seconds)), key=seconds.__getitem__)
        longest = f" Longest attempt: {rows['id'].iloc[i]} ({seconds[i]:.1f} s)."
    never = (
        f" {len(unstarted)} never started: {_counts_text(list(unstarted['status']))}."
        if len(unstarted)
        else ""
    )
    alt = (
        f"Timeline of {len(rows)} attempts of {n_tasks} tasks over {span:.1f} s, grouped by "
        f"{group_by} ({len(groups)} groups): {_counts_text(list(rows['status'])) or 'none'}."
        + longest
        + never
    )
    layout = _timeline_layout(title, alt, n_tasks, {"type": "date"})
    return _finish(figure, traces, layout)


def _groups(frame: pd.DataFrame, group_by: str) -> list[str]:
    """Each row's lane: its group's value (``Phase 2: Branches`` by phase), else ``(none)``.

    A lane's name is cut to :data:`GROUP_WIDTH` characters, so the rows' labels leave
    the time axis most of the width.
    """
    if group_by not in frame:
        return ["(none)"] * len(frame)
    if group_by == "phase" and "phase_title" in frame:
        return [
            _short(_phase_label(str(p), t), GROUP_WIDTH) if _present(p) and str(p) else "(none)"
            for p, t in zip(frame["phase"], frame["phase_title"], strict=True)
        ]
    return [
        _short(str(v), GROUP_WIDTH) if _present(v) and str(v) else "(none)" for v in frame[group_by]
    ]


def _attempt_bars(rows: pd.DataFrame, desc: Mapping[str, str]) -> list[Any]:
    """One bar trace per status: each attempt from its start to its end (or ``end_shown``)."""
    import plotly.graph_objects as go

    traces: list[Any] = []
    for status in STYLES:
        part = rows[rows["status"] == status]
        if part.empty:
            continue
        st = style(status)
        millis = [
            max(1.0, (e - s).total_seconds() * 1000)
            for s, e in zip(part["start"], part["end_shown"], strict=True)
        ]
        hover = [
            f"<b>{html.escape(t)}</b> {html.escape(desc.get(t, '')[:80])}<br>"
            f"status: {st.label}, attempt {a}<br>start: {s:%H:%M:%S}, "
            f"duration: {(e - s).total_seconds():.2f} s"
            + (f"<br>exit code: {x}" if _present(x) else "")
            + (f"<br>{html.escape(str(err))[:120]}" if isinstance(err, str) and err else "")
            for t, a, s, e, x, err in zip(
                part["id"],
                part["attempt"],
                part["start"],
                part["end_shown"],
                part["exit_code"],
                part["error"],
                strict=True,
            )
        ]
        text = [
            f"{st.label} #{a}" if a > 1 or status not in ("completed", "pending") else st.label
            for a in part["attempt"]
        ]
        traces.append(
            go.Bar(
                name=st.label,
                orientation="h",
                base=[s.isoformat() for s in part["start"]],
                x=millis,
                y=[list(part["group"]), list(part["label"])],
                text=text,
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": _bar_text_color(status)},
                hovertext=hover,
                hoverinfo="text",
                marker=_bar_marker(status),
            )
        )
    return traces


def _never_started(unstarted: pd.DataFrame, desc: Mapping[str, str]) -> list[Any]:
    """One marker trace per status for the tasks that have no attempt."""
    import plotly.graph_objects as go

    traces: list[Any] = []
    statuses = list(unstarted["status"])
    for status in [*STYLES, *sorted(set(statuses) - set(STYLES))]:
        part = unstarted[unstarted["status"] == status]
        if part.empty:
            continue
        st = style(status)
        hover = [
            f"<b>{html.escape(t)}</b> {html.escape(desc.get(t, '')[:80])}<br>"
            f"status: {st.label}, never started"
            for t in part["id"]
        ]
        traces.append(
            go.Scatter(
                name=f"{st.label}, never started",
                mode="markers+text",
                x=[t.isoformat() for t in part["at"]],
                y=[list(part["group"]), list(part["label"])],
                text=[f"{st.label} (never started)"] * len(part),
                textposition="middle right",
                textfont={"color": FONT["color"], "size": 10},
                hovertext=hover,
                hoverinfo="text",
                marker={
                    "symbol": st.symbol,
                    "size": 10,
                    "color": st.color,
                    "line": {"color": st.color, "width": 2},
                },
            )
        )
    return traces


def _timeline_layout(title: str, alt: str, n_rows: int, xaxis: dict[str, Any]) -> dict[str, Any]:
    """A Gantt's layout: rows as tall as they can be read, the time axis on top, legend above.

    Up to 60 rows are 24 px each, up to 150 are 16 px, more are 13 px (labels in
    10 px type); the width is left to the notebook (``autosize``), and a chart of
    more than :data:`LONG` rows has its time axis below the rows too, so one is in
    sight wherever the notebook is scrolled to.
    """
    per_row = 24 if n_rows <= 60 else 16 if n_rows <= 150 else 13
    height = max(320, per_row * max(1, n_rows) + 190)
    layout = _layout(title, alt, height)
    layout["margin"] = {"l": 10, "r": 10, "t": 150, "b": 40}
    plot_height = height - 150 - 40
    layout["legend"] = _legend_above(plot_height, 62)  # over two-line date ticks
    layout.update(
        barmode="overlay",
        xaxis={**xaxis, "side": "top", "gridcolor": "#D9D9D9", "automargin": True},
        yaxis={
            "autorange": "reversed",
            "title": {"text": ""},
            "automargin": True,
            "tickfont": {"size": 12 if n_rows <= 60 else 10},
        },
        bargap=0.25,
    )
    if n_rows > LONG:  # a long chart: the time axis under the rows too
        layout["xaxis2"] = {
            **xaxis,
            "matches": "x",
            "overlaying": "x",
            "side": "bottom",
            "showgrid": False,
        }
    return layout
