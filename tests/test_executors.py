"""Executors: one contract every registered executor meets, then each backend's own behaviour.

Everything runs for real: processes, process groups, a Jupyter kernel through
papermill, a fake agent CLI. Only the entry-point lookup is simulated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nbformat
import pytest
from conftest import (
    CONTRACT_PREAMBLE,
    ContractSetup,
    ExecutorContract,
    contract_body,
    group_members,
    md,
)
from helpers import (
    leftovers,
    wait_gone,
    wait_until,
)
from nbformat.v4 import new_code_cell, new_notebook

import taskexec_nb
import taskexec_nb.executors.registry as registry_module
from taskexec_nb import UsageError
from taskexec_nb._procfs import process_alive
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors import (
    ENTRY_POINT_GROUP,
    AttemptContext,
    Executor,
    ExecutorRegistry,
    Outcome,
    ProcessControl,
)
from taskexec_nb.executors.agent import AgentExecutor, agent_argv, agent_prompt, feature_context
from taskexec_nb.executors.callables import CallableExecutor
from taskexec_nb.executors.notebook import NotebookExecutor, _mask_notebook
from taskexec_nb.executors.output import MAX_LINE
from taskexec_nb.executors.process import run_process
from taskexec_nb.executors.registry import BUILTIN_NAMES
from taskexec_nb.executors.shell import PythonExecutor, ShellExecutor
from taskexec_nb.model import Action, ActionKind, Task
from taskexec_nb.parse import parse_text
from taskexec_nb.settings import RunSettings

FENCE = "```"
TAIL = 4  # tail_lines of the contract runs: small, so bounding is visible

# --- helpers --------------------------------------------------------------------------------


def task_from(text: str, task_id: str | None = None) -> Task:
    """Parse a tiny tasks.md (no error diagnostics allowed) and return one task."""
    parsed = parse_text(text)
    errors = [d.format() for d in parsed.diagnostics if d.is_error]
    assert not errors, errors
    return parsed.task(task_id) if task_id else parsed.tasks[0]


def block_task(lang: str, code: str, task_id: str = "T001", description: str = "Run it") -> Task:
    fence = textwrap.indent(f"{FENCE}{lang}\n{code}{FENCE}\n", "  ")
    return task_from(f"- [ ] {task_id} {description}\n{fence}")


def annotated_task(annotation: str, task_id: str = "T001", description: str = "Do it") -> Task:
    return task_from(f"- [ ] {task_id} {description}\n  - taskexec: {annotation}\n")


PLAIN = task_from("- [ ] T001 A plain task\n")


@dataclass
class Attempt:
    """An AttemptContext plus what its on_output received."""

    ctx: AttemptContext
    chunks: list[tuple[str, str]]
    outcome: Outcome | None = None
    seconds: float = 0.0

    def output(self, stream: str | None = None) -> str:
        return "".join(text for name, text in self.chunks if stream in (None, name))

    def log(self) -> bytes:
        return self.ctx.log_path.read_bytes()

    @property
    def result(self) -> Outcome:
        assert self.outcome is not None
        return self.outcome


def make_attempt(
    tmp: Path,
    task: Task = PLAIN,
    *,
    settings: RunSettings | None = None,
    cwd: Path | None = None,
    make_cwd: bool = True,
    env: dict[str, str] | None = None,
    timeout: float | None = None,
    hook: Callable[[Attempt, str, str], None] | None = None,
    run_id: str = "run-test-1",
) -> Attempt:
    work = cwd if cwd is not None else tmp / "work"
    if make_cwd:
        work.mkdir(parents=True, exist_ok=True)
    chunks: list[tuple[str, str]] = []

    def on_output(stream: str, text: str) -> None:
        chunks.append((stream, text))
        if hook is not None:
            hook(attempt, stream, text)

    ctx = AttemptContext(
        run_id=run_id,
        task=task,
        attempt=1,
        settings=settings or RunSettings(),
        tasks_file=tmp / "tasks.md",
        cwd=work,
        env=dict(os.environ) if env is None else env,
        timeout=timeout,
        log_path=tmp / "logs" / f"{task.id}.1.log",
        artifact_dir=tmp / "logs",
        control=ProcessControl(),
        on_output=on_output,
    )
    attempt = Attempt(ctx, chunks)
    return attempt


def run_with(attempt: Attempt, executor: Executor) -> Outcome:
    start = time.monotonic()
    attempt.outcome = asyncio.run(executor.run(attempt.ctx))
    attempt.seconds = time.monotonic() - start
    return attempt.outcome


def run_argv(attempt: Attempt, argv: Sequence[str], *, stdin_data: bytes | None = None) -> Outcome:
    start = time.monotonic()
    attempt.outcome = asyncio.run(run_process(attempt.ctx, argv, stdin_data=stdin_data))
    attempt.seconds = time.monotonic() - start
    return attempt.outcome


def last_lines(text: str, n: int) -> str:
    """The last ``n`` lines of ``text``, as a tail should report them."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return "\n".join(lines[-n:])


def eventually(predicate: Callable[[], bool], seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def read_pid(path: Path) -> int:
    assert eventually(lambda: path.exists() and path.read_text().strip() != "")
    return int(path.read_text())


# --- 1. the contract every registered executor meets ---------------------------------------

PY_OK = """\
import sys
print("hi", flush=True)
print("err-marker", file=sys.stderr, flush=True)
for i in range(1, 11):
    print("line" + str(i))  # no braces: agent_command elements are templates
"""
PY_FAIL = """\
print("hi", flush=True)
raise RuntimeError("err-marker")
"""
SH_OK = """\
echo hi
echo err-marker >&2
for i in 1 2 3 4 5 6 7 8 9 10; do echo "line$i"; done
"""
SH_FAIL = """\
echo hi
echo err-marker >&2
exit 1
"""


def write_notebook(path: Path, *, fail: bool) -> None:
    """A tiny notebook with a ``parameters`` cell that prints what it was given."""
    params = new_code_cell('task_id = "unset"\nrun_id = "unset"\ngreeting = "default"')
    params.metadata["tags"] = ["parameters"]
    cells = [
        params,
        new_code_cell("import os\nprint(task_id, run_id, greeting)\nprint(os.getcwd())"),
    ]
    if fail:
        cells.append(new_code_cell('raise RuntimeError("notebook boom")'))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@dataclass
class Case:
    """A task suited to one executor, and what its run must show."""

    task: Task
    settings: RunSettings = field(default_factory=lambda: RunSettings(tail_lines=TAIL))
    callables: dict[str, Any] = field(default_factory=dict)
    process: bool = True  # runs a process: it has an exit code
    logged: bool = True  # its output is logged, tailed and sent to on_output
    out_marker: str | None = None  # must be in the log
    err_marker: str | None = None  # must be in stderr_tail
    last_line: str | None = None  # must be among the tail's lines
    check: Callable[[Attempt], None] | None = None


def shell_case(work: Path, succeed: bool) -> Case:
    return Case(
        block_task("bash", SH_OK if succeed else SH_FAIL),
        out_marker="hi",
        err_marker="err-marker",
        last_line="line10" if succeed else None,
    )


def python_case(work: Path, succeed: bool) -> Case:
    return Case(
        block_task("python", PY_OK if succeed else PY_FAIL, "T002"),
        out_marker="hi",
        err_marker="err-marker" if succeed else "RuntimeError: err-marker",
        last_line="line10" if succeed else None,
    )


def notebook_case(work: Path, succeed: bool) -> Case:
    write_notebook(work / "nb" / "probe.ipynb", fail=not succeed)
    return Case(
        annotated_task("notebook=nb/probe.ipynb param.greeting=hello", "T003", "[US1] Probe"),
        out_marker="Input Notebook:",  # papermill's own log; cell output is in the notebook
        err_marker=None if succeed else "RuntimeError: notebook boom",
    )


def agent_case(work: Path, succeed: bool) -> Case:
    command = [sys.executable, "-c", PY_OK if succeed else PY_FAIL, "{id}"]
    return Case(
        annotated_task("executor=agent", "T004"),
        settings=RunSettings(tail_lines=TAIL, agent_command=command),
        out_marker="hi",
        err_marker="err-marker" if succeed else "RuntimeError: err-marker",
        last_line="line10" if succeed else None,
    )


def callable_case(work: Path, succeed: bool) -> Case:
    calls: list[str] = []

    def ok(ctx: AttemptContext) -> None:
        calls.append(ctx.task.id)
        print("hi")
        print("err-marker", file=sys.stderr)
        for i in range(1, 11):
            print(f"line{i}")

    def fail(ctx: AttemptContext) -> None:
        calls.append(ctx.task.id)
        print("hi")
        raise ValueError("err-marker")

    def check(attempt: Attempt) -> None:
        assert calls == ["T005"]

    return Case(
        task_from("- [ ] T005 Call a function\n"),
        callables={"T005": ok if succeed else fail},
        process=False,
        out_marker="hi",
        err_marker="err-marker" if succeed else "ValueError: err-marker",
        last_line="line10" if succeed else None,
        check=check,
    )


CASES: dict[str, Callable[[Path, bool], Case]] = {
    "shell": shell_case,
    "python": python_case,
    "notebook": notebook_case,
    "agent": agent_case,
    "callable": callable_case,
}


@dataclass
class ContractRun:
    executor: Executor
    case: Case
    attempt: Attempt


@pytest.fixture(scope="module")
def contract(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, bool], ContractRun]:
    """Runs each (executor, succeed) case once; the notebook tests reuse the kernel runs."""
    cache: dict[tuple[str, bool], ContractRun] = {}

    def get(name: str, succeed: bool) -> ContractRun:
        if (name, succeed) not in cache:
            if name not in CASES:
                pytest.fail(f"executor {name!r} has no contract case: add one to CASES")
            tmp = tmp_path_factory.mktemp(f"{name}-{'ok' if succeed else 'fail'}")
            case = CASES[name](tmp / "work", succeed)
            registry = ExecutorRegistry(case.callables)
            executor = registry.get(name)
            assert registry.for_task(case.task) is executor, "the case's task suits its executor"
            attempt = make_attempt(tmp, case.task, settings=case.settings)
            run_with(attempt, executor)
            cache[name, succeed] = ContractRun(executor, case, attempt)
        return cache[name, succeed]

    return get


