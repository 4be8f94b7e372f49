"""Render the report figures of a 50-task and a 500-task run to PNG, to look at them.

Each run is real: the engine runs async callables that sleep for varied times,
some fail, some fail once and pass on retry, one times out, and the tasks after
a failure are skipped. The Gantt, DAG and progress figures of each run are
written as PNG (needs kaleido and a Chrome or Chromium) and as one HTML report.

Usage: ``python scripts/render_figures.py [OUT_DIR]`` (default ``build/figures``).
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import taskexec_nb
from taskexec_nb.executors import AttemptContext
from taskexec_nb.report import ExecutionReport


def tasks_md(n: int, seed: int) -> str:
    """A tasks.md of ``n`` tasks in phases and stories, with fan-in dependencies."""
    rng = random.Random(seed)
    phases = ["Setup", "Foundational", "User Story 1 - Login", "User Story 2 - Search", "Polish"]
    per = max(1, n // len(phases))
    lines = ["# Tasks: figure check", ""]
    for i in range(1, n + 1):
        p = min((i - 1) // per, len(phases) - 1)
        if (i - 1) % per == 0 and (i - 1) // per < len(phases):
            lines += ["", f"## Phase {p + 1}: {phases[p]}", ""]
        story = f" [US{p - 1}]" if phases[p].startswith("User Story") else ""
        picks = rng.randint(0, 2) if i > 1 else 0
        deps = sorted({rng.randint(max(1, i - 15), i - 1) for _ in range(picks)})
        dep_text = f" (depends on {', '.join(f'T{d:03d}' for d in deps)})" if deps else ""
        lines.append(f"- [ ] T{i:03d} [P]{story} Task number {i}{dep_text}")
        if i % 97 == 13:
            lines.append("  - taskexec: timeout=0.3")
        elif i % 23 == 7:
            lines.append("  - taskexec: retries=1 backoff=0")
    return "\n".join(lines) + "\n"


def make_run(folder: Path, n: int, seed: int) -> ExecutionReport:
    """Run the generated file and return its report."""
    rng = random.Random(seed)
    path = folder / "tasks.md"
    path.write_text(tasks_md(n, seed))
    durations = {f"T{i:03d}": rng.uniform(0.02, 0.25) for i in range(1, n + 1)}
    flaky_seen: set[str] = set()

    async def work(ctx: AttemptContext) -> Any:
        tid = ctx.task.id
        number = int(tid[1:])
        if number % 97 == 13:
            await asyncio.sleep(5)  # beyond its 0.3 s timeout
        await asyncio.sleep(durations[tid])
        if number % 23 == 7 and tid not in flaky_seen:
            flaky_seen.add(tid)
            raise RuntimeError("flaky: fails the first time")
        if number % 41 == 20:
            raise RuntimeError("this one always fails")
        return None

    plan = taskexec_nb.load(path, mode="explicit")
    handle = plan.run(callables={"T*": work}, max_workers=8, writeback=False)
    return handle.report()


def main() -> int:
    """Make both runs and write their figures."""
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "build/figures")
    out.mkdir(parents=True, exist_ok=True)
    for n in (50, 500):
        with tempfile.TemporaryDirectory() as tmp:
            report = make_run(Path(tmp), n, seed=n)
            figures = {
                "gantt": report.gantt(),
                "gantt-story": report.gantt(group_by="story"),
                "dag": report.dag(),
                "progress": report.progress_figure("phase"),
                "progress-story": report.progress_figure("story"),
            }
            for name, fig in figures.items():
                target = out / f"{n}-{name}.png"
                width = fig.layout.width or 1200
                fig.write_image(target, width=width, height=fig.layout.height, scale=1)
                print(f"{target}: {fig.layout.meta['alt']}")
            report.to_html(out / f"{n}-report.html")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
