"""The dependency graph of a plan or a run, in layers, by status, the critical path in bold."""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskexec_nb.figures.style import (
    CRITICAL_COLOR,
    EDGE_COLOR,
    FONT,
    MAX_HEIGHT,
    MAX_WIDTH,
    STYLES,
    _counts_text,
    _finish,
    _layout,
    _legend_above,
    _present,
    _short,
    _with_ids,
    style,
)
from taskexec_nb.graph import layers

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


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
                """Where a task sits in its layer: the mean height of its prerequisites.

                Args:
                    t: A task ID of this layer.

                Returns:
                    The mean y of its prerequisites already placed (in earlier
                    layers), or 0.0 when none is.
                """
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
    figure: go.Figure | None = None,
) -> go.Figure:
    """The dependency graph in layers, nodes by status, the critical path highlighted.

    At most :data:`MAX_WIDTH` px wide whatever the depth; with a ``phase`` column
    each phase's layers are banded and labelled at the top, and the legend is
    above the plot.

    Args:
        tasks: One row per task (indexed by task ID or with an ``id`` column) with
            ``status``, ``depends_on`` and optionally ``description``, ``duration``,
            ``critical``, ``phase`` and ``phase_title``.
        title: The figure's title.
        critical: The critical path (default: rows whose ``critical`` is true).
        figure: A figure (or ``FigureWidget``) to update in place instead of a new one.

    Returns:
        The figure: an edge trace, a critical-path edge trace, one node trace per status.
    """
    import plotly.graph_objects as go

    tasks = _with_ids(tasks)
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
    levels = int(max((p[0] for p in pos.values()), default=0)) + 1
    # Labels and full-size nodes while each layer has room for them in MAX_WIDTH.
    big = len(ids) > 120 or levels > 20
    node_size = max(4, min(9 if big else 14, (MAX_WIDTH - 100) // levels))
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
                    "size": node_size,
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
    height = max(360, min(int(widest * (14 if big else 30)) + 200, MAX_HEIGHT))
    layout = _layout(title, alt, height)
    layout["margin"] = {"l": 10, "r": 10, "t": 130, "b": 20}
    layout["legend"] = _legend_above(height - 150, 30)
    layout.update(
        xaxis={"visible": False, "range": [-0.5, depth + 0.5]},
        yaxis={"visible": False},
        hovermode="closest",
        width=min(MAX_WIDTH, max(600, int((depth + 1) * (60 if big else 110)) + 200)),
    )
    if "phase" in tasks:
        px_per_layer = (layout["width"] - 20) / (depth + 1)
        layout["shapes"], layout["annotations"] = _phase_bands(tasks, pos, px_per_layer)
    return _finish(figure, traces, layout)


def _phase_bands(
    tasks: pd.DataFrame, pos: Mapping[str, tuple[float, float]], px_per_layer: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A shaded band over each phase's layers (every other one), labelled at its left.

    The label is the phase's number and as much of its title as the band has room
    for (about 6 px a character); the whole title is its hover text.
    """
    titles = (
        dict(zip(tasks["phase"].astype(str), tasks["phase_title"], strict=True))
        if "phase_title" in tasks
        else {}
    )
    spans: dict[str, list[float]] = {}
    for tid, phase in zip(tasks["id"], tasks["phase"], strict=True):
        if _present(phase) and str(phase):
            spans.setdefault(str(phase), []).append(pos[tid][0])
    shapes, notes = [], []
    for i, (phase, xs) in enumerate(spans.items()):
        lo, hi = min(xs) - 0.4, max(xs) + 0.4
        if i % 2 == 0:
            shapes.append(
                {
                    "type": "rect",
                    "xref": "x",
                    "yref": "paper",
                    "x0": lo,
                    "x1": hi,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": "#F0F0F0",
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
        title = titles.get(phase)
        room = int((hi - lo) * px_per_layer / 6) - len(phase) - 1
        label = phase
        if title and title != phase and room >= 4:
            label = f"{phase} {_short(str(title), room)}"
        notes.append(
            {
                "x": lo,
                "xanchor": "left",
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "yanchor": "bottom",
                "text": html.escape(label),
                "hovertext": html.escape(f"Phase {phase}: {title}" if title else phase),
                "showarrow": False,
                "font": {"size": 10, "color": FONT["color"]},
            }
        )
    return shapes, notes
