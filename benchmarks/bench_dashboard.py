"""Dashboard benchmarks, each printed against a baseline measured in the same run.

(a) From a click on Pause, Resume or Cancel (the button's ``click()``, as a
    front end's click arrives) to the scheduler having acted on it (its
    ``run_paused``, ``run_resumed`` or stopping event): goal < 200 ms at the worst,
    during a busy 1,000-task run with the dashboard drawing; against calling
    ``handle.pause()`` directly.
(b) A 1,000-task run (``benchmarks/generate.py``'s plan, each task a 2 ms async
    callable) with the dashboard attached against the same run without it: wall time
    ratio, goal <= 1.10; also with the live Gantt tab open.

(c) In a real kernel, the same 1,000-task run started with ``await plan.arun()`` on
    the kernel's loop and displayed as the dashboard: the round trip of a trivial
    cell meanwhile (goal: median < 100 ms; against the idle kernel's) and what the
    dashboard sends the browser (messages and kB per second of run).

In (a) and (b) runs are started on a worker thread, as on a notebook kernel's loop;
the dashboard redraws on its own timer thread as it does in a kernel.

Usage: ``python benchmarks/bench_dashboard.py [--no-fail] [--only a,b,c]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import generate_tasks_md

import taskexec_nb
from taskexec_nb.events import Event, EventKind
from taskexec_nb.jupyter.dashboard import Dashboard
from taskexec_nb.run.handle import RunHandle
from taskexec_nb.run.launch import RunRequest, start_run


def _plan_file(folder: Path, n: int = 1000) -> Path:
    """The generator's plan of ``n`` tasks, every task a callable (actions and ticks removed)."""
    text = generate_tasks_md(n)
    text = re.sub(r"\n  ```bash\n.*?\n  ```", "", text, flags=re.S)
    text = re.sub(r"\n  - taskexec:[^\n]*", "", text)
    text = text.replace("- [x]", "- [ ]")
    (folder / ".git").mkdir(exist_ok=True)
    path = folder / "tasks.md"
    path.write_text(text)
    return path


async def _work() -> None:
    await asyncio.sleep(0.002)


def _start(path: Path, state: Path, **overrides: Any) -> RunHandle:
    plan = taskexec_nb.load(path)
    settings = {"writeback": False, "max_workers": 4, "state_dir": state, **overrides}
    return start_run(RunRequest(plan, callables={"T*": _work}, overrides=settings, start="thread"))


class _Seen:
    """An observer noting when the scheduler's events of each kind came."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def __call__(self, event: Event) -> None:
        key = event.kind.value
        if event.kind is EventKind.NOTICE and "stopping" in str(event.data.get("info", "")):
            key = "stopping"
        self.times.setdefault(key, []).append(time.perf_counter())

    def wait(self, key: str, count: int, timeout: float = 5.0) -> float:
        end = time.monotonic() + timeout
        while len(self.times.get(key, ())) < count:
            if time.monotonic() > end:
                raise TimeoutError(f"no {key} event #{count} within {timeout} s")
            time.sleep(0.0005)
        return self.times[key][count - 1]


def _latencies(
    click: Callable[[str], None], rounds: int, dashboard: bool
) -> tuple[list[float], float]:
    """Pause/resume ``rounds`` times, then cancel, during a busy run: latencies in seconds."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _plan_file(folder, 1000)
        handle = _start(path, folder / "state", max_workers=2)
        seen = _Seen()
        handle.subscribe(seen, replay=False)
        _CURRENT["handle"] = handle
        if dashboard:
            handle.dashboard()  # drawing on its timer from now on
        while len(seen.times.get("task_finished", ())) < 20:  # busy
            time.sleep(0.01)
        found: list[float] = []
        for i in range(1, rounds + 1):
            for action, event in (("pause", "run_paused"), ("resume", "run_resumed")):
                clicked = time.perf_counter()
                click(action)
                found.append(seen.wait(event, i) - clicked)
                time.sleep(0.05)
        clicked = time.perf_counter()
        click("cancel")
        cancel = seen.wait("stopping", 1) - clicked
        handle.join(60)
        return found, cancel


_CURRENT: dict[str, Any] = {}


def bench_click() -> tuple[str, bool]:
    def by_button(action: str) -> None:
        handle: RunHandle = _CURRENT["handle"]
        handle.dashboard().buttons[action].click()

    def direct(action: str) -> None:
        getattr(_CURRENT["handle"], action)()

    base, base_cancel = _latencies(direct, 10, dashboard=False)
    mine, cancel = _latencies(by_button, 10, dashboard=True)
    worst = max([*mine, cancel])
    return (
        f"(a) button click to scheduler: median {statistics.median(mine) * 1000:.1f} ms, worst "
        f"{worst * 1000:.1f} ms incl. cancel {cancel * 1000:.1f} ms (direct call: median "
        f"{statistics.median(base) * 1000:.1f} ms, cancel {base_cancel * 1000:.1f} ms); "
        "goal < 200 ms",
        worst < 0.2,
    )


