"""The graphlib-style ready/done protocol a scheduler drives over a plan's selected tasks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from taskexec_nb.errors import UsageError

if TYPE_CHECKING:
    from taskexec_nb.plan import ExecutionPlan


class ReadyTracker:
    """The graphlib-style protocol the scheduler drives: get_ready / done / is_active.

    Tasks outside the selection, and tasks the file marks done or cancelled,
    count as finished, but the order through them holds. A failed task's
    dependents (transitively) are skipped.
    """

    def __init__(self, plan: ExecutionPlan, selected: Iterable[str]) -> None:
        chosen = set(selected)
        for task_id in chosen:
            plan[task_id]
        #: What each selected task waits for: see :meth:`ExecutionPlan.effective_deps`.
        self.deps = plan.effective_deps(chosen)
        self._dependents: dict[str, list[str]] = {task_id: [] for task_id in self.deps}
        for task_id, deps in self.deps.items():
            for dep in deps:
                self._dependents[dep].append(task_id)
        self._waiting = {task_id: len(deps) for task_id, deps in self.deps.items()}
        self._ready = [t for t, n in self._waiting.items() if n == 0]
        self._active: set[str] = set()
        self.skipped: dict[str, str] = {}

    def get_ready(self) -> tuple[str, ...]:
        """Return the tasks that became ready since the last call (in run order).

        Returns:
            The IDs of the tasks whose prerequisites have all finished, now counted as
            running; empty when none became ready.
        """
        ready, self._ready = self._ready, []
        self._active.update(ready)
        return tuple(ready)

    def done(self, task_id: str, ok: bool = True) -> list[str]:
        """Record a finished task.

        Args:
            task_id: A task returned by :meth:`get_ready`.
            ok: False if it failed; its dependents are then skipped.

        Returns:
            The tasks skipped because of this failure (empty when ok).

        Raises:
            UsageError: If the task was not handed out by :meth:`get_ready`.
        """
        if task_id not in self._active:
            raise UsageError(f"{task_id} is not running, so it cannot be done")
        self._active.discard(task_id)
        self._waiting.pop(task_id, None)
        if not ok:
            return self._skip_dependents(task_id)
        for nxt in self._dependents[task_id]:
            if nxt in self._waiting and nxt not in self.skipped:
                self._waiting[nxt] -= 1
                if self._waiting[nxt] == 0:
                    self._ready.append(nxt)
        return []

    def _skip_dependents(self, failed: str) -> list[str]:
        out: list[str] = []
        todo = [failed]
        while todo:
            for nxt in self._dependents[todo.pop()]:
                if nxt in self._waiting and nxt not in self.skipped:
                    self.skipped[nxt] = failed
                    self._waiting.pop(nxt)
                    out.append(nxt)
                    todo.append(nxt)
        return out

    def is_active(self) -> bool:
        """Whether anything is ready, running or still waiting.

        Returns:
            False once every selected task has finished or been skipped.
        """
        return bool(self._ready or self._active or self._waiting)
