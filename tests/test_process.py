"""The asyncio-watcher path of run_process, used where the kernel has no pidfds."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from taskexec_nb._procfs import process_alive
from taskexec_nb.events import TaskStatus
from taskexec_nb.executors import process
from taskexec_nb.executors.base import AttemptContext, Outcome, ProcessControl
from taskexec_nb.parse import parse_text
from taskexec_nb.settings import RunSettings


def _ctx(tmp_path: Path, timeout: float | None = None) -> AttemptContext:
    task = parse_text("- [ ] T001 Something\n").tasks[0]
    return AttemptContext(
        "run",
        task,
        1,
        RunSettings(kill_grace=0.5, tail_lines=5),
        tmp_path / "tasks.md",
        tmp_path,
        dict(os.environ),
        timeout,
        tmp_path / "logs" / "T001.1.log",
        tmp_path / "logs",
        ProcessControl(),
        lambda stream, text: None,
    )


def _run(ctx: AttemptContext, argv: list[str], stdin: bytes | None = None) -> Outcome:
    return asyncio.run(process.run_process(ctx, argv, stdin_data=stdin))


@pytest.fixture
def no_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "_PIDFD", False)


@pytest.mark.usefixtures("no_pidfd")
def test_success_failure_and_stdin_without_pidfds(tmp_path: Path) -> None:
    ok = _run(
        _ctx(tmp_path), [sys.executable, "-c", "import sys; print(sys.stdin.read())"], b"hello"
    )
    assert (ok.status, ok.tail) == (TaskStatus.COMPLETED, "hello")
    bad = _run(_ctx(tmp_path), ["sh", "-c", "echo no >&2; exit 3"])
    assert (bad.status, bad.exit_code, bad.stderr_tail) == (TaskStatus.FAILED, 3, "no")


@pytest.mark.usefixtures("no_pidfd")
def test_timeout_without_pidfds(tmp_path: Path) -> None:
    out = _run(_ctx(tmp_path, timeout=0.3), ["sh", "-c", "sleep 20"])
    assert out.status is TaskStatus.TIMED_OUT


def test_a_kernel_without_pidfds_switches_to_the_watcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(pid: int) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(process, "_PIDFD", None)
    monkeypatch.setattr(os, "pidfd_open", refuse)
    out = _run(_ctx(tmp_path), ["sh", "-c", "echo fine >> runs.txt; echo fine"])
    assert (out.status, out.tail) == (TaskStatus.COMPLETED, "fine")
    assert process._PIDFD is False
    assert (tmp_path / "runs.txt").read_text() == "fine\n"  # started once, not twice


def test_a_pidfd_failure_after_the_start_fails_the_attempt_and_ends_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(pid: int) -> int:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(process, "_PIDFD", True)
    monkeypatch.setattr(os, "pidfd_open", broken)
    out = _run(_ctx(tmp_path), ["sh", "-c", "echo $$ > pid; sleep 30"])
    assert out.status is TaskStatus.FAILED and "Too many open files" in (out.error or "")


# -- the inner epoll and its absence; stdin; failures inside the output callback ------------


def test_without_epoll_the_loops_own_readers_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import select

    monkeypatch.delattr(select, "epoll")
    monkeypatch.setattr(process._Watcher, "_by_loop", process.weakref.WeakKeyDictionary())
    out = _run(_ctx(tmp_path), ["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert (out.status, out.exit_code, out.tail, out.stderr_tail) == (
        TaskStatus.FAILED,
        4,
        "out\nerr",
        "err",
    )
    assert all(w._epoll is None for w in process._Watcher._by_loop.values())


def test_an_idle_loop_keeps_no_reader_of_ours(tmp_path: Path) -> None:
    async def scenario() -> tuple[Outcome, bool]:
        loop = asyncio.get_running_loop()
        outcome = await process.run_process(_ctx(tmp_path), ["sh", "-c", "echo hi"])
        watcher = process._Watcher.of(loop)
        assert watcher._epoll is not None
        registered = loop.remove_reader(watcher._epoll.fileno())  # False: nothing was left
        return outcome, registered

    outcome, registered = asyncio.run(scenario())
    assert (outcome.status, outcome.tail) == (TaskStatus.COMPLETED, "hi")
    assert registered is False


def test_stdin_larger_than_a_pipe_buffer_arrives_whole(tmp_path: Path) -> None:
    data = os.urandom(1 << 20)
    code = "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"
    out = _run(_ctx(tmp_path), [sys.executable, "-c", code], data)
    import hashlib

    assert (out.status, out.tail) == (TaskStatus.COMPLETED, hashlib.sha256(data).hexdigest())


def test_stdin_a_process_never_reads_is_dropped_without_error(tmp_path: Path) -> None:
    out = _run(_ctx(tmp_path), ["sh", "-c", "exec 0<&-; echo done"], os.urandom(1 << 20))
    assert (out.status, out.tail) == (TaskStatus.COMPLETED, "done")


def test_an_output_callback_that_raises_ends_the_attempt_and_its_process(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)

    def broken(stream: str, text: str) -> None:
        raise RuntimeError("observer broke")

    ctx.on_output = broken
    pid_file = tmp_path / "pid"
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="observer broke"):
        _run(ctx, ["sh", "-c", f"echo $$ > {pid_file}; echo hi; sleep 30"])
    assert time.monotonic() - started < 10
    pid = int(pid_file.read_text())
    assert not process_alive(pid)


def test_output_held_by_a_process_outside_the_group_is_closed_after_the_grace(
    tmp_path: Path,
) -> None:
    # setsid puts the sleeper in its own session: the group kill misses it, and it keeps
    # the output pipes open. The attempt ends kill_grace (0.5 s) after the task's exit.
    pid_file = tmp_path / "escaped"
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 30' & sleep 0.2; echo main done"
    started = time.monotonic()
    try:
        out = _run(_ctx(tmp_path), ["sh", "-c", script])
        took = time.monotonic() - started
        assert (out.status, out.tail) == (TaskStatus.COMPLETED, "main done")
        assert took < 5, took
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_an_attempt_cancelled_while_its_output_drains_closes_and_reaps(tmp_path: Path) -> None:
    # The escaped sleeper holds the pipes after the task exits, so the attempt sits in
    # its drain wait; cancelling it there must still close the pipes and reap the child.
    pid_file = tmp_path / "escaped"
    script = f"setsid sh -c 'echo $$ > {pid_file}; exec sleep 30' & sleep 0.2; echo main"

    async def scenario() -> tuple[bool, int]:
        loop = asyncio.get_running_loop()
        attempt = asyncio.ensure_future(process.run_process(_ctx(tmp_path), ["sh", "-c", script]))
        await asyncio.sleep(0.6)  # the task exited at 0.2 s; the drain lasts until 0.7 s
        attempt.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await attempt
        watcher = process._Watcher.of(loop)
        return attempt.cancelled(), len(watcher._handlers)

    try:
        cancelled, left = asyncio.run(scenario())
        assert cancelled and left == 0
    finally:
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
