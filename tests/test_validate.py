"""Validation: one test per diagnostic code, and all problems in one pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import FENCE, line_of, md

import taskexec_nb
from taskexec_nb import Diagnostic, Severity, Validation
from taskexec_nb.cli import main
from taskexec_nb.errors import UsageError
from taskexec_nb.executors.registry import BUILTIN_NAMES
from taskexec_nb.parse import parse_bytes, parse_text
from taskexec_nb.validate import NO_ACTION_EFFECT, validate_taskfile


def write(tmp_path: Path, text: str, name: str = "tasks.md") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check(text: str, mode: str = "template") -> Validation:
    return validate_taskfile(parse_text(text, "tasks.md"), mode)


def only(result: Validation, code: str) -> list[Diagnostic]:
    return [d for d in result.diagnostics if d.code == code]


# --- TX001 / TX002 / TX003: the file itself ---------------------------------------------------


def test_tx001_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "tasks.md"
    result = taskexec_nb.validate(path)
    assert not result.ok
    (d,) = result.diagnostics
    assert d.code == "TX001"
    assert d.severity is Severity.ERROR
    assert d.line is None
    assert d.file == str(path)
    assert "cannot read file" in d.message
    assert d.hint is not None
    assert d.format().startswith(f"{path}: error TX001: cannot read file")
    assert result.taskfile.tasks == ()


def test_tx001_directory(tmp_path: Path) -> None:
    result = taskexec_nb.validate(tmp_path)
    assert [d.code for d in result.errors] == ["TX001"]


def test_tx001_load_raises_validation_error_not_oserror(tmp_path: Path) -> None:
    path = tmp_path / "missing.md"
    with pytest.raises(taskexec_nb.ValidationError) as info:
        taskexec_nb.load(path)
    assert [d.code for d in info.value.errors] == ["TX001"]
    assert str(path) in str(info.value)
    assert isinstance(info.value, taskexec_nb.TaskexecError)


def test_tx002_bad_byte_gives_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes(b"# Tasks\n\n- [ ] T001 ok\n- [ ] T002 caf\xe9 here\n")
    result = taskexec_nb.validate(path)
    (d,) = result.diagnostics
    assert d.code == "TX002"
    assert d.severity is Severity.ERROR
    assert d.line == 4
    assert "not valid UTF-8" in d.message
    assert "0xe9" in d.message
    assert d.hint is not None
    assert "UTF-8" in d.hint


def test_tx002_bad_byte_after_a_bom_gives_its_line() -> None:
    # The BOM is skipped before decoding; the reported line, byte and offset must
    # still be those of the bad byte in the file.
    data = b"\xef\xbb\xbf- [ ] T001 a\n\xff\n"
    (d,) = parse_bytes(data, "tasks.md").diagnostics
    assert d.code == "TX002"
    assert d.line == 2
    assert "0xff" in d.message
    offset = data.index(b"\xff")
    assert f"offset {offset}" in d.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_tx002_utf16(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "tasks.md"
    text = "- [ ] T001 Do it\n"
    data = text.encode(encoding)
    if encoding != "utf-16":  # utf-16 writes its own BOM
        data = "\ufeff".encode(encoding) + data
    path.write_bytes(data)
    result = taskexec_nb.validate(path)
    (d,) = result.diagnostics
    assert d.code == "TX002"
    assert d.severity is Severity.ERROR
    assert d.line == 1
    assert "UTF-16" in d.message


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_bytes("\ufeff- [ ] T001 Café\n  - taskexec: run=true\n".encode())
    result = taskexec_nb.validate(path)
    assert result.ok
    assert result.diagnostics == ()
    assert result.taskfile.bom


@pytest.mark.parametrize(
    "text", ["", "# Tasks\n\nNothing to do here.\n", "- [ ] not a task\n- [ ] TODO later\n"]
)
def test_tx003_no_tasks(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    result = taskexec_nb.validate(path)
    (d,) = result.diagnostics
    assert d.code == "TX003"
    assert d.severity is Severity.ERROR
    assert d.line is None
    assert "no tasks" in d.message
    assert d.hint is not None
    assert "T001" in d.hint


# --- TX101 duplicate IDs -----------------------------------------------------------------------


def test_tx101_duplicate_checkboxes() -> None:
    text = md(
        """\
        ## Phase 1: Setup

        - [ ] T001 First
        - [ ] T002 Second
        - [ ] T001 First again
        """
    )
    result = check(text)
    (d,) = only(result, "TX101")
    assert d.severity is Severity.ERROR
    assert d.line == line_of(text, "First again")
    assert d.task_id == "T001"
    assert "duplicate task ID T001" in d.message
    assert f"line {line_of(text, 'T001 First')}" in d.message
    assert d.hint is not None
    assert "T001a" in d.hint


def test_tx101_duplicate_headings() -> None:
    text = "### T005 — One\n\nbody\n\n### T005 — Two\n\nbody\n"
    (d,) = only(check(text), "TX101")
    assert d.line == 5


def test_checkbox_plus_detail_heading_is_one_task() -> None:
    text = md(
        """\
        ## Phase 1: Setup

        - [ ] T001 Create the project
        - [ ] T010 Build the store

        ## Task details

        ### T010 — Build the store

        **Depends on**: T001

        ~~~bash
        make store
        ~~~
        """
    )
    result = check(text, "explicit")
    assert not only(result, "TX101")
    assert result.taskfile.ids == ("T001", "T010")
    task = result.taskfile.task("T010")
    assert task.line == line_of(text, "T010 Build")
    assert result.graph.explicit["T010"] == ["T001"]
    assert task.action.code == "make store\n"


# --- TX102 unknown dependencies ----------------------------------------------------------------


def test_tx102_unknown_dependency_with_closest_id() -> None:
    text = md(
        """\
        ## Phase 1

        - [ ] T001 One
        - [ ] T002 Two
        - [ ] T011 Eleven
        - [ ] T020 Twenty (depends on T111)
        """
    )
    result = check(text)
    (d,) = only(result, "TX102")
    assert d.severity is Severity.ERROR
    assert d.line == line_of(text, "T020")
    assert d.task_id == "T020"
    assert "T020 depends on unknown task T111" in d.message
    assert d.hint == "did you mean T011?"
    assert not result.ok


def test_tx102_in_a_task_body_gives_the_body_line() -> None:
    text = md(
        """\
        - [ ] T001 One
        - [ ] T002 Two
          - Blocked by T009
        """
    )
    (d,) = only(check(text), "TX102")
    assert d.line == line_of(text, "Blocked by")
    assert "unknown task T009" in d.message


def test_tx102_no_similar_id() -> None:
    text = "- [ ] T001 One\n- [ ] T002 Two (after T-X999)\n"
    (d,) = only(check(text), "TX102")
    assert d.hint == "no task has a similar ID"


def test_tx102_is_a_warning_for_a_dependencies_section_statement(tmp_path: Path) -> None:
    text = md(
        """\
        ## Phase 1: Setup

        - [ ] T001 One
          - taskexec: run=true
        - [ ] T002 Two
          - taskexec: run=true

        ## Dependencies & Execution Order

        - T001 before T099
        """
    )
    result = check(text)
    (d,) = only(result, "TX102")
    assert d.severity is Severity.WARNING
    assert d.line == line_of(text, "T099")
    assert "unknown task T099" in d.message
    assert d.hint is not None
    assert "did you mean" in d.hint
    assert result.ok
    # load() does not raise for it; the plan carries it.
    plan = taskexec_nb.load(write(tmp_path, text))
    assert [x.code for x in plan.diagnostics] == ["TX102"]


# --- TX103 cycles ------------------------------------------------------------------------------


def test_tx103_cycle_with_its_full_path() -> None:
    text = md(
        """\
        ## Phase 1

        - [ ] T004 Four (depends on T007)
        - [ ] T007 Seven (depends on T004)
        """
    )
    result = check(text)
    (d,) = only(result, "TX103")
    assert d.severity is Severity.ERROR
    assert "T004 → T007 → T004" in d.message
    assert d.line == line_of(text, "T004 Four")
    assert d.task_id == "T004"
    assert d.hint is not None
    assert f"declared at line {line_of(text, 'T004 Four')}" in d.hint
    assert f"declared at line {line_of(text, 'T007 Seven')}" in d.hint


def test_tx103_three_step_cycle_in_run_order() -> None:
    text = md(
        """\
        - [ ] T004 A (depends on T009)
        - [ ] T007 B (depends on T004)
        - [ ] T009 C (depends on T007)
        """
    )
    (d,) = only(check(text, "explicit"), "TX103")
    assert "T004 → T007 → T009 → T004" in d.message
    assert d.hint is not None
    assert "T007 after T004" in d.hint
    assert "T009 after T007" in d.hint
    assert "T004 after T009" in d.hint


def test_a_stated_dependency_on_a_later_task_is_no_cycle_with_file_order() -> None:
    # Before, file order (T002 after T001) and the stated edge made a TX103 cycle; a
    # reader sees no cycle: the stated order wins over the inferred one (TX116 says so).
    text = md(
        """\
        ## Phase 1

        - [ ] T001 First (depends on T002)
        - [ ] T002 Second
        """
    )
    result = check(text)
    assert not only(result, "TX103")
    (d,) = only(result, "TX116")
    assert (d.severity, d.task_id, d.line) == (Severity.INFO, "T002", line_of(text, "T002 Second"))
    assert "T002 does not wait for T001 (file order in Phase 1)" in d.message
    assert f"T001 waits for T002 (declared at line {line_of(text, 'T001 First')})" in d.message
    assert result.graph.order == ["T002", "T001"]
    assert not only(check(text, "explicit"), "TX116")


# --- TX104 [P] tasks naming the same file ------------------------------------------------------


def test_tx104_parallel_tasks_name_the_same_file(tmp_path: Path) -> None:
    text = md(
        """\
        ## Phase 2: Models

        - [ ] T013 [P] Create the user model in src/models.py
          - taskexec: run=true
        - [ ] T014 [P] Add the order model to src/models.py
          - taskexec: run=true
        - [ ] T015 [P] Create src/other.py
          - taskexec: run=true
        """
    )
    result = check(text)
    (d,) = only(result, "TX104")
    assert d.severity is Severity.WARNING
    assert d.line == line_of(text, "T014")
    assert d.task_id == "T014"
    assert "T014 and T013" in d.message
    assert "src/models.py" in d.message
    assert "one after the other" in d.message
    assert result.ok
    plan = taskexec_nb.load(write(tmp_path, text))
    assert plan.depends_on("T014") == ("T013",)
    assert plan.depends_on("T015") == ()


def test_no_tx104_across_phases_or_without_p() -> None:
    text = md(
        """\
        ## Phase 1

        - [ ] T001 [P] Edit src/a.py
        - [ ] T002 Edit src/a.py again

        ## Phase 2

        - [ ] T003 [P] Edit src/a.py in phase 2
        """
    )
    assert not only(check(text), "TX104")


# --- TX105 tasks with no action ------------------------------------------------------------------


def test_tx105_groups_tasks_without_action_and_states_what_running_does() -> None:
    text = md(
        """\
        ## Phase 1

        - [ ] T001 Has a command
          - taskexec: run=true
        - [ ] T002 Bare one
        - [x] T003 Done already
        - [ ] ~~T004 Cancelled~~
        - [ ] T005 Bare two
        """
    )
    result = check(text)
    (d,) = only(result, "TX105")
    assert d.severity is Severity.WARNING
    assert d.line == line_of(text, "T002")
    assert d.task_id == "T002"
    assert d.message.startswith("2 task(s) have no action")
    assert f"T002 (line {line_of(text, 'T002')})" in d.message
    assert f"T005 (line {line_of(text, 'T005')})" in d.message
    for absent in ("T001", "T003", "T004"):
        assert absent not in d.message
    assert NO_ACTION_EFFECT in d.message
    assert "no_action" in d.message
    assert "never reported done without running" in d.message
    assert d.hint is not None
    assert "run=" in d.hint
    assert result.ok


def test_tx105_lists_five_and_counts_the_rest() -> None:
    text = "".join(f"- [ ] T{i:03d} Task {i}\n" for i in range(1, 9))
    (d,) = only(check(text), "TX105")
    assert d.message.startswith("8 task(s) have no action")
    assert "T005 (line 5)" in d.message
    assert "T006" not in d.message
    assert "and 3 more" in d.message


def test_no_tx105_when_every_task_has_an_action() -> None:
    text = "- [ ] T001 A\n  - taskexec: run=true\n- [ ] T002 Run notebooks/a.ipynb\n"
    assert check(text).diagnostics == ()


def test_tx105_for_a_notebook_only_the_description_names_that_is_not_there_yet(
    tmp_path: Path,
) -> None:
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "ready.ipynb").write_text("{}")
    text = (
        "- [ ] T001 Create nb/eda.ipynb\n"
        "- [ ] T002 Run nb/ready.ipynb\n"
        "- [ ] T003 Run it\n  - taskexec: notebook=nb/explicit.ipynb\n"
        "- [ ] T004 Run sub/x.ipynb\n  - taskexec: cwd=nb\n"
        "- [x] T005 Done: nb/old.ipynb\n"
    )
    result = taskexec_nb.validate(write(tmp_path, text))
    found = only(result, "TX105")
    assert [d.task_id for d in found] == ["T001", "T004"]
    assert found[0].message.startswith(
        f"T001: its only action is notebook {tmp_path / 'nb' / 'eda.ipynb'}, named in its "
        "description, which does not exist yet"
    )
    assert NO_ACTION_EFFECT in found[0].message
    assert str(tmp_path / "nb" / "sub" / "x.ipynb") in found[1].message
    assert found[0].hint is not None and "notebook=PATH" in found[0].hint
    assert result.ok
    # Parsed from text (no file, no folder), nothing can be looked for.
    assert not only(check(text), "TX105")


# --- TX106 / TX107 / TX108 through validation --------------------------------------------------


def test_tx106_fence_language_not_run(tmp_path: Path) -> None:
    text = md(
        """\
        - [ ] T001 Configure
          ~~~toml
          a = 1
          ~~~
        """
    )
    result = taskexec_nb.validate(write(tmp_path, text))
    (d,) = only(result, "TX106")
    assert d.severity is Severity.WARNING
    assert d.line == line_of(text, FENCE + "toml")
    assert "'toml'" in d.message
    assert result.ok


def test_tx107_bad_annotation(tmp_path: Path) -> None:
    text = md(
        """\
        - [ ] T001 Build
          - taskexec: timout=5m
        """
    )
    result = taskexec_nb.validate(write(tmp_path, text))
    (d,) = only(result, "TX107")
    assert d.severity is Severity.ERROR
    assert d.line == 2
    assert d.task_id == "T001"
    assert "unknown annotation key 'timout'" in d.message
    assert d.hint is not None
    assert "timeout" in d.hint
    assert not result.ok


def test_tx108_two_actions(tmp_path: Path) -> None:
    text = md(
        """\
        - [ ] T001 Build
          - taskexec: run="make"
          ~~~python
          print("build")
          ~~~
        """
    )
    result = taskexec_nb.validate(write(tmp_path, text))
    (d,) = only(result, "TX108")
    assert d.severity is Severity.ERROR
    assert d.task_id == "T001"
    assert "more than one action" in d.message
    assert not result.ok


# --- TX109 / TX110 / TX112 -----------------------------------------------------------------------


@pytest.mark.parametrize("cancelled", ["- [ ] ~~T002 Old way~~", "- [~] T002 Old way"])
def test_tx109_dependency_on_a_cancelled_task(cancelled: str) -> None:
    text = f"- [ ] T001 Start\n{cancelled}\n- [ ] T003 Finish (depends on T002)\n"
    result = check(text, "explicit")
    (d,) = only(result, "TX109")
    assert d.severity is Severity.WARNING
    assert d.line == 3
    assert d.task_id == "T003"
    assert "T003 depends on T002, which is cancelled" in d.message
    assert "will not wait" in d.message
    assert d.hint is not None
    assert "T002" in d.hint
    assert result.ok


def test_no_tx109_for_a_done_dependency() -> None:
    text = "- [x] T001 Done\n- [ ] T002 Next (depends on T001)\n"
    assert not only(check(text), "TX109")


def test_tx110_task_depends_on_itself() -> None:
    text = "- [ ] T001 Start\n- [ ] T002 Loop (depends on T001, T002)\n"
    result = check(text)
    (d,) = only(result, "TX110")
    assert d.severity is Severity.ERROR
    assert d.line == 2
    assert d.task_id == "T002"
    assert "T002 depends on itself" in d.message
    assert not only(result, "TX103")


def test_tx110_through_a_range() -> None:
    text = "- [ ] T001 A\n- [ ] T002 B\n- [ ] T003 C (depends on T001-T003)\n"
    result = check(text, "explicit")
    assert [d.code for d in result.errors] == ["TX110"]
    assert result.graph.explicit["T003"] == ["T001", "T002"]


def test_tx112_reversed_range() -> None:
    text = "- [ ] T001 A\n- [ ] T002 B\n- [ ] T003 C\n- [ ] T004 D (depends on T003-T001)\n"
    result = check(text, "explicit")
    (d,) = only(result, "TX112")
    assert d.severity is Severity.ERROR
    assert d.line == 4
    assert d.task_id == "T004"
    assert "bad dependency range T003-T001" in d.message
    assert d.hint is not None
    assert "lower ID first" in d.hint
    assert result.graph.explicit["T004"] == []


def test_tx112_range_mixing_prefixes() -> None:
    text = "- [ ] T-C001 A\n- [ ] T003 B\n- [ ] T004 C (depends on T-C001-T003)\n"
    result = check(text, "explicit")
    (d,) = only(result, "TX112")
    assert d.line == 3
    assert "T-C001-T003" in d.message
    assert d.hint is not None
    assert "same prefix" in d.hint


# --- everything at once ------------------------------------------------------------------------

MANY_PROBLEMS = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Create the project
      - taskexec: timout=5m
    - [ ] T001 Create it again
    - [ ] T002 Depends on a ghost (depends on T099)
    - [ ] T003 Self (depends on T003)
    - [ ] T004 Reversed range (depends on T003-T001)
    - [ ] T005 Two actions
      - taskexec: run=true
      ~~~bash
      true
      ~~~
    - [ ] T006 A (depends on T007)
    - [ ] T007 B (depends on T006)
    - [ ] T008 [P] Edit src/app.py
    - [ ] T009 [P] Edit src/app.py too
    - [ ] T010 Config
      ~~~yaml
      a: 1
      ~~~
    """
)