@pytest.mark.parametrize("succeed", [True, False], ids=["succeeds", "fails"])
@pytest.mark.parametrize("name", ExecutorRegistry().names())
def test_every_executor_meets_the_contract(
    name: str, succeed: bool, contract: Callable[[str, bool], ContractRun]
) -> None:
    run = contract(name, succeed)
    executor, case, attempt = run.executor, run.case, run.attempt
    outcome = attempt.result
    assert isinstance(executor, Executor)
    assert isinstance(executor.name, str) and executor.name.strip()
    assert executor.name == name
    assert isinstance(outcome, Outcome)
    if succeed:
        assert outcome.status is TaskStatus.COMPLETED, outcome
        assert outcome.error is None
    else:
        assert outcome.status is TaskStatus.FAILED, outcome
        assert isinstance(outcome.error, str) and outcome.error
    tail = outcome.tail.split("\n") if outcome.tail else []
    assert len(tail) <= TAIL
    assert len(outcome.stderr_tail.split("\n")) <= TAIL
    if case.process:
        assert outcome.exit_code == (0 if succeed else 1)
        assert outcome.signal is None
    if case.logged:
        everything, errors = attempt.output(), attempt.output("stderr")
        assert everything and errors, "on_output received the process's output"
        log = attempt.log().decode("utf-8")
        assert log == everything  # the log holds exactly the output, both streams
        if case.out_marker:
            assert case.out_marker in log
        if all(text.endswith("\n") for _, text in attempt.chunks):
            assert outcome.tail == last_lines(everything, TAIL)
        else:
            # A stream's line arrived in pieces while the other stream wrote: the tail
            # keeps each stream's lines whole, so compare line by line.
            whole = attempt.output("stdout").splitlines() + errors.splitlines()
            assert set(outcome.tail.split("\n")) <= set(whole)
        assert outcome.stderr_tail == last_lines(errors, TAIL)
    if not succeed and not case.process:
        assert case.err_marker and case.err_marker in attempt.log().decode("utf-8")
        assert tail[-1] == case.err_marker
    if case.err_marker:
        assert case.err_marker in outcome.stderr_tail
    if case.last_line:
        assert case.last_line in tail
        assert "line1" not in tail  # older lines fell out of the tail
    if case.check:
        case.check(attempt)


# --- 2. run_process --------------------------------------------------------------------------


def test_process_gets_the_tasks_env_and_cwd_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKEXEC_TEST_LEAK", "leaked")
    cwd = tmp_path / "some dir"
    attempt = make_attempt(
        tmp_path,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "TASK_VAR": "value with spaces $x"},
    )
    script = 'pwd -P; printf "%s\\n" "$TASK_VAR"; printf "[%s]\\n" "${TASKEXEC_TEST_LEAK-unset}"'
    outcome = run_argv(attempt, ["/bin/sh", "-c", script])
    assert outcome.status is TaskStatus.COMPLETED
    assert attempt.output("stdout").splitlines() == [
        str(cwd.resolve()),
        "value with spaces $x",
        "[unset]",  # the env is the task's whole environment, not merged with ours
    ]


def test_missing_command_fails_with_cannot_start(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path)
    outcome = run_argv(attempt, ["taskexec-no-such-command-xyz", "--flag"])
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error and "cannot start" in outcome.error
    assert "taskexec-no-such-command-xyz" in outcome.error
    assert outcome.exit_code is None and outcome.signal is None
    assert "cannot start" in attempt.log().decode()
    assert attempt.ctx.control.pgid is None


def test_missing_cwd_fails_without_raising(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, cwd=tmp_path / "absent", make_cwd=False)
    outcome = run_argv(attempt, ["/bin/sh", "-c", "true"])
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error == (
        f"the working folder {tmp_path / 'absent'} does not exist (see the task's cwd)"
    )
    # A program that is not there is told apart from a folder that is not.
    attempt = make_attempt(tmp_path)
    outcome = run_argv(attempt, [str(tmp_path / "no-such-program")])
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error and outcome.error.startswith(
        f"cannot start '{tmp_path / 'no-such-program'}' in {tmp_path}"
    )


def test_exit_by_signal_is_reported(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path)
    outcome = run_argv(attempt, ["/bin/sh", "-c", "echo before; kill -9 $$"])
    assert outcome.status is TaskStatus.FAILED
    assert outcome.signal == signal.SIGKILL
    assert outcome.exit_code is None
    assert outcome.error == "killed by signal SIGKILL"
    assert outcome.tail == "before"


def test_nonzero_exit_code_is_reported(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path)
    outcome = run_argv(attempt, ["/bin/sh", "-c", "exit 7"])
    assert (outcome.status, outcome.exit_code, outcome.error) == (
        TaskStatus.FAILED,
        7,
        "exit code 7",
    )


@pytest.mark.parametrize(
    ("prefix", "grace", "minimum"),
    [("", 5.0, 0.5), ("trap '' TERM; ", 0.3, 0.8)],
    ids=["sigterm", "ignores-sigterm-then-sigkill"],
)
def test_timeout_ends_the_whole_process_group(
    tmp_path: Path, prefix: str, grace: float, minimum: float
) -> None:
    attempt = make_attempt(tmp_path, settings=RunSettings(kill_grace=grace), timeout=0.5)
    script = prefix + "sleep 30 & echo $! > grandchild.pid; echo started; wait"
    outcome = run_argv(attempt, ["/bin/sh", "-c", script])
    assert outcome.status is TaskStatus.TIMED_OUT
    assert outcome.error == "timed out after 0.5 s"
    assert outcome.tail == "started"
    assert minimum <= attempt.seconds < minimum + 4
    grandchild = read_pid(attempt.ctx.cwd / "grandchild.pid")
    pgid = attempt.ctx.control.pgid
    assert pgid is not None
    assert eventually(lambda: not group_members(pgid)), group_members(pgid)
    assert not process_alive(grandchild)


def test_cancel_while_running_ends_the_group(tmp_path: Path) -> None:
    def cancel_once_started(attempt: Attempt, stream: str, text: str) -> None:
        if "started" in text:
            attempt.ctx.control.cancel()

    attempt = make_attempt(tmp_path, hook=cancel_once_started, timeout=20)
    script = "sleep 30 & echo $! > child.pid; echo started; wait"
    outcome = run_argv(attempt, ["/bin/sh", "-c", script])
    assert outcome.status is TaskStatus.CANCELLED
    assert outcome.error == "cancelled"
    assert attempt.seconds < 4
    child = read_pid(attempt.ctx.cwd / "child.pid")
    pgid = attempt.ctx.control.pgid
    assert pgid is not None
    assert eventually(lambda: not group_members(pgid))
    assert not process_alive(child)


@pytest.mark.parametrize(
    "redirect",
    ["", " >/dev/null 2>&1 </dev/null"],
    ids=["holding-the-output-pipes", "detached-from-the-pipes"],
)
def test_background_leftovers_are_killed_when_the_task_exits(tmp_path: Path, redirect: str) -> None:
    attempt = make_attempt(tmp_path, timeout=5)  # a hang ends as TIMED_OUT, failing fast
    script = f"sleep 30{redirect} & echo $! > leftover.pid\necho done\n"
    outcome = run_argv(attempt, ["/bin/sh", "-c", script])
    assert outcome.status is TaskStatus.COMPLETED, outcome
    assert outcome.tail == "done"
    assert attempt.seconds < 4  # did not wait for the leftover
    leftover = read_pid(attempt.ctx.cwd / "leftover.pid")
    assert eventually(lambda: not process_alive(leftover))
    pgid = attempt.ctx.control.pgid
    assert pgid is not None and eventually(lambda: not group_members(pgid))


def test_stdin_data_reaches_the_process(tmp_path: Path) -> None:
    payload = bytes(range(256)) * 1200  # bigger than a pipe buffer
    attempt = make_attempt(tmp_path, timeout=20)
    code = (
        "import hashlib, sys; data = sys.stdin.buffer.read(); "
        "print(len(data), hashlib.sha256(data).hexdigest())"
    )
    outcome = run_argv(attempt, [sys.executable, "-c", code], stdin_data=payload)
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail == f"{len(payload)} {hashlib.sha256(payload).hexdigest()}"


def test_unread_stdin_data_does_not_break_the_attempt(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, timeout=20)
    outcome = run_argv(attempt, ["/bin/sh", "-c", "echo ignored"], stdin_data=b"x" * 2_000_000)
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail == "ignored"


def test_without_stdin_data_stdin_is_empty(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, timeout=20)
    outcome = run_argv(attempt, ["/bin/sh", "-c", "cat; echo eof"])
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail == "eof"


def test_tails_are_bounded_by_tail_lines(tmp_path: Path) -> None:
    settings = RunSettings(tail_lines=5)
    out = make_attempt(tmp_path / "out", settings=settings)
    outcome = run_argv(out, [sys.executable, "-c", "for i in range(1, 101): print(i)"])
    assert outcome.tail == "96\n97\n98\n99\n100"
    assert outcome.stderr_tail == ""
    assert out.log().decode().splitlines() == [str(i) for i in range(1, 101)]

    err = make_attempt(tmp_path / "err", settings=settings)
    code = "import sys\nfor i in range(1, 31): print(f'e{i}', file=sys.stderr)"
    outcome = run_argv(err, [sys.executable, "-c", code])
    assert outcome.stderr_tail == "e26\ne27\ne28\ne29\ne30"
    assert outcome.tail == outcome.stderr_tail


SPLIT_WRITER = """\
import os, sys, time
for part in sys.argv[1:]:
    os.write(1, bytes.fromhex(part))
    time.sleep(0.15)
"""


