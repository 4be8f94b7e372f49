"""Plotly figures of plans and runs: a Gantt timeline, a dependency graph, progress bars.

Status is shown by colour AND by text (labels, legend) AND by pattern or
marker shape, so no figure relies on colour alone. The colours come from the
Okabe-Ito colour-blind-safe palette, each at least 3:1 against the white
background (WCAG 2.1 non-text contrast); text drawn on a colour is black or
white, whichever reaches 4.5:1. Every figure has a title and a text
alternative in ``fig.layout.meta["alt"]`` (see :func:`alt_text`).
"""

from __future__ import annotations

import html
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskexec_nb.graph import layers

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


@dataclass(frozen=True)
class StatusStyle:
    """How one status is drawn."""

    label: str
    color: str
    pattern: str  # plotly bar pattern shape ("" for solid)
    symbol: str  # plotly marker symbol for graph nodes


STYLES: dict[str, StatusStyle] = {
    "completed": StatusStyle("completed", "#009E73", "", "circle"),
    "failed": StatusStyle("failed", "#D55E00", "x", "x"),
    "timed_out": StatusStyle("timed out", "#AA3377", "/", "hourglass"),
    "cancelled": StatusStyle("cancelled", "#4D4D4D", "-", "square"),
    "skipped": StatusStyle("skipped", "#767676", ".", "circle-open"),
    "running": StatusStyle("running", "#0072B2", "+", "diamond"),
    "paused": StatusStyle("paused", "#6A5D00", "|", "diamond-open"),
    "queued": StatusStyle("queued", "#5D6D7E", "\\", "triangle-right"),
    "pending": StatusStyle("pending", "#595959", "", "circle-open-dot"),
}
BACKGROUND = "#FFFFFF"
EDGE_COLOR = "#8C8C8C"
CRITICAL_COLOR = "#1A1A1A"
FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "color": "#1A1A1A"}


def style(status: str) -> StatusStyle:
    """The style of a status (unknown ones are drawn as pending).

    Args:
        status: A task status value, e.g. ``failed``.

    Returns:
        Its colour, pattern and marker; pending's colour and an open circle for a
        status with no style of its own.
    """
    return STYLES.get(status, StatusStyle(status, STYLES["pending"].color, "", "circle-open"))


def luminance(color: str) -> float:
    """WCAG relative luminance of a ``#RRGGBB`` colour.

    Args:
        color: The colour, ``#RRGGBB`` (the ``#`` is optional).

    Returns:
        The relative luminance, from 0 (black) to 1 (white).
    """
    value = color.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21).

    Args:
        a: One colour, ``#RRGGBB``.
        b: The other colour, ``#RRGGBB`` (the order does not matter).

    Returns:
        The contrast ratio: 1 for the same colour, 21 for black on white.
    """
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``.

    Args:
        background: The colour the text is drawn on, ``#RRGGBB``.

    Returns:
        ``#000000`` or ``#FFFFFF`` (black when both contrast as much).
    """
    return (
        "#000000"
        if contrast("#000000", background) >= contrast("#FFFFFF", background)
        else ("#FFFFFF")
    )


def alt_text(fig: go.Figure) -> str:
    """The figure's text alternative (its title when it has none).

    Args:
        fig: A figure made by this module (its ``layout.meta["alt"]`` holds the text).

    Returns:
        The text alternative, else the figure's title, else ``figure``.
    """
    meta = fig.layout.meta
    if isinstance(meta, Mapping) and meta.get("alt"):
        return str(meta["alt"])
    title = fig.layout.title.text
    return str(title or "figure")


def to_html_fragment(fig: go.Figure, include_plotlyjs: bool = True) -> str:
    """The figure as an HTML fragment, working offline.

    The plot stays interactive for keyboard and screen-reader users (no
    ``role="img"`` hiding its controls); put it in a ``figure`` whose
    ``figcaption`` is :func:`alt_text`, as the HTML report does.

    Args:
        fig: The figure.
        include_plotlyjs: Inline plotly.js (once per page).

    Returns:
        A ``div`` holding the plot.
    """
    inner = fig.to_html(
        full_html=False,
        include_plotlyjs=bool(include_plotlyjs),
        config={"displaylogo": False, "responsive": True},
    )
    return f'<div class="taskexec-figure">{inner}</div>'