def test_all_problems_are_collected_in_one_pass(tmp_path: Path) -> None:
    path = write(tmp_path, MANY_PROBLEMS)
    result = taskexec_nb.validate(path, mode="explicit")
    by_code = {d.code: d for d in result.diagnostics}
    assert set(by_code) == {
        "TX101",
        "TX102",
        "TX103",
        "TX104",
        "TX105",
        "TX106",
        "TX107",
        "TX108",
        "TX110",
        "TX112",
    }
    assert by_code["TX107"].line == line_of(MANY_PROBLEMS, "timout")
    assert by_code["TX101"].line == line_of(MANY_PROBLEMS, "again")
    assert by_code["TX102"].line == line_of(MANY_PROBLEMS, "ghost")
    assert by_code["TX110"].line == line_of(MANY_PROBLEMS, "Self")
    assert by_code["TX112"].line == line_of(MANY_PROBLEMS, "Reversed")
    assert by_code["TX108"].task_id == "T005"
    assert "T006 → T007 → T006" in by_code["TX103"].message
    assert by_code["TX104"].line == line_of(MANY_PROBLEMS, "T009")
    assert by_code["TX106"].line == line_of(MANY_PROBLEMS, FENCE + "yaml")
    assert all(d.file == str(path) for d in result.diagnostics)
    # Sorted by line.
    lines = [d.line or 0 for d in result.diagnostics]
    assert lines == sorted(lines)
    # Errors and warnings partition the diagnostics.
    assert {d.code for d in result.warnings} == {"TX104", "TX105", "TX106"}
    assert len(result.errors) + len(result.warnings) == len(result.diagnostics)
    assert not result.ok


