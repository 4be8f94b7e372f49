"""Shared fixtures: the real-world corpus, the golden fixtures folder, the executor contract."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from taskexec_nb.events import TaskStatus
from taskexec_nb.executors import AttemptContext, Executor, Outcome
from taskexec_nb.model import Task
from taskexec_nb.settings import RunSettings

# A harness that starts pytest in the background (SIGINT ignored) would make the Ctrl-C
# tests meaningless; with Python's handler, task subprocesses get the default again.
signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def corpus_dir() -> Path:
    """The real tasks.md corpus: $TASKEXEC_CORPUS or ../shared/corpus/real."""
    env = os.environ.get("TASKEXEC_CORPUS")
    return Path(env) if env else ROOT.parent / "shared" / "corpus" / "real"


def corpus_files() -> list[Path]:
    folder = corpus_dir()
    return sorted(folder.glob("*.md")) if folder.is_dir() else []


FENCE = "```"


def compiled_on_import(module: str, after: tuple[str, ...] = ()) -> list[str]:
    """The regular expressions a fresh process compiles while importing ``module``.

    Args:
        module: The module to import.
        after: Modules imported first (what they compile is not counted).

    Returns:
        The patterns compiled, in order.
    """
    import subprocess
    import sys

    code = (
        f"import re, json, {', '.join(('taskexec_nb', *after))}\n"
        "compiled = []\n"
        "real = re._compile\n"
        "re._compile = lambda p, f: compiled.append(str(p)) or real(p, f)\n"
        f"import {module}\n"
        "print(json.dumps(compiled))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    import json

    found: list[str] = json.loads(done.stdout)
    return found


def md(text: str) -> str:
    """Dedent a tasks.md snippet; ``~~~`` stands for a backtick fence."""
    return textwrap.dedent(text).replace("~~~", FENCE)


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """1-based line of the ``nth`` line of ``text`` containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.split("\n")) if needle in line]
    assert len(hits) > nth, f"{needle!r} not in text"
    return hits[nth]


def procs() -> list[tuple[int, str, int]]:
    """(pid, state, process group) of every process, read from /proc."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        out.append((int(entry), fields[0].decode(), int(fields[2])))
    return out


def group_members(pgid: int) -> list[int]:
    """Live (not zombie, not dead) processes of a process group."""
    return [pid for pid, state, pgrp in procs() if pgrp == pgid and state not in ("Z", "X")]


@pytest.fixture
def corpus() -> Path:
    folder = corpus_dir()
    if not folder.is_dir():
        pytest.skip(f"corpus folder {folder} is absent (set TASKEXEC_CORPUS)")
    return folder


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _no_taskexec_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests see no TASKEXEC_* settings from the machine that runs them."""
    for name in list(os.environ):
        if name.startswith("TASKEXEC_") and name != "TASKEXEC_CORPUS":
            monkeypatch.delenv(name)


# --- the executor contract -------------------------------------------------------------------

CONTRACT_TAIL = 4  # tail_lines of contract runs: small, so bounding shows

CONTRACT_PREAMBLE = "import os, signal, sys, time\nENV, CWD = os.environ, os.getcwd()\n"
"""How a process reads its environment and folder; a callable gets ``ctx.env`` and ``ctx.cwd``."""


def contract_body(mode: str, fail: str = "sys.exit(3)") -> str:
    """What a contract task does, as Python reading ``ENV`` and ``CWD``.

    ``ok`` prints markers on both streams, its variable and folder, then ten lines;
    ``fail`` prints and then runs ``fail``; ``sleep`` notes its pid (``worker.pid``) and
    sleeps; ``ignore-term`` does too, noting a SIGTERM in ``term.txt`` and sleeping on.
    """
    if mode == "ok":
        return (
            "print('contract-out', flush=True)\n"
            "print('contract-err', file=sys.stderr, flush=True)\n"
            "print('var=' + ENV['CONTRACT_VAR'])\n"
            "print('cwd=' + str(CWD))\n"
            "for i in range(1, 11):\n    print('line' + str(i))\n"
        )
    if mode == "fail":
        return (
            "print('contract-out', flush=True)\n"
            "print('contract-err', file=sys.stderr, flush=True)\n" + fail + "\n"
        )
    note = (
        "def noted(signum, frame):\n"
        "    with open(os.path.join(CWD, 'term.txt'), 'w') as f:\n"
        "        f.write('TERM')\n"
        "signal.signal(signal.SIGTERM, noted)\n"
    )
    return (
        (note if mode == "ignore-term" else "")
        + "with open(os.path.join(CWD, 'worker.tmp'), 'w') as f:\n    f.write(str(os.getpid()))\n"
        "os.replace(os.path.join(CWD, 'worker.tmp'), os.path.join(CWD, 'worker.pid'))\n"
        "print('started', flush=True)\n"
        "for _ in range(600):\n    time.sleep(0.1)\n"
    )


