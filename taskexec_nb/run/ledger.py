"""A run's task states as its scheduler changes them, and the events that report each change.

The :class:`~taskexec_nb.run.schedule.Scheduler` decides what runs when; its
:class:`RunLedger` records it: each task's
:class:`~taskexec_nb.run.attempt.TaskState` (status, what it waits on, start and
end times, error) with the event that says so on the run's bus, the finishes
not made durable yet, and the run's end (what never ran, the final status, the
counts by status).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from taskexec_nb.events import Event, EventBus, EventKind, RunStatus, TaskStatus
from taskexec_nb.executors import Outcome
from taskexec_nb.model import Task
from taskexec_nb.run.attempt import (
    FAILED,
    TaskState,
    allows_failure,
    final_status,
    incomplete_note,
    outcome_data,
    written_log,
)
from taskexec_nb.settings import RunSettings


class RunLedger:
    """The task states of one run and the events that report them (see the module docstring).

    Args:
        run_id: The run's ID (on every event).
        bus: Where events go.
        tasks: The tasks the run runs by ID, in plan order, overrides applied.
        settings: The run's settings (``allow_failure``, what makes a run incomplete).
        save_delay: Seconds a finish may wait to be made durable (:meth:`save_due`).
        poke: Wakes the scheduler's loop; called once a finish's save comes due.

    Attributes:
        states: Each task's live state, by ID, in plan order.
        unsaved: The tasks finished since the last :meth:`mark_saved`.
    """

    def __init__(
        self,
        run_id: str,
        bus: EventBus,
        tasks: Mapping[str, Task],
        settings: RunSettings,
        *,
        save_delay: float = 0.0,
        poke: Callable[[], None] = lambda: None,
    ) -> None:
        self.run_id = run_id
        self.bus = bus
        self.tasks = tasks
        self.settings = settings
        self.save_delay = save_delay
        self._poke = poke
        self.states = {tid: TaskState(tid) for tid in tasks}
        self.unsaved: set[str] = set()
        self._unsaved_since: float | None = None

    def emit(
        self,
        kind: EventKind,
        task_id: str | None = None,
        attempt: int | None = None,
        status: str | None = None,
        **data: Any,
    ) -> None:
        """Put an event on the bus; a task's first start and its end are kept in its state.

        Args:
            kind: What happened.
            task_id: The task concerned, if any.
            attempt: The attempt number, for task events.
            status: The new task or run status, where the event sets one.
            **data: The event's details (its kind's payload fields).
        """
        event = Event(kind, self.run_id, task_id, attempt, status, data)
        if task_id is not None and task_id in self.states:
            state = self.states[task_id]
            if kind is EventKind.TASK_STARTED and state.started is None:
                state.started = event.time
            elif kind is EventKind.TASK_FINISHED:
                state.finished = event.time
        self.bus.emit(event)

    def queued(self, task_id: str, waiting: str | None) -> None:
        """Record a task as queued, waiting on ``waiting``.

        Args:
            task_id: The task.
            waiting: What it waits for (``a worker``, a resource...); None: nothing.
        """
        state = self.states[task_id]
        state.status, state.waiting_on = TaskStatus.QUEUED, waiting
        self.emit(
            EventKind.TASK_QUEUED, task_id, status=TaskStatus.QUEUED.value, waiting_on=waiting
        )

    def retrying(self, task_id: str, attempt: int, outcome: Outcome, delay: float) -> None:
        """Record a task queued again after an attempt that failed, for its next attempt.

        Args:
            task_id: The task.
            attempt: The number of the attempt that ended.
            outcome: How it ended.
            delay: Seconds until the next attempt.
        """
        state = self.states[task_id]
        waiting = f"attempt {attempt + 1}, in {delay:g} s"
        self.emit(
            EventKind.TASK_RETRYING,
            task_id,
            attempt,
            TaskStatus.QUEUED.value,
            attempt_status=outcome.status.value,
            delay=delay,
            waiting_on=waiting,
            log_path=written_log(state),
            **outcome_data(outcome),
        )
        state.status = TaskStatus.QUEUED
        state.waiting_on = waiting

    def finish(
        self,
        task_id: str,
        status: TaskStatus,
        attempt: int | None = None,
        outcome: Outcome | None = None,
        **data: Any,
    ) -> None:
        """Record a task's final status; its finish waits to be made durable.

        Args:
            task_id: The task.
            status: Its final status.
            attempt: The number of its last attempt, if it ran.
            outcome: How that attempt ended (its error, exit code and output tails).
            **data: More details (``reason`` for a task that did not run...).
        """
        state = self.states[task_id]
        state.status = status
        state.waiting_on = None
        if outcome is not None:
            state.error, state.exit_code = outcome.error, outcome.exit_code
            data.update(outcome_data(outcome))
            data["log_path"] = written_log(state)
        elif "reason" in data:
            state.error = data["reason"]
        state.allowed = status in FAILED and allows_failure(self.tasks[task_id], self.settings)
        if state.allowed:
            data["allowed"] = True  # allow_failure: the run does not fail for it
        self.emit(EventKind.TASK_FINISHED, task_id, attempt, status.value, **data)
        self.unsaved.add(task_id)
        if self._unsaved_since is None:
            loop = asyncio.get_running_loop()
            self._unsaved_since = loop.time()
            loop.call_later(self.save_delay, self._poke)

    def skip(self, task_id: str, root: str, has_no_action: Callable[[str], bool]) -> None:
        """Record a task skipped because a prerequisite of it did not succeed.

        Args:
            task_id: The task skipped.
            root: The prerequisite that failed, was skipped or could not run.
            has_no_action: Whether a task has nothing to run (asked only when
                ``root`` had nothing to run either).
        """
        reason = f"prerequisite {root} {self.states[root].status.value}"
        data: dict[str, Any] = {"reason": reason, "blocked_by": root}
        if "no_action" in self.states[root].extra:
            # Not run for want of an agent upstream: no failure, the run is incomplete.
            self.states[task_id].extra["unrun"] = True
            data["unrun"] = True
            if has_no_action(task_id):  # nothing to run here either
                self.states[task_id].extra["no_action"] = True
                data["no_action"] = True
        self.finish(task_id, TaskStatus.SKIPPED, **data)

    def save_due(self) -> bool:
        """Whether the oldest finish not made durable yet has waited ``save_delay``.

        Returns:
            True when the finishes so far should be saved now.
        """
        if self._unsaved_since is None:
            return False
        return asyncio.get_running_loop().time() - self._unsaved_since >= self.save_delay

    def mark_saved(self) -> None:
        """Forget the finishes so far: they are being made durable."""
        self.unsaved.clear()
        self._unsaved_since = None

    def close(self, cancelled: bool, interrupted: bool, stop_reason: str | None) -> RunStatus:
        """Record the tasks that never finished, and work out how the run ended.

        Args:
            cancelled: The run was cancelled: those tasks end cancelled.
            interrupted: The cancel came from an interrupt (the run ends interrupted).
            stop_reason: Why the rest did not start (fail-fast); None: ``not started``.

        Returns:
            The run's final status (an incomplete run also gets a notice saying why).
        """
        for state in self.states.values():
            if state.status.finished:
                continue
            if cancelled:
                reason = "interrupted" if interrupted else "run cancelled"
                self.finish(state.task_id, TaskStatus.CANCELLED, reason=reason)
            else:
                reason = stop_reason or "not started"
                self.finish(state.task_id, TaskStatus.SKIPPED, reason=reason)
        if cancelled:
            return RunStatus.INTERRUPTED if interrupted else RunStatus.CANCELLED
        final = final_status(self.states, self.tasks, self.settings)
        if final is RunStatus.INCOMPLETE:
            self.emit(EventKind.NOTICE, warning=incomplete_note(self.states, self.settings))
        return final

    def counts(self) -> dict[str, int]:
        """The run's tasks by status.

        Returns:
            Status value to number of tasks, in the order the statuses first occur.
        """
        counts: dict[str, int] = {}
        for state in self.states.values():
            counts[state.status.value] = counts.get(state.status.value, 0) + 1
        return counts
