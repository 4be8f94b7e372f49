"""taskexec_nb.errors: one hierarchy, and the structured errors raised where a run cannot start.

Real runs on real files and a real state store: each structured error is raised
by the check that refuses the run, with the attributes a UI acts on, and is still
a :class:`UsageError` (so the CLI's exit code and message are as before).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

import taskexec_nb
from taskexec_nb import errors
from taskexec_nb.annotations import parse_duration
from taskexec_nb.cli import main
from taskexec_nb.errors import (
    AgentNotConfiguredError,
    AnnotationError,
    ConfigError,
    KernelNotFoundError,
    ReportError,
    ResourceError,
    ResourceShortfall,
    ResumeError,
    ResumeRunningError,
    RunInProgressError,
    StoreError,
    TaskexecError,
    UsageError,
    ValidationError,
)
from taskexec_nb.events import RunStatus
from taskexec_nb.run.launch import RunRequest, start_run
from taskexec_nb.settings import RunSettings

SLOW = (
    "## Phase 1: Setup\n\n"
    '- [ ] T001 Slow\n  - taskexec: run="echo started > started.txt; sleep 30"\n'
    '- [ ] T002 Quick\n  - taskexec: run="echo two > two.txt"\n'
)
QUICK = "## Phase 1: Setup\n\n" + '- [ ] T001 Quick\n  - taskexec: run="echo one"\n'


def _write(folder: Path, text: str, name: str = "tasks.md") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture(autouse=True)
def _own_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Live runs register in a runtime folder of this test's own."""
    folder = tmp_path / "runtime"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))


# -- the hierarchy --------------------------------------------------------------------------


def test_every_error_is_under_the_package_root() -> None:
    for cls in (
        ValidationError,
        UsageError,
        ConfigError,
        ReportError,
        StoreError,
        AnnotationError,
        RunInProgressError,
        ResumeError,
        ResumeRunningError,
        ResourceError,
        AgentNotConfiguredError,
        KernelNotFoundError,
    ):
        assert issubclass(cls, TaskexecError), cls
        assert cls.__module__ == "taskexec_nb.errors", cls
    # Runtime conflicts stay usage errors: callers that catch UsageError, and the CLI's
    # exit code 2, see them as before.
    for cls in (
        ConfigError,
        ReportError,
        RunInProgressError,
        ResumeError,
        ResourceError,
        AgentNotConfiguredError,
        KernelNotFoundError,
    ):
        assert issubclass(cls, UsageError), cls
    assert not issubclass(StoreError, UsageError)
    # A resume of a live run is both refusals.
    assert issubclass(ResumeRunningError, ResumeError)
    assert issubclass(ResumeRunningError, RunInProgressError)


def test_the_batch_errors_are_under_the_root_and_not_usage_errors() -> None:
    # A run that did not complete, or a notebook cell's error, is not a bad argument.
    for cls in (taskexec_nb.RunFailedError, taskexec_nb.NotebookError):
        assert issubclass(cls, TaskexecError), cls
        assert not issubclass(cls, UsageError), cls
        assert cls.__module__ == "taskexec_nb.errors", cls
    failed = taskexec_nb.RunFailedError("run R ended failed", run_id="R", status="failed",
                                        tasks=["T002"])  # fmt: skip
    assert (failed.run_id, failed.status, failed.tasks) == ("R", "failed", ("T002",))


def test_a_bad_duration_is_an_annotation_error_under_the_root_and_a_value_error() -> None:
    with pytest.raises(TaskexecError) as info:
        parse_duration("soon")
    assert isinstance(info.value, AnnotationError)
    assert isinstance(info.value, ValueError)  # as before: a bad value
    assert "is not a duration" in str(info.value) and info.value.hint


def test_the_package_exports_every_error() -> None:
    public = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
    }
    assert public <= set(taskexec_nb.__all__), public - set(taskexec_nb.__all__)
    for name in public:
        assert getattr(taskexec_nb, name) is getattr(errors, name)


