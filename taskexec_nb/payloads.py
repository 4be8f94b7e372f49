"""Each kind of run event and the typed, frozen details (payload) it carries.

:class:`EventKind` says what happened; each kind has its :class:`Payload`
subclass (:data:`PAYLOADS`), which reads as the JSON mapping the state store
keeps too. :mod:`taskexec_nb.events` re-exports all of these with the
:class:`~taskexec_nb.events.Event` that carries them. A leaf: it imports
nothing from the package.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar


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
        if key not in (self._keys or ()):
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """A key's value, or ``default`` when the payload does not hold it.

        The same as :meth:`Mapping.get`, without its ``try``/``KeyError``: the
        store's recorder reads several keys of every event.

        Args:
            key: The key.
            default: What a key not held gives.

        Returns:
            The value, or ``default``.
        """
        return getattr(self, key) if key in (self._keys or ()) else default

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
