"""Helpers shared by the test modules: tasks files that record what ran, waits, process checks.

Test modules import from here (or from conftest), never from one another.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import IO, Any

import pytest
from conftest import md, procs

from taskexec_nb.store import RunRecord, StateStore

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


def write_md(tmp_path: Path, text: str) -> Path:
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


def wait_pid(path: Path) -> int:
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
def opened_store(tmp_path: Path) -> Iterator[StateStore]:
    with closing(StateStore(tmp_path / "state" / "state.db")) as store:
        yield store


def run_record(run_id: str, settings: str | None) -> RunRecord:
    """A run as the store reads it, with only its ID and recorded settings set."""
    return RunRecord(
        run_id, "tasks.md", None, "failed", None, None, None, None, settings, None, None, None, None
    )


def rows_by_id(store: StateStore, run_id: str) -> dict[str, dict[str, Any]]:
    return {r.task_id: r.as_dict() for r in store.tasks(run_id)}


def statuses(handle: Any) -> dict[str, str]:
    return {row["id"]: row["status"] for row in handle.snapshot()}


def errors(handle: Any) -> dict[str, str | None]:
    return {row["id"]: row["error"] for row in handle.snapshot()}


def counted(name: str, fail_unless: str | None = None) -> str:
    """A bash block that appends the task's name to count.txt (and fails without a file)."""
    gate = f"test -e {fail_unless} || exit 3\n  " if fail_unless else ""
    return f"  ~~~bash\n  {gate}echo {name} >> count.txt\n  ~~~\n"


COUNTED_TASKS = md(
    "# Tasks\n\n## Phase 1: Setup\n\n"
    f"- [ ] T001 First\n{counted('T001')}"
    f"- [ ] T002 [US1] Second\n{counted('T002')}"
    f"- [ ] T003 [US2] Third\n{counted('T003', fail_unless='fixed')}"
    "\n## Phase 2: Polish\n\n"
    f"- [ ] T004 [US2] Fourth\n{counted('T004')}"
)


def write_tasks(folder: Path, text: str = COUNTED_TASKS, name: str = "tasks.md") -> Path:
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


SLOW_TASK = '## Phase 1: X\n\n- [ ] T001 Slow\n  - taskexec: run="echo started; sleep 30"\n'


def spawn_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "taskexec_nb.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def task_status(folder: Path, task_id: str) -> str | None:
    path = folder / ".taskexec" / "state.db"
    if not path.exists():
        return None  # the runner has not made its store yet
    with closing(StateStore(path)) as store:
        run_id = store.latest_run()
        rows = {t.task_id: t.status for t in store.tasks(run_id)} if run_id else {}
    return rows.get(task_id)


def wait_running(folder: Path) -> None:
    """Wait until the store has T001 running (its start is committed within 50 ms)."""
    assert wait_until(lambda: task_status(folder, "T001") == "running", 30)


def latest_run(folder: Path) -> dict[str, object]:
    with closing(StateStore(folder / ".taskexec" / "state.db")) as store:
        run_id = store.latest_run()
        assert run_id is not None
        return store.run(run_id).as_dict()


def _sigkilled_runner(tmp_path: Path) -> tuple[Path, str]:
    """A run whose runner was SIGKILLed mid-task: recorded running, runner gone."""
    path = write_tasks(tmp_path, SLOW_TASK)
    proc = spawn_cli("run", str(path))
    wait_running(tmp_path)
    proc.kill()
    proc.communicate(timeout=30)
    run = latest_run(tmp_path)
    assert run["status"] == "running"  # as recorded: the runner had no time to say more
    return path, str(run["run_id"])


def _set_runner(folder: Path, run_id: str, **columns: object) -> None:
    """Change a run's recorded runner, as another host or a reused pid would leave it."""
    sets = ", ".join(f"{k} = ?" for k in columns)
    with closing(sqlite3.connect(folder / ".taskexec" / "state.db")) as db, db:
        db.execute(f"UPDATE runs SET {sets} WHERE run_id = ?", (*columns.values(), run_id))


