"""What the store's readers return, and how a stored status reads to people."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskexec_nb.events import TaskStatus


@dataclass(frozen=True)
class TaskRecord:
    """One task of a run, as stored."""

    task_id: str
    status: str
    attempt: int
    def_hash: str | None
    error: str | None
    started: float | None
    finished: float | None
    ticked: bool = False
    """Whether the run ticked the task's box in tasks.md."""
    allowed: bool = False
    """Whether it failed under ``allow_failure``."""


def shown_status(status: str, allowed: Any = None) -> str:
    """A task's status as people read it: ``failed (allowed)`` under ``allow_failure``.

    Args:
        status: The stored status value, e.g. ``failed``.
        allowed: Whether the task's failure is allowed (any truthy value).

    Returns:
        The status, with `` (allowed)`` after a failure or timeout that is allowed.
    """
    return f"{status} (allowed)" if allowed and status in _FAILURES else status


_FAILURES = frozenset({TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value})


GONE_STATUS = {"running": "interrupted", "paused": "interrupted", "queued": "pending"}
"""How the tasks and attempts of a run whose runner is gone read: none of them is
running, paused or queued any more."""


def as_gone(row: Mapping[str, Any]) -> dict[str, Any]:
    """A task or attempt row of a run whose runner is gone, as it now stands.

    Args:
        row: The row as recorded.

    Returns:
        The row with its status as :data:`GONE_STATUS` reads it, and the recorded
        one under ``recorded_status`` when they differ.
    """
    status = row.get("status")
    if status not in GONE_STATUS:
        return dict(row)
    return {**row, "status": GONE_STATUS[status], "recorded_status": status}
