"""Processes as /proc and signals see them: liveness, identity, marks, process groups.

Every helper that reads ``/proc`` or signals a process by pid lives here, once:
the executors, the watchdog, the store and the runner use them. It imports
nothing from taskexec_nb, so anything may import it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Collection, Iterable, Iterator, Mapping
from typing import Any, Protocol


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies count as gone).

    Args:
        pid: The process ID.

    Returns:
        True while it runs (or cannot be told apart from running), False once gone.
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError, ProcessLookupError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return state != "Z"


def process_identity(pid: int) -> str | None:
    """What tells a process from a later one given the same pid: ``pid:boot ID:start time``.

    Args:
        pid: The process ID.

    Returns:
        The identity; None where ``/proc`` does not say (then the pid alone is checked).
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            start = f.read().rsplit(")", 1)[1].split()[19]  # field 22: start time in ticks
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
    except (OSError, IndexError):
        return None
    return f"{pid}:{boot}:{start}"


class RunnerFields(Protocol):
    """What :func:`runner_alive` reads of a stored run (or orphaned attempt)."""

    @property
    def pid(self) -> int | None:
        """The runner's pid."""

    @property
    def host(self) -> str | None:
        """The runner's host."""

    @property
    def runner(self) -> str | None:
        """The runner's process identity."""


def runner_alive(run: Mapping[str, Any] | RunnerFields) -> bool | None:
    """Whether the runner process recorded for a run still runs.

    Args:
        run: The run's record or row (``pid``, ``host`` and ``runner``, the
            process identity).

    Returns:
        True or False; None for a runner on another host, which this machine
        cannot check. A pid now held by another process (pids are reused) is False.
    """
    if isinstance(run, Mapping):
        pid, host, recorded = run.get("pid"), run.get("host"), run.get("runner")
    else:
        pid, host, recorded = run.pid, run.host, run.runner
    if not pid:
        return False
    if host and host != socket.gethostname():
        return None
    if not process_alive(pid):
        return False
    # An identity of another pid was left by an older version that resumed the run
    # without recording one: the pid alone is all there is to go on then.
    if recorded and recorded.split(":", 1)[0] == str(pid):
        now = process_identity(pid)
        return now is None or now == recorded
    return True


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
            runners[token] = runner_pid.isdigit() and process_alive(int(runner_pid))
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


def signal_same(targets: Mapping[int, str | None], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to each process that is still the one it was (pids are reused).

    Args:
        targets: Process IDs with their :func:`process_identity` when first seen;
            one whose identity was None is left alone.
        sig: The signal.
    """
    for pid, identity in targets.items():
        if identity is not None and process_identity(pid) == identity:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


def signal_descendants(pids: Iterable[int], sig: int) -> dict[int, str | None]:
    """Send ``sig`` to ``pids`` and every process below them.

    Args:
        pids: The processes to start from.
        sig: The signal.

    Returns:
        Each process signalled, with its :func:`process_identity` (for
        :func:`signal_same` later).
    """
    targets = {pid: process_identity(pid) for pid in descendants(pids)}
    for pid in targets:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)
    return targets


def _environs() -> Iterator[tuple[int, set[bytes]]]:
    """Every other process, with its environment's ``NAME=value`` items (where readable)."""
    for pid in _pids():
        yield pid, set(_environ(pid).split(b"\0"))


def marked_processes(variable: str) -> list[int]:
    """Every other process whose environment has ``variable`` (``NAME=value``), exactly.

    Args:
        variable: The environment item, e.g. ``TASKEXEC_RUNNER=<token>``.

    Returns:
        Their process IDs (none where /proc does not say).
    """
    marker = b"\0" + variable.encode() + b"\0"
    return [pid for pid in _pids() if marker in _environ(pid) + b"\0"]


def _kill(pid: int, sig: int = signal.SIGKILL) -> bool:
    """Send ``sig`` (SIGKILL) to ``pid`` if it still runs (a zombie does not); whether it did."""
    if not process_alive(pid):
        return False
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def thread_children(tid: int) -> list[int]:
    """The processes one thread of this process started (empty where /proc does not say).

    Args:
        tid: The thread's native ID.

    Returns:
        Their process IDs.
    """
    return _children_file(f"/proc/self/task/{tid}/children")


def descendants(pids: Iterable[int]) -> list[int]:
    """``pids`` and every process below them, parents before their children.

    Args:
        pids: The processes to start from.

    Returns:
        Their process IDs and their descendants'.
    """
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
