"""The asyncio-watcher path of run_process, used where the kernel has no pidfds."""

from __future__ import annotations

import asyncio
import errno
import os
import sys
from pathlib import Path

import pytest

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
