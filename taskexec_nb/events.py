"""Typed run events and the one stream every observer reads.

Every state change of a run is an :class:`Event` on an :class:`EventBus`: the
state store, the terminal view, the widgets and the report builder subscribe
to it; nothing calls them directly. The kinds of event and their typed
details (payloads) are :mod:`taskexec_nb.payloads`', re-exported here.
"""

from __future__ import annotations

import enum
import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import time as _now
from typing import Any

from taskexec_nb.payloads import (
    PAYLOADS,
    EventKind,
    Notice,
    Payload,
    RunFinished,
    RunPaused,
    RunResumed,
    RunStarted,
    TaskFinished,
    TaskOutput,
    TaskQueued,
    TaskRetrying,
    TaskStarted,
    TaskTicked,
    payload,
)

__all__ = [
    "PAYLOADS",
    "Event",
    "EventBus",
    "EventKind",
    "EventRecorder",
    "Notice",
    "Observer",
    "Payload",
    "RunFinished",
    "RunPaused",
    "RunResumed",
    "RunStarted",
    "RunStatus",
    "TaskFinished",
    "TaskOutput",
    "TaskQueued",
    "TaskRetrying",
    "TaskStarted",
    "TaskStatus",
    "TaskTicked",
    "payload",
    "printable",
]


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


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One state change.

    Attributes:
        kind: What happened.
        run_id: The run it belongs to.
        task_id: The task concerned, if any.
        attempt: The attempt number (1-based), for task events.
        status: The new task or run status, where the event sets one.
        data: Details, typed by kind (:data:`PAYLOADS`: :class:`TaskFinished`
            has ``exit_code``, ``error``, ``tail``...); it reads as a mapping too
            (``event.data.get("error")``), as stored.
        time: Wall-clock time (``time.time()``) when it happened.
    """

    kind: EventKind
    run_id: str
    task_id: str | None
    attempt: int | None
    status: str | None
    data: Payload
    time: float

    def __init__(
        self,
        kind: EventKind,
        run_id: str,
        task_id: str | None = None,
        attempt: int | None = None,
        status: str | None = None,
        data: Payload | Mapping[str, Any] | None = None,
        time: float | None = None,
    ) -> None:
        """Make an event.

        Args:
            kind: What happened.
            run_id: The run it belongs to.
            task_id: The task concerned, if any.
            attempt: The attempt number, for task events.
            status: The new task or run status, where the event sets one.
            data: The kind's payload, or its details as a mapping (checked:
                see :func:`payload`); none: the kind's payload without details.
            time: When it happened (default: now).

        Raises:
            TypeError: If ``data`` is another kind's payload or has a key the
                kind does not have.
        """
        if data is None:
            data = PAYLOADS[kind]()
        elif not isinstance(data, Payload):
            data = payload(kind, data)
        elif data.kind is not kind:
            raise TypeError(f"a {kind.value} event carries no {type(data).__name__} payload")
        set_ = object.__setattr__
        set_(self, "kind", kind)
        set_(self, "run_id", run_id)
        set_(self, "task_id", task_id)
        set_(self, "attempt", attempt)
        set_(self, "status", status)
        set_(self, "data", data)
        set_(self, "time", _now() if time is None else time)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (the form :meth:`from_dict` reads back).

        Returns:
            kind, run_id, task_id, attempt, status, data (a plain dict) and time.
        """
        return {
            "kind": self.kind.value,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "attempt": self.attempt,
            "status": self.status,
            "data": self.data.to_dict(),
            "time": self.time,
        }

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> Event:
        """An event read back from :meth:`to_dict` or a stored row (``StateStore.events``).

        Details a kind does not have (written by another version) are dropped.

        Args:
            row: ``kind``, ``run_id``, ``time`` and optionally ``task_id``,
                ``attempt``, ``status`` and ``data`` (a mapping, JSON text or None).

        Returns:
            The event.

        Raises:
            ValueError: If ``kind`` is not an event kind or ``data`` is not a JSON object.
        """
        kind = EventKind(row["kind"])
        data = row.get("data") or {}
        if isinstance(data, str):
            data = json.loads(data)
        if not isinstance(data, Mapping):
            raise ValueError(f"event data must be a JSON object, not {type(data).__name__}")
        return cls(
            kind,
            row["run_id"],
            row.get("task_id"),
            row.get("attempt"),
            row.get("status"),
            payload(kind, data, strict=False),
            float(row["time"]),
        )


