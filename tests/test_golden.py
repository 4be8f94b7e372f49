"""Golden fixtures, one per parsing rule, named by scenario (tests/fixtures/*.md)."""

from __future__ import annotations

from pathlib import Path

from taskexec_nb.model import ActionKind, TaskForm, TaskState
from taskexec_nb.parse import TaskFile, parse_file
from taskexec_nb.validate import validate_taskfile


def _parse(fixtures: Path, name: str) -> TaskFile:
    tf = parse_file(fixtures / name)
    assert not [d for d in tf.diagnostics if d.is_error], tf.diagnostics
    return tf


def _deps(tf: TaskFile, task_id: str) -> list[str]:
    return [r.start if r.end is None else f"{r.start}-{r.end}" for r in tf.task(task_id).deps]


def test_bold_and_odd_ids(fixtures: Path) -> None:
    tf = _parse(fixtures, "bold_and_odd_ids.md")
    assert tf.ids == ("T001", "T002", "T007a", "T011.5", "T-C001")
    t2 = tf.task("T002")
    assert (t2.checked, t2.state, t2.parallel, t2.tags) == (True, TaskState.DONE, True, ())
    assert t2.description == "Bold, checked, parallel"
    assert tf.task("T011.5").checked is True  # upper-case [X]
    c1 = tf.task("T-C001")
    assert c1.tags == ("CRITICAL",)
    assert c1.files == ("src/app.py",)
    assert c1.description == "Prefixed ID with a tag in src/app.py"


def test_bullet_styles_wrapping_and_tabs(fixtures: Path) -> None:
    tf = _parse(fixtures, "bullets_and_spacing.md")
    assert tf.ids == ("T001", "T002", "T003", "T004", "T005", "T006")
    assert [t.line for t in tf.tasks] == [5, 6, 7, 8, 9, 11]
    wrapped = tf.task("T005")
    assert wrapped.description == "A task whose text is wrapped over two lines (depends on T001)"
    assert (wrapped.line, wrapped.end_line) == (9, 10)
    assert _deps(tf, "T005") == ["T001"]
    assert tf.task("T006").description == "Tab after the checkbox"


def test_heading_and_table_tasks(fixtures: Path) -> None:
    tf = _parse(fixtures, "heading_and_table_tasks.md")
    t1, t2, t3, t4 = (tf.task(i) for i in ("T001", "T002", "T003", "T004"))
    assert (t1.form, t1.checked, t1.state) == (TaskForm.HEADING, None, TaskState.PENDING)
    assert t1.parallel is True  # "[P]" at the end of the heading
    assert t1.description == "Create the scaffold"
    assert "Location: `src/scaffold.py`" in t1.body
    assert _deps(tf, "T001") == []  # "**Depends on**: none"
    assert _deps(tf, "T002") == ["T001"]
    assert t3.form is TaskForm.TABLE and t3.line == 18
    assert (t3.description, t3.story, t3.parallel) == (
        "Write the index in docs/index.md",
        "US1",
        True,
    )
    assert _deps(tf, "T003") == ["T002"]  # from the "Depends on" column
    assert (t4.description, t4.parallel) == ("Write the glossary", True)  # "yes" in Parallel column
    assert [t.phase.number for t in (t1, t2, t3, t4)] == ["1", "1", "2", "2"]


def test_detail_heading_is_the_same_task(fixtures: Path) -> None:
    tf = _parse(fixtures, "detail_heading.md")
    assert tf.ids == ("T001", "T002")
    t2 = tf.task("T002")
    assert (t2.line, t2.form, t2.checked) == (6, TaskForm.CHECKBOX, False)
    assert "Uses a flex box" in t2.body
    assert _deps(tf, "T002") == ["T001"]
    assert tf.task("T001").done


def test_cancelled_tasks(fixtures: Path) -> None:
    tf = _parse(fixtures, "cancelled.md")
    states = {t.id: t.state for t in tf.tasks}
    assert states == {
        "T001": TaskState.CANCELLED,
        "T002": TaskState.CANCELLED,
        "T003": TaskState.PENDING,
        "T004": TaskState.CANCELLED,
    }
    assert tf.task("T001").description.startswith("Add thought leadership content")
    assert "~~" not in tf.task("T002").description


def test_old_template_phase_numbers(fixtures: Path) -> None:
    tf = _parse(fixtures, "old_template.md")
    assert [p.number for p in tf.phases] == ["3.1", "3.2", "3.3"]
    assert [p.title for p in tf.phases] == ["Setup", "Tests First (TDD)", "Core Implementation"]
    assert tf.task("T003").phase.label == "Phase 3.2: Tests First (TDD)"


