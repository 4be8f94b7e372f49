"""Ticks of completed tasks, written together: one write per short window, and at the end.

A run's scheduler hands :class:`PendingTicks` the tasks whose finishes the state
store has made durable; their boxes are ticked in tasks.md by one
:meth:`~taskexec_nb.run.writeback.CheckboxWriter.tick_many` (one read, one check,
one atomic replace) once the oldest has waited :data:`TICK_WINDOW`, and at the
run's end. Rewriting the whole file once per task made write-back quadratic in
the file's size; now a run writes the file at most once per window, and a write
is followed by at least :data:`WRITE_SHARE` times its own duration without one,
so writing the file never takes more than a small share of the run.

A runner killed before the write leaves those boxes unticked, but their finishes
are in the store: a resume ticks every task the store says completed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from taskexec_nb.events import EventKind
from taskexec_nb.model import Task
from taskexec_nb.run.writeback import CheckboxWriter

TICK_WINDOW = 0.2
"""Seconds a durable finish may wait for its tick, to be written with the ones after it."""

WRITE_SHARE = 20
"""After a write, the next waits at least this many times as long as the write took."""


class PendingTicks:
    """The boxes of completed tasks not written yet, and when to write them.

    Args:
        writer: The run's checkbox writer.
        emit: The scheduler's event emitter: ``task_ticked`` for each box ticked, a
            notice for one left (once per reason; the writer's summary tells the rest).
        poke: Wakes the scheduler's loop when a write comes due (:meth:`due`).
        window: Seconds the oldest tick waits before the write (0: at the next turn of
            the loop).
    """

    def __init__(
        self,
        writer: CheckboxWriter,
        emit: Callable[..., None],
        poke: Callable[[], None] = lambda: None,
        window: float = TICK_WINDOW,
    ) -> None:
        self.writer = writer
        self.emit = emit
        self.window = window
        self._poke = poke
        self._tasks: list[Task] = []
        self._since: float | None = None
        self._gap = window

    def __len__(self) -> int:
        return len(self._tasks)

    def add(self, tasks: Iterable[Task]) -> None:
        """Queue the boxes of tasks whose finishes are durable (call on the run's loop).

        Args:
            tasks: Completed tasks; those without a box (headings) have nothing to tick.
        """
        boxed = [task for task in tasks if task.box_line is not None]
        if not boxed:
            return
        self._tasks.extend(boxed)
        if self._since is None:
            loop = asyncio.get_running_loop()
            self._since = loop.time()
            loop.call_later(self._gap, self._poke)

    def due(self) -> bool:
        """Whether the oldest queued tick has waited its window.

        Returns:
            True when :meth:`flush` should write now.
        """
        if self._since is None:
            return False
        return asyncio.get_running_loop().time() - self._since >= self._gap

    def flush(self) -> None:
        """Tick every queued box in one write, and report each tick or why it was left."""
        tasks, self._tasks, self._since = self._tasks, [], None
        if not tasks:
            return
        start = time.perf_counter()
        results = self.writer.tick_many([(t.id, t.box_line or 0, t.line) for t in tasks])
        self._gap = max(self.window, WRITE_SHARE * (time.perf_counter() - start))
        for task, why in zip(tasks, results, strict=True):
            if why is None:
                self.emit(EventKind.TASK_TICKED, task.id)
            elif not self.writer.quiet(task.id):  # the run's end sums up the rest
                self.emit(EventKind.NOTICE, task.id, warning=why)