def _layout(title: str, alt: str, height: int) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01},
        "meta": {"alt": alt},
        "height": height,
        "paper_bgcolor": BACKGROUND,
        "plot_bgcolor": BACKGROUND,
        "font": FONT,
        "legend": {"title": {"text": "Status"}},
        "margin": {"l": 10, "r": 10, "t": 60, "b": 40},
        # Text that would be drawn smaller than this is hidden (legend, pattern and
        # hover still say the status) rather than shrunk out of legibility.
        "uniformtext": {"minsize": 9, "mode": "hide"},
    }


def _present(value: Any) -> bool:
    import pandas as pd

    return value is not None and not bool(pd.isna(value))


_DEPENDS = re.compile(r"\s*\((?:depends on|after|requires|blocked by)[^)]*\)", re.IGNORECASE)


def _short(description: str, width: int = 32) -> str:
    """A row label: the description without its dependency note, cut to ``width``."""
    text = _DEPENDS.sub("", description).strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def _counts_text(statuses: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{n} {style(s).label}" for s, n in counts.items())


# --- Gantt ----------------------------------------------------------------------------------


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

    Args:
        attempts: One row per attempt (``report.attempts``): id, attempt,
            status, start, end, duration, exit_code, error, phase, story.
        tasks: One row per task (``report.tasks``), for descriptions and order.
        group_by: ``phase`` or ``story``.
        title: The figure's title.
        figure: A figure (or ``FigureWidget``) to update in place instead of a new one.
        now: Where an attempt without an end (still running) stops (default: now).

    Returns:
        The figure: one bar trace per status, on a time axis.
    """
    import plotly.graph_objects as go

    desc = dict(zip(tasks["id"], tasks["description"].fillna(""), strict=True))
    order = {tid: i for i, tid in enumerate(tasks["id"])}
    import pandas as pd

    rows = attempts[attempts["start"].notna()].copy()
    if now is None:
        now = pd.Timestamp.now(tz="UTC")
    rows["end_shown"] = rows["end"].fillna(now)
    rows["group"] = rows[group_by].fillna("(none)").replace("", "(none)")
    rows["order"] = rows["id"].map(order).fillna(len(order))
    rows = rows.sort_values(["order", "attempt"])
    groups = list(dict.fromkeys(rows["group"]))
    rows["label"] = [f"{t} {_short(desc.get(t, ''))}".strip() for t in rows["id"]]
    # An invisible first trace fixes the rows' order (a category axis follows the
    # order in which categories first appear, trace by trace).
    firsts = rows.drop_duplicates("id")
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
    for status in STYLES:
        part = rows[rows["status"] == status]
        if part.empty:
            continue
        st = style(status)
        labels = list(part["label"])
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
            f"{st.label} #{a}" if a > 1 or status != "completed" else st.label
            for a in part["attempt"]
        ]
        traces.append(
            go.Bar(
                name=st.label,
                orientation="h",
                base=[s.isoformat() for s in part["start"]],
                x=millis,
                y=[list(part["group"]), labels],
                text=text,
                textposition="inside",
                insidetextanchor="start",
                textfont={"color": text_color(st.color)},
                hovertext=hover,
                hoverinfo="text",
                marker={
                    "color": st.color,
                    "line": {"color": "#1A1A1A", "width": 0.5},
                    "pattern": {
                        "shape": st.pattern,
                        "fgcolor": text_color(st.color),
                        "size": 6,
                        "solidity": 0.25,
                    },
                },
            )
        )
    n_tasks = rows["id"].nunique()
    span = (rows["end_shown"].max() - rows["start"].min()).total_seconds() if len(rows) else 0.0
    longest = ""
    if len(rows):
        seconds = [
            (e - s).total_seconds() for s, e in zip(rows["start"], rows["end_shown"], strict=True)
        ]
        i = max(range(len(seconds)), key=seconds.__getitem__)
        longest = f" Longest attempt: {rows['id'].iloc[i]} ({seconds[i]:.1f} s)."
    alt = (
        f"Timeline of {len(rows)} attempts of {n_tasks} tasks over {span:.1f} s, grouped by "
        f"{group_by} ({len(groups)} groups): {_counts_text(list(rows['status'])) or 'none'}."
        + longest
    )
    per_row = 24 if len(firsts) <= 150 else 14
    height = max(320, min(per_row * max(1, len(firsts)) + 140, 12000))
    layout = _layout(title, alt, height)
    layout.update(
        barmode="overlay",
        xaxis={"type": "date", "title": {"text": "time"}, "gridcolor": "#D9D9D9"},
        yaxis={"autorange": "reversed", "title": {"text": ""}, "automargin": True},
        bargap=0.25,
    )
    if figure is not None:
        with figure.batch_update():
            figure.data = ()
            for trace in traces:
                figure.add_trace(trace)
            figure.update_layout(**layout)
        return figure
    return go.Figure(data=traces, layout=layout)


# --- DAG ------------------------------------------------------------------------------------


def layout_positions(
    ids: Sequence[str], deps: Mapping[str, Sequence[str]]
) -> dict[str, tuple[float, float]]:
    """A layered layout: x is the depth, y orders each layer by its parents' places.

    Args:
        ids: The task IDs, in file order (the order within a layer with no parents).
        deps: Each task's prerequisites (IDs not in ``ids`` are ignored).

    Returns:
        Each task's (x, y): x its layer (0 for tasks with no prerequisites), y its
        place in the layer, centred on 0.
    """
    depth = layers(ids, deps)
    by_layer: dict[int, list[str]] = {}
    for tid in ids:
        by_layer.setdefault(depth[tid], []).append(tid)
    pos: dict[str, tuple[float, float]] = {}
    for level in sorted(by_layer):
        members = by_layer[level]
        if level:

            def barycenter(t: str) -> float:
                ys = [pos[d][1] for d in deps.get(t, ()) if d in pos]
                return sum(ys) / len(ys) if ys else 0.0

            members = sorted(members, key=barycenter)
        half = (len(members) - 1) / 2
        for i, tid in enumerate(members):
            pos[tid] = (float(level), i - half)
    return pos


def dag(
    tasks: pd.DataFrame,
    *,
    title: str = "Dependencies",
    critical: Sequence[str] | None = None,
) -> go.Figure:
    """The dependency graph in layers, nodes by status, the critical path highlighted.

    Args:
        tasks: One row per task with ``id``, ``status``, ``depends_on`` and
            optionally ``description``, ``duration`` and ``critical``.
        title: The figure's title.
        critical: The critical path (default: rows whose ``critical`` is true).

    Returns:
        The figure: an edge trace, a critical-path edge trace, one node trace per status.
    """
    import plotly.graph_objects as go

    ids = list(tasks["id"])
    deps = {
        t: [d for d in ds if d in set(ids)] for t, ds in zip(ids, tasks["depends_on"], strict=True)
    }
    if critical is None:
        critical = (
            [t for t, c in zip(ids, tasks["critical"], strict=True) if c]
            if "critical" in tasks
            else []
        )
    on_path = set(critical)
    path_edges = set(itertools.pairwise(critical))
    pos = layout_positions(ids, deps)
    big = len(ids) > 120
    edge_x: list[float | None] = []
    edge_y: list[float | None] = []
    crit_x: list[float | None] = []
    crit_y: list[float | None] = []
    for t in ids:
        for d in deps[t]:
            xs, ys = (crit_x, crit_y) if (d, t) in path_edges else (edge_x, edge_y)
            (x0, y0), (x1, y1) = pos[d], pos[t]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
    traces: list[Any] = [
        go.Scatter(
            x=edge_x,
            y=edge_y,
            mode="lines",
            name="dependency",
            line={"color": EDGE_COLOR, "width": 0.6 if big else 1.2},
            opacity=0.6 if big else 0.9,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=crit_x,
            y=crit_y,
            mode="lines",
            name="critical path",
            line={"color": CRITICAL_COLOR, "width": 3},
            hoverinfo="skip",
        ),
    ]
    desc = (
        dict(zip(ids, tasks["description"].fillna(""), strict=True))
        if "description" in tasks
        else {}
    )
    durations = dict(zip(ids, tasks["duration"], strict=True)) if "duration" in tasks else {}
    statuses = dict(zip(ids, tasks["status"], strict=True))
    for status in [*STYLES, *sorted(set(statuses.values()) - set(STYLES))]:
        members = [t for t in ids if statuses[t] == status]
        if not members:
            continue
        st = style(status)
        hover = []
        for t in members:
            dur = durations.get(t)
            timing = f"<br>duration: {dur:.2f} s" if isinstance(dur, float) and dur == dur else ""
            hover.append(
                f"<b>{html.escape(t)}</b> {html.escape(str(desc.get(t, ''))[:80])}<br>"
                f"status: {st.label}{timing}<br>depends on: {', '.join(deps[t]) or 'nothing'}"
                + ("<br>on the critical path" if t in on_path else "")
            )
        traces.append(
            go.Scatter(
                x=[pos[t][0] for t in members],
                y=[pos[t][1] for t in members],
                mode="markers" if big else "markers+text",
                name=st.label,
                text=members,
                textposition="bottom center",
                textfont={"size": 10, "color": FONT["color"]},
                hovertext=hover,
                hoverinfo="text",
                marker={
                    "symbol": st.symbol,
                    "color": st.color,
                    "size": 9 if big else 14,
                    "line": {
                        "color": CRITICAL_COLOR,
                        "width": [3 if t in on_path else 1 for t in members],
                    },
                },
            )
        )
    depth = max((p[0] for p in pos.values()), default=0)
    widest = max(
        (sum(1 for p in pos.values() if p[0] == x) for x in {p[0] for p in pos.values()}),
        default=1,
    )
    failed = [t for t in ids if statuses[t] in ("failed", "timed_out")]
    alt = (
        f"Dependency graph of {len(ids)} tasks in {int(depth) + 1} levels "
        f"({sum(len(v) for v in deps.values())} dependencies): "
        f"{_counts_text([statuses[t] for t in ids]) or 'none'}. Critical path: "
        f"{' → '.join(critical) if critical else 'none'}."
        + (f" Not completed because of failures: {', '.join(failed[:10])}." if failed else "")
    )
    layout = _layout(title, alt, max(360, min(int(widest * (14 if big else 30)) + 160, 6000)))
    layout.update(
        xaxis={"visible": False, "range": [-0.5, depth + 0.5]},
        yaxis={"visible": False},
        hovermode="closest",
        width=max(700, min(int((depth + 1) * (60 if big else 110)) + 200, 6000)),
    )
    return go.Figure(data=traces, layout=layout)


# --- progress -------------------------------------------------------------------------------

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


def progress(rollup: pd.DataFrame, *, by: str = "phase", title: str = "Progress") -> go.Figure:
    """Progress per phase or story as stacked horizontal bars.

    Args:
        rollup: :func:`taskexec_nb.report.rollup` output (group, done, total,
            percent and a column per status).
        by: The group column (``phase`` or ``story``).
        title: The figure's title.

    Returns:
        The figure: one bar trace per status, "done/total (percent)" at each bar's end.
    """
    import plotly.graph_objects as go

    groups = [str(g) for g in rollup[by]]
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
                textfont={"color": text_color(st.color)},
                hovertemplate="%{y}: %{x} " + st.label + "<extra></extra>",
                marker={
                    "color": st.color,
                    "line": {"color": "#1A1A1A", "width": 0.5},
                    "pattern": {"shape": st.pattern, "fgcolor": text_color(st.color), "size": 6},
                },
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
    layout = _layout(title, alt + ".", max(260, 40 * len(groups) + 140))
    layout.update(
        legend={"title": {"text": "Status"}, "traceorder": "normal"},
        barmode="stack",
        annotations=notes,
        xaxis={"title": {"text": "tasks"}, "range": [0, most * 1.25 + 1], "gridcolor": "#D9D9D9"},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    return go.Figure(data=traces, layout=layout)
