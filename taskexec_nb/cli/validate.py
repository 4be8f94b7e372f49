"""``taskexec validate``: check a tasks.md and print every problem."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from taskexec_nb.errors import TaskexecError
from taskexec_nb.exitcodes import EXIT_OK, EXIT_USAGE
from taskexec_nb.model import Severity

if TYPE_CHECKING:
    from taskexec_nb.model import DependencyMode, Diagnostic
    from taskexec_nb.parse import TaskFile
    from taskexec_nb.validate import Validation


HELP = "check a tasks.md and print every problem"
"""What ``taskexec --help`` says ``validate`` does."""


def add_parser(sub: Any, modes: list[str]) -> None:
    """Register ``validate`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
        modes: The dependency modes ``--mode`` takes.
    """
    add_file_parser(sub, "validate", HELP, modes).add_argument(
        "--strict", action="store_true", help="treat warnings as errors (exit 2)"
    )


def add_file_parser(sub: Any, name: str, help_text: str, modes: list[str]) -> Any:
    """A command that reads one tasks.md: its file, ``--mode``, ``--profile`` and ``--json``.

    Args:
        sub: The CLI's subparsers.
        name: The command.
        help_text: Its help.
        modes: The dependency modes ``--mode`` takes.

    Returns:
        The command's parser.
    """
    cmd = sub.add_parser(name, help=help_text, description=help_text)
    cmd.add_argument("file", help="the tasks.md file")
    cmd.add_argument(
        "--mode",
        choices=modes,
        help="dependency inference mode (default: from the config, else template)",
    )
    cmd.add_argument("--profile", metavar="NAME", help="config profile (for its mode)")
    cmd.add_argument("--json", action="store_true", help="print JSON for tools")
    return cmd


def validate_taskfile(taskfile: TaskFile, mode: str | DependencyMode) -> Validation:
    """:func:`taskexec_nb.validate.validate_taskfile`, imported when a command reads a file.

    Args:
        taskfile: The parsed file.
        mode: The dependency mode.

    Returns:
        The validation.
    """
    from taskexec_nb.validate import validate_taskfile as validated

    return validated(taskfile, mode)


def check(args: argparse.Namespace) -> Validation:
    """Read and validate the tasks.md, in the mode given or configured (config warnings shown).

    Args:
        args: The command's arguments (``file``, ``mode``, ``profile``).

    Returns:
        The validation.

    Raises:
        ConfigError: If the configuration is wrong.
    """
    from taskexec_nb.config.files import DEFAULT_MODE, nothing_configured
    from taskexec_nb.parse import parse_file

    mode = args.mode
    if mode is None or args.profile is not None:
        if nothing_configured(args.file, args.profile):
            mode = mode or DEFAULT_MODE  # no file, profile or variable: settings not loaded
        else:
            from taskexec_nb.config import resolve

            config = resolve(args.file, profile=args.profile)
            for warning in config.warnings:
                print(f"taskexec: warning: {warning}", file=sys.stderr)
            mode = mode or config.mode
    return validate_taskfile(parse_file(args.file), mode)


def print_diagnostics(diags: Sequence[Diagnostic], out: TextIO) -> None:
    """Print each diagnostic, then how many errors and warnings there are.

    Args:
        diags: The diagnostics.
        out: Where to print.
    """
    for d in diags:
        print(d.format(), file=out)
    n_err = sum(1 for d in diags if d.is_error)
    n_warn = sum(1 for d in diags if d.severity is Severity.WARNING)
    print(f"{n_err} error(s), {n_warn} warning(s)", file=out)


def _agent_form(args: argparse.Namespace) -> str | None:
    """How the configured ``agent_command`` runs (None: none is set, or no config reads)."""
    from taskexec_nb.config.files import nothing_configured

    try:
        if nothing_configured(args.file, args.profile):
            return None  # the defaults have no agent command
        from taskexec_nb.config import resolve

        command = resolve(args.file, profile=args.profile).settings.agent_command
    except TaskexecError:  # a bad config: _check reported it, or --mode made it unneeded
        return None
    from taskexec_nb.agentcmd import agent_command_form

    return agent_command_form(command) if command else None


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec validate``.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code: 0 valid, 2 errors (or warnings with ``--strict``).
    """
    result = check(args)
    failed = not result.ok or (args.strict and bool(result.warnings))
    form = _agent_form(args)
    if args.json:
        doc = {
            "file": args.file,
            "ok": not failed,
            "tasks": len(result.taskfile.tasks),
            "diagnostics": [d.to_dict() for d in result.diagnostics],
        }
        if form:
            doc["agent_command"] = form
        import json

        print(json.dumps(doc, indent=2, ensure_ascii=False), file=out)
    else:
        print_diagnostics(result.diagnostics, out)
        if form:
            print(f"agent command: {form}", file=out)
        if not failed:
            print(f"{args.file}: {len(result.taskfile.tasks)} task(s), valid", file=out)
    return EXIT_USAGE if failed else EXIT_OK
