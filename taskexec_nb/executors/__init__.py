"""Executors: one protocol, a registry of built-ins, then entry-point plugins.

Third-party packages add executors through the ``taskexec_nb.executors``
entry-point group: each entry point names a class (or factory) that returns an
object with a ``name`` and an ``async run(ctx) -> Outcome`` method.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path

from taskexec_nb.errors import UsageError
from taskexec_nb.executors.base import AttemptContext, Executor, Outcome, ProcessControl
from taskexec_nb.executors.builtin import (
    AgentExecutor,
    CallableExecutor,
    NotebookExecutor,
    PythonExecutor,
    ShellExecutor,
    TaskFunction,
)
from taskexec_nb.model import ActionKind, Task

ENTRY_POINT_GROUP = "taskexec_nb.executors"

_BY_KIND = {
    ActionKind.SHELL: "shell",
    ActionKind.COMMAND: "shell",
    ActionKind.PYTHON: "python",
    ActionKind.NOTEBOOK: "notebook",
    ActionKind.CALLABLE: "callable",
    ActionKind.AGENT: "agent",
}


class ExecutorRegistry:
    """Executors by name: the built-ins first, then the entry-point group's."""

    def __init__(self, callables: Mapping[str, TaskFunction] | None = None) -> None:
        self.callables = CallableExecutor(callables)
        self._executors: dict[str, Executor] = {
            "shell": ShellExecutor(),
            "python": PythonExecutor(),
            "notebook": NotebookExecutor(),
            "agent": AgentExecutor(),
            "callable": self.callables,
        }
        self._plugins_loaded = False

    def _load_plugins(self) -> None:
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._executors:
                continue  # built-ins win; a plugin cannot replace them silently
            factory: Callable[[], Executor] = ep.load()
            self._executors[ep.name] = factory()

    def register(self, name: str, executor: Executor) -> None:
        """Add or replace an executor under ``name``."""
        self._executors[name] = executor

    def names(self) -> list[str]:
        """Every executor name (plugins included)."""
        self._load_plugins()
        return sorted(self._executors)

    def get(self, name: str) -> Executor:
        """The executor called ``name``.

        Raises:
            UsageError: For an unknown name, with the closest known one.
        """
        if name not in self._executors:
            self._load_plugins()
        try:
            return self._executors[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(self.names())
            raise UsageError(f"unknown executor {name!r}{hint}; known: {known}") from None

    def for_task(self, task: Task, cwd: Path | None = None) -> Executor | None:
        """The executor for a task, or None when it has no action (the policy decides).

        Args:
            task: The task.
            cwd: The task's working folder as its attempt starts; given, a
                notebook only the description names (no ``notebook=``) that is
                not there makes the task one without an action
                (:func:`missing_notebook`).

        Returns:
            The executor, or None.

        Raises:
            UsageError: For an ``executor=`` no executor here has.
        """
        if task.params.executor:
            return self.get(task.params.executor)
        if self.callables.registered(task) is not None:
            return self.callables  # a function registered for the task wins over the file
        if cwd is not None and missing_notebook(task, cwd) is not None:
            return None
        name = _BY_KIND.get(task.action.kind)
        return self.get(name) if name else None


def inferred_notebook(task: Task) -> str | None:
    """The notebook a task runs only because its description names it.

    ``Run notebooks/eda.ipynb`` makes a notebook task without a ``notebook=``
    line; such an action has no line of its own (an explicit one has).

    Args:
        task: The task.

    Returns:
        The notebook's path as written, or None (no notebook, or an explicit one).
    """
    action = task.action
    if action.kind is ActionKind.NOTEBOOK and action.line is None and action.target:
        return action.target
    return None


def missing_notebook(task: Task, cwd: Path) -> Path | None:
    """A notebook named only in the description that does not exist in ``cwd``.

    Prose such as "Create notebooks/eda.ipynb" names a notebook the task makes;
    when it is not there as the task starts, the task is one without an action
    (the no-action policy decides), not a notebook task that fails. An explicit
    ``notebook=``, or ``executor=notebook``, still fails when it is missing.

    Args:
        task: The task.
        cwd: Its working folder.

    Returns:
        The path looked for, or None (it exists, or the notebook is explicit).
    """
    target = inferred_notebook(task)
    if target is None or task.params.executor:
        return None
    path = cwd / target
    return None if path.is_file() else path


_POLICY_EFFECT = {
    "agent": "hands it to the agent",
    "skip": "skips it (not done)",
    "fail": "fails it",
}


def notebook_fallback(task: Task, path: Path, policy: str, *, starting: bool = True) -> str:
    """The notice for a task whose notebook, named only in its description, is missing.

    Args:
        task: The task.
        path: The notebook looked for (:func:`missing_notebook`).
        policy: The effective ``no_action`` policy.
        starting: Whether the task starts now (else the run is about to start,
            and an earlier task may still create the notebook).

    Returns:
        One line naming the task, the path and what happens.
    """
    effect = _POLICY_EFFECT.get(policy, policy)
    if starting:
        what = f"does not exist, so the task has no action: no_action={policy} {effect}"
    else:
        what = (
            "does not exist yet: unless an earlier task creates it, the task has no "
            f"action when it starts, and no_action={policy} {effect}"
        )
    return (
        f"{task.id}: notebook {path} (named in its description) {what}; write "
        f"notebook={inferred_notebook(task)} in its taskexec: line to make a missing "
        "notebook a failure"
    )


__all__ = [
    "ENTRY_POINT_GROUP",
    "AttemptContext",
    "Executor",
    "ExecutorRegistry",
    "Outcome",
    "ProcessControl",
    "TaskFunction",
    "inferred_notebook",
    "missing_notebook",
    "notebook_fallback",
]
