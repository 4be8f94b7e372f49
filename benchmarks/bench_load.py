"""Time ``taskexec_nb.loads`` against markdown-it-py's block-level parse of the same text.

For generated tasks.md files of 1,000 and 10,000 tasks, this measures in one run:

* baseline: ``taskexec_nb.markdown.block_tokens(text)``, markdown-it-py's own
  block-level parse (commonmark + tables + front matter, inline rules off),
  which is the floor for any parser built on it;
* load: ``taskexec_nb.loads(text)``, i.e. parse + validate + plan.

Each is timed as the best of N repeats (``time.perf_counter``, garbage
collection off while timing) after one warm-up call; the two alternate within
each repeat so that a busy machine slows both alike. Goals:

* 10,000 tasks: load <= 1.3x the baseline;
* 1,000 tasks: load < 100 ms.

Usage::

    python benchmarks/bench_load.py [--no-fail] [--seed 0]

The exit status is 1 when a goal fails, unless ``--no-fail`` is given.
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from generate import generate_tasks_md

import taskexec_nb
from taskexec_nb.markdown import block_tokens

SIZES: tuple[tuple[int, int], ...] = ((1_000, 7), (10_000, 5))
"""(number of tasks, repeats) per benchmarked size."""

MAX_RATIO_10K = 1.3
MAX_LOAD_MS_1K = 100.0


@dataclass(frozen=True)
class Result:
    """Timings of one size, in milliseconds (best of the repeats)."""

    size: int
    lines: int
    baseline_ms: float
    load_ms: float

    @property
    def ratio(self) -> float:
        return self.load_ms / self.baseline_ms


@dataclass(frozen=True)
class Goal:
    """One pass/fail target and what was measured for it."""

    name: str
    measured: str
    passed: bool


def best_of(funcs: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    """Best wall time of each function over ``repeats`` rounds, in ms, with the GC disabled.

    The functions run in turn within each round, so a busy machine slows them alike.
    """
    times: list[list[float]] = [[] for _ in funcs]
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for func, samples in zip(funcs, times, strict=True):
                gc.collect()  # start from a clean heap; collect() works while disabled
                start = time.perf_counter()
                func()
                samples.append(time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return [min(samples) * 1000.0 for samples in times]


def measure(size: int, repeats: int, seed: int) -> Result:
    """Generate one file and time the baseline and the full load on it."""
    text = generate_tasks_md(size, seed)
    # Warm-up: builds the cached MarkdownIt instance and compiles every regex, and checks
    # that the generated text loads cleanly with all its tasks.
    block_tokens(text)
    plan = taskexec_nb.loads(text)
    if len(plan) != size:
        raise RuntimeError(f"generated {size} tasks but the plan has {len(plan)}")
    baseline, load = best_of([lambda: block_tokens(text), lambda: taskexec_nb.loads(text)], repeats)
    return Result(size, text.count("\n"), baseline, load)


def goals(results: Sequence[Result]) -> list[Goal]:
    """Evaluate the goals for the sizes that were measured."""
    by_size = {r.size: r for r in results}
    out: list[Goal] = []
    if 10_000 in by_size:
        ratio = by_size[10_000].ratio
        out.append(
            Goal(
                f"10,000 tasks: load <= {MAX_RATIO_10K}x baseline",
                f"{ratio:.2f}x",
                ratio <= MAX_RATIO_10K,
            )
        )
    if 1_000 in by_size:
        ms = by_size[1_000].load_ms
        out.append(
            Goal(
                f"1,000 tasks: load < {MAX_LOAD_MS_1K:.0f} ms",
                f"{ms:.1f} ms",
                ms < MAX_LOAD_MS_1K,
            )
        )
    return out


def report(results: Sequence[Result], checks: Sequence[Goal]) -> str:
    """The results table and the goal verdicts, as text."""
    header = f"{'tasks':>7} {'lines':>7} {'baseline ms':>12} {'load ms':>9} {'ratio':>7}"
    rows = [header, "-" * len(header)]
    for r in results:
        rows.append(
            f"{r.size:>7,} {r.lines:>7,} {r.baseline_ms:>12.1f} {r.load_ms:>9.1f} {r.ratio:>6.2f}x"
        )
    rows.append("")
    rows.append("baseline = markdown-it-py block-level parse (taskexec_nb.markdown.block_tokens)")
    rows.append("load     = taskexec_nb.loads (parse + validate + plan)")
    rows.append("")
    for g in checks:
        rows.append(f"{'PASS' if g.passed else 'FAIL'}  {g.name}: {g.measured}")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print the table, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-fail", action="store_true", help="report only; always exit 0")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    args = parser.parse_args(argv)
    results = [measure(size, repeats, args.seed) for size, repeats in SIZES]
    checks = goals(results)
    print(report(results, checks))
    failed = [g for g in checks if not g.passed]
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
