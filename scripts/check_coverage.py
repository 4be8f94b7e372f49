"""Fail when any module of the package is under the coverage bar, not only the total.

Reads the JSON report that ``coverage json`` (or pytest-cov's ``--cov-report=json``)
writes, and lists every measured file whose coverage (lines and branches together,
as coverage's own total counts them) is under the bar.

Usage: python scripts/check_coverage.py [REPORT.json] [--min PERCENT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_REPORT = Path("build/coverage.json")
DEFAULT_MIN = 90.0


def under_bar(report: dict[str, object], minimum: float) -> list[tuple[str, float]]:
    """The files under ``minimum`` percent, lowest first."""
    files = report.get("files")
    if not isinstance(files, dict) or not files:
        raise ValueError("the report lists no files (was coverage measured?)")
    low = []
    for name, data in files.items():
        summary = data["summary"]
        statements = summary["num_statements"] + summary.get("num_branches", 0)
        if statements == 0:
            continue
        percent = float(summary["percent_covered"])
        if percent < minimum:
            low.append((name, percent))
    return sorted(low, key=lambda item: (item[1], item[0]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path, default=DEFAULT_REPORT)
    parser.add_argument("--min", type=float, default=DEFAULT_MIN, dest="minimum")
    args = parser.parse_args(argv)
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
        low = under_bar(report, args.minimum)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"check_coverage: cannot read {args.report}: {exc}", file=sys.stderr)
        return 2
    if low:
        print(f"modules under {args.minimum:g}% coverage (each module must reach it):")
        for name, percent in low:
            print(f"  {name}: {percent:.1f}%")
        return 1
    print(f"every module has at least {args.minimum:g}% coverage ({len(report['files'])} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
