"""The execution engine for real: subprocesses, process groups, timestamps and a SQLite store.

Every test writes its own tasks.md whose tasks record what they did in files
(start/end timestamps, markers, pid files), runs it, and checks what really
happened: order, overlap, signals, leftovers, events and stored rows.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import group_members, line_of
from helpers import (
    MARK,
    aread_pid,
    block,
    errors,
    gone,
    opened_store,
    overlap,
    proc_state,
    ran,
    rows_by_id,
    run_async,
    stamped,
    statuses,
    times,
    until,
    wait_pid,
    wait_until,
    write_md,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.events import Event, EventKind, EventRecorder, RunStatus
from taskexec_nb.executors import AttemptContext

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="checks processes through /proc (Linux only)"
)


# --- helpers ----------------------------------------------------------------------------------


# --- 1. order -----------------------------------------------------------------------------

DAG = f"""# Tasks: dependency order

## Phase 1: Setup

- [ ] T001 Set up the workspace
{stamped()}- [ ] T002 [P] Prepare input a in a.txt
{stamped()}- [ ] T003 [P] Prepare input b in b.txt
{stamped()}
## Phase 2: Foundational

- [ ] T004 Build the foundation (depends on T002, T003)
{stamped()}
## Phase 3: User Story 1 - One (Priority: P1)

- [ ] T005 [P] [US1] Model one in one/model.py
{stamped()}- [ ] T006 [P] [US1] Service one in one/service.py
{stamped()}- [ ] T007 [US1] Wire one (depends on T005)
{stamped()}
## Phase 4: User Story 2 - Two (Priority: P2)

- [ ] T008 [US2] Story two starts (after T004)
{stamped()}- [ ] T009 [US2] Story two ends
{stamped()}
## Phase 5: Polish

- [ ] T010 Polish everything (depends on T007, T009)
{stamped()}"""


@pytest.mark.parametrize("mode", ["template", "stories", "explicit"])
def test_every_task_starts_after_all_its_dependencies_finished(tmp_path: Path, mode: str) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, DAG), mode=mode)
    # The declared edges hold in every mode, so the check below is never vacuous.
    for task_id, dep in [
        ("T004", "T002"),
        ("T004", "T003"),
        ("T007", "T005"),
        ("T008", "T004"),
        ("T010", "T007"),
        ("T010", "T009"),
    ]:
        assert dep in plan.depends_on(task_id)
    handle = plan.run(max_workers=3, state_dir=tmp_path / "state")
    assert handle.result is RunStatus.COMPLETED
    seen = times(tmp_path)
    assert sorted(seen) == [f"T{i:03d}" for i in range(1, 11)]
    engine = {row["id"]: (row["start"], row["end"]) for row in handle.snapshot()}
    edges = 0
    for task in plan.tasks:
        for dep in plan.depends_on(task.id):
            edges += 1
            assert seen[task.id][0] >= seen[dep][1], f"{task.id} started before {dep} ended"
            assert engine[task.id][0] >= engine[dep][1], f"{task.id} started before {dep} ended"
    assert edges >= 6
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
        assert {r["status"] for r in rows.values()} == {"completed"}
        assert all(r["started"] <= r["finished"] for r in rows.values())
        assert store.run(handle.run_id)["status"] == "completed"


# --- 2. parallelism ---------------------------------------------------------------------------

FOUR_PARALLEL = "## Phase 1: Parallel\n\n" + "".join(
    f"- [ ] T00{i} [P] Sleep in part{i}.txt\n{stamped(0.5)}" for i in range(1, 5)
)


def test_parallel_tasks_overlap_with_enough_workers(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, FOUR_PARALLEL))
    assert plan.waves == [["T001", "T002", "T003", "T004"]]
    began = time.monotonic()
    handle = plan.run(max_workers=4, state_dir=tmp_path / "state")
    elapsed = time.monotonic() - began
    assert handle.result is RunStatus.COMPLETED
    seen = times(tmp_path)
    assert len(seen) == 4
    for a, b in itertools.combinations(sorted(seen), 2):
        assert overlap(seen[a], seen[b]), f"{a} and {b} did not run at the same time"
    assert elapsed < 1.8  # four half-second sleeps one after the other take 2 s


def test_one_worker_runs_parallel_tasks_one_at_a_time(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, FOUR_PARALLEL))
    recorder = EventRecorder()
    handle = plan.run(max_workers=1, state_dir=tmp_path / "state", observers=[recorder])
    assert handle.result is RunStatus.COMPLETED
    seen = times(tmp_path)
    spans = sorted(seen.values())
    assert len(spans) == 4
    for before, after in itertools.pairwise(spans):
        assert after[0] >= before[1]
    queued = {
        e.task_id: e.data["waiting_on"] for e in recorder.events if e.kind is EventKind.TASK_QUEUED
    }
    waiting = {task_id: why for task_id, why in queued.items() if why is not None}
    assert waiting == {"T002": "a worker", "T003": "a worker", "T004": "a worker"}


# --- 3. a failure in the middle -------------------------------------------------------------

MIDDLE_FAILURE = f"""# Tasks: a story breaks

## Phase 1: Setup

- [ ] T001 Set up
{MARK}
## Phase 3: User Story 1 - Breaks (Priority: P1)

- [ ] T002 [US1] Break on purpose
{block('echo "about to fail" >&2', "exit 3", "touch never")}- [ ] T003 [US1] Needs the broken step
{MARK}- [ ] T004 [US1] Needs it too
{MARK}
## Phase 4: User Story 2 - Works (Priority: P2)

- [ ] T005 [US2] Works
{MARK}- [ ] T006 [US2] Works too
{MARK}
## Phase 5: Polish

