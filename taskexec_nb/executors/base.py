"""The executor protocol: what every backend receives and returns.

A task that fails is a *result* (:class:`Outcome` with a failed status); an
error around the task (a bad agent template, a missing notebook) is also
reported as a failed outcome with the message, so one task never stops a run.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from taskexec_nb._procfs import signal_attempt
from taskexec_nb.events import TaskStatus
from taskexec_nb.model import Task
from taskexec_nb.secrets import Masker
from taskexec_nb.settings import RunSettings


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt.

    Attributes:
        status: COMPLETED, FAILED, TIMED_OUT or CANCELLED.
        exit_code: The process exit code, when there was a process that exited.
        signal: The signal that ended the process, if one did.
        error: A one-line summary of what went wrong.
        tail: The last lines of output (stdout and stderr interleaved).
        stderr_tail: The last lines of stderr.
        artifacts: Named files the attempt produced (e.g. ``notebook``).
    """

    status: TaskStatus
    exit_code: int | None = None
    signal: int | None = None
    error: str | None = None
    tail: str = ""
    stderr_tail: str = ""
    artifacts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class ProcessControl:
    """The process group of a running attempt, for pause, resume and stop.

    Executors that start a process call :meth:`attach`; the scheduler calls
    :meth:`suspend`, :meth:`resume` and :meth:`stop`.
    """

    def __init__(
        self,
        on_attach: Callable[[int], None] | None = None,
        on_detach: Callable[[int], None] | None = None,
    ) -> None:
        self.pgid: int | None = None
        self.active = False
        self.cancelled = False
        self.suspended = False
        self._suspended_since = 0.0
        self._suspended_total = 0.0
        self._on_attach = on_attach
        self._on_detach = on_detach
        self.stop_requested = asyncio.Event()
        self._on_stop: list[Callable[[], None]] = []
        #: The attempt's environment, whose marks find its processes outside the group
        #: (a session of their own, as a notebook's kernel): they are paused with it.
        self.marks: Mapping[str, str] | None = None

    def attach(self, pgid: int) -> None:
        """Record the process group of the attempt's process."""
        self.pgid = pgid
        self.active = True
        if self._on_attach:
            self._on_attach(pgid)

    def detach(self) -> None:
        """Forget the process group once its leader has exited."""
        if self.pgid is not None and self._on_detach:
            self._on_detach(self.pgid)
        self.active = False  # the number may be reused: no more signals to it

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the whole process group; False if it is gone."""
        if self.pgid is None or not self.active:
            return False
        try:
            os.killpg(self.pgid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def suspend(self) -> None:
        """Stop (SIGSTOP) the process group, and the attempt's processes outside it."""
        if not self.suspended and self.signal(signal.SIGSTOP):
            self._signal_marked(signal.SIGSTOP)
            self.suspended = True
            self._suspended_since = time.monotonic()

    def resume(self) -> None:
        """Continue (SIGCONT) the process group, and the attempt's processes outside it."""
        if self.suspended:
            self.signal(signal.SIGCONT)
            self._signal_marked(signal.SIGCONT)
            self.suspended = False
            self._suspended_total += time.monotonic() - self._suspended_since

    def _signal_marked(self, sig: int) -> None:
        if self.marks is not None:
            signal_attempt(self.marks, sig)

    def suspended_time(self) -> float:
        """Seconds the process group has spent suspended (not counted in its timeout)."""
        extra = time.monotonic() - self._suspended_since if self.suspended else 0.0
        return self._suspended_total + extra

    def cancel(self) -> None:
        """Ask the attempt to end; the executor stops its process group."""
        self.cancelled = True
        self.stop_requested.set()
        for callback in list(self._on_stop):
            callback()

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` (on the loop's thread) when a stop is requested.

        Returns:
            A function that removes the callback again.
        """
        self._on_stop.append(callback)

        def remove() -> None:
            if callback in self._on_stop:
                self._on_stop.remove(callback)

        return remove


@dataclass
class AttemptContext:
    """Everything an executor needs for one attempt.

    Attributes:
        run_id: The run.
        task: The task.
        attempt: 1-based attempt number.
        settings: The run's settings.
        tasks_file: The tasks.md being run.
        cwd: Working directory for the task.
        env: Complete environment for the task's process.
        timeout: Seconds the attempt may take (None: no limit).
        log_path: This attempt's log file.
        artifact_dir: Folder for files this attempt produces.
        control: Process control shared with the scheduler.
        on_output: Called with (stream, text) for each chunk of output.
        paused_time: Seconds the run has spent paused so far (a process's timeout
            leaves out only the time it was suspended: ``control.suspended_time()``).
        is_paused: Whether the run is paused now.
        masker: Hides secret values in what the attempt writes or reports
            (the process output is masked before it reaches the log).
        log_written: Set by an executor that knows whether it wrote the log file
            (None: the scheduler looks for the file).
    """

    run_id: str
    task: Task
    attempt: int
    settings: RunSettings
    tasks_file: Path
    cwd: Path
    env: dict[str, str]
    timeout: float | None
    log_path: Path
    artifact_dir: Path
    control: ProcessControl
    on_output: Callable[[str, str], None]
    paused_time: Callable[[], float] = lambda: 0.0
    is_paused: Callable[[], bool] = lambda: False
    masker: Masker = field(default_factory=Masker)
    log_written: bool | None = None


@runtime_checkable
class Executor(Protocol):
    """A backend that runs one attempt of a task."""

    name: str

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Run one attempt and return its outcome (never raise for a task failure)."""
        ...
