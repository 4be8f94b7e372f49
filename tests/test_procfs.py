"""taskexec_nb._procfs: the /proc and signal helpers, on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from taskexec_nb._procfs import descendants, end_marked, runner_alive, thread_children


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def marked(
    run_id: str, runner: str, code: str = "import time; time.sleep(60)"
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TASKEXEC_RUN_ID": run_id, "TASKEXEC_RUNNER": runner}
    return subprocess.Popen([sys.executable, "-c", code], env=env)


def wait_for_state(pid: int, state: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        if stat.rsplit(")", 1)[1].split()[0] == state:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never reached state {state}")


def wait_for_environment(pid: int, item: str, seconds: float = 10) -> None:
    """Until the process's environment (after exec) shows ``item``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if item.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                return
        except OSError:
            pass
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never had {item} in its environment")


def test_a_run_with_no_runner_pid_recorded_has_no_live_runner() -> None:
    assert runner_alive({"pid": None, "host": None, "runner": None}) is False
    assert runner_alive({}) is False


def test_end_marked_kills_every_process_of_a_dead_runner_and_spares_a_live_runners() -> None:
    run_id = f"R-{uuid.uuid4().hex}"
    gone = f"{dead_pid()}-{uuid.uuid4().hex[:8]}"
    orphans = [marked(run_id, gone) for _ in range(2)]  # the same runner token twice
    alive = marked(run_id, f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        for proc in [*orphans, alive]:
            wait_for_environment(proc.pid, f"TASKEXEC_RUN_ID={run_id}")
        assert end_marked([run_id]) == {run_id: 2}
        assert [p.wait(10) for p in orphans] == [-9, -9]
        assert alive.poll() is None  # its runner (this process) still runs
    finally:
        for proc in [*orphans, alive]:
            proc.kill()
            proc.wait()


def test_end_marked_does_not_count_a_process_that_has_already_exited() -> None:
    run_id = f"R-{uuid.uuid4().hex}"
    gone = f"{dead_pid()}-{uuid.uuid4().hex[:8]}"
    exited = marked(run_id, gone, code="pass")
    try:
        wait_for_state(exited.pid, "Z")  # exited, not reaped: its /proc entry stays
        assert end_marked([run_id]) == {}
        assert end_marked([]) == {}
    finally:
        assert exited.wait(10) == 0  # it ended by itself, not by a signal


def test_descendants_lists_each_process_once_and_keeps_a_gone_one() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '60'])"]
    )
    try:
        deadline = time.monotonic() + 10
        found = descendants([parent.pid])
        while len(found) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
            found = descendants([parent.pid])
        assert found[0] == parent.pid and len(found) == 2
        assert descendants([parent.pid, parent.pid]) == found  # the same pid given twice
        gone = dead_pid()
        assert descendants([gone]) == [gone]  # no /proc entry: nothing below it
    finally:
        for pid in reversed(descendants([parent.pid])):
            os.kill(pid, 9)
        parent.wait()


def test_thread_children_of_no_such_thread_is_empty() -> None:
    assert thread_children(dead_pid()) == []
