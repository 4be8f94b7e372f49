"""The rows of the live run model: a task, an attempt, and a consistent snapshot of a run.

:class:`~taskexec_nb.run.live.RunModel` builds them from a run's events; views
(``RunHandle.status()``, the terminal view, a dashboard) read them. Frozen: safe
to keep and to hand to another thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from taskexec_nb.events import TaskStatus

_PENDING = TaskStatus.PENDING.value
_RUNNING = TaskStatus.RUNNING.value
_PAUSED = TaskStatus.PAUSED.value


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task of a run as the events tell it.

    Attributes:
        id: The task ID.
        phase: Its phase's label (``Phase 1: Setup``).
        story: Its user story, if any.
        title: Its description.
        status: ``pending``, ``queued``, ``running``, ``paused`` or a final status.
        allowed: It failed under ``allow_failure``.
        attempt: Its latest attempt (0: none yet).
        start: When its first attempt started (``time.time()``).
        end: When it reached its final status.
        waiting_on: What a queued task waits for.
        error: Why it failed or was skipped.
        exit_code: Its last attempt's exit code.
        last_line: The last non-blank line of its output (of its tail once it ended).
        tail: Its latest output lines (the attempt's recorded tail once it ended).
        log_path: Its latest attempt's log file.
        ticked: Its box was ticked in tasks.md.
    """

    id: str
    phase: str | None = None
    story: str | None = None
    title: str | None = None
    status: str = _PENDING
    allowed: bool = False
    attempt: int = 0
    start: float | None = None
    end: float | None = None
    waiting_on: str | None = None
    error: str | None = None
    exit_code: int | None = None
    last_line: str | None = None
    tail: str | None = None
    log_path: str | None = None
    ticked: bool = False

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, if it has both."""
        return self.end - self.start if self.start is not None and self.end is not None else None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One attempt of a task (a bar of the Gantt).

    Attributes:
        task_id: The task.
        attempt: Its number (1-based).
        status: ``running``, or how it ended.
        start: When it started.
        end: When it ended (None while running).
        executor: The executor that ran it.
        exit_code: The process's exit code, if it exited.
        signal: The signal that ended it, if one did.
        error: What went wrong.
        log_path: Its log file (None if it wrote nothing).
    """

    task_id: str
    attempt: int
    status: str = _RUNNING
    start: float | None = None
    end: float | None = None
    executor: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    log_path: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end, if it ended."""
        return self.end - self.start if self.start is not None and self.end is not None else None


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """A consistent view of a run at one moment (what every view draws from).

    Attributes:
        run_id: The run (None before its first event).
        status: ``pending`` before it starts, then the run's status.
        started: When it (first) started.
        finished: When it finished.
        version: How many events the model has taken in (unchanged: nothing new).
        tasks: One row per task, in file order (tasks the model learnt of late last).
        attempts: One row per attempt, in start order.
        notices: The run's notices so far.
    """

    run_id: str | None
    status: str
    started: float | None
    finished: float | None
    version: int
    tasks: tuple[TaskRow, ...]
    attempts: tuple[AttemptRow, ...]
    notices: tuple[str, ...]

    def counts(self) -> dict[str, int]:
        """Tasks by status (a failure under ``allow_failure`` as ``failed (allowed)``).

        Returns:
            Status -> number of tasks, for statuses that have any.
        """
        counts: dict[str, int] = {}
        for row in self.tasks:
            key = row.status + (" (allowed)" if row.allowed else "")
            counts[key] = counts.get(key, 0) + 1
        return counts

    @property
    def done(self) -> int:
        """How many tasks reached a final status."""
        return sum(1 for row in self.tasks if TaskStatus(row.status).finished)

    def running(self) -> list[TaskRow]:
        """The tasks running (or suspended) now, first started first.

        Returns:
            Their rows.
        """
        rows = [r for r in self.tasks if r.status in (_RUNNING, _PAUSED)]
        return sorted(rows, key=lambda r: r.start or 0.0)

    def failures(self) -> list[TaskRow]:
        """The tasks that failed or timed out (with their error and tail).

        Returns:
            Their rows, in file order.
        """
        bad = (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value)
        return [r for r in self.tasks if r.status in bad]