def test_resource_error_reads_its_first_shortfall() -> None:
    short = ResourceShortfall("T001", "gpu", 2.0, 1.0, "tasks.md:4")
    error = ResourceError("short", [short, ResourceShortfall("T002", "cpu", 8, 0, "x:9")])
    assert (error.name, error.needed, error.available) == ("gpu", 2.0, 1.0)
    assert len(error.shortfalls) == 2 and str(error) == "short"


# -- raised where a run cannot start --------------------------------------------------------


def test_a_task_needing_more_than_the_run_has_is_a_resource_error(tmp_path: Path) -> None:
    text = "## Phase 1: X\n\n- [ ] T001 Train\n  - taskexec: run=true needs=gpu:2\n"
    path = _write(tmp_path, text)
    plan = taskexec_nb.load(path)
    with pytest.raises(ResourceError) as info:
        plan.run(state_dir=tmp_path / "state", writeback=False, resources={"gpu": 1})
    error = info.value
    assert error.shortfalls == (ResourceShortfall("T001", "gpu", 2.0, 1.0, f"{path}:4"),)
    assert (error.name, error.needed, error.available) == ("gpu", 2.0, 1.0)
    assert str(error).startswith("tasks need resources the run does not have:\n")
    # A resource the run does not have at all: available 0.
    with pytest.raises(ResourceError) as info:
        plan.run(state_dir=tmp_path / "state", writeback=False)
    assert info.value.available == 0


def test_agent_tasks_without_a_usable_agent_command_are_an_agent_error(tmp_path: Path) -> None:
    text = (
        "## Phase 1: X\n\n- [ ] T001 Think\n  - taskexec: executor=agent\n"
        "- [ ] T002 Nothing to do\n"
    )
    plan = taskexec_nb.load(_write(tmp_path, text))
    with pytest.raises(AgentNotConfiguredError) as info:
        plan.run(state_dir=tmp_path / "state", no_action="agent")
    assert info.value.tasks == ("T001", "T002") and info.value.program is None
    assert str(info.value).startswith("no agent_command is set, but T001 set executor=agent")
    missing = "taskexec-no-such-agent"
    with pytest.raises(AgentNotConfiguredError) as info:
        plan.run(state_dir=tmp_path / "state", agent_command=[missing, "{prompt}"])
    assert info.value.tasks == ("T001", "T002") and info.value.program == missing
    assert f"agent_command: '{missing}' is not on PATH" in str(info.value)


