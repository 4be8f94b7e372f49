"""A watchdog process per run that ends the run's process groups if the runner dies.

The runner starts it with a pipe on its stdin and tells it ``+PGID`` when a
task's process group starts and ``-PGID`` when it ends. If the runner dies,
even by SIGKILL, the pipe closes: the reaper sends SIGTERM to every group it
still knows, waits the grace period, then SIGKILL. It imports nothing from
taskexec_nb, so it starts in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Collection, Iterable, Iterator, Mapping

_BATCH_SECONDS = 0.05

REAPER_CODE = r"""
import os, signal, sys, time
grace = float(sys.argv[1])
marker = ("TASKEXEC_RUNNER=" + sys.argv[2]).encode() + b"\0"
groups = set()
for line in sys.stdin:
    line = line.strip()
    if line[:1] == "+":
        groups.add(int(line[1:]))
    elif line[:1] == "-":
        groups.discard(int(line[1:]))
def send(sig):
    alive = False
    for g in list(groups):
        try:
            os.killpg(g, sig)
            alive = True
        except (ProcessLookupError, PermissionError):
            groups.discard(g)
    return alive
def marked():
    # Processes started for this runner that it may not have registered yet (a kill
    # between spawn and registration), or that left their process group.
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                with open("/proc/" + name + "/environ", "rb") as f:
                    if marker in f.read():
                        found.append(int(name))
            except OSError:
                pass
    return found
def kill_marked(sig):
    for pid in marked():
        try:
            os.kill(pid, sig)
        except OSError:
            pass
alive = send(signal.SIGTERM)
kill_marked(signal.SIGTERM)
if alive or marked():
    send(signal.SIGCONT)
    kill_marked(signal.SIGCONT)
    end = time.monotonic() + grace
    while (groups or marked()) and time.monotonic() < end:
        time.sleep(0.05)
        send(0)
    send(signal.SIGKILL)
    kill_marked(signal.SIGKILL)
