"""Resume: what a resumed run runs again, with which settings, and what it refuses.

Real runs on real files: runners killed with SIGKILL, the state store on disk
for everything a resume reads back.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing, suppress
from pathlib import Path

import pytest
from conftest import md
from helpers import (
    SLOW_TASK,
    _set_runner,
    _sigkilled_runner,
    _write,
    counts,
    latest_run,
    leftovers,
    run_record,
    spawn_cli,
    wait_gone,
    wait_running,
    write_tasks,
)

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.errors import UsageError
from taskexec_nb.events import Event, EventKind, EventRecorder, RunStatus
from taskexec_nb.store import StateStore


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
            assert store.run(str(ended)).status == "failed"  # left as it was
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
        assert store.run(handle.run_id).status == "running"
        assert store.reopen_run(handle.run_id, {}, []) is False  # a second claim fails
        assert store.run(handle.run_id).pid == os.getpid()


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


def test_a_takeover_claims_only_the_run_as_it_was_seen(tmp_path: Path) -> None:
    _, run_id = _sigkilled_runner(tmp_path)
    _set_runner(tmp_path, run_id, host="build-agent-7", pid=4242)
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        seen = store.run(run_id)
        _set_runner(tmp_path, run_id, pid=4343)  # another takeover got there first
        assert not store.reopen_run(run_id, {}, [], takeover=seen)
        assert store.run(run_id).pid == 4343
        assert store.reopen_run(run_id, {}, [], takeover=store.run(run_id))
        assert store.run(run_id).pid == os.getpid()


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
        rows = {t.task_id: t for t in store.tasks(first.run_id)}
    assert set(rows) == {"T001", "T003", "T004"}  # T002 is gone from the file
    assert rows["T003"].status == "completed" and rows["T003"].error is None
    assert rows["T003"].finished - rows["T003"].started < 1.0
    assert rows["T004"].status == "skipped"
    assert "marked done in" in rows["T004"].error and "outside run" in rows["T004"].error


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


HASHED = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 [P] Write the first file
      ~~~bash
      echo T001 >> effects.log
      ~~~
    - [ ] T002 [P] Needs the flag file
      ~~~bash
      test -e flag
      echo T002 >> effects.log
      ~~~
    - [ ] T003 [P] Write the third file
      ~~~bash
      echo T003 >> effects.log
      ~~~
    """
)


def _effects(folder: Path) -> list[str]:
    log = folder / "effects.log"
    return log.read_text().split() if log.exists() else []


def test_resume_reruns_a_completed_task_whose_definition_changed(tmp_path: Path) -> None:
    # Write-back off: the boxes stay open, so only the store decides what a resume skips.
    path = _write(tmp_path, HASHED)
    first = taskexec_nb.load(path).run(max_workers=2, writeback=False)
    assert first.result is RunStatus.FAILED
    assert sorted(_effects(tmp_path)) == ["T001", "T003"]

    path.write_text(HASHED.replace("Write the first file", "Write the first file, edited"))
    (tmp_path / "flag").write_text("")
    recorder = EventRecorder()
    second = taskexec_nb.load(path).run(
        max_workers=2, writeback=False, resume=first.run_id, observers=[recorder]
    )
    assert second.run_id == first.run_id
    assert second.result is RunStatus.COMPLETED
    assert sorted(second.selection) == ["T001", "T002"]
    assert sorted(_effects(tmp_path)) == ["T001", "T001", "T002", "T003"]
    expected = f"T001 changed since run {first.run_id} completed it: it runs again"
    assert second.notices == [expected]
    assert [e.data.get("warning") for e in recorder.events if e.kind is EventKind.NOTICE] == [
        expected
    ]
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        records = store.task_records(first.run_id)
        assert {k: (r.status, r.attempt) for k, r in records.items()} == {
            "T001": ("completed", 2),
            "T002": ("completed", 2),
            "T003": ("completed", 1),
        }
        assert store.run(first.run_id).status == "completed"
        assert sorted((a.task_id, a.attempt) for a in store.attempts(first.run_id)) == [
            ("T001", 1),
            ("T001", 2),
            ("T002", 1),
            ("T002", 2),
            ("T003", 1),
        ]

    # Resuming again with nothing changed runs nothing.
    third = taskexec_nb.load(path).run(max_workers=2, writeback=False, resume=first.run_id)
    assert third.result is RunStatus.COMPLETED
    assert third.selection == []
    assert third.notices == []
    assert sorted(_effects(tmp_path)) == ["T001", "T001", "T002", "T003"]


