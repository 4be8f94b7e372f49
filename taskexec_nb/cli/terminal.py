"""The terminal view of a run: a live line on a TTY, plain lines otherwise.

It is an observer of the event stream. Events only update its
:class:`~taskexec_nb.run.live.RunModel` (output lines are not taken in: the view
shows none); on a TTY a :class:`~taskexec_nb.run.batching.Ticker` thread redraws
the status line from the model's snapshot at a fixed rate, so rendering never slows
the run. Failures, retries and notices are printed as permanent lines as they happen.
The end-of-run summary counts the final statuses the view kept as events came: it
never reads the model, so a plain (non-TTY) run's model, which nothing else reads,
never takes its events in (the model only queues them until read).
"""

from __future__ import annotations

import os
import threading
import time
from typing import TextIO

from taskexec_nb.events import Event, EventKind, RunStatus, TaskFinished, TaskStatus
from taskexec_nb.run.batching import Ticker
from taskexec_nb.run.live import RunModel
from taskexec_nb.run.rows import RunSnapshot

_MARK = {
    TaskStatus.COMPLETED.value: "ok",
    TaskStatus.FAILED.value: "FAILED",
    TaskStatus.TIMED_OUT.value: "TIMED OUT",
    TaskStatus.SKIPPED.value: "skipped",
    TaskStatus.CANCELLED.value: "cancelled",
}
_ALLOWED = ":allowed"  # suffix of the count key of a failure under allow_failure
_FINAL = frozenset(s.value for s in TaskStatus if s.finished)
# The status a task event sets when it carries none (as the model's rows read it).
_TASK_STATUS = {
    EventKind.TASK_QUEUED: TaskStatus.QUEUED.value,
    EventKind.TASK_STARTED: TaskStatus.RUNNING.value,
    EventKind.TASK_RETRYING: TaskStatus.QUEUED.value,
    EventKind.TASK_FINISHED: None,
}


def _mark(key: str) -> str:
    """How a count key reads: ``failed:allowed`` is ``failed (allowed)``."""
    if key.endswith(_ALLOWED):
        return key[: -len(_ALLOWED)].replace("_", " ") + " (allowed)"
    return _MARK.get(key, key)


