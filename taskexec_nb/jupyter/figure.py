"""A figure in a notebook: the plot under an accessible name, its caption, a static fallback.

The figures of :mod:`taskexec_nb.figures` are :class:`Figure` objects, plotly
figures that display in IPython as two outputs:

* the plot: ``application/vnd.plotly.v1+json`` (JupyterLab draws it, interactive),
  ``text/html`` for viewers without plotly's renderer (nbviewer, an HTML export;
  the plot's container carries ``role="figure"`` and an ``aria-label`` with the
  text alternative, and plotly.js comes from its CDN) and ``text/plain`` (the
  text alternative, what a terminal or GitHub's viewer shows when scripts are
  stripped);
* the caption: the text alternative as a visible paragraph beside the plot.

Executed notebooks (nbclient, papermill) keep both outputs, so the text travels
with the notebook. Everything else is plotly's ``go.Figure``: ``fig.show()``,
``write_html`` and ``go.FigureWidget(fig)`` work as usual.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

PLOTLY_MIME = "application/vnd.plotly.v1+json"
CONFIG = {"displaylogo": False, "responsive": True}
_SHOWN = itertools.count(1)  # figures shown by this process, for their div IDs


class Figure(go.Figure):  # type: ignore[misc]
    """A plotly figure that shows its text alternative with it in a notebook."""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        plot, caption = figure_outputs(self)
        display(plot, raw=True)  # type: ignore[no-untyped-call]
        display(caption, raw=True)  # type: ignore[no-untyped-call]


def alt_of(fig: go.Figure) -> str:
    """The figure's text alternative: ``layout.meta["alt"]``, else its title.

    Args:
        fig: A plotly figure.

    Returns:
        The text, or ``figure`` when it has neither.
    """
    meta = fig.layout.meta
    if isinstance(meta, Mapping) and meta.get("alt"):
        return str(meta["alt"])
    return str(fig.layout.title.text or "figure")


def figure_outputs(fig: go.Figure) -> tuple[dict[str, Any], dict[str, str]]:
    """The two outputs a notebook shows for ``fig``: the plot's bundle and its caption.

    Args:
        fig: A plotly figure (any, not only a :class:`Figure`).

    Returns:
        ``(plot, caption)``, each a MIME bundle (MIME type -> data).
    """
    alt = alt_of(fig)
    title = str(fig.layout.title.text or "")
    spec = json.loads(pio.to_json(fig, validate=False))
    plot = {
        PLOTLY_MIME: {
            "data": spec.get("data", []),
            "layout": spec.get("layout", {}),
            "config": CONFIG,
        },
        "text/html": static_html(fig, alt),
        "text/plain": f"{title}: {alt}" if title and not alt.startswith(title) else alt,
    }
    caption = {
        "text/html": (
            '<p class="taskexec-figure-caption" role="note">'
            f"<strong>{html.escape(title or 'Figure')}.</strong> {html.escape(alt)}</p>"
            + _LABEL_SCRIPT.replace("__ALT__", json.dumps(alt).replace("</", "<\\/"))
        ),
        "text/plain": alt,
    }
    return plot, caption


# JupyterLab draws the plot with plotly's own renderer, whose container has no name;
# the caption's script (run where outputs are trusted: a notebook executed in this
# session) names the plot output just before it. Viewers that run no script show
# the caption, which carries the same text.
_LABEL_SCRIPT = (
    "<script>(function (s) {"
    " var child = s && s.closest ? s.closest('.jp-OutputArea-child') : null;"
    " var prev = child ? child.previousElementSibling : null;"
    " var out = prev ? prev.querySelector('.jp-OutputArea-output') : null;"
    " if (out) { out.setAttribute('role', 'figure'); out.setAttribute('aria-label', __ALT__); }"
    "})(document.currentScript);</script>"
)


def static_html(fig: go.Figure, alt: str | None = None) -> str:
    """The figure as HTML for viewers without plotly's renderer, under an accessible name.

    Args:
        fig: A plotly figure.
        alt: Its text alternative (default: :func:`alt_of`).

    Returns:
        A ``div`` with ``role="figure"`` and ``aria-label`` holding the plot (plotly.js
        from its CDN) and, for a viewer that runs no script, the text in a ``noscript``.
    """
    alt = alt_of(fig) if alt is None else alt
    # A div ID from the figure and the order of display, not a random one: a notebook
    # run again (nbval, papermill) gives the same output.
    digest = hashlib.sha1(pio.to_json(fig, validate=False).encode()).hexdigest()[:12]
    div_id = f"taskexec-figure-{next(_SHOWN)}-{digest}"
    inner = fig.to_html(full_html=False, include_plotlyjs="cdn", config=CONFIG, div_id=div_id)
    return (
        f'<div class="taskexec-figure" role="figure" aria-label="{html.escape(alt)}">'
        f"{inner}<noscript><p>{html.escape(alt)}</p></noscript></div>"
    )
