"""Typed run events and the one stream every observer reads.

Every state change of a run is an :class:`Event` on an :class:`EventBus`: the
state store, the terminal view, the widgets and the report builder subscribe
to it; nothing calls them directly.
"""

from __future__ import annotations

import enum
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from time import time as _now
from types import MappingProxyType
from typing import Any, ClassVar


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


# -- payloads -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Payload(Mapping[str, Any]):
    """The details of one event: a typed, frozen record that reads as its stored JSON too.

    Each :class:`EventKind` has its own subclass (:data:`PAYLOADS`). Read the
    attributes (``event.data.waiting_on``: ``None`` when not given). As a
    read-only mapping a payload holds exactly the keys its producer gave, in
    that order: that mapping is the ``data`` JSON the state store keeps, the
    same as when payloads were plain dicts, so stores written before or after
    read alike.

    Built from a mapping (:func:`payload`), the keys given are the keys kept.
    Built directly (``TaskQueued(waiting_on=None)``), the keys kept are the
    fields always stored for the kind, the fields whose value is not the
    default, and the fields that come with those (an attempt's ``tail`` brings
    its ``exit_code``, ``signal``, ``error``, ``stderr_tail`` and ``log_path``,
    even when ``None``), in field order.
    """

    kind: ClassVar[EventKind]
    _always: ClassVar[tuple[str, ...]] = ()
    _with: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({})
    _keys: tuple[str, ...] | None = field(default=None, repr=False, compare=False, kw_only=True)

    def __post_init__(self) -> None:
        if self._keys is not None:
            return
        names = [f.name for f in fields(self) if f.name != "_keys"]
        kept = {n for n in names if n in self._always or getattr(self, n) != _default(self, n)}
        for name in list(kept):
            kept.update(self._with.get(name, ()))
        object.__setattr__(self, "_keys", tuple(n for n in names if n in kept))

    def __getitem__(self, key: str) -> Any:
        if key not in self._given:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._given)

    def __len__(self) -> int:
        return len(self._given)

    def __contains__(self, key: object) -> bool:
        return key in self._given

    @property
    def _given(self) -> tuple[str, ...]:
        return self._keys or ()

    def to_dict(self) -> dict[str, Any]:
        """The stored JSON form: the keys given, in order.

        Returns:
            A new plain dict.
        """
        return {key: getattr(self, key) for key in self._given}


def _default(payload: Payload, name: str) -> Any:
    return _DEFAULTS[type(payload)][name]


@dataclass(frozen=True, slots=True)
class RunStarted(Payload):
    """A run (or a resumed run's new session) started.

    Attributes:
        tasks: How many tasks it runs.
    """

    kind: ClassVar[EventKind] = EventKind.RUN_STARTED
    _always: ClassVar[tuple[str, ...]] = ("tasks",)
    tasks: int | None = None


@dataclass(frozen=True, slots=True)
class TaskQueued(Payload):
    """A task is ready (or back from a retry's backoff) and waits to start.

    Attributes:
        waiting_on: What it waits for (``a worker``, a resource, ``run paused``),
            ``None`` when it starts as soon as the scheduler gets to it.
    """

    kind: ClassVar[EventKind] = EventKind.TASK_QUEUED
    _always: ClassVar[tuple[str, ...]] = ("waiting_on",)
    waiting_on: str | None = None


@dataclass(frozen=True, slots=True)
class TaskStarted(Payload):
    """An attempt of a task started.

    Attributes:
        log_path: The attempt's log file (written from its first output on).
        executor: The executor's name (``shell``, ``notebook``, ``agent``...).
    """

    kind: ClassVar[EventKind] = EventKind.TASK_STARTED
    _always: ClassVar[tuple[str, ...]] = ("log_path", "executor")
    log_path: str | None = None
    executor: str | None = None


@dataclass(frozen=True, slots=True)
class TaskOutput(Payload):
    """A chunk of a running attempt's output (masked; never stored: it is in the log).

    Attributes:
        stream: ``stdout`` or ``stderr``.
        text: The text, one or more lines, the last one possibly partial.
    """

    kind: ClassVar[EventKind] = EventKind.TASK_OUTPUT
    _always: ClassVar[tuple[str, ...]] = ("stream", "text")
    stream: str = ""
    text: str = ""


_ENDED = ("exit_code", "signal", "error", "tail", "stderr_tail")


