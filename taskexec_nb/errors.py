"""The exception hierarchy: one root, specific subclasses with structured fields.

A task that fails is a *result*; these exceptions are for errors *around* tasks:
a file that cannot be read, a tasks.md that does not validate, a bad argument,
a run that cannot start now. Every message names the file, line or setting at
fault, so the CLI and the notebook magics can show the message instead of a
traceback; the structured subclasses also carry what a UI needs to act on the
error (which run is in the way, which resource is short)::

    TaskexecError
    ├── ValidationError          a tasks.md with error diagnostics
    ├── StoreError               the state store cannot be opened or read
    ├── AnnotationError          a bad ``taskexec:`` annotation (also a ValueError)
    ├── RunFailedError           a run did not complete where it had to (the report notebook)
    ├── NotebookError            a notebook run through papermill stopped at a cell's error
    └── UsageError               a bad argument, or a run that cannot start now
        ├── ConfigError          a config file, profile, variable or argument
        ├── ReportError          a report that cannot be made
        ├── RunInProgressError   a live run already runs some of the same tasks
        │   └── ResumeRunningError   (a resume of a run whose runner is alive)
        ├── ResumeError          a run that cannot be resumed
        │   └── ResumeRunningError
        ├── ResourceError        tasks need more of a resource than the run has
        ├── AgentNotConfiguredError  agent tasks without a usable agent_command
        └── KernelNotFoundError  notebook tasks whose Jupyter kernel is not installed

The runtime conflicts are subclasses of :class:`UsageError`, so code that
catches ``UsageError`` (and the CLI, which exits 2 on it) treats them as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from taskexec_nb.model import Diagnostic
    from taskexec_nb.plan import ExecutionPlan


class TaskexecError(Exception):
    """Root of every error raised on purpose by taskexec_nb."""


class ValidationError(TaskexecError):
    """A tasks.md has error-severity diagnostics, so its plan cannot run.

    Attributes:
        diagnostics: Every diagnostic found (errors and warnings), in file order.
        plan: The plan of every task that could be read, for showing next to its
            problems (it refuses to run); None when no task could be read.
    """

    def __init__(
        self,
        diagnostics: Sequence[Diagnostic],
        plan: ExecutionPlan | None = None,
        head: str | None = None,
    ) -> None:
        """Build the error.

        Args:
            diagnostics: Every diagnostic found (errors and warnings).
            plan: The partial plan (see :attr:`plan`).
            head: The message's first line (default: how many errors the file has).
        """
        self.diagnostics = tuple(diagnostics)
        self.plan = plan
        errors = [d for d in self.diagnostics if d.is_error]
        lines = [d.format() for d in errors]
        head = head or f"{len(errors)} error(s) in tasks file"
        super().__init__(head + ":\n" + "\n".join(lines) if lines else head)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The error-severity diagnostics only."""
        return tuple(d for d in self.diagnostics if d.is_error)


class UsageError(TaskexecError):
    """A caller passed an invalid argument (unknown mode, unknown task ID, ...)."""


class ConfigError(UsageError):
    """A config file, profile, environment variable or argument is wrong."""


class ReportError(UsageError):
    """A report cannot be made (no such run, no store, bad format)."""


class StoreError(TaskexecError):
    """The state store cannot be opened or read."""


