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
import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from taskexec_nb.graph import Graph, build_graph, parse_mode
from taskexec_nb.model import ActionKind, DependencyMode, Diagnostic, Severity, Task, TaskState
from taskexec_nb.parse import TaskFile

if TYPE_CHECKING:
    import pandas as pd

NO_ACTION_EFFECT = (
    "running hands each one to the no-action policy (setting no_action: 'agent' sends the "
    "task to the configured agent command, 'skip' records it as skipped, 'fail' fails it); "
    "a task is never reported done without running"
)


DIAGNOSTIC_COLUMNS = ["line", "severity", "code", "task_id", "message", "hint", "file"]
SHOWN = 200  # rows a notebook shows of a long list of diagnostics (to_frame() has them all)


class Diagnostics(tuple[Diagnostic, ...]):
    """The diagnostics of a file: a tuple that shows itself as a table.

    In a notebook it is an HTML table (line, severity, code, task, message, hint)
    under a one-line count; its ``repr`` is a count and one line per diagnostic,
    and :meth:`to_frame` gives the table as a DataFrame.
    """

    def __new__(cls, items: Iterable[Diagnostic] = ()) -> Diagnostics:  # noqa: D102
        return super().__new__(cls, items)

    def counts(self) -> str:
        """``2 error(s), 1 warning(s)``: how many of each severity there are.

        Returns:
            The phrase, ``no diagnostics`` when there is none.
        """
        found: dict[str, int] = {}
        for d in self:
            found[d.severity.value] = found.get(d.severity.value, 0) + 1
        return ", ".join(f"{n} {kind}(s)" for kind, n in found.items()) or "no diagnostics"

    def to_frame(self) -> pd.DataFrame:
        """One row per diagnostic, in file order: line, severity, code, task, message, hint.

        Returns:
            The DataFrame (``line`` is ``Int64``: missing for a file-wide problem).
        """
        import pandas as pd

        frame = pd.DataFrame(
            [
                (d.line, d.severity.value, d.code, d.task_id, d.message, d.hint, d.file)
                for d in self
            ],
            columns=DIAGNOSTIC_COLUMNS,
        )
        frame["line"] = frame["line"].astype("Int64")
        return frame

    def __repr__(self) -> str:
        lines = [f"<Diagnostics: {self.counts()}>"]
        lines += [d.format() for d in self[:SHOWN]]
        if len(self) > SHOWN:
            lines.append(f"… {len(self) - SHOWN} more (to_frame() has them all)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return diagnostics_html(self)


def diagnostics_html(diagnostics: Diagnostics, head: str = "Diagnostics") -> str:
    """The diagnostics as an HTML table with a caption that counts them.

    Args:
        diagnostics: The diagnostics.
        head: What the caption calls them.

    Returns:
        A ``table`` (its first :data:`SHOWN` rows), or a line saying there are none.
    """
    caption = html.escape(f"{head}: {diagnostics.counts()}")
    if not diagnostics:
        return f'<p class="taskexec-diagnostics">{caption}</p>'
    heads = ("Line", "Severity", "Code", "Task", "Message", "Hint")
    head_row = "".join(f'<th scope="col">{h}</th>' for h in heads)
    rows = []
    for d in diagnostics[:SHOWN]:
        cells = (d.line, d.severity.value, d.code, d.task_id, d.message, d.hint)
        rows.append(
            "<tr>"
            + "".join(f"<td>{html.escape('' if c is None else str(c))}</td>" for c in cells)
            + "</tr>"
        )
    more = (
        f"<p>… {len(diagnostics) - SHOWN} more (to_frame() has them all)</p>"
        if len(diagnostics) > SHOWN
        else ""
    )
    return (
        f'<table class="taskexec-diagnostics"><caption>{caption}</caption>'
        f"<thead><tr>{head_row}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"
    )


@dataclass(frozen=True, repr=False)
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

    def to_frame(self) -> pd.DataFrame:
        """The diagnostics as a DataFrame (see :meth:`Diagnostics.to_frame`).

        Returns:
            One row per diagnostic, in file order.
        """
        return Diagnostics(self.diagnostics).to_frame()

    def __repr__(self) -> str:
        state = "valid" if self.ok else "not valid"
        shown = repr(Diagnostics(self.diagnostics)).split("\n", 1)
        rest = f"\n{shown[1]}" if len(shown) > 1 else ""
        return (
            f"<Validation of {self.taskfile.path}: {len(self.taskfile.tasks)} task(s), "
            f"mode {self.mode.value}, {state}; {Diagnostics(self.diagnostics).counts()}>{rest}"
        )

    def _repr_html_(self) -> str:
        state = "valid" if self.ok else "not valid: it cannot run until the errors are fixed"
        return (
            f'<div class="taskexec-validation"><p><strong>{html.escape(self.taskfile.path)}'
            f"</strong>: {len(self.taskfile.tasks)} task(s), mode {self.mode.value}, {state}</p>"
            + diagnostics_html(Diagnostics(self.diagnostics))
            + "</div>"
        )


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
    return Validation(tf, graph, Diagnostics(found), dep_mode)


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
            "add a ```bash or ```python block under a task, or a line 'taskexec: run=...' "
            "under it (as a nested item or an indented line)",
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
