"""Edge cases a user review found in the executors, fail-fast, write-back and run overlap."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook
from test_executors import (
    CALL_TASK,
    annotated_task,
    block_task,
    make_attempt,
    run_argv,
    run_with,
    task_from,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.events import Event, EventKind, TaskStatus
from taskexec_nb.executors.agent import AgentExecutor
from taskexec_nb.executors.base import AttemptContext
from taskexec_nb.executors.callables import CallableExecutor
from taskexec_nb.executors.notebook import NotebookExecutor, _mask_notebook
from taskexec_nb.executors.output import MAX_LINE
from taskexec_nb.executors.shell import PythonExecutor
from taskexec_nb.run.writeback import CheckboxWriter, digest
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import StateStore

FENCE = "`" * 3


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


def test_fail_fast_names_the_first_failure_and_starts_no_retry(tmp_path: Path) -> None:
    def sh(code: str) -> str:
        return f"  {FENCE}sh\n  {code}\n  {FENCE}\n"

    path = tmp_path / "tasks.md"
    path.write_text(
        "# T\n\n## Phase 1: A\n\n"
        f"- [ ] T001 [P] Fails at once\n{sh('exit 7')}"
        f"- [ ] T002 [P] Fails later\n{sh('sleep 0.6; exit 9')}"
        f"- [ ] T003 [P] Would retry\n  - taskexec: retries=2 backoff=0.1s\n"
        f"{sh('echo x >> attempts; sleep 0.3; exit 1')}"
        f"- [ ] T004 [P] Never starts\n{sh('true')}"
    )
    handle = taskexec_nb.load(path).run(
        max_workers=3, fail_fast=True, writeback=False, state_dir=tmp_path / "state"
    )
    rows = {r["id"]: r for r in handle.snapshot()}
    assert (tmp_path / "attempts").read_text() == "x\n"
    assert rows["T003"]["status"] == "failed"
    assert rows["T004"]["status"] == "skipped"
    assert rows["T004"]["error"] == "not started: fail-fast after T001 failed"


def test_an_edit_saved_while_a_tick_is_written_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "tasks.md"
    data = b"# T\n- [ ] T001 a\n"
    path.write_bytes(data)
    writer = CheckboxWriter(path, digest(data))
    real_fsync = os.fsync

    def edit_meanwhile(fd: int) -> None:
        real_fsync(fd)
        with open(path, "ab") as f:
            f.write(b"- [ ] T002 added meanwhile\n")

    monkeypatch.setattr(os, "fsync", edit_meanwhile)
    message = writer.tick("T001", 2)
    assert message is not None and "changed on disk while T001" in message
    assert path.read_bytes() == data + b"- [ ] T002 added meanwhile\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.md"]


def test_a_second_run_of_the_same_tasks_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(
        "# T\n\n## Phase 1: A\n\n"
        f"- [ ] T001 [P] Slow\n  {FENCE}sh\n  sleep 30\n  {FENCE}\n"
        f"- [ ] T002 [P] Quick\n  {FENCE}sh\n  true\n  {FENCE}\n"
    )
    state = tmp_path / "state"

    async def body() -> None:
        first = await taskexec_nb.load(path).arun(only="T001", state_dir=state)
        try:
            with pytest.raises(UsageError) as caught:
                await taskexec_nb.load(path).arun(state_dir=state)
            message = str(caught.value)
            assert first.run_id in message and f"pid {os.getpid()}" in message
            assert "T001" in message and "twice" in message
            other = await taskexec_nb.load(path).arun(only="T002", state_dir=state)
            assert (await other.wait()).value == "completed"  # no task in common
        finally:
            first.cancel()
            await first.wait()

    asyncio.run(body())


def test_a_run_this_process_left_marked_running_does_not_block_the_next(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(f"# T\n\n- [ ] T001 Quick\n  {FENCE}sh\n  true\n  {FENCE}\n")
    state = tmp_path / "state"
    first = taskexec_nb.load(path).run(writeback=False, state_dir=state)
    db = state / "state.db"
    with sqlite3.connect(db) as conn:  # as if an error had left it behind
        conn.execute("UPDATE runs SET status = 'running' WHERE run_id = ?", (first.run_id,))
    second = taskexec_nb.load(path).run(writeback=False, state_dir=state)
    assert second.result.value == "completed"
    with sqlite3.connect(db) as conn:
        [(status,)] = conn.execute("SELECT status FROM runs WHERE run_id = ?", (first.run_id,))
    assert status == "interrupted"


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
    frame = handle.status().set_index("id")
    assert frame.loc["T001", "error"] == "RuntimeError: caf\ufffd.csv is empty"
    assert frame.loc["T002", "status"] == "completed"
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        (error,) = db.execute("SELECT error FROM tasks WHERE task_id = 'T001'").fetchone()
    assert error == "RuntimeError: caf\ufffd.csv is empty"
    report = handle.report()
    report.export("html", tmp_path / "r.html")
    assert "caf\ufffd.csv is empty" in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_the_store_writes_text_with_lone_surrogates_as_replacement_characters(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.db")
    store.create_run("r1", str(tmp_path / "tasks.md"), "template", {}, [], [])
    bad = os.fsdecode(b"\xff")
    store(Event(EventKind.TASK_QUEUED, "r1", task_id=f"T{bad}", data={"waiting_on": bad}))
    store.commit()
    assert [e["task_id"] for e in store.events("r1")][-1] == "T\ufffd"
    store.close()


def test_join_on_the_loop_an_arun_runs_on_is_refused_and_wait_works(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text("# T\n\n## Phase 1: A\n\n- [ ] T001 Sleeps\n")

    async def main() -> str:
        handle = await taskexec_nb.load(path).arun(
            callables={"T001": lambda: time.sleep(0.2)},
            writeback=False,
            state_dir=tmp_path / "state",
        )
        with pytest.raises(UsageError, match=r"join\(\) would block it.*await handle.wait"):
            handle.join(1)
        status = (await handle.wait()).value
        assert handle.join(0) is not None  # once the run is over, nothing blocks
        return status

    assert asyncio.run(main()) == "completed"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: taskexec_nb.load(None), r"load\(\): path must be a file path .* got NoneType"),
        (lambda: taskexec_nb.validate(3), r"validate\(\): path must be a file path .* got int"),
        (lambda: taskexec_nb.parse(b"- [ ] T001"), r"got bytes .*use taskexec_nb.loads"),
        (lambda: taskexec_nb.loads(5), r"loads\(\): text must be str or bytes, got int"),
        (
            lambda: taskexec_nb.loads("- [ ] T001 A\n").run(from_task=3, writeback=False),
            r"from_task= takes a task ID, story or phase as text .* got int 3",
        ),
        (
            lambda: taskexec_nb.loads("- [ ] T001 A\n").run(until=1.5, writeback=False),
            r"until= takes .* got float 1.5",
        ),
    ],
)
def test_arguments_of_the_wrong_type_are_usage_errors_saying_what_was_given(
    call: Any, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        call()


def test_loads_reads_bytes_as_a_file_is_read() -> None:
    plan = taskexec_nb.loads("\ufeff- [ ] T001 Café\n".encode())
    assert plan["T001"].description == "Café"