- [ ] T007 Polish
{MARK}"""


def test_a_failure_skips_its_dependents_and_other_stories_complete(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, MIDDLE_FAILURE), mode="stories")
    recorder = EventRecorder()
    handle = plan.run(max_workers=2, state_dir=tmp_path / "state", observers=[recorder])
    assert handle.result is RunStatus.FAILED
    assert ran(tmp_path) == {"T001", "T005", "T006"}
    assert not (tmp_path / "never").exists()
    assert statuses(handle) == {
        "T001": "completed",
        "T002": "failed",
        "T003": "skipped",
        "T004": "skipped",
        "T005": "completed",
        "T006": "completed",
        "T007": "skipped",
    }
    errs = errors(handle)
    assert errs["T002"] == "exit code 3"
    for skipped in ("T003", "T004", "T007"):
        assert "T002" in (errs[skipped] or ""), errs[skipped]
        assert "failed" in (errs[skipped] or "")
        assert recorder.kinds(skipped) == ["task_finished"]  # never started
    finished = {e.task_id: e for e in recorder.events if e.kind is EventKind.TASK_FINISHED}
    assert finished["T003"].data["blocked_by"] == "T002"
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
        assert rows["T002"]["status"] == "failed"
        assert rows["T002"]["exit_code"] == 3
        assert rows["T002"]["error"] == "exit code 3"
        assert "about to fail" in rows["T002"]["stderr_tail"]
        assert "T002" in rows["T003"]["error"]
        assert rows["T003"]["started"] is None
        assert store.run(handle.run_id)["status"] == "failed"
        log = Path(rows["T002"]["log_path"])
        assert "about to fail" in log.read_text()


# --- 4. retries -------------------------------------------------------------------------------

FLAKY = block(
    "n=$(cat counter 2>/dev/null || echo 0)",
    "n=$((n + 1))",
    'echo "$n" > counter',
    'test "$n" -ge 3',
)


@pytest.mark.parametrize(
    ("annotation", "settings", "final", "attempts"),
    [
        ("retries=2 backoff=0", {}, "completed", 3),
        ("retries=1 backoff=0", {}, "failed", 2),
        ("", {"retries": 2, "backoff": 0}, "completed", 3),
        ("retries=0", {"retries": 5, "backoff": 0}, "failed", 1),  # the task's own value wins
    ],
)
def test_retries_run_the_task_again_until_it_succeeds(
    tmp_path: Path, annotation: str, settings: dict[str, Any], final: str, attempts: int
) -> None:
    ann = f"  - taskexec: {annotation}\n" if annotation else ""
    text = f"## Phase 1: Flaky\n\n- [ ] T001 Flaky step\n{ann}{FLAKY}- [ ] T002 After it\n{MARK}"
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        state_dir=tmp_path / "state", observers=[recorder], **settings
    )
    assert (tmp_path / "counter").read_text().strip() == str(attempts)
    row = handle.snapshot()[0]
    assert (row["status"], row["attempt"]) == (final, attempts)
    retrying = [e for e in recorder.events if e.kind is EventKind.TASK_RETRYING]
    assert [e.attempt for e in retrying] == list(range(1, attempts))
    assert all(e.data["attempt_status"] == "failed" for e in retrying)
    assert [
        e.attempt
        for e in recorder.events
        if e.kind is EventKind.TASK_STARTED and e.task_id == "T001"
    ] == list(range(1, attempts + 1))
    assert handle.result is (RunStatus.COMPLETED if final == "completed" else RunStatus.FAILED)
    assert ran(tmp_path) == ({"T002"} if final == "completed" else set())
    with opened_store(tmp_path) as store:
        stored = [
            (a["attempt"], a["status"])
            for a in store.attempts(handle.run_id)
            if a["task_id"] == "T001"
        ]
        expected = ["failed"] * (attempts - 1) + [final]
        assert stored == list(zip(range(1, attempts + 1), expected, strict=True))
        assert rows_by_id(store, handle.run_id)["T001"]["attempt"] == attempts


def test_backoff_doubles_between_attempts(tmp_path: Path) -> None:
    text = f"- [ ] T001 Flaky\n  - taskexec: retries=2 backoff=200ms\n{FLAKY}"
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        state_dir=tmp_path / "state", observers=[recorder]
    )
    assert handle.result is RunStatus.COMPLETED
    delays = [e.data["delay"] for e in recorder.events if e.kind is EventKind.TASK_RETRYING]
    assert delays == pytest.approx([0.2, 0.4])
    ends = [e.time for e in recorder.events if e.kind is EventKind.TASK_RETRYING]
    starts = [e.time for e in recorder.events if e.kind is EventKind.TASK_STARTED][1:]
    for end, start, delay in zip(ends, starts, delays, strict=True):
        assert start - end >= delay - 0.01


def test_a_task_waiting_out_its_backoff_leaves_its_worker_to_others(tmp_path: Path) -> None:
    text = (
        "- [ ] T001 [P] Fails, then waits to retry\n  - taskexec: retries=1 backoff=2s\n"
        + block("mkdir -p times", 'echo x >> "times/T001.tries"', "exit 1")
        + "".join(f"- [ ] T00{i} [P] Quick\n{stamped(0.4)}" for i in (2, 3, 4))
    )
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        max_workers=2, state_dir=tmp_path / "state", observers=[recorder], writeback=False
    )
    assert handle.result is RunStatus.FAILED
    spans = times(tmp_path)
    # Two of the quick tasks run at once while T001 waits: both workers are in use.
    assert overlap(spans["T002"], spans["T003"]) or overlap(spans["T003"], spans["T004"])
    assert (tmp_path / "times" / "T001.tries").read_text().count("x") == 2
    started = [e for e in recorder.events if e.kind is EventKind.TASK_STARTED]
    assert started[-1].task_id == "T001" and started[-1].attempt == 2
    # Never more than two tasks at work: the retry waited for a worker of its own.
    running = 0
    for event in recorder.events:
        if event.kind is EventKind.TASK_STARTED:
            running += 1
            assert running <= 2
        elif event.kind in (EventKind.TASK_FINISHED, EventKind.TASK_RETRYING):
            running -= event.attempt is not None


def test_a_cancel_during_a_backoff_ends_the_waiting_task(tmp_path: Path) -> None:
    text = "- [ ] T001 Fails\n  - taskexec: retries=3 backoff=30s\n" + block("exit 1")

    async def body() -> None:
        handle = await taskexec_nb.load(write_md(tmp_path, text)).arun(
            state_dir=tmp_path / "state", writeback=False
        )
        await until(lambda: handle.status().loc[0, "waiting_on"] is not None)
        handle.cancel()
        assert (await asyncio.wait_for(handle.wait(), 10)).value == "cancelled"
        assert handle.status().loc[0, "status"] == "cancelled"

    run_async(body)


# --- 5. timeouts end the whole process tree -----------------------------------------------------


@pytest.mark.parametrize("leader_ignores_term", [False, True])
def test_timeout_kills_children_and_grandchildren(
    tmp_path: Path, leader_ignores_term: bool
) -> None:
    script = [
        *(["trap '' TERM"] if leader_ignores_term else []),
        "echo $$ > leader.pid",
        "sleep 30 &",
        "echo $! > child.pid",
        # a child that ignores SIGTERM and has a child of its own
        "bash -c 'trap \"\" TERM; sleep 30 & echo $! > grandchild.pid; wait' &",
        "echo $! > middle.pid",
        "sleep 30",
    ]
    text = (
        f"- [ ] T001 Hang forever\n  - taskexec: timeout=1s\n{block(*script)}"
        f"- [ ] T002 Next\n{MARK}"
    )
    plan = taskexec_nb.load(write_md(tmp_path, text))
    began = time.monotonic()
    handle = plan.run(kill_grace=0.5, state_dir=tmp_path / "state")
    elapsed = time.monotonic() - began
    assert 1.0 <= elapsed < 5.0
    row = handle.snapshot()[0]
    assert row["status"] == "timed_out"
    assert row["error"] == "timed out after 1 s"
    assert statuses(handle)["T002"] == "skipped"
    assert handle.result is RunStatus.FAILED
    pids = {
        name: wait_pid(tmp_path / f"{name}.pid")
        for name in ("leader", "child", "middle", "grandchild")
    }
    for name, pid in pids.items():
        assert wait_until(lambda pid=pid: gone(pid), 2.0), f"{name} {pid} still runs"
    assert group_members(pids["leader"]) == []
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
        assert rows["T001"]["status"] == "timed_out"
        assert rows["T001"]["signal"] in (9, 15)
        (attempt,) = store.attempts(handle.run_id)
        assert attempt["pgid"] == pids["leader"]


def test_processes_a_task_leaves_behind_end_with_it(tmp_path: Path) -> None:
    text = (
        "- [ ] T001 Leaves a quiet background process\n"
        f"{block('sleep 30 > /dev/null 2>&1 &', 'echo $! > quiet.pid')}"
        "- [ ] T002 Leaves a background process that holds its output\n"
        f"{block('sleep 30 &', 'echo $! > loud.pid')}"
    )
    began = time.monotonic()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        kill_grace=0.5, state_dir=tmp_path / "state"
    )
    assert time.monotonic() - began < 3.0
    assert handle.result is RunStatus.COMPLETED
    for name in ("quiet", "loud"):
        pid = wait_pid(tmp_path / f"{name}.pid")
        assert wait_until(lambda pid=pid: gone(pid), 1.0), f"{name} {pid} outlived its task"


def test_a_detached_process_ignoring_sigterm_is_killed_after_a_long_grace(tmp_path: Path) -> None:
    # It left the task's group (setsid), so only the watchdog finds it, by its marker; the
    # run's end must wait for the watchdog's grace period, here longer than 5 s.
    text = "- [ ] T001 Detaches a stubborn process\n" + block(
        "setsid sh -c 'trap \"\" TERM; echo $$ > stubborn.pid; sleep 60' > /dev/null 2>&1 &",
        "while [ ! -s stubborn.pid ]; do sleep 0.05; done",
    )
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        kill_grace=6, state_dir=tmp_path / "state"
    )
    assert handle.result is RunStatus.COMPLETED
    pid = wait_pid(tmp_path / "stubborn.pid")
    assert wait_until(lambda: gone(pid), 1.0), f"{pid} outlived the run"


# --- 6. pause and resume ------------------------------------------------------------------------

CHAIN = f"""## Phase 1: Chain

