"""``taskexec plan``: print the execution plan of a tasks.md."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from taskexec_nb.cli.validate import add_file_parser, check, print_diagnostics
from taskexec_nb.exitcodes import EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from taskexec_nb.plan import ExecutionPlan


HELP = "print the execution plan of a tasks.md"
"""What ``taskexec --help`` says ``plan`` does."""


def add_parser(sub: Any, modes: list[str]) -> None:
    """Register ``plan`` on the CLI's subparsers.

    Args:
        sub: The CLI's subparsers.
        modes: The dependency modes ``--mode`` takes.
    """
    add_file_parser(sub, "plan", HELP, modes)


def command(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec plan``: every task that could be read, then the diagnostics.

    A file with errors still gets its plan (a cycle's closing edges left out of the
    waves) and the errors after it, with exit code 2; ``run`` refuses such a file.

    Args:
        args: The command's arguments.
        out: Where to print.

    Returns:
        The exit code.
    """
    from taskexec_nb.plan import ExecutionPlan

    result = check(args)
    plan = ExecutionPlan(result.taskfile, result.graph, result.mode, result.diagnostics)
    if args.json:
        import json

        print(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False), file=out)
    elif not plan.tasks:  # nothing read (no file, not UTF-8, no tasks): no table to show
        print_diagnostics(result.diagnostics, sys.stderr)
    else:
        print(format_plan(plan), file=out)
        if result.diagnostics:
            print_diagnostics(result.diagnostics, out)
    return EXIT_OK if result.ok else EXIT_USAGE


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_plan(plan: ExecutionPlan, width: int = 120) -> str:
    """Render a plan as a plain-text table (no pandas needed).

    Args:
        plan: The plan.
        width: Target line width.

    Returns:
        The table with a summary line above it.
    """
    header = ("ID", "PHASE", "STORY", "P", "STATUS", "WAVE", "DEPENDS ON", "ACTION", "DESCRIPTION")
    rows = []
    waves = {tid: str(i) for i, wave in enumerate(plan.waves) for tid in wave}
    for t in plan.tasks:
        deps = plan.depends_on(t.id)
        dep_text = ", ".join(deps[:3]) + (f" +{len(deps) - 3}" if len(deps) > 3 else "")
        rows.append(
            (
                t.id,
                t.phase.number or "-",
                t.story or "-",
                "P" if t.parallel else "",
                t.state.value,
                waves.get(t.id, "-"),
                dep_text or "-",
                t.action.kind.value,
                t.description,
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    rest = max(20, width - sum(widths) - 2 * len(widths))
    lines = [plan.summary(), ""]
    for r in [header, *rows]:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=False)]
        lines.append("  ".join([*cells, _cut(r[-1], rest)]).rstrip())
    return "\n".join(lines)
