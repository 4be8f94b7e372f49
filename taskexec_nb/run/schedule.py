"""The one asyncio loop that owns a run's state: dispatch, retries, pause, cancel.

The scheduler asks the plan's :class:`~taskexec_nb.tracker.ReadyTracker` for
ready tasks, starts them within ``max_workers`` and the resource capacities,
and reports every state change as an event (its
:class:`~taskexec_nb.run.ledger.RunLedger` keeps the task states and emits
those). It never renders anything and never writes the store itself: those are
observers.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb.events import EventBus, EventKind, RunStatus, TaskStatus
from taskexec_nb.executors import (
    ExecutorRegistry,
    Outcome,
    ProcessControl,
    missing_notebook,
    notebook_fallback,
)
from taskexec_nb.model import Task
from taskexec_nb.run.attempt import FAILED, Attempts, allows_failure, unrun
from taskexec_nb.run.ledger import RunLedger
from taskexec_nb.run.ticking import PendingTicks
from taskexec_nb.run.writeback import CheckboxWriter
from taskexec_nb.settings import RunSettings
from taskexec_nb.tracker import ReadyTracker

if TYPE_CHECKING:
    from taskexec_nb.plan import ExecutionPlan


PAUSED_WAIT = "the run to resume"
"""What a queued task waits on while the run is paused."""


class Capacity:
    """A run's workers and resources: what is in use, and what a task waits for.

    Args:
        settings: The run's settings (``max_workers`` and ``resources``).
    """

    def __init__(self, settings: RunSettings) -> None:
        self.settings = settings
        self.workers = 0
        self.in_use: dict[str, float] = {}

    @property
    def free(self) -> int:
        """Workers not in use."""
        return self.settings.max_workers - self.workers

    def waiting_on(self, task: Task) -> str | None:
        """What a task waits for before it can start: ``a worker``, a resource, or None.

        Args:
            task: The task, overrides applied.

        Returns:
            The worker or resource it waits for, or None if it can start now.
        """
        if self.workers >= self.settings.max_workers:
            return "a worker"
        for name, amount in task.params.resources.items():
            if self.in_use.get(name, 0) + amount > self.settings.resources.get(name, 0):
                return name
        return None

    def reserve(self, task: Task, sign: int) -> None:
        """Take (``+1``) or give back (``-1``) a worker and the task's resources.

        Args:
            task: The task, overrides applied.
            sign: ``+1`` to take, ``-1`` to give back.
        """
        self.workers += sign
        for name, amount in task.params.resources.items():
            self.in_use[name] = self.in_use.get(name, 0) + sign * amount


class Scheduler:
    """Runs the selected tasks of a plan once (see the module docstring).

    Args:
        plan: The plan.
        settings: Run settings.
        registry: Executors.
        bus: Where events go.
        run_id: The run's ID.
        tasks: The tasks to run by ID, in plan order, with the configuration's overrides
            applied (:func:`~taskexec_nb.run.preflight.resolve_tasks`).
        log_dir: Folder for this run's logs and artifacts.
        writer: Ticks checkboxes after success (None: write-back off).
        attempts_before: Attempts already made per task (resume continues the count).
        to_tick: Tasks outside the selection whose boxes to tick first (a resumed run
            completed them before a kill that beat the tick).
        on_process: Called with (task_id, attempt, pgid) when a task's process starts.
        on_process_end: Called with the pgid when that process group is gone.
        extra_env: Variables added to every task's environment (the reaper's marker).
        durable: Awaited after tasks finish and before their boxes are ticked or
            their dependents start (the state store's commit).
        save_delay: Seconds finishes may wait to be made durable together (the state
            store's :data:`~taskexec_nb.store.SAVE_DELAY`; 0: after each turn of the
            loop); their boxes are then ticked together too
            (:class:`~taskexec_nb.run.ticking.PendingTicks`).
    """

    def __init__(
        self,
        plan: ExecutionPlan,
        settings: RunSettings,
        registry: ExecutorRegistry,
        bus: EventBus,
        *,
        run_id: str,
        tasks: Mapping[str, Task],
        log_dir: Path,
        writer: CheckboxWriter | None = None,
        attempts_before: Mapping[str, int] | None = None,
        to_tick: Sequence[str] = (),
        on_process: Callable[[str, int, int], None] | None = None,
        on_process_end: Callable[[int], None] | None = None,
        extra_env: Mapping[str, str] | None = None,
        durable: Callable[[], Awaitable[None]] | None = None,
        save_delay: float = 0.0,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.registry = registry
        self.bus = bus
        self.run_id = run_id
        self.selection = list(tasks)
        self.log_dir = log_dir
        self.writer = writer
        self.attempts_before = dict(attempts_before or {})
        self.on_process = on_process
        self.on_process_end = on_process_end
        self.durable = durable
        self.save_delay = save_delay
        self._ticks: list[Task] = []
        self._to_tick = list(to_tick)
        self._deps: dict[str, tuple[str, ...]] = {}  # the tracker's, once the run starts
        # Each task with the config file's overrides applied under its own annotation.
        self.tasks = dict(tasks)
        # The tasks' states and the events that report them.
        self._book = RunLedger(
            run_id, bus, self.tasks, settings, save_delay=save_delay, poke=self._poke
        )
        # Boxes of durable finishes, written together (one write per window, and at the end).
        self._pending = PendingTicks(writer, self._book.emit, self._poke) if writer else None
        self.states = self._book.states
        self.status = RunStatus.RUNNING
        self._controls: dict[str, ProcessControl] = {}
        self._paused = False
        self._paused_since = 0.0
        self._paused_total = 0.0
        self._cancelled = False
        self._interrupted = False
        self._stop_reason: str | None = None
        self._wake: asyncio.Event | None = None
        self._cancel_event: asyncio.Event | None = None
        self._unpaused = asyncio.Event()  # set while not paused: retries wait on it
        self._unpaused.set()
        # Tasks back from a retry's backoff, waiting for their worker and resources again
        # (served before tasks that have not started yet).
        self._retrying: dict[str, asyncio.Future[bool]] = {}
        self._capacity = Capacity(settings)
        self._attempts = Attempts(
            run_id=run_id,
            settings=settings,
            tasks_file=Path(plan.path),
            log_dir=log_dir,
            registry=registry,
            emit=self._book.emit,
            extra_env=extra_env,
            on_process=lambda task_id, attempt, pgid: self._process_started(task_id, attempt, pgid),
            on_process_end=lambda pgid: self._process_ended(pgid),
            paused_time=self.paused_time,
            is_paused=lambda: self._paused,
        )

    # -- control (call on the loop's thread) -----------------------------------------------
    @property
    def paused(self) -> bool:
        """Whether dispatch is paused."""
        return self._paused

    def pause(self, suspend: bool = False) -> None:
        """Stop starting tasks; with ``suspend``, also SIGSTOP the running ones.

        A paused run can be paused again with ``suspend`` to suspend its tasks too.

        Args:
            suspend: Also suspend the running tasks' process groups (their time
                suspended does not count toward their timeouts).
        """
        if self.status is not RunStatus.RUNNING or (self._paused and not suspend):
            return
        if not self._paused:
            self._paused = True
            self._paused_since = asyncio.get_running_loop().time()
            self._unpaused.clear()
        data: dict[str, Any] = {"suspend": suspend}
        if suspend:
            suspended: list[str] = []
            data["suspended"] = suspended
            for task_id, control in self._controls.items():
                control.suspend()
                if control.suspended:
                    self.states[task_id].status = TaskStatus.PAUSED
                    suspended.append(task_id)
        self._book.emit(EventKind.RUN_PAUSED, status=RunStatus.PAUSED.value, **data)
        for task_id, state in self.states.items():  # nothing starts now, whatever it waited on
            if state.status is TaskStatus.QUEUED and state.waiting_on != PAUSED_WAIT:
                self._book.queued(task_id, PAUSED_WAIT)
        self._poke()

    def resume(self) -> None:
        """Start dispatching again and continue suspended tasks."""
        if not self._paused:
            return
        self._paused = False
        self._paused_total += asyncio.get_running_loop().time() - self._paused_since
        self._unpaused.set()
        for task_id, control in self._controls.items():
            if control.suspended:
                control.resume()
                self.states[task_id].status = TaskStatus.RUNNING
        self._book.emit(EventKind.RUN_RESUMED, status=RunStatus.RUNNING.value)
        self._poke()

    def cancel(self, interrupted: bool = False) -> None:
        """End everything: running tasks are stopped, the rest recorded as cancelled.

        A second call does nothing.

        Args:
            interrupted: The stop comes from an interrupt (Ctrl-C, SIGTERM): the run
                ends as interrupted rather than cancelled, and the notice says how to
                kill the tasks at once.
        """
        if self._cancelled:
            return
        self._cancelled = True
        self._interrupted = interrupted
        if self._controls:
            again = " (interrupt again to kill them now)" if interrupted else ""
            self._book.emit(
                EventKind.NOTICE,
                info=f"stopping: {len(self._controls)} running task(s) get SIGTERM, then "
                f"SIGKILL after {self.settings.kill_grace:g} s{again}",
            )
        for control in self._controls.values():
            if control.suspended:  # SIGTERM first: it is handled before the group runs on
                control.signal(signal.SIGTERM)
        if self._paused:
            self.resume()
        for control in self._controls.values():
            control.cancel()
        if self._cancel_event is not None:
            self._cancel_event.set()
        for waiting in self._retrying.values():
            if not waiting.done():
                waiting.set_result(False)  # not readmitted: it sees the cancel and ends
        self._retrying.clear()
        self._poke()

    def kill(self) -> None:
        """After a cancel, end the running process groups at once (SIGKILL, no grace period)."""
        if not self._cancelled:
            return
        if self._controls:
            self._book.emit(
                EventKind.NOTICE, info=f"killing {len(self._controls)} running task(s) now"
            )
        for control in self._controls.values():
            control.signal(signal.SIGKILL)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def paused_time(self) -> float:
        """Seconds spent paused so far.

        Returns:
            The total time paused, including a pause still going on.
        """
        extra = asyncio.get_running_loop().time() - self._paused_since if self._paused else 0.0
        return self._paused_total + extra

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> RunStatus:
        """Run to the end; return the run's final status.

        Returns:
            How the run ended: completed, failed, incomplete, cancelled or
            interrupted.
        """
        self._wake = asyncio.Event()
        self._cancel_event = asyncio.Event()
        tracker = self.plan.tracker(self.selection)
        self._deps = tracker.deps
        if self._pending is not None:  # their finishes were saved in an earlier session
            self._pending.add(self.plan[task_id] for task_id in self._to_tick)
            self._pending.flush()
        self._book.emit(
            EventKind.RUN_STARTED, status=RunStatus.RUNNING.value, tasks=len(self.selection)
        )
        ready: list[str] = []
        running: dict[asyncio.Future[Any], str] = {}
        ended: collections.deque[asyncio.Future[Any]] = collections.deque()

        def on_done(fut: asyncio.Future[Any]) -> None:
            """Hand an attempt's end to the loop (from the future's done callback).

            Args:
                fut: The task's future, done.
            """
            ended.append(fut)
            self._poke()

        cancels = 0  # of this coroutine, by the event loop (asyncio.run's Ctrl-C, shutdown)
        interrupt: BaseException | None = None  # a Ctrl-C raised inside an attempt
        try:
            while True:
                new = tracker.get_ready()
                if new:
                    self._announce(new)
                    ready.extend(new)
                if not self._paused:
                    self._readmit()
                if self._cancelled or self._stop_reason:
                    ready.clear()
                elif not self._paused:
                    await self._dispatch(ready, running, on_done)
                if not running and (self._cancelled or self._stop_reason or not ready):
                    break
                if not ended:
                    try:
                        await self._wake.wait()
                    except asyncio.CancelledError:
                        # Stopped as an interrupt stops the run: tasks ended, recorded
                        # interrupted (resumable), then the cancellation goes on.
                        cancels += 1
                        self.cancel(interrupted=True)
                        if cancels > 1:
                            self.kill()
                self._wake.clear()
                while ended:
                    fut = ended.popleft()
                    try:
                        # An attempt the loop cancelled (at its shutdown) ends cancelled.
                        status = TaskStatus.CANCELLED if fut.cancelled() else fut.result()
                    except (KeyboardInterrupt, SystemExit) as exc:
                        # A Ctrl-C that landed while the attempt's own code ran on the loop
                        # (starting its process, say): the run is interrupted, as by a Ctrl-C
                        # anywhere else, and the interrupt goes on once that is recorded.
                        status, interrupt = TaskStatus.CANCELLED, interrupt or exc
                        self.cancel(interrupted=True)
                    self._finished(running.pop(fut), status, tracker)
                if self._book.save_due():
                    await self._settle()
                if self._pending is not None and self._pending.due():
                    self._pending.flush()
            await self._settle()
        finally:
            for fut in running:
                fut.cancel()
        final = self._finish_run()
        if cancels:
            raise asyncio.CancelledError
        if interrupt is not None:
            raise interrupt
        return final

    async def _settle(self) -> None:
        """Make the finishes so far durable, then queue their boxes to be ticked.

        Called before a task whose prerequisite's finish is not saved yet starts,
        within :attr:`save_delay` of a finish, and at the end: one commit covers
        many finishes.
        """
        self._book.mark_saved()
        if self.durable is not None:
            await self.durable()
        ticks, self._ticks = self._ticks, []
        if self._pending is not None:
            self._pending.add(ticks)

    def _announce(self, task_ids: Sequence[str]) -> None:
        """Report newly ready tasks as queued (waiting for a worker when none is free)."""
        free = self._capacity.free
        for n, task_id in enumerate(task_ids):
            self._book.queued(
                task_id, PAUSED_WAIT if self._paused else "a worker" if n >= free else None
            )

    async def _dispatch(
        self,
        ready: list[str],
        running: dict[asyncio.Future[Any], str],
        on_done: Callable[[asyncio.Future[Any]], None],
    ) -> None:
        """Start ready tasks while workers and resources allow, in ready order.

        A task whose prerequisite's finish is not saved yet is passed over while
        others can start; when only such tasks are left, the finishes are saved
        (one commit for all of them) and the tasks start.
        """
        blocked = self._start_ready(ready, running, on_done)
        if blocked and self._capacity.free > 0:
            await self._settle()
            self._start_ready(ready, running, on_done)

    def _start_ready(
        self,
        ready: list[str],
        running: dict[asyncio.Future[Any], str],
        on_done: Callable[[asyncio.Future[Any]], None],
    ) -> bool:
        """Start what can start now; True if a task waits only for a save."""
        keep: list[str] = []
        blocked = False
        for n, task_id in enumerate(ready):
            if self._capacity.free <= 0:
                keep.extend(ready[n:])  # every task needs a worker: no need to look further
                break
            task = self.tasks[task_id]
            waiting = self._capacity.waiting_on(task)
            if waiting is None and not self._book.unsaved.isdisjoint(self._deps[task_id]):
                blocked = True  # a prerequisite's finish must be saved first
            elif waiting is None:
                self._capacity.reserve(task, +1)
                fut = asyncio.ensure_future(self._run_task(task))
                fut.add_done_callback(on_done)
                running[fut] = task_id
                continue
            elif self.states[task_id].waiting_on != waiting:
                self._book.queued(task_id, waiting)
            keep.append(task_id)
        ready[:] = keep
        return blocked

    def _readmit(self) -> None:
        """Give tasks back from a retry's backoff their worker and resources, if free."""
        for task_id, waiting in list(self._retrying.items()):
            task = self.tasks[task_id]
            if self._capacity.waiting_on(task) is None:
                del self._retrying[task_id]
                self._capacity.reserve(task, +1)
                waiting.set_result(True)

    async def _retry_slot(self, task: Task) -> bool:
        """Wait for a worker and the task's resources again after its backoff.

        Returns:
            True once they are the task's again; False if the run was cancelled first.
        """
        waiting: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._retrying[task.id] = waiting
        self._readmit()
        if not waiting.done():  # readmitted when a task ends and gives its worker back
            self._book.queued(task.id, self._capacity.waiting_on(task))
        return await waiting

    def _finished(self, task_id: str, status: TaskStatus, tracker: ReadyTracker) -> None:
        task = self.tasks[task_id]
        self._capacity.reserve(task, -1)
        allowed = status in FAILED and allows_failure(task, self.settings)
        ok = status is TaskStatus.COMPLETED or allowed
        # After a cancel, dependents are not skipped: the run's end records them cancelled.
        for skipped in tracker.done(task_id, ok or self._cancelled):
            self._book.skip(skipped, tracker.skipped[skipped], self._has_no_action)
        # A task skipped for want of an action did not fail: fail-fast lets the rest run.
        failed = not ok and status is not TaskStatus.CANCELLED and not unrun(self.states[task_id])
        if failed and self.settings.fail_fast:
            # The first failure stopped the run: later ones do not take its place.
            self._stop_reason = (
                self._stop_reason or f"not started: fail-fast after {task_id} {status.value}"
            )

    def _finish_run(self) -> RunStatus:
        final = self._book.close(self._cancelled, self._interrupted, self._stop_reason)
        self.status = final
        if self._pending is not None:
            self._pending.flush()  # the ticks still waiting for their window
        if self.writer is not None and (left := self.writer.summary(self._resume_command)):
            self._book.emit(EventKind.NOTICE, warning=left)
        self._book.emit(EventKind.RUN_FINISHED, status=final.value, counts=self._book.counts())
        return final

    def _resume_command(self) -> str:
        """The command that resumes this run (it ticks the boxes a file edit left)."""
        from taskexec_nb.run.resume import resume_command

        # No state_dir: the store is beside the file, where a plain resume finds it.
        return resume_command(self.plan.path, self.run_id, self.settings.state_dir)

    def _has_no_action(self, task_id: str) -> bool:
        """Whether the no-action policy would skip this task (it has nothing to run)."""
        executor, final, _ = self._attempts.route(self.tasks[task_id])
        return executor is None and final is TaskStatus.SKIPPED

    # -- one task -----------------------------------------------------------------------------
    async def _run_task(self, task: Task) -> TaskStatus:
        executor, final, reason = self._attempts.route(task)
        if self._pending is not None and executor is self.registry.get("agent"):
            self._pending.flush()  # an agent reads tasks.md: the work done so far is ticked
        missing = missing_notebook(task, self._attempts.cwd(task))
        if missing is not None and executor is not self.registry.callables:
            policy = self.settings.effective_no_action
            self._book.emit(
                EventKind.NOTICE, task.id, warning=notebook_fallback(task, missing, policy)
            )
        if executor is None:
            status = final or TaskStatus.FAILED
            data: dict[str, Any] = {"reason": reason, "error": reason}
            if status is TaskStatus.SKIPPED:
                data["no_action"] = True
                self.states[task.id].extra["no_action"] = True
            self._book.finish(task.id, status, None, None, **data)
            return status
        retries = task.params.retries if task.params.retries is not None else self.settings.retries
        backoff = task.params.backoff if task.params.backoff is not None else self.settings.backoff
        attempt = self.attempts_before.get(task.id, 0)
        for i in range(retries + 1):
            attempt += 1
            try:
                outcome = await self._attempts.run(
                    task,
                    executor,
                    attempt,
                    self.states[task.id],
                    self._controls,
                    lambda: self._cancelled,
                )
            except asyncio.CancelledError:  # by the event loop: its processes were ended
                ended = Outcome(TaskStatus.CANCELLED, error="cancelled (interrupted)")
                self._book.finish(task.id, TaskStatus.CANCELLED, attempt, ended)
                raise
            if outcome.status is TaskStatus.COMPLETED:
                self._book.finish(task.id, TaskStatus.COMPLETED, attempt, outcome)
                self._ticks.append(task)  # ticked once the finish is durable
                return TaskStatus.COMPLETED
            last = i == retries or self._stop_reason is not None  # fail-fast: no new attempt
            if outcome.status is TaskStatus.CANCELLED or self._cancelled or last:
                outcome = _as_stopped(outcome, self._cancelled, self._interrupted)
                self._book.finish(task.id, outcome.status, attempt, outcome)
                return outcome.status
            delay = backoff * (2**i)
            self._book.retrying(task.id, attempt, outcome, delay)
            # Waiting out the backoff is not work: its worker and resources serve others.
            self._capacity.reserve(task, -1)
            self._poke()
            assert self._cancel_event is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._cancel_event.wait(), delay)
            await self._unpaused.wait()  # no new attempt starts while paused (cancel resumes)
            readmitted = not self._cancelled and await self._retry_slot(task)
            if self._cancelled:
                if not readmitted:
                    self._capacity.reserve(task, +1)  # as if held: the task's end gives it back
                outcome = _as_stopped_waiting(outcome, attempt, self._interrupted)
                self._book.finish(task.id, TaskStatus.CANCELLED, attempt, outcome)
                return TaskStatus.CANCELLED
        raise AssertionError("unreachable")  # pragma: no cover

    def _process_started(self, task_id: str, attempt: int, pgid: int) -> None:
        if self.on_process is not None:
            self.on_process(task_id, attempt, pgid)

    def _process_ended(self, pgid: int) -> None:
        if self.on_process_end is not None:
            self.on_process_end(pgid)


def _as_stopped(outcome: Outcome, cancelled: bool, interrupted: bool) -> Outcome:
    """How an attempt's end reads when the run was stopped as it ended.

    Stopped by Ctrl-C or SIGTERM, it says so, as the tasks not started do; ended
    on its own as the run was cancelled, it says both.
    """
    if interrupted and outcome.error == "cancelled":
        return dataclasses.replace(outcome, error="interrupted")
    if cancelled and outcome.status is not TaskStatus.CANCELLED:
        why = outcome.error or outcome.status.value
        return dataclasses.replace(outcome, status=TaskStatus.CANCELLED, error=f"cancelled ({why})")
    return outcome


def _as_stopped_waiting(outcome: Outcome, attempt: int, interrupted: bool) -> Outcome:
    """A task stopped while waiting to retry: why it stopped, and the attempt it waited after."""
    why = "interrupted" if interrupted else "run cancelled"
    failure = outcome.error or outcome.status.value
    return dataclasses.replace(
        outcome, error=f"{why} while waiting to retry (attempt {attempt}: {failure})"
    )
