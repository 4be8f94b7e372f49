"""Selection: the tasks a run is asked to run (IDs, stories, phases, --from/--until)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import md
from helpers import (
    COUNTED_TASKS,
    MARK,
    counts,
    linux_only,
    opened_store,
    ran,
    write_md,
    write_tasks,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.cli import main
from taskexec_nb.events import RunStatus

SELECTION = f"""## Phase 1: Setup

- [ ] T001 Set up
{MARK}
## Phase 3: User Story 1 - One (Priority: P1)

- [ ] T002 [US1] First of one
{MARK}- [ ] T003 [US1] Second of one
{MARK}
## Phase 4: User Story 2 - Two (Priority: P2)

- [ ] T004 [US2] Two
{MARK}
## Phase 5: Polish

- [ ] T005 Polish
{MARK}"""


@linux_only
@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"only": "US1"}, ["T002", "T003"]),
        ({"only": ["T003"]}, ["T003"]),
        ({"only": "T001,US2"}, ["T001", "T004"]),
        ({"only": "phase:5"}, ["T005"]),
        ({"only": 'phase:"Polish"'}, ["T005"]),  # quotes a shell did not take off
        ({"only": "phase: 'User Story 2 - Two (Priority: P2)'"}, ["T004"]),
        ({"from_task": "T003"}, ["T003", "T004", "T005"]),
        ({"until": "T002"}, ["T001", "T002"]),
        ({"from_task": "T002", "until": "T004"}, ["T002", "T003", "T004"]),
        ({"from_task": "T002", "only": "US2"}, ["T004"]),
    ],
)
def test_selection_runs_exactly_the_chosen_tasks(
    tmp_path: Path, kwargs: dict[str, Any], expected: list[str]
) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, SELECTION))
    handle = plan.run(writeback=False, state_dir=tmp_path / "state", **kwargs)
    assert handle.result is RunStatus.COMPLETED
    assert handle.selection == expected
    assert ran(tmp_path) == set(expected)
    assert [row["id"] for row in handle.snapshot()] == expected
    with opened_store(tmp_path) as store:
        assert [r.task_id for r in store.tasks(handle.run_id)] == expected


@linux_only
@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"only": "T0003"}, r"only='T0003': matches no task \(did you mean T003\?\)"),
        ({"only": ["US1", "US9"]}, r"only='US9': matches no task"),
        ({"from_task": "T0002"}, r"from_task='T0002': matches no task \(did you mean T002\?\)"),
        ({"until": "T999"}, r"until='T999': matches no task"),
        ({"max_wrokers": 2}, r"'max_wrokers' \(did you mean 'max_workers'\?\)"),
    ],
)
def test_unknown_selectors_are_usage_errors(
    tmp_path: Path, kwargs: dict[str, Any], pattern: str
) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, SELECTION))
    with pytest.raises(UsageError, match=pattern):
        plan.run(state_dir=tmp_path / "state", **kwargs)
    assert ran(tmp_path) == set()


@pytest.mark.parametrize(
    ("selector", "meant"),
    [("T4", "T004"), ("t04", "T004"), ("T14", "T014"), ("us1", "US1"), ("US01", "US1")],
)
def test_a_selector_written_without_its_zeros_or_case_suggests_that_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], selector: str, meant: str
) -> None:
    # T4 is T004 (not T014, which spells closer), us1 is US1.
    ids = ["T001", "T004", "T010", "T014", "T040"]
    lines = [f"- [ ] {i} [US1] Step {i}\n" if i == "T001" else f"- [ ] {i} Step\n" for i in ids]
    path = tmp_path / "tasks.md"
    path.write_text("## Phase 1: X\n\n" + "".join(lines), encoding="utf-8")
    assert main(["run", str(path), "--only", selector, "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"--only {selector}: matches no task (did you mean {meant}?)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "T004", "--until", "T002"], "--from T004 comes after --until T002"),
        (["--from", "US9"], "--from US9: matches no task"),
        (["--until", "phase:7"], "--until phase:7: no such phase; the phases are phase:1, phase:2"),
        (["--only", ""], "--only: the selection is empty"),
        (["--only", " , "], "--only: the selection is empty"),
        (
            ["--from", "T003", "--only", "T001"],
            "--only T001 selects no task within --from T003 (T003 to T004 in run order)",
        ),
        (
            ["--from", "T002", "--until", "T003", "--only", "T004,US1x"],
            "--only US1x: matches no task (did you mean US1?)",
        ),
        (
            ["--until", "T002", "--only", "US2,T004"],
            "--only US2,T004 selects no task within --until T002 (T001 to T002 in run order)",
        ),
    ],
)
def test_bad_selections_name_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path), *args]) == 2
    assert message in capsys.readouterr().err
    assert counts(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"from_task": "US2"}, ["T003", "T004"]),
        ({"from_task": "US1", "until": "US1"}, ["T002"]),
        ({"until": "phase:1"}, ["T001", "T002", "T003"]),
        ({"from_task": "phase:2"}, ["T004"]),
    ],
)
def test_from_and_until_take_stories_and_phases(
    tmp_path: Path, kwargs: dict[str, str], expected: list[str]
) -> None:
    from taskexec_nb.run.selection import select_tasks

    plan = taskexec_nb.load(write_tasks(tmp_path))
    assert select_tasks(plan, **kwargs) == expected


def test_from_and_until_keep_the_place_of_done_tasks(tmp_path: Path) -> None:
    from taskexec_nb.run.selection import select_tasks

    text = COUNTED_TASKS.replace("- [ ] T001", "- [X] T001").replace("- [ ] T002", "- [X] T002")
    plan = taskexec_nb.load(write_tasks(tmp_path, text))
    assert select_tasks(plan, from_task="T001") == ["T003", "T004"]
    assert select_tasks(plan, from_task="US1") == ["T003", "T004"]  # US1 is all done
    assert select_tasks(plan, until="US1") == []  # as --only US1: nothing left there
    assert select_tasks(plan, only=["US1"]) == []
    assert select_tasks(plan, from_task="T001", only=["US1"]) == []  # in range, but done
    with pytest.raises(UsageError, match="--from T003 comes after --until US1"):
        select_tasks(plan, from_task="T003", until="US1")


SUBPHASES = md(
    "# Tasks\n\n## Phase 3: User Story 1\n\n- [ ] T001 [US1] A\n"
    "\n## Phase 3.1: Tests first\n\n- [ ] T002 [US1] B\n"
    "\n## Phase 3.2: Core\n\n- [ ] T003 [US1] C\n"
    "\n## Phase 3b: Extras\n\n- [ ] T006 [US1] F\n"
    "\n## Phase 30: Later\n\n- [ ] T004 D\n"
    "\n## Phase 7: Polish & Cross-Cutting Concerns\n\n- [ ] T005 E\n"
)


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ("phase:3", ["T001", "T002", "T003", "T006"]),  # with its sub-phases, not phase 30
        ("phase:3B", ["T006"]),
        ("phase:3.1", ["T002"]),
        ("phase:30", ["T004"]),
        ("phase:polish", ["T005"]),  # by kind
        ("phase:Polish & Cross-Cutting Concerns", ["T005"]),  # or by title
        ("phase:core", ["T003"]),
    ],
)
def test_phases_by_number_with_sub_phases_or_by_title(
    tmp_path: Path, only: str, expected: list[str]
) -> None:
    from taskexec_nb.run.selection import select_tasks

    plan = taskexec_nb.load(write_tasks(tmp_path, SUBPHASES))
    assert select_tasks(plan, only=[only]) == expected


def test_an_unknown_phase_lists_the_phases(tmp_path: Path) -> None:
    from taskexec_nb.run.selection import select_tasks

    plan = taskexec_nb.load(write_tasks(tmp_path, SUBPHASES))
    with pytest.raises(UsageError) as info:
        select_tasks(plan, only=["phase:4"])
    assert str(info.value) == (
        "--only phase:4: no such phase; the phases are phase:3, phase:3.1, phase:3.2, "
        "phase:3b, phase:30, phase:7"
    )


def test_dry_run_waves_are_those_of_the_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path), "--only", "T002,T003", "-j", "1"]) == 1  # T003 fails
    capsys.readouterr()
    assert main(["run", str(path), "--resume", "--dry-run"]) == 0
    out = capsys.readouterr().out
    # T003 waits on nothing the resume runs: it is in the first wave, not behind T001/T002.
    assert out.split("wave 0:")[1].split()[0] == "T003" and "wave 1:" not in out
