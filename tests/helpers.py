"""Helpers shared by the test modules: tasks files that record what ran, waits, process checks.

Test modules import from here (or from conftest), never from one another.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import md

from taskexec_nb.store import StateStore

# Tests that read processes through /proc.
linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="checks processes through /proc (Linux only)"
)


FENCE = "```"


def block(*lines: str, lang: str = "bash") -> str:
    """A fenced block indented under a list item."""
    body = "".join(f"  {line}\n" for line in lines)
    return f"  {FENCE}{lang}\n{body}  {FENCE}\n"


def stamped(sleep: float = 0.1) -> str:
    """A bash action writing times/<id>.start and times/<id>.end around a sleep."""
    return block(
        "mkdir -p times",
        'date +%s.%N > "times/$TASKEXEC_TASK_ID.start"',
        f"sleep {sleep}",
        'date +%s.%N > "times/$TASKEXEC_TASK_ID.end"',
    )


MARK = block("mkdir -p ran", 'touch "ran/$TASKEXEC_TASK_ID"')


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tasks.md"
    path.write_text(text, encoding="utf-8")
    return path


def times(folder: Path) -> dict[str, tuple[float, float]]:
    """Task ID -> (start, end) as the tasks themselves recorded them."""
    out = {}
    for start in sorted((folder / "times").glob("*.start")):
        task_id = start.name.removesuffix(".start")
        end = start.with_suffix(".end")
        out[task_id] = (
            float(start.read_text()),
            float(end.read_text()) if end.exists() else float("inf"),
        )
    return out


def ran(folder: Path) -> set[str]:
    return {p.name for p in (folder / "ran").glob("*")} if (folder / "ran").is_dir() else set()


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return max(a[0], b[0]) < min(a[1], b[1])


def proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), None if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def proc_state(pid: int) -> str | None:
    fields = proc_stat(pid)
    return fields[0] if fields else None


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie awaiting its reaper counts as gone)."""
    return proc_state(pid) in (None, "Z", "X")


def wait_until(cond: Callable[[], bool], timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


def read_pid(path: Path) -> int:
    assert wait_until(lambda: path.exists() and path.read_text().strip() != ""), path
    return int(path.read_text())


async def aread_pid(path: Path) -> int:
    await until(lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


def run_async(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        asyncio.run(asyncio.wait_for(body(), 30))
    finally:
        gc.collect()  # report leaked pipes or transports here, within this test


@contextmanager
def store_of(tmp_path: Path) -> Iterator[StateStore]:
    with closing(StateStore(tmp_path / "state" / "state.db")) as store:
        yield store


def rows_by_id(store: StateStore, run_id: str) -> dict[str, dict[str, Any]]:
    return {r["task_id"]: r for r in store.tasks(run_id)}


def statuses(handle: Any) -> dict[str, str]:
    return {row["id"]: row["status"] for row in handle.snapshot()}


def errors(handle: Any) -> dict[str, str | None]:
    return {row["id"]: row["error"] for row in handle.snapshot()}


def counted(name: str, fail_unless: str | None = None) -> str:
    """A bash block that appends the task's name to count.txt (and fails without a file)."""
    gate = f"test -e {fail_unless} || exit 3\n  " if fail_unless else ""
    return f"  ~~~bash\n  {gate}echo {name} >> count.txt\n  ~~~\n"


TASKS = md(
    "# Tasks\n\n## Phase 1: Setup\n\n"
    f"- [ ] T001 First\n{counted('T001')}"
    f"- [ ] T002 [US1] Second\n{counted('T002')}"
    f"- [ ] T003 [US2] Third\n{counted('T003', fail_unless='fixed')}"
    "\n## Phase 2: Polish\n\n"
    f"- [ ] T004 [US2] Fourth\n{counted('T004')}"
)


def write_tasks(folder: Path, text: str = TASKS, name: str = "tasks.md") -> Path:
    (folder / ".git").mkdir(exist_ok=True)  # the config search stops here
    path = folder / name
    path.write_text(text)
    return path


def counts(folder: Path) -> list[str]:
    path = folder / "count.txt"
    return path.read_text().split() if path.exists() else []


@contextlib.asynccontextmanager
async def running(plan: Any, **settings: Any) -> AsyncIterator[Any]:
    """A started run, cancelled and awaited on the way out if a check failed midway."""
    handle = await plan.arun(**settings)
    try:
        yield handle
    finally:
        if not handle.done:
            handle.cancel()
            await handle.wait()
