"""Whether the runner recorded for a run still runs (its pid and process identity)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any


def process_identity(pid: int) -> str | None:
    """What tells a process from a later one given the same pid: ``pid:boot ID:start time``.

    None where ``/proc`` does not say (then the pid alone is checked).
    """
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            start = f.read().rsplit(")", 1)[1].split()[19]  # field 22: start time in ticks
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
    except (OSError, IndexError):
        return None
    return f"{pid}:{boot}:{start}"


def runner_alive(run: Mapping[str, Any]) -> bool | None:
    """Whether the runner process recorded for a run still runs.

    Args:
        run: The run's row (``pid``, ``host`` and ``runner``, the process identity).

    Returns:
        True or False; None for a runner on another host, which this machine
        cannot check. A pid now held by another process (pids are reused) is False.
    """
    pid = run.get("pid")
    if not pid:
        return False
    if run.get("host") and run["host"] != socket.gethostname():
        return None
    from taskexec_nb.executors.process import process_alive

    if not process_alive(pid):
        return False
    recorded = run.get("runner")
    # An identity of another pid was left by an older version that resumed the run
    # without recording one: the pid alone is all there is to go on then.
    if recorded and recorded.split(":", 1)[0] == str(pid):
        now = process_identity(pid)
        return now is None or now == recorded
    return True