MIXED = md(
    """\
    # Tasks: demo

    ## Phase 1: Setup

    - [ ] T001 Write hello
      ~~~bash
      echo hello-T001
      echo T001 >> effects.log
      ~~~
    - [ ] T002 [P] Fail on purpose
      ~~~bash
      echo oops-T002 >&2
      exit 3
      ~~~
    - [ ] T003 [P] Write world
      ~~~bash
      echo world-T003
      echo T003 >> effects.log
      ~~~
    """
)


def _write(tmp_path: Path, text: str = MIXED) -> Path:
    path = tmp_path / "tasks.md"
    path.write_bytes(text.encode())
    return path


_DEAD_RUNNER = textwrap.dedent(
    """
    import os, subprocess, sys
    from taskexec_nb.events import Event, EventKind
    from taskexec_nb.store import StateStore

    store = StateStore(sys.argv[1])
    rows = [dict(task_id=t, def_hash="h" + t, line=n, phase="Phase 1", story=None,
                 description="d") for n, t in enumerate(["T001", "T002", "T003"], 1)]
    store.create_run("dead-run", sys.argv[2], "template", {}, ["T001", "T002", "T003"], rows)
    # A task process carries its run's ID, as every real one does (the sweep checks it).
    sleeper = subprocess.Popen(["sleep", "30"], start_new_session=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               env={**os.environ, "TASKEXEC_RUN_ID": "dead-run"})
    store(Event(EventKind.TASK_STARTED, "dead-run", "T001", 1, "running", {"log_path": "l"}))
    store.record_pgid("dead-run", "T001", 1, sleeper.pid)
    store(Event(EventKind.TASK_STARTED, "dead-run", "T002", 1, "running", {"log_path": "l"}))
    store.record_pgid("dead-run", "T002", 1, 999999)
    store(Event(EventKind.TASK_FINISHED, "dead-run", "T002", 1, "completed", {"exit_code": 0}))
    store(Event(EventKind.TASK_STARTED, "dead-run", "T003", 1, "running", {"log_path": "l"}))
    store.close()
    print(os.getpid(), sleeper.pid, flush=True)
    os._exit(0)  # dies like a killed runner: nothing cleaned up, the sleeper left behind
    """
)


def read_until(stream: IO[str], needle: str, timeout: float = 30.0) -> str:
    """Read a child's pipe line by line up to the first line holding ``needle``.

    For a test that must wait until another process says it reached a state (a
    message on its stderr) rather than sleep and hope. Returns what was read, for
    the test to add to what it reads later.
    """
    got: list[str] = []
    seen = threading.Event()

    def reader() -> None:
        for line in stream:
            got.append(line)
            if needle in line:
                seen.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    assert seen.wait(timeout), f"{needle!r} not said within {timeout} s: {''.join(got)!r}"
    return "".join(got)


