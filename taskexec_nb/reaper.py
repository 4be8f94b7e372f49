"""A watchdog process per run that ends the run's process groups if the runner dies.

The runner starts it with a pipe on its stdin and tells it ``+PGID`` when a
task's process group starts and ``-PGID`` when it ends. If the runner dies,
even by SIGKILL, the pipe closes: the reaper sends SIGTERM to every group it
still knows, waits the grace period, then SIGKILL. It imports nothing from
taskexec_nb, so it starts in milliseconds.
"""

from __future__ import annotations

import os
import subprocess
import sys

REAPER_CODE = r"""
import os, signal, sys, time
grace = float(sys.argv[1])
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
if send(signal.SIGTERM):
    send(signal.SIGCONT)
    end = time.monotonic() + grace
    while groups and time.monotonic() < end:
        time.sleep(0.05)
        send(0)
    send(signal.SIGKILL)
"""


class Reaper:
    """The runner's side of the watchdog (see the module docstring).

    Args:
        grace: Seconds between SIGTERM and SIGKILL when it has to act.
    """

    def __init__(self, grace: float) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-S", "-c", REAPER_CODE, str(grace)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C for the runner must not end the reaper first
            close_fds=True,
        )
        self.pid = self._proc.pid

    def _send(self, line: str) -> None:
        stdin = self._proc.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    def add(self, pgid: int) -> None:
        """Watch a process group."""
        self._send(f"+{pgid}")

    def remove(self, pgid: int) -> None:
        """Stop watching a process group (it has ended)."""
        self._send(f"-{pgid}")

    def close(self) -> None:
        """End the watchdog after a normal finish (it has nothing left to end)."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - it exits on EOF
            self._proc.kill()


def end_process_group(pgid: int) -> bool:
    """SIGKILL a leftover process group; False if it no longer exists."""
    import signal

    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True