- [ ] T001 Long first step
{stamped(0.6)}- [ ] T002 Second step
{stamped(0.05)}- [ ] T003 Third step
{stamped(0.05)}"""


def test_pause_stops_dispatch_and_resume_finishes_the_run(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, CHAIN))
    recorder = EventRecorder()
    marks: dict[str, float] = {}

    async def main() -> None:
        handle = await plan.arun(max_workers=1, state_dir=tmp_path / "state", observers=[recorder])
        try:
            await until(lambda: (tmp_path / "times" / "T001.start").exists())
            handle.pause()
            marks["paused"] = time.time()
            assert handle.paused
            await until(lambda: (tmp_path / "times" / "T001.end").exists())
            await asyncio.sleep(0.6)  # plenty of time for T002 to start if dispatch went on
            assert not (tmp_path / "times" / "T002.start").exists()
            st = statuses(handle)
            assert st["T001"] == "completed"
            assert st["T002"] in ("pending", "queued")  # ready, but not started
            assert st["T003"] == "pending"
            assert not handle.done
            assert "paused" in repr(handle)
            marks["resumed"] = time.time()
            handle.resume()
            assert not handle.paused
            assert await handle.wait() is RunStatus.COMPLETED
        finally:
            if not handle.done:
                handle.cancel()
                await handle.wait()

    run_async(main)
    seen = times(tmp_path)
    assert seen["T002"][0] >= marks["resumed"]
    assert seen["T002"][0] - seen["T001"][1] >= 0.5
    steps = [(e.kind.value, e.task_id) for e in recorder.events]
    paused, resumed = steps.index(("run_paused", None)), steps.index(("run_resumed", None))
    assert steps.index(("task_started", "T001")) < paused < resumed
    assert resumed < steps.index(("task_started", "T002"))


TICKS = "for i in $(seq 20); do date +%s.%N >> ticks; sleep 0.05; done"


@pytest.mark.parametrize(
    "lines",
    [
        ("echo $$ > loop.pid", TICKS),
        # In a session of its own (as a notebook's kernel is), found by the attempt's marks.
        (f"setsid sh -c 'echo $$ > loop.pid; {TICKS}' &", "wait"),
    ],
    ids=["group", "own-session"],
)
def test_pause_with_suspend_stops_the_running_process_group(
    tmp_path: Path, lines: tuple[str, str]
) -> None:
    loop = block(*lines)
    # 20 ticks take about 1.2 s: within the 2 s timeout, unless paused time counted.
    text = f"- [ ] T001 Tick\n  - taskexec: timeout=2s\n{loop}"
    plan = taskexec_nb.load(write_md(tmp_path, text))
    ticks = tmp_path / "ticks"

    def count() -> int:
        return len(ticks.read_text().splitlines()) if ticks.exists() else 0

    async def main() -> None:
        handle = await plan.arun(max_workers=1, state_dir=tmp_path / "state", kill_grace=0.5)
        try:
            await until(lambda: count() >= 3)
            pid = await aread_pid(tmp_path / "loop.pid")
            handle.pause(suspend=True)
            await until(lambda: proc_state(pid) == "T", 2.0)
            assert statuses(handle) == {"T001": "paused"}
            await asyncio.sleep(0.1)
            frozen = count()
            await asyncio.sleep(1.2)
            assert count() == frozen, "the suspended loop kept ticking"
            assert proc_state(pid) == "T"
            handle.resume()
            await until(lambda: proc_state(pid) in ("S", "R"), 2.0)
            assert statuses(handle) == {"T001": "running"}
            await until(lambda: count() > frozen, 2.0)
            assert await handle.wait() is RunStatus.COMPLETED
        finally:
            if not handle.done:
                handle.cancel()
                await handle.wait()
        assert statuses(handle) == {"T001": "completed"}

    run_async(main)
    assert count() == 20


# --- 7. cancel --------------------------------------------------------------------------------

LONG_THEN_MORE = f"""## Phase 1: Long

