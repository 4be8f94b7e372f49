"""How the figures draw statuses: the palette, contrast, text alternatives, shared layout.

Status is shown by colour AND by text (labels, legend) AND by pattern or
marker shape, so no figure relies on colour alone. The colours come from the
Okabe-Ito colour-blind-safe palette, each at least 3:1 against the white
background (WCAG 2.1 non-text contrast); text drawn on a colour is black or
white, whichever reaches 4.5:1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
MAX_WIDTH = 1000  # a notebook's output area, about; no figure is set wider
MAX_HEIGHT = 2400
LONG = 30  # rows from which a Gantt repeats its time axis under the rows
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
        # The title at the top of the figure, the legend under it: never on each other.
        "title": {
            "text": title,
            "x": 0.01,
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 34},  # under the modebar of a narrow figure
        },
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


def _legend_above(plot_height: int, gap: int) -> dict[str, Any]:
    """A horizontal legend ``gap`` px above the plot area (over a top axis), never clipped."""
    return {
        "title": {"text": "Status"},
        "orientation": "h",
        "x": 0,
        "xanchor": "left",
        "y": 1 + gap / max(plot_height, 1),
        "yanchor": "bottom",
    }


def _finish(figure: go.Figure | None, traces: list[Any], layout: dict[str, Any]) -> go.Figure:
    """``figure`` redrawn in place (e.g. a ``FigureWidget``), else a new figure."""
    if figure is not None:
        with figure.batch_update():
            figure.data = ()
            for trace in traces:
                figure.add_trace(trace)
            figure.layout = layout  # the whole layout: nothing left of what it drew before
        return figure
    from taskexec_nb.jupyter.figure import Figure

    return Figure(data=traces, layout=layout)


def _with_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with its task IDs as an ``id`` column and its text as ``description``.

    The tables are indexed by task ID; a live run model's attempts name it in
    ``task_id`` and its tasks' text is ``title``.
    """
    if "id" not in frame.columns:
        frame = (
            frame.rename(columns={"task_id": "id"})
            if "task_id" in frame.columns
            else frame.rename_axis("id").reset_index()
        )
    if "description" not in frame.columns and "title" in frame.columns:
        frame = frame.rename(columns={"title": "description"})
    return frame


def _phase_label(number: str, title: object) -> str:
    """``Phase 2: Branches`` from a phase's number and title (an unnumbered one's title)."""
    if not _present(title) or not str(title):
        return f"Phase {number}"
    return str(title) if str(title) == number else f"Phase {number}: {title}"


def _bar_marker(status: str) -> dict[str, Any]:
    """A bar's look: colour, outline and pattern; a pending bar is hollow (its own shape)."""
    st = style(status)
    if status == "pending":
        return {"color": BACKGROUND, "line": {"color": st.color, "width": 2}}
    return {
        "color": st.color,
        "line": {"color": "#1A1A1A", "width": 0.5},
        "pattern": {
            "shape": st.pattern,
            "fgcolor": text_color(st.color),
            "size": 6,
            "solidity": 0.25,
        },
    }


def _bar_text_color(status: str) -> str:
    """Text on a bar: black or white on its colour; the page's on a hollow (pending) bar."""
    return FONT["color"] if status == "pending" else text_color(style(status).color)
