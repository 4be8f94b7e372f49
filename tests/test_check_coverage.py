"""scripts/check_coverage.py: the test command fails when any module is under 90%."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_coverage.py"


def summary(percent: float, statements: int = 10, branches: int = 4) -> dict[str, object]:
    return {
        "summary": {
            "percent_covered": percent,
            "num_statements": statements,
            "num_branches": branches,
        }
    }


def check(tmp_path: Path, files: dict[str, object]) -> subprocess.CompletedProcess[str]:
    report = tmp_path / "coverage.json"
    report.write_text(json.dumps({"files": files, "totals": {}}), encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(report), "--min", "90"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_module_under_the_bar_fails_even_when_the_total_is_above(tmp_path: Path) -> None:
    done = check(
        tmp_path,
        {
            "taskexec_nb/big.py": summary(99.0, statements=5000),
            "taskexec_nb/paths.py": summary(88.2),
            "taskexec_nb/events.py": summary(89.9),
            "taskexec_nb/empty.py": summary(0.0, statements=0, branches=0),
        },
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == "modules under 90% coverage (each module must reach it):"
    assert lines[1:] == ["  taskexec_nb/paths.py: 88.2%", "  taskexec_nb/events.py: 89.9%"]


def test_every_module_at_the_bar_passes(tmp_path: Path) -> None:
    done = check(tmp_path, {"taskexec_nb/a.py": summary(90.0), "taskexec_nb/b.py": summary(100)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every module has at least 90% coverage (2 files)" in done.stdout


def test_a_report_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(missing)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"cannot read {missing}" in done.stderr
    done = check(tmp_path, {})
    assert done.returncode == 2
    assert "lists no files" in done.stderr
