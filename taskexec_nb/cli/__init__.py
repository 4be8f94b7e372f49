"""The ``taskexec`` command line: one module per command, the parser and :func:`main` here.

* :mod:`.validate`, :mod:`.plan`: read a tasks.md (``taskexec validate``, ``plan``);
* :mod:`.run`: ``taskexec run`` (with :mod:`.terminal`, the live view of a run);
* :mod:`.status`, :mod:`.runs`, :mod:`.report`: read the state store;
* :mod:`.notebook`: ``taskexec notebook`` (the report notebook, through papermill);
* :mod:`.config`: ``taskexec config show``;
* :mod:`.common`: what the store-reading commands share.

Exit codes (:mod:`taskexec_nb.exitcodes`): 0 success, 1 task failures
(``run``), 2 usage or validation error, 3 incomplete (``run``: tasks skipped
because nothing could run them), 130 interrupted. Heavy libraries (pandas,
plotly, widgets) are not imported here, so ``taskexec --help`` starts fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Sequence

from taskexec_nb import __version__
from taskexec_nb.errors import TaskexecError
from taskexec_nb.exitcodes import EPILOG, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_USAGE
from taskexec_nb.model import DependencyMode

COMMANDS = ("validate", "plan", "run", "status", "runs", "report", "notebook", "config")
"""The commands, in the order ``taskexec --help`` lists them."""


def _parser(declared: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The ``taskexec`` parser, with every command's subparser, in help order.

    Args:
        declared: The commands whose options are declared (default: all). The others
            are listed by name and help, as ``taskexec --help`` shows them: a command
            line names one command, and declaring ``run``'s flags reads every setting.

    Returns:
        The parser.
    """
    from taskexec_nb.cli import config, notebook, plan, report, run, runs, status, validate

    parser = argparse.ArgumentParser(
        prog="taskexec",
        description="Validate, plan and run a spec-kit tasks.md.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"taskexec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modes = [m.value for m in DependencyMode]
    modules = (validate, plan, run, status, runs, report, notebook, config)
    for name, module in zip(COMMANDS, modules, strict=True):
        if declared is not None and name not in declared:
            sub.add_parser(name, help=module.HELP)
        elif module in (validate, plan, run):
            module.add_parser(sub, modes)
        else:
            module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    from taskexec_nb.cli import config, notebook, plan, report, run, runs, status, validate

    commands = {
        "validate": validate.command,
        "plan": plan.command,
        "run": run.command,
        "status": status.command,
        "runs": runs.command,
        "report": report.command,
        "notebook": notebook.command,
        "config": config.command,
    }
    words = list(sys.argv[1:] if argv is None else argv)
    parser = _parser(declared=words[:1])
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return commands[args.command](args, sys.stdout)
    except TaskexecError as exc:
        print(f"taskexec: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("taskexec: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``taskexec plan x.md | head``): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
