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
import subprocess
import sys
import threading

from taskexec_nb._procfs import marked_processes

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
        self._watched: set[int] = set()
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
        """Watch a process group.

        Args:
            pgid: The process group to end if this process dies before it does.
        """
        self._watched.add(pgid)
        self._send(f"+{pgid}")

    def remove(self, pgid: int) -> None:
        """Stop watching a process group (it has ended).

        Args:
            pgid: A process group given to :meth:`add`.
        """
        self._watched.discard(pgid)
        self._send(f"-{pgid}")

    @property
    def env(self) -> dict[str, str]:
        """The environment variable that marks this runner's task processes."""
        return {"TASKEXEC_RUNNER": self.token}

    def close(self) -> None:
        """End the watchdog after a normal finish.

        It then ends what is left: the groups still watched and every process that
        carries this runner's mark. When there is one, this waits until it is done;
        with none, the watchdog has nothing to do and exits on its own, and the run
        does not wait for its interpreter to finish starting.
        """
        if self._timer is not None:
            self._timer.cancel()
        self._flush()
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        if not self._watched and not marked_processes(f"TASKEXEC_RUNNER={self.token}"):
            threading.Thread(target=self._proc.wait, name="taskexec-reaper", daemon=True).start()
            return
        try:
            # A process that left the task's group ignoring SIGTERM takes the grace period.
            self._proc.wait(timeout=self.grace + 5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it exits on EOF
            self._proc.kill()