def test_lines_split_across_chunks_give_correct_tail_lines(tmp_path: Path) -> None:
    parts = [b"alpha-", b"beta\ngam", b"ma\nlast without newline"]
    attempt = make_attempt(tmp_path)
    outcome = run_argv(attempt, [sys.executable, "-c", SPLIT_WRITER, *(p.hex() for p in parts)])
    assert len(attempt.chunks) >= 2, "the output really arrived in several chunks"
    assert outcome.tail == "alpha-beta\ngamma\nlast without newline"
    assert attempt.output() == b"".join(parts).decode()


def test_utf8_character_split_across_chunks_is_not_garbled(tmp_path: Path) -> None:
    parts = [b"caf\xc3", b"\xa9 ok \xe2\x9c", b"\x93\n"]  # "café ok ✓\n", cut mid-character
    attempt = make_attempt(tmp_path)
    outcome = run_argv(attempt, [sys.executable, "-c", SPLIT_WRITER, *(p.hex() for p in parts)])
    assert outcome.status is TaskStatus.COMPLETED
    assert attempt.log() == b"".join(parts)
    assert outcome.tail == "café ok ✓"
    assert attempt.output() == "café ok ✓\n"


def test_non_utf8_output_does_not_crash(tmp_path: Path) -> None:
    raw = b"bad \xff\xfe\x80 bytes\nok\n"
    attempt = make_attempt(tmp_path)
    code = f"import os; os.write(1, {raw!r}); os.write(2, b'\\xff err\\n')"
    outcome = run_argv(attempt, [sys.executable, "-c", code])
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail.splitlines()[-1] in ("ok", "\ufffd err")
    assert "bad \ufffd\ufffd\ufffd bytes" in outcome.tail.splitlines()
    assert outcome.stderr_tail == "\ufffd err"
    assert raw in attempt.log()  # the log keeps the bytes as written


# --- 3. shell --------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["bash", "sh"])
def test_shell_block_stops_at_the_first_failing_command(tmp_path: Path, language: str) -> None:
    attempt = make_attempt(tmp_path, block_task(language, "echo before\nfalse\necho after\n"))
    outcome = run_with(attempt, ShellExecutor())
    assert outcome.status is TaskStatus.FAILED
    assert outcome.exit_code == 1
    assert outcome.tail == "before"
    assert b"after" not in attempt.log()


def test_bash_block_uses_pipefail(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, block_task("bash", "false | true\necho after\n"))
    outcome = run_with(attempt, ShellExecutor())
    assert outcome.status is TaskStatus.FAILED
    assert "after" not in attempt.output()


def test_shell_block_keeps_going_when_commands_succeed(tmp_path: Path) -> None:
    code = 'x=1\nif [ "$x" = 1 ]; then\n  echo "one $x"\nfi\necho two | tr a-z A-Z\n'
    attempt = make_attempt(tmp_path, block_task("bash", code))
    outcome = run_with(attempt, ShellExecutor())
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail == "one 1\nTWO"


def test_run_command_goes_through_the_configured_shell(tmp_path: Path) -> None:
    task = annotated_task('run="echo one && echo two | tr a-z A-Z"')
    assert task.action.kind is ActionKind.COMMAND
    assert isinstance(ExecutorRegistry().for_task(task), ShellExecutor)
    attempt = make_attempt(tmp_path, task)
    outcome = run_with(attempt, ShellExecutor())
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail == "one\nTWO"

    bash = shutil.which("bash")
    assert bash is not None
    which = make_attempt(
        tmp_path / "which", annotated_task("run='echo \"$0\"'"), settings=RunSettings(shell=bash)
    )
    assert run_with(which, ShellExecutor()).tail == bash


def test_failing_run_command_reports_its_exit_code(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, annotated_task('run="echo partial; exit 3"'))
    outcome = run_with(attempt, ShellExecutor())
    assert (outcome.status, outcome.exit_code, outcome.tail) == (TaskStatus.FAILED, 3, "partial")


def test_a_missing_notebook_only_the_description_names_leaves_the_task_without_action(
    tmp_path: Path,
) -> None:
    described = task_from("- [ ] T001 Create notebooks/eda.ipynb\n")
    explicit = annotated_task("notebook=notebooks/eda.ipynb")
    chosen = annotated_task("executor=notebook", "T002", "Create notebooks/eda.ipynb")
    registry = ExecutorRegistry()
    notebook = registry.get("notebook")
    assert registry.for_task(described) is notebook  # no folder given: as written
    assert registry.for_task(described, tmp_path) is None
    assert registry.for_task(explicit, tmp_path) is notebook
    assert registry.for_task(chosen, tmp_path) is notebook
    with_function = ExecutorRegistry({"T001": lambda: None})
    assert with_function.for_task(described, tmp_path) is with_function.callables
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "eda.ipynb").write_text("{}")
    assert registry.for_task(described, tmp_path) is notebook


# --- 4. agent --------------------------------------------------------------------------------

FAKE_AGENT = """\
import json, os, sys
record = {"argv": sys.argv[1:], "stdin": sys.stdin.read(), "cwd": os.getcwd()}
with open(os.environ["FAKE_AGENT_OUT"], "w", encoding="utf-8") as f:
    json.dump(record, f)
print("agent done")
"""


def hostile_task(victim: Path) -> Task:
    """An agent task whose text is full of shell metacharacters."""
    text = (
        f"Fix it; rm -rf {victim} $(touch pwned) `touch pwned` 'single' \"double\" "
        "&& echo injected > pwned | cat\nsecond line {id} {nope} $HOME * \\ end"
    )
    task = annotated_task("executor=agent", "T007", "[US3] placeholder")
    return dataclasses.replace(task, description=text, body=task.body + "\n" + text)


@pytest.fixture
def fake_agent(tmp_path: Path) -> Callable[..., Attempt]:
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE_AGENT, encoding="utf-8")

    def make(task: Task, *template: str) -> Attempt:
        env = {**os.environ, "FAKE_AGENT_OUT": str(tmp_path / "agent.json")}
        settings = RunSettings(agent_command=[sys.executable, str(script), *template])
        return make_attempt(tmp_path, task, settings=settings, env=env, timeout=30)

    return make


def agent_record(tmp_path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((tmp_path / "agent.json").read_text(encoding="utf-8"))
    return record


def test_agent_argv_puts_task_text_into_whole_elements(tmp_path: Path) -> None:
    task = hostile_task(tmp_path / "victim")
    template = ["agent", "--id={id}", "{description}", "-p", "{prompt}", "{story}", "{phase}"]
    argv, in_argv = agent_argv(template, task, "specs/tasks.md")
    assert in_argv is True
    assert argv == [
        "agent",
        "--id=T007",
        task.description,
        "-p",
        agent_prompt(task, "specs/tasks.md"),
        "US3",
        task.phase.label,
    ]
    assert task.description in argv[4]  # the prompt carries the text too, still one element


def test_hostile_description_reaches_the_agent_byte_for_byte(
    tmp_path: Path, fake_agent: Callable[..., Attempt]
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("still here")
    task = hostile_task(victim)
    attempt = fake_agent(task, "{description}", "--task={id}: {description}", "{prompt}")
    executor = ExecutorRegistry().for_task(task)
    assert isinstance(executor, AgentExecutor)
    outcome = run_with(attempt, executor)
    assert outcome.status is TaskStatus.COMPLETED, outcome
    assert outcome.tail == "agent done"
    record = agent_record(tmp_path)
    assert record["argv"] == [
        task.description,
        f"--task=T007: {task.description}",
        agent_prompt(task, str(attempt.ctx.tasks_file)),
    ]
    assert record["stdin"] == ""  # the prompt went into argv, so nothing on stdin
    assert record["cwd"] == str(attempt.ctx.cwd)
    assert not list(tmp_path.rglob("pwned*"))
    assert (victim / "keep.txt").read_text() == "still here"
    assert "injected" not in attempt.output()


def test_without_prompt_placeholder_the_prompt_arrives_on_stdin(
    tmp_path: Path, fake_agent: Callable[..., Attempt]
) -> None:
    task = hostile_task(tmp_path / "victim")
    attempt = fake_agent(task, "--id", "{id}")
    assert agent_argv(["x", "{id}"], task, "t.md")[1] is False
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome
    record = agent_record(tmp_path)
    assert record["argv"] == ["--id", "T007"]
    assert record["stdin"] == agent_prompt(task, str(attempt.ctx.tasks_file))


def test_escaped_prompt_braces_do_not_swallow_the_prompt(
    tmp_path: Path, fake_agent: Callable[..., Attempt]
) -> None:
    # "{{prompt}}" is a literal "{prompt}" argument, not the prompt: the agent
    # must still receive the prompt, on stdin.
    task = annotated_task("executor=agent", "T008", "Write the docs")
    attempt = fake_agent(task, "--literal={{prompt}}")
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome
    record = agent_record(tmp_path)
    assert record["argv"] == ["--literal={prompt}"]
    assert record["stdin"] == agent_prompt(task, str(attempt.ctx.tasks_file))


SHELL_HOSTILE = (
    "Update docs; touch {victim}\n$(touch {victim}) `touch {victim}` 'single' \"double\" "
    "it's \\ $HOME * {{id}} && touch {victim} | cat\n"
)


@pytest.mark.parametrize(
    "wrapper",
    [
        ["bash", "-c"],
        ["bash", "--noprofile", "-ec"],
        ["/usr/bin/env", "sh", "-c"],
        ["env", "FOO=1", "bash", "-o", "pipefail", "-c"],
        ["timeout", "60", "bash", "-c"],
        ["nice", "-n", "5", "sh", "-lc"],
        ["setsid", "-w", "dash", "-c"],  # -w: wait (a group leader forks)
        ["zsh", "-c"],
        ["ksh", "-ec"],
    ],
    ids=[
        "bash-c",
        "bash-ec",
        "env-sh-c",
        "env-assign-bash-o-c",
        "timeout-bash-c",
        "nice-sh-lc",
        "setsid-w-dash-c",
        "zsh-c",
        "ksh-ec",
    ],
)
def test_a_shell_wrapped_agent_gets_the_task_text_as_one_inert_word(
    tmp_path: Path, wrapper: list[str]
) -> None:
    if shutil.which(wrapper[0]) is None and not Path(wrapper[0]).exists():
        pytest.skip(f"{wrapper[0]} is not here")
    victim = tmp_path / "pwned"
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE_AGENT, encoding="utf-8")
    agent = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    task = annotated_task("executor=agent", "T007", "placeholder")
    text = SHELL_HOSTILE.format(victim=victim)
    task = dataclasses.replace(task, description=text)
    script_text = f"{agent} --id {{id}} {{description}} {{prompt}}"
    template = [*wrapper, script_text, "zero", "{description}"]
    env = {**os.environ, "FAKE_AGENT_OUT": str(tmp_path / "agent.json")}
    settings = RunSettings(agent_command=template)
    attempt = make_attempt(tmp_path, task, settings=settings, env=env, timeout=30)
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome
    assert not victim.exists()
    record = agent_record(tmp_path)
    prompt = agent_prompt(task, str(attempt.ctx.tasks_file))
    assert record["argv"] == ["--id", "T007", text, prompt]
    assert record["stdin"] == ""  # {prompt} was in the script
    # After the script, $0 and $1 are handed over as written: no quotes added.
    argv, _ = agent_argv(template, task, "t.md")
    assert argv[-2:] == ["zero", text]


FAKE_SSH = """\
#!/bin/sh
# ssh as the remote end sees it: options, the host, then the words joined into one
# command line for the login shell.
while [ "${1#-}" != "$1" ]; do
  case $1 in -p|-i|-l|-o) shift ;; esac
  shift
done
shift
exec sh -c "$*"
"""


@pytest.mark.parametrize(
    "form",
    ["script -qec SCRIPT /dev/null", "flock LOCK -c SCRIPT", "ssh -p 22 box SCRIPT"],
)
def test_programs_that_hand_a_string_to_a_shell_get_the_task_text_quoted(
    tmp_path: Path, form: str
) -> None:
    program = form.split()[0]
    if shutil.which(program) is None and program != "ssh":
        pytest.skip(f"{program} is not here")
    victim = tmp_path / "pwned"
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE_AGENT, encoding="utf-8")
    agent = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    task = annotated_task("executor=agent", "T007", "placeholder")
    text = SHELL_HOSTILE.format(victim=victim)
    task = dataclasses.replace(task, description=text)
    env = {**os.environ, "FAKE_AGENT_OUT": str(tmp_path / "agent.json")}
    # {prompt} in the script: nothing on stdin (script's terminal would never end it).
    words = {"LOCK": str(tmp_path / "lock"), "SCRIPT": f"{agent} {{id}} {{description}} {{prompt}}"}
    template = [words.get(word, word) for word in form.split()]
    if program == "ssh":  # no sshd here: a stand-in that does what the remote end does
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        (bin_dir / "ssh").write_text(FAKE_SSH, encoding="utf-8")
        (bin_dir / "ssh").chmod(0o755)
        template = [str(bin_dir / "ssh"), "-p", "22", "box", agent, "{id}", "{description}"]
        template.append("{prompt}")
    settings = RunSettings(agent_command=template)
    attempt = make_attempt(tmp_path, task, settings=settings, env=env, timeout=30)
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome
    assert not victim.exists()
    prompt = agent_prompt(task, str(attempt.ctx.tasks_file))
    assert agent_record(tmp_path)["argv"] == ["T007", text, prompt]