# Each edit keeps T001's ID and description: only what it runs, or how, changes.
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("echo T001 >> effects.log", "echo T001 >> effects.log; echo more >> effects.log"),
        (
            "- [ ] T001 [P] Write the first file\n",
            "- [ ] T001 [P] Write the first file\n  - taskexec: env.MODE=edited\n",
        ),
    ],
    ids=["command", "parameter"],
)
def test_resume_reruns_a_completed_task_whose_command_or_parameters_changed(
    tmp_path: Path, before: str, after: str
) -> None:
    path = _write(tmp_path, HASHED)
    first = taskexec_nb.load(path).run(max_workers=2, writeback=False)
    assert first.result is RunStatus.FAILED
    assert sorted(_effects(tmp_path)) == ["T001", "T003"]

    assert before in HASHED
    edited = HASHED.replace(before, after)
    path.write_text(edited)
    (tmp_path / "flag").write_text("")
    plan = taskexec_nb.load(path)
    assert plan["T001"].description == "Write the first file"
    second = plan.run(max_workers=2, writeback=False, resume=first.run_id)
    assert second.result is RunStatus.COMPLETED
    assert sorted(second.selection) == ["T001", "T002"]
    assert second.notices == [f"T001 changed since run {first.run_id} completed it: it runs again"]


def test_resume_does_not_rerun_unchanged_completed_tasks(tmp_path: Path) -> None:
    path = _write(tmp_path, HASHED)
    first = taskexec_nb.load(path).run(max_workers=2, writeback=False)
    assert first.result is RunStatus.FAILED
    (tmp_path / "flag").write_text("")
    # An edit elsewhere in the file (not in any task) changes no task's hash.
    path.write_text(HASHED + "\n## Notes\n\nSomething unrelated.\n")
    second = taskexec_nb.load(path).run(max_workers=2, writeback=False, resume=first.run_id)
    assert second.result is RunStatus.COMPLETED
    assert second.selection == ["T002"]
    assert second.notices == []
    assert sorted(_effects(tmp_path)) == ["T001", "T002", "T003"]


KILL_GRACE = 0.5


TRIALS = 20


BASE_SEED = int(os.environ.get("TASKEXEC_CRASH_SEED", "20261124"))


MAX_SEGMENTS = 8  # runner processes per trial, at most


MAX_KILLS = 3  # kills per trial, at most; later segments run to the end


# (ID, [P]?, seconds of work). Template mode: phases run in order, [P] tasks of a phase
# together, so with 2 workers the critical path is about 1.7 s of work.
TASKS = [
    ("T001", False, 0.1),
    ("T002", True, 0.2),
    ("T003", True, 0.1),
    ("T004", False, 0.1),
    ("T005", True, 0.3),
    ("T006", True, 0.2),
    ("T007", False, 0.1),
    ("T008", True, 0.1),
    ("T009", True, 0.6),
    ("T010", False, 0.1),
    ("T011", True, 0.2),
    ("T012", True, 0.1),
]


IDS = [t[0] for t in TASKS]


PHASES = [
    (1, "Setup"),
    (4, "Foundational"),
    (5, "User Story 1"),
    (8, "User Story 2"),
    (11, "Polish"),
]


EXPECTED_RUN = 1.9  # seconds a whole run takes, about (work plus start-up)


LATE_AFTER = KILL_GRACE + 2.0  # a surviving child writes late.log after the leftover check


RUNNER = (
    "import taskexec_nb,sys; taskexec_nb.load(sys.argv[1]).run(resume=(sys.argv[2] or None),"
    f" max_workers=2, kill_grace={KILL_GRACE})"
)


