"""What a callable prints reaches its own attempt: log, tail, output events; nothing else does."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import opened_store, rows_by_id, wait_until, write_md

import taskexec_nb
from taskexec_nb.events import Event, EventKind
from taskexec_nb.executors import output

TWO = """\
# Tasks

## Phase 1: All

- [ ] T001 [P] Async speaker
- [ ] T002 [P] Threaded speaker
"""


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def output(self, task_id: str) -> list[tuple[str, str]]:
        return [
            (e.data["stream"], e.data["text"])
            for e in self.events
            if e.kind is EventKind.TASK_OUTPUT and e.task_id == task_id
        ]


def log_of(tmp_path: Path, run_id: str, task_id: str) -> str:
    return (tmp_path / "state" / "logs" / run_id / f"{task_id}.1.log").read_text()


def test_concurrent_callables_each_get_only_their_own_prints(tmp_path: Path) -> None:
    both_running = threading.Barrier(2, timeout=10)

    async def speaker() -> None:
        for i in range(5):
            print(f"async {i}")
            await asyncio.sleep(0.01)
        print("async warning", file=sys.stderr)

    def threaded() -> None:
        both_running.wait()
        for i in range(5):
            print(f"thread {i}")
            time.sleep(0.01)

    async def async_entry() -> None:
        await asyncio.to_thread(both_running.wait)  # the two attempts overlap
        await speaker()

    recorder = Recorder()
    plan = taskexec_nb.load(write_md(tmp_path, TWO), mode="explicit")
    original = sys.stdout, sys.stderr
    handle = plan.run(
        max_workers=2,
        state_dir=tmp_path / "state",
        writeback=False,
        callables={"T001": async_entry, "T002": threaded},
        observers=[recorder],
    )
    assert handle.result.value == "completed"
    assert (sys.stdout, sys.stderr) == original  # put back after the run
    expected = {
        "T001": [f"async {i}" for i in range(5)] + ["async warning"],
        "T002": [f"thread {i}" for i in range(5)],
    }
    with opened_store(tmp_path) as store:
        rows = rows_by_id(store, handle.run_id)
    for task_id, lines in expected.items():
        assert log_of(tmp_path, handle.run_id, task_id).splitlines() == lines
        assert rows[task_id]["tail"].splitlines() == lines
        assert "".join(text for _, text in recorder.output(task_id)).splitlines() == lines
    assert rows["T001"]["stderr_tail"] == "async warning"
    assert ("stderr", "async warning\n") in recorder.output("T001")


def test_a_traceback_follows_what_the_callable_printed(tmp_path: Path) -> None:
    def fails() -> None:
        print("step 1 done")
        raise ValueError("step 2 broke")

    text = TWO.replace("- [ ] T002 [P] Threaded speaker\n", "")
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, callables={"T001": fails})
    assert handle.result.value == "failed"
    log = log_of(tmp_path, handle.run_id, "T001")
    assert log.startswith("step 1 done\nTraceback (most recent call last):\n")
    assert log.rstrip().endswith("ValueError: step 2 broke")
    with opened_store(tmp_path) as store:
        row = rows_by_id(store, handle.run_id)["T001"]
    assert row["error"] == "ValueError: step 2 broke"
    assert row["tail"].splitlines()[-1] == "ValueError: step 2 broke"
    assert "step 1 done" not in row["stderr_tail"]


def test_a_secret_a_callable_prints_is_masked(tmp_path: Path) -> None:
    secret = "s3cr3t-9f8e7d6c"

    def leaks(ctx: Any) -> None:
        print("token is", ctx.env["API_TOKEN"])

    text = TWO.replace("- [ ] T002 [P] Threaded speaker\n", "")
    recorder = Recorder()
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(
        state_dir=tmp_path / "state",
        writeback=False,
        env={"API_TOKEN": secret},
        callables={"T001": leaks},
        observers=[recorder],
    )
    assert handle.result.value == "completed"
    log = log_of(tmp_path, handle.run_id, "T001")
    assert log.startswith("token is ") and secret not in log
    assert all(secret not in text for _, text in recorder.output("T001"))
    with opened_store(tmp_path) as store:
        assert secret not in rows_by_id(store, handle.run_id)["T001"]["tail"]


def test_prints_outside_the_attempts_and_in_observers_are_not_captured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def speaks() -> None:
        print("from the task")

    def loud_observer(event: Event) -> None:
        if event.kind is EventKind.TASK_OUTPUT:
            print(f"observer saw {event.data['text'].strip()}")

    text = TWO.replace("- [ ] T002 [P] Threaded speaker\n", "")
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(
        state_dir=tmp_path / "state",
        writeback=False,
        callables={"T001": speaks},
        observers=[loud_observer],
    )
    assert handle.result.value == "completed"
    assert log_of(tmp_path, handle.run_id, "T001") == "from the task\n"
    out = capsys.readouterr().out
    assert "observer saw from the task" in out
    assert "from the task\n" not in out.replace("observer saw from the task", "")


def test_a_thread_left_running_by_a_timeout_still_logs_what_it_prints(tmp_path: Path) -> None:
    release = threading.Event()

    def slow() -> None:
        print("before")
        release.wait(30)
        print("after the timeout")

    text = TWO.replace("- [ ] T002 [P] Threaded speaker\n", "")
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(
        state_dir=tmp_path / "state", writeback=False, timeout=0.2, callables={"T001": slow}
    )
    # The run ended at its timeout, not when the thread returned (it is still blocked).
    assert not release.is_set()
    assert handle.result.value == "failed"
    assert handle.status().loc["T001", "status"] == "timed_out"
    assert log_of(tmp_path, handle.run_id, "T001") == "before\n"
    release.set()
    # What the thread prints after that still goes to the attempt's log.
    assert wait_until(
        lambda: log_of(tmp_path, handle.run_id, "T001") == "before\nafter the timeout\n"
    )
    assert wait_until(lambda: not isinstance(sys.stdout, output._Redirect))


def test_the_callables_own_redirect_wins_inside_it(tmp_path: Path) -> None:
    mine = io.StringIO()

    def redirects() -> None:
        print("to the log")
        with contextlib.redirect_stdout(mine):
            print("to my buffer")
        print("to the log again")

    text = TWO.replace("- [ ] T002 [P] Threaded speaker\n", "")
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(state_dir=tmp_path / "state", writeback=False, callables={"T001": redirects})
    assert handle.result.value == "completed"
    assert mine.getvalue() == "to my buffer\n"
    log = log_of(tmp_path, handle.run_id, "T001")
    assert log == "to the log\nto the log again\n"


def test_a_stream_replaced_during_the_run_is_left_in_place() -> None:
    original = sys.stdout
    output._install()
    try:
        assert isinstance(sys.stdout, output._Redirect)
        replacement = io.StringIO()
        sys.stdout = replacement  # someone else's redirect, set while ours was in place
    finally:
        output._uninstall()
    try:
        assert sys.stdout is replacement  # theirs stays; putting ours back would undo it
    finally:
        sys.stdout = original


def test_the_redirect_passes_everything_else_through(capsys: pytest.CaptureFixture[str]) -> None:
    output._install()
    try:
        redirect = sys.stdout
        assert isinstance(redirect, output._Redirect)
        redirect.writelines(["a\n", "b\n"])
        redirect.flush()
        assert redirect.encoding == output._originals["stdout"].encoding  # delegated
        with pytest.raises(TypeError, match="must be str"):
            token = output._ATTEMPT.set(object())  # type: ignore[arg-type]
            try:
                redirect.write(b"bytes")  # type: ignore[arg-type]
            finally:
                output._ATTEMPT.reset(token)
    finally:
        output._uninstall()
    assert capsys.readouterr().out == "a\nb\n"


def test_binary_writes_to_the_buffer_are_captured_like_prints(tmp_path: Path) -> None:
    def binary() -> None:
        print("text first")
        sys.stdout.flush()
        sys.stdout.buffer.write(b"bytes line\n")
        euro = "€ split\n".encode()
        sys.stdout.buffer.write(euro[:1])  # a character cut across two writes
        sys.stdout.buffer.write(memoryview(euro[1:]))
        sys.stderr.buffer.write(b"bad \xff byte\n")
        sys.stdout.buffer.write(b"no newline \xe2")  # the attempt ends inside a character
        sys.stdout.buffer.flush()

    text = TWO.replace("- [ ] T002 [P] Threaded speaker\n", "")
    recorder = Recorder()
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    handle = plan.run(
        state_dir=tmp_path / "state",
        writeback=False,
        callables={"T001": binary},
        observers=[recorder],
    )
    assert handle.result.value == "completed"
    log = log_of(tmp_path, handle.run_id, "T001")
    assert log == "text first\nbytes line\n€ split\nbad \ufffd byte\nno newline \ufffd"
    assert ("stderr", "bad \ufffd byte\n") in recorder.output("T001")


def test_the_buffer_outside_an_attempt_is_the_original_streams() -> None:
    raw = io.BytesIO()
    original = io.TextIOWrapper(raw, encoding="utf-8")
    redirect = output._Redirect("stdout", original)
    assert redirect.buffer.write(b"raw\n") == 4
    redirect.buffer.flush()
    assert raw.getvalue() == b"raw\n"
    assert redirect.buffer.seekable() is True  # everything else is delegated
    text_only = output._Redirect("stdout", io.StringIO())
    with pytest.raises(AttributeError, match="buffer"):
        text_only.buffer  # noqa: B018
    assert not hasattr(text_only, "buffer")
