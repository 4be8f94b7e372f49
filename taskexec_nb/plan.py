"""The execution plan: a validated tasks.md with its dependencies; nothing here runs a task.

:class:`ExecutionPlan` gives a DataFrame view, waves, the critical path and
readable reprs; its :meth:`~ExecutionPlan.tracker` is the graphlib-style
ready/done protocol (:mod:`taskexec_nb.tracker`) the scheduler drives.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from taskexec_nb.errors import UsageError, ValidationError
from taskexec_nb.events import Observer
from taskexec_nb.executors import TaskFunction
from taskexec_nb.graph import Graph, critical_path, layers, order_breaking_cycles
from taskexec_nb.model import DependencyMode, Diagnostic, Task, TaskState
from taskexec_nb.parse import TaskFile
from taskexec_nb.planview import PlanViews
from taskexec_nb.run.launch import RunRequest, StartMode, start_run
from taskexec_nb.run.writeback import only_ticked
from taskexec_nb.tracker import ReadyTracker
from taskexec_nb.validate import Diagnostics

if TYPE_CHECKING:
    from taskexec_nb.run.handle import RunHandle
    from taskexec_nb.settings import RunSettings


# --- the plan -------------------------------------------------------------------------------


class ExecutionPlan(PlanViews):
    """A validated tasks.md with its dependencies: what will run, in which order.

    Build one with :func:`taskexec_nb.load`. The plan never runs anything; the
    scheduler asks :meth:`tracker` for ready tasks and reports completions.
    """

    def __init__(
        self,
        taskfile: TaskFile,
        graph: Graph,
        mode: DependencyMode,
        diagnostics: Sequence[Diagnostic] = (),
    ) -> None:
        self.taskfile = taskfile
        # The file as this plan last saw it: as loaded, then as its own runs ticked it.
        self.file_digest = taskfile.digest
        self.file_data = taskfile.data
        self.mode = mode
        self.profile: str | None = None  # the config profile it was loaded with
        self.diagnostics = Diagnostics(diagnostics)  # a tuple that shows itself as a table
        self._tasks = {t.id: t for t in taskfile.tasks}
        # The plan owns the graph's lists from here on; accessors hand out tuples.
        self._deps = graph.deps
        self._explicit = graph.explicit
        self._reasons = graph.reasons
        #: ``(task, prerequisite)`` edges left out so a plan with a cycle has an order.
        self.cycle_edges_dropped: frozenset[tuple[str, str]] = frozenset()
        if graph.order is not None:
            self._order = graph.order
        elif self.errors:  # a plan with errors, to look at: the edges closing a cycle go
            self._order, dropped = order_breaking_cycles(graph.deps, list(self._tasks))
            self._deps = {
                node: [d for d in deps if (node, d) not in dropped]
                for node, deps in graph.deps.items()
            }
            self.cycle_edges_dropped = frozenset(dropped)
        else:
            raise UsageError(
                f"{taskfile.path}: the dependency graph has a cycle; validate it first"
            )
        self._levels = self._compute_levels()

    # -- problems
    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The error-severity diagnostics: a plan with any cannot run."""
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def ok(self) -> bool:
        """Whether the plan has no error, so it can run."""
        return not self.errors

    def check_runnable(self) -> None:
        """Refuse to run a plan whose file has errors (loaded with ``strict=False``).

        Raises:
            ValidationError: If the plan has error-severity diagnostics; it names
                each one and carries the plan.
        """
        if self.errors:
            raise ValidationError(
                self.diagnostics,
                plan=self,
                head=f"{self.path}: the plan has {len(self.errors)} error(s) and cannot run "
                "(it was loaded with strict=False, to be looked at); fix them first",
            )

    # -- basic access
    @property
    def path(self) -> str:
        """The tasks.md this plan comes from."""
        return self.taskfile.path

    @property
    def tasks(self) -> tuple[Task, ...]:
        """All tasks in file order."""
        return self.taskfile.tasks

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.taskfile.tasks)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __getitem__(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise UsageError(f"no task {task_id!r} in {self.path}") from None

    def depends_on(self, task_id: str) -> tuple[str, ...]:
        """IDs ``task_id`` waits for (inferred and explicit).

        Args:
            task_id: A task of the plan.

        Returns:
            Its direct prerequisites, explicit and inferred (phase order, ``[P]``
            groups), in the order they were found.

        Raises:
            UsageError: If the plan has no task ``task_id``.
        """
        return tuple(self._deps[self[task_id].id])

    def explicit_deps(self, task_id: str) -> tuple[str, ...]:
        """IDs declared as dependencies of ``task_id`` in the file.

        Args:
            task_id: A task of the plan.

        Returns:
            The prerequisites the file names for it (``depends on T001``...), without
            the ones the plan infers.

        Raises:
            UsageError: If the plan has no task ``task_id``.
        """
        return tuple(self._explicit[self[task_id].id])

    def dependents(self, task_id: str) -> tuple[str, ...]:
        """IDs that wait for ``task_id``.

        Args:
            task_id: A task of the plan.

        Returns:
            The tasks that have it as a direct prerequisite, in file order.

        Raises:
            UsageError: If the plan has no task ``task_id``.
        """
        return tuple(self._dependents[self[task_id].id])

    @functools.cached_property
    def _dependents(self) -> dict[str, list[str]]:
        dependents: dict[str, list[str]] = {k: [] for k in self._tasks}
        for task_id, deps in self._deps.items():
            for dep in deps:
                dependents[dep].append(task_id)
        return dependents

    def why(self, task_id: str, prereq: str) -> str | None:
        """Why ``task_id`` waits for ``prereq`` (None if it does not directly).

        Args:
            task_id: The waiting task.
            prereq: The task it may wait for.

        Returns:
            The edge's reason in words (e.g. an explicit dependency, or the phase
            order), or None when there is no direct edge.
        """
        return self._reasons.get((task_id, prereq))

    @property
    def to_run(self) -> tuple[str, ...]:
        """IDs of pending tasks (not checked, not cancelled), in file order."""
        return tuple(t.id for t in self.tasks if t.state is TaskState.PENDING)

    def note_ticked(
        self, task_ids: Iterable[str], file_digest: str, file_data: bytes = b""
    ) -> None:
        """Record what a run of this plan wrote: ticked boxes, and the file's new content.

        The ticked tasks become done here as in the file, so a later run of the same
        plan (as in a notebook) does not run them again. A run that ends after a later
        one of the same plan (overlapping selections) does not take the plan back to
        the content it saw.

        Args:
            task_ids: Tasks whose boxes were ticked.
            file_digest: Digest of the file after the ticks.
            file_data: The file's content after the ticks, if known.
        """
        newer = self.file_data and file_data and only_ticked(file_data, self.file_data)
        if not newer:
            self.file_digest, self.file_data = file_digest, file_data
        done = {
            tid: dataclasses.replace(self._tasks[tid], state=TaskState.DONE)
            for tid in task_ids
            if tid in self._tasks and self._tasks[tid].state is TaskState.PENDING
        }
        if not done:
            return
        self._tasks.update(done)
        tasks = tuple(done.get(t.id, t) for t in self.taskfile.tasks)
        self.taskfile = dataclasses.replace(self.taskfile, tasks=tasks)
        self._levels = self._compute_levels()

    # -- order
    def topological_order(self) -> list[str]:
        """All task IDs, each after everything it waits for; ties in file order.

        Returns:
            Every task ID of the plan, once each (a copy: changing it changes nothing).
        """
        return list(self._order)

    def effective_deps(self, chosen: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """What each chosen task waits for among the chosen ones.

        That is its own prerequisites that are chosen and, through each one that
        is not (done, cancelled or left out of the run), that one's, and so on: a
        ticked task in the middle of a chain keeps the order around it, so in
        ``T001 -> T002 (done) -> T003`` T003 still waits for T001.

        Args:
            chosen: The task IDs that will run.

        Returns:
            Each chosen task's prerequisites among them, in run order; the keys
            are in run order too.
        """
        chosen = set(chosen)
        position = {node: i for i, node in enumerate(self._order)}
        through: dict[str, frozenset[str]] = {}  # chosen tasks an unchosen one leads back to
        out: dict[str, tuple[str, ...]] = {}
        for node in self._order:
            deps = self._deps[node]
            if len(deps) == 1 and deps[0] not in chosen:
                reach = through[deps[0]]  # a chain of done tasks shares one set
            else:
                found: set[str] = set()
                for dep in deps:
                    if dep in chosen:
                        found.add(dep)
                    else:
                        found |= through[dep]
                reach = frozenset(found)
            if node in chosen:
                out[node] = tuple(sorted(reach, key=position.__getitem__))
            else:
                through[node] = reach
        return out

    def _compute_levels(self, chosen: Collection[str] | None = None) -> dict[str, int]:
        """Wave number of each chosen task (default: the pending ones).

        Tasks not chosen impose nothing themselves, but the order through them holds
        (see :meth:`effective_deps`).
        """
        if chosen is None:
            chosen = {t for t, task in self._tasks.items() if task.state is TaskState.PENDING}
        deps = self.effective_deps(chosen)
        return layers(list(deps), deps)

    @property
    def waves(self) -> list[list[str]]:
        """Pending tasks grouped into waves: each wave can run once the ones before are done."""
        return _grouped(self._levels, self.to_run)

    def waves_of(self, task_ids: Sequence[str]) -> list[list[str]]:
        """A selection's own waves: tasks outside it (done, or not chosen) impose nothing.

        Args:
            task_ids: The selected tasks; each wave keeps their order.

        Returns:
            The waves, as lists of task IDs.
        """
        return _grouped(self._compute_levels(set(task_ids)), task_ids)

    def critical_path(self, durations: Mapping[str, float] | None = None) -> list[str]:
        """The longest chain of pending tasks, each waiting for the one before.

        Args:
            durations: Expected seconds per task ID; 1 for tasks not listed.

        Returns:
            Task IDs in run order (empty when nothing is pending).
        """
        deps = self.effective_deps(self._levels)
        in_file = sorted(deps, key=lambda t: self._tasks[t].line)
        return critical_path(in_file, deps, durations or {}, default=1.0)

    def tracker(self, only: Iterable[str] | None = None) -> ReadyTracker:
        """A ready/done tracker over the pending tasks (or a subset).

        Args:
            only: Task IDs to run; None means every pending task.

        Returns:
            A fresh tracker.
        """
        return ReadyTracker(self, self.to_run if only is None else only)

    # -- running
    def _request(
        self,
        settings: RunSettings | None,
        only: str | Iterable[str] | None,
        from_task: str | None,
        until: str | None,
        resume: str | bool | None,
        takeover: bool,
        callables: Mapping[str, TaskFunction] | None,
        observers: Iterable[Observer],
        profile: str | None,
        overrides: Mapping[str, object],
        start: StartMode,
    ) -> RunRequest:
        return RunRequest(
            self,
            settings,
            only=only,
            from_task=from_task,
            until=until,
            resume=resume,
            takeover=takeover,
            callables=callables,
            observers=observers,
            profile=profile,
            overrides=overrides,
            start=start,
        )

    def run(
        self,
        settings: RunSettings | None = None,
        *,
        only: str | Iterable[str] | None = None,
        from_task: str | None = None,
        until: str | None = None,
        resume: str | bool | None = None,
        takeover: bool = False,
        callables: Mapping[str, TaskFunction] | None = None,
        observers: Iterable[Observer] = (),
        profile: str | None = None,
        **overrides: object,
    ) -> RunHandle:
        """Run the plan's pending tasks and block until the run ends.

        Args:
            settings: A complete :class:`~taskexec_nb.settings.RunSettings`; None (the
                default) works them out from the config file, profile and
                ``TASKEXEC_*`` variables (see :mod:`taskexec_nb.config`).
            only: Task IDs, stories (``US1``) or phases (``phase:3``) to run.
            from_task: Start at this task.
            until: Stop after this task.
            resume: An earlier run to continue, by ID, or ``True`` (or ``"latest"``) for
                this file's newest run: its own selection runs, less what it completed,
                with the settings it was started with (workers, fail_fast, retries,
                resources, timeouts, write-back) unless given again here. A run still
                going, of another file or another mode is refused.
            takeover: With ``resume``: continue a run marked running by a runner on
                another host (which cannot be checked from here) that is gone.
            callables: Python functions by task ID, story or ID pattern.
            observers: Extra event observers.
            profile: Config profile to use (default: the one the plan was loaded with).
            **overrides: Settings to change, e.g. ``max_workers=4``.

        Returns:
            The finished :class:`~taskexec_nb.run.handle.RunHandle`.

        Raises:
            UsageError: For bad settings, selections or resources.
            ValidationError: If the plan has errors (loaded with ``strict=False``).
            KeyboardInterrupt: When interrupted (the run is saved and resumable).
        """
        request = self._request(
            settings,
            only,
            from_task,
            until,
            resume,
            takeover,
            callables,
            observers,
            profile,
            overrides,
            "block",
        )
        return start_run(request)

    async def arun(
        self,
        settings: RunSettings | None = None,
        *,
        only: str | Iterable[str] | None = None,
        from_task: str | None = None,
        until: str | None = None,
        resume: str | bool | None = None,
        takeover: bool = False,
        callables: Mapping[str, TaskFunction] | None = None,
        observers: Iterable[Observer] = (),
        profile: str | None = None,
        **overrides: object,
    ) -> RunHandle:
        """Start the run on the running event loop and return its handle at once.

        Takes the same arguments as :meth:`run`; ``await handle.wait()`` waits for the end
        (cancelling that wait, e.g. a notebook's interrupt, interrupts the run as Ctrl-C
        does :meth:`run`: see :meth:`~taskexec_nb.run.handle.RunHandle.wait`).

        Args:
            settings: As for :meth:`run`.
            only: As for :meth:`run`.
            from_task: As for :meth:`run`.
            until: As for :meth:`run`.
            resume: As for :meth:`run`.
            takeover: As for :meth:`run`.
            callables: As for :meth:`run`.
            observers: As for :meth:`run`.
            profile: As for :meth:`run`.
            **overrides: As for :meth:`run`.

        Returns:
            The running :class:`~taskexec_nb.run.handle.RunHandle`.

        Raises:
            UsageError: For bad settings, selections or resources, or a set-up error.
            ValidationError: If the plan has errors (loaded with ``strict=False``).
        """
        request = self._request(
            settings,
            only,
            from_task,
            until,
            resume,
            takeover,
            callables,
            observers,
            profile,
            overrides,
            "loop",
        )
        return await start_run(request).started()


def _grouped(levels: Mapping[str, int], task_ids: Iterable[str]) -> list[list[str]]:
    """Task IDs grouped by wave number, in the order given."""
    out: list[list[str]] = [[] for _ in range(max(levels.values(), default=-1) + 1)]
    for node in task_ids:
        out[levels[node]].append(node)
    return out
