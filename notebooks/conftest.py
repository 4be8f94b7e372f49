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
"""

from __future__ import annotations

import json
from typing import Any

from nbval.plugin import IPyNbCell

_sanitize = IPyNbCell.sanitize


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
    return _sanitize(self, value)


IPyNbCell.sanitize = _sanitize_json
