"""Report benchmarks, each printed against a baseline measured in the same run.

(a) ``report.tasks`` for a 10,000-task run, from the store (goal < 200 ms),
    against reading the same rows into a plain DataFrame.
(b) the Gantt figure of a 1,000-task run (goal < 500 ms), against one plotly bar
    trace of the same 1,000 bars.

Usage: ``python benchmarks/bench_report.py [--no-fail]``
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

import taskexec_nb
from taskexec_nb.report import ExecutionReport


def _run(tmp: Path, n: int) -> tuple[Path, str]:
    """A real run of ``n`` no-op callables (layers of 20): its state folder and run ID."""
    lines = ["# Tasks", "", "## Phase 1: All", ""]
    for i in range(1, n + 1):
        dep = f" (depends on T{i - 20:05d})" if i > 20 else ""
        lines.append(f"- [ ] T{i:05d} [P] [US{i % 7 + 1}] Task {i}{dep}")
    path = tmp / "tasks.md"
    path.write_text("\n".join(lines) + "\n")

    async def noop() -> None:
        return None

    plan = taskexec_nb.load(path, mode="explicit")
    handle = plan.run(callables={"T*": noop}, max_workers=8, writeback=False)
    return handle.state_dir, handle.run_id


def _best(fn: Callable[[], Any], rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_tasks() -> tuple[str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        state, run_id = _run(Path(tmp), 10_000)
        db = state / "state.db"

        def baseline() -> None:
            con = sqlite3.connect(db)
            cur = con.execute("SELECT * FROM tasks WHERE run_id = ? ORDER BY line", (run_id,))
            names = [d[0] for d in cur.description]
            pd.DataFrame.from_records(cur.fetchall(), columns=names)
            con.close()

        def ours() -> None:
            _ = ExecutionReport.load(state, run_id).tasks

        base, mine = _best(baseline), _best(ours)
    return (
        f"(a) report.tasks, 10,000 tasks: {mine * 1000:.0f} ms (plain read {base * 1000:.0f} ms,"
        f" {mine / base:.2f}x; goal < 200 ms)",
        mine < 0.2,
    )


def bench_gantt() -> tuple[str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        state, run_id = _run(Path(tmp), 1_000)
        report = ExecutionReport.load(state, run_id)
        attempts, tasks = report.attempts, report.tasks

        def baseline() -> None:
            go.Figure(
                go.Bar(
                    orientation="h",
                    base=[s.isoformat() for s in attempts["start"]],
                    x=list(attempts["duration"] * 1000),
                    y=list(attempts.index),
                )
            )

        def ours() -> None:
            from taskexec_nb.figures import gantt

            gantt(attempts, tasks)

        base, mine = _best(baseline), _best(ours)
    return (
        f"(b) Gantt of 1,000 tasks: {mine * 1000:.0f} ms (one bare bar trace {base * 1000:.0f} ms,"
        f" {mine / base:.2f}x; goal < 500 ms)",
        mine < 0.5,
    )


def main() -> int:
    """Run both benchmarks and print one verdict line each."""
    parser = argparse.ArgumentParser(description="report benchmarks")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    failed = False
    for bench in (bench_tasks, bench_gantt):
        line, ok = bench()
        failed |= not ok
        print(("PASS " if ok else "FAIL ") + line, flush=True)
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
