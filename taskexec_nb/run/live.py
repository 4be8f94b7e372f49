"""The live run model: a run's events as task and attempt rows, for views.

:class:`RunModel` is an observer of a run's event stream. It keeps one row per
task (status, attempt, times, what it waits on, error, last output line, tail)
and one per attempt (for a live Gantt), and hands out consistent snapshots to
any thread. It can be built from the events a run already emitted (a late
subscriber) or from a run's stored events (``RunModel.from_store``), so a view
attached after ``await plan.arun()`` returned, or to a finished run, is whole.

Its rows (``TaskRow``, ``AttemptRow``, ``RunSnapshot``) are in
:mod:`taskexec_nb.run.rows`. A view draws from it on a timer, never once per
output line: see :mod:`taskexec_nb.run.batching`.

Nothing here imports pandas at import time: the frame methods do.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from taskexec_nb._columns import by_task, set_phase_from_labels
from taskexec_nb._stamps import utc_stamps
from taskexec_nb.events import (
    Event,
    EventBus,
    EventKind,
    Notice,
    RunPaused,
    RunStarted,
    TaskFinished,
    TaskOutput,
    TaskQueued,
    TaskRetrying,
    TaskStarted,
    TaskStatus,
)
from taskexec_nb.run.rows import _PAUSED, _PENDING, _RUNNING, AttemptRow, RunSnapshot, TaskRow

if TYPE_CHECKING:
    import pandas as pd

    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.store import StateStore, TaskRecord

TAIL_LINES = 20
"""Lines of a running task's output kept as its live tail."""


class _Handle(Protocol):
    """What :meth:`RunModel.attach` needs of a run handle."""

    @property
    def plan(self) -> ExecutionPlan: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def selection(self) -> list[str]: ...

    @property
    def run_id(self) -> str: ...

    @property
    def resumed(self) -> bool: ...

    @property
    def store_path(self) -> Path: ...


