"""The live Gantt and DAG of a running run: :mod:`taskexec_nb.figures` drawn from the live model.

The frames come from a :class:`~taskexec_nb.run.rows.RunSnapshot` through
:class:`~taskexec_nb.run.live.RunModel`'s frame methods; the figures are those of
the reports (:func:`taskexec_nb.figures.gantt`, :func:`taskexec_nb.figures.dag`),
written into a ``FigureWidget`` in place. Imports pandas and plotly: load it only
when a figure is wanted.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from taskexec_nb import figures
from taskexec_nb.run.live import RunModel
from taskexec_nb.run.rows import RunSnapshot

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go


def frames(model: RunModel, snapshot: RunSnapshot) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The frames :func:`taskexec_nb.figures.gantt` takes, from one snapshot of the model.

    Args:
        model: The run's live model.
        snapshot: One snapshot of it (the two frames describe the same moment).

    Returns:
        ``(attempts, tasks)``: one row per attempt with ``id``, ``attempt``,
        ``status``, times, ``exit_code``, ``error``, ``phase`` and ``story``; one row
        per task with ``id``, ``description``, ``status``, ``duration``, ``phase``, ``story``.
    """
    tasks = model.tasks_frame(snapshot).reset_index().rename(columns={"title": "description"})
    return model.attempts_frame(snapshot).reset_index(), tasks


def gantt(
    model: RunModel, snapshot: RunSnapshot, figure: go.Figure | None = None, title: str = ""
) -> go.Figure:
    """The run's timeline so far (a bar per attempt; running ones end now).

    Args:
        model: The run's live model.
        snapshot: The moment to draw.
        figure: A figure (or ``FigureWidget``) to update in place.
        title: The figure's title.

    Returns:
        The figure.
    """
    attempts, tasks = frames(model, snapshot)
    return figures.gantt(attempts, tasks, title=title or "Timeline", figure=figure)


def dag(
    snapshot: RunSnapshot,
    deps: Mapping[str, Sequence[str]],
    figure: go.Figure | None = None,
    title: str = "",
) -> go.Figure:
    """The run's dependency graph with each task's status now.

    Args:
        snapshot: The moment to draw.
        deps: Each task's prerequisites among the run's tasks.
        figure: A figure (or ``FigureWidget``) to update in place.
        title: The figure's title.

    Returns:
        The figure.
    """
    import pandas as pd

    rows = snapshot.tasks
    frame = pd.DataFrame(
        {
            "id": [r.id for r in rows],
            "status": [r.status for r in rows],
            "depends_on": [list(deps.get(r.id, ())) for r in rows],
            "description": [r.title or "" for r in rows],
            "duration": [r.duration if r.duration is not None else float("nan") for r in rows],
        }
    )
    fig = figures.dag(frame, title=title or "Dependencies")
    return refill(figure, fig) if figure is not None else fig


def refill(target: go.Figure, source: go.Figure) -> go.Figure:
    """Make ``target`` show ``source``, in place (one message to a ``FigureWidget``).

    Args:
        target: The figure to update.
        source: The figure to show.

    Returns:
        ``target``.
    """
    layout: dict[str, Any] = source.layout.to_plotly_json()
    with target.batch_update():
        target.data = ()
        target.add_traces(list(source.data))
        target.update_layout(**layout)
    return target


# The label's front end: it names the panel around it (caption + plot) as a figure.
# ``role="figure"`` keeps the plot's own controls reachable (``role="img"`` would hide
# them); the panel is found by its class once the label is on the page.
_LABEL_ESM = """
function render({ model, el }) {
  el.style.display = "none";
  const apply = () => {
    const panel = el.closest(".te-figure-panel");
    if (!panel) { return false; }
    panel.setAttribute("role", "figure");
    panel.setAttribute("aria-label", model.get("label"));
    return true;
  };
  let tries = 0;
  const retry = () => { if (!apply() && tries++ < 100) { setTimeout(retry, 50); } };
  retry();
  model.on("change:label", apply);
}
export default { render };
"""


@functools.cache
def _label_class() -> type[Any]:
    import anywidget
    import traitlets

    class FigureLabel(anywidget.AnyWidget):
        """Gives the figure panel it sits in an accessible name (``aria-label``)."""

        _esm = _LABEL_ESM
        label = traitlets.Unicode("").tag(sync=True)

    return FigureLabel


def figure_label(label: str = "") -> Any:
    """An invisible widget that names the ``.te-figure-panel`` it is put in.

    ipywidgets cannot set ``aria-label`` on a plot's element; this widget's front
    end sets ``role="figure"`` and ``aria-label`` on its panel (the plot and its
    caption), so a screen reader names the live figure by its text alternative.

    Args:
        label: The accessible name (a figure's text alternative).

    Returns:
        The widget (set its ``label`` to rename the panel).
    """
    return _label_class()(label=label)