def test_load_raises_validation_error_listing_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, MANY_PROBLEMS)
    with pytest.raises(taskexec_nb.ValidationError) as info:
        taskexec_nb.load(path, mode="explicit")
    exc = info.value
    assert isinstance(exc, taskexec_nb.TaskexecError)
    expected = taskexec_nb.validate(path, mode="explicit")
    assert exc.diagnostics == expected.diagnostics
    assert exc.errors == expected.errors
    assert {d.code for d in exc.errors} == {
        "TX101",
        "TX102",
        "TX103",
        "TX107",
        "TX108",
        "TX110",
        "TX112",
    }
    assert all(d.is_error for d in exc.errors)
    text = str(exc)
    assert text.startswith(f"{len(exc.errors)} error(s)")
    for d in exc.errors:
        assert f"{path}:{d.line}: error {d.code}: {d.message}" in text
    # Warnings are kept in .diagnostics but are not in the message.
    assert "TX105" in [d.code for d in exc.diagnostics]
    assert "warning" not in text


def test_loads_names_the_given_path() -> None:
    with pytest.raises(taskexec_nb.ValidationError, match=r"specs/x/tasks\.md:2: error TX110"):
        taskexec_nb.loads("- [ ] T001 A\n- [ ] T002 B (after T002)\n", path="specs/x/tasks.md")