class RunModel:
    """A run's tasks and attempts, kept up to date by its events (an observer).

    Feed it events (``observers=[model]``, ``handle.bus.subscribe(model,
    replay=True)``, or :meth:`attach`); read it from any thread with
    :meth:`snapshot`, :meth:`tasks_frame`, :meth:`attempts_frame` and
    :meth:`progress`. Every read is one consistent moment of the run.

    Output lines are never stored, so a model replayed from a store knows a
    running task's last line only from its next output on; a finished task's
    last line and tail come from its recorded tail, the same either way.

    Args:
        tasks: The run's tasks as ``(id, phase, story, title)``, in the order
            views list them; a task first named by an event is added then.
    """

    def __init__(
        self, tasks: Iterable[tuple[str, str | None, str | None, str | None]] = ()
    ) -> None:
        self._lock = threading.Lock()
        self._tasks: dict[str, TaskRow] = {}
        for task_id, phase, story, title in tasks:
            self._tasks[task_id] = TaskRow(task_id, phase, story, title)
        self._attempts: dict[tuple[str, int], AttemptRow] = {}
        self._partial: dict[str, str] = {}  # a running task's unfinished output line
        self._lines: dict[str, collections.deque[str]] = {}
        self._notices: list[str] = []
        self._pending: list[Event] = []  # taken in when the model is next read
        self.run_id: str | None = None
        self._status = _PENDING
        self._started: float | None = None
        self._finished: float | None = None
        self._version = 0

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def for_plan(cls, plan: ExecutionPlan, selection: Iterable[str] | None = None) -> RunModel:
        """An empty model of a run of ``plan`` (all its tasks pending, in file order).

        Args:
            plan: The plan the run runs.
            selection: The run's tasks (default: every task of the plan).

        Returns:
            The model.
        """
        chosen = None if selection is None else set(selection)
        return cls(
            (t.id, t.phase.label, t.story, t.description)
            for t in plan.tasks
            if chosen is None or t.id in chosen
        )

    @classmethod
    def from_events(
        cls,
        events: Iterable[Event],
        tasks: Iterable[tuple[str, str | None, str | None, str | None]] = (),
    ) -> RunModel:
        """A model that has taken in ``events``.

        Args:
            events: A run's events, in order.
            tasks: As for :class:`RunModel`.

        Returns:
            The model.
        """
        model = cls(tasks)
        for event in events:
            model(event)
        return model

    @classmethod
    def from_store(cls, store: StateStore | str | Path, run_id: str | None = None) -> RunModel:
        """A run as its store recorded it: its tasks, then its stored events replayed.

        On a resumed run, a task the resume did not run again but recorded anew
        (e.g. left out and skipped) shows as the store has it.

        Args:
            store: The state store, or the path of its ``state.db``.
            run_id: The run (default: the newest).

        Returns:
            The model.

        Raises:
            StoreError: If the store cannot be read or has no such run (or none).
        """
        from taskexec_nb.errors import StoreError
        from taskexec_nb.store import StateStore

        own = not isinstance(store, StateStore)
        db = StateStore(store, readonly=True) if not isinstance(store, StateStore) else store
        try:
            run_id = run_id or db.latest_run()
            if run_id is None:
                raise StoreError(f"no run in {db.path} yet")
            db.run(run_id)  # a clear error for an unknown run
            rows = db.tasks(run_id)
            events = []
            for row in db.events(run_id):
                try:
                    events.append(Event.from_dict(row.as_dict()))
                except ValueError:  # a kind this version does not know
                    continue
        finally:
            if own:
                db.close()
        model = cls.from_events(
            events, ((r.task_id, r.phase, r.story, r.description) for r in rows)
        )
        model._settle_resumed(rows, events)
        return model

    @classmethod
    def attach(cls, handle: _Handle, order: Sequence[str] | None = None) -> RunModel:
        """A model of a started run, whole from its first event, kept up to date.

        The run's events so far are replayed into it, then it gets the new
        ones (``handle.bus.subscribe(model, replay=True)``): attaching after
        ``await plan.arun()`` returned, or to a finished run, misses nothing.
        On a resume, the tasks it does not run again show as the store has them.

        Args:
            handle: The run (a :class:`~taskexec_nb.run.handle.RunHandle`, or its session).
            order: The tasks in the order the rows are listed (the handle's run
                order); default: the run's tasks in file order.

        Returns:
            The model, subscribed.
        """
        if order is None:
            model = cls.for_plan(handle.plan, handle.selection or None)
        else:
            plan = handle.plan
            model = cls(
                (t, plan[t].phase.label, plan[t].story, plan[t].description)
                for t in order
                if t in plan
            )
        if handle.resumed:
            model._seed_earlier(handle.store_path, handle.run_id, set(handle.selection))
        handle.bus.subscribe(model, replay=True)
        return model

    def _seed_earlier(self, path: Path, run_id: str, rerun: set[str]) -> None:
        """Rows of a resumed run's tasks not run again, and its earlier attempts, as stored."""
        from taskexec_nb.store import StateStore

        store = StateStore(path, readonly=True)
        try:
            rows = [r for r in store.tasks(run_id) if r.task_id not in rerun]
            attempts = store.attempts(run_id)  # this session's are replayed over them
        finally:
            store.close()
        with self._lock:
            self._drain()
            for r in rows:
                self._tasks[r.task_id] = _stored_row(r)
            for a in attempts:
                key = (a.task_id, a.attempt)
                self._attempts[key] = AttemptRow(
                    a.task_id,
                    a.attempt,
                    a.status,
                    a.started,
                    a.finished,
                    None,
                    a.exit_code,
                    a.signal,
                    a.error,
                    a.log_path,
                )
            self._version += 1

    def _settle_resumed(self, rows: Sequence[TaskRecord], events: Sequence[Event]) -> None:
        """After a replay: tasks without events since a resume's start read as stored."""
        starts = [i for i, e in enumerate(events) if e.kind is EventKind.RUN_STARTED]
        if len(starts) < 2:
            return
        touched = {e.task_id for e in events[starts[-1] :] if e.task_id}
        with self._lock:
            self._drain()
            for r in rows:
                if r.task_id not in touched:
                    self._tasks[r.task_id] = _stored_row(r)

    # -- taking events in --------------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        """Take one event in (observer entry point).

        Args:
            event: The event.
        """
        with self._lock:
            self._version += 1
            self.run_id = event.run_id
            if isinstance(event.data, TaskOutput):  # taken at once: a tail, not every chunk
                self._drain()
                self._take(event)
            else:
                self._pending.append(event)

    def _drain(self) -> None:
        """Take in the events kept since the last read (call it holding the lock).

        Events are only queued as they come, and taken in, in order, when the model
        is read: a model nobody reads (a terminal run's, whose view has its own)
        costs the run nothing per event.
        """
        if self._pending:
            pending, self._pending = self._pending, []
            for event in pending:
                self._take(event)

    def _take(self, event: Event) -> None:
        """Take one event in: the rows it changes."""
        data = event.data
        if isinstance(data, TaskOutput):
            self._output(event, data)
        elif event.task_id is not None and event.kind is not EventKind.NOTICE:
            self._task_event(event, event.task_id)
        elif isinstance(data, RunStarted):
            self._status = event.status or _RUNNING
            self._started = self._started or event.time
            self._finished = None
        elif isinstance(data, RunPaused):
            self._status = event.status or _PAUSED
            if data.suspended is not None:  # only what the scheduler could suspend
                for task_id in data.suspended:
                    row = self._tasks.get(task_id)
                    if row is not None and row.status == _RUNNING:
                        self._tasks[task_id] = dataclasses.replace(row, status=_PAUSED)
            elif data.suspend:
                self._all(_RUNNING, _PAUSED)
        elif event.kind is EventKind.RUN_RESUMED:
            self._status = event.status or _RUNNING
            self._all(_PAUSED, _RUNNING)
        elif event.kind is EventKind.RUN_FINISHED:
            self._status = event.status or self._status
            self._finished = event.time
        if isinstance(data, Notice) and data.text and data.text not in self._notices:
            self._notices.append(data.text)

    def _all(self, old: str, new: str) -> None:
        for task_id, row in self._tasks.items():
            if row.status == old:
                self._tasks[task_id] = dataclasses.replace(row, status=new)

    def _row(self, task_id: str) -> TaskRow:
        row = self._tasks.get(task_id)
        if row is None:
            row = self._tasks[task_id] = TaskRow(task_id)
        return row

    def _output(self, event: Event, data: TaskOutput) -> None:
        task_id = event.task_id
        if task_id is None:
            return
        lines = self._lines.setdefault(task_id, collections.deque(maxlen=TAIL_LINES))
        *complete, partial = (self._partial.get(task_id, "") + data.text).split("\n")
        self._partial[task_id] = partial
        lines.extend(line.rstrip("\r") for line in complete)
        shown = [*lines, partial] if partial else list(lines)
        last = _last_line(shown)
        row = self._row(task_id)
        self._tasks[task_id] = dataclasses.replace(
            row, last_line=last or row.last_line, tail="\n".join(shown)
        )

    def _task_event(self, event: Event, task_id: str) -> None:
        row = self._row(task_id)
        data = event.data
        if isinstance(data, TaskQueued):
            row = dataclasses.replace(
                row, status=event.status or "queued", waiting_on=data.waiting_on
            )
        elif isinstance(data, TaskStarted):
            attempt = event.attempt or row.attempt + 1
            self._partial.pop(task_id, None)
            self._lines.pop(task_id, None)
            row = dataclasses.replace(
                row,
                status=event.status or _RUNNING,
                attempt=attempt,
                start=row.start if row.start is not None else event.time,
                end=None,
                waiting_on=None,
                log_path=data.log_path,
                last_line=None,
                tail=None,
            )
            self._attempts[(task_id, attempt)] = AttemptRow(
                task_id, attempt, _RUNNING, event.time, None, data.executor, log_path=data.log_path
            )
        elif isinstance(data, TaskRetrying):
            self._attempt_end(event, task_id, data.attempt_status or TaskStatus.FAILED.value)
            row = dataclasses.replace(
                row, status=event.status or "queued", waiting_on=data.waiting_on, **_ended(data)
            )
        elif isinstance(data, TaskFinished):
            if event.attempt:
                self._attempt_end(event, task_id, event.status or "")
            row = dataclasses.replace(
                row,
                status=event.status or row.status,
                attempt=event.attempt or row.attempt,
                end=event.time,
                waiting_on=None,
                error=data.error or data.reason,
                exit_code=data.exit_code,
                allowed=data.allowed,
                **_ended(data),
            )
        elif event.kind is EventKind.TASK_TICKED:
            row = dataclasses.replace(row, ticked=True)
        self._tasks[task_id] = row

    def _attempt_end(self, event: Event, task_id: str, status: str) -> None:
        data = event.data
        assert isinstance(data, TaskRetrying | TaskFinished)
        key = (task_id, event.attempt or 0)
        old = self._attempts.get(key) or AttemptRow(task_id, key[1], start=None)
        self._attempts[key] = dataclasses.replace(
            old,
            status=status,
            end=event.time,
            exit_code=data.exit_code,
            signal=data.signal,
            error=data.error,
            log_path=data.log_path if "log_path" in data else old.log_path,
        )

    # -- reading -----------------------------------------------------------------------------
    @property
    def version(self) -> int:
        """How many events the model has taken in (a view redraws when it changed)."""
        return self._version

    def snapshot(self) -> RunSnapshot:
        """The run now, consistent across its tasks and attempts (safe from any thread).

        Returns:
            A frozen snapshot.
        """
        with self._lock:
            self._drain()
            return RunSnapshot(
                self.run_id,
                self._status,
                self._started,
                self._finished,
                self._version,
                tuple(self._tasks.values()),
                tuple(sorted(self._attempts.values(), key=_attempt_order)),
                tuple(self._notices),
            )

    def tasks(self) -> list[TaskRow]:
        """One row per task, in file order.

        Returns:
            The rows (frozen: safe to keep).
        """
        return list(self.snapshot().tasks)

    def task(self, task_id: str) -> TaskRow:
        """One task's row.

        Args:
            task_id: The task.

        Returns:
            Its row.

        Raises:
            KeyError: If the model knows no such task.
        """
        with self._lock:
            self._drain()
            return self._tasks[task_id]

    def attempts(self) -> list[AttemptRow]:
        """One row per attempt, in start order.

        Returns:
            The rows.
        """
        return list(self.snapshot().attempts)

    def counts(self) -> dict[str, int]:
        """Tasks by status (see :meth:`RunSnapshot.counts`).

        Returns:
            Status -> number of tasks.
        """
        return self.snapshot().counts()

    def tasks_frame(self, snapshot: RunSnapshot | None = None) -> pd.DataFrame:
        """The tasks as a DataFrame indexed by task ID (``id``).

        Columns: phase (number) and phase_title as in ``status()``, story, title,
        status, allowed, attempt, start, end (UTC timestamps), duration (seconds,
        NaN when not ended), waiting_on, error, exit_code (``Int64``), last_line,
        tail, log_path, ticked. Missing text is ``<NA>``.

        Args:
            snapshot: Draw from this snapshot (default: take one now).

        Returns:
            The frame.
        """
        frame = _rows_frame(
            TaskRow,
            (snapshot or self.snapshot()).tasks,
            {
                "allowed": bool,
                "ticked": bool,
                "attempt": "int64",
                "exit_code": "Int64",
                **dict.fromkeys(
                    ("id", "phase", "story", "title", "status", "waiting_on", "error"), "string"
                ),
                **dict.fromkeys(("last_line", "tail", "log_path"), "string"),
            },
        )
        set_phase_from_labels(frame)
        return frame.set_index("id")

    def attempts_frame(self, snapshot: RunSnapshot | None = None) -> pd.DataFrame:
        """The attempts as a DataFrame (one row per attempt, in start order: a Gantt's bars).

        Indexed by task ID (``id``) as ``report.attempts`` is. Columns: attempt,
        status, start, end (UTC timestamps), duration (NaN while running), executor,
        exit_code and signal (``Int64``), error, log_path, and the task's phase
        (number, ordered as in the file), phase_title and story.

        Args:
            snapshot: Draw from this snapshot (default: take one now).

        Returns:
            The frame.
        """
        import pandas as pd

        snap = snapshot or self.snapshot()
        frame = _rows_frame(
            AttemptRow,
            snap.attempts,
            {
                "attempt": "int64",
                **dict.fromkeys(("exit_code", "signal"), "Int64"),
                **dict.fromkeys(("task_id", "status", "executor", "error", "log_path"), "string"),
            },
        )
        tasks = {t.id: t for t in snap.tasks}
        frame["phase"] = [getattr(tasks.get(i), "phase", None) for i in frame["task_id"]]
        frame["story"] = pd.Series(
            [getattr(tasks.get(i), "story", None) for i in frame["task_id"]], dtype="string"
        )
        set_phase_from_labels(frame, (t.phase for t in snap.tasks))
        return by_task(frame.rename(columns={"task_id": "id"}))

    def progress(self, by: str = "phase", snapshot: RunSnapshot | None = None) -> pd.DataFrame:
        """Done/total, percent and counts by status per phase or story (file order).

        Args:
            by: ``phase`` or ``story``.
            snapshot: Draw from this snapshot (default: take one now).

        Returns:
            One row per group, as ``RunHandle.progress()``.

        Raises:
            ReportError: If ``by`` is neither.
        """
        from taskexec_nb.report import rollup

        return rollup(self.tasks_frame(snapshot), by)


def _rows_frame(
    row_type: type[TaskRow] | type[AttemptRow],
    rows: Sequence[TaskRow] | Sequence[AttemptRow],
    dtypes: dict[str, Any],
) -> pd.DataFrame:
    """A frame of rows: one column per field, ``duration`` after ``end``, typed columns.

    ``start`` and ``end`` become UTC timestamps and ``duration`` seconds (float);
    the other columns take the dtype ``dtypes`` gives them, in that order.
    """
    import pandas as pd

    names = [f.name for f in dataclasses.fields(row_type)]
    frame = pd.DataFrame([dataclasses.astuple(r) for r in rows], columns=names)
    frame.insert(names.index("end") + 1, "duration", [r.duration for r in rows])
    for col, dtype in dtypes.items():
        frame[col] = frame[col].astype(dtype)
    _typed(frame, ("start", "end"), ("duration",))
    return frame


def _typed(frame: pd.DataFrame, stamps: Sequence[str], seconds: Sequence[str]) -> None:

    for col in stamps:
        frame[col] = utc_stamps(frame[col])
    for col in seconds:
        frame[col] = frame[col].astype("float64")


def _attempt_order(row: AttemptRow) -> tuple[float, str, int]:
    return (row.start if row.start is not None else float("inf"), row.task_id, row.attempt)


def _last_line(lines: Sequence[str]) -> str | None:
    for line in reversed(lines):
        if line.strip():
            return line.strip()
    return None


def _ended(data: TaskRetrying | TaskFinished) -> dict[str, Any]:
    """Row fields an attempt's end sets, when the event has them."""
    out: dict[str, Any] = {}
    if "tail" in data:
        out["tail"] = data.tail
        out["last_line"] = _last_line((data.tail or "").splitlines())
    if "log_path" in data:
        out["log_path"] = data.log_path
    return out


def _stored_row(r: TaskRecord) -> TaskRow:
    return TaskRow(
        r.task_id,
        r.phase,
        r.story,
        r.description,
        r.status,
        r.allowed,
        r.attempt or 0,
        r.started,
        r.finished,
        r.waiting_on,
        r.error,
        r.exit_code,
        _last_line((r.tail or "").splitlines()),
        r.tail,
        r.log_path,
        r.ticked,
    )
