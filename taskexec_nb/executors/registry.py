"""Executors by name: the built-ins first, then the ``taskexec_nb.executors`` entry points.

The built-in executors are listed once, in :data:`BUILTINS`; their names, the
options each takes (:data:`EXECUTOR_OPTIONS`) and the executor for each kind
of action come from the classes themselves.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from taskexec_nb.errors import UsageError
from taskexec_nb.executors.agent import AgentExecutor
from taskexec_nb.executors.base import Executor
from taskexec_nb.executors.callables import CallableExecutor, TaskFunction
from taskexec_nb.executors.inferred import missing_notebook
from taskexec_nb.executors.notebook import NotebookExecutor
from taskexec_nb.executors.shell import PythonExecutor, ShellExecutor
from taskexec_nb.model import Task

ENTRY_POINT_GROUP = "taskexec_nb.executors"

BUILTINS = (ShellExecutor, PythonExecutor, NotebookExecutor, AgentExecutor, CallableExecutor)
"""The executors every installation has, in the order messages list them."""

BUILTIN_NAMES: tuple[str, ...] = tuple(executor.name for executor in BUILTINS)
"""Their names (plugins add more through entry points)."""

EXECUTOR_OPTIONS: dict[str, tuple[str, ...]] = {
    executor.name: executor.options for executor in BUILTINS
}
"""Options the built-in executors take from the ``executors`` setting."""

_BY_KIND = {kind: executor.name for executor in BUILTINS for kind in executor.kinds}


def entry_points(*, group: str) -> Any:
    """The installed entry points of ``group`` (``importlib.metadata``, imported here).

    Reading the installed packages' metadata is slow to import and to scan, and a
    run whose tasks use only the built-in executors never needs it.

    Args:
        group: The entry-point group.

    Returns:
        Its entry points.
    """
    from importlib.metadata import entry_points as installed

    return installed(group=group)


class ExecutorRegistry:
    """Executors by name: the built-ins first, then the entry-point group's."""

    def __init__(self, callables: Mapping[str, TaskFunction] | None = None) -> None:
        self.callables = CallableExecutor(callables)
        self._executors: dict[str, Executor] = {
            executor.name: self.callables if executor is CallableExecutor else executor()
            for executor in BUILTINS
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
        """Add or replace an executor under ``name``.

        Args:
            name: The name tasks use (``executor=NAME``).
            executor: The executor.
        """
        self._executors[name] = executor

    def names(self) -> list[str]:
        """Every executor name (plugins included).

        Returns:
            The names, sorted.
        """
        self._load_plugins()
        return sorted(self._executors)

    def get(self, name: str) -> Executor:
        """The executor called ``name``.

        Args:
            name: The executor's name.

        Returns:
            The executor.

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
                (:func:`~taskexec_nb.executors.inferred.missing_notebook`).

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


def plugin_names() -> list[str]:
    """The names the ``taskexec_nb.executors`` entry points give (not loaded).

    Returns:
        The names, sorted, without repeats.
    """
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
