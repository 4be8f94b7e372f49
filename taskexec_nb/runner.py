"""Starting, resuming and controlling runs: the :class:`RunHandle` the API and CLI share.

A run wires the pieces together: the state store (first observer), the
watchdog that ends the run's processes if the runner dies, the scheduler,
checkbox write-back, and any extra observers (terminal view, widgets).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb.errors import UsageError
from taskexec_nb.events import Event, EventBus, EventKind, Observer, RunStatus, TaskStatus
from taskexec_nb.executors import ExecutorRegistry, TaskFunction
from taskexec_nb.model import Task, TaskState
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.reaper import Reaper, end_process_group
from taskexec_nb.schedule import Scheduler, check_resources
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import StateStore, runner_alive
from taskexec_nb.writeback import CheckboxWriter

if TYPE_CHECKING:
    import pandas as pd

    from taskexec_nb.config import Config
    from taskexec_nb.report import ExecutionReport


def new_run_id() -> str:
    """A sortable, readable run ID such as ``20261124-051200-3fa9``."""
    return time.strftime("%Y%m%d-%H%M%S", time.localtime()) + "-" + secrets.token_hex(2)


def task_hash(task: Task) -> str:
    """A hash of a task's definition: an edit between runs changes it."""
    doc = {
        "id": task.id,
        "description": task.description,
        "body": task.body,
        "action": [task.action.kind.value, task.action.code, task.action.target],
        "params": task.params.as_dict(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:16]


def state_dir_for(plan: ExecutionPlan, settings: RunSettings) -> Path:
    """Where a plan's state store and logs live."""
    return settings.state_dir or Path(plan.path).resolve().parent / ".taskexec"


def select_tasks(
    plan: ExecutionPlan,
    only: Iterable[str] | None = None,
    from_task: str | None = None,
    until: str | None = None,
) -> list[str]:
    """The pending tasks to run, in plan order.

    Args:
        plan: The plan.
        only: Task IDs, story tags (``US1``) or phases (``phase:3``) to keep.
        from_task: Start at this task (in run order), skipping the ones before.
        until: Stop after this task (in run order).

    Returns:
        Task IDs.

    Raises:
        UsageError: For a selector that matches nothing, with the closest task ID.
    """
    order = [t for t in plan.topological_order() if plan[t].state is TaskState.PENDING]
    for name, ref in (("--from", from_task), ("--until", until)):
        if ref is not None:
            plan[ref]  # raises UsageError naming an unknown task
            if ref not in order:
                raise UsageError(f"{name} {ref}: the task is not pending (done or cancelled)")
    if from_task is not None:
        order = order[order.index(from_task) :]
    if until is not None and until in order:
        order = order[: order.index(until) + 1]
    if only:
        wanted: set[str] = set()
        for sel in only:
            hits = _match(plan, sel.strip())
            if not hits:
                import difflib

                close = difflib.get_close_matches(sel, [t.id for t in plan.tasks], n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise UsageError(f"--only {sel}: matches no task{hint}")
            wanted |= hits
        order = [t for t in order if t in wanted]
    return order


def _match(plan: ExecutionPlan, sel: str) -> set[str]:
    if sel.lower().startswith("phase:"):
        number = sel.split(":", 1)[1].strip()
        return {t.id for t in plan.tasks if t.phase.number == number}
    if sel in plan:
        return {sel}
    return {t.id for t in plan.tasks if sel in t.stories}


class RunHandle:
    """A run: control it, look at it, wait for it.

    Create one with :meth:`ExecutionPlan.run <taskexec_nb.plan.ExecutionPlan.run>`
    (blocking) or ``await plan.arun(...)`` (in the background on the running loop).
    """

    def __init__(
        self,
        plan: ExecutionPlan,
        settings: RunSettings,
        *,
        selection: Sequence[str] | None = None,
        resume: str | None = None,
        callables: Mapping[str, TaskFunction] | None = None,
        observers: Iterable[Observer] = (),
        config: Config | None = None,
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.config = config
        self.state_dir = state_dir_for(plan, settings)
        self.log_root = settings.log_dir or self.state_dir / "logs"
        self.store_path = self.state_dir / "state.db"
        self.run_id = resume or new_run_id()
        self.resumed = resume is not None
        self.bus = EventBus()
        self.registry = ExecutorRegistry(callables)
        self._selection_arg = selection
        self._observers = list(observers)
        self._scheduler: Scheduler | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done = threading.Event()
        self._future: asyncio.Future[RunStatus] | None = None
        self.result: RunStatus | None = None
        self.notices: list[str] = [
            f"callables: {key!r} matches no task ID, story or ID pattern in {plan.path}"
            for key in self.registry.callables.unmatched(plan.tasks)
        ]
        self.selection: list[str] = []
        self._to_tick: list[str] = []

    @property
    def log_dir(self) -> Path:
        """This run's folder of logs and artifacts."""
        return self.log_root / self.run_id

    # -- control -------------------------------------------------------------------------
    def _call(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or self._scheduler is None or self._done.is_set():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def pause(self, suspend: bool = False) -> None:
        """Stop starting tasks; with ``suspend=True`` also suspend the running ones."""
        self._call(lambda: self._scheduler.pause(suspend) if self._scheduler else None)

    def resume(self) -> None:
        """Continue a paused run."""
        self._call(lambda: self._scheduler.resume() if self._scheduler else None)

    def cancel(self) -> None:
        """End the run: stop running tasks, record the rest as cancelled."""
        self._call(lambda: self._scheduler.cancel() if self._scheduler else None)

    def interrupt(self) -> None:
        """Like cancel, but the run is recorded as interrupted (resumable)."""
        self._call(lambda: self._scheduler.cancel(interrupted=True) if self._scheduler else None)

    @property
    def done(self) -> bool:
        """Whether the run has finished."""
        return self._done.is_set()

    @property
    def paused(self) -> bool:
        """Whether the run is paused."""
        return bool(self._scheduler and self._scheduler.paused)

    async def wait(self) -> RunStatus:
        """Wait for the end of the run (use ``await``); return its final status."""
        if self._future is not None:
            return await asyncio.shield(self._future)
        while not self._done.is_set():
            await asyncio.sleep(0.05)
        assert self.result is not None
        return self.result

    def join(self, timeout: float | None = None) -> RunStatus | None:
        """Block until the run ends (for runs on another thread); None on timeout."""
        self._done.wait(timeout)
        return self.result

    # -- looking -------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """One dict per selected task: id, phase, story, status, attempt, times, waits, error."""
        states = self._scheduler.states if self._scheduler else {}
        rows = []
        for task_id in self.selection:
            task = self.plan[task_id]
            st = states.get(task_id)
            started = st.started if st else None
            finished = st.finished if st else None
            rows.append(
                {
                    "id": task_id,
                    "phase": task.phase.label,
                    "story": task.story,
                    "status": st.status.value if st else TaskStatus.PENDING.value,
                    "attempt": st.attempt if st else 0,
                    "start": started,
                    "end": finished,
                    "duration": (finished - started) if started and finished else None,
                    "waiting_on": st.waiting_on if st else None,
                    "error": st.error if st else None,
                }
            )
        return rows

    def status(self) -> pd.DataFrame:
        """A DataFrame snapshot: one row per selected task."""
        import pandas as pd

        frame = pd.DataFrame(
            self.snapshot(),
            columns=[
                "id",
                "phase",
                "story",
                "status",
                "attempt",
                "start",
                "end",
                "duration",
                "waiting_on",
                "error",
            ],
        )
        for col in ("start", "end"):
            frame[col] = pd.to_datetime(frame[col], unit="s", utc=True)
        return frame

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
        """The run's :class:`~taskexec_nb.report.ExecutionReport`, read from the store."""
        from taskexec_nb.report import ExecutionReport

        return ExecutionReport.load(self.state_dir, self.run_id)

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for row in self.snapshot():
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        state = self.result.value if self.result else ("paused" if self.paused else "running")
        text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return f"<RunHandle {self.run_id} {state}: {text or 'no tasks'}>"

    # -- running -------------------------------------------------------------------------
    def _collect_notice(self, event: Event) -> None:
        """Keep the run's warnings (e.g. a box not ticked) in :attr:`notices`."""
        if event.kind is EventKind.NOTICE:
            note = event.data.get("warning") or event.data.get("error")
            if note and note not in self.notices:
                self.notices.append(str(note))

    async def _main(self) -> RunStatus:
        self._loop = asyncio.get_running_loop()
        store = StateStore(self.store_path)
        reaper: Reaper | None = None
        writer: CheckboxWriter | None = None
        try:
            self._sweep(store)
            attempts_before = self._prepare(store)
            reaper = Reaper(self.settings.kill_grace)
            if self.settings.writeback and self.plan.file_digest:
                writer = CheckboxWriter(Path(self.plan.path), self.plan.file_digest)
                for task_id in self._to_tick:  # completed before a kill that beat the tick
                    task = self.plan[task_id]
                    if task.form.value == "checkbox":
                        conflict = writer.tick(task_id, task.line)
                        if conflict:
                            self.notices.append(conflict)
            self.bus.subscribe(store)
            for obs in self._observers:
                self.bus.subscribe(obs)
            for note in self.notices:
                self.bus.emit(Event(EventKind.NOTICE, self.run_id, data={"warning": note}))
            self.bus.subscribe(self._collect_notice)

            def started(task_id: str, attempt: int, pgid: int) -> None:
                assert reaper is not None
                reaper.add(pgid)
                store.record_pgid(self.run_id, task_id, attempt, pgid)

            self._scheduler = Scheduler(
                self.plan,
                self.settings,
                self.registry,
                self.bus,
                run_id=self.run_id,
                selection=self.selection,
                log_dir=self.log_dir,
                writer=writer,
                attempts_before=attempts_before,
                on_process=started,
                on_process_end=reaper.remove,
                extra_env=reaper.env,
                durable=store.durable,
            )
            self.result = await self._scheduler.run()
            return self.result
        finally:
            if writer is not None:  # the plan's next run accepts this run's own ticks
                self.plan.file_digest = writer.expected
            if reaper is not None:
                reaper.close()
            store.close()
            self._done.set()

    def _sweep(self, store: StateStore) -> None:
        """End processes left by runners that died, and mark their runs interrupted."""
        for orphan in store.orphans():
            if end_process_group(orphan["pgid"]):
                self.notices.append(
                    f"ended process group {orphan['pgid']} left by run {orphan['run_id']} "
                    f"({orphan['task_id']}, attempt {orphan['attempt']})"
                )
            store.close_orphan(orphan["run_id"], orphan["task_id"], orphan["attempt"])
            store.mark_interrupted(orphan["run_id"])
        for run in store.runs():
            active = run["status"] in (RunStatus.RUNNING.value, RunStatus.PAUSED.value)
            if active and not runner_alive(run["pid"]):
                store.mark_interrupted(run["run_id"])

    def _prepare(self, store: StateStore) -> dict[str, int]:
        selection = list(self._selection_arg) if self._selection_arg is not None else None
        if selection is None:
            selection = select_tasks(self.plan)
        check_resources(self.plan, selection, self.settings)
        for override in self.settings.overrides:
            if not any(override.matches(t) for t in self.plan.tasks):
                self.notices.append(
                    f"{override.source}: this [[overrides]] entry matches no task in "
                    f"{self.plan.path}"
                )
        rows = []
        attempts_before: dict[str, int] = {}
        if self.resumed:
            previous = store.task_records(self.run_id)
            store.run(self.run_id)  # raises StoreError for an unknown run
            keep = []
            for task_id in selection:
                rec = previous.get(task_id)
                digest = task_hash(self.plan[task_id])
                if rec is not None:
                    attempts_before[task_id] = rec.attempt
                if rec is not None and rec.status == TaskStatus.COMPLETED.value:
                    if rec.def_hash == digest:
                        self._to_tick.append(task_id)  # done, but the box may not be ticked yet
                        continue
                    self.notices.append(
                        f"{task_id} changed since run {self.run_id} completed it: it runs again"
                    )
                keep.append(task_id)
            selection = keep
        self.selection = selection
        for task_id in selection:
            task = self.plan[task_id]
            rows.append(
                {
                    "task_id": task_id,
                    "def_hash": task_hash(task),
                    "line": task.line,
                    "phase": task.phase.label,
                    "story": task.story,
                    "description": task.description,
                    "deps": self.plan.depends_on(task_id),
                }
            )
        settings = self.settings.to_dict()  # secrets masked
        if self.config is not None:
            settings["config"] = {
                "file": str(self.config.file) if self.config.file else None,
                "profile": self.config.profile,
                "mode": self.config.mode,
                "sources": dict(self.config.sources),
            }
        if self.resumed:
            store.reopen_run(self.run_id, settings, rows)
        else:
            store.create_run(
                self.run_id,
                str(Path(self.plan.path).resolve()),
                self.plan.mode.value,
                settings,
                selection,
                rows,
            )
        self._prune_logs(store)
        return attempts_before

    def _prune_logs(self, store: StateStore) -> None:
        """Remove the log folders of all but the newest ``log_retention`` runs."""
        keep = self.settings.log_retention
        if keep is None:
            return
        import shutil

        runs = [r["run_id"] for r in store.runs()]
        old = [r for r in runs[keep:] if r != self.run_id]
        removed = 0
        for run_id in old:
            folder = self.log_root / run_id
            if folder.is_dir():
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        if removed:
            self.notices.append(
                f"removed the logs of {removed} older run(s) in {self.log_root} "
                f"(log_retention={keep})"
            )

    def start_in_thread(self) -> None:
        """Run in a new thread with its own event loop (used by the blocking API)."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(self._main())
            except BaseException as exc:  # re-raised in the caller's thread
                errors.append(exc)
                self._done.set()

        self._errors = errors
        self._thread = threading.Thread(target=target, name=f"taskexec-{self.run_id}", daemon=True)
        self._thread.start()

    def run_blocking(self) -> RunHandle:
        """Run to the end on a worker thread; Ctrl-C or a kernel interrupt stops it gracefully.

        Returns:
            This handle, finished.

        Raises:
            KeyboardInterrupt: After the run was interrupted and its state saved.
        """
        self.start_in_thread()
        interrupted = False
        while not self._done.is_set():
            try:
                self._done.wait(0.1)
            except KeyboardInterrupt:
                interrupted = True
                self.interrupt()
        self._thread.join()
        if self._errors:
            raise self._errors[0]
        if interrupted:
            raise KeyboardInterrupt(f"run {self.run_id} interrupted; resume it with resume=...")
        return self

    async def start(self) -> RunHandle:
        """Start on the running event loop and return at once (``await plan.arun()``)."""
        self._future = asyncio.ensure_future(self._main())
        while self._scheduler is None and not self._future.done():
            await asyncio.sleep(0)
        if self._future.done():
            self._future.result()  # raise a set-up error (bad resources, unknown run...)
        return self