- [ ] T001 Long step
{block("echo $$ > leader.pid", "sleep 30 &", "echo $! > child.pid", "wait")}- [ ] T002 Later
{MARK}- [ ] T003 [P] Later too
{MARK}"""


@pytest.mark.parametrize(
    ("how", "result", "reason"),
    [
        ("cancel", RunStatus.CANCELLED, "run cancelled"),
        ("interrupt", RunStatus.INTERRUPTED, "interrupted"),
    ],
)
def test_cancel_stops_the_running_task_and_cancels_the_rest(
    tmp_path: Path, how: str, result: RunStatus, reason: str
) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, LONG_THEN_MORE))
    pids: dict[str, int] = {}

    async def main() -> None:
        handle = await plan.arun(max_workers=2, kill_grace=0.5, state_dir=tmp_path / "state")
        try:
            pids["leader"] = await aread_pid(tmp_path / "leader.pid")
            pids["child"] = await aread_pid(tmp_path / "child.pid")
            began = time.monotonic()
            getattr(handle, how)()
            assert await handle.wait() is result
            assert time.monotonic() - began < 3.0
        finally:
            if not handle.done:
                handle.cancel()
                await handle.wait()
        assert handle.result is result
        assert statuses(handle) == {"T001": "cancelled", "T002": "cancelled", "T003": "cancelled"}
        errs = errors(handle)
        assert errs["T001"] == "cancelled"
        assert errs["T002"] == errs["T003"] == reason
        with opened_store(tmp_path) as store:
            assert store.run(handle.run_id)["status"] == result.value
            rows = rows_by_id(store, handle.run_id)
            assert {r["status"] for r in rows.values()} == {"cancelled"}

    run_async(main)
    assert ran(tmp_path) == set()
    for name, pid in pids.items():
        assert wait_until(lambda pid=pid: gone(pid), 2.0), f"{name} {pid} still runs"
    assert group_members(pids["leader"]) == []


def test_a_run_whose_asyncio_task_is_cancelled_leaves_no_process(tmp_path: Path) -> None:
    """Leaving ``asyncio.run`` early (an exception, Ctrl-C) must not orphan the task's processes.

    asyncio.run cancels the leftover tasks in no fixed order, so this tries a few times.
    """
    plan = taskexec_nb.load(write_md(tmp_path, LONG_THEN_MORE))

    async def main() -> None:
        await plan.arun(max_workers=1, kill_grace=0.5, state_dir=tmp_path / "state")
        await aread_pid(tmp_path / "child.pid")
        # return without waiting: asyncio.run cancels the run's task on the way out

    for _ in range(3):
        for name in ("leader.pid", "child.pid"):
            (tmp_path / name).unlink(missing_ok=True)
        try:
            asyncio.run(main())
            # Recorded interrupted (resumable) by then, its attempt closed: not left running.
            run, tasks, attempts = stored_now(tmp_path / "state" / "state.db")
            assert run == "interrupted"
            assert tasks == {"T001": "cancelled", "T002": "cancelled", "T003": "cancelled"}
            assert attempts == [("T001", "cancelled", "cancelled (interrupted)")]
            leader = wait_pid(tmp_path / "leader.pid")
            child = wait_pid(tmp_path / "child.pid")
            left = wait_until(lambda pids=(leader, child): all(map(gone, pids)), 2.0)
            members = group_members(leader)
            for pid in members:
                os.kill(pid, signal.SIGKILL)
            assert left, f"the task's processes outlived the run: {members}"
        finally:
            gc.collect()


def stored_now(db: Path) -> tuple[str, dict[str, str], list[tuple[str, str, str]]]:
    """The latest run's status, its tasks' and its attempts', read from SQLite as they are."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        run_id, status = conn.execute(
            "SELECT run_id, status FROM runs ORDER BY started DESC LIMIT 1"
        ).fetchone()
        tasks = dict(conn.execute("SELECT task_id, status FROM tasks WHERE run_id = ?", (run_id,)))
        attempts = conn.execute(
            "SELECT task_id, status, error FROM attempts WHERE run_id = ? AND finished IS NOT NULL",
            (run_id,),
        ).fetchall()
    return status, tasks, attempts