def tasks_md() -> str:
    lines = ["# Tasks: crash test"]
    starts = {first: (number, title) for number, (first, title) in enumerate(PHASES, 1)}
    for n, (task_id, parallel, work) in enumerate(TASKS, 1):
        if n in starts:
            lines += ["", "## Phase {}: {}".format(*starts[n]), ""]
        marker = " [P]" if parallel else ""
        lines += [
            f"- [ ] {task_id}{marker} Step {n}: work {work:g} s, then record the effect",
            "  ```bash",
            # A child that outlives the task (holding its output pipes) and the leftover
            # check's window: it only ever writes if nobody ends it.
            f"  ( sleep {LATE_AFTER:g}; echo {task_id} >> late.log ) &",
            f"  sleep {work:g}",
            f"  echo {task_id} >> effects.log",
            "  ```",
        ]
    return "\n".join(lines) + "\n"


def store_of(folder: Path) -> StateStore:
    return StateStore(folder / ".taskexec" / "state.db")


def effect_counts(folder: Path) -> collections.Counter[str]:
    log = folder / "effects.log"
    return collections.Counter(log.read_text().split() if log.exists() else [])


def ticked(text: str) -> bytes:
    out = text
    for task_id in IDS:
        assert out.count(f"- [ ] {task_id} ") == 1
        out = out.replace(f"- [ ] {task_id} ", f"- [X] {task_id} ")
    return out.encode()


def start_runner(path: Path, run_id: str | None, errors: Path) -> subprocess.Popen[bytes]:
    with errors.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(path), run_id or ""],
            cwd=path.parent,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def kill_leftovers(tasks_file: Path) -> None:
    """End whatever a failed test left running (so it cannot disturb the next one)."""
    for line in leftovers(set(), tasks_file):
        with suppress(ProcessLookupError):
            os.kill(int(line.split()[1]), signal.SIGKILL)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_at_random_moments_then_resume(tmp_path: Path, trial: int) -> None:
    seed = BASE_SEED + trial
    print(f"crash trial {trial}: seed {seed} (TASKEXEC_CRASH_SEED={BASE_SEED})")
    try:
        crash_trial(tmp_path, seed)
    finally:
        kill_leftovers(tmp_path / "tasks.md")


