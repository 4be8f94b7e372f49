"""The executors that run a task's own code as a process.

``sh``/``bash`` blocks and ``run=`` command lines (shell), ``python`` blocks (python).
"""

from __future__ import annotations

import shutil
import sys
from typing import ClassVar

from taskexec_nb.executors.base import AttemptContext, Outcome, executor_option
from taskexec_nb.executors.process import run_process
from taskexec_nb.model import ActionKind


def _shell_for(language: str | None, default: str) -> list[str]:
    if language == "bash":
        bash = shutil.which("bash")
        if bash:
            return [bash, "--noprofile", "--norc", "-e", "-o", "pipefail"]
    return [default, "-e"]


class ShellExecutor:
    """Runs a fenced ``sh``/``bash`` block (``-e``: stop at the first failing command).

    A ``run=`` command line runs through the configured shell with ``-c``.
    """

    name = "shell"
    options: ClassVar[tuple[str, ...]] = ()
    """Options it takes from the ``executors`` setting."""
    kinds: ClassVar[tuple[ActionKind, ...]] = (ActionKind.SHELL, ActionKind.COMMAND)
    """The actions it runs when a task names no executor."""

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Run the task's shell code or command.

        A ``run=`` command line runs with the configured shell's ``-c``; a fenced
        block is written to a script in the artifacts folder and run with ``-e``, by
        bash for a ``bash`` block (when there is one) and else by the configured shell.

        Args:
            ctx: The attempt; its settings name the shell, and a fenced block's script
                goes to its artifacts folder.

        Returns:
            The shell process's outcome: completed on exit status 0, else failed (or
            timed out, or cancelled).
        """
        action = ctx.task.action
        if action.kind is ActionKind.COMMAND:
            return await run_process(ctx, [ctx.settings.shell, "-c", action.code or ""])
        script = ctx.artifact_dir / f"{ctx.task.id}.attempt{ctx.attempt}.sh"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(action.code or "", encoding="utf-8")
        return await run_process(
            ctx, [*_shell_for(action.language, ctx.settings.shell), str(script)]
        )


class PythonExecutor:
    """Runs a fenced ``python`` block in a subprocess of this interpreter."""

    name = "python"
    options: ClassVar[tuple[str, ...]] = ("interpreter",)
    """Options it takes from the ``executors`` setting."""
    kinds: ClassVar[tuple[ActionKind, ...]] = (ActionKind.PYTHON,)
    """The actions it runs when a task names no executor."""

    async def run(self, ctx: AttemptContext) -> Outcome:
        """Run the task's Python code.

        The code is written to a script in the artifacts folder and run by the
        configured ``interpreter`` (this Python by default).

        Args:
            ctx: The attempt; the ``interpreter`` option comes from its settings'
                ``executors`` table.

        Returns:
            The interpreter process's outcome: completed on exit status 0, else failed
            (an uncaught exception's traceback is in the stderr tail).
        """
        script = ctx.artifact_dir / f"{ctx.task.id}.attempt{ctx.attempt}.py"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(ctx.task.action.code or "", encoding="utf-8")
        interpreter = str(executor_option(ctx, self.name, "interpreter", sys.executable))
        return await run_process(ctx, [interpreter, "-u", "-c", _RUN_SCRIPT, str(script)])


_RUN_SCRIPT = "import runpy, sys; sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"
"""Runs a block's script as ``python -c`` would run its code: the working folder
(not the log folder the script is saved in) comes first on ``sys.path``, so the
project's own modules import."""