# --- the Validation object ---------------------------------------------------------------------


def test_validation_properties_with_warnings_only() -> None:
    text = "- [ ] T001 A\n- [ ] T002 B\n  ~~~yaml\n  a: 1\n  ~~~\n".replace("~~~", FENCE)
    result = check(text, "stories")
    assert result.ok
    assert result.errors == ()
    assert {d.code for d in result.warnings} == {"TX105", "TX106"}
    assert result.mode is taskexec_nb.DependencyMode.STORIES
    assert result.taskfile.ids == ("T001", "T002")
    assert result.graph.deps["T002"] == ["T001"]


def test_validation_properties_clean() -> None:
    result = check("- [ ] T001 A\n  - taskexec: run=true\n")
    assert result.ok
    assert result.diagnostics == ()
    assert result.errors == ()
    assert result.warnings == ()


def test_validation_properties_with_errors() -> None:
    result = check("- [ ] T001 A (depends on T404)\n")
    assert not result.ok
    assert [d.code for d in result.errors] == ["TX102"]
    assert [d.code for d in result.warnings] == ["TX105"]


def test_unknown_mode_is_a_usage_error() -> None:
    with pytest.raises(taskexec_nb.UsageError, match="unknown dependency mode 'bogus'"):
        check("- [ ] T001 A\n", "bogus")