def crash_trial(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    text = tasks_md()
    path = tmp_path / "tasks.md"
    path.write_text(text)
    errors = tmp_path / "runner.stderr"
    history: list[str] = []
    # One entry per kill: (completed tasks in the store, effect counts), right after it.
    after_kills: list[tuple[set[str], collections.Counter[str]]] = []
    run_id: str | None = None
    completed = False

    def context() -> str:
        stderr = errors.read_text() if errors.exists() else ""
        return f"seed {seed}, run {run_id}; history: {'; '.join(history)}; stderr: {stderr}"

    for segment in range(MAX_SEGMENTS):
        if segment == 0:
            # The first kill always lands while the run is going (it needs > 1.7 s).
            kill_at: float | None = rng.uniform(0.0, 1.7)
        elif len(after_kills) < MAX_KILLS and segment < MAX_SEGMENTS - 1 and rng.random() < 0.5:
            kill_at = rng.uniform(0.0, EXPECTED_RUN)
        else:
            kill_at = None
        proc = start_runner(path, run_id, errors)
        killed = False
        try:
            proc.wait(timeout=kill_at if kill_at is not None else 60)
        except subprocess.TimeoutExpired:
            if kill_at is None:
                proc.kill()
                proc.wait()
                pytest.fail(f"a runner did not finish within 60 s; {context()}")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            # The runner may have finished in the instant between the timeout and the kill.
            killed = proc.returncode != 0
        history.append(
            f"segment {segment}: " + (f"killed at {kill_at:.3f} s" if killed else "ran to the end")
        )

        with closing(store_of(tmp_path)) as store:
            if run_id is None:
                run_id = store.latest_run()
            attempts = store.attempts(run_id) if run_id else []
            statuses = {t.task_id: t.status for t in store.tasks(run_id)} if run_id else {}
            run_status = store.run(run_id).status if run_id else None
        pgids = {a.pgid for a in attempts if a.pgid}

        if killed:
            assert proc.returncode == -signal.SIGKILL
            # The reaper ends every process group of the dead runner within the grace period.
            left = wait_gone(pgids, path, KILL_GRACE + 1.0)
            assert left == [], f"processes of the killed run survived: {left}; {context()}"
            done = {t for t, s in statuses.items() if s == "completed"}
            after_kills.append((done, effect_counts(tmp_path)))
            history[-1] += f" ({len(done)} completed in the store)"
            continue

        assert proc.returncode == 0, context()
        assert run_id is not None, context()
        assert run_status == "completed", context()
        completed = True
        break

    assert completed, f"no run completed in {MAX_SEGMENTS} runner processes; {context()}"
    assert after_kills, context()

    # Every effect happened; completed tasks never ran again after a kill.
    final = effect_counts(tmp_path)
    assert set(final) == set(IDS), context()
    assert all(final[t] >= 1 for t in IDS), context()
    for k, (done, counts_then) in enumerate(after_kills):
        rerun = {t: (counts_then[t], final[t]) for t in done if final[t] != counts_then[t]}
        assert rerun == {}, f"completed before kill {k} but ran again: {rerun}; {context()}"
    # A task runs again only if a kill caught it in flight: at most once per kill.
    assert all(final[t] <= 1 + len(after_kills) for t in IDS), (dict(final), context())

    # The store and the file agree that everything is done.
    with closing(store_of(tmp_path)) as store:
        assert run_id is not None
        assert store.run(run_id).status == "completed", context()
        tasks = store.tasks(run_id)
        assert {t.task_id: t.status for t in tasks} == dict.fromkeys(IDS, "completed"), context()
        assert store.orphans() == [], context()
        assert [r.run_id for r in store.runs()] == [run_id]  # resumes continue the one run
    assert path.read_bytes() == ticked(text), context()

    # Nothing of the run is left, and no task's child ever outlived its task.
    assert wait_gone(pgids, path, KILL_GRACE + 1.0) == [], context()
    late = tmp_path / "late.log"
    assert not late.exists() or late.read_text() == "", (late.read_text(), context())


def test_tasks_md_is_what_the_crash_test_expects(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(tasks_md())
    plan = taskexec_nb.load(path)
    assert [t.id for t in plan.tasks] == IDS
    assert [t.parallel for t in plan.tasks] == [p for _, p, _ in TASKS]
    assert plan.to_run == tuple(IDS)
    assert max(len(w) for w in plan.waves) == 2
    assert len(plan.waves) == 8


_KILL_AROUND_TICK = textwrap.dedent(
    """
    import os, signal, sys
    import taskexec_nb
    from taskexec_nb.run.writeback import CheckboxWriter

    original = CheckboxWriter.tick_many

    def tick_many(self, boxes):
        # T001 finished with exit code 0: die just before or just after the write that
        # ticks its box (ticks are written together: every write goes through here).
        ticks_t001 = any(box[0] == "T001" for box in boxes)
        if ticks_t001 and sys.argv[2] == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, boxes)
        if ticks_t001:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    CheckboxWriter.tick_many = tick_many
    taskexec_nb.load(sys.argv[1]).run(max_workers=1, kill_grace=0.5)
    """
)


_TWO_TASKS = textwrap.dedent(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 First
      - taskexec: run="echo T001 >> effects.log"
    - [ ] T002 Second
      - taskexec: run="sleep 1; echo T002 >> effects.log"
    """
)
"""T002 outlasts the tick window: T001's box is written on its own, while T002 runs."""


@pytest.mark.parametrize("when", ["before", "after"])
def test_killed_around_the_tick_the_resume_makes_store_and_file_agree(
    tmp_path: Path, when: str
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(_TWO_TASKS)
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AROUND_TICK, str(path), when],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert effect_counts(tmp_path) == {"T001": 1}
    assert path.read_text() == (
        _TWO_TASKS if when == "before" else _TWO_TASKS.replace("- [ ] T001", "- [X] T001")
    )
    with closing(store_of(tmp_path)) as store:
        run_id = store.latest_run()
    assert run_id is not None

    handle = taskexec_nb.load(path).run(resume=run_id, max_workers=1, kill_grace=0.5)
    assert handle.result is RunStatus.COMPLETED
    counts = effect_counts(tmp_path)
    assert counts["T002"] == 1 and counts["T001"] >= 1
    # Whatever the kill interrupted, the file and the store end up saying the same thing.
    assert path.read_text() == _TWO_TASKS.replace("- [ ]", "- [X]")
    with closing(store_of(tmp_path)) as store:
        statuses = {t.task_id: t.status for t in store.tasks(run_id)}
        assert statuses == {"T001": "completed", "T002": "completed"}
        assert store.run(run_id).status == "completed"


def records(folder: Path, run_id: str) -> dict[str, tuple[str, bool]]:
    with closing(StateStore(folder / ".taskexec" / "state.db")) as store:
        return {k: (r.status, r.ticked) for k, r in store.task_records(run_id).items()}


def test_a_box_unticked_by_hand_runs_again_on_resume(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)
    assert counts(tmp_path) == ["T001", "T002"]
    path.write_text(path.read_text().replace("- [X] T001", "- [ ] T001"))
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id, max_workers=1)
    assert again.result is not None and again.result.value == "completed"
    # T001 ran again (it was not just ticked back); T002, still ticked, did not.
    assert counts(tmp_path) == ["T001", "T002", "T001", "T003", "T004"]
    assert any(
        f"T001 was un-ticked in {path} after run {first.run_id} completed and ticked it" in n
        for n in again.notices
    )
    assert "- [X] T001" in path.read_text()
    assert records(tmp_path, first.run_id)["T001"] == ("completed", True)


def test_a_completed_box_never_ticked_is_ticked_on_resume_without_running(
    tmp_path: Path,
) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1, writeback=False)
    assert "- [ ] T001" in path.read_text()
    assert records(tmp_path, first.run_id)["T001"] == ("completed", False)
    (tmp_path / "fixed").touch()
    seen: list[Event] = []
    # The run was started without write-back: turning it on for the resume ticks the boxes.
    again = taskexec_nb.load(path).run(resume=first.run_id, observers=[seen.append], writeback=True)
    assert again.result is not None and again.result.value == "completed"
    assert counts(tmp_path) == ["T001", "T002", "T003", "T004"]  # T001 and T002 ran once
    assert "- [X] T001" in path.read_text() and "- [X] T002" in path.read_text()
    assert {e.task_id for e in seen if e.kind is EventKind.TASK_TICKED} == {
        "T001",
        "T002",
        "T003",
        "T004",
    }
    assert all(ticked for _, ticked in records(tmp_path, first.run_id).values())


def test_a_ticked_task_edited_since_is_reported_not_run(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)
    path.write_text(path.read_text().replace("T001 First", "T001 First, edited"))
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id, max_workers=1)
    assert again.result is not None and again.result.value == "completed"
    assert counts(tmp_path) == ["T001", "T002", "T003", "T004"]
    assert (
        f"T001 changed since run {first.run_id} completed it, but its box is ticked in "
        f"{path}: not run again (untick it to run it)"
    ) in again.notices