@pytest.mark.parametrize("cancels", [1, 2])
def test_cancelling_the_wait_of_an_arun_records_it_interrupted_at_once(
    tmp_path: Path, cancels: int
) -> None:
    """A notebook's interrupt or Ctrl-C under asyncio.run cancels the task awaiting the run."""
    # The task ignores SIGTERM: SIGKILL ends it after kill_grace, or at a second cancel.
    leader_line = "  echo $$ > leader.pid"
    text = LONG_THEN_MORE.replace(leader_line, f"  trap '' TERM\n{leader_line}")
    plan = taskexec_nb.load(write_md(tmp_path, text))
    grace = 0.5 if cancels == 1 else 20.0  # a second cancel does not wait the grace out

    async def main() -> tuple[Any, int]:
        handle = await plan.arun(max_workers=1, kill_grace=grace, state_dir=tmp_path / "state")
        leader = await aread_pid(tmp_path / "leader.pid")
        await aread_pid(tmp_path / "child.pid")
        waiter = asyncio.ensure_future(handle.wait())
        await asyncio.sleep(0.1)
        began = time.monotonic()
        for _ in range(cancels):
            waiter.cancel()
            await asyncio.sleep(0.1)
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert time.monotonic() - began < 3.0
        # Right after the cancellation, before anything else runs: what SQLite holds.
        run, tasks, attempts = stored_now(tmp_path / "state" / "state.db")
        assert run == "interrupted"
        assert tasks == {"T001": "cancelled", "T002": "cancelled", "T003": "cancelled"}
        assert [a[:2] for a in attempts] == [("T001", "cancelled")]
        assert group_members(leader) == []  # stopped as Ctrl-C stops plan.run()
        return handle, leader

    handle, _ = asyncio.run(main())
    assert handle.result is RunStatus.INTERRUPTED and handle.done
    path = tmp_path / "tasks.md"
    assert "trap '' TERM" in path.read_text()
    path.write_text(path.read_text().replace("sleep 30 &", "true &"))
    resumed = taskexec_nb.load(path).run(resume=handle.run_id, state_dir=tmp_path / "state")
    assert resumed.result is RunStatus.COMPLETED and resumed.run_id == handle.run_id
    assert ran(tmp_path) == {"T002", "T003"}


ARUN_SCRIPT = """
import asyncio, signal, sys
import taskexec_nb

signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal


async def main():
    run = await taskexec_nb.load(sys.argv[1]).arun(kill_grace=0.5)
    print(run.run_id, flush=True)
    await run.wait()


try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_in_asyncio_run_awaiting_an_arun_records_it_interrupted(tmp_path: Path) -> None:
    path = write_md(tmp_path, LONG_THEN_MORE)
    proc = subprocess.Popen(
        [sys.executable, "-c", ARUN_SCRIPT, str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        leader = wait_pid(tmp_path / "leader.pid")
        wait_pid(tmp_path / "child.pid")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    run, tasks, _ = stored_now(tmp_path / ".taskexec" / "state.db")
    assert run == "interrupted", err
    assert tasks == {"T001": "cancelled", "T002": "cancelled", "T003": "cancelled"}
    assert wait_until(lambda: group_members(leader) == [], 2.0)
    path.write_text(path.read_text().replace("sleep 30 &", "true &"))
    resumed = taskexec_nb.load(path).run(resume=out.strip())
    assert resumed.result is RunStatus.COMPLETED
    assert ran(tmp_path) == {"T002", "T003"}


def test_cancel_ends_a_suspended_task(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, LONG_THEN_MORE))

    async def main() -> None:
        handle = await plan.arun(max_workers=1, kill_grace=0.5, state_dir=tmp_path / "state")
        try:
            leader = await aread_pid(tmp_path / "leader.pid")
            await aread_pid(tmp_path / "child.pid")
            handle.pause(suspend=True)
            await until(lambda: proc_state(leader) == "T", 2.0)
            began = time.monotonic()
            handle.cancel()
            assert await handle.wait() is RunStatus.CANCELLED
            assert time.monotonic() - began < 3.0
            assert statuses(handle)["T001"] == "cancelled"
            assert wait_until(lambda: group_members(leader) == [], 2.0)
        finally:
            if not handle.done:
                handle.cancel()
                await handle.wait()

    run_async(main)


def test_ctrl_c_during_a_blocking_run_interrupts_it(tmp_path: Path) -> None:
    text = f"- [ ] T001 Long\n{block('echo $$ > leader.pid', 'sleep 30')}"
    plan = taskexec_nb.load(write_md(tmp_path, text))
    returned = threading.Event()

    def press_ctrl_c() -> None:
        pid_file = tmp_path / "leader.pid"
        wait_until(lambda: pid_file.exists() or returned.is_set(), 10.0)
        if pid_file.exists() and not returned.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    began = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt, match="interrupted; resume it"):
            plan.run(kill_grace=0.5, state_dir=tmp_path / "state")
    finally:
        returned.set()
        presser.join()
    assert time.monotonic() - began < 5.0
    leader = wait_pid(tmp_path / "leader.pid")
    assert wait_until(lambda: gone(leader), 2.0)
    with opened_store(tmp_path) as store:
        run_id = store.latest_run()
        assert run_id is not None
        assert store.run(run_id)["status"] == "interrupted"
        assert rows_by_id(store, run_id)["T001"]["status"] == "cancelled"


# --- 8. resources -------------------------------------------------------------------------------


def test_resources_queue_tasks_until_capacity_is_free(tmp_path: Path) -> None:
    text = (
        "## Phase 1: GPU work\n\n"
        f"- [ ] T001 [P] Train a in a.py\n  - taskexec: needs=gpu:1\n{stamped(0.5)}"
        f"- [ ] T002 [P] Train b in b.py\n  - taskexec: needs=gpu\n{stamped(0.5)}"
        f"- [ ] T003 [P] CPU work in c.py\n{stamped(0.5)}"
    )
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        max_workers=4, resources={"gpu": 1}, state_dir=tmp_path / "state", observers=[recorder]
    )
    assert handle.result is RunStatus.COMPLETED
    seen = times(tmp_path)
    assert not overlap(seen["T001"], seen["T002"])
    assert overlap(seen["T001"], seen["T003"])  # the limit is the gpu, not the workers
    _, second = sorted(("T001", "T002"), key=lambda t: seen[t][0])
    queued = [
        e for e in recorder.events if e.kind is EventKind.TASK_QUEUED and e.data["waiting_on"]
    ]
    assert [(e.task_id, e.data["waiting_on"], e.status) for e in queued] == [
        (second, "gpu", "queued")
    ]
    assert all(row["waiting_on"] is None for row in handle.snapshot())
    with opened_store(tmp_path) as store:
        assert all(r["waiting_on"] is None for r in store.tasks(handle.run_id))
        queued_rows = [e for e in store.events(handle.run_id) if e["kind"] == "task_queued"]
        assert [e["data"].get("waiting_on") for e in queued_rows] == [None, None, None, "gpu"]


def test_a_task_needing_more_than_exists_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    text = f"- [ ] T001 Harmless\n{MARK}- [ ] T002 Train big\n  - taskexec: needs=gpu:2\n{MARK}"
    path = write_md(tmp_path, text)
    plan = taskexec_nb.load(path)
    line = line_of(text, "needs=gpu:2")
    with pytest.raises(UsageError) as info:
        plan.run(resources={"gpu": 1}, state_dir=tmp_path / "state")
    message = str(info.value)
    assert "T002" in message and "gpu" in message
    assert f"{path}:{line}" in message
    assert "T001" not in message
    with pytest.raises(UsageError, match="T002 needs gpu=2 but the run has gpu=0"):
        plan.run(state_dir=tmp_path / "state")

    async def main() -> None:
        with pytest.raises(UsageError, match="gpu"):
            await plan.arun(resources={"gpu": 1}, state_dir=tmp_path / "state")

    run_async(main)
    assert ran(tmp_path) == set()


# --- 9. allow_failure and fail_fast -------------------------------------------------------------


def test_allow_failure_lets_dependents_run(tmp_path: Path) -> None:
    text = (
        f"- [ ] T001 May fail\n  - taskexec: allow_failure=yes\n{block('exit 4')}"
        f"- [ ] T002 Runs anyway\n{MARK}"
        f"- [ ] T003 Must not fail\n{block('exit 5')}"
        f"- [ ] T004 Blocked\n{MARK}"
    )
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(state_dir=tmp_path / "state")
    assert statuses(handle) == {
        "T001": "failed",
        "T002": "completed",
        "T003": "failed",
        "T004": "skipped",
    }
    assert ran(tmp_path) == {"T002"}
    assert handle.result is RunStatus.FAILED  # T003 is not allowed to fail


def test_an_allowed_failure_alone_does_not_fail_the_run(tmp_path: Path) -> None:
    text = (
        f"- [ ] T001 May fail\n  - taskexec: allow_failure=yes\n{block('exit 4')}"
        f"- [ ] T002 Runs anyway\n{MARK}"
    )
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(state_dir=tmp_path / "state")
    assert statuses(handle) == {"T001": "failed", "T002": "completed"}
    assert handle.result is RunStatus.COMPLETED


FAIL_FAST = f"""## Phase 1: Two at once