def test_a_shell_script_agent_command_needs_its_placeholders_bare() -> None:
    with pytest.raises(UsageError, match=r"\{description\} is inside double quotes"):
        RunSettings(agent_command=["bash", "-c", 'my-agent "{description}"'])


def speckit_feature(root: Path, documents: Sequence[str]) -> Path:
    """A spec-kit project: .git, the constitution, and specs/001-x/ with ``documents``."""
    (root / ".git").mkdir(parents=True)
    memory = root / ".specify" / "memory"
    memory.mkdir(parents=True)
    (memory / "constitution.md").write_text("# Constitution\n", encoding="utf-8")
    feature = root / "specs" / "001-x"
    feature.mkdir(parents=True)
    for name in documents:
        if name.endswith("/"):
            (feature / name).mkdir()
        else:
            (feature / name).write_text("# doc\n", encoding="utf-8")
    (feature / "tasks.md").write_text("- [ ] T001 Do it\n", encoding="utf-8")
    return feature / "tasks.md"


def test_feature_context_names_the_documents_that_exist_and_the_constitution(
    tmp_path: Path,
) -> None:
    tasks = speckit_feature(tmp_path / "proj", ["plan.md", "data-model.md", "contracts/"])
    (tasks.parent / "notes.md").write_text("not a design document")
    feature = tasks.parent
    assert feature_context(tasks) == "\n".join(
        [
            "Design documents of this feature (read them first):",
            f"- {feature / 'plan.md'}",
            f"- {feature / 'data-model.md'}",
            f"- {feature / 'contracts'}/",
            "Project constitution (its principles bind the work): "
            f"{tmp_path / 'proj' / '.specify' / 'memory' / 'constitution.md'}",
        ]
    )


def test_feature_context_stops_at_the_project_root(tmp_path: Path) -> None:
    # A constitution above the project's root (.git) belongs to another project.
    tasks = speckit_feature(tmp_path / "outer", [])
    inner = tasks.parent / "inner"
    (inner / ".git").mkdir(parents=True)
    (inner / "tasks.md").write_text("- [ ] T001 x\n")
    assert feature_context(inner / "tasks.md") == ""
    assert feature_context(tasks).startswith("Project constitution")


def test_feature_context_stops_at_a_project_root_without_git(tmp_path: Path) -> None:
    # A spec-kit project made without git (specify init --no-git) has .specify but no
    # .git: its root is where .specify is, and a constitution above it is another
    # project's, even while this project has none of its own yet.
    outer = speckit_feature(tmp_path / "outer", [])
    inner = outer.parent / "nested-project"
    (inner / ".specify" / "templates").mkdir(parents=True)
    feature = inner / "specs" / "002-y"
    feature.mkdir(parents=True)
    (feature / "tasks.md").write_text("- [ ] T001 x\n", encoding="utf-8")
    assert feature_context(feature / "tasks.md") == ""
    memory = inner / ".specify" / "memory"
    memory.mkdir()
    (memory / "constitution.md").write_text("# Ours\n", encoding="utf-8")
    assert feature_context(feature / "tasks.md") == (
        f"Project constitution (its principles bind the work): {memory / 'constitution.md'}"
    )


NESTED_TASK = """\
- [ ] T010 [US1] Build the parser in src/parse.py
  - Read the grammar:
    - tokens first
      - then the tree
  ```python
  def parse(text):
      return text
  ```
- [ ] T011 Next
"""


@pytest.mark.parametrize("enabled", [True, False])
def test_the_agent_gets_the_feature_context_and_the_details_as_written(
    tmp_path: Path, enabled: bool
) -> None:
    tasks = speckit_feature(tmp_path / "proj", ["plan.md", "spec.md"])
    task = task_from(NESTED_TASK, "T010")
    script = tmp_path / "fake_agent.py"
    script.write_text(FAKE_AGENT, encoding="utf-8")
    settings = RunSettings(
        agent_command=[sys.executable, str(script), "--context", "{context}"],
        agent_context=enabled,
    )
    env = {**os.environ, "FAKE_AGENT_OUT": str(tmp_path / "agent.json")}
    attempt = make_attempt(tmp_path, task, settings=settings, env=env, timeout=30)
    attempt.ctx = dataclasses.replace(attempt.ctx, tasks_file=tasks)
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome
    record = agent_record(tmp_path)
    context = feature_context(tasks) if enabled else ""
    assert record["argv"] == ["--context", context]
    prompt = record["stdin"]  # no {prompt} in the argv
    assert prompt == agent_prompt(task, str(tasks), context)
    details = NESTED_TASK.split("\n", 1)[1].split("- [ ] T011")[0].rstrip("\n")
    assert "Details:\n" + details + "\n" in prompt  # the first bullet keeps its indent
    assert (str(tasks.parent / "plan.md") in prompt) is enabled
    assert ("constitution.md" in prompt) is enabled
    assert str(tasks.parent / "research.md") not in prompt


def test_agent_prompt_names_the_task_and_forbids_ticking() -> None:
    task = annotated_task("executor=agent", "T009", "[US2] Add src/app/cli.py")
    prompt = agent_prompt(task, "specs/001/tasks.md")
    assert prompt.startswith("Implement task T009 from specs/001/tasks.md.")
    assert "Task: Add src/app/cli.py" in prompt
    assert "User story: US2" in prompt
    assert "Files: src/app/cli.py" in prompt
    assert "Do not edit the checkboxes" in prompt


def test_agent_prompt_details_leave_out_the_runners_annotations() -> None:
    text = md(
        """\
        - [ ] T001 Add the parser
          - taskexec: executor=agent timeout=30m
          - Read the spec in spec.md
            - keep the nested indent
          <!-- taskexec: retries=1 -->
        - [ ] T002 Only annotated
          - taskexec: executor=agent
        """
    )
    first, second = parse_text(text, "t.md").tasks
    prompt = agent_prompt(first, "t.md")
    assert "Details:\n  - Read the spec in spec.md\n    - keep the nested indent" in prompt
    assert "taskexec" not in prompt.replace("from t.md", "")
    assert "Details:" not in agent_prompt(second, "t.md")  # nothing left to detail


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("--x={nope}", "unknown placeholder {nope} in '--x={nope}'"),
        ("{", "bad template element '{'"),
        ("{0}", "unknown placeholder {0}"),
    ],
)
def test_bad_agent_template_is_refused_before_any_task_runs(element: str, expected: str) -> None:
    with pytest.raises(UsageError, match=re.escape(expected)):
        RunSettings(agent_command=[sys.executable, "-c", "pass", element])
    task = annotated_task("executor=agent")
    with pytest.raises(ValueError, match=f"agent_command: .*{re.escape(repr(element))}"):
        agent_argv([sys.executable, element], task, "t.md")  # used directly, it checks too


