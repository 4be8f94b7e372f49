"""Starting, resuming and controlling runs: the :class:`RunHandle` the API and CLI share.

A run wires the pieces together: the state store (first observer), the
watchdog that ends the run's processes if the runner dies, the scheduler,
checkbox write-back, and any extra observers (terminal view, widgets).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shlex
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from taskexec_nb import liveruns
from taskexec_nb.config import effective_task
from taskexec_nb.errors import UsageError
from taskexec_nb.events import Event, EventBus, EventKind, Notice, Observer, RunStatus, TaskStatus
from taskexec_nb.executors import (
    ExecutorRegistry,
    TaskFunction,
    missing_notebook,
    notebook_fallback,
)
from taskexec_nb.executors.base import Executor
from taskexec_nb.executors.builtin import (
    DEFAULT_KERNEL,
    installed_kernels,
    notebook_kernelspec,
)
from taskexec_nb.model import Phase, Task, TaskForm, TaskState
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.reaper import Reaper, end_marked, end_process_group
from taskexec_nb.schedule import Scheduler, check_resources, task_cwd
from taskexec_nb.schedule import listed as _listed
from taskexec_nb.settings import AGENT_FLAG_EXAMPLE, AGENT_TOML_EXAMPLE, RunSettings
from taskexec_nb.store import StateStore, TaskRecord, runner_alive, shown_status
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


def state_dir_for(tasks_file: str | Path, settings: RunSettings) -> Path:
    """Where the state store and logs of a tasks.md's runs live."""
    return settings.state_dir or Path(tasks_file).resolve().parent / ".taskexec"


CLI_NAMES = {"only": "--only", "from_task": "--from", "until": "--until"}
"""How selection errors name the selectors, by default."""
API_NAMES = {"only": "only=", "from_task": "from_task=", "until": "until="}
"""How selection errors name the selectors of :meth:`ExecutionPlan.run`."""


def selector_names(
    defaults: Mapping[str, str], sources: Mapping[str, str], keys: Iterable[str]
) -> dict[str, str]:
    """How selection errors name the selectors in ``keys`` that the configuration set.

    Args:
        defaults: The names for selectors given directly (:data:`CLI_NAMES` or
            :data:`API_NAMES`).
        sources: Where each setting came from (:attr:`Config.sources`).
        keys: The selectors whose value came from the configuration.

    Returns:
        ``defaults`` with those selectors named by their source, such as
        ``TASKEXEC_ONLY=`` or ``/path/taskexec.toml:3: only=``.
    """
    names = dict(defaults)
    for key in keys:
        source = sources.get(key)
        if source is None or source == defaults.get(key):
            continue
        if source.startswith("environment "):
            names[key] = source.removeprefix("environment ") + "="
        else:
            names[key] = f"{source}: {key}="
    return names


