"""The reaper and watchdog: process groups a dead runner left behind are ended."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing, suppress
from pathlib import Path

import pytest
from conftest import group_members, md, procs
from helpers import (
    _DEAD_RUNNER,
    COUNTED_TASKS,
    _sigkilled_runner,
    _write,
    gone,
    ignores_sigterm,
    leftovers,
    wait_gone,
    wait_until,
    write_tasks,
)

import taskexec_nb
from taskexec_nb._procfs import descendants
from taskexec_nb.events import EventKind, EventRecorder, RunStatus
from taskexec_nb.run.reaper import Reaper
from taskexec_nb.store import StateStore


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
            assert store.run(run_id).status == "interrupted"
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


def test_a_new_run_ends_the_processes_a_dead_runner_left(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        md("""\
        # Tasks

        - [ ] T001 Something
          - taskexec: run="true"
        """),
    )
    db = tmp_path / ".taskexec" / "state.db"
    out = subprocess.run(
        [sys.executable, "-c", _DEAD_RUNNER, str(db), str(path.resolve())],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    _, sleeper = (int(x) for x in out.split())
    try:
        assert group_members(sleeper) == [sleeper]
        recorder = EventRecorder()
        handle = taskexec_nb.load(path).run(max_workers=1, observers=[recorder])
        assert handle.result is RunStatus.COMPLETED
        deadline = time.monotonic() + 2
        while group_members(sleeper) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert group_members(sleeper) == []
        assert any(str(sleeper) in n and "dead-run" in n for n in handle.notices)
        warnings = [
            str(e.data.get("warning")) for e in recorder.events if e.kind is EventKind.NOTICE
        ]
        assert any(str(sleeper) in w for w in warnings)
        with closing(StateStore(db)) as store:
            assert store.run("dead-run").status == "interrupted"
            assert store.orphans() == []
    finally:
        with suppress(ProcessLookupError):
            os.killpg(sleeper, signal.SIGKILL)


KILL_GRACE = 0.5


RUNNER = (
    "import taskexec_nb,sys; taskexec_nb.load(sys.argv[1]).run(resume=(sys.argv[2] or None),"
    f" max_workers=2, kill_grace={KILL_GRACE})"
)


def _group_alive(pgid: int) -> bool:
    return any(pgrp == pgid and state != "Z" for _, state, pgrp in procs())


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


_KILL_AFTER_SPAWN = textwrap.dedent(
    """
    import os, signal, sys
    import taskexec_nb
    from taskexec_nb.executors.base import ProcessControl

    def attach(self, pgid):
        # The task's process exists now; the runner dies before anyone is told about it.
        os.kill(os.getpid(), signal.SIGKILL)

    ProcessControl.attach = attach
    taskexec_nb.load(sys.argv[1]).run(max_workers=1, kill_grace=0.5)
    """
)


def test_a_runner_killed_right_after_spawning_a_task_leaves_no_process(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(
        textwrap.dedent(
            """\
            # Tasks

            - [ ] T001 Work for a while
              ```bash
              ( sleep 2; echo T001 >> late.log ) >/dev/null 2>&1 &
              sleep 1.8
              echo T001 >> effects.log
              ```
            """
        )
    )
    proc = subprocess.run(
        [sys.executable, "-c", _KILL_AFTER_SPAWN, str(path)],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    try:
        left = wait_gone(set(), path, KILL_GRACE + 1.0)
        assert left == [], f"the task's processes outlived the runner: {left}"
        assert not (tmp_path / "effects.log").exists()
    finally:
        kill_leftovers(path)


_REAPER_OWNER = textwrap.dedent(
    """
    import os, signal, subprocess, sys
    from taskexec_nb.run.reaper import Reaper

    reaper = Reaper(float(sys.argv[1]))
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, start_new_session=True)
    watched = subprocess.Popen(["sh", "-c", sys.argv[2]], **quiet)
    released = subprocess.Popen(["sleep", "30"], **quiet)
    reaper.add(watched.pid)
    reaper.add(released.pid)
    reaper.remove(released.pid)  # ended normally, as far as the reaper knows
    print(watched.pid, released.pid, reaper.pid, flush=True)
    sys.stdin.readline()
    os.kill(os.getpid(), signal.SIGKILL)  # the runner dies; the reaper's pipe closes
    """
)


def _owner(grace: float, command: str) -> tuple[subprocess.Popen[str], int, int, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _REAPER_OWNER, str(grace), command],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    watched, released, reaper = (int(x) for x in proc.stdout.readline().split())
    return proc, watched, released, reaper


def _kill_owner(proc: subprocess.Popen[str]) -> float:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.close()
    proc.wait(timeout=10)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    return time.monotonic()


@pytest.mark.parametrize("grace", [0.2, 1.0])
def test_reaper_ends_the_groups_of_a_killed_owner(grace: float) -> None:
    proc, watched, released, reaper = _owner(grace, "sleep 30 & sleep 30; wait")
    try:
        assert _group_alive(watched) and _group_alive(released)
        killed = _kill_owner(proc)
        while _group_alive(watched) and time.monotonic() < killed + grace + 1.0:
            time.sleep(0.02)
        assert not _group_alive(watched), "the reaper did not end the watched group"
        # A group the runner said had ended is left alone.
        assert _group_alive(released)
        # The reaper exits once its work is done.
        while any(p == reaper and s != "Z" for p, s, _ in procs()):
            assert time.monotonic() < killed + grace + 2.0, "the reaper did not exit"
            time.sleep(0.02)
    finally:
        for pgid in (watched, released):
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def test_reaper_sigkills_a_group_that_ignores_sigterm_after_the_grace() -> None:
    grace = 1.0
    proc, watched, released, _ = _owner(grace, "trap '' TERM; sleep 30 & sleep 30; wait")
    try:
        assert wait_until(lambda: ignores_sigterm(watched))  # the shell set its trap up
        killed = _kill_owner(proc)
        time.sleep(0.4)
        assert _group_alive(watched), "SIGTERM is ignored: the group must live out the grace"
        while _group_alive(watched) and time.monotonic() < killed + grace + 1.0:
            time.sleep(0.02)
        assert not _group_alive(watched), "the reaper did not SIGKILL the group after the grace"
    finally:
        for pgid in (watched, released):
            with suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["sleep", "30"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_reaper_closed_normally_ends_only_groups_still_watched() -> None:
    kept, ended = _sleeper(), _sleeper()
    try:
        reaper = Reaper(0.2)
        reaper.add(kept.pid)
        reaper.add(ended.pid)
        reaper.remove(kept.pid)
        reaper.close()
        assert ended.wait(timeout=5) == -signal.SIGTERM
        assert kept.poll() is None
    finally:
        for p in (kept, ended):
            p.kill()
            p.wait()


def _marked_sleeper(run_id: str, runner_token: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TASKEXEC_RUN_ID": run_id, "TASKEXEC_RUNNER": runner_token}
    return subprocess.Popen(
        ["sleep", "30"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def test_end_marked_ends_only_processes_of_the_given_runs_whose_runner_is_gone() -> None:
    dead_runner = f"{_dead_pid()}-0a0b0c"
    orphan = _marked_sleeper("R-dead", dead_runner)
    other_run = _marked_sleeper("R-other", dead_runner)
    live_runner = _marked_sleeper("R-dead", f"{os.getpid()}-0d0e0f")  # resumed by a live runner
    try:
        from taskexec_nb._procfs import end_marked

        assert end_marked(set()) == {}
        assert end_marked({"R-dead"}) == {"R-dead": 1}
        assert orphan.wait(timeout=5) == -signal.SIGKILL
        assert other_run.poll() is None, "a run not named was touched"
        assert live_runner.poll() is None, "a process of a live runner was touched"
    finally:
        for p in (orphan, other_run, live_runner):
            p.kill()
            p.wait()


_DETACHING_TASK = textwrap.dedent(
    """\
    # Tasks

    - [ ] T001 Start a daemon, then work
      ```python
      import os, subprocess, sys, time
      if os.path.exists("daemon.pid"):
          sys.exit(0)  # the resume: done
      daemon = subprocess.Popen(
          [sys.executable, "-c", "import time; time.sleep(60); open('late.log', 'w')"],
          start_new_session=True,
      )
      with open("daemon.pid.tmp", "w") as f:
          f.write(str(daemon.pid))
      os.replace("daemon.pid.tmp", "daemon.pid")
      time.sleep(60)
      ```
    """
)


def test_a_resume_after_runner_and_watchdog_died_ends_a_detached_process(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(_DETACHING_TASK)
    errors = tmp_path / "errors.txt"
    runner = start_runner(path, None, errors)
    daemon = 0
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "daemon.pid").exists():
            assert runner.poll() is None, errors.read_text()
            assert time.monotonic() < deadline, "the task never started its daemon"
            time.sleep(0.02)
        daemon = int((tmp_path / "daemon.pid").read_text())
        watchdogs = [
            pid
            for pid in descendants([runner.pid])[1:]
            if b"TASKEXEC_RUNNER" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(watchdogs) == 1
        os.kill(watchdogs[0], signal.SIGKILL)  # the watchdog first: it would end the daemon
        assert wait_until(lambda: gone(watchdogs[0]))
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait(timeout=10)
        time.sleep(0.3)
        assert any(pid == daemon and state != "Z" for pid, state, _ in procs())

        handle = taskexec_nb.load(path).run(resume=True, max_workers=1, kill_grace=0.5)

        assert any("outside its recorded process groups" in n for n in handle.notices), (
            handle.notices
        )
        until = time.monotonic() + 5
        while any(pid == daemon and state != "Z" for pid, state, _ in procs()):
            assert time.monotonic() < until, "the detached process of the killed run lives on"
            time.sleep(0.02)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        kill_leftovers(path)
        if daemon:
            with suppress(ProcessLookupError):
                os.kill(daemon, signal.SIGKILL)


def test_reaper_closed_with_nothing_left_returns_without_waiting_for_it() -> None:
    reaper = Reaper(0.2)
    pgid = _dead_pid()
    reaper.add(pgid)
    reaper.remove(pgid)
    reaper.close()  # at once: its interpreter has not even started
    assert reaper._proc.returncode is None
    assert reaper._proc.wait(timeout=10) == 0  # it exits on its own (and is waited for)


def test_reaper_closed_normally_ends_a_marked_process_before_returning() -> None:
    reaper = Reaper(0.2)
    left = _marked_sleeper("R-left", reaper.token)  # left its group: never watched
    try:
        reaper.close()
        assert reaper._proc.returncode == 0  # waited for
        assert left.wait(timeout=5) == -signal.SIGTERM
    finally:
        left.kill()
        left.wait()


def test_marked_processes_match_the_whole_variable() -> None:
    from taskexec_nb._procfs import marked_processes

    token = f"{os.getpid()}-feedbeef"
    exact = _marked_sleeper("R-x", token)
    longer = _marked_sleeper("R-x", token + "00")
    try:
        found = marked_processes(f"TASKEXEC_RUNNER={token}")
        assert exact.pid in found
        assert longer.pid not in found
        assert os.getpid() not in found
    finally:
        for p in (exact, longer):
            p.kill()
            p.wait()