def _wall(path: Path, state: Path, dashboard: str) -> tuple[float, int]:
    """The run's wall time, and how often the dashboard redrew its Gantt meanwhile."""
    started = time.perf_counter()
    handle = _start(path, state)
    dash = None
    if dashboard != "none":
        dash = Dashboard(handle)
        if dashboard == "gantt":
            assert dash.tabs is not None
            dash.tabs.selected_index = 1
    handle.join(600)
    took = time.perf_counter() - started
    assert handle.result is not None and handle.result.value == "completed", handle.result
    return took, dash.figure_draws if dash is not None else 0


def bench_overhead(rounds: int = 5) -> tuple[str, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = _plan_file(folder, 1000)
        walls: dict[str, list[float]] = {"none": [], "overview": [], "gantt": []}
        redraws: list[int] = []
        _wall(path, folder / "warm", "none")  # imports, caches
        _wall(path, folder / "warm2", "gantt")
        for i in range(rounds):  # interleaved: the machine's load hits all alike
            for kind in walls:
                took, figure_draws = _wall(path, folder / f"{kind}{i}", kind)
                walls[kind].append(took)
                if kind == "gantt":
                    redraws.append(figure_draws)
    base = statistics.median(walls["none"])
    shown = statistics.median(walls["overview"]) / base
    gantt = statistics.median(walls["gantt"]) / base
    return (
        f"(b) 1,000-task run: {base:.2f} s without the dashboard; with it {shown:.3f}x, "
        f"with its live Gantt tab open {gantt:.3f}x ({statistics.median(redraws):g} Gantt "
        f"redraws per run; medians of {rounds}); goal <= 1.10x",
        shown <= 1.10 and gantt <= 1.10,
    )


_KERNEL_RUN = """
import asyncio, taskexec_nb
async def work():
    await asyncio.sleep(0.002)
plan = taskexec_nb.load("tasks.md")
run = await plan.arun(callables={"T*": work}, writeback=False, max_workers=4)
run
"""


def bench_kernel() -> tuple[str, bool]:
    from jupyter_client.manager import KernelManager

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _plan_file(folder, 1000)
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(cwd=str(folder))
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        try:

            def cell(code: str) -> tuple[float, list[dict[str, Any]]]:
                started = time.perf_counter()
                msg_id = client.execute(code)
                seen = []
                while True:
                    msg = client.get_iopub_msg(timeout=120)
                    seen.append(msg)
                    if (
                        msg["parent_header"].get("msg_id") == msg_id
                        and msg["msg_type"] == "status"
                        and msg["content"]["execution_state"] == "idle"
                    ):
                        return time.perf_counter() - started, seen

            cell("import taskexec_nb, asyncio")
            idle = [cell("1")[0] for _ in range(20)]
            started = time.perf_counter()
            _, shown = cell(_KERNEL_RUN)
            busy: list[float] = []
            traffic = list(shown)
            while True:
                took, seen = cell("run.done")
                traffic += seen
                busy.append(took)
                done = any(
                    m["msg_type"] == "execute_result"
                    and m["content"]["data"]["text/plain"] == "True"
                    for m in seen
                )
                if done:
                    break
            wall = time.perf_counter() - started
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    comms = [m for m in traffic if m["msg_type"] in ("comm_msg", "update_display_data")]
    size = sum(len(json.dumps(m["content"], default=str)) for m in comms)
    median = statistics.median(busy)
    return (
        f"(c) kernel with the dashboard during a 1,000-task run ({wall:.1f} s): a cell's round "
        f"trip median {median * 1000:.0f} ms, worst {max(busy) * 1000:.0f} ms ({len(busy)} "
        f"cells; idle kernel {statistics.median(idle) * 1000:.0f} ms); to the browser "
        f"{len(comms) / wall:.1f} messages/s, {size / 1000 / wall:.1f} kB/s; goal: median < 100 ms",
        median < 0.1,
    )


def main() -> int:
    """Run the benchmarks and print one verdict line each."""
    parser = argparse.ArgumentParser(description="dashboard benchmarks")
    parser.add_argument("--no-fail", action="store_true")
    parser.add_argument("--only", default="a,b,c")
    args = parser.parse_args()
    chosen = set(args.only.split(","))
    failed = False
    for name, bench in (("a", bench_click), ("b", bench_overhead), ("c", bench_kernel)):
        if name not in chosen:
            continue
        line, ok = bench()
        failed |= not ok
        print(("PASS " if ok else "FAIL ") + line, flush=True)
    return 1 if failed and not args.no_fail else 0


if __name__ == "__main__":
    raise SystemExit(main())
