"""The machine-wide registry of live runs: one tasks.md, any state folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import md

import taskexec_nb
from taskexec_nb.errors import RunInProgressError, UsageError
from taskexec_nb.run import liveruns

TWO = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 [P] Slow
      ~~~bash
      echo T001 >> effects.log
      sleep 30
      ~~~
    - [ ] T002 [P] Quick
      ~~~bash
      echo T002 >> effects.log
      ~~~
    """
)


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runtime folder of this test's own (the registry lives in ``taskexec`` in it)."""
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    return folder / "taskexec"


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "taskexec_nb.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _start_slow(path: Path, state: Path) -> subprocess.Popen[str]:
    """``taskexec run --only T001`` in the background, once T001 has started."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskexec_nb.cli",
            "run",
            str(path),
            "--only",
            "T001",
            "--state-dir",
            str(state),
        ],
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 30
    while time.time() < deadline and not (path.parent / "effects.log").exists():
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    return proc


def test_two_cli_runs_with_different_state_folders_do_not_both_run_a_task(
    tmp_path: Path, runtime: Path
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TWO, encoding="utf-8")
    first_state, second_state = tmp_path / "state-a", tmp_path / "state-b"
    first = _start_slow(path, first_state)
    try:
        second = _cli("run", str(path), "--state-dir", str(second_state), cwd=tmp_path)
        assert second.returncode == 2, second.stderr
        [entry] = json.loads(next(runtime.glob("*.json")).read_text())
        assert entry["pid"] == first.pid and entry["selection"] == ["T001"]
        message = second.stderr
        assert f"run {entry['run_id']} of {path}" in message
        assert f"runner pid {first.pid}, state folder {first_state}" in message
        assert "also runs T001" in message and "Traceback" not in message
        dry = _cli("run", str(path), "--dry-run", "--state-dir", str(second_state), cwd=tmp_path)
        assert dry.returncode == 2 and f"state folder {first_state}" in dry.stderr
        # Tasks the first run does not run may run side by side, as in one state folder.
        other = _cli(
            "run", str(path), "--only", "T002", "--state-dir", str(second_state), cwd=tmp_path
        )
        assert other.returncode == 0, other.stderr
        assert (tmp_path / "effects.log").read_text() == "T001\nT002\n"
    finally:
        first.kill()  # SIGKILL: no chance to unregister
        first.communicate(timeout=30)
    # A dead runner's entry is no obstacle, and it is dropped.
    again = _cli("run", str(path), "--state-dir", str(second_state), "--dry-run", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert [e["pid"] for e in json.loads(next(runtime.glob("*.json")).read_text())] == [first.pid]
    path.write_text(path.read_text().replace("sleep 30", "true"), encoding="utf-8")
    done = _cli("run", str(path), "--state-dir", str(second_state), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "effects.log").read_text() == "T001\nT002\nT001\n"
    assert not list(runtime.glob("*.json"))  # the last run out leaves nothing behind


def test_a_run_ended_by_sigterm_unregisters(tmp_path: Path, runtime: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TWO, encoding="utf-8")
    first = _start_slow(path, tmp_path / "state-a")
    assert len(list(runtime.glob("*.json"))) == 1
    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=30)
    assert first.returncode == 130, err
    assert not list(runtime.glob("*.json"))


def test_api_runs_with_different_state_folders_are_refused_in_one_process(
    tmp_path: Path, runtime: Path
) -> None:
    import asyncio

    path = tmp_path / "tasks.md"
    path.write_text(TWO, encoding="utf-8")

    async def body() -> None:
        first = await taskexec_nb.load(path).arun(only="T001", state_dir=tmp_path / "a")
        try:
            with pytest.raises(UsageError, match=f"state folder {tmp_path / 'a'}"):
                await taskexec_nb.load(path).arun(state_dir=tmp_path / "b")
        finally:
            first.cancel()
            await first.wait()
        # Once it ended, its entry is gone and the same tasks may run again.
        assert not list(runtime.glob("*.json"))

    asyncio.run(body())


def test_a_live_run_in_another_state_folder_is_a_run_in_progress_error(
    tmp_path: Path, runtime: Path
) -> None:
    import asyncio
    import socket

    path = tmp_path / "tasks.md"
    path.write_text(TWO, encoding="utf-8")

    async def body() -> None:
        first = await taskexec_nb.load(path).arun(only="T001", state_dir=tmp_path / "a")
        try:
            with pytest.raises(RunInProgressError) as info:
                await taskexec_nb.load(path).arun(state_dir=tmp_path / "b")
            error = info.value
            assert (error.run_id, error.pid, error.host) == (
                first.run_id,
                os.getpid(),
                socket.gethostname(),
            )
            assert error.tasks_file == str(path.resolve())
            assert error.state_dir == str((tmp_path / "a").resolve())
            assert error.tasks == ("T001",)
        finally:
            first.cancel()
            await first.wait()

    asyncio.run(body())


def test_an_unusable_registry_folder_is_a_notice_not_an_error(
    tmp_path: Path, runtime: Path
) -> None:
    runtime.write_text("not a folder")  # where the registry folder would go
    path = tmp_path / "tasks.md"
    path.write_text(TWO.replace("sleep 30", "true"), encoding="utf-8")
    handle = taskexec_nb.load(path).run(writeback=False)
    assert handle.result.value == "completed"
    assert any(
        "recorded in other state folders are not looked for" in n and str(runtime) in n
        for n in handle.notices
    ), handle.notices


def test_registry_folder_must_be_yours_alone(tmp_path: Path, runtime: Path) -> None:
    assert liveruns.runtime_dir() == runtime
    assert runtime.stat().st_mode & 0o777 == 0o700
    runtime.chmod(0o777)  # others could write entries into it
    with pytest.raises(OSError, match="only you may write"):
        liveruns.runtime_dir()


def test_without_xdg_runtime_dir_the_registry_is_in_the_temp_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    assert liveruns.runtime_dir() == tmp_path / f"taskexec-{os.geteuid()}"


def test_a_torn_registry_file_counts_as_no_runs(tmp_path: Path, runtime: Path) -> None:
    tasks = str(tmp_path / "tasks.md")
    entry = liveruns.register(tasks, "R1", ["T001"], tmp_path / "a")
    entry.write_text("{not json")
    liveruns.check(tasks, "R2", ["T001"])
    again = liveruns.register(tasks, "R2", ["T001"], tmp_path / "b")
    assert [e["run_id"] for e in json.loads(again.read_text())] == ["R2"]
    liveruns.unregister(again, "R2")
    assert not again.exists()
