"""Validation: every problem of a tasks.md, collected in one pass before anything runs.

Diagnostic codes (also in the README):

======  ========  ==========================================================
code    severity  meaning
======  ========  ==========================================================
TX001   error     the file cannot be read
TX002   error     the file is not UTF-8
TX003   error     the file has no tasks
TX101   error     duplicate task ID with different pending work (a recap is a mention)
TX102   error     dependency on an unknown task (warning in a dependencies section)
TX103   error     dependency cycle, with its full path
TX104   warning   ``[P]`` tasks of one phase name the same file (they run one at a time)
TX105   warning   tasks with no action (what running does with them is stated)
TX106   warning   fenced block in a language that is not run
TX107   error     bad ``taskexec:`` annotation (unknown key, bad value, unknown executor)
TX108   error     more than one action on one task
TX109   warning   dependency on a cancelled task
TX110   error     a task depends on itself
TX112   error     a dependency range that is reversed or mixes prefixes
TX113   error     a box whose symbol is not read (``[>]``): done or not is unknown
TX114   warning   ``[~]``/``[-]`` boxes cancel tasks and no legend says what they mean
TX115   warning   a re-listing whose box disagrees, or a range line naming no task
======  ========  ==========================================================
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from taskexec_nb.graph import Graph, build_graph, parse_mode
from taskexec_nb.model import ActionKind, DependencyMode, Diagnostic, Severity, Task, TaskState
from taskexec_nb.parse import TaskFile

NO_ACTION_EFFECT = (
    "running hands each one to the no-action policy (setting no_action: 'agent' sends the "
    "task to the configured agent command, 'skip' records it as skipped, 'fail' fails it); "
    "a task is never reported done without running"
)


@dataclass(frozen=True)
class Validation:
    """The outcome of validating a parsed file.

    Attributes:
        taskfile: The parsed file.
        graph: Its dependency graph (usable only when there are no errors).
        diagnostics: Every diagnostic, sorted by line.
        mode: The dependency mode used.
    """

    taskfile: TaskFile
    graph: Graph
    diagnostics: tuple[Diagnostic, ...]
    mode: DependencyMode

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Error-severity diagnostics."""
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """Warning-severity diagnostics."""
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    @property
    def ok(self) -> bool:
        """Whether there is no error."""
        return not self.errors


def validate_taskfile(tf: TaskFile, mode: str | DependencyMode = "template") -> Validation:
    """Run every check on a parsed file.

    Args:
        tf: The parsed file.
        mode: Dependency mode for inference and cycle checks.

    Returns:
        The validation result with every diagnostic.
    """
    dep_mode = parse_mode(mode)
    graph = build_graph(tf, dep_mode)
    found = list(tf.diagnostics) + graph.diagnostics
    found += _same_file_parallel(tf)
    found += _no_action(tf)
    found += _missing_notebooks(tf)
    found += _executors(tf)
    found += _cancelled_deps(tf, graph)
    found.sort(key=lambda d: (d.line or 0, d.code, d.message))
    return Validation(tf, graph, tuple(found), dep_mode)


def _same_file_parallel(tf: TaskFile) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: dict[tuple[int, str], Task] = {}
    for task in tf.tasks:
        if not task.parallel or task.state is not TaskState.PENDING:
            continue
        for path in task.files:
            first = seen.setdefault((task.phase.index, path), task)
            if first is not task:
                out.append(
                    Diagnostic(
                        "TX104",
                        Severity.WARNING,
                        f"{task.id} and {first.id} are both [P] and both name {path}; "
                        "they will run one after the other",
                        tf.path,
                        task.line,
                        f"drop [P] from {task.id} or split the file",
                        task.id,
                    )
                )
                break
    return out


