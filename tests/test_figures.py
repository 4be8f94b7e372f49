"""Figures in a notebook: sizes of large plans, status shapes, text alternatives, outputs.

The figures are drawn from real plans (the largest file of the real corpus) and
shown by a real kernel (nbclient), as a notebook user sees them.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from conftest import corpus_files
from nbclient import NotebookClient

import taskexec_nb
from taskexec_nb.figures import MAX_WIDTH, STYLES, dag
from taskexec_nb.jupyter.figure import PLOTLY_MIME, Figure, figure_outputs, static_html


def largest_real_plan() -> taskexec_nb.ExecutionPlan:
    """The real corpus's file with the most tasks, planned (errors and all)."""
    files = corpus_files()
    if not files:
        pytest.skip("the real corpus is absent (set TASKEXEC_CORPUS)")
    plans = [taskexec_nb.load(f, strict=False) for f in files]
    return max(plans, key=len)


def legend_is_above(fig: go.Figure) -> bool:
    legend = fig.layout.legend
    return legend.orientation == "h" and legend.yanchor == "bottom" and legend.y > 1


def test_a_large_real_plans_dag_fits_a_notebook_with_phases_labelled() -> None:
    plan = largest_real_plan()
    assert len(plan) >= 150
    fig = plan.dag()
    assert fig.layout.width <= MAX_WIDTH == 1000  # was 4,520 px for a 150-task file
    assert legend_is_above(fig)  # not clipped at the right of a wide plot
    phases = list(dict.fromkeys(str(p) for p in plan.to_frame()["phase"]))
    labels = [a.text for a in fig.layout.annotations]
    assert len(labels) == len(phases)  # each phase's layers are labelled at the top
    assert [label.split()[0] for label in labels] == phases
    assert all(a.yref == "paper" and a.y == 1 for a in fig.layout.annotations)
    assert len(fig.layout.shapes) == (len(phases) + 1) // 2  # every other phase banded
    nodes = fig.data[2:]
    assert sum(len(t.x) for t in nodes) == len(plan)
    assert all(t.marker.size * (max(t.x) + 1) <= MAX_WIDTH for t in nodes)
    assert f"{len(plan)} tasks" in fig.layout.meta["alt"]


def test_a_large_real_plans_gantt_keeps_its_time_axis_and_legend_in_sight() -> None:
    plan = largest_real_plan()
    fig = plan.gantt()
    rows = len(plan.to_run)
    assert fig.layout.width is None  # the notebook's width (autosize)
    assert fig.layout.xaxis.side == "top"  # the axis is above the first rows
    assert fig.layout.xaxis2.side == "bottom" and fig.layout.xaxis2.matches == "x"
    assert fig.data[0].xaxis == "x2"  # an axis with a trace on it is drawn
    assert legend_is_above(fig)
    plot_height = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert plot_height / rows >= 12  # each row stays readable
    assert fig.layout.yaxis.tickfont.size == 10
    bars = [t for t in fig.data[1:] if t.type == "bar"]
    assert sum(len(t.x) for t in bars) == rows


def test_each_status_has_its_own_shape_and_words_not_only_a_colour() -> None:
    statuses = ["completed", "pending", "running", "failed", "skipped", "cancelled"]
    frame = {
        "id": [f"T{i:03d}" for i in range(len(statuses))],
        "status": statuses,
        "depends_on": [[] for _ in statuses],
        "description": statuses,
    }
    import pandas as pd

    fig = dag(pd.DataFrame(frame).set_index("id"))
    nodes = {t.name: t for t in fig.data[2:]}
    assert set(nodes) == {STYLES[s].label for s in statuses}
    symbols = [t.marker.symbol for t in nodes.values()]
    assert len(set(symbols)) == len(symbols)
    for status in statuses:
        assert list(nodes[STYLES[status].label].text) == [frame["id"][statuses.index(status)]]
    # In a Gantt, a pending (estimated) bar is hollow and a completed one solid: they differ
    # by fill, not only by colour; the other statuses by pattern.
    from taskexec_nb.figures.style import _bar_marker

    pending, completed = _bar_marker("pending"), _bar_marker("completed")
    assert pending["color"] == "#FFFFFF" and pending["line"]["width"] >= 2
    assert completed["color"] == STYLES["completed"].color
    patterns = {s: _bar_marker(s).get("pattern", {}).get("shape") for s in statuses}
    shapes = [(patterns[s], _bar_marker(s)["color"] == "#FFFFFF") for s in statuses]
    assert len(set(shapes)) == len(shapes)


