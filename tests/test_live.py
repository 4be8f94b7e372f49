"""The live run model fed by real runs (subprocesses, SQLite), its replay, and batched views."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import md

import taskexec_nb
from taskexec_nb.errors import StoreError
from taskexec_nb.events import Event, EventBus, EventKind, EventRecorder, TaskOutput
from taskexec_nb.run.batching import Batched, Ticker
from taskexec_nb.run.live import RunModel
from taskexec_nb.store import StateStore

TASKS = md(
    """\
    ## Phase 1: Setup

    - [ ] T001 Say hello
      ~~~bash
      echo hello; sleep 0.2; echo "last words"
      ~~~
    - [ ] T002 Fail once, then pass
      - taskexec: retries=1 backoff=0
      ~~~bash
      n=$(cat counter 2>/dev/null || echo 0); echo $((n + 1)) > counter
      echo "try $n"; test "$n" -ge 1
      ~~~

    ## Phase 2: Main

    - [ ] T003 [US1] Fail
      ~~~bash
      echo broken >&2; exit 4
      ~~~
    - [ ] T004 [US1] After the failure
      ~~~bash
      echo never
      ~~~
    """
)


def write(tmp_path: Path, text: str = TASKS) -> Path:
    path = tmp_path / "tasks.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_real_run_feeds_task_and_attempt_rows(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write(tmp_path))
    model = RunModel.for_plan(plan)
    handle = plan.run(state_dir=tmp_path / "state", observers=[model])
    snap = model.snapshot()
    assert (snap.run_id, snap.status) == (handle.run_id, "failed")
    assert snap.started is not None and snap.finished is not None
    rows = {r.id: r for r in snap.tasks}
    assert [r.id for r in snap.tasks] == ["T001", "T002", "T003", "T004"]
    assert rows["T001"].status == "completed" and rows["T001"].last_line == "last words"
    assert rows["T001"].tail == "hello\nlast words" and rows["T001"].phase == "Phase 1: Setup"
    assert (rows["T002"].status, rows["T002"].attempt) == ("completed", 2)
    assert rows["T002"].last_line == "try 1"
    t3 = rows["T003"]
    assert (t3.status, t3.exit_code, t3.story, t3.title) == ("failed", 4, "US1", "Fail")
    assert t3.error and "4" in t3.error and t3.last_line == "broken"
    assert t3.duration is not None and t3.duration >= 0
    t4 = rows["T004"]
    assert (t4.status, t4.attempt, t4.start) == ("skipped", 0, None)
    assert t4.error == "prerequisite T003 failed"
    assert snap.counts() == {"completed": 2, "failed": 1, "skipped": 1}
    assert snap.done == 4 and [r.id for r in snap.failures()] == ["T003"] and not snap.running()
    attempts = [(a.task_id, a.attempt, a.status, a.executor) for a in snap.attempts]
    assert sorted(attempts) == [
        ("T001", 1, "completed", "shell"),
        ("T002", 1, "failed", "shell"),
        ("T002", 2, "completed", "shell"),
        ("T003", 1, "failed", "shell"),
    ]
    assert all(
        a.start is not None and a.end is not None and a.end >= a.start for a in snap.attempts
    )
    # The same as the store says.
    store = StateStore(handle.store_path, readonly=True)
    try:
        stored = {r.task_id: r for r in store.tasks(handle.run_id)}
        for row in snap.tasks:
            s = stored[row.id]
            assert (row.status, row.attempt, row.start, row.end, row.error, row.exit_code) == (
                s.status,
                s.attempt,
                s.started,
                s.finished,
                s.error,
                s.exit_code,
            )
        stored_attempts = [
            (a.task_id, a.attempt, a.status, a.started, a.finished, a.log_path)
            for a in store.attempts(handle.run_id)
        ]
    finally:
        store.close()
    assert sorted(stored_attempts) == sorted(
        (a.task_id, a.attempt, a.status, a.start, a.end, a.log_path) for a in snap.attempts
    )
    # The status table's progress, from the model.
    pd.testing.assert_frame_equal(model.progress("story"), handle.progress("story"))
    pd.testing.assert_frame_equal(model.progress(), handle.progress())


def test_replay_from_the_real_store_equals_the_live_model(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write(tmp_path))
    live = RunModel.for_plan(plan)
    handle = plan.run(state_dir=tmp_path / "state", observers=[live])
    replayed = RunModel.from_store(handle.store_path, handle.run_id)
    pd.testing.assert_frame_equal(replayed.tasks_frame(), live.tasks_frame())
    pd.testing.assert_frame_equal(replayed.attempts_frame(), live.attempts_frame())
    a, b = live.snapshot(), replayed.snapshot()
    assert (a.run_id, a.status, a.started, a.finished) == (
        b.run_id,
        b.status,
        b.started,
        b.finished,
    )
    # An open store and the newest run by default.
    store = StateStore(handle.store_path)
    try:
        newest = RunModel.from_store(store)
        assert newest.run_id == handle.run_id and newest.tasks() == replayed.tasks()
    finally:
        store.close()


def test_frames_are_indexed_by_task_id_with_stable_dtypes(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write(tmp_path))
    model = RunModel.for_plan(plan)
    empty = model.tasks_frame()
    assert list(empty.index) == ["T001", "T002", "T003", "T004"] and empty.index.name == "id"
    assert empty["status"].tolist() == ["pending"] * 4
    assert empty["duration"].isna().all() and str(empty["start"].dtype) == "datetime64[us, UTC]"
    assert model.attempts_frame().empty
    handle = plan.run(state_dir=tmp_path / "state", observers=[model])
    frame = model.tasks_frame()
    assert frame.dtypes.equals(empty.dtypes)
    assert frame.loc["T003", "exit_code"] == 4 and pd.isna(frame.loc["T004", "exit_code"])
    assert frame.loc["T001", "duration"] >= 0.2
    attempts = model.attempts_frame()
    assert attempts.index.name == "id" and list(attempts.index) == ["T001", "T002", "T002", "T003"]
    assert list(attempts.columns[:5]) == ["attempt", "status", "start", "end", "duration"]
    assert len(attempts) == 4 and str(attempts["exit_code"].dtype) == "Int64"
    # The same index, phase and story columns as the stored report's attempts.
    stored = handle.report().attempts
    assert list(attempts.index) == list(stored.index)
    for col in ("phase", "phase_title", "story"):  # missing is <NA> in one, None in the other
        assert [None if pd.isna(v) else v for v in attempts[col]] == [
            None if pd.isna(v) else v for v in stored[col]
        ], col
    assert list(attempts["phase"].cat.categories) == list(stored["phase"].cat.categories)
    with pytest.raises(taskexec_nb.TaskexecError, match="cannot roll up by 'owner'"):
        model.progress("owner")


def test_attach_after_arun_returned_is_whole_and_follows_the_run(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write(tmp_path))
    seen: list[str] = []

    async def main() -> tuple[RunModel, RunModel, str]:
        handle = await plan.arun(state_dir=tmp_path / "state")
        model = RunModel.attach(handle)  # run_started is past by now
        seen.append(model.snapshot().status)
        await handle.wait()
        return model, RunModel.attach(handle), str(handle.store_path)  # and after the end

    model, after, store = asyncio.run(main())
    assert seen == ["running"]
    replayed = RunModel.from_store(store)
    pd.testing.assert_frame_equal(model.attempts_frame(), replayed.attempts_frame())
    pd.testing.assert_frame_equal(after.attempts_frame(), replayed.attempts_frame())
    # Output lines are not kept for replay; the finished tasks' lines come from their tails.
    pd.testing.assert_frame_equal(model.tasks_frame(), replayed.tasks_frame())
    pd.testing.assert_frame_equal(after.tasks_frame(), replayed.tasks_frame())


def test_a_resumed_run_shows_the_tasks_it_did_not_run_again(tmp_path: Path) -> None:
    path = write(tmp_path, TASKS.replace("exit 4", "test -f fixed || exit 4"))
    first = taskexec_nb.load(path).run(state_dir=tmp_path / "state")
    (tmp_path / "fixed").touch()
    plan = taskexec_nb.load(path)
    handle = plan.run(state_dir=tmp_path / "state", resume=first.run_id)
    assert handle.result is not None and handle.result.value == "completed"
    model = RunModel.attach(handle)
    statuses = {r.id: r.status for r in model.tasks()}
    assert statuses == {t: "completed" for t in ("T001", "T002", "T003", "T004")}
    assert model.task("T001").attempt == 1 and model.task("T003").attempt == 2
    assert sorted(handle.selection) == ["T003", "T004"]
    replayed = RunModel.from_store(handle.store_path, handle.run_id)
    assert {r.id: r.status for r in replayed.tasks()} == statuses
    assert [(a.task_id, a.attempt) for a in replayed.attempts()] == [
        (a.task_id, a.attempt) for a in model.attempts()
    ]


def test_snapshots_from_another_thread_while_the_run_goes_on_are_consistent(
    tmp_path: Path,
) -> None:
    text = "## Phase 1: Many\n\n" + "".join(
        f"- [ ] T{n:03d} [P] Step {n}\n  ```bash\n"
        f"  for i in 1 2 3; do echo {n} $i; sleep 0.02; done\n  ```\n"
        for n in range(1, 31)
    )
    plan = taskexec_nb.load(write(tmp_path, text))
    model = RunModel.for_plan(plan)
    done = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            plan.run(state_dir=tmp_path / "state", observers=[model], max_workers=4)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    versions, seen_running = [], 0
    while not done.is_set():
        snap = model.snapshot()
        versions.append(snap.version)
        assert sum(snap.counts().values()) == 30
        running = snap.running()
        seen_running = max(seen_running, len(running))
        assert len(running) <= 4
        started = {a.task_id for a in snap.attempts}
        assert all(r.id in started for r in running)  # a running task has its attempt row
        assert len(model.tasks_frame(snap)) == 30
    thread.join()
    assert not errors
    assert versions == sorted(versions) and seen_running >= 1
    assert model.counts() == {"completed": 30}


def test_batched_coalesces_a_thousand_output_events_into_a_few_view_calls() -> None:
    batches: list[list[Event]] = []
    view = Batched(batches.append, interval=0.05)
    bus = EventBus()
    bus.subscribe(view)
    bus.emit(Event(EventKind.RUN_STARTED, "R1", status="running", data={"tasks": 1}))
    began = time.monotonic()
    for n in range(1000):
        bus.emit(Event(EventKind.TASK_OUTPUT, "R1", "T001", 1, data=TaskOutput("stdout", f"{n}\n")))
        if n % 100 == 0:
            time.sleep(0.01)  # output over about 0.1 s, as a real task prints
    bus.emit(Event(EventKind.RUN_FINISHED, "R1", status="completed", data={"counts": {}}))
    elapsed = time.monotonic() - began
    delivered = [e for batch in batches for e in batch]
    assert len(delivered) == 1002 and delivered[-1].kind is EventKind.RUN_FINISHED
    assert all(batches)  # no empty call
    assert len(batches) <= elapsed / 0.05 + 2  # one call per interval at most, and the last
    assert len(batches) == view.calls and view.calls < 20


def test_batched_view_of_a_real_run_redraws_on_the_timer_not_per_line(tmp_path: Path) -> None:
    text = md(
        """\
        - [ ] T001 Chatty
          ~~~bash
          for i in $(seq 1 400); do
            echo "line $i"; if [ $((i % 50)) = 0 ]; then sleep 0.02; fi
          done
          ~~~
        """
    )
    plan = taskexec_nb.load(write(tmp_path, text))
    model = RunModel.for_plan(plan)
    recorder = EventRecorder()
    drawn: list[tuple[int, str | None]] = []

    def draw(events: list[Event]) -> None:
        snap = model.snapshot()
        drawn.append((snap.version, snap.tasks[0].last_line))

    view = Batched(draw, interval=0.1)
    began = time.monotonic()
    plan.run(state_dir=tmp_path / "state", observers=[model, recorder, view])
    elapsed = time.monotonic() - began
    outputs = [e for e in recorder.events if e.kind is EventKind.TASK_OUTPUT]
    assert len(outputs) >= 1 and view.calls == len(drawn)
    assert view.calls <= elapsed / 0.1 + 2
    assert drawn[-1] == (model.version, "line 400")  # the last call saw the end


def test_a_failing_view_is_removed_by_the_bus_with_a_notice() -> None:
    def broken(events: list[Event]) -> None:
        raise ValueError("no canvas")

    view = Batched(broken, interval=0.01)
    bus = EventBus()
    recorder = EventRecorder()
    bus.subscribe(view)
    bus.subscribe(recorder)
    bus.emit(Event(EventKind.RUN_STARTED, "R1", data={"tasks": 1}))
    deadline = time.monotonic() + 5
    while view.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert isinstance(view.error, ValueError)
    bus.emit(Event(EventKind.RUN_RESUMED, "R1"))
    notes = [e.data.get("error") for e in recorder.events if e.kind is EventKind.NOTICE]
    assert len(notes) == 1 and "the view failed: ValueError('no canvas')" in str(notes[0])
    assert view.calls == 1


def test_a_failing_view_on_the_last_call_raises_to_the_bus() -> None:
    calls: list[int] = []

    def broken(events: list[Event]) -> None:
        calls.append(len(events))
        raise ValueError("no canvas")

    view = Batched(broken, interval=10)
    with pytest.raises(ValueError, match="no canvas"):
        view(Event(EventKind.RUN_FINISHED, "R1", status="completed"))
    view.flush()  # a failed view is not called again
    assert calls == [1]


def test_batched_idle_calls_the_view_with_no_events_and_dispatch_moves_the_call() -> None:
    calls: list[int] = []
    moved: list[str] = []

    def dispatch(fn: object) -> None:
        moved.append(threading.current_thread().name)
        assert callable(fn)
        fn()

    view = Batched(lambda events: calls.append(len(events)), 0.02, idle=True, dispatch=dispatch)
    view(Event(EventKind.RUN_STARTED, "R1", data={"tasks": 1}))
    deadline = time.monotonic() + 5
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    view.close()
    assert calls[0] == 1 and 0 in calls[1:]
    assert moved and moved[0] == "taskexec-view"


def test_ticker_needs_a_positive_interval_and_stops() -> None:
    with pytest.raises(ValueError, match="interval 0: give a number of seconds above 0"):
        Ticker(lambda: None, 0)
    ticks: list[float] = []
    ticker = Ticker(lambda: ticks.append(time.monotonic()), 0.01)
    ticker.start()
    ticker.start()  # already ticking: one thread
    deadline = time.monotonic() + 5
    while len(ticks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    ticker.stop()
    assert not ticker.running and ticker.stopped
    count = len(ticks)
    time.sleep(0.05)
    assert len(ticks) == count >= 2


def test_from_store_names_the_problem(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    try:
        with pytest.raises(StoreError, match=r"no run in .* yet"):
            RunModel.from_store(store)
        with pytest.raises(StoreError, match="no run 'R9'"):
            RunModel.from_store(store, "R9")
    finally:
        store.close()


def test_a_task_the_model_did_not_know_is_added_and_suspend_shows_paused() -> None:
    model = RunModel()
    model(Event(EventKind.RUN_STARTED, "R1", status="running", data={"tasks": 1}))
    model(
        Event(
            EventKind.TASK_STARTED, "R1", "T9", 1, "running", {"log_path": "l", "executor": "shell"}
        )
    )
    model(Event(EventKind.TASK_OUTPUT, "R1", "T9", 1, data=TaskOutput("stdout", "one\ntw")))
    assert (model.task("T9").last_line, model.task("T9").tail) == ("tw", "one\ntw")
    model(Event(EventKind.TASK_OUTPUT, "R1", "T9", 1, data=TaskOutput("stdout", "o\n\n")))
    assert (model.task("T9").last_line, model.task("T9").tail) == ("two", "one\ntwo\n")
    model(Event(EventKind.RUN_PAUSED, "R1", status="paused", data={"suspend": True}))
    assert (model.snapshot().status, model.task("T9").status) == ("paused", "paused")
    model(Event(EventKind.RUN_RESUMED, "R1", status="running"))
    assert (model.snapshot().status, model.task("T9").status) == ("running", "running")
    model(Event(EventKind.NOTICE, "R1", data={"warning": "box not ticked"}))
    model(Event(EventKind.TASK_TICKED, "R1", "T9"))
    assert model.snapshot().notices == ("box not ticked",) and model.task("T9").ticked
    with pytest.raises(KeyError):
        model.task("T1")


def test_importing_the_live_model_imports_neither_pandas_nor_plotly() -> None:
    code = (
        "import sys, taskexec_nb.run.live, taskexec_nb.run.batching, taskexec_nb.cli.terminal;"
        "print(sorted(m for m in ('pandas', 'plotly') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_suspending_pause_shows_paused_only_the_tasks_it_could_suspend(tmp_path: Path) -> None:
    text = (
        "- [ ] T001 [P] Shell loop\n  ```bash\n  touch began\n"
        "  while [ ! -f go ]; do sleep 0.05; done\n  ```\n"
        "- [ ] T002 [P] Python work\n"
    )
    plan = taskexec_nb.load(write(tmp_path, text))

    async def main() -> tuple[dict[str, str], dict[str, str], str, list[str]]:
        go = asyncio.Event()

        async def work() -> None:
            await go.wait()

        handle = await plan.arun(
            state_dir=tmp_path / "state", callables={"T002": work}, max_workers=2
        )
        try:
            while not (tmp_path / "began").exists() or len(handle.model.snapshot().running()) < 2:
                await asyncio.sleep(0.02)
            handle.pause(suspend=True)
            while "paused" not in handle.status()["status"].tolist():
                await asyncio.sleep(0.02)
            paused = handle.status()["status"].to_dict()
            shown = repr(handle)
            handle.resume()
            resumed = handle.status()["status"].to_dict()
        finally:
            (tmp_path / "go").touch()
            go.set()
        await handle.wait()
        late = EventRecorder()
        handle.subscribe(late)  # after the end: everything so far, run_started first
        return paused, resumed, shown, late.kinds()

    paused, resumed, shown, kinds = asyncio.run(main())
    # The shell task's process group was stopped; a Python callable cannot be and runs on.
    assert paused == {"T001": "paused", "T002": "running"}
    assert resumed == {"T001": "running", "T002": "running"}
    assert " paused: " in shown and "1 paused, 1 running" in shown
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("task_finished") == 2


def test_a_model_takes_its_events_in_when_read_and_output_in_order() -> None:
    model = RunModel([("T001", "Setup", None, "Task 1")])
    model(Event(EventKind.RUN_STARTED, "R1", status="running", data={"tasks": 1}))
    model(Event(EventKind.TASK_STARTED, "R1", "T001", 1, status="running", data={}))
    assert len(model._pending) == 2  # queued: a model nobody reads costs no more
    assert model.version == 2
    # Output is taken in at once (a tail, not every chunk kept), after what came before.
    model(Event(EventKind.TASK_OUTPUT, "R1", "T001", 1, data=TaskOutput("stdout", "one\ntwo\n")))
    assert model._pending == []
    model(Event(EventKind.TASK_FINISHED, "R1", "T001", 1, status="completed", data={}))
    row = model.task("T001")
    assert (row.status, row.attempt, row.last_line) == ("completed", 1, "two")
    snap = model.snapshot()
    assert snap.status == "running" and snap.version == 4
    assert [a.status for a in snap.attempts] == ["completed"]
