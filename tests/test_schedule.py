"""The scheduler for real: subprocesses, process groups, timestamps and a SQLite store.

Every test writes its own tasks.md whose tasks record what they did in files
(start/end timestamps, markers, pid files), runs it, and checks what really
happened: order, overlap, retries, timeouts, pause, cancel, events and stored rows.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import group_members, md
from helpers import (
    MARK,
    aread_pid,
    block,
    errors,
    gone,
    linux_only,
    opened_store,
    overlap,
    proc_state,
    ran,
    rows_by_id,
    run_async,
    running,
    stamped,
    statuses,
    times,
    until,
    wait_pid,
    wait_until,
    write_md,
    write_tasks,
)

import taskexec_nb
from taskexec_nb.events import Event, EventKind, EventRecorder, RunStatus
from taskexec_nb.executors import AttemptContext

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


@linux_only
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
        assert store.run(handle.run_id).status == "completed"


FOUR_PARALLEL = "## Phase 1: Parallel\n\n" + "".join(
    f"- [ ] T00{i} [P] Sleep in part{i}.txt\n{stamped(0.5)}" for i in range(1, 5)
)


@linux_only
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


@linux_only
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


@linux_only
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
        assert store.run(handle.run_id).status == "failed"
        log = Path(rows["T002"]["log_path"])
        assert "about to fail" in log.read_text()


FLAKY = block(
    "n=$(cat counter 2>/dev/null || echo 0)",
    "n=$((n + 1))",
    'echo "$n" > counter',
    'test "$n" -ge 3',
)


@linux_only
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
            (a.attempt, a.status) for a in store.attempts(handle.run_id) if a.task_id == "T001"
        ]
        expected = ["failed"] * (attempts - 1) + [final]
        assert stored == list(zip(range(1, attempts + 1), expected, strict=True))
        assert rows_by_id(store, handle.run_id)["T001"]["attempt"] == attempts


@linux_only
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


@linux_only
def test_each_backoff_is_twice_the_one_before(tmp_path: Path) -> None:
    # Three waits: with two, doubling (b, 2b) and adding (b, 2b) look the same.
    fails_three_times = FLAKY.replace('test "$n" -ge 3', 'test "$n" -ge 4')
    text = f"- [ ] T001 Flaky\n  - taskexec: retries=3 backoff=100ms\n{fails_three_times}"
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        state_dir=tmp_path / "state", observers=[recorder]
    )
    assert handle.result is RunStatus.COMPLETED
    retrying = [e for e in recorder.events if e.kind is EventKind.TASK_RETRYING]
    assert [e.data["delay"] for e in retrying] == pytest.approx([0.1, 0.2, 0.4])
    starts = [e.time for e in recorder.events if e.kind is EventKind.TASK_STARTED]
    assert len(starts) == 4
    # The waits themselves double, not only the delays the events announce.
    for event, start in zip(retrying, starts[1:], strict=True):
        assert start - event.time >= event.data["delay"] - 0.01


@linux_only
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


@linux_only
def test_a_cancel_during_a_backoff_ends_the_waiting_task(tmp_path: Path) -> None:
    text = "- [ ] T001 Fails\n  - taskexec: retries=3 backoff=30s\n" + block("exit 1")

    async def body() -> None:
        handle = await taskexec_nb.load(write_md(tmp_path, text)).arun(
            state_dir=tmp_path / "state", writeback=False
        )
        await until(lambda: handle.status().loc["T001", "waiting_on"] is not None)
        handle.cancel()
        assert (await asyncio.wait_for(handle.wait(), 10)).value == "cancelled"
        assert handle.status().loc["T001", "status"] == "cancelled"

    run_async(body)


@linux_only
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
        assert attempt.pgid == pids["leader"]


@linux_only
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


@linux_only
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


CHAIN = f"""## Phase 1: Chain

- [ ] T001 Long first step
{stamped(0.6)}- [ ] T002 Second step
{stamped(0.05)}- [ ] T003 Third step
{stamped(0.05)}"""


@linux_only
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


@linux_only
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


LONG_THEN_MORE = f"""## Phase 1: Long

