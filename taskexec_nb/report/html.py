"""A run's report as one self-contained HTML page (summary, figures, tables), working offline."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from taskexec_nb.report.cells import _missing, _shown
from taskexec_nb.report.summary import _counts_text

if TYPE_CHECKING:
    import pandas as pd

    from taskexec_nb.report.tables import ExecutionReport


def html_page(rep: ExecutionReport) -> str:
    """A self-contained HTML report (summary, tables, Gantt, DAG), working offline.

    Args:
        rep: The report.

    Returns:
        The page.
    """
    from taskexec_nb.figures import alt_text, to_html_fragment

    s = rep.summary
    figures = [rep.progress_figure("phase"), rep.gantt(), rep.dag()]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>taskexec run {html.escape(rep.run_id)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Run {html.escape(rep.run_id)}: {html.escape(str(s['status']))}</h1>",
        summary_html(s),
    ]
    for i, fig in enumerate(figures):
        parts.append(
            f'<figure aria-labelledby="figure-{i}">'
            + to_html_fragment(fig, include_plotlyjs=i == 0)
            + f'<figcaption id="figure-{i}">{html.escape(alt_text(fig))}</figcaption>'
            "</figure>"
        )
    errors = rep.errors
    if len(errors):
        parts.append("<h2>Problems</h2>")
        parts.append(_table_html(_shown(errors), "Tasks that did not complete"))
    parts.append("<h2>Tasks</h2>")
    shown = _shown(rep.tasks).drop(columns=["stderr_tail"])
    parts.append(_table_html(shown, "Every task of the run"))
    parts.append("</main></body></html>")

    return "\n".join(parts)


_CSS = (
    "body{font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;margin:2rem}"
    "table{border-collapse:collapse;font-size:.9rem}th,td{border:1px solid #767676;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f0f0f0}"
    "caption{font-weight:bold;text-align:left;padding:.5rem 0}figure{margin:1rem 0}"
    "figcaption{font-size:.9rem;color:#333}dl{display:grid;grid-template-columns:max-content auto;"
    "gap:.25rem 1rem}dt{font-weight:bold}"
)


def summary_html(s: Mapping[str, Any]) -> str:
    """A report's summary as an HTML definition list.

    Args:
        s: :attr:`ExecutionReport.summary`.

    Returns:
        The HTML fragment.
    """
    counts = _counts_text(s)
    items = [
        ("Status", s["status"]),
        ("File", s["tasks_file"]),
        ("Started", s["started"]),
        ("Finished", s["finished"]),
        ("Tasks", f"{s['total']}: {counts}"),
        ("Success rate", f"{s['success_rate']:.0%}"),
        ("Wall time", f"{s['wall_time']:.1f} s"),
        ("Task time", f"{s['task_time']:.1f} s"),
        ("Parallelism", f"{s['parallelism']:.2f}"),
        (
            "Critical path",
            f"{' → '.join(s['critical_path']) or 'none'} ({s['critical_path_time']:.1f} s)",
        ),
        ("Slowest", ", ".join(f"{x['id']} {x['duration']:.1f} s" for x in s["slowest"]) or "-"),
    ]
    rows = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in items)
    return f'<section aria-label="Summary"><dl>{rows}</dl></section>'


def _table_html(frame: pd.DataFrame, caption: str) -> str:
    head = "".join(f'<th scope="col">{html.escape(str(c))}</th>' for c in frame.columns)
    body = []
    for rec in frame.itertuples(index=False):
        cells = "".join(f"<td>{html.escape('' if _missing(v) else str(v))}</td>" for v in rec)
        body.append(f"<tr>{cells}</tr>")
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )
