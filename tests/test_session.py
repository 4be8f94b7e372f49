"""A run's session: the thread/loop bridge, Ctrl-C and cancellation of the caller's wait."""

from __future__ import annotations

import asyncio
import gc
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

import pytest
from conftest import group_members
from helpers import (
    MARK,
    aread_pid,
    block,
    gone,
    linux_only,
    opened_store,
    ran,
    rows_by_id,
    wait_pid,
    wait_until,
    write_md,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.events import RunStatus

LONG_THEN_MORE = f"""## Phase 1: Long

- [ ] T001 Long step
{block("echo $$ > leader.pid", "sleep 30 &", "echo $! > child.pid", "wait")}- [ ] T002 Later
{MARK}- [ ] T003 [P] Later too
{MARK}"""


@linux_only
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


@linux_only
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


@linux_only
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


CTRL_C_IN_AN_ATTEMPT = """
import asyncio, sys
import taskexec_nb
import taskexec_nb.executors.shell as shell

original = shell.ShellExecutor.run

async def run(self, ctx):
    if ctx.task.id == "T002":  # a Ctrl-C landing while the attempt starts its process
        raise KeyboardInterrupt
    return await original(self, ctx)

shell.ShellExecutor.run = run

async def main():
    run = await taskexec_nb.load(sys.argv[1]).arun(kill_grace=0.5)
    await run.wait()

try:
    asyncio.run(main())
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_raised_inside_an_attempt_records_the_run_interrupted(tmp_path: Path) -> None:
    # On Python 3.10 a Ctrl-C is raised wherever the loop is, e.g. inside subprocess.Popen
    # of a starting attempt; before, the run stayed 'running' with that task 'running'.
    text = "".join(f'- [ ] T00{n} Step {n}\n  - taskexec: run="true"\n' for n in (1, 2, 3))
    path = write_md(tmp_path, text)
    proc = subprocess.run(
        [sys.executable, "-c", CTRL_C_IN_AN_ATTEMPT, str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 130, proc.stderr
    run, tasks, _ = stored_now(tmp_path / ".taskexec" / "state.db")
    assert run == "interrupted", proc.stderr
    assert tasks == {"T001": "completed", "T002": "cancelled", "T003": "cancelled"}
    assert "never retrieved" not in proc.stderr
    resumed = taskexec_nb.load(path).run(resume=True)
    assert resumed.result is RunStatus.COMPLETED


@linux_only
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
        assert store.run(run_id).status == "interrupted"
        assert rows_by_id(store, run_id)["T001"]["status"] == "cancelled"


FENCE = "`" * 3


def test_a_second_run_of_the_same_tasks_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(
        "# T\n\n## Phase 1: A\n\n"
        f"- [ ] T001 [P] Slow\n  {FENCE}sh\n  sleep 30\n  {FENCE}\n"
        f"- [ ] T002 [P] Quick\n  {FENCE}sh\n  true\n  {FENCE}\n"
    )
    state = tmp_path / "state"

    async def body() -> None:
        first = await taskexec_nb.load(path).arun(only="T001", state_dir=state)
        try:
            with pytest.raises(UsageError) as caught:
                await taskexec_nb.load(path).arun(state_dir=state)
            message = str(caught.value)
            assert first.run_id in message and f"pid {os.getpid()}" in message
            assert "T001" in message and "twice" in message
            other = await taskexec_nb.load(path).arun(only="T002", state_dir=state)
            assert (await other.wait()).value == "completed"  # no task in common
        finally:
            first.cancel()
            await first.wait()

    asyncio.run(body())


def test_a_run_this_process_left_marked_running_does_not_block_the_next(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(f"# T\n\n- [ ] T001 Quick\n  {FENCE}sh\n  true\n  {FENCE}\n")
    state = tmp_path / "state"
    first = taskexec_nb.load(path).run(writeback=False, state_dir=state)
    db = state / "state.db"
    with sqlite3.connect(db) as conn:  # as if an error had left it behind
        conn.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (first.run_id,))
    second = taskexec_nb.load(path).run(writeback=False, state_dir=state)
    assert second.result.value == "completed"
    with sqlite3.connect(db) as conn:
        [(status,)] = conn.execute("SELECT status FROM runs WHERE run_id = ?", (first.run_id,))
    assert status == "interrupted"
