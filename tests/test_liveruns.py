"""The machine-wide registry of live runs: one tasks.md, any state folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from conftest import md
from helpers import (
    COUNTED_TASKS,
    _set_runner,
    _sigkilled_runner,
    latest_run,
    write_tasks,
)

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.errors import RunInProgressError, UsageError
from taskexec_nb.run import liveruns
from taskexec_nb.store import StateStore

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


def test_a_run_through_another_hard_link_of_the_file_is_refused(
    tmp_path: Path, runtime: Path
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TWO, encoding="utf-8")
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    linked = elsewhere / "tareas.md"  # the same file under another name and folder
    os.link(path, linked)
    first = _start_slow(path, tmp_path / "state-a")
    try:
        # Its own default state folder (copy/.taskexec), another path: the same file.
        second = _cli("run", str(linked), cwd=elsewhere)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"of {path} is still running (runner pid {first.pid}" in second.stderr
        assert "also runs T001" in second.stderr
        dry = _cli("run", "tareas.md", "--dry-run", cwd=elsewhere)
        assert dry.returncode == 2 and "also runs T001" in dry.stderr
        assert (tmp_path / "effects.log").read_text() == "T001\n"  # T001 ran once
        # Disjoint tasks may still run side by side.
        other = _cli("run", str(linked), "--only", "T002", cwd=elsewhere)
        assert other.returncode == 0, other.stderr
    finally:
        first.kill()
        first.communicate(timeout=30)
    # Another file that only has the same task IDs is no obstacle.
    unrelated = elsewhere / "tasks.md"
    unrelated.write_text(TWO.replace("sleep 30", "true"), encoding="utf-8")
    (tmp_path / "effects.log").unlink()
    first = _start_slow(path, tmp_path / "state-a")
    try:
        done = _cli("run", str(unrelated), "--only", "T001", "--no-writeback", cwd=elsewhere)
        assert done.returncode == 0, done.stderr
    finally:
        first.kill()
        first.communicate(timeout=30)


def test_runs_started_with_and_without_xdg_runtime_dir_see_each_other(
    tmp_path: Path, runtime: Path
) -> None:
    # A cron job (no XDG_RUNTIME_DIR: the temporary folder's registry) and a login
    # session (XDG_RUNTIME_DIR set) run the same file with their own state folders.
    path = tmp_path / "tasks.md"
    path.write_text(TWO, encoding="utf-8")
    temp = tmp_path / "temp"
    temp.mkdir()
    cron = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    cron["TMPDIR"] = str(temp)
    cli = [sys.executable, "-m", "taskexec_nb.cli", "run", str(path)]
    first = subprocess.Popen(
        [*cli, "--only", "T001", "--state-dir", str(tmp_path / "state-a")],
        cwd=tmp_path,
        env=cron,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (tmp_path / "effects.log").exists():
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        assert list((temp / f"taskexec-{os.geteuid()}").glob("*.json"))  # not in runtime
        session = {**os.environ, "TMPDIR": str(temp), "XDG_RUNTIME_DIR": str(runtime.parent)}
        second = subprocess.run(
            [*cli, "--state-dir", str(tmp_path / "state-b")],
            cwd=tmp_path,
            env=session,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"runner pid {first.pid}, state folder {tmp_path / 'state-a'}" in second.stderr
        assert (tmp_path / "effects.log").read_text() == "T001\n"
    finally:
        first.kill()
        first.communicate(timeout=30)


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


def test_runs_and_status_tell_a_dead_runner_from_a_live_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, run_id = _sigkilled_runner(tmp_path)
    state = str(tmp_path / ".taskexec")
    assert main(["runs", "--state-dir", state]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith(run_id)]
    assert row and row[0].split()[1] == "interrupted"
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["status"] == "interrupted" and doc["recorded_status"] == "running"
    assert doc["runner_alive"] is False
    assert main(["status", "--state-dir", state]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert (
        f"its runner is gone: resume it with taskexec run {path.resolve()} --resume {run_id}"
        in first
    )
    # The hint is true: the run resumes (the sweep ends the orphaned sleep first).
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume", run_id]) == 0


def test_a_reused_runner_pid_does_not_keep_a_dead_run_alive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from taskexec_nb._procfs import process_identity, runner_alive

    path, run_id = _sigkilled_runner(tmp_path)
    me = process_identity(os.getpid())
    assert me is not None and me == process_identity(os.getpid())
    # The recorded pid now belongs to another process (here: this one).
    _set_runner(tmp_path, run_id, pid=os.getpid(), runner=me.rsplit(":", 1)[0] + ":1")
    assert runner_alive(latest_run(tmp_path)) is False
    assert main(["runs", "--state-dir", str(tmp_path / ".taskexec")]) == 0
    assert f"{run_id} interrupted" in " ".join(capsys.readouterr().out.split())
    _set_runner(tmp_path, run_id, runner=me)  # the very process: alive
    assert runner_alive(latest_run(tmp_path)) is True
    assert main(["run", str(path), "--resume", run_id]) == 2
    assert "is still running" in capsys.readouterr().err
    _set_runner(tmp_path, run_id, runner=me.rsplit(":", 1)[0] + ":1")
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume", run_id]) == 0
    assert latest_run(tmp_path)["status"] == "completed"


def test_a_run_on_another_host_is_not_judged_from_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, run_id = _sigkilled_runner(tmp_path)
    _set_runner(tmp_path, run_id, host="build-agent-7", pid=4242)
    state = str(tmp_path / ".taskexec")
    capsys.readouterr()
    assert main(["status", "--state-dir", state]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert f"run {run_id}: running" in first
    assert "(its runner, pid 4242, is on host build-agent-7: not checked here)" in first
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["status"] == "running" and doc["runner_alive"] is None
    assert main(["run", str(path), "--resume", run_id]) == 2
    err = capsys.readouterr().err
    assert f"run {run_id} is marked running by its runner on host build-agent-7" in err
    assert f"--resume {run_id} --takeover" in err
    with pytest.raises(UsageError, match="on host build-agent-7"):
        taskexec_nb.load(path).run(resume=run_id)
    # A new run here leaves it be (the sweep does not mark it interrupted).
    other = write_tasks(tmp_path, COUNTED_TASKS, name="other.md")
    (tmp_path / "fixed").touch()
    assert main(["run", str(other)]) == 0
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        assert store.run(run_id).status == "running"
    assert main(["run", str(path), "--takeover"]) == 2
    assert "--takeover goes with --resume" in capsys.readouterr().err
    with pytest.raises(UsageError, match="takeover= goes with resume="):
        taskexec_nb.load(path).run(takeover=True)
    path.write_text(path.read_text().replace("sleep 30", "true"))
    assert main(["run", str(path), "--resume", run_id, "--takeover"]) == 0
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        run = store.run(run_id)
        attempts = store.attempts(run_id)
    assert run.status == "completed" and run.pid == os.getpid()
    # The attempt the other host's runner left is closed, at its last recorded moment.
    assert [(a.attempt, a.status) for a in attempts] == [(1, "cancelled"), (2, "completed")]
    assert attempts[0].finished - attempts[0].started < 1.0


def test_an_older_versions_runner_record_falls_back_to_the_pid() -> None:
    from taskexec_nb._procfs import process_identity, runner_alive

    me = process_identity(os.getpid())
    assert me is not None and me.split(":", 1)[0] == str(os.getpid())
    # An older taskexec resumed the run: a new pid, the identity of the one before.
    run = {"pid": os.getpid(), "host": socket.gethostname(), "runner": "1:boot:1"}
    assert runner_alive(run) is True
    assert runner_alive({**run, "runner": f"{os.getpid()}:boot:1"}) is False


def test_a_dead_runners_attempt_ends_when_it_was_last_seen(tmp_path: Path) -> None:
    path, run_id = _sigkilled_runner(tmp_path)
    time.sleep(1.5)  # the run sits dead before the resume finds it
    path.write_text(path.read_text().replace("sleep 30", "true"))
    handle = taskexec_nb.load(path).run(resume=run_id)
    report = handle.report()
    first = report.attempts.set_index("attempt", append=True).loc[("T001", 1)]
    assert first["status"] == "cancelled"
    assert first["duration"] < 1.0  # not the 1.5 s wait
    assert report.summary["task_time"] <= report.summary["wall_time"] + 0.01


def test_status_of_a_dead_runner_shows_no_task_running(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _run_id = _sigkilled_runner(tmp_path)
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state]) == 0
    lines = capsys.readouterr().out.splitlines()
    row = next(line for line in lines if line.startswith("T001"))
    assert row.split()[1] == "interrupted"
    assert "(1 interrupted)" in "\n".join(lines) and "running" not in row
    assert main(["status", "--state-dir", state, "--json"]) == 0
    (task,) = json.loads(capsys.readouterr().out)["tasks"]
    assert task["status"] == "interrupted" and task["recorded_status"] == "running"
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["counts"] == {"interrupted": 1}