- [ ] T001 Fails at once
{block("exit 1")}- [ ] T002 Already running when T001 fails
{stamped(0.4)}- [ ] T003 Waits for T002 (depends on T002)
{MARK}- [ ] T004 Waits for the failure (depends on T001)
{MARK}"""


@pytest.mark.parametrize("fail_fast", [True, False])
def test_fail_fast_stops_dispatch_after_the_first_failure(tmp_path: Path, fail_fast: bool) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, FAIL_FAST), mode="explicit")
    handle = plan.run(max_workers=2, fail_fast=fail_fast, state_dir=tmp_path / "state")
    assert handle.result is RunStatus.FAILED
    st, errs = statuses(handle), errors(handle)
    assert st["T001"] == "failed"
    assert st["T002"] == "completed"  # a running task is not stopped by fail-fast
    assert "T002" in times(tmp_path)
    assert st["T004"] == "skipped"
    assert "T001" in (errs["T004"] or "")
    if fail_fast:
        assert st["T003"] == "skipped"
        assert "fail-fast" in (errs["T003"] or "")
        assert "T001" in (errs["T003"] or "")
        assert ran(tmp_path) == set()
    else:
        assert st["T003"] == "completed"
        assert ran(tmp_path) == {"T003"}


# --- 10. tasks without an action ------------------------------------------------------------------

NO_ACTION = f"""## Phase 1: Think, then do

