"""Engine benchmarks, each printed against a baseline measured in the same run.

(a) 10,000 in-process no-op async callables: scheduler overhead per task
    (goal <= 50 us), against a bare loop awaiting the same callables.
(b) 2,000 ``true`` shell tasks, 2 workers, layers of 20 with fan-in 3: wall time
    (goal <= 1.15x) against a bare asyncio loop running ``sh -c true`` under a
    semaphore of 2 over the same DAG.
(c) 40 tasks of ``sleep 0.2`` in 8-wide layers, 2 workers: parallel efficiency
    (ideal time / wall time, goal >= 97%).
(d) latency from a task's state change to every observer having it (goal p95 < 5 ms).
(e) ``taskexec --help`` start-up (goal < 150 ms), against ``python -c pass``.

Usage: ``python benchmarks/bench_engine.py [--no-fail] [--only a,b,...]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import taskexec_nb
from taskexec_nb.events import Event, EventKind


def _layers(n: int, width: int, fan_in: int, action: str) -> str:
    lines = ["# Tasks: benchmark DAG", "", "## Phase 1: All", ""]
    for i in range(n):
        layer, pos = divmod(i, width)
        deps = []
        if layer:
            deps = [f"T{(layer - 1) * width + (pos + k) % width + 1:05d}" for k in range(fan_in)]
        dep_text = f" (depends on {', '.join(deps)})" if deps else ""
        lines.append(f"- [ ] T{i + 1:05d} [P] Task {i + 1}{dep_text}")
        lines.append(f"  - taskexec: {action}")
    return "\n".join(lines) + "\n"


def _dag(n: int, width: int, fan_in: int) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i in range(n):
        layer, pos = divmod(i, width)
        out[i] = [(layer - 1) * width + (pos + k) % width for k in range(fan_in)] if layer else []
    return out


async def _bare_loop(dag: dict[int, list[int]], workers: int, argv: list[str]) -> None:
    sem = asyncio.Semaphore(workers)
    done: dict[int, asyncio.Event] = {i: asyncio.Event() for i in dag}

    async def one(i: int) -> None:
        for d in dag[i]:
            await done[d].wait()
        async with sem:
            proc = await asyncio.create_subprocess_exec(*argv)
            await proc.wait()
        done[i].set()

    await asyncio.gather(*(one(i) for i in dag))


def _run_file(text: str, **settings: Any) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.md"
        path.write_text(text)
        plan = taskexec_nb.load(path, mode="explicit")
        start = time.perf_counter()
        handle = plan.run(writeback=False, **settings)
        wall = time.perf_counter() - start
        assert handle.result.value == "completed", handle
        return wall


def bench_a() -> tuple[str, bool]:
    from taskexec_nb.events import EventBus
    from taskexec_nb.executors import ExecutorRegistry
    from taskexec_nb.run.preflight import resolve_tasks
    from taskexec_nb.run.schedule import Scheduler
    from taskexec_nb.settings import RunSettings
    from taskexec_nb.store import SAVE_DELAY

    n = 10_000
    text = "# Tasks\n\n## Phase 1: All\n\n" + "".join(
        f"- [ ] T{i:05d} [P] No-op {i}\n" for i in range(1, n + 1)
    )

    async def noop() -> None:
        return None

    async def bare() -> None:
        for _ in range(n):
            await noop()

    start = time.perf_counter()
    asyncio.run(bare())
    base = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tasks.md"
        path.write_text(text)
        plan = taskexec_nb.load(path, mode="explicit")
        settings = RunSettings(max_workers=8, writeback=False)
        scheduler = Scheduler(
            plan,
            settings,
            ExecutorRegistry({"T*": noop}),
            EventBus(),
            run_id="bench",
            tasks=resolve_tasks(plan, plan.to_run, settings),
            log_dir=Path(tmp) / "logs",
            save_delay=SAVE_DELAY,
        )
        start = time.perf_counter()
        asyncio.run(scheduler.run())
        sched = time.perf_counter() - start
    full = _run_file(text, callables={"T*": noop}, max_workers=8)
    per_task = (sched - base) / n * 1e6
    full_per_task = (full - base) / n * 1e6
    return (
        f"(a) {n} no-op callables: scheduler {sched:.2f} s, bare loop {base * 1000:.1f} ms, "
        f"overhead {per_task:.1f} us/task (goal <= 50); with the SQLite store and events "
        f"persisted: {full_per_task:.1f} us/task",
        per_task <= 50,
    )


def _dask_threaded(dag: dict[int, list[int]]) -> float:
    import dask.threaded

    def run(*_: object) -> int:
        return subprocess.run(["sh", "-c", "true"], check=False).returncode

    graph = {f"t{i}": (run, *[f"t{d}" for d in deps]) for i, deps in dag.items()}
    start = time.perf_counter()
    dask.threaded.get(graph, list(graph), num_workers=2)
    return time.perf_counter() - start


def _doit(dag: dict[int, list[int]]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        dodo = Path(tmp) / "dodo.py"
        lines = ["DOIT_CONFIG = {'verbosity': 0}", "", "def task_t():"]
        for i, deps in dag.items():
            lines.append(
                f"    yield {{'name': '{i}', 'actions': ['true'], "
                f"'task_dep': {[f't:{d}' for d in deps]!r}}}"
            )
        dodo.write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "doit",
                "-f",
                str(dodo),
                "-n",
                "2",
                "--db-file",
                str(Path(tmp) / "db"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            cwd=tmp,
        )
        return time.perf_counter() - start


def bench_b(rounds: int = 3) -> tuple[str, bool]:
    n, width, fan_in = 2000, 20, 3
    dag = _dag(n, width, fan_in)
    text = _layers(n, width, fan_in, 'run="true"')
    others: dict[str, Callable[[dict[int, list[int]]], float]] = {
        "Dask threaded": _dask_threaded,
        "doit -n 2": _doit,
    }
    times: dict[str, list[float]] = {"bare": [], "ours": [], **{name: [] for name in others}}
    missing: set[str] = set()
    # Every contender once per round, best of the rounds each: this machine's load comes
    # and goes, and one-off measures would favour whoever ran in a quiet moment.
    for _ in range(rounds):
        start = time.perf_counter()
        asyncio.run(_bare_loop(dag, 2, ["sh", "-c", "true"]))
        times["bare"].append(time.perf_counter() - start)
        times["ours"].append(_run_file(text, max_workers=2))
        for name, measure in others.items():
            if name in missing:
                continue
            try:
                times[name].append(measure(dag))
            except ImportError:
                missing.add(name)
    base, wall = min(times["bare"]), min(times["ours"])
    ratio = wall / base
    line = (
        f"(b) {n} `true` tasks, 2 workers, best of {rounds}: {wall:.2f} s vs bare loop "
        f"{base:.2f} s = {ratio:.2f}x (goal <= 1.15)"
    )
    ok = ratio <= 1.15
    parts = []
    for name in others:
        if name in missing:
            parts.append(f"{name}: not installed (pip install '.[bench]')")
            continue
        other = min(times[name])
        parts.append(f"{name} {other:.2f} s = {other / base:.2f}x")
        ok = ok and wall < other
    return line + "; " + "; ".join(parts) + " (goal: faster than both)", ok


def bench_c() -> tuple[str, bool]:
    n, width = 40, 8
    wall = _run_file(_layers(n, width, 1, 'run="sleep 0.2"'), max_workers=2)
    ideal = n * 0.2 / 2
    eff = ideal / wall
    return (
        f"(c) {n} x sleep 0.2, 2 workers: {wall:.2f} s, ideal {ideal:.2f} s, "
        f"efficiency {eff:.1%} (goal >= 97%)",
        eff >= 0.97,
    )


def bench_d() -> tuple[str, bool]:
    delays: list[float] = []

    def last_observer(event: Event) -> None:
        if event.kind in (EventKind.TASK_STARTED, EventKind.TASK_FINISHED):
            delays.append(time.time() - event.time)

    text = _layers(200, 10, 1, 'run="true"')
    _run_file(text, max_workers=2, observers=[lambda e: None, last_observer])
    p95 = statistics.quantiles(delays, n=20)[-1] * 1000
    return (
        f"(d) state change to last observer: p95 {p95:.3f} ms over {len(delays)} events "
        "(goal < 5 ms)",
        p95 < 5,
    )


def bench_e() -> tuple[str, bool]:
    exe = Path(sys.executable).parent / "taskexec"

    def best(argv: list[str]) -> float:
        times = []
        for _ in range(5):
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
        return min(times) * 1000

    base = best([sys.executable, "-c", "pass"])
    cli = best([str(exe), "--help"])
    return (
        f"(e) taskexec --help: {cli:.0f} ms (python -c pass: {base:.0f} ms; goal < 150 ms)",
        cli < 150,
    )


BENCHES: dict[str, Callable[[], tuple[str, bool]]] = {
    "a": bench_a,
    "b": bench_b,
    "c": bench_c,
    "d": bench_d,
    "e": bench_e,
}


def main() -> int:
    """Run the chosen benchmarks and print one verdict line each."""
    parser = argparse.ArgumentParser(description="engine benchmarks")
    parser.add_argument("--no-fail", action="store_true")
    parser.add_argument("--only", default="a,b,c,d,e")
    args = parser.parse_args()
    failed = False
    for key in args.only.split(","):
        line, ok = BENCHES[key.strip()]()
        failed |= not ok
        print(("PASS " if ok else "FAIL ") + line, flush=True)
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
