"""The public entry points: parse, validate and load a tasks.md."""

from __future__ import annotations

from pathlib import Path

from taskexec_nb.errors import ValidationError
from taskexec_nb.model import DependencyMode
from taskexec_nb.parse import TaskFile, parse_file, parse_text
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.validate import Validation, validate_taskfile


def parse(path: str | Path) -> TaskFile:
    """Parse a tasks.md without validating dependencies.

    Args:
        path: The tasks.md file.

    Returns:
        The parsed file; problems are in its ``diagnostics``.
    """
    return parse_file(path)


def validate(path: str | Path, mode: str | DependencyMode = "template") -> Validation:
    """Parse and validate a tasks.md, collecting every problem.

    Args:
        path: The tasks.md file.
        mode: Dependency mode: ``template``, ``stories`` or ``explicit``.

    Returns:
        The validation result; it never raises for bad file content.
    """
    return validate_taskfile(parse_file(path), mode)


def _plan(result: Validation) -> ExecutionPlan:
    if not result.ok:
        raise ValidationError(result.diagnostics)
    return ExecutionPlan(result.taskfile, result.graph, result.mode, result.diagnostics)


def load(
    path: str | Path, mode: str | DependencyMode | None = None, *, profile: str | None = None
) -> ExecutionPlan:
    """Load a tasks.md as an execution plan.

    Args:
        path: The tasks.md file.
        mode: Dependency mode: ``template``, ``stories`` or ``explicit``; None
            takes it from the configuration (default ``template``).
        profile: Config profile for the plan's mode and its runs (see
            :mod:`taskexec_nb.config`).

    Returns:
        The plan; warnings are in ``plan.diagnostics``.

    Raises:
        ValidationError: If the file has error-severity diagnostics (all are listed).
        UsageError: If the mode is unknown, or the configuration is wrong
            (:class:`~taskexec_nb.config.ConfigError`).
    """
    if mode is None or profile is not None:
        from taskexec_nb.config import resolve

        config = resolve(path, profile=profile)
        mode = mode if mode is not None else config.mode
    plan = _plan(validate(path, mode))
    plan.profile = profile
    return plan


def loads(
    text: str, mode: str | DependencyMode = "template", path: str = "<string>"
) -> ExecutionPlan:
    """Load tasks.md text (not a file) as an execution plan.

    Args:
        text: The Markdown text.
        mode: Dependency mode.
        path: Name used in diagnostics.

    Returns:
        The plan.

    Raises:
        ValidationError: If the text has error-severity diagnostics.
        UsageError: If the mode is unknown.
    """
    return _plan(validate_taskfile(parse_text(text, path), mode))
