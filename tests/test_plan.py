"""Dependency inference by mode, waves, critical path, the tracker and the plan's views."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest

import taskexec_nb
from taskexec_nb import DependencyMode, Severity, UsageError
from taskexec_nb.deps import id_key
from taskexec_nb.graph import find_cycles, parse_mode


def test_template_mode_follows_phases_order_and_parallel_runs(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "diamond.md")
    assert plan.mode is DependencyMode.TEMPLATE
    assert plan.depends_on("T001") == ()
    assert plan.depends_on("T002") == ("T001",)
    assert plan.depends_on("T003") == ("T001",)
    assert set(plan.depends_on("T004")) == {"T002", "T003"}
    assert plan.waves == [["T001"], ["T002", "T003"], ["T004"]]
    assert plan.critical_path() == ["T001", "T002", "T004"]  # ties go to file order
    assert plan.critical_path({"T003": 5}) == ["T001", "T003", "T004"]
    assert plan.topological_order() == ["T001", "T002", "T003", "T004"]
    assert plan.why("T002", "T001") == "file order in Phase 2: Branches"
    assert plan.why("T004", "T002") == "declared at line 23"
    assert plan.dependents("T001") == ("T002", "T003")


def test_same_file_parallel_tasks_are_serialized(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "same_file_parallel.md")
    assert plan.depends_on("T002") == ("T001",)
    assert plan.depends_on("T003") == ()
    assert plan.waves == [["T001", "T003"], ["T002"]]
    assert [d.code for d in plan.diagnostics if d.code == "TX104"] == ["TX104"]


def test_stories_mode_runs_story_phases_side_by_side(fixtures: Path) -> None:
    template = taskexec_nb.load(fixtures / "stories.md")
    assert template.depends_on("T005") == ("T004",)
    stories = taskexec_nb.load(fixtures / "stories.md", mode="stories")
    assert stories.depends_on("T003") == ("T002",)
    assert stories.depends_on("T004") == ("T003",)
    assert stories.depends_on("T005") == ("T002",)  # not after US1
    assert set(stories.depends_on("T006")) == {"T004", "T005"}  # Polish waits for both
    assert stories.waves == [["T001"], ["T002"], ["T003", "T005"], ["T004"], ["T006"]]


def test_explicit_mode_uses_only_declared_edges(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "stories.md", mode="explicit")
    assert all(plan.depends_on(t.id) == () for t in plan.tasks)
    assert plan.waves == [["T001", "T002", "T003", "T004", "T005", "T006"]]
    explicit = taskexec_nb.load(fixtures / "diamond.md", mode=DependencyMode.EXPLICIT)
    assert explicit.depends_on("T002") == ()
    assert explicit.depends_on("T004") == ("T002", "T003")


def test_explicit_edges_add_to_inferred_ones(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "dependency_section.md")
    # all seven are [P] in one phase, so only the statements order them
    assert plan.depends_on("T005") == ("T003", "T004")
    assert plan.why("T005", "T003") == "dependency statement at line 16"
    assert plan.waves == [["T001", "T004"], ["T002", "T003"], ["T005"], ["T006"], ["T007"]]


def test_done_and_cancelled_tasks_do_not_run_or_block(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "cancelled.md")
    assert plan.to_run == ("T003",)
    assert plan.waves == [["T003"]]
    tracker = plan.tracker()
    assert tracker.get_ready() == ("T003",)
    done = taskexec_nb.load(fixtures / "bold_and_odd_ids.md")
    assert "T002" not in done.to_run and "T011.5" not in done.to_run


def test_tracker_protocol_and_failure_skips_dependents(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "diamond.md")
    tr = plan.tracker()
    assert tr.is_active()
    assert tr.get_ready() == ("T001",)
    assert tr.get_ready() == ()
    assert tr.done("T001") == []
    assert tr.get_ready() == ("T002", "T003")
    assert tr.done("T002", ok=False) == ["T004"]
    assert tr.skipped == {"T004": "T002"}
    assert tr.done("T003") == []
    assert tr.get_ready() == ()
    assert not tr.is_active()
    with pytest.raises(UsageError, match="T003 is not running"):
        tr.done("T003")


def test_tracker_on_a_selection(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "diamond.md")
    tr = plan.tracker(only=["T002", "T004"])
    assert tr.get_ready() == ("T002",)  # T001 is outside the selection
    tr.done("T002")
    assert tr.get_ready() == ("T004",)
    with pytest.raises(UsageError, match="no task 'T999'"):
        plan.tracker(only=["T999"])


def test_to_frame_has_one_row_per_task(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "diamond.md")
    frame = plan.to_frame()
    assert frame.index.name == "id"
    assert list(frame.index) == ["T001", "T002", "T003", "T004"]
    for column in (
        "phase",
        "phase_title",
        "story",
        "parallel",
        "status",
        "depends_on",
        "files",
        "action",
        "line",
    ):
        assert column in frame.columns
    row = frame.loc["T004"]
    assert sorted(row["depends_on"]) == ["T002", "T003"]
    assert row["explicit_deps"] == ["T002", "T003"]
    assert (row["action"], row["line"], row["phase"], row["status"]) == (
        "command",
        23,
        "3",
        "pending",
    )
    assert list(frame["wave"]) == [0, 1, 1, 2]
    assert frame.loc["T002", "files"] == ["src/left.py"]


def test_reprs_and_json(fixtures: Path) -> None:
    plan = taskexec_nb.load(fixtures / "diamond.md")
    text = repr(plan)
    assert "4 tasks in 3 phase(s)" in text and "wave 1: T002, T003" in text
    html = plan._repr_html_()
    assert html.startswith('<div class="taskexec-plan">') and "<table" in html
    assert "T002, T003" in html  # depends_on of T004 rendered as text
    doc = plan.to_dict()
    t4 = doc["tasks"][3]
    assert (t4["id"], t4["explicit_deps"], t4["params"]) == (
        "T004",
        ["T002", "T003"],
        {"timeout": 5.0},
    )
    assert doc["critical_path"] == ["T001", "T002", "T004"]
    assert len(plan) == 4 and "T001" in plan and next(t.id for t in plan) == "T001"
    with pytest.raises(UsageError, match="no task 'T404'"):
        plan["T404"]


def test_html_escapes_task_text() -> None:
    plan = taskexec_nb.loads("## Phase 1: X\n- [ ] T001 Render <script>alert(1)</script>\n")
    assert "<script>" not in plan._repr_html_()


def test_modes_and_id_order() -> None:
    assert parse_mode("Stories") is DependencyMode.STORIES
    with pytest.raises(UsageError, match="choose one of: template, stories, explicit"):
        parse_mode("random")
    ids = ["T012", "T011.5", "T011", "T-C001", "T007a", "T007"]
    assert sorted(ids, key=id_key) == ["T007", "T007a", "T011", "T011.5", "T012", "T-C001"]


def test_find_cycles_reports_each_cycle_once_in_run_order() -> None:
    deps = {"A": ["C"], "B": ["A"], "C": ["B"], "D": ["D"], "E": []}
    cycles = find_cycles(deps, ["A", "B", "C", "D", "E"])
    # A waits for C, B waits for A, C waits for B: A runs before B runs before C runs before A
    assert cycles == [["A", "B", "C", "A"], ["D", "D"]]
    # Cycles come in the order given (file order), whatever the order of deps.
    reordered = find_cycles(dict(reversed(deps.items())), ["D", "E", "A", "B", "C"])
    assert reordered == [["D", "D"], ["A", "B", "C", "A"]]


def test_a_stated_edge_against_file_order_is_no_cycle_and_why_says_which_wins() -> None:
    # Before, file order (T002 after T001) and T001's stated dependency made a cycle and
    # the file was refused; the stated order wins now, and the plan says so.
    text = "## Phase 1: X\n- [ ] T001 First (depends on T002)\n- [ ] T002 Second\n"
    plan = taskexec_nb.loads(text, path="loop.md")
    assert plan.topological_order() == ["T002", "T001"]
    assert plan.why("T001", "T002") == "declared at line 2"
    assert plan.why("T002", "T001") is None
    (diag,) = [d for d in plan.diagnostics if d.code == "TX116"]
    assert diag.severity is Severity.INFO and diag.line == 3
    assert taskexec_nb.loads(text, mode="explicit").depends_on("T001") == ("T002",)


# --- a plan with errors: shown, never run ------------------------------------------------------

WITH_ERRORS = """\
# Tasks