- [ ] T001 Long step
{block("echo $$ > leader.pid", "sleep 30 &", "echo $! > child.pid", "wait")}- [ ] T002 Later
{MARK}- [ ] T003 [P] Later too
{MARK}"""


@linux_only
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
        # The running task's detail is why the run stopped, like the others'.
        assert errs["T001"] == ("interrupted" if how == "interrupt" else "cancelled")
        assert errs["T002"] == errs["T003"] == reason
        with opened_store(tmp_path) as store:
            assert store.run(handle.run_id).status == result.value
            rows = rows_by_id(store, handle.run_id)
            assert {r["status"] for r in rows.values()} == {"cancelled"}

    run_async(main)
    assert ran(tmp_path) == set()
    for name, pid in pids.items():
        assert wait_until(lambda pid=pid: gone(pid), 2.0), f"{name} {pid} still runs"
    assert group_members(pids["leader"]) == []


@linux_only
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


@linux_only
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
        assert all(r.waiting_on is None for r in store.tasks(handle.run_id))
        queued_rows = [e for e in store.events(handle.run_id) if e.kind == "task_queued"]
        assert [e.data.get("waiting_on") for e in queued_rows] == [None, None, None, "gpu"]


@linux_only
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


@linux_only
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


@linux_only
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


NO_ACTION = f"""## Phase 1: Think, then do

