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


def _plan(result: Validation, strict: bool = True) -> ExecutionPlan:
    """The plan of a validated file; with errors, raise (``strict``) or keep them on it.

    A plan with errors lists every task that could be read; with a cycle, the edges
    closing it are left out of its order (see
    :func:`~taskexec_nb.graph.order_breaking_cycles`). It refuses to run.
    """
    if result.ok or not strict:
        return ExecutionPlan(result.taskfile, result.graph, result.mode, result.diagnostics)
    partial = (
        ExecutionPlan(result.taskfile, result.graph, result.mode, result.diagnostics)
        if result.taskfile.tasks
        else None
    )
    raise ValidationError(result.diagnostics, plan=partial)


def load(
    path: str | Path,
    mode: str | DependencyMode | None = None,
    *,
    profile: str | None = None,
    strict: bool = True,
) -> ExecutionPlan:
    """Load a tasks.md as an execution plan.

    Args:
        path: The tasks.md file.
        mode: Dependency mode: ``template``, ``stories`` or ``explicit``; None
            takes it from the configuration (default ``template``).
        profile: Config profile for the plan's mode and its runs (see
            :mod:`taskexec_nb.config`).
        strict: True (the default): a file with errors raises. False: the plan of
            every task that could be read is returned with the errors in
            ``plan.diagnostics`` (``plan.ok`` is False), to show next to them; it
            refuses to run.

    Returns:
        The plan; warnings (and errors, when not ``strict``) are in ``plan.diagnostics``.

    Raises:
        ValidationError: If ``strict`` and the file has error-severity diagnostics
            (all are listed; ``exc.plan`` is the plan of the tasks that could be read,
            None when no task could).
        UsageError: If the mode is unknown, or the configuration is wrong
            (:class:`~taskexec_nb.config.ConfigError`), or ``path`` is not a path.
    """
    path = _path(path, "load")
    if mode is None or profile is not None:
        from taskexec_nb.config import resolve

        config = resolve(path, profile=profile)
        mode = mode if mode is not None else config.mode
    try:
        plan = _plan(validate(path, mode), strict)
    except ValidationError as exc:
        if exc.plan is not None:
            exc.plan.profile = profile
        raise
    plan.profile = profile
    return plan


def loads(
    text: str | bytes,
    mode: str | DependencyMode = "template",
    path: str = "<string>",
    *,
    strict: bool = True,
) -> ExecutionPlan:
    """Load tasks.md text (not a file) as an execution plan.

    Args:
        text: The Markdown text (bytes are read as UTF-8, as a file is).
        mode: Dependency mode.
        path: Name used in diagnostics, and the plan's identity in the state store
            (its runs, what ``resume`` continues); in angle brackets, as
            ``<cell build>``, it names no file.
        strict: False: return the plan even with errors (see :func:`load`).

    Returns:
        The plan.

    Raises:
        ValidationError: If ``strict`` and the text has error-severity diagnostics
            (``exc.plan`` is the plan of the tasks that could be read).
        UsageError: If the mode is unknown, or ``text`` is not text.
    """
    if isinstance(text, bytes):
        return _plan(validate_taskfile(parse_bytes(text, path), mode), strict)
    if not isinstance(text, str):
        raise UsageError(f"loads(): text must be str or bytes, got {type(text).__name__}")
    return _plan(validate_taskfile(parse_text(text, path), mode), strict)
