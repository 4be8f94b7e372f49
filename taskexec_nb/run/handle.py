"""The handle of a run: control it, look at it, wait for it.

A :class:`RunHandle` is what :func:`~taskexec_nb.run.launch.start_run` (and so
``plan.run()``, ``plan.arun()`` and ``taskexec run``) gives back. It is thin:
the run's machinery is its :class:`~taskexec_nb.run.session.RunSession`.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb._columns import by_task, set_phase_from_labels
from taskexec_nb._stamps import utc_stamps
from taskexec_nb.events import EventBus, Observer, RunStatus
from taskexec_nb.executors import ExecutorRegistry, TaskFunction
from taskexec_nb.run.live import RunModel
from taskexec_nb.run.rows import TaskRow
from taskexec_nb.run.session import RunSession
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import shown_status

if TYPE_CHECKING:
    import pandas as pd

    from taskexec_nb.config import Config
    from taskexec_nb.jupyter.dashboard import Dashboard
    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.report import ExecutionReport

WAKE_PERIOD = 0.1
"""Seconds between wake-ups of the event loop while a run is awaited.

A notebook kernel's interrupt (SIGINT) is handled only when its loop's thread runs
Python code; a loop idle in ``select`` while one long task runs would not notice it
until that task ended. Waking it this often lets the interrupt stop the run at once.
"""


class RunHandle:
    """A run: control it, look at it, wait for it.

    Create one with :meth:`ExecutionPlan.run <taskexec_nb.plan.ExecutionPlan.run>`
    (blocking) or ``await plan.arun(...)`` (in the background on the running loop).

    Args:
        plan: The plan.
        settings: The run's settings.
        selection: The tasks to run; None: a resumed run's own, or every pending task.
        resume: The ID of the run to continue (None: a new run).
        takeover: Continue a run marked running on another host whose runner is gone.
        callables: Python functions by task ID, story or ID pattern.
        observers: Extra event observers.
        config: The configuration the settings come from (recorded with the run).

    Raises:
        ValidationError: If the plan has errors (loaded with ``strict=False``).
    """

    def __init__(
        self,
        plan: ExecutionPlan,
        settings: RunSettings,
        *,
        selection: Sequence[str] | None = None,
        resume: str | None = None,
        takeover: bool = False,
        callables: Mapping[str, TaskFunction] | None = None,
        observers: Iterable[Observer] = (),
        config: Config | None = None,
    ) -> None:
        self._session = RunSession(
            plan,
            settings,
            selection=selection,
            resume=resume,
            takeover=takeover,
            callables=callables,
            observers=observers,
            config=config,
        )
        self._dashboard: Dashboard | None = None

    # -- what it is ----------------------------------------------------------------------
    @property
    def plan(self) -> ExecutionPlan:
        """The plan being run."""
        return self._session.plan

    @property
    def settings(self) -> RunSettings:
        """The run's settings."""
        return self._session.settings

    @property
    def config(self) -> Config | None:
        """The configuration the settings come from (None: settings given whole)."""
        return self._session.config

    @property
    def run_id(self) -> str:
        """The run's ID."""
        return self._session.run_id

    @property
    def resumed(self) -> bool:
        """Whether the run continues an earlier one."""
        return self._session.resumed

    @property
    def takeover(self) -> bool:
        """Whether the run takes over one marked running on another host."""
        return self._session.takeover

    @property
    def state_dir(self) -> Path:
        """The folder of the state store."""
        return self._session.state_dir

    @property
    def store_path(self) -> Path:
        """The state store (SQLite)."""
        return self._session.store_path

    @property
    def log_root(self) -> Path:
        """The folder of every run's logs."""
        return self._session.log_root

    @property
    def log_dir(self) -> Path:
        """This run's folder of logs and artifacts."""
        return self._session.log_dir

    @property
    def bus(self) -> EventBus:
        """Where the run's events go."""
        return self._session.bus

    @property
    def observers(self) -> list[Observer]:
        """The extra event observers the run was started with."""
        return list(self._session.observers)

    @property
    def registry(self) -> ExecutorRegistry:
        """The run's executors."""
        return self._session.registry

    @property
    def notices(self) -> list[str]:
        """The run's warnings and notes (a box not ticked, a setting kept on resume...)."""
        return self._session.notices

    @property
    def requested(self) -> list[str] | None:
        """The selection the run was asked for (None: a resumed run's own)."""
        return self._session.requested

    @property
    def selection(self) -> list[str]:
        """The tasks the run runs, once it has started (or been previewed)."""
        return self._session.selection

    @property
    def model(self) -> RunModel | None:
        """The run's live model (None until the run has started): what the views read."""
        return self._session.model

    def subscribe(self, observer: Observer, replay: bool = True) -> Callable[[], None]:
        """Add an observer of the run's events, on any thread, at any time.

        With ``replay`` (the default) it first gets every event so far, so a view
        attached after ``await plan.arun()`` returned, or to a finished run, misses
        nothing (``run_started`` included); output lines are not replayed.

        Args:
            observer: Called with every event.
            replay: Give it the run's events so far first.

        Returns:
            A function that removes the observer again.
        """
        return self.bus.subscribe(observer, replay=replay)

    @property
    def result(self) -> RunStatus | None:
        """The run's final status (None until it ends)."""
        return self._session.result

    # -- control -------------------------------------------------------------------------
    def pause(self, suspend: bool = False) -> None:
        """Stop starting tasks; with ``suspend=True`` also suspend the running ones.

        Args:
            suspend: Also suspend (SIGSTOP) the running tasks.
        """
        session = self._session
        session.call(lambda: session.scheduler.pause(suspend) if session.scheduler else None)

    def resume(self) -> None:
        """Continue a paused run."""
        session = self._session
        session.call(lambda: session.scheduler.resume() if session.scheduler else None)

    def cancel(self) -> None:
        """End the run: stop running tasks, record the rest as cancelled."""
        session = self._session
        session.call(lambda: session.scheduler.cancel() if session.scheduler else None)

    def interrupt(self, force: bool = False) -> None:
        """Like cancel, but the run is recorded as interrupted (resumable).

        Args:
            force: Also kill running process groups at once, without waiting out
                ``kill_grace`` after SIGTERM (a second Ctrl-C).
        """
        self._session.interrupt(force)

    @property
    def done(self) -> bool:
        """Whether the run has finished."""
        return self._session.done

    @property
    def paused(self) -> bool:
        """Whether the run is paused."""
        scheduler = self._session.scheduler
        return bool(scheduler and scheduler.paused)

    async def wait(self) -> RunStatus:
        """Wait for the end of the run (use ``await``); return its final status.

        For a run started with ``arun``, cancelling the wait (a notebook's
        interrupt, Ctrl-C under ``asyncio.run``, ``task.cancel()``) interrupts
        the run as Ctrl-C does :meth:`~taskexec_nb.plan.ExecutionPlan.run`: its
        running tasks are stopped, it is recorded ``interrupted`` (resumable), and
        the cancellation goes on once that is done, as a ``CancelledError`` saying
        so: ``run ID interrupted: ...; resume it with plan.arun(resume='ID')``. A
        second cancel meanwhile kills the running tasks at once. To wait with a
        time limit without stopping the run, shield it:
        ``asyncio.wait_for(asyncio.shield(run.wait()), t)``. ``await run`` is the same.

        Returns:
            The run's final status.

        Raises:
            asyncio.CancelledError: When the wait was cancelled (after the run ended).
        """
        waker = asyncio.ensure_future(_wake(WAKE_PERIOD))
        try:
            status = await self._session.wait()
            if self._dashboard is not None:  # its end goes out with the awaiting cell
                self._dashboard.awaited(self)
            return status
        except asyncio.CancelledError as exc:
            if self.result is RunStatus.INTERRUPTED and not exc.args:
                raise asyncio.CancelledError(
                    f"run {self.run_id} interrupted: its running tasks were stopped and its "
                    f"state saved; resume it with plan.arun(resume={self.run_id!r})"
                ) from None
            raise
        finally:
            waker.cancel()

    def __await__(self) -> Generator[Any, None, RunStatus]:
        """``await handle``: the same as ``await handle.wait()`` (a notebook's ``await run``).

        Returns:
            An iterator for ``await``; the await gives the run's final status.
        """
        return self.wait().__await__()

    def join(self, timeout: float | None = None) -> RunStatus | None:
        """Block until the run ends (for runs on another thread); None on timeout.

        Args:
            timeout: Seconds to wait at most (None: until it ends).

        Returns:
            The run's final status, or None if it is still running.

        Raises:
            UsageError: Called on the event loop the run itself runs on (``arun``):
                blocking it would stop the run; ``await handle.wait()`` instead.
        """
        return self._session.join(timeout)

    # -- looking -------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """One dict per task of the run: id, phase, story, status, allowed, attempt, times, error.

        Read from the run's live model (:attr:`model`), one consistent moment of
        the run from any thread. On a resume the run's tasks done before it are
        included, as recorded.

        Returns:
            The rows in run order: ``id``, ``phase``, ``story``, ``status``,
            ``allowed``, ``attempt``, ``start``, ``end``, ``duration``, ``waiting_on``
            and ``error`` (times as epoch seconds, None until known).
        """
        model = self._session.model
        rows_now = {r.id: r for r in model.snapshot().tasks} if model is not None else {}
        rows = []
        for task_id in self._session.view_order():
            task = self.plan[task_id]
            row = rows_now.get(task_id) or TaskRow(task_id)
            started, finished = row.start, row.end
            rows.append(
                {
                    "id": task_id,
                    "phase": task.phase.label,
                    "story": task.story,
                    "status": row.status,
                    "allowed": row.allowed,
                    "attempt": row.attempt,
                    "start": started,
                    "end": finished,
                    "duration": (finished - started) if started and finished else None,
                    "waiting_on": row.waiting_on,
                    "error": row.error,
                }
            )
        return rows

    def status(self) -> pd.DataFrame:
        """A DataFrame snapshot: one row per task of the run, indexed by ID (see :meth:`snapshot`).

        ``phase`` is the heading's number (ordered in file order), ``phase_title``
        its title, as in the plan's table and the report's.

        Text columns have pandas' ``string`` dtype: a missing story, wait or error
        is ``<NA>`` (test with ``isna()``); ``start``/``end`` are UTC timestamps;
        ``allowed`` is True for a failure under ``allow_failure`` (its ``status``
        stays ``failed`` or ``timed_out``).

        Returns:
            The snapshot's rows with those columns and dtypes, also when there are no
            rows.
        """
        import pandas as pd

        frame = pd.DataFrame(
            self.snapshot(),
            columns=[
                "id",
                "phase",
                "story",
                "status",
                "allowed",
                "attempt",
                "start",
                "end",
                "duration",
                "waiting_on",
                "error",
            ],
        )
        # The same dtypes whatever the rows (none, none started, some finished).
        frame["allowed"] = frame["allowed"].astype(bool)
        frame["attempt"] = frame["attempt"].astype("int64")
        frame["duration"] = frame["duration"].astype("float64")
        for col in ("start", "end"):
            frame[col] = utc_stamps(frame[col])
        for col in ("id", "story", "status", "waiting_on", "error"):
            frame[col] = frame[col].astype("string")  # missing text is <NA>, as in Int64
        set_phase_from_labels(frame, (t.phase.label for t in self.plan.tasks))
        return by_task(frame)

    def progress(self, by: str = "phase") -> pd.DataFrame:
        """Roll-up of :meth:`status` per phase or story: done/total, percent, counts.

        Args:
            by: ``phase`` or ``story``.

        Returns:
            One row per group, in file order.
        """
        from taskexec_nb.report import rollup

        return rollup(self.status(), by)

    def report(self) -> ExecutionReport:
        """The run's :class:`~taskexec_nb.report.ExecutionReport`, read from the store.

        Returns:
            The report of the run as stored so far (complete once the run has ended).
        """
        from taskexec_nb.report import ExecutionReport

        return ExecutionReport.load(self.state_dir, self.run_id)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self.snapshot():
            shown = shown_status(row["status"], row["allowed"])
            counts[shown] = counts.get(shown, 0) + 1
        model = self._session.model
        paused = model is not None and model.snapshot().status == RunStatus.PAUSED.value
        state = self.result.value if self.result else ("paused" if paused else "running")
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"<RunHandle {self.run_id} {state}: {text or 'no tasks'}>"

    # -- in a notebook -------------------------------------------------------------------
    def dashboard(self) -> Dashboard:
        """The run's live dashboard (ipywidgets): progress, controls, a live Gantt and DAG.

        The same one each time. Displaying the handle in a notebook shows it.

        Returns:
            The :class:`~taskexec_nb.jupyter.dashboard.Dashboard`.
        """
        if self._dashboard is None:
            from taskexec_nb.jupyter.dashboard import Dashboard

            self._dashboard = Dashboard(self)
        return self._dashboard

    def _ipython_display_(self) -> None:
        """Show the dashboard in a notebook (IPython's display hook); the repr elsewhere."""
        from taskexec_nb.jupyter.dashboard import display_run

        display_run(self)

    # -- starting ------------------------------------------------------------------------
    def preview(self) -> list[str]:
        """What starting this run would run, without running or recording anything.

        The same checks as a start apply (resumable run, resources), and the
        notices a start would give are added to :attr:`notices`.

        Returns:
            The task IDs, in run order.

        Raises:
            UsageError: Where a start would fail.
        """
        return self._session.preview()

    def start_in_thread(self) -> None:
        """Run in a new thread with its own event loop (used by the blocking API)."""
        self._session.start_in_thread()

    def run_blocking(self) -> RunHandle:
        """Run to the end on a worker thread; Ctrl-C or a kernel interrupt stops it gracefully.

        A first interrupt stops the run (SIGTERM to running tasks, SIGKILL after
        ``kill_grace``); a second one kills the running tasks at once.

        Returns:
            This handle, finished.

        In a notebook kernel the cell shows the run's progress as it goes (no buttons:
        the kernel is busy and cannot take their clicks; it says so).

        Raises:
            KeyboardInterrupt: After the run was interrupted and its state saved.
        """
        shown = _blocking_display(self)
        try:
            self._session.run_blocking()
        finally:
            if shown is not None:
                shown.close()
        return self

    async def start(self) -> RunHandle:
        """Start on the running event loop and return at once (``await plan.arun()``).

        Returns:
            This handle, running.
        """
        self.start_on_loop()
        return await self.started()

    def start_on_loop(self) -> None:
        """Start on the running event loop (call it there); :meth:`started` waits for that."""
        self._session.start_on_loop()

    async def started(self) -> RunHandle:
        """Wait until a run started with :meth:`start_on_loop` is running.

        Returns:
            This handle.

        Raises:
            UsageError: A set-up error (bad resources, an unknown run to resume...).
        """
        await self._session.started()
        return self


async def _wake(period: float) -> None:
    """Wake the event loop every ``period`` seconds (see :data:`WAKE_PERIOD`)."""
    while True:
        await asyncio.sleep(period)


def _blocking_display(handle: RunHandle) -> Any:
    """In a notebook kernel: show a blocking run's progress (None elsewhere)."""
    if "ipykernel" not in sys.modules:  # a terminal, a script: nothing changes
        return None
    from taskexec_nb.jupyter.dashboard import show_blocking

    return show_blocking(handle)
