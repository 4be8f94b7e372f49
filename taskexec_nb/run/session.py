"""A run's wiring: state store, watchdog, scheduler, observers, and the thread/loop bridge.

A run wires the pieces together: the state store (first observer), the
watchdog that ends the run's processes if the runner dies, the scheduler,
checkbox write-back, and any extra observers (terminal view, widgets). It runs
on an event loop of its own thread (the blocking API, the CLI) or on the
caller's (``arun``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from taskexec_nb.errors import ResumeError, UsageError
from taskexec_nb.events import Event, EventBus, EventKind, Notice, Observer, RunStatus, TaskStatus
from taskexec_nb.executors import ExecutorRegistry, TaskFunction
from taskexec_nb.model import Task
from taskexec_nb.run import liveruns
from taskexec_nb.run.claim import recorded_settings, refuse_overlap, sweep, task_rows
from taskexec_nb.run.live import RunModel
from taskexec_nb.run.preflight import Preflight
from taskexec_nb.run.reaper import Reaper
from taskexec_nb.run.resume import LIVE_HERE, check_resumable, run_row, stale_here, still_running
from taskexec_nb.run.schedule import Scheduler
from taskexec_nb.run.writeback import CheckboxWriter
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import SAVE_DELAY, RunRecord, StateStore, TaskRecord

if TYPE_CHECKING:
    from taskexec_nb.config import Config
    from taskexec_nb.plan import ExecutionPlan


def new_run_id() -> str:
    """A sortable, readable run ID such as ``20261124-051200-3fa9``.

    Returns:
        The local start time to the second, then 4 random hex digits (so two runs
        started in the same second differ).
    """
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + os.urandom(2).hex()


def state_dir_for(tasks_file: str | Path, settings: RunSettings) -> Path:
    """Where the state store and logs of a tasks.md's runs live.

    Args:
        tasks_file: The tasks.md the runs execute.
        settings: The run's settings; their ``state_dir``, when set, wins.

    Returns:
        ``state_dir`` if set, else ``.taskexec`` beside the tasks.md.
    """
    return settings.state_dir or Path(tasks_file).resolve().parent / ".taskexec"


def prune_logs(store: StateStore, log_root: Path, keep: int | None, run_id: str) -> str | None:
    """Remove the log folders of all but the newest ``keep`` runs.

    Args:
        store: The state store (its runs, newest first).
        log_root: The folder of every run's logs.
        keep: How many runs keep their logs (``log_retention``; None: all).
        run_id: The run starting now (its logs are kept).

    Returns:
        A notice saying what was removed, or None.
    """
    if keep is None:
        return None
    runs = [r.run_id for r in store.runs()]
    old = [r for r in runs[keep:] if r != run_id]
    removed = 0
    for old_id in old:
        folder = log_root / old_id
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    if not removed:
        return None
    return f"removed the logs of {removed} older run(s) in {log_root} (log_retention={keep})"


class RunSession:
    """A run's wiring: its store, watchdog, scheduler and observers, and the thread/loop bridge.

    :class:`~taskexec_nb.run.handle.RunHandle` is the face of a run; this is its
    machinery: it works out what runs (:mod:`~taskexec_nb.run.preflight`), records
    the run, starts the watchdog and the scheduler on an event loop (its own thread's
    for the blocking API, the caller's for ``arun``), and carries calls from other
    threads onto that loop.

    Args:
        plan: The plan.
        settings: The run's settings.
        selection: The tasks to run; None: a resumed run's own, or every pending task.
        resume: The ID of the run to continue (None: a new run).
        takeover: Continue a run marked running on another host whose runner is gone.
        callables: Python functions by task ID, story or ID pattern.
        observers: Extra event observers.
        config: The configuration the settings come from (recorded with the run).
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
        plan.check_runnable()
        self.plan = plan
        self.takeover = takeover
        self.settings = settings
        self.config = config
        self.state_dir = state_dir_for(plan.path, settings)
        self.log_root = settings.log_dir or self.state_dir / "logs"
        self.store_path = self.state_dir / "state.db"
        self.run_id = resume or new_run_id()
        self.resumed = resume is not None
        self.bus = EventBus()
        self.registry = ExecutorRegistry(callables)
        self._preflight = Preflight(plan, settings, self.registry, self.run_id)
        self._selection_arg = selection
        self.observers = list(observers)
        self.scheduler: Scheduler | None = None  # once the run is set up
        self.model: RunModel | None = None  # the live model the views read, from then on
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop it runs on
        self.finished = threading.Event()  # set when it has ended, however it ended
        self._future: asyncio.Future[RunStatus] | None = None
        self.result: RunStatus | None = None
        self.notices: list[str] = [
            f"callables: {key!r} matches no task ID, story or ID pattern in {plan.path}"
            for key in self.registry.callables.unmatched(plan.tasks)
        ]
        self.selection: list[str] = []
        self._to_tick: list[str] = []
        self._tasks: dict[str, Task] = {}  # the selection's tasks, overrides applied
        self.earlier: dict[str, TaskRecord] = {}  # a resumed run's tasks it does not rerun
        self._registered: Path | None = None  # its entry among this machine's live runs

    @property
    def requested(self) -> list[str] | None:
        """The selection the run was asked for (None: a resumed run's own)."""
        return None if self._selection_arg is None else list(self._selection_arg)

    def view_order(self) -> list[str]:
        """The run's tasks in the order its views list them.

        Returns:
            The selection in run order; on a resume, with the tasks done before
            it, in the plan's topological order.
        """
        if not self.earlier:
            return list(self.selection)
        wanted = set(self.selection) | set(self.earlier)
        return [t for t in self.plan.topological_order() if t in wanted]

    @property
    def log_dir(self) -> Path:
        """This run's folder of logs and artifacts."""
        return self.log_root / self.run_id

    # -- control -------------------------------------------------------------------------
    def call(self, fn: Callable[[], None]) -> None:
        """Call ``fn`` on the run's loop (at once when already there); not once it has ended.

        Args:
            fn: What to call; it may use :attr:`scheduler`.
        """
        loop = self.loop
        if loop is None or self.scheduler is None or self.finished.is_set():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def interrupt(self, force: bool = False) -> None:
        """Like cancel, but the run is recorded as interrupted (resumable).

        Args:
            force: Also kill running process groups at once, without waiting out
                ``kill_grace`` after SIGTERM (a second Ctrl-C).
        """

        def stop() -> None:
            if self.scheduler is not None:
                self.scheduler.cancel(interrupted=True)
                if force:
                    self.scheduler.kill()

        self.call(stop)

    @property
    def done(self) -> bool:
        """Whether the run has finished."""
        return self.finished.is_set()

    async def wait(self) -> RunStatus:
        """What :meth:`RunHandle.wait <taskexec_nb.run.handle.RunHandle.wait>` does.

        A cancelled wait of a run on this loop interrupts the run (a second cancel
        kills its tasks) and raises once the run has ended.

        Returns:
            The run's final status.

        Raises:
            asyncio.CancelledError: When the wait was cancelled (after the run ended).
        """
        if self._future is not None:
            try:
                return await asyncio.shield(self._future)
            except asyncio.CancelledError:
                if not self._future.done():
                    await self._interrupt_on_cancel(self._future)
                raise
        while not self.finished.is_set():
            await asyncio.sleep(0.05)
        assert self.result is not None
        return self.result

    async def _interrupt_on_cancel(self, future: asyncio.Future[RunStatus]) -> None:
        """Interrupt the run as a Ctrl-C does and wait for its end, cancelled or not.

        The same path as :meth:`run_blocking`'s: :meth:`interrupt`, with ``force``
        from the second cancel on.
        """
        force = False
        while not future.done():
            self.interrupt(force=force)
            try:
                await asyncio.wait({future})  # neither raises its error nor cancels it
            except asyncio.CancelledError:
                force = True

    def join(self, timeout: float | None = None) -> RunStatus | None:
        """What :meth:`RunHandle.join <taskexec_nb.run.handle.RunHandle.join>` does.

        Args:
            timeout: Seconds to wait at most; None waits for the end.

        Returns:
            The final status, or None on timeout.

        Raises:
            UsageError: Called on the run's own event loop, which it would block.
        """
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self.loop and not self.finished.is_set():
            raise UsageError(
                f"run {self.run_id} runs on this event loop (arun): join() would block it "
                "and the run with it; use `await handle.wait()`"
            )
        self.finished.wait(timeout)
        return self.result

    # -- running -------------------------------------------------------------------------
    def _collect_notice(self, event: Event) -> None:
        """Keep the run's warnings (e.g. a box not ticked) in :attr:`notices`."""
        if event.kind is EventKind.NOTICE:
            note = event.data.get("warning") or event.data.get("error")
            if note and note not in self.notices:
                self.notices.append(str(note))

    async def main(self) -> RunStatus:
        """Run on the running event loop: set up, run the scheduler, and clean up.

        Returns:
            The run's final status.
        """
        self.loop = asyncio.get_running_loop()
        store = StateStore(self.store_path)
        reaper: Reaper | None = None
        writer: CheckboxWriter | None = None
        try:
            self.notices.extend(sweep(store))
            attempts_before = self._prepare(store)
            reaper = Reaper(self.settings.kill_grace)
            self.bus.subscribe(store)
            self.model = RunModel.attach(self, order=self.view_order())
            for obs in self.observers:
                self.bus.subscribe(obs)
            for note in self.notices:
                self.bus.emit(Event(EventKind.NOTICE, self.run_id, data=Notice(warning=note)))
            self.bus.subscribe(self._collect_notice)
            if self.settings.writeback and self.plan.file_digest:
                writer = CheckboxWriter(
                    Path(self.plan.path), self.plan.file_digest, self.plan.file_data
                )

            def started(task_id: str, attempt: int, pgid: int) -> None:
                """Watch a task's new process group and record it at once.

                Args:
                    task_id: The task.
                    attempt: Its attempt's number.
                    pgid: The process group the attempt started.
                """
                assert reaper is not None
                reaper.add(pgid)
                store.record_pgid(self.run_id, task_id, attempt, pgid)

            self.scheduler = Scheduler(
                self.plan,
                self.settings,
                self.registry,
                self.bus,
                run_id=self.run_id,
                tasks=self._tasks,
                log_dir=self.log_dir,
                writer=writer,
                attempts_before=attempts_before,
                to_tick=self._to_tick,
                on_process=started,
                on_process_end=reaper.remove,
                extra_env=reaper.env,
                durable=store.durable,
                save_delay=SAVE_DELAY,
            )
            try:
                self.result = await self.scheduler.run()
            except asyncio.CancelledError:  # the loop cancelled the run: as Ctrl-C ends it
                self.result = self.scheduler.status
                raise
            return self.result
        finally:
            LIVE_HERE.discard(self.run_id)
            if self._registered is not None:
                liveruns.unregister(self._registered, self.run_id)
                self._registered = None
            if writer is not None:  # the plan's next run skips these and accepts the file
                self.plan.note_ticked(
                    writer.ticked + self._done_headings(), writer.expected, writer.data
                )
            if reaper is not None:
                reaper.close()
            store.close()
            self.finished.set()

    def _done_headings(self) -> list[str]:
        """Tasks without a box this run completed (nothing to tick; done for this plan)."""
        states = self.scheduler.states if self.scheduler else {}
        return [
            t
            for t, st in states.items()
            if st.status is TaskStatus.COMPLETED and self.plan[t].box_line is None
        ]

    def _prepare(self, store: StateStore) -> dict[str, int]:
        run = self._resumed_run(store)
        choice = self._preflight.choose(
            self._selection_arg, run, store.task_records(self.run_id) if run else {}
        )
        self.notices.extend(choice.notices)
        self._to_tick = choice.to_tick
        self.selection = selection = choice.selection
        self._tasks = choice.tasks
        rows = task_rows(self.plan, selection)
        settings = recorded_settings(self.settings, self.config)
        if run is not None:
            LIVE_HERE.add(self.run_id)
            with store.claim():  # as a start: no other live run of these tasks
                self._refuse_overlap(store, selection)
                self._register(selection)
                claimed = store.reopen_run(
                    self.run_id,
                    settings,
                    rows,
                    choice.removed,
                    choice.left_out,
                    takeover=run if self.takeover else None,
                )
            if not claimed:  # another runner took it
                raise still_running(store.run(self.run_id))
            chosen = set(selection)
            self.earlier = {  # read again: as reopen_run left them (left-out ones skipped)
                t: rec
                for t, rec in store.task_records(self.run_id).items()
                if t not in chosen and t in self.plan
            }
        else:
            with store.claim():  # no other runner starts between the check and the record
                self._refuse_overlap(store, selection)
                LIVE_HERE.add(self.run_id)
                self._register(selection)
                store.create_run(
                    self.run_id,
                    self.tasks_file,
                    self.plan.mode.value,
                    settings,
                    selection,
                    rows,
                )
        pruned = prune_logs(store, self.log_root, self.settings.log_retention, self.run_id)
        if pruned:
            self.notices.append(pruned)
        return choice.attempts_before

    @property
    def tasks_file(self) -> str:
        """The tasks.md as the store records it (resolved)."""
        return str(Path(self.plan.path).resolve())

    def _refuse_overlap(self, store: StateStore, selection: Sequence[str]) -> None:
        """Refuse a start or resume while another live runner runs any of the same tasks.

        Raises:
            RunInProgressError: Naming the live run, its pid and the shared tasks.
        """
        refuse_overlap(store, self.tasks_file, self.run_id, selection)

    def _register(self, selection: Sequence[str]) -> None:
        """Register the run with this machine's live runs of its tasks.md (any state folder).

        Raises:
            RunInProgressError: If a live run of the file, recorded in another state
                folder, runs any of the same tasks.
        """
        try:
            self._registered = liveruns.register(
                self.tasks_file, self.run_id, selection, self.state_dir, stale_here
            )
        except OSError as exc:
            self.notices.append(
                f"runs of {self.tasks_file} recorded in other state folders are not looked "
                f"for: {exc}"
            )

    def _resumed_run(self, store: StateStore) -> RunRecord | None:
        """The run being resumed, checked (None for a new run)."""
        if not self.resumed:
            return None
        run = run_row(store, self.run_id)
        check_resumable(run, self.tasks_file, self.plan.mode.value, takeover=self.takeover)
        return run

    def preview(self) -> list[str]:
        """What starting this run would run, without running or recording anything.

        The same checks as a start apply (resumable run, resources), and the
        notices a start would give are added to :attr:`notices`.

        Returns:
            The task IDs, in run order.

        Raises:
            UsageError: Where a start would fail.
        """
        run: RunRecord | None = None
        previous: dict[str, TaskRecord] = {}
        if self.resumed:
            if not self.store_path.is_file():
                raise ResumeError(
                    f"resume: no state store at {self.store_path}",
                    reason="no_run",
                    run_id=self.run_id,
                    tasks_file=self.tasks_file,
                )
            store = StateStore(self.store_path)
            try:
                run = self._resumed_run(store)
                previous = store.task_records(self.run_id)
            finally:
                store.close()
        choice = self._preflight.choose(self._selection_arg, run, previous)
        if self.store_path.is_file():  # as a start: no overlap
            store = StateStore(self.store_path, readonly=True)
            try:
                self._refuse_overlap(store, choice.selection)
            finally:
                store.close()
        with contextlib.suppress(OSError):  # nor with a run recorded in another state folder
            liveruns.check(self.tasks_file, self.run_id, choice.selection, stale_here)
        self.notices.extend(n for n in choice.notices if n not in self.notices)
        return choice.selection

    def start_in_thread(self) -> None:
        """Run in a new thread with its own event loop (used by the blocking API)."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(self.main())
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
                self.finished.set()

        self._errors = errors
        self._thread = threading.Thread(target=target, name=f"taskexec-{self.run_id}", daemon=True)
        self._thread.start()

    def run_blocking(self) -> RunSession:
        """What :meth:`RunHandle.run_blocking <taskexec_nb.run.handle.RunHandle.run_blocking>` does.

        Returns:
            This session, finished.

        Raises:
            KeyboardInterrupt: After the run was interrupted and its state saved.
        """
        self.start_in_thread()
        interrupted = False
        while not self.finished.is_set():
            try:
                self.finished.wait(0.1)
            except KeyboardInterrupt:  # the second one skips the grace period
                self.interrupt(force=interrupted)
                interrupted = True
        while self._thread.is_alive():  # the loop's own shutdown: brief
            try:
                self._thread.join(0.1)
            except KeyboardInterrupt:
                interrupted = True
        if self._errors:
            raise self._errors[0]
        if interrupted:
            raise KeyboardInterrupt(f"run {self.run_id} interrupted; resume it with resume=...")
        return self

    async def start(self) -> RunSession:
        """Start on the running event loop and return at once (``await plan.arun()``).

        Returns:
            This session, once the run has started (its run ID and store exist).
        """
        self.start_on_loop()
        return await self.started()

    def start_on_loop(self) -> None:
        """Start on the running event loop (call it there); :meth:`started` waits for that."""
        self._future = asyncio.ensure_future(self.main())

    async def started(self) -> RunSession:
        """Wait until a run started with :meth:`start_on_loop` is running.

        Returns:
            This session.

        Raises:
            UsageError: A set-up error (bad resources, an unknown run to resume...).
        """
        assert self._future is not None, "start_on_loop() first"
        while self.scheduler is None and not self._future.done():
            await asyncio.sleep(0)
        if self._future.done():
            self._future.result()  # raise a set-up error (bad resources, unknown run...)
        return self
