"""The ``taskexec`` command line: validate and plan a tasks.md.

Exit codes: 0 success, 1 task failures (``run``), 2 usage or validation error,
3 incomplete (``run``: tasks skipped because nothing could run them), 130
interrupted. Heavy libraries (pandas, plotly, widgets) are not imported
here, so ``taskexec --help`` starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from taskexec_nb import __version__
from taskexec_nb.errors import TaskexecError
from taskexec_nb.exitcodes import EPILOG, EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from taskexec_nb.model import DependencyMode, Diagnostic, Severity
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.validate import Validation, validate_taskfile


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskexec",
        description="Validate, plan and run a spec-kit tasks.md.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"taskexec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modes = [m.value for m in DependencyMode]
    for name, help_text in (
        ("validate", "check a tasks.md and print every problem"),
        ("plan", "print the execution plan of a tasks.md"),
    ):
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.add_argument("file", help="the tasks.md file")
        cmd.add_argument(
            "--mode",
            choices=modes,
            help="dependency inference mode (default: from the config, else template)",
        )
        cmd.add_argument("--profile", metavar="NAME", help="config profile (for its mode)")
        cmd.add_argument("--json", action="store_true", help="print JSON for tools")
        if name == "validate":
            cmd.add_argument(
                "--strict", action="store_true", help="treat warnings as errors (exit 2)"
            )
    from taskexec_nb import cli_config, cli_report, cli_run

    cli_run.add_parsers(sub, modes)
    cli_report.add_parsers(sub)
    cli_config.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI.

    Args:
        argv: Arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "validate":
            return _validate(args, sys.stdout)
        if args.command == "plan":
            return _plan(args, sys.stdout)
        from taskexec_nb import cli_config, cli_report, cli_run

        command = {
            "report": cli_report.report_command,
            "run": cli_run.run_command,
            "status": cli_run.status_command,
            "runs": cli_run.runs_command,
            "config": cli_config.config_command,
        }[args.command]
        return command(args, sys.stdout)
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


def _check(args: argparse.Namespace) -> Validation:
    from taskexec_nb.parse import parse_file

    mode = args.mode
    if mode is None or args.profile is not None:
        from taskexec_nb.config import resolve

        config = resolve(args.file, profile=args.profile)
        for warning in config.warnings:
            print(f"taskexec: warning: {warning}", file=sys.stderr)
        mode = mode or config.mode
    return validate_taskfile(parse_file(args.file), mode)


def _print_diagnostics(diags: Sequence[Diagnostic], out: TextIO) -> None:
    for d in diags:
        print(d.format(), file=out)
    n_err = sum(1 for d in diags if d.is_error)
    n_warn = sum(1 for d in diags if d.severity is Severity.WARNING)
    print(f"{n_err} error(s), {n_warn} warning(s)", file=out)


def _agent_form(args: argparse.Namespace) -> str | None:
    """How the configured ``agent_command`` runs (None: none is set, or no config reads)."""
    from taskexec_nb.agentcmd import agent_command_form
    from taskexec_nb.config import resolve

    try:
        command = resolve(args.file, profile=args.profile).settings.agent_command
    except TaskexecError:  # a bad config: _check reported it, or --mode made it unneeded
        return None
    return agent_command_form(command) if command else None


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    result = _check(args)
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
        print(json.dumps(doc, indent=2, ensure_ascii=False), file=out)
    else:
        _print_diagnostics(result.diagnostics, out)
        if form:
            print(f"agent command: {form}", file=out)
        if not failed:
            print(f"{args.file}: {len(result.taskfile.tasks)} task(s), valid", file=out)
    return EXIT_USAGE if failed else EXIT_OK


def _plan(args: argparse.Namespace, out: TextIO) -> int:
    """``taskexec plan``: every task that could be read, then the diagnostics.

    A file with errors still gets its plan (a cycle's closing edges left out of the
    waves) and the errors after it, with exit code 2; ``run`` refuses such a file.
    """
    result = _check(args)
    plan = ExecutionPlan(result.taskfile, result.graph, result.mode, result.diagnostics)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False), file=out)
    elif not plan.tasks:  # nothing read (no file, not UTF-8, no tasks): no table to show
        _print_diagnostics(result.diagnostics, sys.stderr)
    else:
        print(format_plan(plan), file=out)
        if result.diagnostics:
            _print_diagnostics(result.diagnostics, out)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