"""


class Reaper:
    """The runner's side of the watchdog (see the module docstring).

    Every task process gets ``TASKEXEC_RUNNER=<token>`` in its environment, so
    the reaper also finds processes the runner started but had not registered
    yet when it died.

    Args:
        grace: Seconds between SIGTERM and SIGKILL when it has to act.
    """

    def __init__(self, grace: float) -> None:
        self.token = f"{os.getpid()}-{os.urandom(6).hex()}"
        self.grace = grace
        self._proc = subprocess.Popen(
            [sys.executable, "-S", "-c", REAPER_CODE, str(grace), self.token],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C for the runner must not end the reaper first
            close_fds=True,
        )
        self.pid = self._proc.pid
        self._lines: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def _send(self, line: str) -> None:
        """Queue a line for the watchdog; queued lines go out together within 50 ms.

        A process the watchdog has not heard of yet still carries the run's
        marker, so a runner that dies in between leaves nothing behind.
        """
        self._lines.append(line)
        if self._timer is not None:
            return
        try:
            self._timer = asyncio.get_running_loop().call_later(_BATCH_SECONDS, self._flush)
        except RuntimeError:
            self._flush()

    def _flush(self) -> None:
        self._timer = None
        data = "".join(f"{line}\n" for line in self._lines).encode()
        self._lines.clear()
        stdin = self._proc.stdin
        if not data or stdin is None or stdin.closed:
            return
        with contextlib.suppress(OSError, ValueError):  # the reaper is gone: nothing to tell
            os.write(stdin.fileno(), data)  # one write per batch, no buffering

    def add(self, pgid: int) -> None:
        """Watch a process group."""
        self._send(f"+{pgid}")

    def remove(self, pgid: int) -> None:
        """Stop watching a process group (it has ended)."""
        self._send(f"-{pgid}")

    @property
    def env(self) -> dict[str, str]:
        """The environment variable that marks this runner's task processes."""
        return {"TASKEXEC_RUNNER": self.token}

    def close(self) -> None:
        """End the watchdog after a normal finish (it has nothing left to end)."""
        if self._timer is not None:
            self._timer.cancel()
        self._flush()
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            # A process that left the task's group ignoring SIGTERM takes the grace period.
            self._proc.wait(timeout=self.grace + 5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it exits on EOF
            self._proc.kill()


def end_process_group(pgid: int, run_id: str) -> bool:
    """SIGKILL a process group left by a dead runner, if it is still that run's.

    Process IDs are reused, so a group number alone proves nothing: the group is
    ended only if one of its processes carries ``TASKEXEC_RUN_ID=<run_id>`` in its
    environment (every task process of the run does).

    Args:
        pgid: The process group recorded for an attempt.
        run_id: The run that started it.

    Returns:
        Whether a group of that run was found and killed.
    """
    marker = f"\0TASKEXEC_RUN_ID={run_id}\0".encode()
    if not any(marker in _environ(pid) for pid in _members(pgid)):
        return False  # gone, or the number now belongs to someone else
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_marked(run_ids: Collection[str]) -> dict[str, int]:
    """SIGKILL every process of these runs whose runner is gone, wherever it went.

    A task's process can leave its process group (``setsid``, a daemon), so
    after both a runner and its watchdog were killed a recorded group does not
    cover it. It still carries ``TASKEXEC_RUN_ID`` and ``TASKEXEC_RUNNER`` (the
    runner's pid and a random part) in its environment: it is ended when its
    run is one of ``run_ids`` and the runner that started it no longer runs,
    so the processes of a live runner of the same run are never touched.

    Args:
        run_ids: Runs whose runner was found dead.

    Returns:
        How many processes were ended, per run.
    """
    wanted = {f"TASKEXEC_RUN_ID={run_id}".encode(): run_id for run_id in run_ids}
    ended: dict[str, int] = {}
    if not wanted:
        return ended
    runners: dict[bytes, bool] = {}
    for pid, variables in _environs():
        run_id = next((wanted[v] for v in variables if v in wanted), None)
        token = next((v for v in variables if v.startswith(b"TASKEXEC_RUNNER=")), None)
        if run_id is None or token is None:
            continue
        if token not in runners:
            runner_pid = token.split(b"=", 1)[1].split(b"-", 1)[0]
            runners[token] = runner_pid.isdigit() and _alive(int(runner_pid))
        if not runners[token] and _kill(pid):
            ended[run_id] = ended.get(run_id, 0) + 1
    return ended


_ATTEMPT_MARKS = ("TASKEXEC_RUNNER", "TASKEXEC_RUN_ID", "TASKEXEC_TASK_ID", "TASKEXEC_ATTEMPT")


def end_attempt(env: Mapping[str, str]) -> int:
    """SIGKILL the processes of one attempt that left its process group.

    A timeout or a cancel ends the attempt's process group; a process in a
    session of its own (``setsid``, the kernel a notebook's papermill starts,
    what that kernel's cells start) is not in it, but carries the attempt's
    marks: its runner's token, run ID, task ID and attempt number.

    Args:
        env: The attempt's environment (the marks are read from it).

    Returns:
        How many processes were ended.
    """
    return signal_attempt(env, signal.SIGKILL)


def signal_attempt(env: Mapping[str, str], sig: int) -> int:
    """Send ``sig`` to every running process that carries one attempt's marks.

    Args:
        env: The attempt's environment (the marks are read from it).
        sig: The signal (SIGKILL to end them, SIGSTOP/SIGCONT to pause them).

    Returns:
        How many processes it was sent to.
    """
    marks = {f"{key}={env[key]}".encode() for key in _ATTEMPT_MARKS if key in env}
    if len(marks) < 3:  # not an attempt of a run: nothing identifies its processes
        return 0
    return sum(_kill(pid, sig) for pid, variables in _environs() if marks <= variables)


def _environs() -> Iterator[tuple[int, set[bytes]]]:
    """Every other process, with its environment's ``NAME=value`` items (where readable)."""
    for pid in _pids():
        yield pid, set(_environ(pid).split(b"\0"))


def _alive(pid: int) -> bool:
    from taskexec_nb.executors.process import process_alive

    return process_alive(pid)


def _kill(pid: int, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` (SIGKILL) to ``pid`` if it still runs (a zombie does not); whether it did."""
    if not _alive(pid):
        return False
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def thread_children(tid: int) -> list[int]:
    """The processes one thread of this process started (empty where /proc does not say)."""
    return _children_file(f"/proc/self/task/{tid}/children")


def descendants(pids: Iterable[int]) -> list[int]:
    """``pids`` and every process below them, parents before their children."""
    found: list[int] = []
    todo = list(pids)
    while todo:
        pid = todo.pop(0)
        if pid in found:
            continue
        found.append(pid)
        try:
            threads = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in threads:
            todo += _children_file(f"/proc/{pid}/task/{tid}/children")
    return found


def _children_file(path: str) -> list[int]:
    try:
        with open(path, encoding="ascii") as f:
            return [int(pid) for pid in f.read().split()]
    except (OSError, ValueError):
        return []


def _pids() -> list[int]:
    """Every process but this one (from /proc)."""
    me = os.getpid()
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) != me]


def _members(pgid: int) -> list[int]:
    """Processes whose process group is ``pgid`` (from /proc)."""
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 3 and int(fields[2]) == pgid:  # state, ppid, pgrp
            found.append(pid)
    return found


def _environ(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return b"\0" + f.read()
    except OSError:
        return b""