class TerminalView:
    """Progress of a run on a terminal.

    Args:
        stream: Where to write (usually stderr or stdout).
        total: Number of tasks in the run.
        live: Redraw a status line in place (default: when ``stream`` is a TTY).
        verbose: Also print a line when a task starts or succeeds.
        rate: Redraws per second in live mode.

    Attributes:
        model: The run's tasks as this view has seen its events (what the
            status line and the summary are drawn from).
    """

    def __init__(
        self,
        stream: TextIO,
        total: int,
        live: bool | None = None,
        verbose: bool = False,
        rate: float = 10.0,
    ) -> None:
        self.stream = stream
        self.total = total
        self.live = stream.isatty() if live is None else live
        self.verbose = verbose or not self.live
        self.interval = 1.0 / rate
        self.model = RunModel()
        self._lock = threading.Lock()
        self._ticker = Ticker(self._redraw, self.interval, name="taskexec-terminal")
        self._line_len = 0
        # Each task's latest (status, allowed), as the model's row has them: the summary.
        self._statuses: dict[str, tuple[str | None, bool]] = {}

    def __call__(self, event: Event) -> None:
        """Observer entry point."""
        kind = event.kind
        if kind is EventKind.TASK_OUTPUT:
            return
        lines: list[str] = []
        with self._lock:
            self.model(event)
            if event.task_id is not None and kind in _TASK_STATUS:
                self._track(event, event.task_id)
            if kind is EventKind.RUN_STARTED:
                self.total = int(event.data.get("tasks", self.total))
                lines.append(f"run {event.run_id}: {self.total} task(s)")
                if self.live:
                    self._ticker.start()
            elif kind is EventKind.TASK_STARTED and event.task_id:
                if self.verbose:
                    lines.append(f"  {'start':<9} {event.task_id} (attempt {event.attempt})")
            elif kind is EventKind.TASK_RETRYING and event.task_id:
                delay = event.data.get("delay", 0)
                lines.append(
                    f"  {'retry':<9} {event.task_id} after attempt {event.attempt}: "
                    f"{event.data.get('error')} (next in {delay:g} s)"
                )
            elif kind is EventKind.TASK_FINISHED and event.task_id and event.status:
                if self.verbose or event.status != TaskStatus.COMPLETED.value:
                    lines.append(self._finished_line(event))
            elif kind is EventKind.RUN_PAUSED:
                lines.append("paused")
            elif kind is EventKind.RUN_RESUMED:
                lines.append("resumed")
            elif kind is EventKind.NOTICE:
                note = event.data.get("warning") or event.data.get("error")
                info = event.data.get("info")
                lines.append(f"  {'note':<9} {note}" if note else f"  {info}")
            elif kind is EventKind.RUN_FINISHED:
                self._ticker.halt()
                lines.append(f"run {event.run_id} {event.status}: {self.summary()}")
            self._print(lines)
        if kind is EventKind.RUN_FINISHED:
            self._ticker.stop()

    def _track(self, event: Event, task_id: str) -> None:
        """Keep a task's status and allowed flag as the model's row sets them."""
        status, allowed = self._statuses.get(task_id, (None, False))
        data = event.data
        if isinstance(data, TaskFinished):
            status, allowed = event.status or status, bool(data.allowed)
        else:
            status = event.status or _TASK_STATUS[event.kind]
        self._statuses[task_id] = (status, allowed)

    def _finished_line(self, event: Event) -> str:
        status = event.status or ""
        mark = _mark(status + (_ALLOWED if event.data.get("allowed") else ""))
        text = f"  {mark:<9} {event.task_id}"
        detail = event.data.get("error") or event.data.get("reason")
        if detail and status != TaskStatus.COMPLETED.value:
            text += f": {detail}"
        log = event.data.get("log_path")
        if status in (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value):
            tail = (event.data.get("stderr_tail") or event.data.get("tail") or "").splitlines()
            if tail != [detail]:  # not the error said again
                text += "".join(f"\n            | {line}" for line in tail[-5:])
            if log:
                text += f"\n            log: {log}"
        return text

    def summary(self, snapshot: RunSnapshot | None = None) -> str:
        """Counts by status, e.g. ``7/8 finished: 7 ok, 1 FAILED``.

        Args:
            snapshot: Draw from this snapshot of :attr:`model` (default: the
                statuses this view kept from the events so far, the same counts
                without taking the events into the model).

        Returns:
            How many tasks finished out of the run's total, with the count of each
            status.
        """
        rows: list[tuple[str | None, bool]]
        if snapshot is not None:
            rows = [(row.status, row.allowed) for row in snapshot.tasks]
        else:
            rows = list(self._statuses.values())
        counts: dict[str, int] = {}
        for status, allowed in rows:
            if status in _FINAL:
                key = (status or "") + (_ALLOWED if allowed else "")
                counts[key] = counts.get(key, 0) + 1
        done = sum(counts.values())
        parts = [f"{n} {_mark(s)}" for s, n in sorted(counts.items())]
        return f"{done}/{self.total} finished" + (": " + ", ".join(parts) if parts else "")

    def status_line(self) -> str:
        """The live line: progress, running tasks and how long they have run.

        Returns:
            The line, cut with ``...`` to fit the terminal's width.
        """
        now = time.time()
        snap = self.model.snapshot()
        began = {(a.task_id, a.attempt): a.start for a in snap.attempts}
        # Each running (or suspended) task since its latest attempt's start, first first.
        running = sorted(
            (
                (row.id, began.get((row.id, row.attempt)) or 0.0)
                for row in snap.tasks
                if row.status in (TaskStatus.RUNNING.value, TaskStatus.PAUSED.value)
            ),
            key=lambda kv: kv[1],
        )
        shown = ", ".join(f"{tid} {now - t0:.0f}s" for tid, t0 in running[:4])
        more = f" +{len(running) - 4}" if len(running) > 4 else ""
        state = " [paused]" if snap.status == RunStatus.PAUSED.value else ""
        line = f"{self.summary(snap)}{state} | running: {shown or '-'}{more}"
        width = self.width() - 1  # never the last column: some terminals wrap there
        return line if len(line) <= width else line[: max(0, width - 3)] + "..."

    def width(self) -> int:
        """Columns of the terminal (``$COLUMNS``, else the stream's, else 80).

        Returns:
            The width in columns, at least 20.
        """
        try:
            return max(20, int(os.environ["COLUMNS"]))
        except (KeyError, ValueError):
            pass
        try:
            return max(20, os.get_terminal_size(self.stream.fileno()).columns)
        except (AttributeError, OSError, ValueError):
            return 80

    def _print(self, lines: list[str]) -> None:
        if not lines:
            return
        if self.live and self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self._line_len = 0
        for line in lines:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _redraw(self) -> None:
        with self._lock:
            if self._ticker.stopped:  # the run's last line is out: no status line after it
                return
            line = self.status_line()
            pad = max(0, self._line_len - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self._line_len = len(line)
