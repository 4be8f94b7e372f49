"""Executors: one protocol, a registry of built-ins, then entry-point plugins.

Third-party packages add executors through the ``taskexec_nb.executors``
entry-point group: each entry point names a class (or factory) that returns an
object with a ``name`` and an ``async run(ctx) -> Outcome`` method.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points

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

    def for_task(self, task: Task) -> Executor | None:
        """The executor for a task, or None when it has no action (the policy decides)."""
        if task.params.executor:
            return self.get(task.params.executor)
        if self.callables.registered(task) is not None:
            return self.callables  # a function registered for the task wins over the file
        name = _BY_KIND.get(task.action.kind)
        return self.get(name) if name else None


__all__ = [
    "ENTRY_POINT_GROUP",
    "AttemptContext",
    "Executor",
    "ExecutorRegistry",
    "Outcome",
    "ProcessControl",
    "TaskFunction",
]