@dataclass
class ContractSetup:
    """A task for one executor, with the settings and callables it needs."""

    task: Task
    settings: dict[str, Any] = field(default_factory=dict)
    callables: dict[str, Any] = field(default_factory=dict)


@dataclass
class ContractRun:
    """One contract attempt: its context, what on_output got, how it ended and when."""

    ctx: AttemptContext
    chunks: list[tuple[str, str]]
    outcome: Outcome
    started: float
    ended: float

    def output(self, stream: str | None = None) -> str:
        return "".join(text for name, text in self.chunks if stream in (None, name))

    def worker(self) -> int:
        return int((self.ctx.cwd / "worker.pid").read_text())


def contract_task(text: str) -> Task:
    """The one task of a tiny tasks.md (no error diagnostics allowed)."""
    from taskexec_nb.parse import parse_text

    parsed = parse_text(text)
    assert not [d for d in parsed.diagnostics if d.is_error], parsed.diagnostics
    return parsed.tasks[0]


class ExecutorContract:
    """What every executor does with an attempt; one subclass per executor.

    A subclass names its executor and builds, from :func:`contract_body`, a task
    that executor runs (:meth:`setup`). The tests run it for real: success,
    failure and its exit code, timeout (SIGTERM, then SIGKILL after
    ``kill_grace``), cancel, output in the log, the tails and ``on_output``, and
    the task's environment and working folder.
    """

    name: ClassVar[str]
    failure_exit_code: ClassVar[int | None] = 3
    """The exit code a failing task reports (None: no process of its own)."""
    term_reaches_task: ClassVar[bool] = True
    """Whether the task's own code gets the SIGTERM (a notebook's kernel, in a
    session of its own, is SIGKILLed by its marks once papermill has ended)."""
    separate_streams: ClassVar[bool] = True
    """Whether the task's stdout and stderr stay apart (papermill logs a notebook's
    cell output, both streams, on its own stderr, then its own lines)."""
    startup: ClassVar[float] = 0.0
    """Seconds before the task's code runs (a notebook's kernel starts), added to timeouts."""
    ends_on_timeout: ClassVar[bool] = True
    """Whether the attempt waits for its process to end (a callable's thread cannot be
    stopped: the attempt ends at once, its processes after it)."""

    def setup(self, work: Path, mode: str) -> ContractSetup:
        """The task (and settings, callables) that does ``mode`` (see contract_body)."""
        raise NotImplementedError

    def run(
        self,
        tmp: Path,
        mode: str,
        *,
        timeout: float | None = None,
        grace: float = 5.0,
        cancel_on: str | None = None,
    ) -> ContractRun:
        from taskexec_nb.executors import ExecutorRegistry, ProcessControl

        work = tmp / "work dir"
        work.mkdir(parents=True, exist_ok=True)
        setup = self.setup(work, mode)
        registry = ExecutorRegistry(setup.callables)
        executor = registry.get(self.name)
        assert isinstance(executor, Executor) and executor.name == self.name
        assert registry.for_task(setup.task) is executor, "the task suits its executor"
        chunks: list[tuple[str, str]] = []
        control = ProcessControl()

        def on_output(stream: str, text: str) -> None:
            chunks.append((stream, text))
            if cancel_on is not None and cancel_on in text:
                control.cancel()

        run_id = "run-contract-1"
        env = {
            **os.environ,
            "CONTRACT_VAR": "a value with spaces $x",
            "TASKEXEC_RUNNER": f"{os.getpid()}-contract",
            "TASKEXEC_RUN_ID": run_id,
            "TASKEXEC_TASK_ID": setup.task.id,
            "TASKEXEC_ATTEMPT": "1",
        }
        settings = RunSettings(tail_lines=CONTRACT_TAIL, kill_grace=grace, **setup.settings)
        ctx = AttemptContext(
            run_id=run_id,
            task=setup.task,
            attempt=1,
            settings=settings,
            tasks_file=tmp / "tasks.md",
            cwd=work,
            env=env,
            timeout=timeout,
            log_path=tmp / "logs" / f"{setup.task.id}.1.log",
            artifact_dir=tmp / "logs",
            control=control,
            on_output=on_output,
        )
        started = time.monotonic()
        outcome = asyncio.run(executor.run(ctx))
        return ContractRun(ctx, chunks, outcome, started, time.monotonic())

    @staticmethod
    def gone(pid: int, within: float) -> float:
        """Wait until ``pid`` no longer runs; when that was seen (monotonic)."""
        from taskexec_nb._procfs import process_alive

        deadline = time.monotonic() + within
        while process_alive(pid):
            assert time.monotonic() < deadline, f"process {pid} still runs"
            time.sleep(0.02)
        return time.monotonic()

    def test_success(self, tmp_path: Path) -> None:
        run = self.run(tmp_path, "ok")
        assert run.outcome.status is TaskStatus.COMPLETED, run.outcome
        assert run.outcome.error is None
        if self.failure_exit_code is not None:
            assert (run.outcome.exit_code, run.outcome.signal) == (0, None)

    def test_failure_and_its_exit_code(self, tmp_path: Path) -> None:
        run = self.run(tmp_path, "fail")
        assert run.outcome.status is TaskStatus.FAILED, run.outcome
        assert run.outcome.error
        assert run.outcome.exit_code == self.failure_exit_code
        assert run.outcome.signal is None
        assert "contract-err" in run.ctx.log_path.read_text()

    def test_output_reaches_the_log_the_tails_and_on_output(self, tmp_path: Path) -> None:
        run = self.run(tmp_path, "ok")
        log = run.ctx.log_path.read_text()
        assert log == run.output(), "the log holds exactly what on_output got"
        assert "contract-out" in run.output("stdout") + run.output("stderr")
        assert "contract-err" in run.output("stderr")
        assert set(run.outcome.stderr_tail.split("\n")) <= set(run.output("stderr").splitlines())
        tail = run.outcome.tail.split("\n")
        assert 0 < len(tail) <= CONTRACT_TAIL
        assert len(run.outcome.stderr_tail.split("\n")) <= CONTRACT_TAIL
        assert set(tail) <= set(log.splitlines())
        if self.separate_streams:
            assert "contract-err" in run.outcome.stderr_tail
            assert "line10" in tail and "line1" not in tail  # the last lines, bounded

    def test_env_and_cwd_are_the_tasks(self, tmp_path: Path) -> None:
        run = self.run(tmp_path, "ok")
        lines = run.ctx.log_path.read_text().splitlines()
        assert "var=a value with spaces $x" in lines
        assert f"cwd={run.ctx.cwd.resolve()}" in lines or f"cwd={run.ctx.cwd}" in lines

    def test_timeout_sends_sigterm(self, tmp_path: Path) -> None:
        timeout = 1.0 + self.startup
        run = self.run(tmp_path, "sleep", timeout=timeout, grace=30.0)
        assert run.outcome.status is TaskStatus.TIMED_OUT, run.outcome
        assert run.outcome.error == f"timed out after {timeout:g} s"
        assert run.ended - run.started < timeout + 15  # long before the 30 s grace
        gone = self.gone(run.worker(), 10)
        assert gone - run.started < timeout + 15  # SIGTERM ended it, no SIGKILL was waited for

    def test_timeout_sigkills_after_kill_grace(self, tmp_path: Path) -> None:
        timeout, grace = 1.0 + self.startup, 1.5
        run = self.run(tmp_path, "ignore-term", timeout=timeout, grace=grace)
        assert run.outcome.status is TaskStatus.TIMED_OUT, run.outcome
        gone = self.gone(run.worker(), 15)
        if self.term_reaches_task:
            assert (run.ctx.cwd / "term.txt").read_text() == "TERM"
            assert gone - run.started >= timeout + grace  # it ignored SIGTERM: SIGKILL came
        assert run.ended - run.started >= timeout
        if not self.ends_on_timeout:  # the attempt ends at once; its processes after it
            assert run.ended - run.started < timeout + grace
        elif self.term_reaches_task:  # the attempt waited for the SIGKILL
            assert run.ended - run.started >= timeout + grace

    def test_cancel_ends_the_attempt(self, tmp_path: Path) -> None:
        run = self.run(
            tmp_path, "sleep", timeout=60 + self.startup, grace=30.0, cancel_on="started"
        )
        assert run.outcome.status is TaskStatus.CANCELLED, run.outcome
        assert run.outcome.error == "cancelled"
        assert run.ended - run.started < 30 + self.startup
        self.gone(run.worker(), 10)
