"""What the store's readers return, and how a stored status reads to people.

Each reader of :class:`~taskexec_nb.store.db.StateStore` returns frozen records
whose fields are the columns of its table, in the table's order;
``as_dict()`` gives the row as a mapping, keys in that order (what
``taskexec status --json``, ``taskexec runs --json`` and the report's tables
are built from).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from taskexec_nb.events import TaskStatus


def _as_dict(record: Any, optional: str | None = None) -> dict[str, Any]:
    """A record's fields as a dict, in column order, ``optional`` left out when None.

    A record's ``__dict__`` holds its fields in their order (its ``__init__`` sets
    them so, and :func:`records_of` fills it in column order): copying it is
    what keeps a 10,000-task report as quick as reading plain rows.
    """
    row = dict(record.__dict__)
    if optional is not None and row.get(optional) is None:
        row.pop(optional, None)
    return row


@dataclass(frozen=True)
class RunRecord:
    """One run, as stored (a row of the ``runs`` table)."""

    run_id: str
    tasks_file: str
    mode: str | None
    status: str
    started: float | None
    finished: float | None
    pid: int | None
    host: str | None
    settings: str | None
    """The run's settings, as JSON text."""
    selection: str | None
    """The IDs of the tasks it was asked to run, as JSON text."""
    runner: str | None
    """The runner's process identity (see :func:`taskexec_nb._procfs.process_identity`)."""
    elapsed: float | None
    resumed: float | None
    counts: dict[str, int] | None = None
    """Its tasks by shown status (``StateStore.runs`` only; None otherwise)."""

    def as_dict(self) -> dict[str, Any]:
        """The run as a row by column name, with ``counts`` last when read.

        Returns:
            The columns in table order, then ``counts`` if the record has them.
        """
        return _as_dict(self, "counts")


@dataclass(frozen=True)
class TaskRecord:
    """One task of a run, as stored (a row of the ``tasks`` table)."""

    run_id: str
    task_id: str
    def_hash: str | None
    status: str
    attempt: int
    started: float | None
    finished: float | None
    exit_code: int | None
    signal: int | None
    error: str | None
    waiting_on: str | None
    tail: str | None
    stderr_tail: str | None
    log_path: str | None
    line: int | None
    phase: str | None
    story: str | None
    description: str | None
    deps: str | None
    """The task's dependencies, as JSON text."""
    allowed: bool
    """Whether it failed under ``allow_failure``."""
    ticked: bool
    """Whether the run ticked the task's box in tasks.md."""
    recorded_status: str | None = None
    """The status recorded by a runner now gone (see :func:`as_gone`); None otherwise."""

    def as_dict(self) -> dict[str, Any]:
        """The task as a row by column name, with ``recorded_status`` last when set.

        Returns:
            The columns in table order, then ``recorded_status`` if the record has one.
        """
        return _as_dict(self, "recorded_status")


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of a task, as stored (a row of the ``attempts`` table)."""

    run_id: str
    task_id: str
    attempt: int
    status: str
    started: float | None
    finished: float | None
    exit_code: int | None
    signal: int | None
    error: str | None
    log_path: str | None
    pgid: int | None
    tail: str | None
    stderr_tail: str | None
    artifacts: str | None
    """The attempt's artifacts, as JSON text."""
    recorded_status: str | None = None
    """The status recorded by a runner now gone (see :func:`as_gone`); None otherwise."""

    def as_dict(self) -> dict[str, Any]:
        """The attempt as a row by column name, with ``recorded_status`` last when set.

        Returns:
            The columns in table order, then ``recorded_status`` if the record has one.
        """
        return _as_dict(self, "recorded_status")


@dataclass(frozen=True)
class EventRecord:
    """One stored event (a row of the ``events`` table, ``data`` decoded)."""

    seq: int
    run_id: str
    time: float
    kind: str
    task_id: str | None
    attempt: int | None
    status: str | None
    data: dict[str, Any]
    """The event's payload (empty when it had none)."""

    def as_dict(self) -> dict[str, Any]:
        """The event as a row by column name.

        Returns:
            The columns in table order.
        """
        return _as_dict(self)


@dataclass(frozen=True)
class OrphanRecord:
    """An attempt still marked running whose runner is gone, with that runner."""

    run_id: str
    task_id: str
    attempt: int
    pgid: int
    pid: int | None
    host: str | None
    runner: str | None

    def as_dict(self) -> dict[str, Any]:
        """The orphan as a row by column name.

        Returns:
            The fields in order.
        """
        return _as_dict(self)


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in ("counts", "recorded_status"))


_RUN_COLUMNS = _columns(RunRecord)
_TASK_COLUMNS = _columns(TaskRecord)
_ATTEMPT_COLUMNS = _columns(AttemptRecord)
_EVENT_COLUMNS = _columns(EventRecord)
_ORPHAN_COLUMNS = _columns(OrphanRecord)
_COLUMNS_OF: dict[type, tuple[str, ...]] = {
    RunRecord: _RUN_COLUMNS,
    TaskRecord: _TASK_COLUMNS,
    AttemptRecord: _ATTEMPT_COLUMNS,
    EventRecord: _EVENT_COLUMNS,
    OrphanRecord: _ORPHAN_COLUMNS,
}
"""Each record's columns, in order (its fields but ``counts`` and ``recorded_status``)."""


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

_Row = TypeVar("_Row", TaskRecord, AttemptRecord)


def as_gone(row: _Row) -> _Row:
    """A task or attempt of a run whose runner is gone, as it now stands.

    Args:
        row: The task or attempt as recorded.

    Returns:
        The record with its status as :data:`GONE_STATUS` reads it, and the recorded
        one in ``recorded_status`` when they differ (the same record otherwise).
    """
    status = row.status
    if status not in GONE_STATUS:
        return row
    return replace(row, status=GONE_STATUS[status], recorded_status=status)


_R = TypeVar("_R", RunRecord, TaskRecord, AttemptRecord, EventRecord, OrphanRecord)


def records_of(cls: type[_R], names: list[str], rows: Iterable[dict[str, Any]]) -> list[_R]:
    """Records from rows of their table, by column name.

    Args:
        cls: The record class, whose fields are the table's columns.
        names: The rows' column names.
        rows: The rows, each a dict by column name (the record takes it over).

    Returns:
        One record per row.
    """
    if tuple(names) != _COLUMNS_OF[cls]:  # not the schema's order: checked by __init__
        return [cls(**row) for row in rows]
    records = []
    for row in rows:  # the fields as they are: a record's __dict__, without its __init__
        record = object.__new__(cls)
        object.__setattr__(record, "__dict__", row)
        records.append(record)
    return records
