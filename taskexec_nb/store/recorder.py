"""The store's observer: events turned into buffered writes of events, runs, tasks, attempts.

A :class:`Recorder` buffers what each event changes; the store takes the
buffer as one :class:`Batch` and writes it with :func:`execute` in one commit.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from taskexec_nb.events import Event, EventKind, Payload, RunStatus, TaskStatus, printable

# Events after which the store commits at once.
_DURABLE = frozenset(
    {EventKind.RUN_STARTED, EventKind.RUN_FINISHED, EventKind.RUN_PAUSED, EventKind.RUN_RESUMED}
)
_BUFFER_LIMIT = 5000
_JSON = json.JSONEncoder(default=str)  # one encoder for every event (dumps makes one per call)


def _encode(data: Payload) -> str:
    return _JSON.encode(data.to_dict())


Statement = tuple[str, tuple[Any, ...]]


class Recorder:
    """Buffered writes of what events change: event rows, task and attempt rows, statements.

    The updates of each task and attempt row are merged as they come, so a task
    that was queued, started and finished since the last commit costs one
    statement, not three.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.task_rows: dict[tuple[str, str], dict[str, Any]] = {}
        self.attempt_rows: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.statements: list[Statement] = []

    def record(self, event: Event) -> bool:
        """Buffer what one event changes.

        Args:
            event: The event (output lines are not recorded: they live in the logs).

        Returns:
            Whether to commit at once (a run-level event, or a full buffer).
        """
        if event.kind is EventKind.TASK_OUTPUT:
            return False
        self.events.append(
            (
                event.run_id,
                event.time,
                event.kind.value,
                event.task_id,
                event.attempt,
                event.status,
                _encode(event.data) if event.data else None,
            )
        )
        handler = _HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)
        return event.kind in _DURABLE or len(self.events) > _BUFFER_LIMIT

    def statement(self, query: str, params: tuple[Any, ...]) -> None:
        """Buffer one statement, executed after the rows of the same batch.

        Args:
            query: The SQL.
            params: Its parameters.
        """
        self.statements.append((query, params))

    def take(self) -> Batch | None:
        """What is buffered, as one batch (None if nothing), leaving the buffer empty.

        Returns:
            The buffered events, attempt and task rows and statements, or None when
            nothing is buffered.
        """
        if not (self.events or self.attempt_rows or self.task_rows or self.statements):
            return None
        batch = Batch(self.events, self.attempt_rows, self.task_rows, self.statements)
        self.events, self.attempt_rows, self.task_rows, self.statements = [], {}, {}, []
        return batch


@dataclass
class Batch:
    """Buffered writes, taken out of the store in one piece and written together."""

    events: list[tuple[Any, ...]]
    attempt_rows: dict[tuple[str, str, int], dict[str, Any]]
    task_rows: dict[tuple[str, str], dict[str, Any]]
    statements: list[Statement]

    def printable(self) -> Batch:
        """The batch with every lone surrogate in its text replaced, as UTF-8 allows.

        Returns:
            A new batch with the same rows and statements, safe to store as UTF-8.
        """
        return Batch(
            [_values(row) for row in self.events],
            {_values(k): _row(row) for k, row in self.attempt_rows.items()},
            {_values(k): _row(row) for k, row in self.task_rows.items()},
            [(query, _values(params)) for query, params in self.statements],
        )


def _values(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(map(_printable, values))


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {column: _printable(value) for column, value in row.items()}


def _printable(value: Any) -> Any:
    """Text with lone surrogates as U+FFFD (undecodable bytes, as in a terminal); else as is."""
    return printable(value) if isinstance(value, str) else value


def execute(db: sqlite3.Connection, batch: Batch) -> None:
    """Execute one batch (the caller commits).

    Text SQLite cannot hold (a file name ``os.fsdecode()`` gave a callable's
    error) is written as a terminal would show it: the batch is rolled back and
    executed again with every lone surrogate replaced.

    Args:
        db: The store's connection.
        batch: What :meth:`Recorder.take` took.

    Raises:
        sqlite3.Error: If the database cannot be written.
    """
    try:
        _execute(db, batch)
    except UnicodeEncodeError:
        db.rollback()
        _execute(db, batch.printable())


def _execute(db: sqlite3.Connection, batch: Batch) -> None:
    if batch.events:
        db.executemany(
            "INSERT INTO events (run_id, time, kind, task_id, attempt, status, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            batch.events,
        )
    for cols, rows in _group(batch.attempt_rows).items():
        names = ("run_id", "task_id", "attempt", *cols)
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols)
        db.executemany(
            f"INSERT INTO attempts ({', '.join(names)}) VALUES"
            f" ({', '.join('?' * len(names))}) ON CONFLICT (run_id, task_id, attempt)"
            f" DO UPDATE SET {sets}",
            [(*key, *vals) for key, vals in rows],
        )
    for cols, rows in _group(batch.task_rows).items():
        sets = ", ".join(f"{c} = COALESCE({c}, ?)" if c == "started" else f"{c} = ?" for c in cols)
        db.executemany(
            f"UPDATE tasks SET {sets} WHERE run_id = ? AND task_id = ?",
            [(*vals, *key) for key, vals in rows],
        )
    for query, params in batch.statements:
        db.execute(query, params)


