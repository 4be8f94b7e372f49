"""Ticks written together: a few writes for a burst of completions, every guarantee kept."""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

import pytest
from helpers import leftovers, linux_only, wait_gone, wait_until

import taskexec_nb
from taskexec_nb.errors import StoreError
from taskexec_nb.events import EventKind, EventRecorder, RunStatus
from taskexec_nb.run.ticking import TICK_WINDOW, WRITE_SHARE, PendingTicks
from taskexec_nb.run.writeback import CheckboxWriter, digest
from taskexec_nb.store import StateStore


def layered(n: int, action: str, width: int = 20, fan_in: int = 3) -> str:
    """``n`` tasks in layers of ``width``, each after ``fan_in`` tasks of the layer before."""
    lines = ["# Tasks", "", "## Phase 1: All", ""]
    for i in range(n):
        layer, pos = divmod(i, width)
        deps = [f"T{(layer - 1) * width + (pos + k) % width + 1:04d}" for k in range(fan_in)]
        after = f" (depends on {', '.join(deps)})" if layer else ""
        lines += [f"- [ ] T{i + 1:04d} [P] Task {i + 1}{after}", f"  - taskexec: run={action}"]
    return "\n".join(lines) + "\n"


def ticked_ids(text: str) -> set[str]:
    return set(re.findall(r"^- \[X\] (T\d+)", text, re.M))


def test_a_burst_of_completions_is_ticked_in_a_few_writes_and_all_by_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskexec_nb.run import writeback

    text = layered(200, '"true"')
    path = tmp_path / "tasks.md"
    path.write_text(text)
    writes: list[float] = []
    real = writeback._atomic_write

    def counted(*args: Any) -> bool:
        writes.append(time.monotonic())
        return bool(real(*args))

    monkeypatch.setattr(writeback, "_atomic_write", counted)
    recorder = EventRecorder()
    start = time.monotonic()
    handle = taskexec_nb.load(path, mode="explicit").run(max_workers=2, observers=[recorder])
    wall = time.monotonic() - start
    assert handle.result is RunStatus.COMPLETED
    assert path.read_text() == text.replace("- [ ]", "- [X]")
    # One write per window at most, and one at the end: not one per task.
    assert 1 <= len(writes) <= wall / TICK_WINDOW + 2, (len(writes), wall)
    gaps = [b - a for a, b in itertools.pairwise(writes[:-1])]  # the last: the run's end
    assert all(gap >= TICK_WINDOW * 0.9 for gap in gaps), gaps
    events = recorder.events
    ticks = [n for n, e in enumerate(events) if e.kind is EventKind.TASK_TICKED]
    assert sorted(events[n].task_id or "" for n in ticks) == [f"T{i:04d}" for i in range(1, 201)]
    finished = [n for n, e in enumerate(events) if e.kind is EventKind.RUN_FINISHED]
    assert finished == [len(events) - 1] and max(ticks) < finished[0]
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        assert all(t.ticked for t in store.task_records(handle.run_id).values())


EDITED_MIDWAY = """\
# Tasks

## Phase 1: All

- [ ] T001 [P] One
  - taskexec: run="true"
- [ ] T002 [P] Two
  - taskexec: run="true"
- [ ] T003 [P] Three
  - taskexec: run="true"
- [ ] T004 Edits the file once the boxes before it are written (depends on T001, T002, T003)
  - taskexec: run="sleep 0.8; echo '- a note saved during the run' >> tasks.md"
- [ ] T005 [P] After the edit (depends on T004)
  - taskexec: run="true"
- [ ] T006 [P] After the edit too (depends on T004)
  - taskexec: run="true"
"""