def test_a_figure_brings_its_text_alternative_and_a_static_fallback(tmp_path: Path) -> None:
    plan = taskexec_nb.load(Path(__file__).parent / "fixtures" / "diamond.md")
    fig = plan.dag()
    assert isinstance(fig, Figure) and isinstance(fig, go.Figure)
    alt = fig.layout.meta["alt"]
    plot, caption = figure_outputs(fig)
    assert set(plot) == {PLOTLY_MIME, "text/html", "text/plain"}
    assert plot[PLOTLY_MIME]["layout"]["meta"]["alt"] == alt
    assert plot[PLOTLY_MIME]["config"]["displaylogo"] is False
    assert f'role="figure" aria-label="{alt}"' in plot["text/html"].replace("&gt;", ">")
    assert "<noscript>" in plot["text/html"]
    assert alt in plot["text/plain"]
    assert alt.replace("→", "&#8594;") in caption["text/html"] or alt in caption["text/html"]
    assert caption["text/plain"] == alt
    assert static_html(fig).startswith('<div class="taskexec-figure" role="figure"')


def test_figures_executed_in_a_notebook_keep_the_caption_and_fallback(tmp_path: Path) -> None:
    """nbclient runs a real kernel: each figure leaves its plot, a fallback and its caption."""
    fixture = Path(__file__).parent / "fixtures" / "diamond.md"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f"import taskexec_nb\nplan = taskexec_nb.load({str(fixture)!r})"),
        nbformat.v4.new_code_cell("plan.dag()"),
        nbformat.v4.new_code_cell("plan.gantt()"),
    ]
    again = nbformat.from_dict(copy.deepcopy(nb))
    for book in (nb, again):
        client = NotebookClient(book, timeout=120, kernel_name="python3")
        client.execute()
    # Run again, the same outputs (no random IDs): nbval and papermill can compare them.
    assert [c.outputs for c in again.cells] == [c.outputs for c in nb.cells]
    for cell in nb.cells[1:]:
        outputs = cell.outputs
        assert [o.output_type for o in outputs] == ["display_data", "display_data"]
        plot, caption = outputs
        assert {PLOTLY_MIME, "text/html", "text/plain"} <= set(plot.data)
        assert 'role="figure" aria-label="' in plot.data["text/html"]
        alt = plot.data[PLOTLY_MIME]["layout"]["meta"]["alt"]
        assert caption.data["text/plain"] == alt
        assert "taskexec-figure-caption" in caption.data["text/html"]


def test_a_figure_without_a_text_alternative_is_named_by_its_title() -> None:
    titled = Figure(layout={"title": {"text": "Some plot"}})
    plot, caption = figure_outputs(titled)
    assert plot["text/plain"] == caption["text/plain"] == "Some plot"
    assert 'aria-label="Some plot"' in plot["text/html"]
    bare, _ = figure_outputs(go.Figure())
    assert bare["text/plain"] == "figure"


def test_an_unnumbered_or_untitled_phase_is_named_as_its_heading() -> None:
    import pandas as pd

    from taskexec_nb.figures import progress

    rollup = pd.DataFrame(
        {
            "phase": ["1", "Polish"],
            "phase_title": [None, "Polish"],
            "done": [1, 0],
            "total": [1, 1],
            "percent": [100.0, 0.0],
            "completed": [1, 0],
            "pending": [0, 1],
        }
    )
    fig = progress(rollup)
    assert list(fig.data[0].y) == ["Phase 1", "Polish"]


def test_progress_tells_pending_from_completed_by_fill_and_keeps_its_words_readable() -> None:
    import pandas as pd

    from taskexec_nb.figures import FONT, contrast, progress

    rollup = pd.DataFrame(
        {
            "phase": ["1"],
            "phase_title": ["Setup"],
            "done": [1],
            "total": [3],
            "percent": [33.3],
            "completed": [1],
            "pending": [2],
        }
    )
    bars = {t.name: t for t in progress(rollup).data}
    assert bars["pending"].marker.color == "#FFFFFF"  # hollow: a shape of its own
    assert bars["completed"].marker.color == STYLES["completed"].color
    assert list(bars["pending"].text) == ["2 pending"]
    assert contrast(bars["pending"].textfont.color, "#FFFFFF") >= 4.5  # not white on white
    assert bars["pending"].textfont.color == FONT["color"]


def test_plan_figures_redraw_a_figure_widget_in_place() -> None:
    plan = taskexec_nb.load(Path(__file__).parent / "fixtures" / "diamond.md")
    widget = go.FigureWidget()
    assert plan.gantt(figure=widget) is widget
    assert widget.layout.xaxis.tickformat == "%H:%M:%S"
    assert widget.layout.meta["alt"].startswith("Estimated timeline of 4 pending tasks")
    assert plan.dag(figure=widget) is widget  # the same widget, now the graph
    assert sorted(t for trace in widget.data[2:] for t in trace.text) == [
        "T001",
        "T002",
        "T003",
        "T004",
    ]
    assert widget.layout.xaxis.type is None  # no date axis left over from the Gantt
    assert widget.layout.xaxis.visible is False