- [ ] T001 Think about the design of the parser
- [ ] T002 Then write notes.txt
{block("echo done > notes.txt")}"""


@linux_only
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
        assert store.run(handle.run_id).status == "incomplete"
    assert handle.report().summary["status"] == "incomplete"
    # never reported done, never ticked
    assert "- [ ] T001" in (tmp_path / "tasks.md").read_text()


@linux_only
def test_a_failure_makes_a_run_with_unrun_tasks_failed_not_incomplete(tmp_path: Path) -> None:
    text = NO_ACTION + "\n\n## Phase 2: Apart\n\n- [ ] T003 [P] Breaks\n" + block("exit 3")
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")  # all independent
    handle = plan.run(state_dir=tmp_path / "state")
    assert statuses(handle) == {"T001": "skipped", "T002": "completed", "T003": "failed"}
    assert handle.result is RunStatus.FAILED
    assert not any("run incomplete" in n for n in handle.notices)


@linux_only
def test_fail_fast_does_not_stop_on_a_task_skipped_for_want_of_an_action(tmp_path: Path) -> None:
    # One worker: the task without an action ends first, before the other two start.
    text = (
        "- [ ] T001 [P] Sketch the API on paper\n"
        f"- [ ] T002 [P] Write a.txt\n{block('echo a > a.txt')}"
        f"- [ ] T003 [P] Write b.txt\n{block('echo b > b.txt')}"
    )
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(max_workers=1, fail_fast=True, state_dir=tmp_path / "state")
    # Nothing failed: the tasks that can run do, and the run is incomplete, not failed.
    assert statuses(handle) == {"T001": "skipped", "T002": "completed", "T003": "completed"}
    assert (tmp_path / "a.txt").exists() and (tmp_path / "b.txt").exists()
    assert handle.result is RunStatus.INCOMPLETE


@linux_only
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


@linux_only
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


@linux_only
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


def _summary(events: list[Event]) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind.value, e.task_id, e.status) for e in events]


@linux_only
def test_a_two_task_chain_emits_exactly_these_events(tmp_path: Path) -> None:
    text = f"- [ ] T001 First\n{block(': > one')}- [ ] T002 Second\n{block(': > two')}"
    recorder = EventRecorder()
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(
        state_dir=tmp_path / "state", observers=[recorder]
    )
    # Ticks are written together (one write per short window, and at the run's end):
    # where T001's lands among T002's events depends on how long T002 takes.
    ticks = [n for n, e in enumerate(recorder.events) if e.kind is EventKind.TASK_TICKED]
    assert [recorder.events[n].task_id for n in ticks] == ["T001", "T002"]
    summary = _summary(recorder.events)
    for n, task_id in zip(ticks, ["T001", "T002"], strict=True):
        assert summary.index(("task_finished", task_id, "completed")) < n  # once it is saved
    assert ticks[-1] < len(summary) - 1 and summary[-1][0] == "run_finished"
    assert [s for n, s in enumerate(summary) if n not in ticks] == [
        ("run_started", None, "running"),
        ("task_queued", "T001", "queued"),
        ("task_started", "T001", "running"),
        ("task_finished", "T001", "completed"),
        ("task_queued", "T002", "queued"),
        ("task_started", "T002", "running"),
        ("task_finished", "T002", "completed"),
        ("run_finished", None, "completed"),
    ]
    assert {e.run_id for e in recorder.events} == {handle.run_id}
    assert [e.attempt for n, e in enumerate(recorder.events) if n not in ticks] == [
        None,
        None,
        1,
        1,
        None,
        1,
        1,
        None,
    ]
    assert all(recorder.events[n].attempt is None for n in ticks)
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
        assert [(e.kind, e.task_id, e.status) for e in stored] == _summary(recorder.events)


@linux_only
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


@linux_only
def test_a_ticked_or_cancelled_task_keeps_the_order_around_it(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, ORDER_THROUGH_DONE))
    assert plan.waves == [["T001"], ["T004", "T005"]]
    assert plan.critical_path() == ["T001", "T004"]
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=4)
    assert statuses(handle) == {"T001": "completed", "T004": "completed", "T005": "completed"}
    assert (tmp_path / "app" / "file.txt").read_text() == "hi\n"


@linux_only
def test_a_failure_skips_what_waits_for_it_through_a_ticked_task(tmp_path: Path) -> None:
    text = ORDER_THROUGH_DONE.replace("sleep 0.5; mkdir -p app", "exit 3")
    plan = taskexec_nb.load(write_md(tmp_path, text))
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, max_workers=4)
    assert statuses(handle) == {"T001": "failed", "T004": "skipped", "T005": "skipped"}
    assert "T001" in errors(handle)["T004"]
    assert not (tmp_path / "app").exists()


@linux_only
def test_cancel_ends_an_async_callable_at_once_and_records_it_cancelled(tmp_path: Path) -> None:
    path = write_md(tmp_path, "- [ ] T001 Slow work\n- [ ] T002 After it\n")
    plan = taskexec_nb.load(path)
    began: list[float] = []
    ended: list[str] = []

    async def slow() -> None:
        began.append(time.monotonic())
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    async def main() -> None:
        handle = await plan.arun(
            callables={"T001": slow, "T002": slow}, state_dir=tmp_path / "state"
        )
        await until(lambda: bool(began))
        handle.cancel()
        assert await asyncio.wait_for(handle.wait(), 3) is RunStatus.CANCELLED
        assert statuses(handle) == {"T001": "cancelled", "T002": "cancelled"}

    run_async(main)
    assert ended == ["cancelled"]  # the coroutine itself was cancelled, not left running
    assert len(began) == 1
    assert "[ ] T001" in path.read_text()  # never ticked


@linux_only
def test_cancel_records_a_plain_callable_cancelled_without_waiting_for_it(
    tmp_path: Path,
) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, "- [ ] T001 Blocking work\n"))

    def blocking() -> None:
        time.sleep(1.0)

    async def main() -> None:
        handle = await plan.arun(callables={"T001": blocking}, state_dir=tmp_path / "state")
        await until(lambda: statuses(handle)["T001"] == "running")
        began = time.monotonic()
        handle.cancel()
        await until(lambda: statuses(handle)["T001"] == "cancelled", 0.5)
        assert time.monotonic() - began < 0.5
        assert await handle.wait() is RunStatus.CANCELLED

    run_async(main)


@linux_only
def test_a_plain_pause_does_not_stop_the_timeout_of_a_task_that_keeps_running(
    tmp_path: Path,
) -> None:
    text = f"- [ ] T001 Hangs\n  - taskexec: timeout=1s\n{block('echo $$ > t.pid', 'sleep 30')}"
    plan = taskexec_nb.load(write_md(tmp_path, text))

    async def main() -> None:
        async with running(plan, state_dir=tmp_path / "state", kill_grace=0.5) as handle:
            pid = await aread_pid(tmp_path / "t.pid")
            handle.pause()  # no suspend: the process goes on running, so its clock does too
            assert proc_state(pid) in ("S", "R")
            await until(lambda: statuses(handle)["T001"] == "timed_out", 4.0)
            assert handle.paused
            handle.resume()
            assert await handle.wait() is RunStatus.FAILED

    run_async(main)


@linux_only
def test_pausing_a_paused_run_with_suspend_suspends_its_tasks(tmp_path: Path) -> None:
    loop = block("echo $$ > loop.pid", "for i in $(seq 30); do sleep 0.05; done")
    plan = taskexec_nb.load(write_md(tmp_path, f"- [ ] T001 Loop\n{loop}"))

    async def main() -> None:
        async with running(plan, state_dir=tmp_path / "state") as handle:
            pid = await aread_pid(tmp_path / "loop.pid")
            handle.pause()
            await asyncio.sleep(0.1)
            assert proc_state(pid) in ("S", "R")
            handle.pause(suspend=True)
            await until(lambda: proc_state(pid) == "T", 2.0)
            assert statuses(handle) == {"T001": "paused"}
            handle.resume()
            await until(lambda: proc_state(pid) in ("S", "R", None), 2.0)
            assert await handle.wait() is RunStatus.COMPLETED

    run_async(main)


@linux_only
def test_no_retry_starts_while_the_run_is_paused(tmp_path: Path) -> None:
    failing = block('echo "$(date +%s.%N)" >> attempts', "exit 1")
    text = f"- [ ] T001 Flaky\n  - taskexec: retries=2 backoff=100ms\n{failing}"
    plan = taskexec_nb.load(write_md(tmp_path, text))
    attempts = tmp_path / "attempts"

    def count() -> int:
        return len(attempts.read_text().splitlines()) if attempts.exists() else 0

    async def main() -> None:
        async with running(plan, state_dir=tmp_path / "state") as handle:
            await until(lambda: count() >= 1)
            handle.pause()
            await asyncio.sleep(0.8)  # several backoffs long
            assert count() == 1, "a retry started while the run was paused"
            assert statuses(handle)["T001"] == "queued"
            handle.resume()
            assert await handle.wait() is RunStatus.FAILED

    run_async(main)
    assert count() == 3


@linux_only
def test_a_chain_of_tasks_without_actions_is_skipped_and_the_run_incomplete_not_failed(
    tmp_path: Path,
) -> None:
    text = "- [ ] T001 Think about the parser\n- [ ] T002 Then think about the printer\n"
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(state_dir=tmp_path / "state")
    assert statuses(handle) == {"T001": "skipped", "T002": "skipped"}
    assert handle.result is RunStatus.INCOMPLETE  # as for one such task: nothing failed
    assert "[X]" not in (tmp_path / "tasks.md").read_text()  # and nothing reported done


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


FENCE = "`" * 3


def test_fail_fast_names_the_first_failure_and_starts_no_retry(tmp_path: Path) -> None:
    def sh(code: str) -> str:
        return f"  {FENCE}sh\n  {code}\n  {FENCE}\n"

    path = tmp_path / "tasks.md"
    path.write_text(
        "# T\n\n## Phase 1: A\n\n"
        f"- [ ] T001 [P] Fails at once\n{sh('exit 7')}"
        f"- [ ] T002 [P] Fails later\n{sh('sleep 0.6; exit 9')}"
        f"- [ ] T003 [P] Would retry\n  - taskexec: retries=2 backoff=0.1s\n"
        f"{sh('echo x >> attempts; sleep 0.3; exit 1')}"
        f"- [ ] T004 [P] Never starts\n{sh('true')}"
    )
    handle = taskexec_nb.load(path).run(
        max_workers=3, fail_fast=True, writeback=False, state_dir=tmp_path / "state"
    )
    rows = {r["id"]: r for r in handle.snapshot()}
    assert (tmp_path / "attempts").read_text() == "x\n"
    assert rows["T003"]["status"] == "failed"
    assert rows["T004"]["status"] == "skipped"
    assert rows["T004"]["error"] == "not started: fail-fast after T001 failed"
