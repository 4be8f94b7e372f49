"""The embedded state store: runs, tasks, attempts and events in one SQLite file (WAL).

The store is an observer of the event stream. Writes are buffered and
committed together: within :data:`SAVE_DELAY` seconds, at once for run-level
events, and whenever the scheduler awaits :meth:`StateStore.durable`, which it
does before it ticks a box or starts a task that depends on a finished one.
Killing the runner at any moment therefore loses no finished task's record
that anything relied on; a task whose finish was not yet saved counts as in
flight and runs again on resume.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from taskexec_nb._procfs import process_identity, runner_alive
from taskexec_nb.errors import StoreError
from taskexec_nb.events import Event, EventKind, RunStatus, TaskStatus
from taskexec_nb.store.recorder import Batch, Recorder, execute
from taskexec_nb.store.records import (
    AttemptRecord,
    EventRecord,
    OrphanRecord,
    RunRecord,
    TaskRecord,
    records_of,
    shown_status,
)
from taskexec_nb.store.schema import SCHEMA_VERSION, connect

__all__ = ["SAVE_DELAY", "SCHEMA_VERSION", "StateStore"]

SAVE_DELAY = 0.05
"""Seconds within which buffered writes are committed (``taskexec status`` sees them then)."""

_TASK_UPSERT = (
    "INSERT INTO tasks (run_id, task_id, def_hash, status, line, phase, story, description,"
    " deps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, task_id) DO UPDATE SET"
    " def_hash = excluded.def_hash, status = excluded.status, line = excluded.line,"
    " deps = excluded.deps, waiting_on = NULL, started = NULL, finished = NULL,"
    " exit_code = NULL, signal = NULL, error = NULL, allowed = NULL, ticked = NULL"  # a resume
)
# When an attempt of a runner that died ended, as far as anyone knows: the last thing the
# run recorded (not the time a later resume found it, which would count the wait).
_LAST_SEEN = (
    "MAX(COALESCE(started, 0), COALESCE((SELECT MAX(e.time) FROM events e"
    " WHERE e.run_id = attempts.run_id), started, 0))"
)


def _task_row(run_id: str, t: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        run_id,
        t["task_id"],
        t["def_hash"],
        t.get("status", "pending"),
        t["line"],
        t["phase"],
        t["story"],
        t["description"],
        json.dumps(list(t.get("deps") or [])),
    )


class StateStore:
    """Runs, tasks, attempts and events of one project, in ``<state_dir>/state.db``.

    Args:
        path: The database file (created with its folder if missing).
        readonly: Only read (``taskexec status``, ``runs``, reports): nothing is
            created or written, so a store in a folder this user may not write
            (a CI artifact, another user's project) can still be looked at.

    Raises:
        StoreError: If the store cannot be opened, naming the file and why.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self._db = connect(self.path, readonly)
        self._dirty = False
        self._recorder = Recorder()
        self._flush: asyncio.TimerHandle | None = None

    def close(self) -> None:
        """Commit and close."""
        self.commit()
        self._db.close()

    def commit(self) -> None:
        """Write what is buffered and commit.

        Events are inserted with one ``executemany``; the updates of each task
        and attempt row are merged first, so a task that was queued, started
        and finished since the last commit costs one statement, not three.

        Raises:
            StoreError: If the database cannot be written.
        """
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch = self._recorder.take()
        if batch is not None or self._dirty:
            self._write_batch(batch)
            self._dirty = False

    async def durable(self) -> None:
        """Commit everything recorded so far.

        The scheduler awaits this before it ticks a box or starts a task that
        depends on a finished one.

        Raises:
            StoreError: If the database cannot be written.
        """
        self.commit()

    def _write_batch(self, batch: Batch | None) -> None:
        try:
            if batch is not None:
                execute(self._db, batch)
            self._db.commit()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot write the state store: {exc}") from None

    def _commit_soon(self) -> None:
        """Commit within :data:`SAVE_DELAY` (every write until then goes in the same commit)."""
        if self._flush is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.commit()
            return
        self._flush = loop.call_later(SAVE_DELAY, self.commit)

    @contextmanager
    def _write(self, durable: bool) -> Iterator[sqlite3.Connection]:
        self.commit()
        yield self._db
        self._dirty = True
        if durable:
            self.commit()

    @contextmanager
    def claim(self) -> Iterator[None]:
        """Hold the store's write lock, so what is read inside stays true until written.

        Another runner's claim waits (up to the busy timeout) until this one ends:
        two runners starting at the same moment cannot both find the tasks free.

        Yields:
            Nothing: the lock is held while the ``with`` block runs, and committed when
            it ends (rolled back if it raises).

        Raises:
            StoreError: If the lock cannot be had.
        """
        self.commit()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot lock the state store: {exc}") from None
        try:
            yield
        except BaseException:
            self._db.rollback()
            raise
        self._db.commit()

    # -- writing
    def create_run(
        self,
        run_id: str,
        tasks_file: str,
        mode: str,
        settings: Mapping[str, Any],
        selection: Iterable[str],
        tasks: Iterable[Mapping[str, Any]],
    ) -> None:
        """Record a new run and its tasks (all pending).

        Args:
            run_id: The new run's ID.
            tasks_file: The tasks.md path the run executes, as shown to users.
            mode: The plan's execution mode (its ``ExecutionMode`` value).
            settings: The run's settings, stored as JSON (values that JSON cannot hold
                are stored as their text).
            selection: The IDs of the tasks the run was asked to execute.
            tasks: One row per task of the plan (ID, line, hash, ...), all stored as
                pending.
        """
        with self._write(durable=True) as db:
            db.execute(
                "INSERT INTO runs (run_id, tasks_file, mode, status, started, pid, host, settings,"
                " selection, runner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    tasks_file,
                    mode,
                    RunStatus.RUNNING.value,
                    time.time(),
                    os.getpid(),
                    socket.gethostname(),
                    json.dumps(settings, default=str),
                    json.dumps(list(selection)),
                    process_identity(os.getpid()),
                ),
            )
            db.executemany(_TASK_UPSERT, [_task_row(run_id, t) for t in tasks])

    def reopen_run(
        self,
        run_id: str,
        settings: Mapping[str, Any],
        tasks: Iterable[Mapping[str, Any]],
        removed: Iterable[str] = (),
        left_out: Mapping[str, str] | None = None,
        takeover: RunRecord | None = None,
    ) -> bool:
        """Mark a run as running again (resume); reset unfinished tasks to pending.

        Args:
            run_id: The run.
            settings: The settings of the resumed run.
            tasks: Rows of the tasks it runs again.
            removed: Tasks no longer in the file: their rows go.
            left_out: Tasks it no longer runs (e.g. ticked by hand), with why: recorded
                as skipped with that reason.
            takeover: The run's row as last seen: claim it even though it is marked
                running or paused (its runner on another host is gone, as the user
                says), if its runner is still the one recorded there.

        Returns:
            False, changing nothing, if the run is marked running or paused (another
            runner has it: the check and the claim are one write).
        """
        with self._write(durable=True) as db:
            claimed = db.execute(
                "UPDATE runs SET status = ?, finished = NULL, pid = ?, host = ?, runner = ?,"
                # The sessions so far, each up to its end or last event: the idle time
                # before a resume is no part of the run's wall time.
                " elapsed = COALESCE(elapsed, 0) + MAX(0, COALESCE(finished, (SELECT MAX(time)"
                " FROM events e WHERE e.run_id = runs.run_id), started) - COALESCE(resumed,"
                " started)), resumed = ?,"
                " settings = ? WHERE run_id = ? AND (status NOT IN (?, ?)"
                " OR (? AND host IS ? AND pid IS ? AND runner IS ?))",
                (
                    RunStatus.RUNNING.value,
                    os.getpid(),
                    socket.gethostname(),
                    process_identity(os.getpid()),
                    time.time(),
                    json.dumps(settings, default=str),
                    run_id,
                    RunStatus.RUNNING.value,
                    RunStatus.PAUSED.value,
                    takeover is not None,
                    *((takeover.host, takeover.pid, takeover.runner) if takeover else (None,) * 3),
                ),
            ).rowcount
            if claimed:
                db.execute(  # attempts its earlier runner left (on another host, say)
                    f"UPDATE attempts SET status = ?, finished = {_LAST_SEEN}, error = ?"
                    " WHERE run_id = ? AND finished IS NULL",
                    (TaskStatus.CANCELLED.value, "runner gone; ended on resume", run_id),
                )
                db.executemany(_TASK_UPSERT, [_task_row(run_id, t) for t in tasks])
                db.executemany(
                    "DELETE FROM tasks WHERE run_id = ? AND task_id = ?",
                    [(run_id, t) for t in removed],
                )
                db.executemany(
                    "UPDATE tasks SET status = ?, error = ?, waiting_on = NULL, allowed = NULL"
                    " WHERE run_id = ? AND task_id = ? AND status != ?",
                    [
                        (TaskStatus.SKIPPED.value, why, run_id, t, TaskStatus.COMPLETED.value)
                        for t, why in (left_out or {}).items()
                    ],
                )
        return bool(claimed)

    def record_pgid(self, run_id: str, task_id: str, attempt: int, pgid: int) -> None:
        """Remember an attempt's process group at once (a resume ends it if it outlives us).

        Args:
            run_id: The run the attempt belongs to.
            task_id: The task the attempt runs.
            attempt: The attempt's number (1 for the first).
            pgid: The process group its processes were started in.
        """
        self._recorder.statement(
            "UPDATE attempts SET pgid = ? WHERE run_id = ? AND task_id = ? AND attempt = ?",
            (pgid, run_id, task_id, attempt),
        )
        # With the next batch: until then the reaper, which also finds unregistered
        # task processes, covers a runner that dies.
        self._commit_soon()

    def __call__(self, event: Event) -> None:
        """Observer entry point: record one event (see :class:`~.recorder.Recorder`)."""
        if self._recorder.record(event):
            self.commit()
        elif event.kind is not EventKind.TASK_OUTPUT:
            self._commit_soon()

    # -- reading
    def runs(self, tasks_file: str | None = None) -> list[RunRecord]:
        """Runs, newest first, with task counts by status (``failed (allowed)`` apart).

        Args:
            tasks_file: Only the runs of this tasks file; None for every run in the store.

        Returns:
            One record per run (the ``runs`` table's columns), each with ``counts``:
            shown status to number of tasks.
        """
        query = "SELECT * FROM runs" + (" WHERE tasks_file = ?" if tasks_file else "")
        names, rows = self._select(
            query + " ORDER BY started DESC, rowid DESC", (tasks_file,) if tasks_file else ()
        )
        runs = []
        for values in rows:
            row = dict(zip(names, values, strict=True))
            _, counts = self._select(
                "SELECT status, allowed, COUNT(*) AS n FROM tasks WHERE run_id = ?"
                " GROUP BY status, allowed",
                (row["run_id"],),
            )
            row["counts"] = {shown_status(status, allowed): n for status, allowed, n in counts}
            runs.append(RunRecord(**row))
        return runs

    def run(self, run_id: str) -> RunRecord:
        """One run's record.

        Args:
            run_id: The run's ID.

        Returns:
            The run's row of the ``runs`` table.

        Raises:
            StoreError: If there is no such run (the message lists recent ones).
        """
        names, rows = self._select("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if not rows:
            _, recent = self._select("SELECT run_id FROM runs ORDER BY started DESC LIMIT 5", ())
            known = ", ".join(r[0] for r in recent) if recent else "none yet"
            raise StoreError(f"no run {run_id!r} in {self.path} (recent runs: {known})")
        return records_of(RunRecord, names, [dict(zip(names, rows[0], strict=True))])[0]

    def latest_run(self, tasks_file: str | None = None) -> str | None:
        """The latest run's ID (of one tasks file, if given): the one started or resumed last.

        After ``--resume`` of an older run, that run is the one ``status``,
        ``report`` and a plain ``--resume`` mean, not a newer run it outlived.

        Args:
            tasks_file: Only the runs of this tasks file; None for any run.

        Returns:
            The ID of the run started or resumed last (of two at the same moment,
            the one started later), or None if the store has no such run.
        """
        runs = self.runs(tasks_file)  # newest start first: max() keeps the first of a tie
        if not runs:
            return None
        return max(runs, key=lambda r: max(r.started or 0.0, r.resumed or 0.0)).run_id

    def tasks(self, run_id: str) -> list[TaskRecord]:
        """A run's tasks, in file order (``allowed`` and ``ticked`` as booleans).

        Args:
            run_id: The run's ID.

        Returns:
            One record per task of the run; empty for an unknown run.
        """
        names, rows = self._select("SELECT * FROM tasks WHERE run_id = ? ORDER BY line", (run_id,))
        dicts = [dict(zip(names, values, strict=True)) for values in rows]
        for row in dicts:
            row["allowed"], row["ticked"] = bool(row["allowed"]), bool(row["ticked"])
        return records_of(TaskRecord, names, dicts)

    def task_records(self, run_id: str) -> dict[str, TaskRecord]:
        """A run's tasks by ID.

        Args:
            run_id: The run's ID.

        Returns:
            Each task's stored record keyed by task ID; empty for an unknown run.
        """
        return {r.task_id: r for r in self.tasks(run_id)}

    def attempts(self, run_id: str) -> list[AttemptRecord]:
        """A run's attempts, in start order.

        Args:
            run_id: The run's ID.

        Returns:
            One record per attempt (the ``attempts`` table's columns), ordered by start
            time, then task ID and attempt number.
        """
        names, rows = self._select(
            "SELECT * FROM attempts WHERE run_id = ? ORDER BY started, task_id, attempt", (run_id,)
        )
        return records_of(AttemptRecord, names, (dict(zip(names, v, strict=True)) for v in rows))

    def events(self, run_id: str) -> list[EventRecord]:
        """A run's stored events, in order.

        Args:
            run_id: The run's ID.

        Returns:
            One record per event in the order they were emitted, with ``data`` decoded
            from JSON (an empty dict when the event had none).
        """
        names, rows = self._select("SELECT * FROM events WHERE run_id = ? ORDER BY seq", (run_id,))
        dicts = [dict(zip(names, values, strict=True)) for values in rows]
        for row in dicts:
            row["data"] = json.loads(row["data"]) if row["data"] else {}
        return records_of(EventRecord, names, dicts)

    def orphans(self) -> list[OrphanRecord]:
        """Attempts still marked running whose runner process is gone.

        Returns:
            One record per such attempt: its run, task, attempt number and process
            group, with the dead runner's pid, host and identity.
        """
        names, rows = self._select(
            "SELECT a.run_id, a.task_id, a.attempt, a.pgid, r.pid, r.host, r.runner FROM attempts a"
            " JOIN runs r USING (run_id) WHERE a.finished IS NULL AND a.pgid IS NOT NULL",
            (),
        )
        orphans = records_of(OrphanRecord, names, (dict(zip(names, v, strict=True)) for v in rows))
        return [r for r in orphans if runner_alive(r) is False]

    def close_orphan(self, run_id: str, task_id: str, attempt: int) -> None:
        """Mark an orphaned attempt as cancelled (its runner died).

        An attempt that has already finished is left as it is.

        Args:
            run_id: The run the attempt belongs to.
            task_id: The task the attempt ran.
            attempt: The attempt's number.
        """
        with self._write(durable=True) as db:
            db.execute(
                f"UPDATE attempts SET status = ?, finished = {_LAST_SEEN}, error = ?"
                " WHERE run_id = ? AND task_id = ? AND attempt = ? AND finished IS NULL",
                (
                    TaskStatus.CANCELLED.value,
                    "runner died; ended on resume",
                    run_id,
                    task_id,
                    attempt,
                ),
            )

    def mark_interrupted(self, run_id: str) -> None:
        """Mark a run whose runner died as interrupted (so it can be resumed).

        Only a run still recorded as running or paused changes; a finished one stays.

        Args:
            run_id: The run's ID.
        """
        with self._write(durable=True) as db:
            db.execute(
                "UPDATE runs SET status = ? WHERE run_id = ? AND status IN (?, ?)",
                (
                    RunStatus.INTERRUPTED.value,
                    run_id,
                    RunStatus.RUNNING.value,
                    RunStatus.PAUSED.value,
                ),
            )

    def _select(
        self, query: str, params: tuple[Any, ...]
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """The column names and rows a query reads (after committing what is buffered)."""
        self.commit()
        cur = self._db.execute(query, params)
        return [d[0] for d in cur.description], cur.fetchall()