class AnnotationError(TaskexecError, ValueError):
    """A bad ``taskexec:`` annotation or annotation value; carries a hint for the diagnostic.

    It is also a :class:`ValueError`, as a bad value is.

    Attributes:
        hint: How to fix it, shown under the diagnostic (None: no hint).
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        """Build the error.

        Args:
            message: What is wrong.
            hint: How to fix it.
        """
        super().__init__(message)
        self.hint = hint


class RunInProgressError(UsageError):
    """A live run of the same tasks.md already runs some of the tasks a start would run.

    Raised when a run starts (or resumes) while another runner on this machine,
    recorded in the same state folder or in another one, runs any of its tasks.

    Attributes:
        run_id: The live run.
        pid: Its runner's process ID (None when not recorded).
        host: The host its runner runs on (None when not recorded).
        tasks_file: The tasks.md it runs.
        state_dir: Where it records (None: the same state folder as this run).
        tasks: The task IDs both runs would run (empty when not known).
    """

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        pid: int | None,
        host: str | None = None,
        tasks_file: str | None = None,
        state_dir: str | None = None,
        tasks: Sequence[str] = (),
    ) -> None:
        """Build the error.

        Args:
            message: The message, naming the run and what to do.
            run_id: See :attr:`run_id`.
            pid: See :attr:`pid`.
            host: See :attr:`host`.
            tasks_file: See :attr:`tasks_file`.
            state_dir: See :attr:`state_dir`.
            tasks: See :attr:`tasks`.
        """
        super().__init__(message)
        self.run_id = run_id
        self.pid = pid
        self.host = host
        self.tasks_file = tasks_file
        self.state_dir = state_dir
        self.tasks = tuple(tasks)


ResumeReason = Literal["no_run", "other_file", "other_mode", "running", "other_host"]
"""Why a run cannot be resumed: no such run (or no store), a run of another
tasks.md, of another dependency mode, a run whose runner is still alive, or a run
marked running on another host (resumable with ``takeover``)."""


class ResumeError(UsageError):
    """A run cannot be resumed; :attr:`reason` says why.

    Attributes:
        reason: One of :data:`ResumeReason`.
        run_id: The run asked for (None when there is no run to name).
        tasks_file: The tasks.md being run.
        pid: The run's runner (``running``, ``other_host``; else None).
        host: The host of the run's runner (``running``, ``other_host``; else None).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: ResumeReason,
        run_id: str | None = None,
        tasks_file: str | None = None,
        pid: int | None = None,
        host: str | None = None,
    ) -> None:
        """Build the error.

        Args:
            message: The message, naming the run and what to do.
            reason: See :attr:`reason`.
            run_id: See :attr:`run_id`.
            tasks_file: See :attr:`tasks_file`.
            pid: See :attr:`pid`.
            host: See :attr:`host`.
        """
        UsageError.__init__(self, message)
        self.reason: ResumeReason = reason
        self.run_id = run_id
        self.tasks_file = tasks_file
        self.pid = pid
        self.host = host


class ResumeRunningError(ResumeError, RunInProgressError):
    """A resume of a run whose runner is still alive: both a resume refusal and a live run.

    Attributes:
        run_id: The run (still running).
        pid: Its runner's process ID.
        host: Its runner's host (None when not recorded).
        tasks_file: The tasks.md it runs.
        reason: Always ``"running"``.
    """

    run_id: str

    def __init__(
        self,
        message: str,
        *,
        run_id: str,
        pid: int | None,
        host: str | None = None,
        tasks_file: str | None = None,
    ) -> None:
        """Build the error.

        Args:
            message: The message, naming the run and how to stop it.
            run_id: See :attr:`run_id`.
            pid: See :attr:`pid`.
            host: See :attr:`host`.
            tasks_file: See :attr:`tasks_file`.
        """
        ResumeError.__init__(
            self,
            message,
            reason="running",
            run_id=run_id,
            tasks_file=tasks_file,
            pid=pid,
            host=host,
        )
        self.state_dir = None
        self.tasks = ()


@dataclass(frozen=True)
class ResourceShortfall:
    """One task that needs more of a resource than the run has.

    Attributes:
        task_id: The task.
        name: The resource, e.g. ``gpu``.
        needed: What the task needs of it.
        available: What the run has of it (0 when the run does not have it).
        where: ``file:line`` of the task's ``needs=``.
    """

    task_id: str
    name: str
    needed: float
    available: float
    where: str


