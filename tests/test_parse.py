"""The parser on the task forms real files use: IDs, boxes in every place, re-listings."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import md

from taskexec_nb.deps import id_key
from taskexec_nb.graph import build_graph
from taskexec_nb.model import Diagnostic, Severity, TaskForm, TaskState
from taskexec_nb.parse import TaskFile, parse_file, parse_text
from taskexec_nb.run.writeback import tick
from taskexec_nb.validate import validate_taskfile


def _clean(tf: TaskFile) -> TaskFile:
    errors = [d.format() for d in validate_taskfile(tf).diagnostics if d.is_error]
    assert errors == []
    return tf


# --- IDs with a letter suffix ------------------------------------------------------------------


def test_an_id_with_a_letter_suffix_is_its_own_task(fixtures: Path) -> None:
    tf = _clean(parse_file(fixtures / "suffixed_ids.md"))
    assert tf.ids == (
        "T022", "T022-A", "T039", "T039-A", "T040", "T083", "T083-B", "T084", "T085"
    )  # fmt: skip
    assert tf.task("T022").done and not tf.task("T022-A").done
    assert tf.task("T022").description == "Parse the bank export in src/import/bank.py"
    assert tf.task("T022-A").description == "Accept the second date format in src/import/bank.py"
    assert tf.task("T083-B").line == 14


def test_dependencies_name_suffixed_ids_and_ranges_stay_ranges(fixtures: Path) -> None:
    tf = parse_file(fixtures / "suffixed_ids.md")
    explicit = build_graph(tf, "explicit").explicit
    assert explicit["T040"] == ["T039", "T039-A"]
    # T083-T084 is a range (T084 is an ID, not a letter), and T083-B lies inside it.
    assert explicit["T085"] == ["T083", "T083-B", "T084"]


def test_a_suffixed_id_sorts_after_its_base_id() -> None:
    ids = ["T084", "T083-B", "T083.5", "T083", "T083a"]
    assert sorted(ids, key=id_key) == ["T083", "T083-B", "T083a", "T083.5", "T084"]


# --- boxes in table rows and headings ----------------------------------------------------------


def test_a_table_row_reads_the_box_in_its_first_cell(fixtures: Path) -> None:
    tf = _clean(parse_file(fixtures / "boxed_rows_and_headings.md"))
    rows = {t.id: t for t in tf.tasks if t.form is TaskForm.TABLE}
    assert {i: (t.checked, t.state) for i, t in rows.items()} == {
        "T001": (True, TaskState.DONE),
        "T002": (True, TaskState.DONE),  # [X]
        "T004": (True, TaskState.DONE),
        "T006": (False, TaskState.PENDING),
    }
    assert {i: t.box_line for i, t in rows.items()} == {"T001": 7, "T002": 8, "T004": 9, "T006": 10}
    t4 = rows["T004"]
    assert t4.description == "Write test for the row reader in tests/test_rows.py"
    assert t4.tags == () and not t4.parallel
    assert [r.start for r in t4.deps] == ["T001", "T002"]


def test_a_box_before_the_id_in_its_cell_is_the_rows_box() -> None:
    text = "# Tasks\n\n| Task | Notes |\n|---|---|\n| [x] T001 | Time the reader |\n"
    task = parse_text(text).task("T001")
    assert (task.checked, task.box_line, task.description) == (True, 5, "Time the reader")


@pytest.mark.parametrize(
    ("table", "state"),
    [
        ("| Hecho | Tarea |\n|:-:|---|\n|  [x]  | T002 Escribir el lector [P] |", TaskState.DONE),
        (
            "| Tarea | Notas |\n|---|---|\n| [ ] T002 Escribir el lector [P] | pronto |",
            TaskState.PENDING,
        ),
        (
            "| Hecho | Tarea |\n|---|---|\n| [~] | T002 Escribir el lector [P] |",
            TaskState.CANCELLED,
        ),
        ("| Hecho | Tarea |\n|---|---|\n| [X] | [P] T002 Escribir el lector |", TaskState.DONE),
    ],
)
def test_a_boxed_row_whose_id_shares_its_cell_with_the_text_is_a_task(
    table: str, state: TaskState
) -> None:
    text = f"# Tareas\n\n{table}\n\n- [ ] T003 Publicar\n"
    tf = parse_text(text)
    assert tf.ids == ("T002", "T003")
    t2 = tf.task("T002")
    assert (t2.form, t2.state, t2.box_line) == (TaskForm.TABLE, state, 5)
    assert (t2.description, t2.parallel) == ("Escribir el lector", True)
    if state is TaskState.PENDING:  # ticked in place on success, every other byte kept
        data = text.replace("\n", "\r\n").encode()
        ticked = tick(data, 5, "T002")
        assert ticked == data.replace(b"| [ ] T002", b"| [X] T002")


def test_a_boxed_row_with_a_range_in_its_text_cell_is_a_mention() -> None:
    text = (
        "# T\n\n- [x] T205 A\n- [x] T206 B\n\n"
        "| Hecho | Tarea |\n|---|---|\n| [x] | T205-T206 Adaptadores |\n"
    )
    tf = parse_text(text)
    assert tf.ids == ("T205", "T206")
    assert _codes(tf, "TX101") == [] and _codes(tf, "TX115") == []


@pytest.mark.parametrize(
    ("table", "state", "description"),
    [
        (
            "| ID | Tarea | Estado |\n|---|---|:-:|\n| T002 | Escribir el lector | [x] |",
            TaskState.DONE,
            "Escribir el lector",
        ),
        (
            "| ID | Estado | Tarea |\n|---|---|---|\n| T002 | [ ] | Escribir el lector |",
            TaskState.PENDING,
            "Escribir el lector",
        ),
        (
            "| # | ID | Tarea | Hecho |\n|---|---|---|---|\n| 2 | T002 | Escribir | [X] |",
            TaskState.DONE,
            "Escribir",
        ),
        (
            "| ID | Tarea | Estado |\n|---|---|---|\n| T002 | Escribir el lector | [-] |",
            TaskState.CANCELLED,
            "Escribir el lector",
        ),
    ],
)
def test_a_status_cell_after_the_id_is_the_rows_box(
    table: str, state: TaskState, description: str
) -> None:
    tf = parse_text(f"# Tareas\n\n{table}\n")
    t2 = tf.task("T002")
    assert (t2.state, t2.box_line, t2.description) == (state, 5, description)


def test_a_box_under_a_parallel_header_marks_the_task_parallel_not_done() -> None:
    text = (
        "# T\n\n| ID | Task | Parallel | Done |\n|---|---|---|---|\n"
        "| T001 | Write | [x] | [ ] |\n| T002 | Read | [ ] | [x] |\n"
    )
    tf = parse_text(text)
    got = {t.id: (t.state, t.parallel, t.box_line) for t in tf.tasks}
    assert got == {"T001": (TaskState.PENDING, True, 5), "T002": (TaskState.DONE, False, 6)}
    # The success of T001 ticks its Done cell, the row's last box cell.
    data = text.encode()
    assert tick(data, 5, "T001") == data.replace(b"[x] | [ ] |", b"[x] | [X] |")


def test_a_status_box_before_another_box_cell_is_an_error() -> None:
    text = "# T\n\n| ID | Done | Task | [P] |\n|---|---|---|---|\n| T003 | [x] | Ship | [x] |\n"
    tf = parse_text(text)
    (d,) = _codes(tf, "TX113")
    assert (d.severity, d.line, d.task_id) == (Severity.ERROR, 5, "T003")
    assert "status box comes before another box cell" in d.message
    assert tf.task("T003").box_line is None and tf.task("T003").parallel


def test_a_parallel_cell_is_not_a_status_box() -> None:
    text = "# T\n\n| ID | P | Task |\n|---|---|---|\n| T002 | [P] | Write |\n"
    t2 = parse_text(text).task("T002")
    assert (t2.state, t2.box_line, t2.description) == (TaskState.PENDING, None, "Write")


def test_a_heading_reads_the_box_before_its_id(fixtures: Path) -> None:
    tf = parse_file(fixtures / "boxed_rows_and_headings.md")
    t5, t8 = tf.task("T005"), tf.task("T008")
    assert (t5.form, t5.checked, t5.state, t5.box_line) == (
        TaskForm.HEADING, True, TaskState.DONE, 14
    )  # fmt: skip
    assert (t8.checked, t8.state, t8.box_line) == (False, TaskState.PENDING, 18)
    assert t5.description == "Document the row format in docs/rows.md"
    assert t5.tags == ()  # the box is not a tag


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("| [~] | T001 | Port the old reader |", TaskState.CANCELLED),
        ("| [-] | T001 | Port the old reader |", TaskState.CANCELLED),
        ("| [ ] | ~~T001~~ | Port the old reader |", TaskState.CANCELLED),
        ("### [~] T001 Port the old reader", TaskState.CANCELLED),
        ("### [X] T001 Port the old reader", TaskState.DONE),
    ],
)
def test_cancelled_and_upper_case_boxes_in_rows_and_headings(text: str, state: TaskState) -> None:
    table = "| Done | ID | Task |\n|---|---|---|\n" if text.startswith("|") else ""
    tf = parse_text(f"# Tasks\n\n{table}{text}\n")
    assert tf.task("T001").state is state


def test_rows_and_headings_without_a_box_still_have_none(fixtures: Path) -> None:
    tf = parse_file(fixtures / "heading_and_table_tasks.md")
    assert [(t.checked, t.box_line) for t in tf.tasks] == [(None, None)] * 4


# --- a heading task's box in its body ----------------------------------------------------------


def test_a_heading_task_takes_the_box_of_its_first_body_item(fixtures: Path) -> None:
    tf = _clean(parse_file(fixtures / "heading_body_box.md"))
    got = {t.id: (t.checked, t.state, t.box_line) for t in tf.tasks}
    assert got == {
        "T001": (True, TaskState.DONE, 6),
        "T002": (False, TaskState.PENDING, 10),
        # Two boxed items: a checklist of steps, not the task's state.
        "T003": (None, TaskState.PENDING, None),
        "T004": (False, TaskState.CANCELLED, 19),
    }
    assert tf.task("T002").description == "Add the CSV writer"
    assert [r.start for r in tf.task("T002").deps] == ["T001"]


@pytest.mark.parametrize("after", ["- [ ] T003 Migrate\n", "- [ ] **Note**: the schema is v2\n"])
def test_a_heading_task_whose_first_item_is_a_task_does_not_take_its_box(after: str) -> None:
    text = "# Tasks\n\n### T001: Store layer\n- [x] T002 Write the schema\n" + after
    tf = parse_text(text)
    assert (tf.task("T001").checked, tf.task("T001").box_line) == (None, None)
    assert tf.task("T002").done


@pytest.mark.parametrize(
    ("below", "box_line"),
    [
        # A sub-heading's checklist is not a second box beside the task's own.
        ("#### Criterios de aceptación\n\n- [x] exporta CSV\n- [ ] exporta JSON\n", 7),
        # A heading task nested in the section keeps its own box.
        ("#### T003 Escribir pruebas\n1. [X] Descripción: pruebas unitarias\n", 7),
    ],
)
def test_a_heading_tasks_body_box_is_read_above_a_sub_heading(below: str, box_line: int) -> None:
    text = (
        "# Tareas\n\n### T002 - Configurar CI\n\nTexto del paso.\n\n"
        "* [x] **Descripción**: configurar GitHub Actions\n* **Depende de**: T001\n\n" + below
    )
    tf = parse_text(text)
    t2 = tf.task("T002")
    assert (t2.checked, t2.state, t2.box_line) == (True, TaskState.DONE, box_line)
    if "T003" in below:
        assert (tf.task("T003").checked, tf.task("T003").box_line) == (True, 11)


# --- box symbols beyond [ ] and [x] ------------------------------------------------------------


def _codes(tf: TaskFile, code: str) -> list[Diagnostic]:
    return [d for d in validate_taskfile(tf).diagnostics if d.code == code]


def test_every_box_symbol_is_read_as_the_readme_says(fixtures: Path) -> None:
    tf = _clean(parse_file(fixtures / "box_symbols.md"))
    got = {t.id: (t.state, t.checked, t.box_line, t.parallel) for t in tf.tasks}
    assert got == {
        "T4.1": (TaskState.DONE, True, 5, False),
        "T4.2": (TaskState.PENDING, False, 6, False),  # [/] in progress: still to finish
        "T4.3": (TaskState.PENDING, None, None, True),  # [P] in the box's place: no box
        "T4.4": (TaskState.PENDING, None, None, True),
        "T4.5": (TaskState.CANCELLED, False, 9, False),
        "T4.6": (TaskState.CANCELLED, False, 10, False),
        "T4.7": (TaskState.PENDING, False, 11, False),
    }
    assert tf.task("T4.3").description == "Write the disk backend in src/cache/disk.py"
    assert tf.task("T4.3").tags == ()


def test_a_cancelling_box_without_a_legend_is_warned_about(fixtures: Path) -> None:
    tf = parse_file(fixtures / "box_symbols.md")
    warnings = _codes(tf, "TX114")
    assert [(d.severity, d.line, d.task_id) for d in warnings] == [
        (Severity.WARNING, 9, "T4.5"),
        (Severity.WARNING, 10, "T4.6"),
    ]
    assert "[~] box, read as cancelled, so they will not run: T4.5 (line 9)" in warnings[0].message


@pytest.mark.parametrize(
    "legend",
    [
        "Legend: `[x]` done, `[/]` in progress, `[~]` cancelled, `[-]` dropped\n",
        "**Status boxes**\n\n- [~] = cancelled\n- [-] = dropped\n",
    ],
)
def test_a_legend_line_explains_the_box(fixtures: Path, legend: str) -> None:
    text = (fixtures / "box_symbols.md").read_text(encoding="utf-8")
    text = text.replace("## Phase 4", legend + "\n## Phase 4")
    assert _codes(parse_text(text), "TX114") == []


@pytest.mark.parametrize(
    "legend",
    [
        "Legend: `[ ]` todo, `[~]` in progress, `[x]` done\n",
        "**图例**：[x] 已完成，[~] 进行中，[ ] 未开始\n",
        "- [~] = en curso\n- [-] = cancelada\n",
    ],
)
def test_a_legend_saying_the_cancelling_box_means_in_progress_is_warned_about(
    legend: str,
) -> None:
    text = f"# Tasks\n\n{legend}\n## Phase 1\n\n- [x] T001 Done\n- [~] T002 Half-way\n"
    (d,) = _codes(parse_text(text), "TX114")
    assert (d.severity, d.line, d.task_id) == (Severity.WARNING, text.count("\n"), "T002")
    assert "read as cancelled, so they will not run: T002" in d.message
    assert "the legend at line 3 says [~] means work in progress" in d.message
    assert "[/]" in (d.hint or "")


@pytest.mark.parametrize(
    "text",
    [
        "- [>] T002 Deferred to the next release",
        "- [!] **T002**: Blocked on the vendor",
        "### [?] T002 Unclear",
        "| Done | ID | Task |\n|---|---|---|\n| [v] | T002 | Verified |",
    ],
)
def test_an_unknown_box_is_an_error_with_its_line_and_the_task_is_kept(text: str) -> None:
    source = f"# Tasks\n\n- [ ] T001 First\n\n{text}\n\n- [ ] T003 Last (depends on T002)\n"
    tf = parse_text(source, "tasks.md")
    (error,) = _codes(tf, "TX113")
    assert error.severity is Severity.ERROR and error.task_id == "T002"
    assert error.line == source.split("\n").index(text.split("\n")[-1]) + 1
    assert "unknown box" in error.message and "[x]" in (error.hint or "")
    assert tf.ids == ("T001", "T002", "T003")
    assert _codes(tf, "TX102") == []  # T003's dependency still names a task


@pytest.mark.parametrize(
    "text",
    [
        "- [ x ] T002 Spaced inside the box",
        "* [] **T002**: Empty box",
        "1. [x]T002 No space after the box",
        "### [ x ] T002 Heading with a spaced box",
        "## []T002 Heading with an empty box",
        "| Hecho | ID | Tarea |\n|---|---|---|\n| [ x ] | T002 | Spaced box cell |",
        "| Hecho | ID | Tarea |\n|---|---|---|\n| [] | T002 | Empty box cell |",
        "| Tarea | Notas |\n|---|---|\n| [ X ] T002 | Spaced box before the ID |",
        "- [ x ] [P] T002 Spaced box, then a tag before the ID",
        "- [][US1] T002 Empty box, then a story tag",
        "### [ x ] [P] T002 Heading with a spaced box and a tag",
    ],
)
def test_a_box_that_is_not_a_checkbox_is_an_error_and_the_task_is_kept(text: str) -> None:
    source = f"# Tasks\n\n- [ ] T001 First\n\n{text}\n\n- [ ] T003 Last (depends on T002)\n"
    tf = parse_text(source, "tasks.md")
    (error,) = _codes(tf, "TX113")
    assert error.severity is Severity.ERROR and error.task_id == "T002"
    assert error.line == source.split("\n").index(text.split("\n")[-1]) + 1
    assert "is not a checkbox" in error.message and "[x]" in (error.hint or "")
    assert tf.ids == ("T001", "T002", "T003")
    assert tf.task("T002").box_line is None  # nothing to tick in a box not read
    assert _codes(tf, "TX102") == []


@pytest.mark.parametrize(
    "text",
    [
        "- [] Todo: write the docs",
        "### [ x ] Todo list",
        "| Hecho | Tarea |\n|---|---|\n| [x] | Todo: the docs |",
    ],
)
def test_a_box_before_text_that_is_no_task_is_neither_a_task_nor_an_error(text: str) -> None:
    tf = parse_text(f"# Tasks\n\n- [ ] T001 First\n\n{text}\n")
    assert tf.ids == ("T001",)
    assert [d.code for d in tf.diagnostics if d.is_error] == []


# --- re-listings are mentions ------------------------------------------------------------------


def test_a_recap_listing_is_a_mention_not_a_second_definition(fixtures: Path) -> None:
    tf = _clean(parse_file(fixtures / "relisted_tasks.md"))
    assert tf.ids == ("T028", "T028.1", "T028.2", "T030.2", "T030.3", "T205", "T206")
    t2 = tf.task("T028.2")
    # The first full definition is the task: its line, text and (pending) box.
    assert (t2.line, t2.state, t2.box_line) == (7, TaskState.PENDING, 7)
    assert t2.description == "Write the grammar in src/query/grammar.py (depends on T028.1)"
    assert tf.task("T205").line == 13
    # The range heading is not T205's definition; its dependency applies to the tasks under it.
    explicit = build_graph(tf, "explicit").explicit
    assert explicit["T205"] == ["T028"] and explicit["T206"] == ["T028"]


def test_a_mention_whose_box_disagrees_is_reported(fixtures: Path) -> None:
    tf = parse_file(fixtures / "relisted_tasks.md")
    found = [(d.severity, d.line, d.task_id) for d in _codes(tf, "TX115")]
    assert found == [(Severity.WARNING, 19, "T028.2")]  # [x] here, pending at line 7
    (d,) = _codes(tf, "TX115")
    assert "says done, but the task (line 7) is pending" in d.message


def test_two_listings_of_different_pending_work_stay_a_duplicate_naming_both_lines() -> None:
    text = "# Tasks\n\n- [ ] T205 Write the SQLite adapter\n\n## Later\n\n- [ ] T205 Add caching\n"
    (d,) = _codes(parse_text(text), "TX101")
    assert (d.severity, d.line) == (Severity.ERROR, 7)
    assert "first defined at line 3" in d.message and "different work" in d.message


@pytest.mark.parametrize(
    "recap",
    [
        "- [ ] T205（见上文）",
        "- [ ] T205 见上",
        "- [ ] T205: 上記参照",
        "- [ ] T205 위 참조",
        "- [ ] T205: ver arriba",
        "- [ ] T205 (veja acima)",
        "- [ ] T205 — voir ci-dessus",
        "- [ ] T205: siehe oben",
        "- [ ] T205 Adaptador SQLite（详见上节）",
    ],
)
def test_a_recap_that_points_above_in_another_language_is_a_mention(recap: str) -> None:
    text = f"# Tasks\n\n- [ ] T205 Write the SQLite adapter\n\n## Resumen\n\n{recap}\n"
    tf = parse_text(text)
    assert _codes(tf, "TX101") == []
    assert tf.task("T205").description == "Write the SQLite adapter"


@pytest.mark.parametrize(
    ("range_line", "warned"),
    [
        ("- [x] T030.2~T030.3: Function ports", None),
        ("- [ ] T030.2-T030.3: Function ports", "T030.2 (line 5) is done, T030.3 (line 6) is done"),
        ("### T300–T302: Exporters", "defines none of them"),
        ("### [ ] T030.2..T030.3: Ports", "T030.2 (line 5) is done"),
    ],
)
def test_a_range_listing_is_a_mention(range_line: str, warned: str | None) -> None:
    text = (
        "# Tasks\n\n## Phase 1\n\n- [x] T030.2 Port dates\n- [x] T030.3 Port strings\n\n"
        f"## Summary\n\n{range_line}\n"
    )
    tf = parse_text(text)
    assert tf.ids == ("T030.2", "T030.3")
    assert _codes(tf, "TX101") == []  # not T030.2 defined twice
    messages = [d.message for d in _codes(tf, "TX115")]
    if warned is None:
        assert messages == []
    else:
        assert len(messages) == 1 and warned in messages[0]
        assert _codes(tf, "TX115")[0].line == 10


# --- several tables listing one ID ---------------------------------------------------------------


def test_the_boxed_table_defines_the_tasks_and_the_other_tables_are_summaries(
    fixtures: Path,
) -> None:
    tf = _clean(parse_file(fixtures / "dossier_tables.md"))
    got = {t.id: (t.state, t.line, t.box_line) for t in tf.tasks}
    assert got == {
        "T001": (TaskState.DONE, 18, 18),
        "T002": (TaskState.DONE, 19, 19),
        "T003": (TaskState.PENDING, 20, 20),
        "T004": (TaskState.PENDING, 21, 21),
    }
    assert tf.task("T003").description == "Implement the CSV and JSON writer"
    # The Dependencies column of the boxed table is read; the summaries add nothing.
    explicit = build_graph(tf, "explicit").explicit
    assert explicit == {"T001": [], "T002": ["T001"], "T003": ["T002"], "T004": ["T003"]}
    assert _codes(tf, "TX101") == [] and _codes(tf, "TX115") == []


def test_a_boxless_row_is_a_mention_of_a_checkbox_task_listed_later() -> None:
    text = md(
        """\
        # Tasks

        | ID | Summary | Depends on |
        |----|---------|------------|
        | T002 | Parser | T009 |

        ## Phase 1

        - [ ] T001 Set up the project
        - [x] T002 Write the parser in src/parse.py
        """
    )
    tf = _clean(parse_text(text))
    assert tf.ids == ("T001", "T002")  # file order of the definitions
    t2 = tf.task("T002")
    assert (t2.state, t2.line, t2.deps, t2.phase.number) == (TaskState.DONE, 10, (), "1")


def test_a_numbered_outline_row_is_a_mention_of_a_task_defined_elsewhere() -> None:
    text = md(
        """\
        # Tasks

        | ID | Task |
        |----|------|
        | T001 | Create the schema |
        | T002 | Write the loader |

        ## Outline

        | Step | Task | What |
        |------|------|------|
        | 1 | T001 | Write `schema.py` first |
        | 2 | T002 | Then the loader, reading the schema |
        """
    )
    tf = _clean(parse_text(text))
    assert [(t.id, t.line, t.description) for t in tf.tasks] == [
        ("T001", 5, "Create the schema"),
        ("T002", 6, "Write the loader"),
    ]


def test_a_numbered_table_alone_still_defines_its_tasks() -> None:
    text = "# Tasks\n\n| # | ID | Task |\n|---|---|---|\n| 1 | T001 | Build |\n| 2 | T002 | Go |\n"
    tf = _clean(parse_text(text))
    assert [(t.id, t.line) for t in tf.tasks] == [("T001", 5), ("T002", 6)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("T001–T003", ["T001", "T002", "T003"]),
        ("T001-T003", ["T001", "T002", "T003"]),
        ("T001, T003", ["T001", "T003"]),
        ("**T002** to T003 (the schemas)", ["T002", "T003"]),
    ],
)
def test_a_range_in_a_table_dependency_cell_is_expanded(cell: str, expected: list[str]) -> None:
    text = md(
        f"""\
        # Tasks

        | Status | ID | Task | Depends on |
        |--------|----|------|------------|
        | [x] | T001 | Set up | – |
        | [x] | T002 | Schemas | – |
        | [ ] | T003 | Loader | – |
        | [ ] | T004 | Ship it | {cell} |
        """
    )
    assert build_graph(parse_text(text), "explicit").explicit["T004"] == expected


def test_a_placeholder_task_id_is_a_warning_naming_its_line() -> None:
    text = md(
        """\
        # Tasks

        - [ ] T001 Set up the project
        - [ ] TXXX [US1] Write the first test
        - [ ] **TXXX** Another placeholder
        - [ ] Review the copy with the team
        """
    )
    tf = parse_text(text, "tasks.md")
    assert tf.ids == ("T001",)
    warnings = _codes(tf, "TX117")
    assert [(d.severity, d.line) for d in warnings] == [(Severity.WARNING, n) for n in (4, 5)]
    assert "TXXX" in warnings[0].message and "placeholder" in warnings[0].message


# --- phase headings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "title"),
    [
        ("## Phase N: Polish & Cross-Cutting Concerns", "Polish & Cross-Cutting Concerns"),
        ("## Fase N: Refinos e Preocupacoes Transversais", "Refinos e Preocupacoes Transversais"),
        ("## 最终验证", "最终验证"),
        ("## Verificación final", "Verificación final"),
        ("## Final verification", "Final verification"),
    ],
)
def test_a_last_phase_without_a_number_is_a_polish_phase(heading: str, title: str) -> None:
    text = md(
        f"""\
        # Tasks

        ## Phase 1: Setup

        - [ ] T001 Set up the project

        ## Phase 2: User Story 1

        - [ ] T002 [US1] Build the page

        {heading}

        - [ ] T003 Run the full test suite
        """
    )
    phase = parse_text(text).task("T003").phase
    assert (phase.number, phase.title, phase.kind) == (None, title, "polish")


def test_a_heading_after_the_phases_that_is_no_final_step_is_no_phase() -> None:
    text = "## Phase 1: Setup\n\n- [ ] T001 Set up\n\n## Notes\n\n- [ ] T002 Tidy up\n"
    assert parse_text(text).task("T002").phase.kind == "other"
    assert parse_text(text).task("T002").phase.title == "(no phase)"


@pytest.mark.parametrize("marker", ["[P]", "[ P ]", "[P ]", "[ P]", "[  P  ]"])
def test_the_parallel_marker_with_spaces_inside_is_still_parallel(marker: str) -> None:
    tf = parse_text(
        f"## Phase 1: X\n\n- [ ] T001 {marker} First\n- [ ] T002 {marker} [US1] Second\n"
    )
    first, second = tf.tasks
    assert (first.parallel, second.parallel) == (True, True)
    assert (first.description, second.description) == ("First", "Second")
    assert second.stories == ("US1",)
    # Parallel tasks of a phase are not ordered one after the other.
    assert build_graph(tf).deps == {"T001": [], "T002": []}


def test_a_p_inside_other_brackets_is_not_the_parallel_marker() -> None:
    tf = parse_text("## Phase 1: X\n\n- [ ] T001 Read [ PDF ] files\n- [ ] T002 Then this\n")
    assert [t.parallel for t in tf.tasks] == [False, False]
    assert build_graph(tf).deps == {"T001": [], "T002": ["T001"]}


def test_a_read_file_has_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    import hashlib

    data = "\ufeff# Tasks: é\n\n## Phase 1: Setup\n\n- [ ] T001 Make it\n".encode()
    (tmp_path / "tasks.md").write_bytes(data)
    tf = parse_file(tmp_path / "tasks.md")
    assert tf.digest == hashlib.sha256(data).hexdigest()
    assert tf.data == data and [t.id for t in tf.tasks] == ["T001"]


@pytest.mark.parametrize(
    ("heading", "number", "title", "kind"),
    [
        ("第1阶段：设置", "1", "设置", "setup"),
        ("第 2 阶段 - 核心", "2", "核心", "other"),
        ("第三阶段：用户故事 1", "3", "用户故事 1", "story"),
        ("阶段十二：收尾", "12", "收尾", "polish"),
        ("第二十階段 完善", "20", "完善", "polish"),
        ("1단계: 설정", "1", "설정", "setup"),
        ("제2단계 - 기초", "2", "기초", "foundational"),
        ("第3段階：仕上げ", "3", "仕上げ", "polish"),
        ("段階 4: セットアップ", "4", "セットアップ", "setup"),
    ],
)
def test_a_phase_heading_with_its_number_before_the_word_or_in_numerals(
    heading: str, number: str, title: str, kind: str
) -> None:
    text = f"# 任务\n\n## {heading}\n\n- [ ] T001 做事\n\n## 其他\n\n- [ ] T002 别的\n"
    phase = parse_text(text).task("T001").phase
    assert (phase.number, phase.title, phase.kind) == (number, title, kind)


@pytest.mark.parametrize("heading", ["阶段十十：收尾", "第三二十阶段", "第十一十阶段 完善"])
def test_a_phase_heading_whose_numerals_are_not_a_number_is_no_phase(heading: str) -> None:
    text = f"# 任务\n\n## 阶段 1：设置\n\n- [ ] T001 做事\n\n## {heading}\n\n- [ ] T002 别的\n"
    tf = parse_text(text)
    assert [p.number for p in tf.phases if p.number] == ["1"]
    assert tf.task("T002").description == "别的"


@pytest.mark.parametrize(
    ("heading", "number"),
    [
        ("المرحلة ٢: التنفيذ", "2"),
        ("フェーズ１２：仕上げ", "12"),
        ("阶段 ３.１：设置", "3.1"),
        ("第１阶段", "1"),
    ],
)
def test_a_phase_number_in_other_digits_is_read_in_ascii(heading: str, number: str) -> None:
    text = f"# Tasks\n\n## {heading}\n\n- [ ] T001 Do it\n"
    assert parse_text(text).task("T001").phase.number == number


@pytest.mark.parametrize(
    "heading", ["阶段性总结", "第一印象", "阶段三个目标", "3段階の移行計画", "2단계별 가이드"]
)
def test_a_heading_that_only_contains_a_phase_word_is_no_phase(heading: str) -> None:
    text = f"# 任务\n\n## 阶段 1：设置\n\n- [ ] T001 做事\n\n## {heading}\n\n- [ ] T002 别的\n"
    phases = parse_text(text).phases
    assert [p.number for p in phases if p.number] == ["1"]


@pytest.mark.parametrize(
    "heading",
    [
        "Phase 1: Setup",
        "Phase 2a - Core",
        "Phase 1.2xy rest",
        "Phase 3abc",
        "Phase 4_",
        "Phase N: Polish",
        "Phase Nx",
        "阶段 1：设置",
        "阶段1设置",
        "フェーズ3",
        "Fase 2: Fundacional",
        "**Phase 5**: Done",
        "Phase 6é",
        "Phase 7 é",
        "Phase",
        "Phases 1-3",
    ],
)
def test_a_phase_heading_reads_as_its_full_pattern_with_the_cjk_class(heading: str) -> None:
    import re
    import sys

    parse = sys.modules["taskexec_nb.parse"]
    assert parse._CJK_CHARS not in parse._PHASE_RE._open.pattern  # checked in Python first
    ours = parse._PHASE_RE.match(heading)
    theirs = re.compile(parse._PHASE_RE.pattern, re.IGNORECASE).match(heading)
    assert (ours and (ours.span(), ours.group("num", "title"))) == (
        theirs and (theirs.span(), theirs.group("num", "title"))
    )


def test_the_separator_after_an_id_is_the_class_it_was_and_compiles_without_a_big_table() -> None:
    import re
    import sys

    parse = sys.modules["taskexec_nb.parse"]
    for flags in (0, re.DOTALL):
        ours = re.compile(parse._SEP_CHAR, flags)
        theirs = re.compile(r"[\s:.–—~*_-]", flags)
        for code in range(0x10000):
            char = chr(code)
            assert bool(ours.fullmatch(char)) == bool(theirs.fullmatch(char)), code
    assert "–—" not in parse._TASK_START_RE.pattern  # the dashes are not in one class
    line = parse._TASK_START_RE.match("T001 – [P] — Build it")
    assert line is not None and (line.group("tags"), line.group("rest")) == ("[P] — ", "Build it")