def test_an_edit_during_the_run_is_never_clobbered_and_the_ticks_left_are_named(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(EDITED_MIDWAY)
    recorder = EventRecorder()
    handle = taskexec_nb.load(path, mode="explicit").run(max_workers=2, observers=[recorder])
    assert handle.result is RunStatus.COMPLETED
    # The boxes written before the edit stay ticked; the edit is kept; nothing after it.
    after = path.read_text()
    assert after == (
        EDITED_MIDWAY.replace("- [ ] T001", "- [X] T001")
        .replace("- [ ] T002", "- [X] T002")
        .replace("- [ ] T003", "- [X] T003")
        + "- a note saved during the run\n"
    )
    notices = [e for e in recorder.events if e.kind is EventKind.NOTICE]
    first, summary = notices  # the first box left, at once; all of them at the end
    assert first.task_id in {"T004", "T005", "T006"}
    assert "changed on disk" in str(first.data["warning"])
    assert str(summary.data["warning"]).startswith(
        f"{path} changed on disk during the run: 3 completed task(s) were not ticked: "
    )
    assert {"T004", "T005", "T006"} == set(re.findall(r"T00\d", str(summary.data["warning"])))
    assert sorted(e.task_id or "" for e in recorder.events if e.kind is EventKind.TASK_TICKED) == [
        "T001",
        "T002",
        "T003",
    ]


def test_an_agent_task_reads_a_tasks_md_with_the_work_before_it_ticked(tmp_path: Path) -> None:
    text = (
        "# Tasks\n\n## Phase 1: X\n\n- [ ] T001 First\n  - taskexec: run=true\n- [ ] T002 Agent\n"
    )
    path = tmp_path / "tasks.md"
    path.write_text(text)
    agent = ["sh", "-c", "grep -c '^- .X. T001' tasks.md > seen.txt || true"]
    handle = taskexec_nb.load(path).run(no_action="agent", agent_command=agent)
    assert handle.result is RunStatus.COMPLETED
    assert (tmp_path / "seen.txt").read_text() == "1\n"  # T001 ticked before the agent started
    assert path.read_text() == text.replace("- [ ]", "- [X]")


def test_pending_ticks_wait_their_window_and_a_slow_write_widens_it(tmp_path: Path) -> None:
    # A file big enough that one write takes a while: ~6 MB, 200,000 lines.
    lines = [f"- [ ] T{i:06d} Task {i} " + "x" * 20 for i in range(1, 200_001)]
    head = "# T\n\n## Phase 1\n\n"
    data = (head + "\n".join(lines) + "\n").encode()
    path = tmp_path / "tasks.md"
    path.write_bytes(data)
    tasks = taskexec_nb.loads(head + "\n".join(lines[:3]) + "\n").tasks  # its first three
    emitted: list[tuple[Any, ...]] = []
    pokes: list[float] = []
    writer = CheckboxWriter(path, digest(data), data)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pending = PendingTicks(
            writer, lambda *a, **k: emitted.append(a), lambda: pokes.append(loop.time())
        )
        start = loop.time()
        pending.add(tasks[:2])
        pending.add([])  # nothing to add: nothing changes
        assert len(pending) == 2 and not pending.due()
        while not pokes:  # the loop is woken once the window is over
            await asyncio.sleep(0.01)
        assert pending.due() and pokes[0] - start >= TICK_WINDOW * 0.99
        t0 = time.perf_counter()
        pending.flush()
        took = time.perf_counter() - t0
        assert len(pending) == 0 and not pending.due()
        pending.flush()  # nothing waiting: no write
        # After a slow write, the next waits WRITE_SHARE times as long as it took.
        pending.add(tasks[2:])
        assert pending._gap >= WRITE_SHARE * took * 0.5 > TICK_WINDOW
        assert not pending.due()
        pending.flush()

    asyncio.run(scenario())
    assert emitted == [(EventKind.TASK_TICKED, t.id) for t in tasks]
    assert path.read_bytes().count(b"- [X] ") == 3


def start_runner(path: Path, *args: str) -> subprocess.Popen[bytes]:
    """A real `taskexec run` of ``path`` (-j 2), its output to runner.log beside it."""
    with (path.parent / "runner.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "taskexec_nb.cli", "run", str(path), "-j", "2", *args],
            cwd=path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def completed(store_path: Path) -> set[str]:
    """The tasks the latest run in the store says completed."""
    with suppress(StoreError), closing(StateStore(store_path, readonly=True)) as store:
        run_id = store.latest_run()
        records = store.task_records(run_id) if run_id else {}
        return {t for t, r in records.items() if r.status == "completed"}
    return set()  # the store is not made yet, or not set up yet


def caught_between_writes(runner: subprocess.Popen[bytes], path: Path) -> set[str]:
    """Stop ``runner`` (SIGSTOP) with finishes in the store whose boxes wait for their write.

    Returns:
        What the store says completed then (the runner is left stopped).
    """
    store_path = path.parent / ".taskexec" / "state.db"
    assert wait_until(lambda: bool(completed(store_path)) or runner.poll() is not None, 60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runner.poll() is None:
        os.kill(runner.pid, signal.SIGSTOP)
        done = completed(store_path)
        on_file = ticked_ids(path.read_text())
        assert on_file <= done  # a box is ticked only after the store has its finish
        if done - on_file:
            return done
        os.kill(runner.pid, signal.SIGCONT)
        time.sleep(0.01)
    raise AssertionError("the run ended before it could be caught between writes")


def end(runner: subprocess.Popen[bytes], path: Path) -> None:
    """Kill what a test left running (the runner, its tasks)."""
    if runner.poll() is None:
        with suppress(ProcessLookupError):
            os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
    for line in leftovers(set(), path):
        with suppress(ProcessLookupError):
            os.kill(int(line.split()[1]), signal.SIGKILL)


@linux_only
def test_a_runner_killed_between_writes_loses_no_tick_the_store_has(tmp_path: Path) -> None:
    text = layered(300, '"echo $TASKEXEC_TASK_ID >> effects.log"')
    path = tmp_path / "tasks.md"
    path.write_text(text)
    store_path = tmp_path / ".taskexec" / "state.db"
    runner = start_runner(path, "--mode", "explicit")
    try:
        done = caught_between_writes(runner, path)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        with closing(StateStore(store_path, readonly=True)) as store:
            run_id = store.latest_run()
            assert run_id is not None
            pgids = {a.pgid for a in store.attempts(run_id) if a.pgid}
        assert wait_gone(pgids, path, 5.0) == []
        effects = collections.Counter((tmp_path / "effects.log").read_text().split())
        # The resume ticks what the store says completed (without running it again) and
        # runs the rest.
        resumed = start_runner(path, "--resume", run_id)
        assert resumed.wait(timeout=120) == 0, (tmp_path / "runner.log").read_text()
        assert path.read_text() == text.replace("- [ ]", "- [X]")
        final = collections.Counter((tmp_path / "effects.log").read_text().split())
        assert set(final) == {f"T{i:04d}" for i in range(1, 301)}
        assert (
            {t: final[t] for t in done} == {t: effects[t] for t in done} == dict.fromkeys(done, 1)
        )
        with closing(StateStore(store_path, readonly=True)) as store:
            assert store.run(run_id).status == "completed"
            assert all(r.ticked for r in store.task_records(run_id).values())
    finally:
        end(runner, path)


@linux_only
def test_an_interrupted_run_writes_the_ticks_still_waiting(tmp_path: Path) -> None:
    text = layered(300, '"true"')
    path = tmp_path / "tasks.md"
    path.write_text(text)
    runner = start_runner(path, "--mode", "explicit")
    try:
        caught_between_writes(runner, path)
        os.kill(runner.pid, signal.SIGTERM)  # as Ctrl-C: the run stops, resumable
        os.kill(runner.pid, signal.SIGCONT)
        assert runner.wait(timeout=60) == 130, (tmp_path / "runner.log").read_text()
        done = completed(tmp_path / ".taskexec" / "state.db")
        assert done and ticked_ids(path.read_text()) == done  # every box, none more
    finally:
        end(runner, path)