## Phase 1: Setup

- [ ] T001 Start
  - taskexec: run="true"
- [ ] T002 Next (depends on T004)
  - taskexec: run="true"
- [ ] T003 Middle (depends on T009)
  - taskexec: run="true"
- [ ] T004 Last (depends on T002)
  - taskexec: run="true"
- [ ] T003 Again
"""


def test_load_not_strict_keeps_every_task_and_the_errors(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(WITH_ERRORS, encoding="utf-8")
    plan = taskexec_nb.load(path, strict=False)
    assert [t.id for t in plan.tasks] == ["T001", "T002", "T003", "T004"]
    assert not plan.ok
    assert {d.code for d in plan.errors} == {"TX101", "TX102", "TX103"}
    # T002 declares T004 and T004 declares T002: a cycle. Its first task in file order,
    # T002, stops waiting for T004 in the plan.
    assert plan.cycle_edges_dropped == {("T002", "T004")}
    assert plan.depends_on("T002") == ("T001",)
    assert plan.explicit_deps("T002") == ("T004",)  # what the file says stays visible
    assert plan.waves == [["T001"], ["T002"], ["T003"], ["T004"]]
    assert plan.topological_order() == ["T001", "T002", "T003", "T004"]
    assert "3 error(s), so it cannot run" in plan.summary()
    assert "error TX103" in repr(plan)
    assert 'class="taskexec-errors"' in plan._repr_html_()
    assert len(plan.to_frame()) == 4


def test_validation_error_carries_the_partial_plan(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(WITH_ERRORS, encoding="utf-8")
    with pytest.raises(taskexec_nb.ValidationError) as info:
        taskexec_nb.load(path)
    plan = info.value.plan
    assert plan is not None
    assert [t.id for t in plan.tasks] == ["T001", "T002", "T003", "T004"]
    assert plan.errors == info.value.errors
    with pytest.raises(taskexec_nb.ValidationError) as text_info:
        taskexec_nb.loads(WITH_ERRORS.encode())
    assert text_info.value.plan is not None and len(text_info.value.plan) == 4
    # Nothing could be read: no plan.
    with pytest.raises(taskexec_nb.ValidationError) as missing:
        taskexec_nb.load(tmp_path / "missing.md")
    assert missing.value.plan is None
    empty = taskexec_nb.load(tmp_path / "missing.md", strict=False)
    assert len(empty) == 0 and [d.code for d in empty.errors] == ["TX001"]


def test_plan_with_errors_refuses_to_run(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(WITH_ERRORS, encoding="utf-8")
    plan = taskexec_nb.load(path, strict=False)
    for start in (plan.run, lambda: asyncio.run(plan.arun())):
        with pytest.raises(taskexec_nb.ValidationError) as info:
            start()
        message = str(info.value)
        assert "cannot run" in message and str(path) in message
        assert "TX101" in message and "TX102" in message and "TX103" in message
        assert info.value.plan is plan
    from taskexec_nb.run.handle import RunHandle
    from taskexec_nb.settings import RunSettings

    with pytest.raises(taskexec_nb.ValidationError):
        RunHandle(plan, RunSettings(state_dir=tmp_path / "state"))
    assert not (tmp_path / "state").exists()
    assert "[X]" not in path.read_text(encoding="utf-8")


def test_a_graph_with_a_cycle_and_no_error_saying_so_is_refused(fixtures: Path) -> None:
    from taskexec_nb.graph import build_graph
    from taskexec_nb.parse import parse_file
    from taskexec_nb.plan import ExecutionPlan

    tf = parse_file(fixtures / "cycle.md")
    # A graph with a cycle but no error to say so is a mistake of the caller's.
    with pytest.raises(UsageError, match="has a cycle; validate it first"):
        ExecutionPlan(tf, build_graph(tf), DependencyMode.TEMPLATE)
    plan = taskexec_nb.load(fixtures / "cycle.md", strict=False)
    assert plan.waves == [["T004"], ["T007"]]


# --- tables and figures of a plan in a notebook -------------------------------------------------


def test_phases_sort_in_file_order_with_their_titles_apart() -> None:
    text = (
        "".join(f"## Phase {n}: Part {n}\n\n- [ ] T{n:03d} Step {n}\n\n" for n in range(1, 12))
        + "## Polish\n\n- [ ] T099 Tidy up\n"
    )
    frame = taskexec_nb.loads(text, path="eleven.md").to_frame()
    assert frame["phase"].cat.ordered
    ordered = frame.sort_values("phase", ascending=False)
    assert list(ordered["phase"])[:3] == ["Polish", "11", "10"]  # not "9" after "11"
    assert list(frame.loc[["T009", "T010", "T099"], "phase_title"]) == [
        "Part 9",
        "Part 10",
        "Polish",
    ]
    groups = frame.groupby("phase", observed=True).size().index.tolist()
    assert groups[-3:] == ["10", "11", "Polish"]


def test_plan_dag_draws_the_plans_states_by_shape(fixtures: Path, tmp_path: Path) -> None:
    text = (fixtures / "diamond.md").read_text().replace("- [ ] T001", "- [x] T001")
    plan = taskexec_nb.loads(text, path=str(tmp_path / "tasks.md"))
    fig = plan.dag()
    nodes = {t.name: list(t.text) for t in fig.data[2:]}
    assert nodes == {"completed": ["T001"], "pending": ["T002", "T003", "T004"]}
    symbols = {t.name: t.marker.symbol for t in fig.data[2:]}
    assert symbols["completed"] != symbols["pending"]
    assert "(plan)" in fig.layout.title.text
    assert "3 pending" in fig.layout.meta["alt"] and "1 completed" in fig.layout.meta["alt"]
    assert [a.text.split()[0] for a in fig.layout.annotations] == ["1", "2", "3"]


def test_plan_gantt_estimates_from_the_waves_then_from_past_runs(tmp_path: Path) -> None:
    text = (
        '## Phase 1: Setup\n\n- [ ] T001 Slow start\n  - taskexec: run="sleep 0.6"\n\n'
        "## Phase 2: Work\n\n"
        '- [ ] T002 [P] Quick\n  - taskexec: run="true"\n'
        '- [ ] T003 [P] Medium\n  - taskexec: run="sleep 0.3"\n'
    )
    path = tmp_path / "tasks.md"
    path.write_text(text, encoding="utf-8")
    plan = taskexec_nb.load(path)
    first = plan.gantt()
    bars = [t for t in first.data[1:] if t.type == "bar"]
    assert [t.name for t in bars] == ["pending"]
    (bar,) = bars
    # No past run: one second each; T002 and T003 (a wave) start when T001 ends.
    assert list(bar.x) == [1000.0, 1000.0, 1000.0]
    assert list(bar.text) == ["pending"] * 3  # an estimate, not an attempt
    starts = [pd.Timestamp(b).timestamp() for b in bar.base]
    assert starts == [0.0, 1.0, 1.0]
    assert "0 from past runs, the others 1.0 s each" in first.layout.meta["alt"]
    assert first.layout.xaxis.tickformat == "%H:%M:%S"
    assert plan.run(writeback=False).result.value == "completed"
    again = taskexec_nb.load(path).gantt()
    (bar,) = [t for t in again.data[1:] if t.type == "bar"]
    took = dict(zip([y.split()[0] for y in bar.y[1]], bar.x, strict=True))
    assert 600 <= took["T001"] < 600 + 3000  # measured, not one second
    assert took["T002"] < took["T003"] < took["T001"]
    assert "3 from past runs" in again.layout.meta["alt"]
    with pytest.raises(UsageError, match="use phase or story"):
        plan.gantt("owner")


def test_plan_diagnostics_display_as_a_table(tmp_path: Path) -> None:
    text = "## Phase 1: X\n- [ ] T001 First (depends on T009)\n- [ ] T002 Second <b>\n"
    plan = taskexec_nb.loads(text, path="bad.md", strict=False)
    diagnostics = plan.diagnostics
    assert isinstance(diagnostics, tuple) and len(diagnostics) >= 1
    frame = diagnostics.to_frame()
    assert list(frame.columns) == ["line", "severity", "code", "task_id", "message", "hint", "file"]
    assert frame["line"].dtype == "Int64"
    first = frame.iloc[0]
    assert (first["code"], first["line"], first["task_id"]) == ("TX102", 2, "T001")
    page = diagnostics._repr_html_()
    assert page.startswith('<table class="taskexec-diagnostics"><caption>Diagnostics: ')
    assert "<td>TX102</td>" in page and "<td>2</td>" in page
    assert repr(diagnostics).startswith("<Diagnostics: 1 error(s)")
    assert "bad.md:2: error TX102" in repr(diagnostics)


def test_plan_gantt_ignores_a_state_folder_it_cannot_read(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text('## Phase 1: X\n\n- [ ] T001 Go\n  - taskexec: run="true"\n', encoding="utf-8")
    broken = tmp_path / "state"
    broken.mkdir()
    (broken / "state.db").write_bytes(b"this is not a database" * 100)
    fig = taskexec_nb.load(path).gantt(state_dir=broken)
    assert "0 from past runs, the others 1.0 s each" in fig.layout.meta["alt"]
