"""Resume, selection, status and stopping, through the CLI and the API (review fixes).

Real runs on real files: a runner in a subprocess for "still running", the state
store on disk for everything a resume reads back.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from conftest import md
from helpers import (
    COUNTED_TASKS,
    SLOW_TASK,
    _set_runner,
    _sigkilled_runner,
    counts,
    latest_run,
    spawn_cli,
    wait_running,
    wait_until,
    write_tasks,
)

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.config import find_config
from taskexec_nb.errors import UsageError
from taskexec_nb.events import Event, EventKind
from taskexec_nb.store import StateStore
from taskexec_nb.terminal import TerminalView

# -- what a resume may continue ------------------------------------------------------------


def test_resume_of_an_ended_run_is_refused_while_a_newer_run_runs_its_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gated = SLOW_TASK.replace("echo started; sleep 30", "test -e go && sleep 30")
    path = write_tasks(tmp_path, gated)
    assert main(["run", str(path)]) == 1  # run A fails: no go file
    ended = latest_run(tmp_path)["run_id"]
    capsys.readouterr()
    (tmp_path / "go").touch()
    proc = spawn_cli("run", str(path))  # run B runs T001 again
    try:
        wait_running(tmp_path)
        live = latest_run(tmp_path)
        assert live["run_id"] != ended
        for dry in ([], ["--dry-run"]):
            assert main(["run", str(path), "--resume", str(ended), *dry]) == 2
            err = capsys.readouterr().err
            assert f"run {live['run_id']} of {path.resolve()} is still running" in err
            assert "would run them twice" in err and "T001" in err
        with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
            assert store.run(str(ended))["status"] == "failed"  # left as it was
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    (tmp_path / "go").unlink()
    path.write_text(gated.replace("test -e go && sleep 30", "true"))
    assert main(["run", str(path), "--resume", str(ended)]) == 0  # free again

def test_resume_of_a_run_whose_runner_is_alive_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, SLOW_TASK)
    proc = spawn_cli("run", str(path))
    try:
        wait_running(tmp_path)
        run = latest_run(tmp_path)
        assert run["status"] == "running"
        assert main(["run", str(path), "--resume"]) == 2
        err = capsys.readouterr().err
        assert f"run {run['run_id']} is still running (runner pid {proc.pid})" in err
        # The dry run of the same resume is refused the same way.
        assert main(["run", str(path), "--resume", str(run["run_id"]), "--dry-run"]) == 2
        assert "is still running" in capsys.readouterr().err
        # And so are a new run and its dry run, which would run the same task twice.
        for dry in ([], ["--dry-run"]):
            assert main(["run", str(path), *dry]) == 2
            assert "would run them twice" in capsys.readouterr().err
        assert proc.poll() is None  # the refusal did not disturb the running runner
        # The API refuses too, by run ID and as "the latest run".
        plan = taskexec_nb.load(path)
        for resume in (str(run["run_id"]), True):
            with pytest.raises(UsageError, match="is still running"):
                plan.run(resume=resume)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 130
    # Once its runner has stopped, the same run resumes.
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume"]) == 0
    assert latest_run(tmp_path)["status"] == "completed"


def test_a_run_claimed_by_another_runner_is_not_reopened(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    handle = taskexec_nb.load(path).run(max_workers=1)
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        assert store.reopen_run(handle.run_id, {}, []) is True  # this process claims it
        assert store.run(handle.run_id)["status"] == "running"
        assert store.reopen_run(handle.run_id, {}, []) is False  # a second claim fails
        assert store.run(handle.run_id)["pid"] == os.getpid()


def test_resume_of_a_run_of_another_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_tasks(tmp_path)
    other = write_tasks(tmp_path, name="other.md")
    assert main(["run", str(first)]) == 1  # T003 fails
    run_id = str(latest_run(tmp_path)["run_id"])
    assert main(["run", str(other), "--resume", run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id} ran {first.resolve()}, not {other.resolve()}" in err
    with pytest.raises(UsageError, match=f"run {run_id} ran "):
        taskexec_nb.load(other).run(resume=run_id)
    # "The latest run" of the other file: there is none.
    assert main(["run", str(other), "--resume"]) == 2
    assert "no earlier run of" in capsys.readouterr().err
    assert counts(tmp_path).count("T001") == 1  # nothing ran again


def test_resume_runs_the_runs_own_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path), "--only", "T001,T003"]) == 1
    assert counts(tmp_path) == ["T001"]
    # Selectors do not mix with a resume: the run keeps its own.
    assert main(["run", str(path), "--resume", "--only", "T002"]) == 2
    assert "leave out --only" in capsys.readouterr().err
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--resume"]) == 0
    # Only T003 ran: T001 was done, and T002 and T004 were never selected.
    assert counts(tmp_path) == ["T001", "T003"]
    out = capsys.readouterr()
    assert "1 task(s)" in out.err and "1/1 finished: 1 ok" in out.err  # the resumed counts
    assert "[X] T003" in path.read_text() and "[ ] T002" in path.read_text()


def test_api_resume_true_is_the_latest_run_and_keeps_its_selection(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(only="T003")
    assert first.result.value == "failed"
    with pytest.raises(UsageError, match="leave out only=, from_task= and until="):
        taskexec_nb.load(path).run(resume=True, only="T001")
    with pytest.raises(UsageError, match="resume must be a run ID, True"):
        taskexec_nb.load(path).run(resume=5)
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume="latest")
    assert again.run_id == first.run_id and again.result.value == "completed"
    assert again.selection == ["T003"]
    assert counts(tmp_path) == ["T003"]


def test_resume_keeps_the_runs_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path), "--mode", "stories"]) == 1
    assert latest_run(tmp_path)["mode"] == "stories"
    assert main(["run", str(path), "--resume", "--mode", "template"]) == 2
    assert "a resume keeps its run's mode" in capsys.readouterr().err
    with pytest.raises(UsageError, match="used dependency mode 'stories'"):
        taskexec_nb.load(path, mode="template").run(resume=True)
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--resume"]) == 0  # loads the plan in stories mode
    assert latest_run(tmp_path)["mode"] == "stories"


def test_resume_notes_tasks_gone_or_ticked_by_hand(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)  # T003 fails, T004 is skipped
    text = path.read_text().replace("- [ ] T004", "- [X] T004")
    path.write_text(text.replace("T002 [US1]", "T012 [US1]"))  # T002 renamed
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id)
    assert again.selection == ["T003"]
    assert any("selected T002, no longer in" in n for n in again.notices)
    assert any("T004 is marked done in" in n for n in again.notices)
    assert counts(tmp_path).count("T004") == 0


# -- dry runs ---------------------------------------------------------------------------------


def test_dry_run_of_a_resume_lists_what_is_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    run_id = latest_run(tmp_path)["run_id"]
    capsys.readouterr()
    assert main(["run", str(path), "--resume", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"resume of run {run_id}: 2 task(s) would run" in out
    listed = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    assert listed == ["T003", "T004"]
    assert counts(tmp_path) == ["T001", "T002"]  # nothing ran
    assert latest_run(tmp_path)["status"] == "failed"  # nor was anything recorded


def test_dry_run_checks_resources_like_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path, "## Phase 1: X\n\n- [ ] T001 Train\n  - taskexec: run=true needs=gpu:1\n"
    )
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "T001 needs gpu=1 but the run has gpu=0" in err
    assert "--resource gpu=1" in err and "resources={'gpu': 1}" in err
    assert not (tmp_path / ".taskexec").exists()
    assert main(["run", str(path), "--dry-run", "--resource", "gpu=1"]) == 0


# -- selection --------------------------------------------------------------------------------


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


# -- the tasks file argument ------------------------------------------------------------------


def test_what_is_not_a_tasks_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    expected = {
        "folder": "is a folder",
        "fifo": "not a regular file",
        "loop1": "Too many levels of symbolic links",
        "dangling": "no such file (a broken symbolic link)",
        "missing": "no such file",
    }
    for name, message in expected.items():
        assert main(["run", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path / name}: {message}" in err, err
        assert "Traceback" not in err
    # The config search copes with a symlink loop too (the API reaches it directly).
    assert find_config(tmp_path / "loop1") is None


def test_timeout_takes_units(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_tasks(tmp_path, '## Phase 1: X\n\n- [ ] T001 Slow\n  - taskexec: run="sleep 20"\n')
    with pytest.raises(SystemExit) as info:
        main(["run", str(path), "--timeout", "5x"])
    assert info.value.code == 2
    assert "'5x' is not a duration" in capsys.readouterr().err
    started = time.monotonic()
    assert main(["run", str(path), "--timeout", "500ms"]) == 1
    assert time.monotonic() - started < 15  # half a second, not 500 minutes or 20 s
    assert "TIMED OUT T001" in capsys.readouterr().err


# -- what the run shows -----------------------------------------------------------------------


def test_an_allowed_failure_is_marked_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path,
        '## Phase 1: X\n\n- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n',
    )
    assert main(["run", str(path)]) == 0
    err = capsys.readouterr().err
    assert "failed (allowed) T001: exit code 3" in err
    assert "1/1 finished: 1 failed (allowed)" in err
    assert "FAILED" not in err


def test_an_allowed_failure_stays_marked_in_the_store_and_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path,
        "## Phase 1: X\n\n"
        '- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n'
        '- [ ] T002 Broken\n  - taskexec: run="exit 4"\n'
        '- [ ] T003 Fine\n  - taskexec: run="true"\n',
    )
    handle = taskexec_nb.load(path, mode="explicit").run()
    frame = handle.status().set_index("id")
    assert frame["allowed"].to_dict() == {"T001": True, "T002": False, "T003": False}
    assert list(frame["status"]) == ["failed", "failed", "completed"]  # filters still work
    assert "1 failed (allowed)" in repr(handle)
    state = str(tmp_path / ".taskexec")
    capsys.readouterr()
    assert main(["status", "--state-dir", state]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["T001"].split()[1:3] == ["failed", "(allowed)"]
    assert rows["T002"].split()[1:3] == ["failed", "1"]
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)[0]["counts"]
    assert counts == {"completed": 1, "failed": 1, "failed (allowed)": 1}
    report = handle.report()
    assert report.tasks.set_index("id")["allowed"].to_dict() == frame["allowed"].to_dict()
    assert report.summary["allowed_failures"] == 1
    assert "**T001** failed (allowed): attempt 1: exit code 3" in report.to_markdown()
    assert "1 completed, 2 failed (1 allowed)" in report.to_markdown()
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    cases = {c.get("name", "").split()[0]: c for c in suite.iter("testcase")}
    skipped = cases["T001"].find("skipped")
    assert skipped is not None and skipped.get("message") == (
        "failed (allowed): attempt 1: exit code 3"
    )
    assert cases["T002"].find("failure") is not None
    page = report.to_html()
    assert page is not None and page.count("<td>failed (allowed)</td>") == 2  # both tables
    # A resume runs the failures again: the mark goes with the old result.
    path.write_text(path.read_text().replace('run="exit 3"', 'run="true"'))
    again = taskexec_nb.load(path, mode="explicit").run(resume=True)
    assert again.status().set_index("id")["allowed"].to_dict()["T001"] is False
    assert again.report().tasks.set_index("id")["allowed"].to_dict()["T001"] is False


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_line_fits_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    view = TerminalView(_Tty(), total=3, rate=100)
    view(Event(EventKind.RUN_STARTED, "R1", data={"tasks": 12}))
    assert view.total == 12  # the run's own count, e.g. after a resume
    for n in range(6):
        view(Event(EventKind.TASK_STARTED, "R1", f"T{n:03d}", 1))
    line = view.status_line()
    assert len(line) == 39 and line.endswith("...")
    monkeypatch.setenv("COLUMNS", "300")
    assert not view.status_line().endswith("...")
    assert "running: T000" in view.status_line()
    view(Event(EventKind.RUN_FINISHED, "R1", status="cancelled"))


def test_heading_tasks_get_a_notice_that_they_are_not_ticked(tmp_path: Path) -> None:
    text = "## Phase 1: X\n\n### T001 — A heading task\n\n  - taskexec: run=true\n"
    path = write_tasks(tmp_path, text)
    handle = taskexec_nb.load(path).run()
    assert handle.result.value == "completed"
    assert any("T001: written as headings, not checkboxes" in n for n in handle.notices)
    assert path.read_text() == text
    quiet = taskexec_nb.load(path).run(writeback=False)
    assert not any("headings" in n for n in quiet.notices)


def test_table_row_tasks_are_named_as_table_rows_in_that_notice(tmp_path: Path) -> None:
    fixture = Path(__file__).parent / "fixtures" / "heading_and_table_tasks.md"
    path = write_tasks(tmp_path, fixture.read_text())
    handle = taskexec_nb.load(path).run(no_action="skip")
    notes = [n for n in handle.notices if "not checkboxes" in n]
    assert len(notes) == 1
    assert notes[0].startswith(
        "T001, T002, T003, T004: written as headings and table rows, not checkboxes"
    )
    tables = taskexec_nb.load(path).run(no_action="skip", only=["T004"])
    assert any(n.startswith("T004: written as table rows, not") for n in tables.notices)


def test_a_second_run_of_one_plan_does_not_rerun_what_the_first_ticked(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    plan = taskexec_nb.load(path)
    first = plan.run(max_workers=1)
    assert counts(tmp_path) == ["T001", "T002"]
    frame = plan.to_frame().set_index("id")
    assert frame.loc["T001", "status"] == "done" and frame.loc["T003", "status"] == "pending"
    (tmp_path / "fixed").touch()
    second = plan.run(max_workers=1)
    assert second.run_id != first.run_id
    assert second.selection == ["T003", "T004"]
    assert counts(tmp_path) == ["T001", "T002", "T003", "T004"]
    assert plan.to_run == ()
    assert not any("nothing to run" in n for n in first.notices + second.notices)
    third = plan.run(max_workers=1)
    assert third.selection == [] and counts(tmp_path) == ["T001", "T002", "T003", "T004"]
    assert f"nothing to run in {path}: the selected tasks are done (ticked)" in third.notices[0]


def test_a_resumed_run_row_keeps_its_first_selection(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(only=["T003", "T004"])
    (tmp_path / "fixed").touch()
    taskexec_nb.load(path).run(resume=first.run_id)
    db = sqlite3.connect(tmp_path / ".taskexec" / "state.db")
    try:
        (selection,) = db.execute(
            "SELECT selection FROM runs WHERE run_id = ?", (first.run_id,)
        ).fetchone()
    finally:
        db.close()
    assert json.loads(selection) == ["T003", "T004"]


# -- status, runs and stopping ----------------------------------------------------------------


def test_runs_and_status_tell_a_dead_runner_from_a_live_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, run_id = _sigkilled_runner(tmp_path)
    state = str(tmp_path / ".taskexec")
    assert main(["runs", "--state-dir", state]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(run_id)]
    assert row and row[0].split()[1] == "interrupted"
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["status"] == "interrupted" and doc["recorded_status"] == "running"
    assert doc["runner_alive"] is False
    assert main(["status", "--state-dir", state]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert (
        f"its runner is gone: resume it with taskexec run {path.resolve()} --resume {run_id}"
        in first
    )
    # The hint is true: the run resumes (the sweep ends the orphaned sleep first).
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume", run_id]) == 0


def test_reports_of_a_dead_runners_run_read_as_status_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_id = _sigkilled_runner(tmp_path)
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state, "--json"]) == 0
    shown = {t["task_id"]: t["status"] for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert shown == {"T001": "interrupted"}
    assert main(["report", "--state-dir", state, "--format", "md"]) == 0
    text = capsys.readouterr().out
    assert f"# Run {run_id}: interrupted" in text
    assert "- Tasks: 1; 1 interrupted" in text
    assert "| T001 | Phase 1: X |  | interrupted |" in text
    assert main(["report", "--state-dir", state, "--format", "junit"]) == 0
    case = ET.fromstring(capsys.readouterr().out).find(".//testcase")
    assert case is not None
    assert [(c.tag, c.get("message")) for c in case] == [("skipped", "interrupted")]
    assert main(["report", "--state-dir", state, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["id"], r["status"]) for r in rows] == [("T001", "interrupted")]


def test_a_resumed_runs_wall_time_leaves_out_the_wait_before_the_resume(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)  # T003 fails until ./fixed exists
    plan = taskexec_nb.load(path)
    start = time.perf_counter()
    first = plan.run(max_workers=1)
    first_took = time.perf_counter() - start
    assert first.result is not None and first.result.value == "failed"
    time.sleep(2.0)  # the run sits failed, then is resumed
    (tmp_path / "fixed").touch()
    start = time.perf_counter()
    again = taskexec_nb.load(path).run(resume=True)
    second_took = time.perf_counter() - start
    summary = again.report().summary
    assert summary["status"] == "completed"
    assert 0 < summary["wall_time"] <= first_took + second_took  # not + 2 s
    assert summary["parallelism"] == pytest.approx(summary["task_time"] / summary["wall_time"])


def test_a_reused_runner_pid_does_not_keep_a_dead_run_alive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskexec_nb._procfs import process_identity, runner_alive

    path, run_id = _sigkilled_runner(tmp_path)
    me = process_identity(os.getpid())
    assert me is not None and me == process_identity(os.getpid())
    # The recorded pid now belongs to another process (here: this one).
    _set_runner(tmp_path, run_id, pid=os.getpid(), runner=me.rsplit(":", 1)[0] + ":1")
    assert runner_alive(latest_run(tmp_path)) is False
    assert main(["runs", "--state-dir", str(tmp_path / ".taskexec")]) == 0
    assert f"{run_id} interrupted" in " ".join(capsys.readouterr().out.split())
    _set_runner(tmp_path, run_id, runner=me)  # the very process: alive
    assert runner_alive(latest_run(tmp_path)) is True
    assert main(["run", str(path), "--resume", run_id]) == 2
    assert "is still running" in capsys.readouterr().err
    _set_runner(tmp_path, run_id, runner=me.rsplit(":", 1)[0] + ":1")
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume", run_id]) == 0
    assert latest_run(tmp_path)["status"] == "completed"


def test_a_run_on_another_host_is_not_judged_from_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, run_id = _sigkilled_runner(tmp_path)
    _set_runner(tmp_path, run_id, host="build-agent-7", pid=4242)
    state = str(tmp_path / ".taskexec")
    capsys.readouterr()
    assert main(["status", "--state-dir", state]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"run {run_id}: running" in first
    assert "(its runner, pid 4242, is on host build-agent-7: not checked here)" in first
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["status"] == "running" and doc["runner_alive"] is None
    assert main(["run", str(path), "--resume", run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id} is marked running by its runner on host build-agent-7" in err
    assert f"--resume {run_id} --takeover" in err
    with pytest.raises(UsageError, match="on host build-agent-7"):
        taskexec_nb.load(path).run(resume=run_id)
    # A new run here leaves it be (the sweep does not mark it interrupted).
    other = write_tasks(tmp_path, COUNTED_TASKS, name="other.md")
    (tmp_path / "fixed").touch()
    assert main(["run", str(other)]) == 0
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        assert store.run(run_id)["status"] == "running"
    assert main(["run", str(path), "--takeover"]) == 2
    assert "--takeover goes with --resume" in capsys.readouterr().err
    with pytest.raises(UsageError, match="takeover= goes with resume="):
        taskexec_nb.load(path).run(takeover=True)
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume", run_id, "--takeover"]) == 0
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        run = store.run(run_id)
        attempts = store.attempts(run_id)
    assert run["status"] == "completed" and run["pid"] == os.getpid()
    # The attempt the other host's runner left is closed, at its last recorded moment.
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, "cancelled"), (2, "completed")]
    assert attempts[0]["finished"] - attempts[0]["started"] < 1.0


def test_an_older_versions_runner_record_falls_back_to_the_pid() -> None:
    from taskexec_nb._procfs import process_identity, runner_alive

    me = process_identity(os.getpid())
    assert me is not None and me.split(":", 1)[0] == str(os.getpid())
    # An older taskexec resumed the run: a new pid, the identity of the one before.
    run = {"pid": os.getpid(), "host": socket.gethostname(), "runner": "1:boot:1"}
    assert runner_alive(run) is True
    assert runner_alive({**run, "runner": f"{os.getpid()}:boot:1"}) is False


def test_a_takeover_claims_only_the_run_as_it_was_seen(tmp_path: Path) -> None:
    _, run_id = _sigkilled_runner(tmp_path)
    _set_runner(tmp_path, run_id, host="build-agent-7", pid=4242)
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        seen = store.run(run_id)
        _set_runner(tmp_path, run_id, pid=4343)  # another takeover got there first
        assert not store.reopen_run(run_id, {}, [], takeover=seen)
        assert store.run(run_id)["pid"] == 4343
        assert store.reopen_run(run_id, {}, [], takeover=store.run(run_id))
        assert store.run(run_id)["pid"] == os.getpid()


def test_a_dead_runners_attempt_ends_when_it_was_last_seen(tmp_path: Path) -> None:
    path, run_id = _sigkilled_runner(tmp_path)
    time.sleep(1.5)  # the run sits dead before the resume finds it
    path.write_text(path.read_text().replace("sleep 30", "true"))
    handle = taskexec_nb.load(path).run(resume=run_id)
    report = handle.report()
    first = report.attempts.set_index(["id", "attempt"]).loc[("T001", 1)]
    assert first["status"] == "cancelled"
    assert first["duration"] < 1.0  # not the 1.5 s wait
    assert report.summary["task_time"] <= report.summary["wall_time"] + 0.01


def test_a_hand_ticked_allowed_failure_is_no_longer_allowed(tmp_path: Path) -> None:
    path = write_tasks(
        tmp_path,
        '## Phase 1: X\n\n- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n'
        '- [ ] T002 Broken\n  - taskexec: run="test -e fixed"\n',
    )
    assert taskexec_nb.load(path).run().result is not None
    path.write_text(path.read_text().replace("- [ ] T001", "- [x] T001"))
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=True)
    tasks = again.report().tasks.set_index("id")
    assert tasks.loc["T001", "status"] == "skipped" and not tasks.loc["T001", "allowed"]
    assert again.report().summary["allowed_failures"] == 0
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        assert store.runs()[0]["counts"] == {"completed": 1, "skipped": 1}


def test_an_older_store_learns_its_allowed_failures_from_the_events(tmp_path: Path) -> None:
    path = write_tasks(
        tmp_path,
        '## Phase 1: X\n\n- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n'
        '- [ ] T002 Broken\n  - taskexec: run="echo \'\\"allowed\\": true\'; exit 4"\n',
    )
    handle = taskexec_nb.load(path).run()
    db_path = tmp_path / ".taskexec" / "state.db"
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("ALTER TABLE tasks DROP COLUMN allowed")  # as version 2 left it
    with closing(StateStore(db_path)) as store:
        allowed = {t["task_id"]: t["allowed"] for t in store.tasks(handle.run_id)}
    assert allowed == {"T001": True, "T002": False}


def test_json_output_holds_json_not_json_strings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--only", "T001,T002", "-j", "1"]) == 0
    state = str(tmp_path / ".taskexec")
    capsys.readouterr()
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["selection"] == ["T001", "T002"]
    assert run["settings"]["max_workers"] == 1
    assert main(["status", "--state-dir", state, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["run"]["selection"] == ["T001", "T002"]
    deps = {t["task_id"]: t["deps"] for t in doc["tasks"]}
    assert deps["T001"] == [] and "T001" in deps["T002"]


def test_status_watch_json_prints_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    capsys.readouterr()
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state, "--watch", "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1  # the run has ended: one document, on one line
    doc = json.loads(lines[0])
    assert doc["run"]["status"] == "failed" and len(doc["tasks"]) == 4


def test_a_missing_working_folder_is_noted_before_and_said_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true cwd=nope\n")
    assert main(["run", str(path), "--dry-run"]) == 0
    folder = tmp_path / "nope"
    assert f"T001: its working folder {folder} does not exist (yet)" in capsys.readouterr().err
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    said = f"the working folder {folder} does not exist"
    assert err.count(said) == 1, err
    assert f"FAILED    T001: {said}" in err


def test_a_second_ctrl_c_kills_without_the_grace_period(tmp_path: Path) -> None:
    text = (
        "## Phase 1: X\n\n- [ ] T001 Stubborn\n"
        "  ~~~bash\n  trap '' TERM\n  echo $$ > pid\n  sleep 60\n  ~~~\n"
    )
    path = write_tasks(tmp_path, md(text))
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TASKEXEC_KILL_GRACE": "60"},
    )
    wait_until((tmp_path / "pid").exists, 30)
    pid = int((tmp_path / "pid").read_text())
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    assert proc.poll() is None  # the task ignores TERM: the runner waits out the grace
    assert os.path.exists(f"/proc/{pid}")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)  # not 60 s
    assert proc.returncode == 130, err
    assert not os.path.exists(f"/proc/{pid}")


def test_status_text_columns_mark_missing_values_one_way(tmp_path: Path) -> None:
    handle = taskexec_nb.load(write_tasks(tmp_path)).run(max_workers=1)
    frame = handle.status().set_index("id")
    for col in ("story", "waiting_on", "error"):
        assert str(frame[col].dtype) == "string"
    assert frame["error"].isna().tolist() == [True, True, False, False]
    assert frame.loc["T003", "error"] == "exit code 3"
    assert frame["waiting_on"].isna().all()
    assert frame["story"].isna().tolist() == [True, False, False, False]


# -- second review: nothing pending, foreign groups, symlinks, stale rows --------------------


def test_nothing_pending_is_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [X] T001 Done\n  - taskexec: run=true\n")
    assert main(["run", str(path)]) == 0
    assert "nothing to run in" in capsys.readouterr().err
    assert not (tmp_path / ".taskexec").exists()  # no empty run recorded
    assert main(["run", str(path), "--dry-run"]) == 0
    assert "0 task(s) would run" in capsys.readouterr().out
    assert main(["run", str(path), "--only", "T009"]) == 2  # a typo is still one
    assert "--only T009: matches no task (did you mean T001?)" in capsys.readouterr().err
    # The API: a plan whose every task its first run ticked runs nothing the second time.
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true\n")
    plan = taskexec_nb.load(path)
    assert plan.run().selection == ["T001"]
    again = plan.run()
    assert again.selection == [] and again.result.value == "completed"


def test_the_sweep_ends_only_groups_of_the_dead_run(tmp_path: Path) -> None:
    _path, run_id = _sigkilled_runner(tmp_path)
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        db = sqlite3.connect(tmp_path / ".taskexec" / "state.db")
        with db:  # as if the dead run's group number now belonged to someone else
            db.execute("UPDATE attempts SET pgid = ? WHERE run_id = ?", (stranger.pid, run_id))
        db.close()
        handle = taskexec_nb.load(write_tasks(tmp_path, COUNTED_TASKS, name="other.md")).run()
        assert handle.result.value == "failed"  # T003 fails: the run went on normally
        assert stranger.poll() is None  # the stranger was left alone
        assert not any("ended process group" in n for n in handle.notices)
        with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
            assert store.run(run_id)["status"] == "interrupted"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_real_leftover_group_of_the_dead_run_is_ended(tmp_path: Path) -> None:
    from taskexec_nb._procfs import end_process_group

    env = {**os.environ, "TASKEXEC_RUN_ID": "R-dead"}
    ours = subprocess.Popen(["sleep", "30"], start_new_session=True, env=env)
    try:
        assert end_process_group(ours.pid, "R-other") is False
        assert ours.poll() is None
        assert end_process_group(ours.pid, "R-dead") is True
        assert ours.wait(timeout=10) == -signal.SIGKILL
    finally:
        if ours.poll() is None:
            ours.kill()
    assert end_process_group(ours.pid, "R-dead") is False  # gone now


def test_ticking_through_a_symlink_changes_the_file_it_points_to(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = write_tasks(
        tmp_path / "real", "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true\n"
    )
    link = tmp_path / "link.md"
    link.symlink_to(target)
    assert main(["run", str(link)]) == 0
    assert link.is_symlink()
    assert "- [X] T001" in target.read_text()


def test_status_of_a_dead_runner_shows_no_task_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _run_id = _sigkilled_runner(tmp_path)
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("T001"))
    assert row.split()[1] == "interrupted"
    assert "(1 interrupted)" in "\n".join(lines) and "running" not in row
    assert main(["status", "--state-dir", state, "--json"]) == 0
    (task,) = json.loads(capsys.readouterr().out)["tasks"]
    assert task["status"] == "interrupted" and task["recorded_status"] == "running"
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["counts"] == {"interrupted": 1}


def test_resume_settles_the_rows_of_tasks_it_leaves_out(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)  # T003 fails, T004 skipped
    text = path.read_text().replace("- [ ] T004", "- [X] T004")
    text = text.replace("T002 [US1]", "T012 [US1]")  # T002 renamed
    path.write_text(text + "- [ ] T005 New\n  - taskexec: run=true\n")
    time.sleep(1.1)  # an idle gap that no task duration may include
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id)
    assert any("T005: pending in" in n and "not part of run" in n for n in again.notices)
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        rows = {t["task_id"]: t for t in store.tasks(first.run_id)}
    assert set(rows) == {"T001", "T003", "T004"}  # T002 is gone from the file
    assert rows["T003"]["status"] == "completed" and rows["T003"]["error"] is None
    assert rows["T003"]["finished"] - rows["T003"]["started"] < 1.0
    assert rows["T004"]["status"] == "skipped"
    assert "marked done in" in rows["T004"]["error"] and "outside run" in rows["T004"]["error"]


def test_cancel_of_a_suspended_task_does_not_let_it_run_on(tmp_path: Path) -> None:
    text = md(
        "## Phase 1: X\n\n- [ ] T001 Slow\n"
        "  ~~~bash\n  echo $$ > pid\n  sleep 0.5\n  echo late > late.txt\n  ~~~\n"
    )
    plan = taskexec_nb.load(write_tasks(tmp_path, text))

    async def body() -> None:
        handle = await plan.arun()
        deadline = time.time() + 20
        while not (tmp_path / "pid").exists() and time.time() < deadline:
            await asyncio.sleep(0.02)
        handle.pause(suspend=True)
        await asyncio.sleep(1.0)  # the sleep's time passes while it is stopped
        handle.cancel()
        assert (await handle.wait()).value == "cancelled"

    asyncio.run(body())
    time.sleep(0.3)
    assert not (tmp_path / "late.txt").exists()


# -- second review: the smaller ones ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "junit", "csv", "json", "md", "parquet"])
def test_a_report_path_that_cannot_be_written_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    state = ["--state-dir", str(tmp_path / ".taskexec"), "--format", fmt]
    missing = tmp_path / "nosuchdir" / "r.out"
    assert main(["report", *state, "-o", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: cannot write the report: there is no folder {missing.parent}" in err
    assert "Traceback" not in err
    assert main(["report", *state, "-o", str(tmp_path)]) == 2
    assert "it is a folder (give a file name)" in capsys.readouterr().err


def test_report_refuses_an_unknown_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    state = str(tmp_path / ".taskexec")
    assert main(["report", "--state-dir", state, "-o", str(tmp_path / "x.pdf")]) == 2
    assert "no report format for '.pdf'" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()
    assert (
        main(["report", "--state-dir", state, "-o", str(tmp_path / "x.pdf"), "--format", "md"]) == 0
    )
    assert (tmp_path / "x.pdf").read_text().startswith("#")


def test_status_interval_must_be_positive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(write_tasks(tmp_path))]) == 1
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state, "--watch", "--interval", "-1"]) == 2
    assert "--interval -1: give a number of seconds above 0" in capsys.readouterr().err


def test_resume_before_the_file_gets_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write_tasks(tmp_path)
    assert main(["run", "--resume", "tasks.md"]) == 2
    err = capsys.readouterr().err
    assert "--resume took 'tasks.md' as a run ID" in err and "taskexec run tasks.md --resume" in err
    assert main(["run"]) == 2
    assert "run: give the tasks.md file" in capsys.readouterr().err


def test_a_working_folder_that_is_a_file_is_named_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true cwd=tasks.md\n"
    )
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"its working folder {path} is not a folder" in err
    assert f"FAILED    T001: the working folder {path} is not a folder" in err


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


def test_a_completed_heading_task_is_done_for_its_plan(tmp_path: Path) -> None:
    text = '## Phase 1: X\n\n### T001 — A heading task\n\n  - taskexec: run="echo x >> h.txt"\n'
    plan = taskexec_nb.load(write_tasks(tmp_path, text))
    first = plan.run()
    assert any("a new run of the file (not a resume) runs them again" in n for n in first.notices)
    assert plan.run().selection == []
    assert (tmp_path / "h.txt").read_text() == "x\n"
    assert plan.to_frame().set_index("id").loc["T001", "status"] == "done"


def test_watch_on_a_pipe_prints_only_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path, '## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run="echo go; sleep 2.5"\n'
    )
    proc = spawn_cli("run", str(path))
    try:
        wait_running(tmp_path)
        state = str(tmp_path / ".taskexec")
        assert main(["status", "--state-dir", state, "--watch", "--interval", "0.1"]) == 0
    finally:
        proc.communicate(timeout=30)
    snapshots = capsys.readouterr().out.split("run ")[1:]
    assert len(snapshots) >= 2  # running, then completed
    assert "completed" in snapshots[-1].splitlines()[0]
    # Each snapshot says something new (the run's or T001's status, say): a growing
    # SECONDS counter alone is not news.
    shown = [re.sub(r" +\d+\+ ", " ", s) for s in snapshots]
    assert all(a != b for a, b in itertools.pairwise(shown))


def test_runners_started_at_the_same_moment_run_a_task_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check for a live run and the record of the new one are one transaction: here
    # each runner lingers between the two, as a busy machine may make it.
    from taskexec_nb.run.session import RunSession

    check = RunSession._refuse_overlap

    def slow_check(self: RunSession, store: StateStore, selection: list[str]) -> None:
        check(self, store, selection)
        time.sleep(0.5)

    monkeypatch.setattr(RunSession, "_refuse_overlap", slow_check)
    text = (
        "## Phase 1: X\n\n- [ ] T001 Once\n"
        '  - taskexec: run="echo $TASKEXEC_RUN_ID >> ran.txt; sleep 2"\n'
    )
    path = write_tasks(tmp_path, text)
    outcomes: list[str] = []

    def start() -> None:
        try:
            outcomes.append(taskexec_nb.load(path).run(writeback=False).result.value)
        except UsageError as exc:
            outcomes.append("refused" if "is still running" in str(exc) else str(exc))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len((tmp_path / "ran.txt").read_text().split()) == 1
    assert sorted(outcomes) == ["completed", "refused", "refused"]