RETRIED = (
    "# Tasks\n\n## Phase 1: Setup\n\n"
    "- [ ] T001 Flaky\n"
    '  - taskexec: run="echo T001 >> count.txt; test -e fixed"\n'
    "- [ ] T002 Next\n"
    '  - taskexec: run="echo T002 >> count.txt"\n'
)


def test_a_cli_resume_keeps_the_runs_settings_unless_given_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, RETRIED)
    argv = ["run", str(path), "-j", "7", "--retries", "1", "--no-writeback", "--fail-fast"]
    assert main(argv) == 1
    assert counts(tmp_path) == ["T001", "T001"]  # one retry; fail-fast: T002 never started
    capsys.readouterr()
    # The resume retries once again, still does not tick, and says what it kept.
    assert main(["run", str(path), "--resume"]) == 1
    err = capsys.readouterr().err
    assert counts(tmp_path) == ["T001"] * 4
    assert "resume keeps the settings run" in err
    for kept in ("max_workers=7", "retries=1 (now 0)", "fail_fast=true (now false)"):
        assert kept in err
    assert "writeback=false (now true)" in err
    # Given again, a flag wins: no retry, and write-back on.
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--resume", "--retries", "0", "--writeback"]) == 0
    err = capsys.readouterr().err
    assert "retries=" not in err and "writeback=" not in err
    assert counts(tmp_path) == ["T001"] * 5 + ["T002"]
    assert "- [X] T001" in path.read_text() and "- [X] T002" in path.read_text()


