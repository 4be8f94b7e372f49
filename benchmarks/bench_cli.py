"""`taskexec run` as users run it (whole process, defaults) against make, doit, Dask, a bare loop.

Every contender is a fresh process started on the same generated DAG of ``true``
tasks (layers of 20, each task after 3 of the layer before; one task: no
dependencies), 2 at a time, its output to a file, timed from start to exit:

* ``make -j2``: a generated Makefile, one phony target per task (recipe ``true``);
* bare loop: a small asyncio script running ``sh -c true`` per task under a
  semaphore of 2, each task after its prerequisites;
* Dask threaded: the same graph through ``dask.threaded.get`` with 2 workers, each
  task ``subprocess.run(["sh", "-c", "true"])``;
* ``doit -n 2``: a generated dodo.py (actions ``true``, ``task_dep`` edges);
* ``taskexec run tasks.md -j 2 --mode explicit`` with its defaults (write-back on,
  the state store, logs, the terminal view), and the same with ``--no-writeback``.

Each workload runs every contender once per round, alternating, and the table shows
the median of the rounds. Ratios are against the baselines measured in the same
run. Then: write-back's cost at 500, 2,000 and 8,000 tasks (linear: the same
time per task at every size), parallel efficiency (40 x ``sleep 0.2`` in layers of
8, ``-j 2``: ideal time / the run's own time from the state store, start-up
excluded; whole-process time printed beside it) and the peak memory of a
10,000-task run (the taskexec process's maximum resident set, from ``wait4``).

Bytecode is cached as an installed package has it: the package is compiled first and
the environment's ``PYTHONDONTWRITEBYTECODE`` is dropped for every contender (set, it
made each taskexec process compile its ~100 modules, about 0.1 s, while doit and
Dask ran from the bytecode pip wrote).

Usage: ``python benchmarks/bench_cli.py [--rounds N] [--full] [--only table,linear,eff,mem]
[--no-fail]``. Every part measures the sizes above; the default (3 rounds, the
10,000-task run once) takes about 3-4 minutes on a 2-core machine, ``--rounds 1``
about a third of that, and ``--full`` runs the 10,000 tasks every round too. The
exit status is 1 when a goal is missed, unless ``--no-fail``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

WIDTH, FAN_IN, WORKERS = 20, 3, 2
TASKEXEC = str(Path(sys.executable).parent / "taskexec")

BARE_LOOP = textwrap.dedent(
    """\
    import asyncio, sys

    def dag(n, width, fan_in):
        return {
            i: [(i // width - 1) * width + (i % width + k) % width for k in range(fan_in)]
            if i >= width else []
            for i in range(n)
        }

    async def main(n, width, fan_in, workers):
        deps = dag(n, width, fan_in)
        sem = asyncio.Semaphore(workers)
        done = {i: asyncio.Event() for i in deps}

        async def one(i):
            for d in deps[i]:
                await done[d].wait()
            async with sem:
                proc = await asyncio.create_subprocess_exec("sh", "-c", "true")
                if await proc.wait():
                    raise SystemExit(f"task {i} failed")
            done[i].set()

        await asyncio.gather(*(one(i) for i in deps))

    asyncio.run(main(*map(int, sys.argv[1:5])))
    """
)

DASK_THREADED = textwrap.dedent(
    """\
    import subprocess, sys
    import dask.threaded

    def dag(n, width, fan_in):
        return {
            i: [(i // width - 1) * width + (i % width + k) % width for k in range(fan_in)]
            if i >= width else []
            for i in range(n)
        }

    def run(*_):
        return subprocess.run(["sh", "-c", "true"], check=True).returncode

    n, width, fan_in, workers = map(int, sys.argv[1:5])
    graph = {f"t{i}": (run, *[f"t{d}" for d in deps]) for i, deps in dag(n, width, fan_in).items()}
    dask.threaded.get(graph, list(graph), num_workers=workers)
    """
)


def dag(n: int, width: int = WIDTH, fan_in: int = FAN_IN) -> dict[int, list[int]]:
    """Each task's prerequisites: ``fan_in`` tasks of the layer before (none in the first)."""
    return {
        i: [(i // width - 1) * width + (i % width + k) % width for k in range(fan_in)]
        if i >= width
        else []
        for i in range(n)
    }


def tasks_md(n: int, action: str = "true", width: int = WIDTH, fan_in: int = FAN_IN) -> str:
    """The DAG as a tasks.md for ``--mode explicit``: ``[P]`` tasks, ``(depends on ...)``."""
    lines = ["# Tasks: benchmark DAG", "", "## Phase 1: All", ""]
    for i, deps in dag(n, width, fan_in).items():
        after = f" (depends on {', '.join(f'T{d + 1:05d}' for d in deps)})" if deps else ""
        lines += [f"- [ ] T{i + 1:05d} [P] Task {i + 1}{after}", f'  - taskexec: run="{action}"']
    return "\n".join(lines) + "\n"


def makefile(n: int) -> str:
    deps = dag(n)
    lines = [
        ".PHONY: all " + " ".join(f"t{i}" for i in deps),
        "all: " + " ".join(f"t{i}" for i in deps),
    ]
    for i, before in deps.items():
        lines += [f"t{i}: " + " ".join(f"t{d}" for d in before), "\t@true"]
    return "\n".join(lines) + "\n"


def dodo(n: int) -> str:
    lines = ["DOIT_CONFIG = {'verbosity': 0}", "", "def task_t():"]
    for i, before in dag(n).items():
        task_dep = [f"t:{d}" for d in before]
        lines.append(f"    yield {{'name': '{i}', 'actions': ['true'], 'task_dep': {task_dep!r}}}")
    return "\n".join(lines) + "\n"


def _env() -> dict[str, str]:
    """The contenders' environment: this one, with bytecode cached (as once installed)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_package() -> None:
    """Write the package's bytecode (an editable install has none until first run)."""
    import taskexec_nb

    folder = str(Path(taskexec_nb.__file__).parent)
    subprocess.run([sys.executable, "-m", "compileall", "-q", folder], env=_env(), check=True)


class Timed:
    """Runs one contender as a fresh process in a fresh folder and times it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0
        self.walls: dict[tuple[int, tuple[str, ...]], list[float]] = {}  # taskexec's, of true
        (root / "bare_loop.py").write_text(BARE_LOOP)
        (root / "dask_threaded.py").write_text(DASK_THREADED)

    def folder(self) -> Path:
        self.count += 1
        folder = self.root / f"run{self.count}"
        folder.mkdir()
        return folder

    def run(self, argv: list[str], cwd: Path) -> tuple[float, int]:
        """Wall time (s) and peak resident set (KB) of one process, output to a file."""
        with (cwd / "output.txt").open("wb") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=out, stderr=subprocess.STDOUT)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = (cwd / "output.txt").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode} in {cwd}:\n{tail}")
        return wall, usage.ru_maxrss

    def taskexec(self, n: int, *flags: str, action: str = "true", width: int = WIDTH) -> float:
        folder = self.folder()
        path = folder / "tasks.md"
        fan_in = FAN_IN if width == WIDTH else 1
        path.write_text(tasks_md(n, action, width, fan_in))
        argv = [TASKEXEC, "run", "tasks.md", "-j", str(WORKERS), "--mode", "explicit", *flags]
        wall, _ = self.run(argv, folder)
        if action == "true":
            self.walls.setdefault((n, flags), []).append(wall)
        ticked = path.read_text().count("- [X] ")
        want = 0 if "--no-writeback" in flags else n
        if ticked != want:
            raise RuntimeError(f"{path}: {ticked} boxes ticked, not {want}")
        return wall

    def make(self, n: int) -> float:
        folder = self.folder()
        (folder / "Makefile").write_text(makefile(n))
        return self.run(["make", "-s", f"-j{WORKERS}", "all"], folder)[0]

    def bare(self, n: int) -> float:
        script = str(self.root / "bare_loop.py")
        argv = [sys.executable, script, str(n), str(WIDTH), str(FAN_IN), str(WORKERS)]
        return self.run(argv, self.folder())[0]

    def dask(self, n: int) -> float:
        script = str(self.root / "dask_threaded.py")
        argv = [sys.executable, script, str(n), str(WIDTH), str(FAN_IN), str(WORKERS)]
        return self.run(argv, self.folder())[0]

    def doit(self, n: int) -> float:
        folder = self.folder()
        (folder / "dodo.py").write_text(dodo(n))
        argv = [sys.executable, "-m", "doit", "-f", "dodo.py", "-n", str(WORKERS)]
        return self.run([*argv, "--db-file", "doit.db"], folder)[0]


COLUMNS = (
    "make -j2",
    "bare asyncio loop",
    "Dask threaded",
    "doit -n 2",
    "taskexec (defaults)",
    "taskexec --no-writeback",
)


class Results:
    """What was measured, and the verdict on each goal."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.missed = 0

    def say(self, line: str = "") -> None:
        self.lines.append(line)
        print(line, flush=True)

    def goal(self, text: str, ok: bool | None) -> None:
        verdict = "not measured" if ok is None else "ok" if ok else "MISSED"
        self.missed += ok is False
        self.say(f"  {verdict:>12}  {text}")


def missing_tools() -> dict[str, str]:
    """Contenders that cannot run here, with why."""
    out = {}
    if shutil.which("make") is None:
        out["make -j2"] = "make not found"
    if importlib.util.find_spec("dask") is None:
        out["Dask threaded"] = "not installed (pip install '.[bench]')"
    if importlib.util.find_spec("doit") is None:
        out["doit -n 2"] = "not installed (pip install '.[bench]')"
    return out


def table(timed: Timed, res: Results, rounds: int) -> dict[int, dict[str, float]]:
    """The main table: workloads of 1, 200 and 2,000 tasks, every contender."""
    missing = missing_tools()
    measures: dict[str, Callable[[int], float]] = {
        "make -j2": timed.make,
        "bare asyncio loop": timed.bare,
        "Dask threaded": timed.dask,
        "doit -n 2": timed.doit,
        "taskexec (defaults)": lambda n: timed.taskexec(n),
        "taskexec --no-writeback": lambda n: timed.taskexec(n, "--no-writeback"),
    }
    medians: dict[int, dict[str, float]] = {}
    for n in (1, 200, 2000):
        times: dict[str, list[float]] = {name: [] for name in COLUMNS if name not in missing}
        for _ in range(rounds):
            for name in times:
                times[name].append(measures[name](n))
        medians[n] = {name: statistics.median(ts) for name, ts in times.items()}
    res.say(f"Whole process, -j 2, median of {rounds} alternating runs (seconds):")
    res.say()
    res.say("| workload | " + " | ".join(COLUMNS) + " |")
    res.say("|---" * (len(COLUMNS) + 1) + "|")
    for n, row in medians.items():
        cells = [f"{row[c]:.3f} s" if c in row else "—" for c in COLUMNS]
        res.say(f"| {n:,} task{'s' if n > 1 else ''} | " + " | ".join(cells) + " |")
    for name, why in missing.items():
        res.say(f"  {name}: {why}")
    res.say()
    res.say("taskexec (defaults) against each, same run:")
    for n, row in medians.items():
        ours = row["taskexec (defaults)"]
        ratios = [f"{ours / row[c]:.2f}x {c}" for c in COLUMNS[:4] + COLUMNS[5:] if c in row]
        res.say(f"  {n:>5,}: " + ", ".join(ratios))
    res.say()

    def ratio(n: int, other: str) -> float | None:
        row = medians[n]
        return row["taskexec (defaults)"] / row[other] if other in row else None

    one = medians[1]["taskexec (defaults)"]
    res.goal(f"1 task, whole process, in at most 0.20 s: {one:.3f} s", one <= 0.20)
    for n, other in ((200, "doit -n 2"), (200, "Dask threaded"), (2000, "doit -n 2")):
        r = ratio(n, other)
        res.goal(
            f"{n:,} tasks faster than {other}: " + (f"{r:.2f}x" if r else "—"),
            None if r is None else r < 1,
        )
    r = ratio(2000, "bare asyncio loop")
    res.goal(f"2,000 tasks at most 1.15x the bare loop: {r or 0:.2f}x", r is not None and r <= 1.15)
    wb = medians[2000]["taskexec (defaults)"] / medians[2000]["taskexec --no-writeback"] - 1
    res.goal(f"write-back at most 10% over --no-writeback at 2,000 tasks: {wb:+.1%}", wb <= 0.10)
    res.say()
    return medians


def linear(timed: Timed, res: Results, rounds: int) -> None:
    """Write-back at 500, 2,000 and 8,000 tasks: its cost and the time per task."""
    sizes = (500, 2000, 8000)
    for _ in range(rounds):  # alternating; the table's runs of 2,000 tasks count too
        for n in sizes:
            if len(timed.walls.get((n, ()), [])) < rounds:
                timed.taskexec(n)
                timed.taskexec(n, "--no-writeback")
    res.say(f"Write-back linearity (median of {rounds}):")
    per_task: dict[int, float] = {}
    for n in sizes:
        t_on = statistics.median(timed.walls[n, ()])
        t_off = statistics.median(timed.walls[n, ("--no-writeback",)])
        per_task[n] = t_on / n
        res.say(
            f"  {n:>5,} tasks: {t_on:6.2f} s with write-back, {t_off:6.2f} s without "
            f"({t_on / t_off - 1:+.1%}); {t_on / n * 1000:.2f} ms per task"
        )
    grow = per_task[8000] / per_task[500]
    res.goal(
        f"linear: time per task at 8,000 at most 1.25x that at 500 (with write-back): {grow:.2f}x",
        grow <= 1.25,
    )
    res.say()


def efficiency(timed: Timed, res: Results, rounds: int) -> None:
    """40 x sleep 0.2 in layers of 8, 2 at a time: ideal time / the run's own time."""
    from taskexec_nb.store import StateStore

    n, ideal = 40, 40 * 0.2 / WORKERS
    in_run, whole = [], []
    for _ in range(rounds):
        whole.append(timed.taskexec(n, action="sleep 0.2", width=8))
        store = StateStore(
            timed.root / f"run{timed.count}" / ".taskexec" / "state.db", readonly=True
        )
        try:
            run = store.run(store.latest_run() or "")
        finally:
            store.close()
        assert run.started is not None and run.finished is not None
        in_run.append(run.finished - run.started)
    eff, eff_whole = ideal / statistics.median(in_run), ideal / statistics.median(whole)
    res.say(
        f"Parallel efficiency, {n} x sleep 0.2, layers of 8, -j 2 (median of {rounds}): "
        f"run {statistics.median(in_run):.2f} s, whole process {statistics.median(whole):.2f} s, "
        f"ideal {ideal:.2f} s"
    )
    res.goal(
        f"efficiency at least 97% (the run, start-up excluded): {eff:.1%} "
        f"(whole process: {eff_whole:.1%})",
        eff >= 0.97,
    )
    res.say()


def memory(timed: Timed, res: Results, rounds: int) -> None:
    """Peak resident set of a 10,000-task run with the defaults (the taskexec process)."""
    n = 10_000
    peaks, walls = [], []
    for _ in range(rounds):
        folder = timed.folder()
        (folder / "tasks.md").write_text(tasks_md(n))
        argv = [TASKEXEC, "run", "tasks.md", "-j", str(WORKERS), "--mode", "explicit"]
        wall, peak_kb = timed.run(argv, folder)
        peaks.append(peak_kb / 1024)
        walls.append(wall)
    peak = max(peaks)
    res.say(
        f"10,000 tasks with the defaults: {statistics.median(walls):.1f} s, peak RSS {peak:.0f} MB"
    )
    res.goal(f"10,000 tasks peak memory under 300 MB: {peak:.0f} MB", peak < 300)
    res.say()


def main() -> int:
    """Run the chosen parts and print the table and one verdict per goal."""
    parser = argparse.ArgumentParser(description="whole-process benchmarks of taskexec run")
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (default: 3)")
    parser.add_argument(
        "--full", action="store_true", help="measure the memory of 10,000 tasks --rounds times too"
    )
    parser.add_argument("--only", default="table,linear,eff,mem")
    parser.add_argument("--no-fail", action="store_true")
    args = parser.parse_args()
    res = Results()
    started = time.perf_counter()
    res.say(
        f"bench_cli {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()}: "
        f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    res.say()
    parts: dict[str, Callable[[Timed, Results, int], object]] = {
        "table": table,
        "linear": linear,
        "eff": efficiency,
        "mem": memory,
    }
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench_cli.") as tmp:
        timed = Timed(Path(tmp))
        for key in args.only.split(","):
            rounds = 1 if key == "mem" and not args.full else args.rounds
            parts[key.strip()](timed, res, rounds)
    res.say(
        f"({time.perf_counter() - started:.0f} s in all, load average now "
        f"{os.getloadavg()[0]:.1f}; {res.missed} goal(s) missed)"
    )
    return 1 if res.missed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