def test_unknown_placeholder_message_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder \{nope\}") as info:
        agent_argv(["a", "{nope}"], PLAIN, "t.md")
    assert "{prompt}" in str(info.value) and "{description}" in str(info.value)


def test_agent_without_agent_command_explains_how_to_set_it(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, annotated_task("executor=agent"))
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error and "agent_command" in outcome.error
    assert "{prompt}" in outcome.error  # shows an example argv
    assert attempt.ctx.control.pgid is None


# --- 5. notebook -----------------------------------------------------------------------------


def tagged(nb: Any, tag: str) -> list[Any]:
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def stream_text(cell: Any) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_notebook_runs_for_real_with_injected_parameters(
    contract: Callable[[str, bool], ContractRun],
) -> None:
    run = contract("notebook", True)
    ctx, outcome = run.attempt.ctx, run.attempt.result
    assert outcome.status is TaskStatus.COMPLETED
    saved = Path(outcome.artifacts["notebook"])
    assert saved.parent == ctx.artifact_dir and saved.is_file()
    nb = nbformat.read(str(saved), as_version=4)
    [injected] = tagged(nb, "injected-parameters")
    assert nb.cells.index(injected) == nb.cells.index(tagged(nb, "parameters")[0]) + 1
    assert f'task_id = "{ctx.task.id}"' in injected.source
    assert f'run_id = "{ctx.run_id}"' in injected.source
    assert 'greeting = "hello"' in injected.source  # from param.greeting=hello
    assert f'task_description = "{ctx.task.description}"' in injected.source
    printed = stream_text(nb.cells[-1]).splitlines()
    assert printed == [f"{ctx.task.id} {ctx.run_id} hello", str(ctx.cwd)]