def _group(
    rows: dict[Any, dict[str, Any]],
) -> dict[tuple[str, ...], list[tuple[Any, tuple[Any, ...]]]]:
    """Rows by the set of columns they change (one ``executemany`` per set)."""
    out: dict[tuple[str, ...], list[tuple[Any, tuple[Any, ...]]]] = {}
    for key, values in rows.items():
        cols = tuple(sorted(values))
        out.setdefault(cols, []).append((key, tuple(values[c] for c in cols)))
    return out


def _task(rec: Recorder, e: Event) -> dict[str, Any]:
    return rec.task_rows.setdefault((e.run_id, e.task_id or ""), {})


def _attempt(rec: Recorder, e: Event) -> dict[str, Any]:
    return rec.attempt_rows.setdefault((e.run_id, e.task_id or "", e.attempt or 0), {})


def _run_started(rec: Recorder, e: Event) -> None:
    rec.statements.append(
        ("UPDATE runs SET status = ? WHERE run_id = ?", (RunStatus.RUNNING.value, e.run_id))
    )


def _task_queued(rec: Recorder, e: Event) -> None:
    _task(rec, e).update(status=TaskStatus.QUEUED.value, waiting_on=e.data.get("waiting_on"))


def _task_started(rec: Recorder, e: Event) -> None:
    row = _task(rec, e)
    row.update(
        status=TaskStatus.RUNNING.value,
        attempt=e.attempt,
        waiting_on=None,
        log_path=e.data.get("log_path"),
        finished=None,
    )
    row.setdefault("started", e.time)
    _attempt(rec, e).update(
        status=TaskStatus.RUNNING.value, started=e.time, log_path=e.data.get("log_path")
    )


def _attempt_end(rec: Recorder, e: Event, status: str) -> None:
    d = e.data
    if "log_path" in d:  # None: the attempt wrote nothing, so it has no log file
        _attempt(rec, e)["log_path"] = d["log_path"]
    _attempt(rec, e).update(
        status=status,
        finished=e.time,
        exit_code=d.get("exit_code"),
        signal=d.get("signal"),
        error=d.get("error"),
        tail=d.get("tail"),
        stderr_tail=d.get("stderr_tail"),
        artifacts=_JSON.encode(d["artifacts"]) if d.get("artifacts") else "{}",
    )


def _task_retrying(rec: Recorder, e: Event) -> None:
    _attempt_end(rec, e, e.data.get("attempt_status", TaskStatus.FAILED.value))
    _task(rec, e).update(status=TaskStatus.QUEUED.value, waiting_on=e.data.get("waiting_on"))


def _task_finished(rec: Recorder, e: Event) -> None:
    d = e.data
    if e.attempt:
        _attempt_end(rec, e, e.status or "")
    row = _task(rec, e)
    if "log_path" in d:
        row["log_path"] = d["log_path"]
    row.update(
        status=e.status,
        finished=e.time,
        exit_code=d.get("exit_code"),
        signal=d.get("signal"),
        error=d.get("error") or d.get("reason"),
        tail=d.get("tail"),
        stderr_tail=d.get("stderr_tail"),
        waiting_on=None,
        allowed=1 if d.get("allowed") else None,  # a failure under allow_failure
    )
    if e.attempt:
        row["attempt"] = e.attempt


def _task_ticked(rec: Recorder, e: Event) -> None:
    _task(rec, e)["ticked"] = 1


def _run_status(rec: Recorder, e: Event) -> None:
    finished = e.time if e.kind is EventKind.RUN_FINISHED else None
    rec.statements.append(
        (
            "UPDATE runs SET status = ?, finished = ? WHERE run_id = ?",
            (e.status, finished, e.run_id),
        )
    )


_HANDLERS = {
    EventKind.RUN_STARTED: _run_started,
    EventKind.TASK_QUEUED: _task_queued,
    EventKind.TASK_STARTED: _task_started,
    EventKind.TASK_RETRYING: _task_retrying,
    EventKind.TASK_FINISHED: _task_finished,
    EventKind.TASK_TICKED: _task_ticked,
    EventKind.RUN_PAUSED: _run_status,
    EventKind.RUN_RESUMED: _run_status,
    EventKind.RUN_FINISHED: _run_status,
}
