"""Start-up of the shipped command, whole processes, against ``python -c pass`` in the same run.

(a) ``taskexec --help`` (goal <= 0.12 s);
(b) ``taskexec validate`` of a generated 100-task spec-kit file (goal <= 0.12 s);
(c) ``taskexec run tasks.md`` of a 1-task file with the defaults, in a fresh folder each
    time (write-back, the store, logs, the terminal view; goal <= 0.20 s);
(d) peak memory (maxrss) of ``taskexec run --no-writeback`` over 10,000 ``true`` tasks
    (``--with-memory``; goal < 300 MB).

Each command runs as a new process, in turns with the baseline, ``--rounds`` times; the
median wall time is printed, with the CPU time (user + system) that a loaded machine
disturbs less. Bytecode is written first (as an installed package has it): the
environment's ``PYTHONDONTWRITEBYTECODE`` is dropped for the measured processes.

Usage: ``python benchmarks/bench_startup.py [--rounds N] [--with-memory] [--no-fail]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import _layers
from generate import generate_tasks_md

GOALS = {"help": 0.12, "validate": 0.12, "run": 0.20}
MEMORY_GOAL_MB = 300.0
ONE_TASK = """# Tasks: one

## Phase 1: Setup

- [ ] T001 Create the build folder
  - taskexec: run="mkdir -p build"
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """(wall, cpu) seconds of one whole process; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(
        argv, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def measure(rounds: int) -> dict[str, tuple[float, float]]:
    """Median (wall, cpu) of each command, the baseline measured in the same turns."""
    exe = str(Path(sys.executable).parent / "taskexec")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "t100.md").write_text(generate_tasks_md(100), encoding="utf-8")

        def run_once() -> tuple[float, float]:
            folder = Path(tempfile.mkdtemp(dir=root))
            (folder / "tasks.md").write_text(ONE_TASK, encoding="utf-8")
            try:
                return _timed([exe, "run", "tasks.md"], folder)
            finally:
                shutil.rmtree(folder)

        commands = {
            "python": lambda: _timed([sys.executable, "-c", "pass"], root),
            "help": lambda: _timed([exe, "--help"], root),
            "validate": lambda: _timed([exe, "validate", "t100.md"], root),
            "run": run_once,
        }
        for command in commands.values():  # write the bytecode, warm the disk cache
            command()
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, command in commands.items():
                samples[name].append(command())
    return {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
        for name, got in samples.items()
    }


def peak_memory_mb(n: int = 10_000) -> float:
    """Maxrss of the whole ``taskexec run`` process over ``n`` ``true`` tasks, in MB."""
    exe = str(Path(sys.executable).parent / "taskexec")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "tasks.md").write_text(_layers(n, 20, 3, 'run="true"'), encoding="utf-8")
        argv = [exe, "run", "tasks.md", "-j", "2", "--mode", "explicit", "--no-writeback"]
        code = (
            "import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL, check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code, *argv],
            cwd=folder,
            env=_env(),
            capture_output=True,
            text=True,
            check=True,
        )
    return int(done.stdout.strip()) / 1024


def main() -> int:
    """Print one line per command: its time, the baseline's, the ratio and the goal."""
    parser = argparse.ArgumentParser(description="start-up benchmarks (whole processes)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--with-memory", action="store_true")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    times = measure(args.rounds)
    base_wall, base_cpu = times["python"]
    print(
        f"python -c pass: {base_wall * 1000:.0f} ms wall, {base_cpu * 1000:.0f} ms CPU "
        f"(median of {args.rounds})"
    )
    failed = False
    labels = {
        "help": "taskexec --help",
        "validate": "taskexec validate (100 tasks)",
        "run": "taskexec run (1 task, defaults)",
    }
    for name, label in labels.items():
        wall, cpu = times[name]
        ok = wall <= GOALS[name]
        failed |= not ok
        print(
            f"{'PASS' if ok else 'FAIL'} {label}: {wall * 1000:.0f} ms wall "
            f"({wall / base_wall:.1f}x python, +{(wall - base_wall) * 1000:.0f} ms), "
            f"{cpu * 1000:.0f} ms CPU; goal <= {GOALS[name] * 1000:.0f} ms"
        )
    if args.with_memory:
        peak = peak_memory_mb()
        ok = peak < MEMORY_GOAL_MB
        failed |= not ok
        print(
            f"{'PASS' if ok else 'FAIL'} taskexec run, 10,000 tasks: peak memory "
            f"{peak:.0f} MB; goal < {MEMORY_GOAL_MB:.0f} MB"
        )
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
