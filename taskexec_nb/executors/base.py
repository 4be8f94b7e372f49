"""The executor protocol: what every backend receives and returns.

A task that fails is a *result* (:class:`Outcome` with a failed status); an
error around the task (a bad agent template, a missing notebook) is also
reported as a failed outcome with the message, so one task never stops a run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from taskexec_nb.events import TaskStatus
from taskexec_nb.executors.control import ProcessControl
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


def executor_option(ctx: AttemptContext, executor: str, name: str, default: Any) -> Any:
    """One option of an executor from the run's ``executors`` setting.

    Args:
        ctx: The attempt.
        executor: The executor's name.
        name: The option.
        default: What it is when the setting leaves it out.

    Returns:
        The option's value.
    """
    return ctx.settings.executors.get(executor, {}).get(name, default)


@runtime_checkable
class Executor(Protocol):
    """A backend that runs one attempt of a task.

    The built-ins also say which options of the ``executors`` setting they take
    (``options``) and which kinds of action they run (``kinds``); a plugin
    needs neither.
    """

    name: str

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Run one attempt and return its outcome (never raise for a task failure).

        Args:
            ctx: The attempt: its task, settings, working directory, log and the
                control to stop it.

        Returns:
            The attempt's status, error and output tails.
        """
        ...
