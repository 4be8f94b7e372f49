"""nbval set-up for the notebooks: JSON outputs are compared as sanitised text.

nbval compares each cell's new outputs with those stored in the notebook, after
the rules of ``nbval_sanitize.cfg`` have replaced what varies (times, run IDs,
paths, durations); but it applies those rules to text only, and compares a JSON
output (a plotly figure, ``application/vnd.plotly.v1+json``) as it is, so any
measured time in a figure would fail the check.

Here a plotly figure is compared by its outline: title, text alternative and,
per trace, its type, name, mode, number of points and text labels; those are what
a reader is shown, and the numbers of a measured run (bar lengths, which path was
critical) are left out. Any other JSON output is compared as its JSON text. Both
go through the sanitising rules.

A run's dashboard (``%run_tasks``: a widget with a static summary beside it) is
compared by its outline too: that it is a run's dashboard, its widget, and how many
tasks it follows. What it showed when the cell ended depends on how far the run had
got by then (and nbval, unlike JupyterLab and nbclient, never applies the updates it
sends later), so its counts are checked by the cells that await the run instead.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from nbval.plugin import IPyNbCell

_sanitize = IPyNbCell.sanitize
_compare_outputs = IPyNbCell.compare_outputs
WIDGET = "application/vnd.jupyter.widget-view+json"


def figure_outline(figure: dict[str, Any]) -> str:
    """The parts of a plotly figure's JSON that nbval compares.

    Args:
        figure: The figure (``{"data": [...], "layout": {...}}``).

    Returns:
        One line for the title, one for the text alternative, one per trace.
    """
    layout = figure.get("layout", {})
    title = layout.get("title", {})
    lines = [
        f"title: {title.get('text', '') if isinstance(title, dict) else title}",
        f"alt: {layout.get('meta', {}).get('alt', '')}",
    ]
    for trace in figure.get("data", []):
        points = len(trace.get("x") or trace.get("y") or [])
        text = trace.get("text")
        labels = ", ".join(map(str, text)) if isinstance(text, list) else str(text or "")
        lines.append(
            f"trace: {trace.get('type', '')} {trace.get('name', '')!r} "
            f"mode={trace.get('mode', '')} points={points} text=[{labels}]"
        )
    return "\n".join(lines)


def _sanitize_json(self: IPyNbCell, value: Any) -> Any:
    if isinstance(value, dict) and "data" in value and "layout" in value:
        value = figure_outline(value)
    elif isinstance(value, (dict, list)):
        value = json.dumps(value, sort_keys=True, indent=1)
    value = _sanitize(self, value)
    # Text tables pad their columns to the widest value, which the rules shorten or
    # lengthen: a run of spaces compares as one.
    return re.sub(" {2,}", " ", value) if isinstance(value, str) else value


IPyNbCell.sanitize = _sanitize_json


def dashboard_outline(output: Any) -> Any:
    """A run dashboard's output reduced to what does not depend on the run's progress.

    Args:
        output: One output of a cell (a notebook node); other outputs are returned as
            they are.

    Returns:
        The output, or for a dashboard a copy whose data is one line of text.
    """
    data = output.get("data", {}) if hasattr(output, "get") else {}
    page = data.get("text/html", "")
    if WIDGET not in data or "te-dashboard" not in page:
        return output
    total = re.search(r"<progress max='(\d+)'", page)
    outline = copy.deepcopy(output)
    outline["data"] = {
        "text/plain": f"run dashboard (widget) of {total.group(1) if total else '?'} tasks"
    }
    return outline


def _compare_dashboards(
    self: IPyNbCell, test: Any, ref: Any, skip_compare: Any = None
) -> bool:
    return bool(
        _compare_outputs(
            self,
            [dashboard_outline(o) for o in test],
            [dashboard_outline(o) for o in ref],
            skip_compare,
        )
    )


IPyNbCell.compare_outputs = _compare_dashboards