def _notebook(path: Path, kernel: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
    nbformat.write(nb, path)


def test_a_kernel_that_is_not_installed_is_a_kernel_error(tmp_path: Path) -> None:
    text = (
        "## Phase 1: X\n\n- [ ] T001 [P] One\n  - taskexec: notebook=one.ipynb\n"
        "- [ ] T002 [P] Two\n  - taskexec: notebook=two.ipynb\n"
    )
    _notebook(tmp_path / "one.ipynb", "taskexec-no-such-kernel")
    _notebook(tmp_path / "two.ipynb", "python3")
    plan = taskexec_nb.load(_write(tmp_path, text))
    with pytest.raises(KernelNotFoundError) as info:
        plan.run(state_dir=tmp_path / "state", writeback=False)
    error = info.value
    assert error.kernel == "taskexec-no-such-kernel" and error.tasks == ("T001",)
    assert not error.configured and "python3" in error.installed
    assert "the notebook of T001 names Jupyter kernel" in str(error)
    with pytest.raises(KernelNotFoundError) as info:
        plan.run(
            state_dir=tmp_path / "state",
            writeback=False,
            executors={"notebook": {"kernel": "taskexec-other-kernel"}},
        )
    error = info.value
    assert error.kernel == "taskexec-other-kernel" and error.tasks == ("T001", "T002")
    assert error.configured
    assert not (tmp_path / "state" / "logs").exists()  # nothing ran


def test_a_run_of_tasks_a_live_run_runs_is_a_run_in_progress_error(tmp_path: Path) -> None:
    path = _write(tmp_path, SLOW)
    settings = RunSettings(state_dir=tmp_path / "state", writeback=False)
    plan = taskexec_nb.load(path)
    live = start_run(RunRequest(plan, settings, only="T001", start="thread"))
    try:
        _wait_for((tmp_path / "started.txt").exists, "T001 to start")
        # A new run in the same state folder.
        with pytest.raises(RunInProgressError) as info:
            plan.run(state_dir=tmp_path / "state", writeback=False)
        error = info.value
        assert not isinstance(error, ResumeError)
        assert (error.run_id, error.pid, error.host) == (
            live.run_id,
            os.getpid(),
            socket.gethostname(),
        )
        assert error.tasks_file == str(path.resolve()) and error.tasks == ("T001",)
        assert error.state_dir is None  # the same state folder
        assert f"run {live.run_id} of {path.resolve()} is still running" in str(error)
        # A resume of the live run itself: refused as a resume and as a live run.
        for resume in (live.run_id, True):
            with pytest.raises(ResumeRunningError) as resumed:
                plan.run(resume=resume, state_dir=tmp_path / "state", writeback=False)
            assert resumed.value.reason == "running"
            assert (resumed.value.run_id, resumed.value.pid) == (live.run_id, os.getpid())
            assert resumed.value.host == socket.gethostname()
            assert resumed.value.tasks_file == str(path.resolve())
        # Other tasks may run side by side.
        other = plan.run(only="T002", state_dir=tmp_path / "state", writeback=False)
        assert other.result is RunStatus.COMPLETED
    finally:
        live.cancel()
        live.join(timeout=60)


def test_a_run_that_cannot_be_resumed_is_a_resume_error_saying_why(tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = _write(tmp_path, QUICK)
    other = _write(tmp_path, QUICK, name="other.md")
    with pytest.raises(ResumeError) as info:  # no store yet
        taskexec_nb.load(path).run(resume=True, state_dir=state)
    assert info.value.reason == "no_run" and info.value.run_id is None
    assert info.value.tasks_file == str(path.resolve())
    first = taskexec_nb.load(path, mode="stories").run(state_dir=state, writeback=False)
    with pytest.raises(ResumeError) as info:  # a store, no run of this file
        taskexec_nb.load(other).run(resume=True, state_dir=state)
    assert info.value.reason == "no_run" and info.value.tasks_file == str(other.resolve())
    with pytest.raises(ResumeError) as info:  # no such run
        taskexec_nb.load(path).run(resume="nope", state_dir=state)
    assert (info.value.reason, info.value.run_id) == ("no_run", "nope")
    assert "resume: no run 'nope'" in str(info.value)
    with pytest.raises(ResumeError) as info:  # a run of another file
        taskexec_nb.load(other).run(resume=first.run_id, state_dir=state)
    assert (info.value.reason, info.value.run_id) == ("other_file", first.run_id)
    assert info.value.tasks_file == str(other.resolve())
    with pytest.raises(ResumeError) as info:  # another mode
        taskexec_nb.load(path, mode="template").run(resume=first.run_id, state_dir=state)
    assert (info.value.reason, info.value.run_id) == ("other_mode", first.run_id)
    # A run marked running by a runner on another host: refused without takeover.
    with sqlite3.connect(state / "state.db") as db:
        db.execute(
            "UPDATE runs SET status = 'running', host = 'elsewhere', pid = 4242 WHERE run_id = ?",
            (first.run_id,),
        )
    db.close()
    with pytest.raises(ResumeError) as info:
        taskexec_nb.load(path, mode="stories").run(resume=True, state_dir=state)
    error = info.value
    assert not isinstance(error, RunInProgressError)  # it cannot be told from here
    assert (error.reason, error.run_id, error.host, error.pid) == (
        "other_host",
        first.run_id,
        "elsewhere",
        4242,
    )
    assert "--takeover" in str(error)


def test_a_structured_error_keeps_the_clis_exit_code_and_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "## Phase 1: X\n\n- [ ] T001 Train\n  - taskexec: run=true needs=gpu:2\n"
    path = _write(tmp_path, text)
    assert main(["run", str(path), "--state-dir", str(tmp_path / "state")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("taskexec: error: tasks need resources the run does not have:\n")
    assert f"{path}:4: T001 needs gpu=2 but the run has gpu=0" in err
    assert "Traceback" not in err