def test_an_api_resume_keeps_the_runs_settings_and_a_settings_object_keeps_its_own(
    tmp_path: Path,
) -> None:
    from taskexec_nb.settings import RunSettings

    path = write_tasks(tmp_path, RETRIED)
    first = taskexec_nb.load(path).run(retries=2, writeback=False, resources={"db": 1})
    assert counts(tmp_path) == ["T001"] * 3
    again = taskexec_nb.load(path).run(resume=True)
    assert counts(tmp_path) == ["T001"] * 6  # two retries again
    assert again.settings.retries == 2 and dict(again.settings.resources) == {"db": 1}
    assert again.settings.writeback is False
    assert any('resources={"db": 1} (now {})' in n for n in again.notices)
    # A whole settings object is taken as it is.
    third = taskexec_nb.load(path).run(resume=first.run_id, settings=RunSettings(retries=0))
    assert counts(tmp_path) == ["T001"] * 7
    assert not any("resume keeps" in n for n in third.notices)
    assert "- [ ] T001" in path.read_text()


def test_the_resume_notice_says_what_an_unset_setting_means() -> None:
    from taskexec_nb.run.resume import resumed_settings
    from taskexec_nb.settings import RunSettings

    now = RunSettings(no_action="fail", timeout=5)
    stored = '{"no_action": null, "timeout": null}'
    kept, notice = resumed_settings(now, run_record("r1", stored), {})
    assert (kept.no_action, kept.timeout) == (None, None)
    assert notice is not None and "null" not in notice
    assert 'no_action=not set, default skip (now "fail")' in notice
    assert "timeout=not set, no limit (now 5)" in notice
    with_agent = RunSettings(agent_command=["my-agent"])
    _, notice = resumed_settings(with_agent, run_record("r2", '{"no_action": "fail"}'), {})
    assert notice is not None
    assert 'no_action="fail" (now not set, default agent)' in notice


def test_settings_recorded_unreadable_or_no_longer_valid_are_not_kept() -> None:
    from taskexec_nb.run.resume import resumed_settings
    from taskexec_nb.settings import RunSettings

    now = RunSettings(max_workers=2)
    assert resumed_settings(now, run_record("r", "{not json"), {}) == (now, None)
    bad = '{"max_workers": 0, "retries": 1}'  # recorded by a version that allowed it
    assert resumed_settings(now, run_record("r", bad), {}) == (now, None)
    good = '{"max_workers": 3, "retries": 1, "timeout": null}'
    kept, note = resumed_settings(now, run_record("r", good), {"retries": 0})
    assert (kept.max_workers, kept.retries) == (3, 0)
    assert note == (
        "resume keeps the settings run r started with: max_workers=3 (now 2); "
        "give a setting again to change it"
    )


def test_a_resumed_runs_status_shows_what_it_did_before_the_resume(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id, max_workers=1)
    frame = again.status()
    assert list(frame.index) == ["T001", "T002", "T003", "T004"]
    assert list(frame["status"]) == ["completed"] * 4
    assert list(frame["attempt"]) == [1, 1, 2, 1]  # T001 and T002 as the first session left them
    assert frame.loc["T001", "start"] < frame.loc["T003", "start"]
    assert again.selection == ["T003", "T004"]
    assert list(again.progress()["done"]) == [3, 1]
