"""Typed run events and the one stream every observer reads.

Every state change of a run is an :class:`Event` on an :class:`EventBus`: the
state store, the terminal view, the widgets and the report builder subscribe
to it; nothing calls them directly.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


class RunStatus(str, enum.Enum):
    """How a whole run stands.

    ``incomplete``: nothing failed, but selected tasks were skipped because
    nothing could run them (no action and no agent, or ``no_action=skip``), or
    because such a task is their prerequisite; resuming the run once an agent
    is connected runs them. ``failed`` wins over it.
    """

    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    INCOMPLETE = "incomplete"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


class TaskStatus(str, enum.Enum):
    """How one task stands within a run."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the task has reached a final state."""
        return self in _FINAL


_SURROGATE = re.compile("[\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD, as a terminal shows undecodable bytes.

    A file name from ``os.listdir()`` can carry one into an exception message;
    UTF-8 (SQLite, Arrow strings, files) cannot hold it.

    Args:
        text: Any text.

    Returns:
        The text, unchanged when it has no lone surrogate.
    """
    return _SURROGATE.sub("\ufffd", text)


_FINAL = frozenset(
    {
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.TIMED_OUT,
        TaskStatus.SKIPPED,
        TaskStatus.CANCELLED,
    }
)


class EventKind(str, enum.Enum):
    """What happened."""

    RUN_STARTED = "run_started"
    TASK_QUEUED = "task_queued"
    TASK_STARTED = "task_started"
    TASK_OUTPUT = "task_output"
    TASK_RETRYING = "task_retrying"
    TASK_FINISHED = "task_finished"
    TASK_TICKED = "task_ticked"  # its box was ticked [X] in tasks.md
    RUN_PAUSED = "run_paused"
    RUN_RESUMED = "run_resumed"
    RUN_FINISHED = "run_finished"
    NOTICE = "notice"


_NO_DATA: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Event:
    """One state change.

    Attributes:
        kind: What happened.
        run_id: The run it belongs to.
        task_id: The task concerned, if any.
        attempt: The attempt number (1-based), for task events.
        status: The new task or run status, where the event sets one.
        data: Details: ``exit_code``, ``signal``, ``error``, ``reason``,
            ``log_path``, ``stream`` and ``text`` (output), ``waiting_on``...
        time: Wall-clock time (``time.time()``) when it happened.
    """

    kind: EventKind
    run_id: str
    task_id: str | None = None
    attempt: int | None = None
    status: str | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: _NO_DATA)
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "kind": self.kind.value,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "status": self.status,
            "data": dict(self.data),
            "time": self.time,
        }


Observer = Callable[[Event], None]


class EventBus:
    """Delivers each event to every observer, in subscription order, synchronously.

    An observer that raises is removed and reported on the stream as a
    ``notice`` event, so one broken view cannot stop a run.
    """

    def __init__(self) -> None:
        self._observers: list[Observer] = []

    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Add an observer.

        Args:
            observer: Called with every event from now on.

        Returns:
            A function that removes the observer again.
        """
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every observer."""
        for observer in tuple(self._observers):
            try:
                observer(event)
            except Exception as exc:  # an observer must not break the run
                self._observers.remove(observer)
                name = getattr(observer, "__qualname__", repr(observer))
                self.emit(
                    Event(
                        EventKind.NOTICE,
                        event.run_id,
                        data={"error": f"observer {name} failed and was removed: {exc!r}"},
                    )
                )


class EventRecorder:
    """An observer that keeps every event (for tests and reports)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        """Keep the event."""
        self.events.append(event)

    def kinds(self, task_id: str | None = None) -> list[str]:
        """Event kinds in order, optionally for one task only."""
        return [e.kind.value for e in self.events if task_id is None or e.task_id == task_id]