def select_tasks(
    plan: ExecutionPlan,
    only: Iterable[str] | None = None,
    from_task: str | None = None,
    until: str | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """The pending tasks to run, in plan order.

    Every selector is a task ID, a story tag (``US1``) or a phase (``phase:3``).

    Args:
        plan: The plan.
        only: Selectors to keep; None keeps every pending task.
        from_task: Start at this task (for a story or phase: its first task in run order).
        until: Stop after this task (for a story or phase: its last task in run order).
        names: How errors name ``only``, ``from_task`` and ``until`` (default: the
            CLI's ``--only``, ``--from`` and ``--until``).

    Returns:
        Task IDs.

    Raises:
        UsageError: For a selector that matches nothing (with the closest task ID), an
            empty ``only``, or a ``from_task`` that comes after ``until``.
    """
    name = {**CLI_NAMES, **(names or {})}
    for key, value in (("from_task", from_task), ("until", until)):
        if value is not None and not isinstance(value, str):
            raise UsageError(
                f"{name[key]} takes a task ID, story or phase as text (e.g. 'T005'), "
                f"got {type(value).__name__} {value!r}"
            )
    full = plan.topological_order()  # done tasks keep their place: --from US1 works after US1
    position = {t: i for i, t in enumerate(full)}
    start, stop = 0, len(full) - 1
    if from_task is not None:
        start = min(position[t] for t in _matches(plan, name["from_task"], from_task.strip()))
    if until is not None:
        stop = max(position[t] for t in _matches(plan, name["until"], until.strip()))
    if start > stop:
        raise UsageError(
            f"{_said(name['from_task'], from_task)} comes after "
            f"{_said(name['until'], until)} in run order "
            f"({full[start]} runs after {full[stop]}): nothing would run"
        )
    order = [t for t in full[start : stop + 1] if plan[t].state is TaskState.PENDING]
    if only is not None:
        selectors = [sel.strip() for sel in only]
        if not any(selectors):
            raise UsageError(
                f"{name['only']}: the selection is empty (leave it out to run every task)"
            )
        wanted: set[str] = set()
        for sel in selectors:
            if sel:
                wanted |= _matches(plan, name["only"], sel)
        if (from_task is not None or until is not None) and wanted.isdisjoint(
            full[start : stop + 1]
        ):
            bounds = [
                _said(name[key], value)
                for key, value in (("from_task", from_task), ("until", until))
                if value is not None
            ]
            raise UsageError(
                f"{_said(name['only'], ','.join(selectors))} selects no task within "
                f"{' and '.join(bounds)} ({full[start]} to {full[stop]} in run order): "
                "nothing would run"
            )
        order = [t for t in order if t in wanted]
    return order


def _matches(plan: ExecutionPlan, option: str, sel: str) -> set[str]:
    """The tasks a selector names; UsageError naming the option if none."""
    hits = _match(plan, sel)
    if hits:
        return hits
    import difflib

    if sel.lower().startswith("phase:"):
        phases = {t.phase.index: t.phase for t in plan.tasks if t.phase.line is not None}
        known = ", ".join(f"phase:{p.number or p.title}" for p in phases.values()) or "none"
        raise UsageError(f"{_said(option, sel)}: no such phase; the phases are {known}")
    names = [t.id for t in plan.tasks] + sorted({s for t in plan.tasks for s in t.stories})
    close = difflib.get_close_matches(sel, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    kinds = "a task ID, a story such as US1 or a phase such as phase:3"
    raise UsageError(f"{_said(option, sel)}: matches no task{hint}; give {kinds}")


def _said(option: str, value: str | None) -> str:
    """An option as the user wrote it: ``--only US9`` or ``only='US9'``."""
    return f"{option}{value!r}" if option.endswith("=") else f"{option} {value}"


def find_run(
    tasks_file: str | Path, state_dir: Path, resume: str | bool, *, takeover: bool = False
) -> dict[str, Any]:
    """The recorded run that a resume continues, checked to be resumable.

    Args:
        tasks_file: The tasks.md being run.
        state_dir: Folder of the state store.
        resume: A run ID; ``True``, ``""`` or ``"latest"`` for the newest run of this file.
        takeover: See :func:`check_resumable`.

    Returns:
        The run's row in the store.

    Raises:
        UsageError: If there is no store or no such run, the run is of another
            file, or its runner is still running.
    """
    path = state_dir / "state.db"
    target = str(Path(tasks_file).resolve())
    if not path.is_file():
        raise UsageError(f"resume: no earlier run of {tasks_file}: no state store at {path}")
    store = StateStore(path)
    try:
        run_id = store.latest_run(target) if resume in (True, "", "latest") else str(resume)
        if run_id is None:
            raise UsageError(f"resume: no earlier run of {tasks_file} in {path}")
        run = _run_row(store, run_id)
    finally:
        store.close()
    check_resumable(run, target, takeover=takeover)
    return run


KEPT_ON_RESUME = (
    "max_workers",
    "resources",
    "fail_fast",
    "allow_failure",
    "retries",
    "backoff",
    "timeout",
    "kill_grace",
    "no_action",
    "writeback",
)
"""Settings a resume takes from the run it continues, unless they are given again."""


def resumed_settings(
    settings: RunSettings, run: Mapping[str, Any], arguments: Mapping[str, Any]
) -> tuple[RunSettings, str | None]:
    """The settings a resume runs with: the run's own for how it runs, unless given again.

    A resume continues the run as it was started (``-j``, ``--fail-fast``,
    retries, resources...), whatever the configuration says now; a setting given
    again for the resume (a flag or an argument) wins.

    Args:
        settings: The settings worked out for this invocation.
        run: The resumed run's row in the store (its ``settings`` as recorded).
        arguments: The settings given for the resume (flags or keyword arguments;
            None means not given).

    Returns:
        The settings, and a notice naming what was kept where it differs (or None).
    """
    import dataclasses
    from types import MappingProxyType

    try:
        stored = json.loads(run.get("settings") or "{}")
    except ValueError:
        return settings, None  # an unreadable record: nothing to keep
    given = {name for name, value in arguments.items() if value is not None}
    changes: dict[str, Any] = {}
    for name in KEPT_ON_RESUME:
        if name in given or name not in stored:
            continue
        value = stored[name]
        now = getattr(settings, name)
        if name == "resources":
            if not isinstance(value, dict) or value == dict(now):
                continue
            value = MappingProxyType(value)
        elif value == now:
            continue
        changes[name] = value
    if not changes:
        return settings, None
    try:
        kept = dataclasses.replace(settings, **changes)
    except (UsageError, TypeError):
        return settings, None  # recorded by another version, and no longer valid
    shown = ", ".join(
        f"{name}={_setting(name, kept)} (now {_setting(name, settings)})" for name in changes
    )
    return kept, (
        f"resume keeps the settings run {run['run_id']} started with: {shown}; give a "
        "setting again to change it"
    )


def _setting(name: str, settings: RunSettings) -> str:
    """A setting's value for a notice: JSON, or what an unset one means (never ``null``)."""
    value = getattr(settings, name)
    if value is None and name == "no_action":
        return f"not set, default {settings.effective_no_action}"
    if value is None and name == "timeout":
        return "not set, no limit"
    return json.dumps(dict(value) if isinstance(value, Mapping) else value)


def _run_row(store: StateStore, run_id: str) -> dict[str, Any]:
    """A run to resume, from the store; UsageError (listing recent runs) if unknown."""
    from taskexec_nb.store import StoreError

    try:
        return store.run(run_id)
    except StoreError as exc:
        raise UsageError(f"resume: {exc}") from None


def check_resumable(
    run: Mapping[str, Any], tasks_file: str, mode: str | None = None, *, takeover: bool = False
) -> None:
    """Refuse to resume a run of another file, of another mode, or one still running.

    Args:
        run: The run's row in the store.
        tasks_file: The resolved path of the tasks.md being run.
        mode: The plan's dependency mode (None: not checked).
        takeover: Resume a run marked running by a runner on another host (which
            cannot be checked from here); a live runner on this host is still refused.

    Raises:
        UsageError: Naming the reason.
    """
    run_id = run["run_id"]
    if run["tasks_file"] != tasks_file:
        raise UsageError(
            f"resume: run {run_id} ran {run['tasks_file']}, not {tasks_file}; "
            "resume it with that file, or leave the run ID out for this file's latest run"
        )
    if mode is not None and run["mode"] and run["mode"] != mode:
        raise UsageError(
            f"resume: run {run_id} used dependency mode {run['mode']!r}, this plan {mode!r}; "
            f"load the plan with mode={run['mode']!r} (taskexec run: leave --mode out)"
        )
    if run["status"] not in _ACTIVE:
        return
    alive = runner_alive(run)
    if alive:
        raise UsageError(still_running(run_id, run["pid"]))
    if alive is None and not takeover:
        raise UsageError(
            f"resume: run {run_id} is marked {run['status']} by its runner on host "
            f"{run['host']} (pid {run['pid']}), which cannot be checked from here; resume it "
            f"there, or, if that runner is gone, take the run over: taskexec run "
            f"{shlex.quote(str(run['tasks_file']))} --resume {run_id} --takeover "
            "(plan.run(resume=..., takeover=True))"
        )


_ACTIVE = (RunStatus.RUNNING.value, RunStatus.PAUSED.value)
"""Statuses of a run whose runner may still be at work."""

_LIVE_HERE: set[str] = set()
"""Runs this process is running now (a run it left marked running after an error is not)."""


def _stale_here(run: Mapping[str, Any]) -> bool:
    """Whether a run marked running belongs to this process, which no longer runs it."""
    return (
        run["pid"] == os.getpid()
        and run["host"] == socket.gethostname()
        and run["run_id"] not in _LIVE_HERE
    )


def still_running(run_id: str, pid: int | None) -> str:
    """The message for a resume of a run whose runner is alive."""
    return (
        f"resume: run {run_id} is still running (runner pid {pid}); wait for it to end, or "
        f"stop it first (Ctrl-C in its terminal, or kill {pid}): its tasks would run twice"
    )


def _match(plan: ExecutionPlan, sel: str) -> set[str]:
    if sel.lower().startswith("phase:"):
        name = sel.split(":", 1)[1].strip()
        if len(name) > 1 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1].strip()  # phase:"Polish & Cross-Cutting", quotes kept by a config
        return {t.id for t in plan.tasks if _is_phase(t.phase, name)}
    if sel in plan:
        return {sel}
    return {t.id for t in plan.tasks if sel in t.stories}


def _is_phase(phase: Phase, name: str) -> bool:
    """``phase:3`` is phase 3 and its sub-phases (3.1, 3a); ``phase:Polish`` goes by title."""
    number = (phase.number or "").casefold()
    rest = number[len(name) :] if name and number.startswith(name.casefold()) else None
    if rest is not None and (rest[:1] in ("", ".") or (rest.isalpha() and name[-1].isdigit())):
        return True
    wanted = name.casefold()
    kind = phase.kind if phase.kind != "other" else None  # phase:polish, phase:setup
    return bool(wanted) and wanted in (phase.title.casefold(), phase.heading.casefold(), kind)


_FORM_WORDS = {
    TaskForm.CHECKBOX: "list items with [P] in the box's place",
    TaskForm.HEADING: "headings",
    TaskForm.TABLE: "table rows",
}
"""How a notice names tasks written in a form without a box."""


class _Choice(NamedTuple):
    selection: list[str]
    attempts_before: dict[str, int]
    to_tick: list[str]
    notices: list[str]
    removed: list[str]  # a resumed run's tasks no longer in the file
    left_out: dict[str, str]  # its tasks not run again, with why


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
        self._earlier: dict[str, TaskRecord] = {}  # a resumed run's tasks it does not rerun
        self._registered: Path | None = None  # its entry among this machine's live runs

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

    def interrupt(self, force: bool = False) -> None:
        """Like cancel, but the run is recorded as interrupted (resumable).

        Args:
            force: Also kill running process groups at once, without waiting out
                ``kill_grace`` after SIGTERM (a second Ctrl-C).
        """

        def stop() -> None:
            if self._scheduler is not None:
                self._scheduler.cancel(interrupted=True)
                if force:
                    self._scheduler.kill()

        self._call(stop)

    @property
    def done(self) -> bool:
        """Whether the run has finished."""
        return self._done.is_set()

    @property
    def paused(self) -> bool:
        """Whether the run is paused."""
        return bool(self._scheduler and self._scheduler.paused)

    async def wait(self) -> RunStatus:
        """Wait for the end of the run (use ``await``); return its final status.

        For a run started with ``arun``, cancelling the wait (a notebook's
        interrupt, Ctrl-C under ``asyncio.run``, ``task.cancel()``) interrupts
        the run as Ctrl-C does :meth:`~taskexec_nb.plan.ExecutionPlan.run`: its
        running tasks are stopped, it is recorded ``interrupted`` (resumable), and
        the cancellation goes on once that is done. A second cancel meanwhile
        kills the running tasks at once. To wait with a time limit without
        stopping the run, shield it: ``asyncio.wait_for(asyncio.shield(run.wait()), t)``.

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
        while not self._done.is_set():
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
        """Block until the run ends (for runs on another thread); None on timeout.

        Raises:
            UsageError: Called on the event loop the run itself runs on (``arun``):
                blocking it would stop the run; ``await handle.wait()`` instead.
        """
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and running is self._loop and not self._done.is_set():
            raise UsageError(
                f"run {self.run_id} runs on this event loop (arun): join() would block it "
                "and the run with it; use `await handle.wait()`"
            )
        self._done.wait(timeout)
        return self.result

    # -- looking -------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """One dict per task of the run: id, phase, story, status, allowed, attempt, times, error.

        On a resume the run's tasks done before it are included, as recorded.
        """
        states = self._scheduler.states if self._scheduler else {}
        order: Iterable[str] = self.selection
        if self._earlier:  # a resume: what the run did before, in run order with the rest
            wanted = set(self.selection) | set(self._earlier)
            order = [t for t in self.plan.topological_order() if t in wanted]
        rows = []
        for task_id in order:
            task = self.plan[task_id]
            rec, st = self._earlier.get(task_id), states.get(task_id)
            values: tuple[Any, ...] = ("pending", False, 0, None, None, None, None)
            if rec is not None:
                values = (rec.status, rec.allowed, rec.attempt, rec.started, rec.finished)
                values += (None, rec.error)
            elif st is not None:
                values = (st.status.value, st.allowed, st.attempt, st.started, st.finished)
                values += (st.waiting_on, st.error)
            status, allowed, attempt, started, finished, waiting_on, error = values
            rows.append(
                {
                    "id": task_id,
                    "phase": task.phase.label,
                    "story": task.story,
                    "status": status,
                    "allowed": allowed,
                    "attempt": attempt,
                    "start": started,
                    "end": finished,
                    "duration": (finished - started) if started and finished else None,
                    "waiting_on": waiting_on,
                    "error": error,
                }
            )
        return rows

    def status(self) -> pd.DataFrame:
        """A DataFrame snapshot: one row per task of the run (see :meth:`snapshot`).

        Text columns have pandas' ``string`` dtype: a missing story, wait or error
        is ``<NA>`` (test with ``isna()``); ``start``/``end`` are UTC timestamps;
        ``allowed`` is True for a failure under ``allow_failure`` (its ``status``
        stays ``failed`` or ``timed_out``).
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
            stamps = pd.to_datetime(frame[col].astype("float64"), unit="s", utc=True)
            frame[col] = stamps.astype("datetime64[us, UTC]")
        for col in ("id", "phase", "story", "status", "waiting_on", "error"):
            frame[col] = frame[col].astype("string")  # missing text is <NA>, as in Int64
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
            shown = shown_status(row["status"], row["allowed"])
            counts[shown] = counts.get(shown, 0) + 1
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
            self.bus.subscribe(store)
            for obs in self._observers:
                self.bus.subscribe(obs)
            for note in self.notices:
                self.bus.emit(Event(EventKind.NOTICE, self.run_id, data=Notice(warning=note)))
            self.bus.subscribe(self._collect_notice)
            if self.settings.writeback and self.plan.file_digest:
                writer = CheckboxWriter(
                    Path(self.plan.path), self.plan.file_digest, self.plan.file_data
                )

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
                to_tick=self._to_tick,
                on_process=started,
                on_process_end=reaper.remove,
                extra_env=reaper.env,
                durable=store.durable,
            )
            try:
                self.result = await self._scheduler.run()
            except asyncio.CancelledError:  # the loop cancelled the run: as Ctrl-C ends it
                self.result = self._scheduler.status
                raise
            return self.result
        finally:
            _LIVE_HERE.discard(self.run_id)
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
            self._done.set()

    def _done_headings(self) -> list[str]:
        """Tasks without a box this run completed (nothing to tick; done for this plan)."""
        states = self._scheduler.states if self._scheduler else {}
        return [
            t
            for t, st in states.items()
            if st.status is TaskStatus.COMPLETED and self.plan[t].box_line is None
        ]

    def _sweep(self, store: StateStore) -> None:
        """End processes left by runners that died, and mark their runs interrupted."""
        dead: set[str] = set()
        for orphan in store.orphans():
            if end_process_group(orphan["pgid"], orphan["run_id"]):
                self.notices.append(
                    f"ended process group {orphan['pgid']} left by run {orphan['run_id']} "
                    f"({orphan['task_id']}, attempt {orphan['attempt']})"
                )
            store.close_orphan(orphan["run_id"], orphan["task_id"], orphan["attempt"])
            store.mark_interrupted(orphan["run_id"])
            dead.add(orphan["run_id"])
        for run in store.runs():
            # runner_alive None: on another host, not ours to say
            if run["status"] in _ACTIVE and (runner_alive(run) is False or _stale_here(run)):
                store.mark_interrupted(run["run_id"])
                dead.add(run["run_id"])
        # What left its group (setsid, a daemon) is found by the run's marker.
        for run_id, count in sorted(end_marked(dead).items()):
            self.notices.append(
                f"ended {count} process{'es' if count > 1 else ''} left by run {run_id} "
                "outside its recorded process groups"
            )

    def _prepare(self, store: StateStore) -> dict[str, int]:
        run = self._resumed_run(store)
        choice = self._choose(run, store.task_records(self.run_id) if run else {})
        self.notices.extend(choice.notices)
        self._to_tick = choice.to_tick
        self.selection = selection = choice.selection
        rows = []
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
        if run is not None:
            _LIVE_HERE.add(self.run_id)
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
                raise UsageError(still_running(self.run_id, store.run(self.run_id)["pid"]))
            chosen = set(selection)
            self._earlier = {  # read again: as reopen_run left them (left-out ones skipped)
                t: rec
                for t, rec in store.task_records(self.run_id).items()
                if t not in chosen and t in self.plan
            }
        else:
            with store.claim():  # no other runner starts between the check and the record
                self._refuse_overlap(store, selection)
                _LIVE_HERE.add(self.run_id)
                self._register(selection)
                store.create_run(
                    self.run_id,
                    self._tasks_file,
                    self.plan.mode.value,
                    settings,
                    selection,
                    rows,
                )
        self._prune_logs(store)
        return choice.attempts_before

    @property
    def _tasks_file(self) -> str:
        """The tasks.md as the store records it (resolved)."""
        return str(Path(self.plan.path).resolve())

    def _refuse_overlap(self, store: StateStore, selection: Sequence[str]) -> None:
        """Refuse a start or resume while another live runner runs any of the same tasks.

        Raises:
            UsageError: Naming the live run, its pid and the shared tasks.
        """
        for run in store.runs(self._tasks_file):
            if run["run_id"] == self.run_id:
                continue  # the run being resumed: checked on its own
            if run["status"] not in _ACTIVE or runner_alive(run) is not True:
                continue  # ended; dead (swept); or on another host (cannot be checked)
            theirs = set(json.loads(run["selection"] or "[]"))
            shared = [t for t in selection if t in theirs]
            if shared:
                raise UsageError(
                    f"run {run['run_id']} of {self._tasks_file} is still running (runner pid "
                    f"{run['pid']}) and also runs {_listed(shared, 3)}: a second run "
                    "would run them twice. Wait for it to end or stop it, or select other "
                    "tasks (--only / only=)"
                )

    def _register(self, selection: Sequence[str]) -> None:
        """Register the run with this machine's live runs of its tasks.md (any state folder).

        Raises:
            UsageError: If a live run of the file, recorded in another state folder,
                runs any of the same tasks.
        """
        try:
            self._registered = liveruns.register(
                self._tasks_file, self.run_id, selection, self.state_dir, _stale_here
            )
        except OSError as exc:
            self.notices.append(
                f"runs of {self._tasks_file} recorded in other state folders are not looked "
                f"for: {exc}"
            )

    def _resumed_run(self, store: StateStore) -> dict[str, Any] | None:
        """The run being resumed, checked (None for a new run)."""
        if not self.resumed:
            return None
        run = _run_row(store, self.run_id)
        check_resumable(run, self._tasks_file, self.plan.mode.value, takeover=self.takeover)
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
        run: dict[str, Any] | None = None
        previous: dict[str, TaskRecord] = {}
        if self.resumed:
            if not self.store_path.is_file():
                raise UsageError(f"resume: no state store at {self.store_path}")
            store = StateStore(self.store_path)
            try:
                run = self._resumed_run(store)
                previous = store.task_records(self.run_id)
            finally:
                store.close()
        choice = self._choose(run, previous)
        if self.store_path.is_file():  # as a start: no overlap
            store = StateStore(self.store_path, readonly=True)
            try:
                self._refuse_overlap(store, choice.selection)
            finally:
                store.close()
        with contextlib.suppress(OSError):  # nor with a run recorded in another state folder
            liveruns.check(self._tasks_file, self.run_id, choice.selection, _stale_here)
        self.notices.extend(n for n in choice.notices if n not in self.notices)
        return choice.selection

    def _choose(self, run: Mapping[str, Any] | None, previous: Mapping[str, TaskRecord]) -> _Choice:
        """The tasks to run: the selection given, a resumed run's own, or every pending one.

        A resumed run leaves out what it completed (unless the task changed since).
        """
        notices: list[str] = []
        removed: list[str] = []
        left_out: dict[str, str] = {}
        if self._selection_arg is not None:
            selection = list(self._selection_arg)
        elif run is not None:
            selection = self._stored_selection(run, previous, notices, removed, left_out)
        else:
            selection = select_tasks(self.plan)
        check_resources(self.plan, selection, self.settings)
        for override in self.settings.overrides:
            if not any(override.matches(t) for t in self.plan.tasks):
                notices.append(
                    f"{override.source}: this [[overrides]] entry matches no task in "
                    f"{self.plan.path}"
                )
        attempts_before: dict[str, int] = {}
        to_tick: list[str] = []
        if run is not None:
            keep = []
            for task_id in selection:
                rec = previous.get(task_id)
                digest = task_hash(self.plan[task_id])
                if rec is not None:
                    attempts_before[task_id] = rec.attempt
                if rec is not None and rec.status == TaskStatus.COMPLETED.value:
                    if rec.def_hash != digest:
                        notices.append(
                            f"{task_id} changed since run {self.run_id} completed it: it runs again"
                        )
                    elif rec.ticked and self.plan[task_id].state is TaskState.PENDING:
                        notices.append(
                            f"{task_id} was un-ticked in {self.plan.path} after run "
                            f"{self.run_id} completed and ticked it: it runs again"
                        )
                    else:
                        to_tick.append(task_id)  # done, but the box may not be ticked yet
                        continue
                keep.append(task_id)
            selection = keep
        notices.extend(self._unmet(selection, previous))
        if not selection and run is None:
            notices.append(
                f"nothing to run in {self.plan.path}: the selected tasks are done (ticked); "
                "un-tick a box to run its task again"
            )
        effective = {t: effective_task(self.plan[t], self.settings.overrides) for t in selection}
        routes = self._routes(effective)
        self._check_agent(effective, routes)
        notices[:0] = self._agent_hint(routes)
        tasks_dir = Path(self.plan.path).resolve().parent
        self._check_kernels(effective, routes, tasks_dir)
        for task_id, task in effective.items():
            folder = task_cwd(tasks_dir, self.settings, task)
            missing = missing_notebook(task, folder)
            if missing is not None and routes.get(task_id) is self.registry.get("notebook"):
                policy = self.settings.effective_no_action
                notices.append(notebook_fallback(task, missing, policy, starting=False))
            if (task.params.cwd or self.settings.cwd) and not folder.is_dir():
                what = "is not a folder" if folder.exists() else "does not exist (yet)"
                notices.append(
                    f"{task_id}: its working folder {folder} {what}: unless an earlier task "
                    "makes it one, the task fails"
                )
        headings = [t for t in selection if self.plan[t].box_line is None]
        if headings and self.settings.writeback:
            forms = sorted({self.plan[t].form for t in headings}, key=list(TaskForm).index)
            written = " and ".join(_FORM_WORDS[f] for f in forms)
            notices.append(
                f"{_listed(headings)}: written as {written}, not checkboxes, in "
                f"{self.plan.path}, so nothing is ticked for them: their results are in the "
                "state store, and a new run of the file (not a resume) runs them again"
            )
        return _Choice(selection, attempts_before, to_tick, notices, removed, left_out)

    def _unmet(self, selection: Sequence[str], previous: Mapping[str, TaskRecord]) -> list[str]:
        """A notice for selected tasks whose prerequisites are neither selected nor done.

        The run does not wait for what it does not run: such a task runs
        without its prerequisite's work, which the user should hear about.
        """
        chosen = set(selection)
        waiting: list[str] = []
        missing: list[str] = []
        for task_id in selection:
            unmet = [
                dep
                for dep in self.plan.depends_on(task_id)
                if dep not in chosen
                and self.plan[dep].state is TaskState.PENDING
                and not (dep in previous and previous[dep].status == TaskStatus.COMPLETED.value)
            ]
            if unmet:
                waiting.append(task_id)
                missing += [dep for dep in unmet if dep not in missing]
        if not waiting:
            return []
        position = {t: i for i, t in enumerate(self.plan.topological_order())}
        one, it = len(waiting) == 1, "it" if len(missing) == 1 else "them"
        return [
            f"{_listed(waiting)} run{'s' if one else ''} without waiting for "
            f"{'its' if one else 'their'} prerequisite{'s' if len(missing) > 1 else ''} "
            f"{_listed(sorted(missing, key=position.__getitem__))}, neither selected nor "
            f"done (not ticked): select {it} too, or run {it} first"
        ]

    def _routes(self, tasks: Mapping[str, Task]) -> dict[str, Executor | None]:
        """Each task's executor (None: it has no action); an unknown one is left out.

        A task naming an unknown executor fails with its own message when it runs.
        """
        routes: dict[str, Executor | None] = {}
        for task_id, task in tasks.items():
            with contextlib.suppress(UsageError):
                routes[task_id] = self.registry.for_task(task)
        return routes

    def _agent_hint(self, routes: Mapping[str, Executor | None]) -> list[str]:
        """How to connect an agent, when tasks have no action and no agent_command is set.

        Args:
            routes: Each selected task's executor (None: it has no action).

        Returns:
            One notice, or none.
        """
        bare = [task_id for task_id, executor in routes.items() if executor is None]
        if not bare or self.settings.agent_command:
            return []
        policy = self.settings.effective_no_action
        one = len(bare) == 1
        if policy == "fail":
            fate = "it fails" if one else "they fail"
        else:
            fate = f"{'it is' if one else 'they are'} skipped, not done, and the run is incomplete"
        return [
            f"{_listed(bare)} {'has' if one else 'have'} no action and no agent is connected: "
            f"{fate} (no_action={policy}). To hand such tasks to an AI coding agent, set "
            f"agent_command: {AGENT_FLAG_EXAMPLE}, or {AGENT_TOML_EXAMPLE} in taskexec.toml "
            "(plan.run(agent_command=[...]) in Python)"
        ]

    def _check_agent(
        self, tasks: Mapping[str, Task], routes: Mapping[str, Executor | None]
    ) -> None:
        """Refuse, before anything runs, agent tasks without a usable ``agent_command``.

        Raises:
            UsageError: If tasks go to the agent and no agent_command is set, or its
                program is not found.
        """
        agent = self.registry.get("agent")
        chosen, by_policy = [], []
        for task_id in tasks:
            if task_id not in routes:
                continue
            executor = routes[task_id]
            if executor is agent:
                chosen.append(task_id)
            elif executor is None and self.settings.effective_no_action == "agent":
                by_policy.append(task_id)
        if not chosen and not by_policy:
            return
        command = self.settings.agent_command
        if not command:
            why = []
            if chosen:
                why.append(f"{_listed(chosen)} set executor=agent")
            if by_policy:
                why.append(f"{_listed(by_policy)} have no action and no_action=agent")
            fix = (
                "set one, e.g. --agent-command 'my-agent --prompt {prompt}' or agent_command=[...]"
            )
            if by_policy:
                fix += ", or give the tasks without an action no_action=skip"
            raise UsageError(f"no agent_command is set, but {'; '.join(why)}: {fix}")
        program = command[0]
        env_path = {**os.environ, **self.settings.env}.get("PATH", os.defpath)
        if "{" not in program and shutil.which(program, path=env_path) is None:
            where = "is not an executable file" if os.sep in program else "is not on PATH"
            raise UsageError(
                f"agent_command: {program!r} {where}, and {_listed(chosen + by_policy)} would "
                "go to the agent: install it, or give agent_command the program's full path"
            )

    def _check_kernels(
        self,
        tasks: Mapping[str, Task],
        routes: Mapping[str, Executor | None],
        tasks_dir: Path,
    ) -> None:
        """Refuse, before anything runs, notebook tasks whose Jupyter kernel is not installed.

        The kernel is ``executors.notebook.kernel`` if set, else the one each
        notebook names. A notebook that is not there (yet) is left to its task.

        Raises:
            UsageError: Naming the kernel, the tasks and the kernels installed here.
        """
        notebook = self.registry.get("notebook")
        wanted: dict[str, list[str]] = {}
        configured = self.settings.executors.get("notebook", {}).get("kernel")
        for task_id, task in tasks.items():
            if task_id not in routes or routes[task_id] is not notebook:
                continue
            spec = notebook_kernelspec(
                task_cwd(tasks_dir, self.settings, task) / (task.action.target or "")
            )
            if configured or spec:
                kernel = configured or (spec and spec[0]) or DEFAULT_KERNEL
                wanted.setdefault(str(kernel), []).append(task_id)
        if not wanted:
            return
        installed = installed_kernels()
        here = ", ".join(installed) or "none"
        for kernel, task_ids in wanted.items():
            if kernel in installed:
                continue
            if configured:
                raise UsageError(
                    f"executors.notebook.kernel names Jupyter kernel {kernel!r}, which is not "
                    f"installed here (kernels here: {here}), and {_listed(task_ids)} would run "
                    "with it: install it, or name one of those"
                )
            raise UsageError(
                f"the notebook of {_listed(task_ids)} names Jupyter kernel {kernel!r}, which is "
                f"not installed here (kernels here: {here}): install it, or set "
                "executors.notebook.kernel to one of those"
            )

    def _stored_selection(
        self,
        run: Mapping[str, Any],
        previous: Mapping[str, TaskRecord],
        notices: list[str],
        removed: list[str],
        left_out: dict[str, str],
    ) -> list[str]:
        """A resumed run's own selection, less tasks gone from the file or done by hand."""
        stored = json.loads(run["selection"] or "[]")
        removed += [t for t in stored if t not in self.plan]
        if removed:
            notices.append(
                f"run {self.run_id} selected {', '.join(removed)}, no longer in "
                f"{self.plan.path}: left out of the run"
            )
        new = [t for t in self.plan.to_run if t not in set(stored)]
        if new:
            notices.append(
                f"{_listed(new)}: pending in {self.plan.path} but not part of run {self.run_id}; "
                "a new run (without --resume) runs them"
            )
        selection = []
        for task_id in stored:
            if task_id not in self.plan:
                continue
            if self.plan[task_id].state is TaskState.PENDING:
                selection.append(task_id)
                continue
            rec = previous.get(task_id)
            if rec is not None and rec.status == TaskStatus.COMPLETED.value:
                if rec.def_hash != task_hash(self.plan[task_id]):
                    notices.append(
                        f"{task_id} changed since run {self.run_id} completed it, but its box "
                        f"is ticked in {self.plan.path}: not run again (untick it to run it)"
                    )
                continue
            why = (
                f"marked {self.plan[task_id].state.value} in {self.plan.path} outside "
                f"run {self.run_id}: not run"
            )
            left_out[task_id] = why
            notices.append(f"{task_id} is {why}")
        return selection

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

        A first interrupt stops the run (SIGTERM to running tasks, SIGKILL after
        ``kill_grace``); a second one kills the running tasks at once.

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

    async def start(self) -> RunHandle:
        """Start on the running event loop and return at once (``await plan.arun()``)."""
        self._future = asyncio.ensure_future(self._main())
        while self._scheduler is None and not self._future.done():
            await asyncio.sleep(0)
        if self._future.done():
            self._future.result()  # raise a set-up error (bad resources, unknown run...)
        return self
