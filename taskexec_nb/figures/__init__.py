"""Plotly figures of plans and runs: a Gantt timeline, a dependency graph, progress bars.

Status is shown by colour AND by text (labels, legend) AND by pattern or
marker shape, so no figure relies on colour alone. The colours come from the
Okabe-Ito colour-blind-safe palette, each at least 3:1 against the white
background (WCAG 2.1 non-text contrast); text drawn on a colour is black or
white, whichever reaches 4.5:1. Every figure has a title and a text
alternative in ``fig.layout.meta["alt"]`` (see :func:`alt_text`).

The figures are :class:`taskexec_nb.jupyter.figure.Figure` objects (plotly
figures) that show their text alternative as a caption in a notebook, and take
``figure=`` (a ``FigureWidget``) to redraw one in place. The palette and the
shared layout are in :mod:`.style`; each kind of figure has its module.
"""

from taskexec_nb.figures.dag import dag, layout_positions
from taskexec_nb.figures.gantt import gantt
from taskexec_nb.figures.progress import progress
from taskexec_nb.figures.style import (
    BACKGROUND,
    CRITICAL_COLOR,
    EDGE_COLOR,
    FONT,
    MAX_HEIGHT,
    MAX_WIDTH,
    STYLES,
    StatusStyle,
    alt_text,
    contrast,
    luminance,
    style,
    text_color,
    to_html_fragment,
)

__all__ = [
    "BACKGROUND",
    "CRITICAL_COLOR",
    "EDGE_COLOR",
    "FONT",
    "MAX_HEIGHT",
    "MAX_WIDTH",
    "STYLES",
    "StatusStyle",
    "alt_text",
    "contrast",
    "dag",
    "gantt",
    "layout_positions",
    "luminance",
    "progress",
    "style",
    "text_color",
    "to_html_fragment",
]
