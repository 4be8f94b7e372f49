"""The ``taskexec config show`` command: the effective settings and where each came from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from taskexec_nb.errors import UsageError
from taskexec_nb.exitcodes import EXIT_OK

HELP = "show the effective configuration"
"""What ``taskexec --help`` says ``config`` does."""


def add_parser(sub: Any) -> None:
    """Register ``config`` (with ``show``) on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
    """
    config = sub.add_parser(
        "config",
        help=HELP,
        description="Work with the configuration (taskexec.toml or [tool.taskexec]).",
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    show = actions.add_parser(
        "show",
        help="print the effective settings for a tasks.md, each with its source",
        description="Print the effective settings for a tasks.md, each with the source it "
        "came from: default, config file (with line), profile, TASKEXEC_* variable or "
        "argument. Secret values are masked.",
    )
    show.add_argument(
        "file", nargs="?", help="the tasks.md (default: search from the current folder)"
    )
    show.add_argument("--profile", metavar="NAME", help="config profile to apply")
    show.add_argument("--json", action="store_true", help="print JSON for tools")


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec config show``.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code.
    """
    from taskexec_nb.config import resolve
    from taskexec_nb.config.show import show_dict, show_text

    if args.config_command != "show":
        raise UsageError("taskexec config: say what to do, e.g. taskexec config show tasks.md")
    if args.file is not None and not Path(args.file).exists():
        raise UsageError(f"{args.file}: no such file")
    config = resolve(args.file, profile=args.profile)
    if args.json:
        import json

        print(json.dumps(show_dict(config), indent=2, default=str), file=out)
    else:
        print(show_text(config), file=out)
    return EXIT_OK