- [ ] T001 Think about the design of the parser
- [ ] T002 Then write notes.txt
{block("echo done > notes.txt")}"""


def test_no_action_default_is_skip_and_blocks_dependents(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, NO_ACTION))
    assert any(d.code == "TX105" for d in plan.diagnostics)
    recorder = EventRecorder()
    handle = plan.run(state_dir=tmp_path / "state", observers=[recorder])
    assert statuses(handle) == {"T001": "skipped", "T002": "skipped"}
    errs = errors(handle)
    assert "no_action" in (errs["T001"] or "")
    assert "T001" in (errs["T002"] or "")
    assert not (tmp_path / "notes.txt").exists()
    assert "task_started" not in recorder.kinds("T001")
    assert recorder.kinds("T001")[-1] == "task_finished"
    # Before anything ran, the notices said how to connect an agent.
    assert handle.notices[0].startswith("T001 has no action and no agent is connected")
    assert "agent_command = [" in handle.notices[0]
    # Nothing failed, but T001 had nothing to run it and T002 waited on it: incomplete.
    assert handle.result is RunStatus.INCOMPLETE
    assert "incomplete" in repr(handle)
    assert any(n.startswith("run incomplete: T001 not run") for n in handle.notices)
    with opened_store(tmp_path) as store:
        assert store.run(handle.run_id)["status"] == "incomplete"
    assert handle.report().summary["status"] == "incomplete"
    # never reported done, never ticked
    assert "- [ ] T001" in (tmp_path / "tasks.md").read_text()


def test_a_failure_makes_a_run_with_unrun_tasks_failed_not_incomplete(tmp_path: Path) -> None:
    text = NO_ACTION + "\n\n## Phase 2: Apart\n\n- [ ] T003 [P] Breaks\n" + block("exit 3")
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")  # all independent
    handle = plan.run(state_dir=tmp_path / "state")
    assert statuses(handle) == {"T001": "skipped", "T002": "completed", "T003": "failed"}
    assert handle.result is RunStatus.FAILED
    assert not any("run incomplete" in n for n in handle.notices)


def test_no_action_fail_fails_the_task(tmp_path: Path) -> None:
    handle = taskexec_nb.load(write_md(tmp_path, NO_ACTION)).run(
        no_action="fail", state_dir=tmp_path / "state"
    )
    assert statuses(handle) == {"T001": "failed", "T002": "skipped"}
    assert "no_action=fail" in (errors(handle)["T001"] or "")
    assert handle.result is RunStatus.FAILED
    assert not (tmp_path / "notes.txt").exists()


AGENT_ARGV = "import sys; open('agent.txt', 'w').write(sys.argv[1]); print(len(sys.argv))"
AGENT_STDIN = "import sys; open('agent.txt', 'w').write(sys.stdin.read())"


@pytest.mark.parametrize(
    ("no_action", "template"),
    [
        ("agent", [sys.executable, "-c", AGENT_ARGV, "{prompt}"]),
        (None, [sys.executable, "-c", AGENT_ARGV, "{prompt}"]),  # default with a command: agent
        ("agent", [sys.executable, "-c", AGENT_STDIN]),  # no {prompt}: the prompt is stdin
    ],
)
def test_no_action_agent_runs_the_agent_command_with_the_prompt(
    tmp_path: Path, no_action: str | None, template: list[str]
) -> None:
    path = write_md(tmp_path, NO_ACTION)
    handle = taskexec_nb.load(path).run(
        no_action=no_action, agent_command=template, state_dir=tmp_path / "state"
    )
    assert statuses(handle) == {"T001": "completed", "T002": "completed"}
    assert not any("no agent is connected" in n for n in handle.notices)
    prompt = (tmp_path / "agent.txt").read_text()
    assert prompt.startswith(f"Implement task T001 from {path}.\n")
    assert "Task: Think about the design of the parser" in prompt
    assert "Do only this task." in prompt
    assert (tmp_path / "notes.txt").read_text() == "done\n"
    if "{prompt}" in template:
        with opened_store(tmp_path) as store:
            tail = rows_by_id(store, handle.run_id)["T001"]["tail"]
        assert tail.strip() == "2"  # the whole multi-line prompt is one argv element


def test_no_action_agent_without_a_command_is_refused_before_running(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, NO_ACTION))
    with pytest.raises(UsageError, match=r"no agent_command is set, but .* no_action=agent"):
        plan.run(no_action="agent", state_dir=tmp_path / "state")
    with opened_store(tmp_path) as store:
        assert store.runs() == []  # refused before a run was recorded


# --- 11. Python callables -----------------------------------------------------------------------

CALLABLES = f"""## Phase 1: Functions

- [ ] T001 Sync function
- [ ] T002 Async function
- [ ] T003 Raises
- [ ] T004 Returns False
- [ ] T005 Has a bash block, but a function is registered
{block("touch bash-ran")}- [ ] T006 [US1] Registered by story
- [ ] T007 Async and too slow
  - taskexec: timeout=250ms