class ResourceError(UsageError):
    """Tasks need more of a resource than the run has, so they could never start.

    Attributes:
        shortfalls: Each task and resource that is short, in run order.
    """

    def __init__(self, message: str, shortfalls: Sequence[ResourceShortfall]) -> None:
        """Build the error.

        Args:
            message: The message, one line per shortfall.
            shortfalls: See :attr:`shortfalls` (at least one).
        """
        super().__init__(message)
        self.shortfalls = tuple(shortfalls)

    @property
    def name(self) -> str:
        """The first short resource's name."""
        return self.shortfalls[0].name

    @property
    def needed(self) -> float:
        """What the first short task needs of it."""
        return self.shortfalls[0].needed

    @property
    def available(self) -> float:
        """What the run has of it."""
        return self.shortfalls[0].available


class AgentNotConfiguredError(UsageError):
    """Tasks go to the AI coding agent, but no usable ``agent_command`` is set.

    Attributes:
        tasks: The task IDs that would go to the agent.
        program: The configured program that is not found (None: no agent_command is set).
    """

    def __init__(self, message: str, *, tasks: Sequence[str], program: str | None = None) -> None:
        """Build the error.

        Args:
            message: The message, naming the tasks and the fix.
            tasks: See :attr:`tasks`.
            program: See :attr:`program`.
        """
        super().__init__(message)
        self.tasks = tuple(tasks)
        self.program = program


class KernelNotFoundError(UsageError):
    """Notebook tasks would run with a Jupyter kernel that is not installed here.

    Attributes:
        kernel: The kernel's name.
        tasks: The task IDs whose notebooks would run with it.
        installed: The kernels installed here.
        configured: Whether ``executors.notebook.kernel`` names it (else the notebook does).
    """

    def __init__(
        self,
        message: str,
        *,
        kernel: str,
        tasks: Sequence[str],
        installed: Sequence[str],
        configured: bool,
    ) -> None:
        """Build the error.

        Args:
            message: The message, naming the kernel, the tasks and the fix.
            kernel: See :attr:`kernel`.
            tasks: See :attr:`tasks`.
            installed: See :attr:`installed`.
            configured: See :attr:`configured`.
        """
        super().__init__(message)
        self.kernel = kernel
        self.tasks = tuple(tasks)
        self.installed = tuple(installed)
        self.configured = configured


class RunFailedError(TaskexecError):
    """A run did not complete where a completed run was required.

    The report notebook (``taskexec notebook``) ends with this error when its run
    did not complete, after rendering the report, so a batch job fails.

    Attributes:
        run_id: The run.
        status: Its status (``failed``, ``incomplete``, ``interrupted``...).
        tasks: The tasks that did not complete (failed, timed out, skipped, not started).
    """

    def __init__(self, message: str, *, run_id: str, status: str, tasks: Sequence[str]) -> None:
        """Build the error.

        Args:
            message: The message, naming the run, its status and its failed tasks.
            run_id: See :attr:`run_id`.
            status: See :attr:`status`.
            tasks: See :attr:`tasks`.
        """
        super().__init__(message)
        self.run_id = run_id
        self.status = status
        self.tasks = tuple(tasks)


class NotebookError(TaskexecError):
    """A notebook run through papermill stopped at a cell's error.

    The executed notebook is written all the same, with the outputs up to the
    error and the error in the cell that raised it.

    Attributes:
        output: The executed notebook's path.
        cell: The index (from 0) of the code cell that raised, None if not known.
        ename: The error's class name in the kernel (e.g. ``RunFailedError``).
        evalue: The error's message.
    """

    def __init__(
        self, message: str, *, output: str, cell: int | None, ename: str, evalue: str
    ) -> None:
        """Build the error.

        Args:
            message: The message, naming the cell, the error and the executed notebook.
            output: See :attr:`output`.
            cell: See :attr:`cell`.
            ename: See :attr:`ename`.
            evalue: See :attr:`evalue`.
        """
        super().__init__(message)
        self.output = output
        self.cell = cell
        self.ename = ename
        self.evalue = evalue
