"""The exception hierarchy: one root, specific subclasses with structured fields.

A task that fails is a *result*; these exceptions are for errors *around* tasks:
a file that cannot be read, a tasks.md that does not validate, a bad argument.
Every message names the file, line or setting at fault, so the CLI and the
notebook magics can show the message instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

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