"""


def test_callables_run_and_report_failures(tmp_path: Path) -> None:
    calls: dict[str, Any] = {}

    def sync_fn() -> None:
        calls["T001"] = threading.current_thread() is not threading.main_thread()
        (tmp_path / "sync.txt").write_text("sync")

    async def async_fn(ctx: AttemptContext) -> bool:
        asyncio.get_running_loop()
        await asyncio.sleep(0.01)
        calls["T002"] = (ctx.task.id, ctx.attempt, ctx.run_id, ctx.cwd)
        return True

    def boom(ctx: AttemptContext) -> None:
        raise ValueError(f"boom in {ctx.task.id}")

    def story_fn(ctx: AttemptContext) -> None:
        calls["US1"] = ctx.task.id

    async def slow() -> None:
        await asyncio.sleep(5)
        calls["slow"] = "finished"

    plan = taskexec_nb.load(write_md(tmp_path, CALLABLES), mode="explicit")
    began = time.monotonic()
    handle = plan.run(
        callables={
            "T001": sync_fn,
            "T002": async_fn,
            "T003": boom,
            "T004": lambda: False,
            "T005": lambda: None,
            "US1": story_fn,
            "T007": slow,
        },
        state_dir=tmp_path / "state",
    )
    assert time.monotonic() - began < 3.0
    assert statuses(handle) == {
        "T001": "completed",
        "T002": "completed",
        "T003": "failed",
        "T004": "failed",
        "T005": "completed",
        "T006": "completed",
        "T007": "timed_out",
    }
    assert (tmp_path / "sync.txt").read_text() == "sync"
    assert calls["T001"] is True  # plain functions run off the loop's thread
    assert calls["T002"] == ("T002", 1, handle.run_id, tmp_path)
    assert calls["US1"] == "T006"
    assert "slow" not in calls
    assert not (tmp_path / "bash-ran").exists()
    errs = errors(handle)
    assert errs["T003"] == "ValueError: boom in T003"
    assert errs["T004"] == "the callable returned False"
    assert errs["T007"] == "timed out after 0.25 s"
    assert handle.result is RunStatus.FAILED
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
        assert "Traceback" in rows["T003"]["tail"]
        assert "ValueError: boom in T003" in rows["T003"]["tail"]
        assert rows["T003"]["error"] == "ValueError: boom in T003"


# --- 12. the event stream -----------------------------------------------------------------------


def _summary(events: list[Event]) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind.value, e.task_id, e.status) for e in events]


def test_a_two_task_chain_emits_exactly_these_events(tmp_path: Path) -> None:
    text = f"- [ ] T001 First\n{block(': > one')}- [ ] T002 Second\n{block(': > two')}"
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        state_dir=tmp_path / "state", observers=[recorder]
    )
    assert _summary(recorder.events) == [
        ("run_started", None, "running"),
        ("task_queued", "T001", "queued"),
        ("task_started", "T001", "running"),
        ("task_finished", "T001", "completed"),
        ("task_queued", "T002", "queued"),
        ("task_ticked", "T001", None),  # once its finish is saved
        ("task_started", "T002", "running"),
        ("task_finished", "T002", "completed"),
        ("task_ticked", "T002", None),
        ("run_finished", None, "completed"),
    ]
    assert {e.run_id for e in recorder.events} == {handle.run_id}
    assert [e.attempt for e in recorder.events] == [
        None,
        None,
        1,
        1,
        None,
        None,
        1,
        1,
        None,
        None,
    ]
    assert all(
        e.data["waiting_on"] is None for e in recorder.events if e.kind.value == "task_queued"
    )
    assert recorder.events[0].data["tasks"] == 2
    assert recorder.events[-1].data["counts"] == {"completed": 2}
    assert all(a.time <= b.time for a, b in itertools.pairwise(recorder.events))
    finished = [e for e in recorder.events if e.kind is EventKind.TASK_FINISHED]
    assert all(e.data["exit_code"] == 0 for e in finished)
    with opened_store(tmp_path) as store:
        stored = store.events(handle.run_id)
        assert [(e["kind"], e["task_id"], e["status"]) for e in stored] == _summary(recorder.events)


def test_output_and_failure_events(tmp_path: Path) -> None:
    text = (
        f"- [ ] T001 Speaks then fails\n{block('echo hello from T001', 'exit 2')}"
        f"- [ ] T002 Never starts\n{MARK}"
    )
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        state_dir=tmp_path / "state", observers=[recorder]
    )
    output = "".join(
        e.data["text"]
        for e in recorder.events
        if e.kind is EventKind.TASK_OUTPUT and e.data["stream"] == "stdout"
    )
    assert output == "hello from T001\n"
    quiet = [e for e in recorder.events if e.kind is not EventKind.TASK_OUTPUT]
    assert _summary(quiet) == [
        ("run_started", None, "running"),
        ("task_queued", "T001", "queued"),
        ("task_started", "T001", "running"),
        ("task_finished", "T001", "failed"),
        ("task_finished", "T002", "skipped"),
        ("run_finished", None, "failed"),
    ]
    assert quiet[3].data["exit_code"] == 2
    assert quiet[-1].data["counts"] == {"failed": 1, "skipped": 1}
    assert {e.run_id for e in recorder.events} == {handle.run_id}


# --- 13. the status frame -----------------------------------------------------------------------


def test_status_frame_shows_what_happened(tmp_path: Path) -> None:
    text = (
        "## Phase 1: Setup\n\n"
        f"- [ ] T001 Set up\n{stamped(0.2)}\n"
        "## Phase 3: User Story 1 - Things (Priority: P1)\n\n"
        f"- [ ] T002 [US1] Fail twice then pass\n  - taskexec: retries=2 backoff=0\n{FLAKY}"
        f"- [ ] T003 [US1] Fail\n{block('exit 7')}"
        f"- [ ] T004 [US1] Blocked\n{MARK}"
    )
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(state_dir=tmp_path / "state")
    frame = handle.status()
    assert list(frame.columns) == [
        "id",
        "phase",
        "story",
        "status",
        "allowed",
        "attempt",
        "start",
        "end",
        "duration",
        "waiting_on",
        "error",
    ]
    assert list(frame["id"]) == ["T001", "T002", "T003", "T004"]
    assert list(frame["phase"]) == [
        "Phase 1: Setup",
        *["Phase 3: User Story 1 - Things (Priority: P1)"] * 3,
    ]
    assert list(frame["story"].fillna("")) == ["", "US1", "US1", "US1"]
    assert list(frame["status"]) == ["completed", "completed", "failed", "skipped"]
    assert list(frame["attempt"]) == [1, 3, 1, 0]
    assert str(frame["start"].dt.tz) == "UTC"
    rows = frame.set_index("id")
    t1 = times(tmp_path)["T001"]
    assert rows.loc["T001", "start"].timestamp() <= t1[0]
    assert rows.loc["T001", "end"].timestamp() >= t1[1]
    assert rows.loc["T001", "duration"] == pytest.approx(
        (rows.loc["T001", "end"] - rows.loc["T001", "start"]).total_seconds(), abs=1e-3
    )
    assert 0.2 <= rows.loc["T001", "duration"] < 2.0
    assert rows.loc["T002", "start"] >= rows.loc["T001", "end"]
    assert pd.isna(rows.loc["T004", "start"])  # skipped: never started
    assert not pd.isna(rows.loc["T004", "end"])
    assert pd.isna(rows.loc["T004", "duration"])
    assert frame["waiting_on"].isna().all()
    assert pd.isna(rows.loc["T001", "error"])
    assert pd.isna(rows.loc["T002", "error"])  # the last attempt succeeded
    assert rows.loc["T003", "error"] == "exit code 7"
    assert "T003" in rows.loc["T004", "error"]


# --- 14. selection ------------------------------------------------------------------------------

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
        assert [r["task_id"] for r in store.tasks(handle.run_id)] == expected


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


ORDER_THROUGH_DONE = """\
# Tasks

## Phase 1: Setup

- [ ] T001 Create the project skeleton
  - taskexec: run="sleep 0.5; mkdir -p app"

## Phase 2: Foundational

- [X] T002 Decide on layout
- [ ] ~~T003 Dropped idea~~

## Phase 3: Build

- [ ] T004 [P] Write into the skeleton
  - taskexec: run="echo hi > app/file.txt"
- [ ] T005 [P] Write more into it
  - taskexec: run="echo ho > app/more.txt"
"""


def test_a_ticked_or_cancelled_task_keeps_the_order_around_it(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, ORDER_THROUGH_DONE))
    assert plan.waves == [["T001"], ["T004", "T005"]]
    assert plan.critical_path() == ["T001", "T004"]
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=4)
    assert statuses(handle) == {"T001": "completed", "T004": "completed", "T005": "completed"}
    assert (tmp_path / "app" / "file.txt").read_text() == "hi\n"


def test_a_failure_skips_what_waits_for_it_through_a_ticked_task(tmp_path: Path) -> None:
    text = ORDER_THROUGH_DONE.replace("sleep 0.5; mkdir -p app", "exit 3")
    plan = taskexec_nb.load(write_md(tmp_path, text))
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=4)
    assert statuses(handle) == {"T001": "failed", "T004": "skipped", "T005": "skipped"}
    assert "T001" in errors(handle)["T004"]
    assert not (tmp_path / "app").exists()
