"""The public entry points: parse, validate and load a tasks.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from taskexec_nb.errors import UsageError, ValidationError
from taskexec_nb.model import DependencyMode
from taskexec_nb.parse import TaskFile, parse_bytes, parse_file, parse_text
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.validate import Validation, validate_taskfile


def parse(path: str | Path) -> TaskFile:
    """Parse a tasks.md without validating dependencies.

    Args:
        path: The tasks.md file.

    Returns:
        The parsed file; problems are in its ``diagnostics``.

    Raises:
        UsageError: If ``path`` is not a path.
    """
    return parse_file(_path(path, "parse"))


def _path(path: Any, function: str) -> str | Path:
    """``path`` if it is a file path; else a :class:`UsageError` saying what was given."""
    if isinstance(path, str | os.PathLike):
        return path  # type: ignore[return-value]
    hint = " (for Markdown text use taskexec_nb.loads)" if isinstance(path, bytes) else ""
    raise UsageError(
        f"{function}(): path must be a file path (str or pathlib.Path), "
        f"got {type(path).__name__} {path!r:.60}{hint}"
    )


def validate(path: str | Path, mode: str | DependencyMode = "template") -> Validation:
    """Parse and validate a tasks.md, collecting every problem.

    Args:
        path: The tasks.md file.
        mode: Dependency mode: ``template``, ``stories`` or ``explicit``.

    Returns:
        The validation result; it never raises for bad file content.

    Raises:
        UsageError: If ``path`` is not a path or the mode is unknown.
    """
    return validate_taskfile(parse_file(_path(path, "validate")), mode)


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
            (:class:`~taskexec_nb.config.ConfigError`), or ``path`` is not a path.
    """
    path = _path(path, "load")
    if mode is None or profile is not None:
        from taskexec_nb.config import resolve

        config = resolve(path, profile=profile)
        mode = mode if mode is not None else config.mode
    plan = _plan(validate(path, mode))
    plan.profile = profile
    return plan


def loads(
    text: str | bytes, mode: str | DependencyMode = "template", path: str = "<string>"
) -> ExecutionPlan:
    """Load tasks.md text (not a file) as an execution plan.

    Args:
        text: The Markdown text (bytes are read as UTF-8, as a file is).
        mode: Dependency mode.
        path: Name used in diagnostics.

    Returns:
        The plan.

    Raises:
        ValidationError: If the text has error-severity diagnostics.
        UsageError: If the mode is unknown, or ``text`` is not text.
    """
    if isinstance(text, bytes):
        return _plan(validate_taskfile(parse_bytes(text, path), mode))
    if not isinstance(text, str):
        raise UsageError(f"loads(): text must be str or bytes, got {type(text).__name__}")
    return _plan(validate_taskfile(parse_text(text, path), mode))