Observer = Callable[[Event], None]


class EventBus:
    """Delivers each event to every observer, in subscription order, synchronously.

    An observer that raises is removed and reported on the stream as a
    ``notice`` event, so one broken view cannot stop a run.

    The bus keeps the events it delivered (all but ``task_output``: output is in
    the log files), so an observer that subscribes late, on any thread, can get
    them first: ``subscribe(observer, replay=True)`` (e.g. a notebook's view
    attached after ``await plan.arun()`` returned, when ``run_started`` is past).

    Args:
        keep: Keep the events for replay (the default).
    """

    def __init__(self, keep: bool = True) -> None:
        self._observers: list[Observer] = []
        self._keep = keep
        self._history: list[Event] = []
        self._lock = threading.Lock()

    @property
    def history(self) -> list[Event]:
        """The events delivered so far (without ``task_output``), oldest first."""
        with self._lock:
            return list(self._history)

    def subscribe(self, observer: Observer, replay: bool = False) -> Callable[[], None]:
        """Add an observer.

        With ``replay``, the observer first gets every event kept so far, then
        the new ones, each once and in order, even while the run emits events
        on another thread (it waits for the replay to end).

        Args:
            observer: Called with every event from now on.
            replay: Call it with the events kept so far first.

        Returns:
            A function that removes the observer again.

        Raises:
            Exception: Whatever ``observer`` raises on a replayed event (it is
                not subscribed then).
        """
        if not replay:
            with self._lock:
                self._observers.append(observer)
        else:
            gate = _Replaying(observer)  # holds new events until the replay is over
            with self._lock:
                past = list(self._history)
                self._observers.append(gate)
            try:
                for event in past:
                    observer(event)
            except BaseException:
                self._remove(gate)
                raise
            finally:
                gate.open()
            with self._lock:  # from now on the observer itself, as if subscribed at the start
                if gate in self._observers:
                    self._observers[self._observers.index(gate)] = observer

        def unsubscribe() -> None:
            self._remove(observer)
            if replay:
                self._remove(gate)

        return unsubscribe

    def _remove(self, observer: Observer) -> None:
        with self._lock:
            if observer in self._observers:
                self._observers.remove(observer)

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every observer.

        Args:
            event: The event.
        """
        with self._lock:
            if self._keep and event.kind is not EventKind.TASK_OUTPUT:
                self._history.append(event)
            observers = tuple(self._observers)
        for observer in observers:
            try:
                observer(event)
            except Exception as exc:  # an observer must not break the run
                self._remove(observer)
                if isinstance(observer, _Replaying):  # replaced by its observer since
                    self._remove(observer.observer)
                name = getattr(observer, "__qualname__", repr(observer))
                error = f"observer {name} failed and was removed: {exc!r}"
                self.emit(Event(EventKind.NOTICE, event.run_id, data=Notice(error=error)))


class _Replaying:
    """An observer being replayed to: new events wait until the replay is over."""

    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.__qualname__ = getattr(observer, "__qualname__", repr(observer))
        self._replayed = threading.Lock()
        self._replayed.acquire()

    def open(self) -> None:
        self._replayed.release()

    def __call__(self, event: Event) -> None:
        with self._replayed:
            pass
        self.observer(event)


class EventRecorder:
    """An observer that keeps every event (for tests and reports)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        """Keep the event.

        Args:
            event: The event.
        """
        self.events.append(event)

    def kinds(self, task_id: str | None = None) -> list[str]:
        """Event kinds in order, optionally for one task only.

        Args:
            task_id: Only this task's events (default: all).

        Returns:
            The kinds' values.
        """
        return [e.kind.value for e in self.events if task_id is None or e.task_id == task_id]