def test_lines_that_only_look_like_tasks(fixtures: Path) -> None:
    tf = _parse(fixtures, "not_tasks.md")
    assert tf.ids == ("T001",)


def test_front_matter_is_skipped(fixtures: Path) -> None:
    tf = _parse(fixtures, "front_matter.md")
    assert tf.ids == ("T001",)
    assert tf.task("T001").line == 10


def test_every_explicit_dependency_phrase(fixtures: Path) -> None:
    tf = _parse(fixtures, "explicit_deps.md")
    assert _deps(tf, "T006") == ["T001", "T002"]
    assert _deps(tf, "T007") == ["T003"]
    assert _deps(tf, "T008") == ["T002-T004"]
    assert _deps(tf, "T009") == ["T003-T005"]  # en dash
    assert _deps(tf, "T010") == ["T002-T005"]  # "through", written twice, kept once
    assert _deps(tf, "T011") == ["T001", "T006"]  # label line; "Notes about T099" is not one
    assert _deps(tf, "T012") == ["T010"]  # heading-level
    assert _deps(tf, "T013") == ["T010"]
    graph = validate_taskfile(tf, "explicit").graph
    assert graph.explicit["T008"] == ["T002", "T003", "T004"]
    assert graph.explicit["T009"] == ["T003", "T004", "T005"]


def test_dependency_section_statements(fixtures: Path) -> None:
    tf = _parse(fixtures, "dependency_section.md")
    graph = validate_taskfile(tf, "explicit").graph
    assert graph.explicit == {
        "T001": [],
        "T002": ["T001"],
        "T003": ["T001"],
        "T004": [],
        "T005": ["T003", "T004"],
        "T006": ["T005"],
        "T007": ["T006"],
    }  # the prose line and the mermaid graph (T007 --> T001) add nothing


def test_crlf_and_bom(fixtures: Path) -> None:
    tf = _parse(fixtures, "crlf_bom.md")
    assert (tf.newline, tf.bom) == ("\r\n", True)
    assert [(t.id, t.line) for t in tf.tasks] == [("T001", 5), ("T002", 6)]
    assert tf.task("T002").description == "Second (depends on T001)"
    assert not tf.task("T001").raw.endswith("\r")


def test_cjk_cyrillic_and_tabs(fixtures: Path) -> None:
    tf = _parse(fixtures, "cjk_tabs.md")
    t1, t2 = tf.task("T001"), tf.task("T002")
    assert t1.form is TaskForm.HEADING and t1.parallel
    assert t1.description == "fixtures/ 디렉토리 생성"
    assert "위치" in t1.body and "T002" not in t1.body  # T002's own line is not T001's body
    assert t2.files == ("src/ui/окно.py",)
    assert t2.phase.title == "설정"


def test_actions_of_the_diamond(fixtures: Path) -> None:
    tf = _parse(fixtures, "diamond.md")
    kinds = {t.id: t.action.kind for t in tf.tasks}
    assert kinds == {
        "T001": ActionKind.SHELL,
        "T002": ActionKind.SHELL,
        "T003": ActionKind.PYTHON,
        "T004": ActionKind.COMMAND,
    }
    assert tf.task("T001").action.code == "echo prepare\n"
    assert tf.task("T003").action.code == 'print("right")\n'
    t4 = tf.task("T004")
    assert (t4.action.code, t4.params.timeout) == ("echo join", 5.0)


def test_phase_headings_in_other_languages(fixtures: Path) -> None:
    tf = _parse(fixtures, "phases_in_other_languages.md")
    phases = [(p.number, p.kind, p.story) for p in tf.phases]
    assert phases == [
        ("1", "setup", None),  # 设置 (基础设施 is "infrastructure", not 基础 "foundational")
        ("2", "foundational", None),
        ("3", "story", "US1"),
        ("4", "story", "US2"),
        ("5", "story", "US3"),
        ("6", "polish", None),
        ("7", "setup", None),
        ("8", "polish", None),
        ("9", "polish", None),
        (None, "other", None),  # "## Phasen im Überblick": no number, so not a phase
    ]
    assert tf.phases[0].title == "设置（共享基础设施）"
    assert tf.phases[5].title == "Finitions"
    assert tf.task("T010").phase.line is None
    # In stories mode the three story phases run side by side after the foundation.
    graph = validate_taskfile(tf, "stories").graph
    assert graph.deps["T003"] == graph.deps["T004"] == graph.deps["T005"] == ["T002"]
    assert sorted(graph.deps["T006"]) == ["T003", "T004", "T005"]