def test_diagnostic_format_and_dict() -> None:
    d = Diagnostic("TX102", Severity.ERROR, "bad", "f.md", 3, "fix it", "T001")
    assert d.format() == "f.md:3: error TX102: bad\n    hint: fix it"
    assert d.is_error
    assert d.to_dict() == {
        "code": "TX102",
        "severity": "error",
        "message": "bad",
        "file": "f.md",
        "line": 3,
        "hint": "fix it",
        "task_id": "T001",
    }
    w = Diagnostic("TX003", Severity.WARNING, "meh", "f.md")
    assert w.format() == "f.md: warning TX003: meh"
    assert not w.is_error


def problems(text: str, code: str) -> list[taskexec_nb.Diagnostic]:
    plan_or_error: list[taskexec_nb.Diagnostic] = []
    try:
        plan = taskexec_nb.loads(text, path="tasks.md")
        plan_or_error = list(plan.diagnostics)
    except taskexec_nb.ValidationError as exc:
        plan_or_error = list(exc.diagnostics)
    return [d for d in plan_or_error if d.code == code]


def test_an_unknown_executor_is_an_error_with_a_did_you_mean() -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 A
          - taskexec: run="true" executor=shel
        - [ ] T002 B
          - taskexec: executor=frobnicator
        """
    )
    with pytest.raises(taskexec_nb.ValidationError) as info:
        taskexec_nb.loads(text, path="tasks.md")
    first, second = info.value.errors
    assert (first.code, first.line, first.task_id) == ("TX107", 4, "T001")
    assert first.message.startswith("T001: executor=shel is not an executor here (known: ")
    assert first.hint == "did you mean executor=shell?"
    assert (second.line, second.task_id) == (6, "T002")
    assert second.hint == "install the plugin that provides it, or use a known one"
    for name in BUILTIN_NAMES:
        assert name in second.message


def test_the_builtin_executor_names_are_the_registrys() -> None:
    from taskexec_nb.executors import ExecutorRegistry

    assert set(BUILTIN_NAMES) <= set(ExecutorRegistry().names())


def test_executor_notebook_needs_a_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text('## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run="true" executor=notebook\n')
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr()
    shown = err.out + err.err
    assert "T001: executor=notebook runs a notebook, and the task names none" in shown
    assert "add notebook=PATH.ipynb to its taskexec: line" in shown


def test_a_task_with_an_explicit_executor_is_not_a_task_without_action() -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 For the agent
          - taskexec: executor=agent
        - [ ] T002 For a registered function
          - taskexec: executor=callable
        - [ ] T003 Nothing to do
        """
    )
    (d,) = problems(text, "TX105")
    assert d.message.startswith("1 task(s) have no action: T003 (line 7)")


