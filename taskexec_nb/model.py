"""Plain data: tasks, phases, actions, execution parameters and diagnostics.

Everything here is a frozen dataclass or an enum, with no I/O, so the parser,
the validator, the planner and (later) the scheduler can share it freely.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from taskexec_nb.paths import files_in


class Severity(str, enum.Enum):
    """How serious a diagnostic is: only errors stop a run."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class TaskState(str, enum.Enum):
    """The state a task has in the tasks.md file itself (its checkbox)."""

    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class TaskForm(str, enum.Enum):
    """How a task was written in the file."""

    CHECKBOX = "checkbox"
    HEADING = "heading"
    TABLE = "table"


class ActionKind(str, enum.Enum):
    """What running a task does."""

    SHELL = "shell"
    PYTHON = "python"
    NOTEBOOK = "notebook"
    COMMAND = "command"
    CALLABLE = "callable"
    AGENT = "agent"
    NONE = "none"


class DependencyMode(str, enum.Enum):
    """How dependencies are inferred on top of the explicit ones.

    ``template``: phases in order; within a phase, file order, with runs of
    consecutive ``[P]`` tasks together. ``stories``: like template, but the
    user-story phases run in parallel once the phases before them are done.
    ``explicit``: only the dependencies written in the file.
    """

    TEMPLATE = "template"
    STORIES = "stories"
    EXPLICIT = "explicit"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in a tasks.md, compiler style.

    Attributes:
        code: Stable identifier such as ``TX102``; documented in the README.
        severity: Error, warning or info.
        message: What is wrong, in one sentence.
        file: The file the problem is in.
        line: 1-based line, or None when the problem concerns the whole file.
        hint: How to fix it, or None.
        task_id: The task concerned, when there is one.
    """

    code: str
    severity: Severity
    message: str
    file: str
    line: int | None = None
    hint: str | None = None
    task_id: str | None = None

    @property
    def is_error(self) -> bool:
        """Whether this diagnostic stops a run."""
        return self.severity is Severity.ERROR

    def format(self) -> str:
        """Render as ``file:line: severity CODE: message`` plus an indented hint.

        Returns:
            The diagnostic as one or two lines of text.
        """
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        text = f"{where}: {self.severity.value} {self.code}: {self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready mapping of the fields.

        Returns:
            The code, severity (its value), message, file, line, hint and task ID.
        """
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "hint": self.hint,
            "task_id": self.task_id,
        }


@dataclass(frozen=True, slots=True)
class Phase:
    """A phase heading (``## Phase 3: User Story 1 ...``) or the implicit no-phase group.

    Attributes:
        index: 0-based order of appearance among the file's phases.
        number: The number as written (``"3"``, ``"3.1"``), or None.
        title: The heading text after the number, or the whole heading.
        heading: The full heading text.
        line: 1-based line of the heading, or None for the implicit group.
        kind: ``setup``, ``foundational``, ``story``, ``polish`` or ``other``.
        story: The user story a story phase belongs to (``US1``), or None.
    """

    index: int
    number: str | None
    title: str
    heading: str
    line: int | None
    kind: str = "other"
    story: str | None = None

    @property
    def label(self) -> str:
        """A short label such as ``Phase 3: User Story 1``."""
        if self.number is None:
            return self.title
        return f"Phase {self.number}: {self.title}" if self.title else f"Phase {self.number}"


@dataclass(frozen=True, slots=True)
class Action:
    """What executing a task runs.

    Attributes:
        kind: The executor family.
        code: Source of a fenced block, or the command line of ``run=``.
        language: The fence language as written (``bash``), when from a fence.
        target: Notebook path, callable reference or executor name, when relevant.
        line: 1-based line where the action is declared.
    """

    kind: ActionKind
    code: str | None = None
    language: str | None = None
    target: str | None = None
    line: int | None = None


NO_ACTION = Action(ActionKind.NONE)


@dataclass(frozen=True, slots=True)
class ExecParams:
    """Execution parameters from ``taskexec:`` annotations; None means "not set here".

    Attributes:
        timeout: Seconds before the task is stopped.
        retries: Extra attempts after a failure.
        backoff: Seconds to wait before the first retry (doubling after).
        resources: Named resource amounts the task holds while running.
        env: Environment variables for the task.
        cwd: Working directory, relative to the tasks.md folder unless absolute.
        allow_failure: Whether a failure leaves dependents free to run.
        params: Notebook parameters (``param.NAME=value``).
        executor: Executor name chosen explicitly.
        line: First annotation line, for diagnostics.
    """

    timeout: float | None = None
    retries: int | None = None
    backoff: float | None = None
    resources: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: str | None = None
    allow_failure: bool | None = None
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    executor: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, object]:
        """Return the parameters that are set, as a plain dict.

        Returns:
            The parameters that are not None (tables: not empty), by name; tables
            as plain dicts.
        """
        out: dict[str, object] = {}
        for name in ("timeout", "retries", "backoff", "cwd", "allow_failure", "executor"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        for name in ("resources", "env", "params"):
            value = getattr(self, name)
            if value:
                out[name] = dict(value)
        return out


@dataclass(frozen=True, slots=True)
class DepRef:
    """One dependency written in the file, before range expansion.

    Attributes:
        start: First task ID (or the only one).
        end: Last task ID of a range (``T002-T005``), or None.
        line: 1-based line where it is written.
        source: ``inline`` (task line), ``body``, ``heading`` or ``section``.
    """

    start: str
    end: str | None
    line: int
    source: str


@dataclass(frozen=True, slots=True)
class Task:
    """One task of a tasks.md, as written.

    Attributes:
        id: The ID as written (``T001``, ``T007a``, ``T-C001``).
        description: The task text without checkbox, ID and tags.
        state: Pending, done (checked) or cancelled (struck out).
        form: Checkbox item, heading or table row.
        parallel: Whether ``[P]`` marks it.
        stories: Story tags in order (``US1``); the first is its story.
        tags: Other bracketed tags (``CRITICAL``).
        phase: The phase the task is in.
        section: Nearest heading above the task.
        line: 1-based first line.
        end_line: 1-based last line of the task (body included).
        checked: The checkbox as written (None where the form has none).
        body: Lines after the first, as written (sub-bullets, label lines, fences).
        deps: Dependencies written on the task, in its body or on its heading.
        action: What running it does.
        params: Execution parameters from annotations.
        raw: The task's first line, as written.
        box_line: 1-based line of the task's box, where a success is ticked (the first
            line for a checkbox item, ``| [ ] | T004 |`` or ``### [ ] T005``); None
            where the task has no box to tick.
    """

    id: str
    description: str
    state: TaskState
    form: TaskForm
    parallel: bool
    stories: tuple[str, ...]
    tags: tuple[str, ...]
    phase: Phase
    section: str | None
    line: int
    end_line: int
    checked: bool | None
    body: str
    deps: tuple[DepRef, ...]
    action: Action
    params: ExecParams
    raw: str
    box_line: int | None = None
    _files: tuple[str, ...] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def files(self) -> tuple[str, ...]:
        """File paths the description names (found on first use, then kept)."""
        if self._files is None:
            object.__setattr__(self, "_files", files_in(self.description))
        assert self._files is not None
        return self._files

    @property
    def story(self) -> str | None:
        """The first story tag, or None."""
        return self.stories[0] if self.stories else None

    @property
    def done(self) -> bool:
        """Whether the file marks the task as done."""
        return self.state is TaskState.DONE

    @property
    def cancelled(self) -> bool:
        """Whether the file marks the task as cancelled (struck out)."""
        return self.state is TaskState.CANCELLED