def test_failing_notebook_fails_and_keeps_the_executed_copy(
    contract: Callable[[str, bool], ContractRun],
) -> None:
    run = contract("notebook", False)
    outcome = run.attempt.result
    assert outcome.status is TaskStatus.FAILED
    assert "RuntimeError: notebook boom" in outcome.stderr_tail
    saved = Path(outcome.artifacts["notebook"])
    nb = nbformat.read(str(saved), as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [(e.ename, e.evalue) for e in errors] == [("RuntimeError", "notebook boom")]
    # the cells before the failure ran
    [printer] = [c for c in nb.cells if "print(task_id" in c.source]
    assert stream_text(printer).startswith(f"{run.attempt.ctx.task.id} {run.attempt.ctx.run_id}")


def test_missing_notebook_fails_with_not_found(tmp_path: Path) -> None:
    task = annotated_task("notebook=nb/missing.ipynb")
    attempt = make_attempt(tmp_path, task)
    outcome = run_with(attempt, NotebookExecutor())
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error and "not found" in outcome.error and "nb/missing.ipynb" in outcome.error
    assert not outcome.artifacts
    assert attempt.ctx.control.pgid is None
    assert attempt.seconds < 2


# --- 6. callable -----------------------------------------------------------------------------

CALL_TASK = "- [ ] T003 [US2] Do it with a function\n"


@pytest.mark.parametrize("key", ["T003", "US2", "T00[0-9]", "T*", "?003"])
def test_callable_found_by_id_story_or_pattern(tmp_path: Path, key: str) -> None:
    seen: list[str] = []
    executor = CallableExecutor({key: lambda ctx: seen.append(ctx.task.id)})
    attempt = make_attempt(tmp_path, task_from(CALL_TASK))
    outcome = run_with(attempt, executor)
    assert outcome.status is TaskStatus.COMPLETED, outcome
    assert seen == ["T003"]


def test_callable_lookup_order_is_id_then_story_then_pattern() -> None:
    task = task_from(CALL_TASK)

    def by_id() -> None: ...

    def by_story() -> None: ...

    def by_pattern() -> None: ...

    assert (
        CallableExecutor({"T*": by_pattern, "US2": by_story, "T003": by_id}).registered(task)
        is by_id
    )
    assert CallableExecutor({"T*": by_pattern, "US2": by_story}).registered(task) is by_story
    assert CallableExecutor({"T*": by_pattern}).registered(task) is by_pattern
    # a key without wildcards is not a pattern, and other patterns do not match
    assert CallableExecutor({"T00": by_id, "X*": by_id, "US1": by_id}).registered(task) is None


def test_unregistered_task_is_a_failed_outcome(tmp_path: Path) -> None:
    attempt = make_attempt(tmp_path, task_from(CALL_TASK))
    outcome = run_with(attempt, CallableExecutor({"X*": print}))
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error == "no callable is registered for T003"


def test_callable_without_parameters_and_false_result(tmp_path: Path) -> None:
    calls: list[str] = []
    ok = make_attempt(tmp_path / "a", task_from(CALL_TASK))
    assert run_with(ok, CallableExecutor({"T003": lambda: calls.append("x")})).status is (
        TaskStatus.COMPLETED
    )
    assert calls == ["x"]
    no = make_attempt(tmp_path / "b", task_from(CALL_TASK))
    outcome = run_with(no, CallableExecutor({"T003": lambda: False}))
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error == "the callable returned False"


def test_async_callable_runs_on_the_loop(tmp_path: Path) -> None:
    async def work(ctx: AttemptContext) -> None:
        await asyncio.sleep(0)
        (ctx.cwd / "done.txt").write_text(ctx.task.id)

    attempt = make_attempt(tmp_path, task_from(CALL_TASK))
    assert run_with(attempt, CallableExecutor({"T003": work})).status is TaskStatus.COMPLETED
    assert (attempt.ctx.cwd / "done.txt").read_text() == "T003"


def test_async_callable_timeout_is_timed_out_and_cancels_it(tmp_path: Path) -> None:
    cancelled: list[bool] = []

    async def slow(ctx: AttemptContext) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    attempt = make_attempt(tmp_path, task_from(CALL_TASK), timeout=0.3)
    outcome = run_with(attempt, CallableExecutor({"T003": slow}))
    assert outcome.status is TaskStatus.TIMED_OUT
    assert outcome.error == "timed out after 0.3 s"
    assert attempt.seconds < 3
    assert cancelled == [True]


@pytest.mark.parametrize(
    "command",
    [
        ["sleep", "30"],
        ["sh", "-c", "sleep 30 & echo $! > grandchild.pid; wait"],  # and what it started
        ["sh", "-c", "trap '' TERM; sleep 30 & echo $! > grandchild.pid; wait"],  # needs KILL
    ],
    ids=["child", "grandchild", "ignores-sigterm"],
)
def test_a_timed_out_plain_callable_has_its_processes_ended(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text("# Tasks\n\n- [ ] T001 Build with a tool\n  - taskexec: timeout=1s\n")
    pids: list[int] = []
    returned: list[float] = []

    def build(ctx: AttemptContext) -> None:
        proc = subprocess.Popen(command, cwd=ctx.cwd, stdin=subprocess.DEVNULL)
        pids.append(proc.pid)
        proc.wait()  # what subprocess.run does: the thread waits for it
        returned.append(time.monotonic())

    started = time.monotonic()
    handle = taskexec_nb.load(path).run(callables={"T001": build}, kill_grace=0.5)
    assert handle.snapshot()[0]["status"] == "timed_out"
    # The thread's process was ended, so the thread returned (after the run, which did
    # not wait for it).
    assert wait_until(lambda: bool(returned), 10), "the callable's process was not ended"
    assert returned[0] - started < 10
    if "grandchild.pid" in command[-1]:  # its shell wrote the pid before the timeout
        pids.append(int((tmp_path / "grandchild.pid").read_text()))
    assert len(pids) == (2 if "grandchild.pid" in command[-1] else 1)
    until = time.monotonic() + 5
    while any(process_alive(pid) for pid in pids):
        assert time.monotonic() < until, f"left running: {[p for p in pids if process_alive(p)]}"
        time.sleep(0.02)


def test_a_plain_callable_that_finishes_keeps_what_it_started(tmp_path: Path) -> None:
    kept: list[subprocess.Popen[bytes]] = []

    def start_server() -> None:  # e.g. a server or a cluster for the tasks after it
        kept.append(subprocess.Popen(["sleep", "30"], stdin=subprocess.DEVNULL))

    attempt = make_attempt(tmp_path, task_from(CALL_TASK))
    try:
        outcome = run_with(attempt, CallableExecutor({"T003": start_server}))
        assert outcome.status is TaskStatus.COMPLETED
        time.sleep(0.2)
        assert kept[0].poll() is None
    finally:
        for proc in kept:
            proc.kill()
            proc.wait()


def test_callable_raising_timeout_error_itself_is_a_failure(tmp_path: Path) -> None:
    # A TimeoutError from the task's own code (a socket timeout, say) is the
    # task failing, not the attempt's timeout, and must not crash the executor.
    def flaky() -> None:
        raise TimeoutError("socket read timed out")

    attempt = make_attempt(tmp_path, task_from(CALL_TASK))
    outcome = run_with(attempt, CallableExecutor({"T003": flaky}))
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error == "TimeoutError: socket read timed out"


MODULE_SOURCE = """\
CALLS = []


def work(ctx):
    CALLS.append(ctx.task.id)


class Tools:
    @staticmethod
    def nested():
        CALLS.append("nested")


not_callable = 42
"""


@pytest.fixture
def task_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module on sys.path for ``callable=module:function`` annotations."""
    name = "taskexec_test_callables_mod"
    folder = tmp_path / "pymods"
    folder.mkdir()
    (folder / f"{name}.py").write_text(MODULE_SOURCE, encoding="utf-8")
    (folder / "taskexec_test_broken_mod.py").write_text(
        'raise RuntimeError("broken at import")\n', encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(folder))
    yield name
    for mod in (name, "taskexec_test_broken_mod"):
        sys.modules.pop(mod, None)


@pytest.mark.parametrize(("attr", "expected"), [("work", ["T005"]), ("Tools.nested", ["nested"])])
def test_callable_annotation_imports_module_function(
    tmp_path: Path, task_module: str, attr: str, expected: list[str]
) -> None:
    task = annotated_task(f"callable={task_module}:{attr}", "T005")
    registry = ExecutorRegistry()
    assert registry.for_task(task) is registry.callables
    attempt = make_attempt(tmp_path, task)
    outcome = run_with(attempt, registry.callables)
    assert outcome.status is TaskStatus.COMPLETED, outcome
    calls = sys.modules[task_module].CALLS
    assert calls == expected


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("taskexec_no_such_module_xyz:work", "No module named"),
        ("taskexec_test_callables_mod:missing", "missing"),
        ("taskexec_test_callables_mod", "module:function"),
        ("taskexec_test_callables_mod:not_callable", "not callable"),
        ("taskexec_test_broken_mod:work", "broken at import"),
    ],
    ids=["no-module", "no-attribute", "no-colon", "not-callable", "import-raises"],
)
def test_bad_callable_reference_is_a_failed_outcome(
    tmp_path: Path, task_module: str, reference: str, expected: str
) -> None:
    if ":" in reference:
        task = annotated_task(f"callable={reference}", "T005")
    else:  # validation refuses it in a tasks.md; code can still make such an action
        task = replace(PLAIN, id="T005", action=Action(ActionKind.CALLABLE, target=reference))
    attempt = make_attempt(tmp_path, task)
    outcome = run_with(attempt, CallableExecutor())
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error and reference in outcome.error and expected in outcome.error


def test_a_callable_module_beside_tasks_md_or_in_the_tasks_cwd_imports_without_pythonpath(
    tmp_path: Path,
) -> None:
    names = (
        "taskexec_beside_mod",
        "taskexec_beside_helper",
        "taskexec_in_cwd_mod",
        "taskexec_needs_missing",
    )
    (tmp_path / f"{names[3]}.py").write_text("import taskexec_missing_dep_xyz\n")
    (tmp_path / f"{names[1]}.py").write_text("WORD = 'beside'\n")
    (tmp_path / f"{names[0]}.py").write_text(
        f"import {names[1]}\n\n"
        "from pathlib import Path\n\n"
        "def work():\n"
        f"    Path(__file__).with_name('beside.txt').write_text({names[1]}.WORD)\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / f"{names[2]}.py").write_text(
        "from pathlib import Path\n\n"
        "def work():\n"
        "    Path(__file__).with_name('in_cwd.txt').write_text('cwd')\n"
    )
    path = tmp_path / "tasks.md"
    path.write_text(
        f"- [ ] T001 Beside\n  - taskexec: callable={names[0]}:work\n"
        f"- [ ] T002 In its cwd\n  - taskexec: callable={names[2]}:work cwd=sub\n"
        "- [ ] T003 Nowhere\n  - taskexec: callable=taskexec_nowhere_mod:work\n"
        f"- [ ] T004 Needs a missing package\n  - taskexec: callable={names[3]}:work\n",
        encoding="utf-8",
    )
    before = list(sys.path)
    try:
        handle = taskexec_nb.load(path).run(writeback=False, allow_failure=True)
        assert list(sys.path) == before  # the folders were on it for the imports only
        assert (tmp_path / "beside.txt").read_text() == "beside"
        assert (tmp_path / "sub" / "in_cwd.txt").read_text() == "cwd"
        rows = {row["id"]: row for row in handle.snapshot()}
        assert [rows[t]["status"] for t in ("T001", "T002", "T003")] == [
            "completed",
            "completed",
            "failed",
        ]
        error = rows["T003"]["error"] or ""
        assert "No module named 'taskexec_nowhere_mod'" in error
        assert f"looked in {tmp_path}, the task's working folder" in error
        # Found, but it imports what is not installed: that is the message, as is.
        assert rows["T004"]["error"] == (
            f"cannot import callable '{names[3]}:work': No module named 'taskexec_missing_dep_xyz'"
        )
    finally:
        for name in names:
            sys.modules.pop(name, None)


# --- 7. registry -----------------------------------------------------------------------------


def test_unknown_executor_name_suggests_the_closest() -> None:
    registry = ExecutorRegistry()
    with pytest.raises(UsageError, match=r"unknown executor 'shel' \(did you mean 'shell'\?\)"):
        registry.get("shel")
    with pytest.raises(UsageError, match="unknown executor 'zzzz'; known: ") as info:
        registry.get("zzzz")
    assert "did you mean" not in str(info.value)
    with pytest.raises(UsageError, match="did you mean 'notebook'"):
        registry.for_task(annotated_task("executor=notebok"))


def test_builtin_names() -> None:
    assert {"shell", "python", "notebook", "agent", "callable"} <= set(ExecutorRegistry().names())


@dataclass
class EchoExecutor:
    name: str = "echo"
    runs: list[str] = field(default_factory=list)

    async def run(self, ctx: AttemptContext) -> Outcome:
        self.runs.append(ctx.task.id)
        return Outcome(TaskStatus.COMPLETED, tail=f"echo {ctx.task.id}")


def test_register_adds_an_executor(tmp_path: Path) -> None:
    registry = ExecutorRegistry()
    custom = EchoExecutor()
    registry.register("echo", custom)
    assert "echo" in registry.names()
    assert registry.get("echo") is custom
    task = annotated_task("executor=echo")
    assert registry.for_task(task) is custom
    outcome = run_with(make_attempt(tmp_path, task), custom)
    assert outcome.tail == "echo T001" and custom.runs == ["T001"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"- [ ] T001 Shell\n  {FENCE}sh\n  true\n  {FENCE}\n", "shell"),
        ('- [ ] T001 Command\n  - taskexec: run="true"\n', "shell"),
        (f"- [ ] T001 Python\n  {FENCE}python\n  pass\n  {FENCE}\n", "python"),
        ("- [ ] T001 Notebook\n  - taskexec: notebook=nb/a.ipynb\n", "notebook"),
        ("- [ ] T001 Notebook named in the text: run nb/b.ipynb\n", "notebook"),
        ("- [ ] T001 Callable\n  - taskexec: callable=pkg.mod:fn\n", "callable"),
        ("- [ ] T001 Agent\n  - taskexec: executor=agent\n", "agent"),
        (
            f"- [ ] T001 Explicit\n  - taskexec: executor=shell\n  {FENCE}python\n  pass\n"
            f"  {FENCE}\n",
            "shell",
        ),
        ("- [ ] T001 Nothing to run\n", None),
    ],
)
def test_for_task_maps_action_kinds(text: str, expected: str | None) -> None:
    registry = ExecutorRegistry()
    executor = registry.for_task(task_from(text))
    if expected is None:
        assert executor is None
    else:
        assert executor is registry.get(expected)


def test_registered_callable_wins_over_the_tasks_block() -> None:
    registry = ExecutorRegistry({"T001": print})
    assert registry.for_task(block_task("bash", "true\n")) is registry.callables


class FakeEntryPoint:
    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name = name
        self.factory = factory
        self.loads = 0

    def load(self) -> Callable[[], Any]:
        self.loads += 1
        return self.factory


def test_entry_point_plugins_are_loaded_once_and_cannot_replace_builtins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remote = FakeEntryPoint("remote", lambda: EchoExecutor(name="remote"))
    hijack = FakeEntryPoint("shell", lambda: EchoExecutor(name="shell"))
    groups: list[str] = []

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        groups.append(group)
        return [remote, hijack]

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    registry = ExecutorRegistry()
    plugin = registry.get("remote")  # an unknown name loads the plugins first
    assert isinstance(plugin, EchoExecutor) and plugin.name == "remote"
    assert "remote" in registry.names()
    assert registry.for_task(annotated_task("executor=remote")) is plugin
    assert isinstance(registry.get("shell"), ShellExecutor)
    assert hijack.loads == 0
    assert remote.loads == 1
    registry.names()
    assert groups == [ENTRY_POINT_GROUP] == ["taskexec_nb.executors"]


def test_builtins_do_not_need_the_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*, group: str) -> list[FakeEntryPoint]:
        raise AssertionError("plugins looked up for a built-in name")

    monkeypatch.setattr(registry_module, "entry_points", broken)
    registry = ExecutorRegistry()
    assert isinstance(registry.get("python"), PythonExecutor)
    assert isinstance(registry.for_task(block_task("bash", "true\n")), ShellExecutor)


# --- 8. RunSettings --------------------------------------------------------------------------

BAD_SETTINGS = [
    ({"max_workers": 0}, "max_workers"),
    ({"max_workers": 1.5}, "max_workers"),
    ({"retries": -1}, "retries"),
    ({"backoff": -0.5}, "backoff"),
    ({"kill_grace": -1}, "kill_grace"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": -3}, "timeout"),
    ({"no_action": "maybe"}, "no_action"),
    ({"agent_command": "claude -p {prompt}"}, "agent_command"),
    ({"agent_command": []}, "agent_command"),
    ({"agent_command": ["agent", 3]}, "agent_command"),
    ({"resources": {"gpu": 0}}, "resources.gpu"),
    ({"resources": {"gpu": -1}}, "resources.gpu"),
    ({"resources": {"gpu": "1"}}, "resources.gpu"),
]


@pytest.mark.parametrize(("kwargs", "name"), BAD_SETTINGS)
def test_invalid_setting_is_a_usage_error_naming_it(kwargs: dict[str, Any], name: str) -> None:
    with pytest.raises(UsageError, match=re.escape(name)) as direct:
        RunSettings(**kwargs)
    assert str(direct.value).startswith("invalid run settings: ")
    with pytest.raises(UsageError, match=re.escape(name)):
        RunSettings().with_overrides(**kwargs)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(UsageError) as info:
        RunSettings(max_workers=0, retries=-1, no_action="x")
    message = str(info.value)
    assert all(n in message for n in ("max_workers", "retries", "no_action"))


def test_with_overrides_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UsageError, match=r"'max_worker' \(did you mean 'max_workers'\?\)"):
        RunSettings().with_overrides(max_worker=2)
    with pytest.raises(UsageError, match="unknown run setting") as info:
        RunSettings().with_overrides(zzzzzz=1)
    assert "did you mean" not in str(info.value)


def test_with_overrides_converts_and_ignores_none(tmp_path: Path) -> None:
    base = RunSettings(retries=2, timeout=30)
    env = {"A": "1"}
    new = base.with_overrides(
        retries=None,
        timeout=5,
        env=env,
        agent_command=["agent", "{prompt}"],
        state_dir=str(tmp_path),
        resources={"gpu": 1},
    )
    env["A"] = "changed later"
    assert (new.retries, new.timeout) == (2, 5)
    assert base.timeout == 30  # the original is unchanged
    assert dict(new.env) == {"A": "1"}
    assert new.agent_command == ("agent", "{prompt}")
    assert new.state_dir == tmp_path
    assert dict(new.resources) == {"gpu": 1}


def test_effective_no_action_defaults() -> None:
    assert RunSettings().effective_no_action == "skip"
    assert RunSettings(agent_command=["agent"]).effective_no_action == "agent"
    assert RunSettings(agent_command=["agent"], no_action="fail").effective_no_action == "fail"
    assert RunSettings(no_action="agent").effective_no_action == "agent"


def test_to_dict_is_json_serializable(tmp_path: Path) -> None:
    settings = RunSettings().with_overrides(
        max_workers=3,
        resources={"gpu": 1, "agent": 0.5},
        timeout=60,
        agent_command=["agent", "-p", "{prompt}"],
        state_dir=tmp_path / "state",
        cwd=tmp_path,
        env={"X": "1"},
    )
    data = json.loads(json.dumps(settings.to_dict()))
    assert set(data) == {f.name for f in dataclasses.fields(RunSettings)}
    assert data["resources"] == {"gpu": 1, "agent": 0.5}
    assert data["agent_command"] == ["agent", "-p", "{prompt}"]
    assert data["state_dir"] == str(tmp_path / "state")
    assert data["cwd"] == str(tmp_path)
    assert data["env"] == {"X": "1"}
    assert (data["max_workers"], data["timeout"], data["no_action"]) == (3, 60, None)
    assert json.loads(json.dumps(RunSettings().to_dict()))["shell"] == "/bin/sh"


def test_a_numpy_false_fails_the_task_like_false(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    checks: dict[str, tuple[Any, TaskStatus]] = {
        "np_false": (lambda: np.bool_(False), TaskStatus.FAILED),
        "series_all": (lambda: (pd.Series([1, -1]) > 0).all(), TaskStatus.FAILED),
        "np_true": (lambda: np.bool_(True), TaskStatus.COMPLETED),
        "zero": (lambda: 0, TaskStatus.COMPLETED),
        "np_zero": (lambda: np.int64(0), TaskStatus.COMPLETED),
    }
    for name, (fn, expected) in checks.items():
        attempt = make_attempt(tmp_path / name, task_from(CALL_TASK))
        outcome = run_with(attempt, CallableExecutor({"T003": fn}))
        assert outcome.status is expected, name
        if expected is TaskStatus.FAILED:
            assert outcome.error is not None and "returned" in outcome.error
            assert "False" in outcome.error


def test_a_later_run_waits_for_a_thread_an_earlier_run_left_running(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "tasks.md"
    path.write_text("# Tasks\n\n- [ ] T001 Fit the model\n")
    plan = taskexec_nb.load(path)
    release = threading.Event()
    active: list[int] = []
    most: list[int] = [0]

    def fit() -> None:
        active.append(1)
        most[0] = max(most[0], len(active))
        try:
            release.wait(30)
        finally:
            active.pop()

    first = plan.run(callables={"T001": fit}, timeout=0.2, writeback=False)
    assert first.snapshot()[0]["status"] == "timed_out"
    assert active == [1]  # its thread is still in fit(): the run did not wait for it
    threading.Timer(0.5, release.set).start()
    second = plan.run(callables={"T001": fit}, writeback=False)
    assert second.snapshot()[0]["status"] == "completed"
    assert most == [1]  # never two copies at once
    log = (tmp_path / ".taskexec" / "logs" / second.run_id / "T001.1.log").read_text()
    assert "waiting for the previous attempt's thread to return" in log


# --- the executor contract, once per built-in (tests/conftest.py: ExecutorContract) ----------


def contract_script(work: Path, mode: str) -> Path:
    """The contract's program for ``mode`` as a script in ``work``."""
    script = work / "contract.py"
    script.write_text(CONTRACT_PREAMBLE + contract_body(mode), encoding="utf-8")
    return script


class TestShellContract(ExecutorContract):
    name = "shell"

    def setup(self, work: Path, mode: str) -> ContractSetup:
        script = contract_script(work, mode)
        code = f"exec {shlex.quote(sys.executable)} {shlex.quote(str(script))}\n"
        return ContractSetup(block_task("bash", code))


class TestCommandLineContract(ExecutorContract):
    name = "shell"

    def setup(self, work: Path, mode: str) -> ContractSetup:
        contract_script(work, mode)
        return ContractSetup(annotated_task(f'run="exec {sys.executable} contract.py"'))


class TestPythonContract(ExecutorContract):
    name = "python"

    def setup(self, work: Path, mode: str) -> ContractSetup:
        return ContractSetup(block_task("python", CONTRACT_PREAMBLE + contract_body(mode)))


class TestNotebookContract(ExecutorContract):
    name = "notebook"
    failure_exit_code = 1  # papermill's, for any failing cell
    term_reaches_task = False
    separate_streams = False
    startup = 20.0  # a kernel starts slowly on a loaded machine

    def setup(self, work: Path, mode: str) -> ContractSetup:
        body = contract_body(mode, fail="raise RuntimeError('contract failure')")
        nb = new_notebook(cells=[new_code_cell(CONTRACT_PREAMBLE + body)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "P", "language": "python"}
        nbformat.write(nb, str(work / "contract.ipynb"))
        return ContractSetup(annotated_task("notebook=contract.ipynb"))


class TestAgentContract(ExecutorContract):
    name = "agent"

    def setup(self, work: Path, mode: str) -> ContractSetup:
        script = contract_script(work, mode)
        command = [sys.executable, str(script), "{id}"]
        return ContractSetup(annotated_task("executor=agent"), {"agent_command": command})


class TestCallableContract(ExecutorContract):
    name = "callable"
    failure_exit_code = None
    ends_on_timeout = False

    def setup(self, work: Path, mode: str) -> ContractSetup:
        body = contract_body(mode)

        def function(ctx: AttemptContext) -> None:
            if mode in ("ok", "fail"):  # in this process: prints are captured
                exec(body, {"ENV": ctx.env, "CWD": str(ctx.cwd), "os": os, "sys": sys})
                return
            code = CONTRACT_PREAMBLE + body
            worker = subprocess.Popen(
                [sys.executable, "-c", code], cwd=ctx.cwd, env=ctx.env, stdout=subprocess.DEVNULL
            )
            assert wait_until(lambda: (ctx.cwd / "worker.pid").exists())
            print("started", flush=True)
            worker.wait()

        return ContractSetup(task_from("- [ ] T001 Call it\n"), callables={"T001": function})


def test_every_builtin_executor_has_a_contract_subclass() -> None:
    tested = {cls.name for cls in ExecutorContract.__subclasses__()}
    assert tested == set(BUILTIN_NAMES)


def kill_leftovers(tasks_file: Path) -> None:
    """End whatever a failed test left running (so it cannot disturb the next one)."""
    for line in leftovers(set(), tasks_file):
        with suppress(ProcessLookupError):
            os.kill(int(line.split()[1]), signal.SIGKILL)


def test_a_background_child_holding_the_output_does_not_hold_up_the_task(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(
        textwrap.dedent(
            """\
            # Tasks

            - [ ] T001 Start a server in the background, then finish
              - taskexec: timeout=5s
              ```bash
              ( sleep 20; echo T001 >> late.log ) &
              sleep 0.1
              echo ready
              ```
            """
        )
    )
    started = time.monotonic()
    handle = taskexec_nb.load(path).run(max_workers=1, kill_grace=0.5)
    took = time.monotonic() - started
    try:
        row = handle.snapshot()[0]
        assert (row["status"], row["error"]) == ("completed", None)
        assert took < 3, f"the task took {took:.1f} s: it waited for its background child"
        assert wait_gone(set(), path, 1.0) == []  # the child went with its task
    finally:
        kill_leftovers(path)


_STILL_THERE = textwrap.dedent(
    """\
    ```python
    from pathlib import Path
    alive = []
    for name in ("daemon.pid", "kernel.pid"):
        if Path(name).exists():
            pid = Path(name).read_text().strip()
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                state = "gone"
            if state not in ("gone", "Z"):
                alive.append(name)
    Path("verdict").write_text(" ".join(alive) or "none alive")
    ```
    """
)


def _timed_out_then_checked(path: Path, first: str, timeout: str, made: list[str]) -> str:
    """Run a task that times out, then one that says which of its processes still run.

    ``made`` names the pid files the first task must have written by its timeout.
    """
    check = textwrap.indent(_STILL_THERE, "  ")
    path.write_text(
        f"# Tasks\n\n- [ ] T001 Leave a process behind\n  - taskexec: timeout={timeout}"
        f"{first}\n- [ ] T002 See what is left\n{check}"
    )
    handle = taskexec_nb.load(path, mode="explicit").run(max_workers=1, kill_grace=0.5)
    try:
        rows = {row["id"]: row["status"] for row in handle.snapshot()}
        assert rows == {"T001": "timed_out", "T002": "completed"}, handle.snapshot()
        for name in made:
            assert (path.parent / name).exists(), f"the task timed out before writing {name}"
        return (path.parent / "verdict").read_text()
    finally:
        kill_leftovers(path)


def test_a_timeout_ends_the_processes_the_task_moved_to_a_session_of_their_own(
    tmp_path: Path,
) -> None:
    first = "\n" + textwrap.indent(
        textwrap.dedent(
            """\
            ```bash
            setsid sleep 30 < /dev/null > /dev/null 2>&1 &
            echo $! > daemon.pid
            sleep 30
            ```
            """
        ),
        "  ",
    )
    verdict = _timed_out_then_checked(tmp_path / "tasks.md", first, "1s", ["daemon.pid"])
    assert verdict == "none alive"


def test_a_notebook_timeout_ends_its_kernel_and_what_its_cells_started(tmp_path: Path) -> None:
    from nbformat import write
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_code_cell(
                "import os, subprocess, time\n"
                "kid = subprocess.Popen(['sleep', '60'])\n"
                "open('daemon.pid', 'w').write(str(kid.pid))\n"
                "open('kernel.pid', 'w').write(str(os.getpid()))\n"
                "time.sleep(60)"
            )
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    write(nb, str(tmp_path / "hang.ipynb"))
    # A kernel takes seconds to start: the timeout leaves it time to run the cell.
    verdict = _timed_out_then_checked(
        tmp_path / "tasks.md", " notebook=hang.ipynb\n", "10s", ["kernel.pid", "daemon.pid"]
    )
    assert verdict == "none alive"


# --- edge cases of callables, output, shell, notebook and agent executors -------------------------


def test_a_plain_callable_returning_a_coroutine_has_it_awaited(tmp_path: Path) -> None:
    done: list[str] = []

    async def work() -> None:
        done.append("ran")

    class Failing:
        async def __call__(self) -> None:
            raise RuntimeError("from __call__")

    ok = make_attempt(tmp_path / "a", task_from(CALL_TASK))
    assert run_with(ok, CallableExecutor({"T003": lambda: work()})).status is (TaskStatus.COMPLETED)
    assert done == ["ran"]
    bad = make_attempt(tmp_path / "b", task_from(CALL_TASK))
    outcome = run_with(bad, CallableExecutor({"T003": Failing()}))
    assert outcome.status is TaskStatus.FAILED
    assert outcome.error == "RuntimeError: from __call__"


def _recorder(done: list[str]) -> Any:
    return lambda: done.append("T002")


def test_sys_exit_in_a_callable_fails_only_its_task(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text("# T\n\n## Phase 1: A\n\n- [ ] T001 [P] Exits\n- [ ] T002 [P] Works\n")

    def leave() -> None:
        sys.exit(3)

    async def leave_async() -> None:
        raise GeneratorExit

    def interrupt() -> None:
        raise KeyboardInterrupt

    async def interrupt_async() -> None:
        raise KeyboardInterrupt

    for bad in (leave, leave_async, interrupt, interrupt_async):
        done: list[str] = []
        handle = taskexec_nb.load(path).run(
            callables={"T001": bad, "T002": _recorder(done)},
            writeback=False,
            state_dir=tmp_path / "state",
        )
        rows = {r["id"]: r for r in handle.snapshot()}
        assert rows["T001"]["status"] == "failed"
        assert rows["T001"]["error"] in ("SystemExit: 3", "GeneratorExit", "KeyboardInterrupt")
        assert rows["T002"]["status"] == "completed" and done == ["T002"]
        assert handle.result.value == "failed"


def test_a_keyboardinterrupt_raised_by_an_async_callable_leaves_the_callers_loop_running(
    tmp_path: Path,
) -> None:
    # Under arun the run shares the caller's loop (a notebook kernel's): asyncio would let
    # the exception end that loop.
    path = tmp_path / "tasks.md"
    path.write_text("# T\n\n## Phase 1: A\n\n- [ ] T001 [P] Stops\n- [ ] T002 [P] Works\n")

    async def stop() -> None:
        raise KeyboardInterrupt

    async def main() -> tuple[Any, str]:
        handle = await taskexec_nb.load(path).arun(
            callables={"T001": stop, "T002": lambda: None},
            writeback=False,
            state_dir=tmp_path / "state",
        )
        await handle.wait()
        await asyncio.sleep(0.01)  # the loop still turns
        return handle, "after"

    handle, after = asyncio.run(main())
    rows = {r["id"]: r for r in handle.snapshot()}
    assert after == "after"
    assert (rows["T001"]["status"], rows["T001"]["error"]) == ("failed", "KeyboardInterrupt")
    assert rows["T002"]["status"] == "completed"


def test_a_progress_bar_line_is_kept_bounded_and_as_shown(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "for i in range(200000): sys.stdout.write('\\r\\x1b[32mstep %d\\x1b[0m' % i)\n"
        "sys.stdout.write('\\n' + 'y' * 100000 + '\\n')\n"
        "sys.stdout.write('z' * 50000)\n"
    )
    attempt = make_attempt(tmp_path, settings=RunSettings(tail_lines=5))
    outcome = run_argv(attempt, [sys.executable, "-c", code])
    assert outcome.status is TaskStatus.COMPLETED
    first, long, unfinished = outcome.tail.split("\n")
    assert first == "step 199999"  # the bar as a terminal last showed it, no colour codes
    assert long == "\u2026" + "y" * (MAX_LINE - 1)
    assert unfinished == "\u2026" + "z" * (MAX_LINE - 1)
    assert len(attempt.log()) > 3_000_000  # the log keeps every byte


def test_a_python_block_imports_modules_from_its_working_folder(tmp_path: Path) -> None:
    task = block_task("python", "import mymod\nprint(mymod.VALUE)\n")
    attempt = make_attempt(tmp_path, task)
    (attempt.ctx.cwd / "mymod.py").write_text("VALUE = 'from the project'\n")
    outcome = run_with(attempt, PythonExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome.tail
    assert outcome.tail == "from the project"


def test_notebook_parameters_are_typed_and_keep_any_unicode(tmp_path: Path) -> None:
    params = new_code_cell("epochs = 0\nrate = 0.0\nflag = False\nname = ''\nnothing = 1")
    params.metadata["tags"] = ["parameters"]
    show = "print(type(epochs).__name__, type(rate).__name__, flag, name, nothing)"
    nb = new_notebook(cells=[params, new_code_cell(show + "\nprint(task_description)")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    (tmp_path / "work").mkdir()
    nbformat.write(nb, str(tmp_path / "work" / "p.ipynb"))
    task = annotated_task(
        "notebook=p.ipynb param.epochs=3 param.rate=0.5 param.flag=True param.name=abc "
        "param.nothing=None",
        description="Train \U0001f600 model",
    )
    outcome = run_with(make_attempt(tmp_path, task), NotebookExecutor())
    assert outcome.status is TaskStatus.COMPLETED, outcome.tail
    saved = nbformat.read(outcome.artifacts["notebook"], as_version=4)
    printed = "".join(o.get("text", "") for o in saved.cells[-1].outputs).splitlines()
    assert printed == ["int float True abc None", "Train \U0001f600 model"]


def test_masking_a_saved_notebook_keeps_it_valid(tmp_path: Path) -> None:
    cell = new_code_cell("print('the source is here')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="source\n")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[cell]), str(path))
    _mask_notebook(path, lambda text: text.replace("source", "****"))
    masked = nbformat.read(str(path), as_version=4)
    nbformat.validate(masked)  # the "source" keys are still there
    assert masked.cells[0].source == "print('the **** is here')"
    assert masked.cells[0].outputs[0].text == "****\n"
    before = path.read_bytes()
    _mask_notebook(path, lambda text: text)
    assert path.read_bytes() == before  # nothing to mask: not rewritten
    (tmp_path / "bad.ipynb").write_text("{not json")
    _mask_notebook(tmp_path / "bad.ipynb", lambda text: "")
    assert (tmp_path / "bad.ipynb").read_text() == "{not json"


def test_the_agent_gets_the_tasks_file_as_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = RunSettings(
        agent_command=[sys.executable, "-c", "import sys; print(sys.argv[1])", "{tasks_file}"]
    )
    attempt = make_attempt(tmp_path, settings=settings)
    ctx: AttemptContext = dataclasses.replace(attempt.ctx, tasks_file=Path("sub/tasks.md"))
    attempt.ctx = ctx
    outcome = run_with(attempt, AgentExecutor())
    assert outcome.status is TaskStatus.COMPLETED
    assert outcome.tail == str(tmp_path / "sub" / "tasks.md")


def test_an_undecodable_file_name_in_a_callables_error_is_kept_as_a_terminal_shows_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text("# T\n\n## Phase 1: A\n\n- [ ] T001 [P] Reads\n- [ ] T002 [P] Works\n")
    name = os.fsdecode(b"caf\xe9.csv")  # as os.listdir() gives a non-UTF-8 name

    def read() -> None:
        print("reading", name)
        raise RuntimeError(f"{name} is empty")

    handle = taskexec_nb.load(path).run(
        callables={"T001": read, "T002": lambda: None},
        writeback=False,
        state_dir=tmp_path / "state",
    )
    frame = handle.status()
    assert frame.loc["T001", "error"] == "RuntimeError: caf\ufffd.csv is empty"
    assert frame.loc["T002", "status"] == "completed"
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        (error,) = db.execute("SELECT error FROM tasks WHERE task_id = 'T001'").fetchone()
    assert error == "RuntimeError: caf\ufffd.csv is empty"
    report = handle.report()
    report.export("html", tmp_path / "r.html")
    assert "caf\ufffd.csv is empty" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_a_retry_waits_for_the_timed_out_attempts_thread(tmp_path: Path) -> None:
    active: list[int] = []
    peak: list[int] = []
    lock = threading.Lock()

    def slow() -> None:
        with lock:
            active.append(1)
            peak.append(len(active))
        time.sleep(0.6)
        with lock:
            active.pop()

    executor = CallableExecutor({"T003": slow})
    first = make_attempt(tmp_path / "a", task_from(CALL_TASK), timeout=0.2)
    second = make_attempt(tmp_path / "b", task_from(CALL_TASK), timeout=5)
    # The same task of the same file: a thread left running is known by those two.
    same_task = dataclasses.replace(second.ctx, tasks_file=first.ctx.tasks_file)

    async def both() -> tuple[TaskStatus, TaskStatus]:
        one = await executor.run(first.ctx)
        two = await executor.run(same_task)
        return one.status, two.status

    assert asyncio.run(both()) == (TaskStatus.TIMED_OUT, TaskStatus.COMPLETED)
    assert peak == [1, 1]  # never two copies at once
    assert "waiting for the previous attempt's thread" in second.log().decode()
