"""Progress per phase or story as stacked bars, done/total at each bar's end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskexec_nb.figures.style import (
    FONT,
    _bar_marker,
    _bar_text_color,
    _finish,
    _layout,
    _legend_above,
    _phase_label,
    style,
)

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


_PROGRESS_ORDER = (
    "completed",
    "failed",
    "timed_out",
    "cancelled",
    "skipped",
    "running",
    "paused",
    "queued",
    "pending",
)


def progress(
    rollup: pd.DataFrame,
    *,
    by: str = "phase",
    title: str = "Progress",
    figure: go.Figure | None = None,
) -> go.Figure:
    """Progress per phase or story as stacked horizontal bars.

    Args:
        rollup: :func:`taskexec_nb.report.rollup` output (group, done, total,
            percent and a column per status; ``phase_title`` names the phases).
        by: The group column (``phase`` or ``story``).
        title: The figure's title.
        figure: A figure (or ``FigureWidget``) to update in place instead of a new one.

    Returns:
        The figure: one bar trace per status, "done/total (percent)" at each bar's end.
    """
    import plotly.graph_objects as go

    groups = [str(g) for g in rollup[by]]
    if by == "phase" and "phase_title" in rollup:  # "Phase 2: Branches", as the heading says
        groups = [_phase_label(g, t) for g, t in zip(groups, rollup["phase_title"], strict=True)]
    traces = []
    for status in _PROGRESS_ORDER:
        if status not in rollup or not rollup[status].any():
            continue
        st = style(status)
        values = [int(v) for v in rollup[status]]
        traces.append(
            go.Bar(
                name=st.label,
                orientation="h",
                x=values,
                y=groups,
                text=[f"{v} {st.label}" if v else "" for v in values],
                textposition="inside",
                textfont={"color": _bar_text_color(status)},
                hovertemplate="%{y}: %{x} " + st.label + "<extra></extra>",
                marker=_bar_marker(status),  # a pending bar is hollow, the others patterned
            )
        )
    notes = [
        {
            "x": int(total),
            "y": g,
            "text": f" {int(done)}/{int(total)} ({pct:g}%)",
            "showarrow": False,
            "xanchor": "left",
            "font": {"color": FONT["color"]},
        }
        for g, done, total, pct in zip(
            groups, rollup["done"], rollup["total"], rollup["percent"], strict=True
        )
    ]
    alt = f"Progress by {by}: " + "; ".join(
        f"{g} {int(d)}/{int(t)} done ({p:g}%)"
        for g, d, t, p in zip(
            groups, rollup["done"], rollup["total"], rollup["percent"], strict=True
        )
    )
    most = max((int(t) for t in rollup["total"]), default=1)
    height = max(260, 40 * len(groups) + 160)
    layout = _layout(title, alt + ".", height)
    layout["margin"] = {"l": 10, "r": 10, "t": 100, "b": 40}
    layout.update(
        legend={**_legend_above(height - 140, 10), "traceorder": "normal"},
        barmode="stack",
        annotations=notes,
        xaxis={"title": {"text": "tasks"}, "range": [0, most * 1.25 + 1], "gridcolor": "#D9D9D9"},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return _finish(figure, traces, layout)