def _no_action(tf: TaskFile) -> list[Diagnostic]:
    bare = [
        t
        for t in tf.tasks
        if t.action.kind is ActionKind.NONE
        and t.state is TaskState.PENDING
        and not t.params.executor  # executor=agent or callable: that executor runs it
    ]
    if not bare:
        return []
    shown = ", ".join(f"{t.id} (line {t.line})" for t in bare[:5])
    more = f" and {len(bare) - 5} more" if len(bare) > 5 else ""
    return [
        Diagnostic(
            "TX105",
            Severity.WARNING,
            f"{len(bare)} task(s) have no action: {shown}{more}; {NO_ACTION_EFFECT}",
            tf.path,
            bare[0].line,
            "add a ```bash or ```python block under a task, or a 'taskexec: run=...' line",
            bare[0].id,
        )
    ]


def _missing_notebooks(tf: TaskFile) -> list[Diagnostic]:
    """TX105 for tasks whose only action is a notebook their description names, not there yet.

    When such a notebook is still missing as the task starts, the task has no
    action (an earlier task may create it). Paths are looked for from the
    tasks.md folder, or the task's ``cwd=`` (the run's ``cwd`` setting is
    not known here).
    """
    from pathlib import Path

    from taskexec_nb.executors.inferred import missing_notebook

    source = Path(tf.path)
    if not source.is_file():
        return []
    out: list[Diagnostic] = []
    for task in tf.tasks:
        if task.state is not TaskState.PENDING:
            continue
        missing = missing_notebook(task, source.parent / (task.params.cwd or "."))
        if missing is None:
            continue
        out.append(
            Diagnostic(
                "TX105",
                Severity.WARNING,
                f"{task.id}: its only action is notebook {missing}, named in its "
                "description, which does not exist yet: unless an earlier task creates it, "
                f"the task has no action when it starts; {NO_ACTION_EFFECT}",
                tf.path,
                task.line,
                "create the notebook first, or write notebook=PATH in its taskexec: line "
                "to make a missing notebook a failure",
                task.id,
            )
        )
    return out


def _executors(tf: TaskFile) -> list[Diagnostic]:
    """An ``executor=`` that names no executor; ``executor=notebook`` with no notebook."""
    named = [t for t in tf.tasks if t.params.executor and t.state is TaskState.PENDING]
    if not named:
        return []
    from taskexec_nb.executors.registry import BUILTIN_NAMES, plugin_names

    known = set(BUILTIN_NAMES)
    if any(t.params.executor not in known for t in named):
        known |= set(plugin_names())
    out: list[Diagnostic] = []
    for task in named:
        name = task.params.executor or ""
        line = task.params.line or task.line
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            out.append(
                Diagnostic(
                    "TX107",
                    Severity.ERROR,
                    f"{task.id}: executor={name} is not an executor here (known: "
                    f"{', '.join(sorted(known))})",
                    tf.path,
                    line,
                    f"did you mean executor={close[0]}?"
                    if close
                    else "install the plugin that provides it, or use a known one",
                    task.id,
                )
            )
        elif name == "notebook" and task.action.kind is not ActionKind.NOTEBOOK:
            out.append(
                Diagnostic(
                    "TX107",
                    Severity.ERROR,
                    f"{task.id}: executor=notebook runs a notebook, and the task names none",
                    tf.path,
                    line,
                    "add notebook=PATH.ipynb to its taskexec: line",
                    task.id,
                )
            )
    return out


def _cancelled_deps(tf: TaskFile, graph: Graph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    index = {t.id: t for t in tf.tasks}
    for task in tf.tasks:
        if task.state is not TaskState.PENDING:
            continue
        for dep in graph.explicit[task.id]:
            if index[dep].state is TaskState.CANCELLED:
                out.append(
                    Diagnostic(
                        "TX109",
                        Severity.WARNING,
                        f"{task.id} depends on {dep}, which is cancelled; "
                        f"{task.id} will not wait for it",
                        tf.path,
                        task.line,
                        f"remove {dep} from the dependencies of {task.id}",
                        task.id,
                    )
                )
    return out
