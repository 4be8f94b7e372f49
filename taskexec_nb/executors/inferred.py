"""The notebook a task runs only because its description names it, and whether it is there.

Apart from the notebook executor, so that ``taskexec validate`` (TX105) can look
for it without importing the executors and asyncio.
"""

from __future__ import annotations

from pathlib import Path

from taskexec_nb.model import ActionKind, Task


def inferred_notebook(task: Task) -> str | None:
    """The notebook a task runs only because its description names it.

    ``Run notebooks/eda.ipynb`` makes a notebook task without a ``notebook=``
    line; such an action has no line of its own (an explicit one has).

    Args:
        task: The task.

    Returns:
        The notebook's path as written, or None (no notebook, or an explicit one).
    """
    action = task.action
    if action.kind is ActionKind.NOTEBOOK and action.line is None and action.target:
        return action.target
    return None


def missing_notebook(task: Task, cwd: Path) -> Path | None:
    """A notebook named only in the description that does not exist in ``cwd``.

    Prose such as "Create notebooks/eda.ipynb" names a notebook the task makes;
    when it is not there as the task starts, the task is one without an action
    (the no-action policy decides), not a notebook task that fails. An explicit
    ``notebook=``, or ``executor=notebook``, still fails when it is missing.

    Args:
        task: The task.
        cwd: Its working folder.

    Returns:
        The path looked for, or None (it exists, or the notebook is explicit).
    """
    target = inferred_notebook(task)
    if target is None or task.params.executor:
        return None
    path = cwd / target
    return None if path.is_file() else path