@pytest.mark.parametrize("value", ["0", "0s", "0m"])
def test_a_zero_timeout_annotation_is_refused(value: str) -> None:
    text = f'## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run="true" timeout={value}\n'
    (d,) = problems(text, "TX107")
    assert f"timeout={value} is no time to run" in d.message
    assert d.hint == "give a time above 0, or leave timeout out"


AGENT = md(
    """\
    ## Phase 1: X

    - [ ] T001 Think hard
      - taskexec: executor=agent
    - [ ] T002 Nothing to do
    """
)


def test_agent_tasks_without_agent_command_are_named_with_the_right_advice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(AGENT)
    plan = taskexec_nb.load(path)
    with pytest.raises(UsageError) as info:
        plan.run(no_action="skip", state_dir=tmp_path / "state")
    message = str(info.value)
    assert "no agent_command is set, but T001 set executor=agent" in message
    assert "no_action" not in message  # the policy does not decide for T001
    with pytest.raises(UsageError) as info:
        plan.run(no_action="agent", state_dir=tmp_path / "state")
    message = str(info.value)
    assert "T001 set executor=agent; T002 has no action and no_action=agent" in message
    assert "give the tasks without an action no_action=skip" in message


def test_an_agent_program_that_is_not_there_is_refused_even_by_a_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(AGENT)
    (tmp_path / ".git").mkdir()
    missing = "taskexec-no-such-agent"
    for extra in (["--dry-run"], []):
        argv = ["run", str(path), "--agent-command", f"{missing} --prompt {{prompt}}", *extra]
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"agent_command: '{missing}' is not on PATH, and T001, T002 would go to" in err
    assert "[ ] T001" in path.read_text()
    # A full path to a real program is fine (the dry run lists the task).
    argv = ["run", str(path), "--dry-run", "--agent-command", f"{sys.executable} -c pass"]
    assert main(argv) == 0
    assert "T001" in capsys.readouterr().out


