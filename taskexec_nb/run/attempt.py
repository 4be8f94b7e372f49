"""One attempt of a task: its folder, environment, secrets, log and process control.

The scheduler decides when a task runs and how often; :class:`Attempts` runs
one attempt of it with its executor, and turns what the executor gives back into
the outcome that is recorded (secrets masked, text made printable). A task's
live :class:`TaskState` is here too, with what the tasks' states make of the
run (:func:`final_status`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskexec_nb.agentcmd import AGENT_FLAG_EXAMPLE, AGENT_TOML_EXAMPLE
from taskexec_nb.errors import UsageError
from taskexec_nb.events import EventKind, RunStatus, TaskStatus, printable
from taskexec_nb.executors import AttemptContext, ExecutorRegistry, Outcome, ProcessControl
from taskexec_nb.executors.base import Executor
from taskexec_nb.model import Task
from taskexec_nb.run.selection import listed
from taskexec_nb.secrets import Masker, secret_values
from taskexec_nb.settings import RunSettings

FAILED = (TaskStatus.FAILED, TaskStatus.TIMED_OUT)
"""The statuses of a failed attempt."""


@dataclass
class TaskState:
    """The live state of one task in a run."""

    task_id: str
    status: TaskStatus = TaskStatus.PENDING
    attempt: int = 0
    started: float | None = None
    finished: float | None = None
    waiting_on: str | None = None
    error: str | None = None
    allowed: bool = False  # failed under allow_failure: the run does not fail for it
    exit_code: int | None = None
    log_path: str | None = None
    log_written: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def task_cwd(tasks_dir: Path, settings: RunSettings, task: Task) -> Path:
    """A task's working folder: its ``cwd``, under the run's ``cwd`` or the tasks.md's folder.

    Args:
        tasks_dir: The folder of the tasks.md (resolved).
        settings: The run's settings.
        task: The task, overrides applied.

    Returns:
        The folder (it may not exist yet: an earlier task may create it).
    """
    base = settings.cwd or tasks_dir
    return (base / task.params.cwd) if task.params.cwd else base


class Attempts:
    """Runs single attempts of a run's tasks (see the module docstring).

    Args:
        run_id: The run's ID.
        settings: The run's settings.
        tasks_file: The tasks.md, as the plan names it.
        log_dir: Folder for the run's logs and artifacts.
        registry: The run's executors.
        emit: The scheduler's event emitter: ``emit(kind, task_id, attempt, status, **data)``.
        extra_env: Variables added to every task's environment (the reaper's marker).
        on_process: Called with (task_id, attempt, pgid) when an attempt's process starts.
        on_process_end: Called with the pgid when that process group is gone.
        paused_time: Seconds the run has spent paused so far.
        is_paused: Whether the run is paused now.
    """

    def __init__(
        self,
        *,
        run_id: str,
        settings: RunSettings,
        tasks_file: Path,
        log_dir: Path,
        registry: ExecutorRegistry,
        emit: Callable[..., None],
        extra_env: Mapping[str, str] | None,
        on_process: Callable[[str, int, int], None],
        on_process_end: Callable[[int], None],
        paused_time: Callable[[], float],
        is_paused: Callable[[], bool],
    ) -> None:
        self.run_id = run_id
        self.settings = settings
        self.tasks_file = tasks_file
        self.log_dir = log_dir
        self.registry = registry
        self.emit = emit
        self.on_process = on_process
        self.on_process_end = on_process_end
        self.paused_time = paused_time
        self.is_paused = is_paused
        resolved = tasks_file.resolve()
        self.tasks_dir = resolved.parent
        self._base_masker: Masker | None = None
        self._base_env = {
            **os.environ,
            **settings.env,
            **(extra_env or {}),
            "TASKEXEC_RUN_ID": run_id,
            "TASKEXEC_TASKS_FILE": str(resolved),
        }

    async def run(
        self,
        task: Task,
        executor: Executor,
        attempt: int,
        state: TaskState,
        controls: dict[str, ProcessControl],
        cancelled: Callable[[], bool],
    ) -> Outcome:
        """Run one attempt of a task: its log, environment, process control and outcome.

        An executor's own error (even a SystemExit) is the attempt's failure; secrets
        are masked in the outcome's texts.

        Args:
            task: The task, overrides applied.
            executor: What runs it.
            attempt: The attempt's number (1 for the first).
            state: The task's live state, updated as the attempt starts and ends.
            controls: The running attempts' process controls by task ID; this one's
                is in it while it runs.
            cancelled: Whether the run was cancelled (an attempt then does not start).

        Returns:
            The attempt's outcome.
        """
        control = ProcessControl(
            on_attach=lambda pgid: self.on_process(task.id, attempt, pgid),
            on_detach=self.on_process_end,
        )
        controls[task.id] = control
        log_path = self.log_dir / f"{task.id}.{attempt}.log"
        state.status, state.attempt, state.waiting_on = TaskStatus.RUNNING, attempt, None
        state.log_path = str(log_path)
        self.emit(
            EventKind.TASK_STARTED,
            task.id,
            attempt,
            TaskStatus.RUNNING.value,
            log_path=str(log_path),
            executor=executor.name,
        )
        timeout = task.params.timeout if task.params.timeout is not None else self.settings.timeout
        env = self.env(task, attempt)
        masker = self.masker(task, env)
        ctx = AttemptContext(
            run_id=self.run_id,
            task=task,
            attempt=attempt,
            settings=self.settings,
            tasks_file=self.tasks_file,
            cwd=self.cwd(task),
            env=env,
            timeout=timeout,
            log_path=log_path,
            artifact_dir=self.log_dir,
            control=control,
            on_output=lambda stream, text: self.emit(
                EventKind.TASK_OUTPUT, task.id, attempt, stream=stream, text=text
            ),
            paused_time=self.paused_time,
            is_paused=self.is_paused,
            masker=masker,
        )
        state.log_written = None
        try:
            if cancelled():
                return Outcome(TaskStatus.CANCELLED, error="cancelled")
            outcome = await executor.run(ctx)
            state.log_written = ctx.log_written
            return cleaned(outcome, masker)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # an executor bug, even a SystemExit, is this task's failure
            message = masker.text(f"executor {executor.name!r} failed: {type(exc).__name__}: {exc}")
            return Outcome(TaskStatus.FAILED, error=message, tail=message, stderr_tail=message)
        finally:
            controls.pop(task.id, None)

    def route(self, task: Task) -> tuple[Executor | None, TaskStatus | None, str]:
        """The executor of a task, or what becomes of it without one (the no-action policy).

        Args:
            task: The task, overrides applied.

        Returns:
            The executor (None: none runs it), the task's status when none does
            (None: it runs), and why.
        """
        try:
            executor = self.registry.for_task(task, self.cwd(task))
        except UsageError as exc:
            return None, TaskStatus.FAILED, str(exc)
        if executor is not None:
            return executor, None, ""
        policy = self.settings.effective_no_action
        if policy == "agent":
            return self.registry.get("agent"), None, ""
        if policy == "skip":
            return None, TaskStatus.SKIPPED, "no action (no_action=skip): not run, not done"
        return None, TaskStatus.FAILED, "no action (no_action=fail)"

    def cwd(self, task: Task) -> Path:
        """A task's working folder (see :func:`task_cwd`).

        Args:
            task: The task, overrides applied.

        Returns:
            The folder.
        """
        return task_cwd(self.tasks_dir, self.settings, task)

    def env(self, task: Task, attempt: int) -> dict[str, str]:
        """A task attempt's environment: the run's, the task's own ``env``, its ID and attempt.

        Args:
            task: The task.
            attempt: The attempt's number.

        Returns:
            The variables.
        """
        env = {**self._base_env, **task.params.env}
        env["TASKEXEC_TASK_ID"] = task.id
        env["TASKEXEC_ATTEMPT"] = str(attempt)
        return env

    def masker(self, task: Task, env: Mapping[str, str]) -> Masker:
        """The masker for a task's secrets (shared by tasks without their own variables).

        Args:
            task: The task.
            env: Its attempt's environment.

        Returns:
            The masker.
        """
        if not task.params.env:
            if self._base_masker is None:
                self._base_masker = Masker(secret_values(self._base_env, self.settings.secrets))
            return self._base_masker
        return Masker(secret_values(env, self.settings.secrets))


def written_log(state: TaskState) -> str | None:
    """The attempt's log path if the attempt wrote one (logs start at the first output).

    Args:
        state: The task's live state (its last attempt's log).

    Returns:
        The path, or None.
    """
    if not state.log_path or state.log_written is False:
        return None
    if state.log_written or os.path.exists(state.log_path):
        return state.log_path
    return None


def cleaned(outcome: Outcome, masker: Masker) -> Outcome:
    """The outcome with secrets masked in its texts (output was masked at the source).

    Lone surrogates (an exception naming an undecodable file name) are replaced too:
    the store, the status frame and the reports hold UTF-8.

    Args:
        outcome: The executor's outcome.
        masker: The attempt's secrets.

    Returns:
        The outcome to record.
    """
    error, tail, stderr_tail = outcome.error, outcome.tail, outcome.stderr_tail
    if masker:
        error, tail, stderr_tail = (
            masker.optional(error),
            masker.text(tail),
            masker.text(stderr_tail),
        )
    return Outcome(
        outcome.status,
        outcome.exit_code,
        outcome.signal,
        None if error is None else printable(error),
        printable(tail),
        printable(stderr_tail),
        outcome.artifacts,
    )


def outcome_data(outcome: Outcome) -> dict[str, Any]:
    """An outcome as event data: exit code, signal, error, output tails, artifacts.

    Args:
        outcome: The outcome.

    Returns:
        The data.
    """
    data: dict[str, Any] = {
        "exit_code": outcome.exit_code,
        "signal": outcome.signal,
        "error": outcome.error,
        "tail": outcome.tail,
        "stderr_tail": outcome.stderr_tail,
    }
    if outcome.artifacts:
        data["artifacts"] = dict(outcome.artifacts)
    return data


def allows_failure(task: Task, settings: RunSettings) -> bool:
    """Whether a task's failure leaves the run successful (``allow_failure``).

    Args:
        task: The task, overrides applied (its own ``allow_failure`` wins).
        settings: The run's settings.

    Returns:
        True if its failure is allowed.
    """
    own = task.params.allow_failure
    return settings.allow_failure if own is None else own


def unrun(state: TaskState) -> bool:
    """Skipped because nothing could run it or a prerequisite (no action, no agent).

    Args:
        state: A task's live state.

    Returns:
        True for such a task.
    """
    return state.status is TaskStatus.SKIPPED and (
        "no_action" in state.extra or "unrun" in state.extra
    )


def final_status(
    states: Mapping[str, TaskState], tasks: Mapping[str, Task], settings: RunSettings
) -> RunStatus:
    """The status of a run that was not cancelled, once every task has finished.

    Args:
        states: Each task's live state.
        tasks: The tasks, overrides applied.
        settings: The run's settings.

    Returns:
        ``failed`` for a failure not allowed or a task skipped for it; ``incomplete``
        when tasks were left unrun for want of an action; else ``completed``.
    """

    def counts_as_failure(state: TaskState) -> bool:
        """Whether one task's end makes the run fail.

        Args:
            state: A finished task's live state.

        Returns:
            True for a failed or timed-out task whose failure is not allowed,
            and for a task skipped other than for want of an action (a
            dependency failed); False otherwise.
        """
        if state.status in FAILED:
            return not allows_failure(tasks[state.task_id], settings)
        if state.status is TaskStatus.SKIPPED:
            return not unrun(state)
        return False

    if any(counts_as_failure(s) for s in states.values()):
        return RunStatus.FAILED
    if any(unrun(s) for s in states.values()):
        return RunStatus.INCOMPLETE
    return RunStatus.COMPLETED


def incomplete_note(states: Mapping[str, TaskState], settings: RunSettings) -> str:
    """What an incomplete run left undone, and how to get it done.

    Args:
        states: Each task's live state.
        settings: The run's settings.

    Returns:
        The notice.
    """
    own = [t for t, s in states.items() if "no_action" in s.extra]
    blocked = [t for t, s in states.items() if unrun(s) and t not in own]
    if settings.agent_command:
        why, fix = "no_action=skip", "resume this run with no_action=agent (--no-action agent)"
    else:
        why = "no agent_command is set"
        fix = (
            f"connect an agent ({AGENT_FLAG_EXAMPLE}, or {AGENT_TOML_EXAMPLE} in "
            "taskexec.toml) and resume this run"
        )
    text = f"run incomplete: {listed(own)} not run (no action, and {why})"
    if blocked:
        text += f"; {listed(blocked)} not run (waiting on {'it' if len(own) == 1 else 'them'})"
    return f"{text}. To run {'it' if len(own + blocked) == 1 else 'them'}, {fix}"
