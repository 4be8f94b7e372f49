"""Pre-flight: the tasks a run starts with, and the checks made before anything runs.

:class:`Preflight` works out what a start or resume runs (the selection given,
a resumed run's own less what it completed, or every pending task) and refuses,
before anything runs, what would fail anyway: resources the run does not have,
agent tasks without a usable ``agent_command``, a notebook's missing kernel.
Overrides from the configuration are applied to the tasks here, once
(:func:`resolve_tasks`); the scheduler runs the tasks as resolved here.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from taskexec_nb.agentcmd import AGENT_FLAG_EXAMPLE, AGENT_TOML_EXAMPLE
from taskexec_nb.config import resolve_task
from taskexec_nb.errors import (
    AgentNotConfiguredError,
    KernelNotFoundError,
    ResourceError,
    ResourceShortfall,
    UsageError,
)
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors import ExecutorRegistry, missing_notebook, notebook_fallback
from taskexec_nb.executors.base import Executor
from taskexec_nb.executors.notebook import DEFAULT_KERNEL, installed_kernels, notebook_kernelspec
from taskexec_nb.model import Task, TaskForm, TaskState
from taskexec_nb.run.attempt import task_cwd
from taskexec_nb.run.resume import task_hash
from taskexec_nb.run.selection import listed, select_tasks
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import RunRecord, TaskRecord

if TYPE_CHECKING:
    from taskexec_nb.plan import ExecutionPlan


def resolve_tasks(
    plan: ExecutionPlan, task_ids: Sequence[str], settings: RunSettings
) -> dict[str, Task]:
    """The tasks as they run: the configuration's overrides applied under each one's own.

    The one place a run applies ``[[overrides]]``: the pre-flight checks and the
    scheduler use what this returns.

    Args:
        plan: The plan.
        task_ids: The tasks, in run order.
        settings: The run's settings (their ``overrides``).

    Returns:
        Each task by ID, in the order given.

    Raises:
        UsageError: For a task ID not in the plan.
    """
    return {t: resolve_task(plan[t], settings).task for t in task_ids}


def check_resources(tasks_file: str, tasks: Mapping[str, Task], settings: RunSettings) -> None:
    """Refuse a run whose tasks need more of a resource than exists.

    Args:
        tasks_file: The tasks.md, as errors name it.
        tasks: The selected tasks by ID, overrides applied (:func:`resolve_tasks`).
        settings: The run's settings (its ``resources``).

    Raises:
        ResourceError: Naming each task, the resource, what it needs and what exists.
    """
    problems = []
    shortfalls = []
    for task_id, task in tasks.items():
        for name, amount in task.params.resources.items():
            have = settings.resources.get(name, 0)
            if amount > have:
                where = f"{tasks_file}:{task.params.line or task.line}"
                shortfalls.append(ResourceShortfall(task_id, name, amount, have, where))
                problems.append(
                    f"{where}: {task_id} needs {name}={amount:g} but the run has "
                    f"{name}={have:g} (set resources: --resource {name}={amount:g}, "
                    f"or resources={{{name!r}: {amount:g}}})"
                )
    if problems:
        raise ResourceError(
            "tasks need resources the run does not have:\n" + "\n".join(problems), shortfalls
        )


_FORM_WORDS = {
    TaskForm.CHECKBOX: "list items with [P] in the box's place",
    TaskForm.HEADING: "headings",
    TaskForm.TABLE: "table rows",
}
"""How a notice names tasks written in a form without a box."""


class Choice(NamedTuple):
    """What a start or resume runs, worked out before anything runs."""

    selection: list[str]
    tasks: dict[str, Task]  # the selection's tasks, overrides applied
    attempts_before: dict[str, int]
    to_tick: list[str]
    notices: list[str]
    removed: list[str]  # a resumed run's tasks no longer in the file
    left_out: dict[str, str]  # its tasks not run again, with why


class Preflight:
    """Works out the tasks a run starts with and refuses, up front, what would fail.

    Args:
        plan: The plan.
        settings: The run's settings.
        registry: The run's executors.
        run_id: The run's ID (notices about a resumed run name it).
    """

    def __init__(
        self, plan: ExecutionPlan, settings: RunSettings, registry: ExecutorRegistry, run_id: str
    ) -> None:
        self.plan = plan
        self.settings = settings
        self.registry = registry
        self.run_id = run_id

    def choose(
        self,
        requested: Sequence[str] | None,
        run: RunRecord | None,
        previous: Mapping[str, TaskRecord],
    ) -> Choice:
        """The tasks to run: the selection given, a resumed run's own, or every pending one.

        A resumed run leaves out what it completed (unless the task changed since).

        Args:
            requested: The selection given (None: the resumed run's own, or every
                pending task).
            run: The resumed run's row in the store (None for a new run).
            previous: The resumed run's task records.

        Returns:
            The choice, with the notices a start gives.

        Raises:
            UsageError: For tasks needing resources the run does not have, agent tasks
                without a usable agent_command, or a notebook's missing kernel.
        """
        notices: list[str] = []
        removed: list[str] = []
        left_out: dict[str, str] = {}
        if requested is not None:
            selection = list(requested)
        elif run is not None:
            selection = self._stored_selection(run, previous, notices, removed, left_out)
        else:
            selection = select_tasks(self.plan)
        resolved = resolve_tasks(self.plan, selection, self.settings)
        check_resources(self.plan.path, resolved, self.settings)
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
        effective = {t: resolved[t] for t in selection}
        routes = self._routes(effective)
        self._check_agent(effective, routes)
        tasks_dir = Path(self.plan.path).resolve().parent
        self._check_kernels(effective, routes, tasks_dir)
        unmade = []  # notebook tasks whose notebook, named in prose, does not exist yet
        for task_id, task in effective.items():
            folder = task_cwd(tasks_dir, self.settings, task)
            missing = missing_notebook(task, folder)
            if missing is not None and routes.get(task_id) is self.registry.get("notebook"):
                unmade.append(task_id)
                policy = self.settings.effective_no_action
                notices.append(notebook_fallback(task, missing, policy, starting=False))
            if (task.params.cwd or self.settings.cwd) and not folder.is_dir():
                what = "is not a folder" if folder.exists() else "does not exist (yet)"
                notices.append(
                    f"{task_id}: its working folder {folder} {what}: unless an earlier task "
                    "makes it one, the task fails"
                )
        # First: such a notebook task, unless an earlier task makes it, has no action either.
        notices[:0] = self._agent_hint(routes, unmade)
        headings = [t for t in selection if self.plan[t].box_line is None]
        if headings and self.settings.writeback:
            forms = sorted({self.plan[t].form for t in headings}, key=list(TaskForm).index)
            written = " and ".join(_FORM_WORDS[f] for f in forms)
            notices.append(
                f"{listed(headings)}: written as {written}, not checkboxes, in "
                f"{self.plan.path}, so nothing is ticked for them: their results are in the "
                "state store, and a new run of the file (not a resume) runs them again"
            )
        return Choice(selection, effective, attempts_before, to_tick, notices, removed, left_out)

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
            f"{listed(waiting)} run{'s' if one else ''} without waiting for "
            f"{'its' if one else 'their'} prerequisite{'s' if len(missing) > 1 else ''} "
            f"{listed(sorted(missing, key=position.__getitem__))}, neither selected nor "
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

    def _agent_hint(
        self, routes: Mapping[str, Executor | None], unmade: Sequence[str] = ()
    ) -> list[str]:
        """How to connect an agent, when tasks have no action and no agent_command is set.

        Args:
            routes: Each selected task's executor (None: it has no action).
            unmade: Notebook tasks whose notebook, named only in their description,
                does not exist yet (no action as they start, unless a task makes it).

        Returns:
            One notice, or none.
        """
        bare = [t for t, executor in routes.items() if executor is None or t in unmade]
        if not bare or self.settings.agent_command:
            return []
        policy = self.settings.effective_no_action
        one = len(bare) == 1
        if policy in ("fail", "agent"):  # agent: handed to an agent_command that is not set
            fate = "it fails" if one else "they fail"
        else:
            fate = f"{'it is' if one else 'they are'} skipped, not done, and the run is incomplete"
        return [
            f"{listed(bare)} {'has' if one else 'have'} no action and no agent is connected: "
            f"{fate} (no_action={policy}). To hand such tasks to an AI coding agent, set "
            f"agent_command: {AGENT_FLAG_EXAMPLE}, or {AGENT_TOML_EXAMPLE} in taskexec.toml "
            "(plan.run(agent_command=[...]) in Python)"
        ]

    def _check_agent(
        self, tasks: Mapping[str, Task], routes: Mapping[str, Executor | None]
    ) -> None:
        """Refuse, before anything runs, agent tasks without a usable ``agent_command``.

        Raises:
            AgentNotConfiguredError: If tasks go to the agent and no agent_command is
                set, or its program is not found.
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
                why.append(f"{listed(chosen)} set executor=agent")
            if by_policy:
                have = "has" if len(by_policy) == 1 else "have"
                why.append(f"{listed(by_policy)} {have} no action and no_action=agent")
            fix = (
                f"set one, e.g. {AGENT_FLAG_EXAMPLE}, or {AGENT_TOML_EXAMPLE} in taskexec.toml "
                "(plan.run(agent_command=[...]) in Python)"
            )
            if by_policy:
                fix += ", or give the tasks without an action no_action=skip"
            raise AgentNotConfiguredError(
                f"no agent_command is set, but {'; '.join(why)}: {fix}", tasks=chosen + by_policy
            )
        program = command[0]
        env_path = {**os.environ, **self.settings.env}.get("PATH", os.defpath)
        if "{" not in program and shutil.which(program, path=env_path) is None:
            where = "is not an executable file" if os.sep in program else "is not on PATH"
            raise AgentNotConfiguredError(
                f"agent_command: {program!r} {where}, and {listed(chosen + by_policy)} would "
                "go to the agent: install it, or give agent_command the program's full path",
                tasks=chosen + by_policy,
                program=program,
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
            KernelNotFoundError: Naming the kernel, the tasks and the kernels installed here.
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
                raise KernelNotFoundError(
                    f"executors.notebook.kernel names Jupyter kernel {kernel!r}, which is not "
                    f"installed here (kernels here: {here}), and {listed(task_ids)} would run "
                    "with it: install it, or name one of those",
                    kernel=kernel,
                    tasks=task_ids,
                    installed=installed,
                    configured=True,
                )
            raise KernelNotFoundError(
                f"the notebook of {listed(task_ids)} names Jupyter kernel {kernel!r}, which is "
                f"not installed here (kernels here: {here}): install it, or set "
                "executors.notebook.kernel to one of those",
                kernel=kernel,
                tasks=task_ids,
                installed=installed,
                configured=False,
            )

    def _stored_selection(
        self,
        run: RunRecord,
        previous: Mapping[str, TaskRecord],
        notices: list[str],
        removed: list[str],
        left_out: dict[str, str],
    ) -> list[str]:
        """A resumed run's own selection, less tasks gone from the file or done by hand."""
        stored = json.loads(run.selection or "[]")
        removed += [t for t in stored if t not in self.plan]
        if removed:
            notices.append(
                f"run {self.run_id} selected {', '.join(removed)}, no longer in "
                f"{self.plan.path}: left out of the run"
            )
        new = [t for t in self.plan.to_run if t not in set(stored)]
        if new:
            notices.append(
                f"{listed(new)}: pending in {self.plan.path} but not part of run {self.run_id}; "
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