@dataclass(frozen=True, slots=True)
class TaskRetrying(Payload):
    """An attempt ended without success and the task gets another one after ``delay``.

    Attributes:
        attempt_status: How the attempt ended (``failed``, ``timed_out``).
        delay: Seconds until the next attempt.
        waiting_on: What the task waits for meanwhile (``attempt 2, in 1 s``).
        log_path: The attempt's log, ``None`` if it wrote nothing.
        exit_code: The process's exit code, if it exited.
        signal: The signal that ended it, if one did.
        error: One line on what went wrong.
        tail: The last lines of output.
        stderr_tail: The last lines of stderr.
        artifacts: Named files the attempt produced (only given when there are some).
    """

    kind: ClassVar[EventKind] = EventKind.TASK_RETRYING
    _always: ClassVar[tuple[str, ...]] = ("attempt_status", "delay", "waiting_on", "log_path")
    _always += _ENDED
    attempt_status: str | None = None
    delay: float | None = None
    waiting_on: str | None = None
    log_path: str | None = None
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    tail: str | None = None
    stderr_tail: str | None = None
    artifacts: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class TaskFinished(Payload):
    """A task reached its final status (the event's ``status``).

    Attributes:
        reason: Why it ended without an attempt (skipped, cancelled, no action).
        blocked_by: The prerequisite whose failure skipped it.
        unrun: Skipped because nothing could run a prerequisite (the run is incomplete).
        no_action: Skipped because nothing could run it (no action, no agent).
        exit_code: The last attempt's exit code, if it exited.
        signal: The signal that ended it, if one did.
        error: One line on what went wrong.
        tail: The last lines of output (given with every attempt's end).
        stderr_tail: The last lines of stderr.
        artifacts: Named files the attempt produced.
        log_path: The attempt's log, ``None`` if it wrote nothing.
        allowed: It failed under ``allow_failure`` (the run does not fail for it).
    """

    kind: ClassVar[EventKind] = EventKind.TASK_FINISHED
    _with: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType(
        {"tail": (*_ENDED, "log_path")}
    )
    reason: str | None = None
    blocked_by: str | None = None
    unrun: bool = False
    no_action: bool = False
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    tail: str | None = None
    stderr_tail: str | None = None
    artifacts: Mapping[str, str] | None = None
    log_path: str | None = None
    allowed: bool = False


@dataclass(frozen=True, slots=True)
class TaskTicked(Payload):
    """The task's box was ticked ``[X]`` in tasks.md (no details)."""

    kind: ClassVar[EventKind] = EventKind.TASK_TICKED


@dataclass(frozen=True, slots=True)
class RunPaused(Payload):
    """The run stopped starting tasks.

    Attributes:
        suspend: Its running tasks were suspended too (SIGSTOP).
        suspended: With ``suspend``, the tasks actually suspended (a task without
            a process of its own, e.g. a Python callable, runs on); ``None`` in
            events stored before it was recorded (then every running task).
    """

    kind: ClassVar[EventKind] = EventKind.RUN_PAUSED
    _always: ClassVar[tuple[str, ...]] = ("suspend",)
    suspend: bool | None = None
    suspended: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class RunResumed(Payload):
    """A paused run goes on (no details)."""

    kind: ClassVar[EventKind] = EventKind.RUN_RESUMED


@dataclass(frozen=True, slots=True)
class RunFinished(Payload):
    """The run ended with the event's ``status``.

    Attributes:
        counts: Its tasks by final status.
    """

    kind: ClassVar[EventKind] = EventKind.RUN_FINISHED
    _always: ClassVar[tuple[str, ...]] = ("counts",)
    counts: Mapping[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Notice(Payload):
    """Something a person running the tasks should read.

    Attributes:
        warning: A problem that did not stop the run (a box not ticked...).
        error: An error (an observer that failed and was removed).
        info: Plain information (``stopping: 2 running task(s) get SIGTERM``).
    """

    kind: ClassVar[EventKind] = EventKind.NOTICE
    warning: str | None = None
    error: str | None = None
    info: str | None = None

    @property
    def text(self) -> str:
        """The warning, else the error, else the information ("" if none)."""
        return self.warning or self.error or self.info or ""


PAYLOADS: Mapping[EventKind, type[Payload]] = MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            RunStarted,
            TaskQueued,
            TaskStarted,
            TaskOutput,
            TaskRetrying,
            TaskFinished,
            TaskTicked,
            RunPaused,
            RunResumed,
            RunFinished,
            Notice,
        )
    }
)
"""The payload class of each event kind."""

_DEFAULTS: dict[type[Payload], dict[str, Any]] = {
    cls: {f.name: f.default for f in fields(cls) if f.name != "_keys"} for cls in PAYLOADS.values()
}


def payload(kind: EventKind, data: Mapping[str, Any], *, strict: bool = True) -> Payload:
    """The typed payload of a ``kind`` event with the details ``data``.

    Args:
        kind: The event's kind.
        data: Its details, as a producer gives them or the store keeps them.
        strict: Refuse keys the kind does not have (as producers must);
            ``False`` drops them (reading a store written by another version).

    Returns:
        The payload; its mapping form is ``data`` (without dropped keys).

    Raises:
        TypeError: If ``strict`` and a key is not one of the kind's.
    """
    cls = PAYLOADS[kind]
    known = _DEFAULTS[cls]
    unknown = [key for key in data if key not in known]
    if unknown:
        if strict:
            allowed = ", ".join(known) or "none"
            raise TypeError(
                f"{kind.value} events carry no {', '.join(map(repr, unknown))} "
                f"(their details: {allowed})"
            )
        data = {key: value for key, value in data.items() if key in known}
    return cls(**data, _keys=tuple(data))


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