def ignores_sigterm(pid: int) -> bool:
    """The process has SIGTERM ignored (e.g. a shell's ``trap '' TERM`` is in place)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    for line in status.splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def leftovers(pgids: set[int], tasks_file: Path) -> list[str]:
    """Live processes in one of ``pgids``, or started for a task of ``tasks_file``.

    Zombies do not count: they run nothing (their parent, the killed runner, is gone).
    """
    marker = b"TASKEXEC_TASKS_FILE=" + str(tasks_file.resolve()).encode()
    found = []
    for pid, state, pgrp in procs():
        if state == "Z" or pid == os.getpid():
            continue
        if pgrp in pgids or marker in _environ(pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                cmd = "?"
            found.append(f"pid {pid} pgrp {pgrp} state {state}: {cmd.strip()}")
    return found


def wait_gone(pgids: set[int], tasks_file: Path, within: float, settle: float = 0.2) -> list[str]:
    """Poll until nothing is left for ``settle`` seconds (returns []) or ``within`` seconds pass.

    The quiet period catches a process that a dying runner forked but that had not
    exec'd the task yet (it does not look like a task's process for a moment).
    """
    deadline = time.monotonic() + within
    quiet_since: float | None = None
    while True:
        left = leftovers(pgids, tasks_file)
        now = time.monotonic()
        if left:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        if quiet_since is not None and now - quiet_since >= settle:
            return []
        if now >= deadline:
            return left
        time.sleep(0.02)


# --- a real Jupyter kernel, driven as a front end drives it ----------------------------------


class Executed:
    """What one execute request gave: the reply and the iopub messages of its cell."""

    def __init__(self, code: str, reply: dict[str, Any], outputs: list[tuple[str, Any]]) -> None:
        self.code = code
        self.reply = reply  # the execute_reply's content
        self.outputs = outputs  # (msg_type, content) of the cell's iopub messages, in order

    @property
    def ok(self) -> bool:
        return self.reply["status"] == "ok"

    def stream(self, name: str) -> str:
        return "".join(c["text"] for t, c in self.outputs if t == "stream" and c["name"] == name)

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    @property
    def bundles(self) -> list[dict[str, Any]]:
        """The data of each display_data and execute_result, in order."""
        return [c["data"] for t, c in self.outputs if t in ("display_data", "execute_result")]

    @property
    def result(self) -> str | None:
        """The execute_result's text/plain (None: the cell had no result)."""
        found = [c["data"] for t, c in self.outputs if t == "execute_result"]
        return found[-1].get("text/plain") if found else None

    def text(self, mime: str = "text/plain") -> str:
        return "\n".join(b[mime] for b in self.bundles if mime in b)

    @property
    def errors(self) -> list[dict[str, Any]]:
        """The cell's ``error`` messages: a traceback shown to the user."""
        return [c for t, c in self.outputs if t == "error"]

    def __repr__(self) -> str:
        return f"<Executed {self.code!r}: {self.reply.get('status')} {self.outputs!r:.2000}>"


class Kernel:
    """A real IPython kernel (the python3 kernelspec of this environment) in ``cwd``.

    It gets the environment of the tests without TASKEXEC_* settings, and shuts down
    gracefully (so coverage of its process is saved).
    """

    def __init__(self, cwd: Path) -> None:
        from jupyter_client.manager import KernelManager

        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKEXEC_")}
        self.cwd = cwd
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=str(cwd), env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 60) -> Executed:
        """Execute a cell; wait for its reply and for the kernel to go idle."""
        msg_id = self.client.execute(code)
        outputs: list[tuple[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind not in ("status", "execute_input"):
                outputs.append((kind, msg["content"]))
        while True:
            reply = self.client.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                return Executed(code, reply["content"], outputs)

    def value(self, expression: str) -> Any:
        """The value of a Python expression in the kernel (through its repr)."""
        import ast

        done = self.run(f"print(repr(({expression})))")
        assert done.ok, done
        return ast.literal_eval(done.stdout.strip())

    def complete(self, code: str) -> list[str]:
        """The kernel's completions at the end of ``code``."""
        msg_id = self.client.complete(code, len(code))
        while True:
            reply = self.client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return list(reply["content"]["matches"])

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel()  # gracefully: the kernel's coverage data is written


# Notebook tasks (test_notebook, test_preflight).
NOTEBOOK_TASKS = """\
# Tasks

## Phase 1: Notebooks

- [ ] T001 [P] Good notebook
  - taskexec: notebook=ok.ipynb
- [ ] T002 [P] Failing notebook
  - taskexec: notebook=fail.ipynb
- [ ] T003 [P] Broken notebook file
  - taskexec: notebook=broken.ipynb
"""


def write_notebook(path: Path, *cells: str, kernel: str = "python3") -> None:
    """A notebook with a ``parameters`` cell (``x = 1``), then ``cells``, for ``kernel``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(code) for code in cells]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nbformat.write(nb, path)


def notebook_project(tmp_path: Path, kernel: str = "python3") -> Path:
    """:data:`NOTEBOOK_TASKS` beside a good, a failing and a broken notebook."""
    write_notebook(tmp_path / "ok.ipynb", "print('ok cell output', x)", kernel=kernel)
    failing = "print('hello from cell')\nraise ValueError('cell boom')"
    write_notebook(tmp_path / "fail.ipynb", failing)
    (tmp_path / "broken.ipynb").write_text("this is not a notebook\n")
    return write_md(tmp_path, NOTEBOOK_TASKS)