def test_a_validation_shows_itself_as_a_short_text_and_a_table(corpus: Path) -> None:
    path = max(corpus.glob("*.md"), key=lambda p: p.stat().st_size)  # the longest real file
    result = taskexec_nb.validate(path)
    text = repr(result)
    assert len(text) < 5_000  # it was the dataclass's repr: the whole file, 170,000 characters
    assert text.startswith(f"<Validation of {path}: {len(result.taskfile.tasks)} task(s)")
    assert all(d.format() in text for d in result.diagnostics[:5])
    page = result._repr_html_()
    assert page.startswith('<div class="taskexec-validation">') and len(page) < 50_000
    assert page.count("<tr>") == len(result.diagnostics) + 1  # the head and one per diagnostic
    frame = result.to_frame()
    assert len(frame) == len(result.diagnostics)
    assert list(frame["code"]) == [d.code for d in result.diagnostics]
    assert result.diagnostics.to_frame().equals(frame)


def test_a_long_list_of_diagnostics_shows_its_first_rows_and_says_how_many_more() -> None:
    text = "## Phase 1: X\n" + "".join(
        f"- [ ] T{n:03d} Step (depends on T9{n:02d})\n" for n in range(1, 260)
    )
    result = validate_taskfile(parse_text(text, "long.md"))
    n = len(result.diagnostics)
    assert n > 250 and len(only(result, "TX102")) == 259
    page = result.diagnostics._repr_html_()
    assert page.count("<tr>") == 201 and f"… {n - 200} more (to_frame() has them all)" in page
    assert f"… {n - 200} more" in repr(result.diagnostics)
    assert len(result.diagnostics.to_frame()) == n
    empty = taskexec_nb.loads('## Phase 1: X\n- [ ] T001 Go\n  - taskexec: run="true"\n')
    assert empty.diagnostics._repr_html_() == (
        '<p class="taskexec-diagnostics">Diagnostics: no diagnostics</p>'
    )
