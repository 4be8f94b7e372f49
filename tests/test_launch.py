"""taskexec_nb.run.launch: the one start path (RunRequest and start_run), for real runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.events import RunStatus
from taskexec_nb.run.launch import RunRequest, find_resumed, start, start_run
from taskexec_nb.settings import RunSettings

TASKS = (
    "## Phase 1: Setup\n\n"
    '- [ ] T001 First\n  - taskexec: run="echo one > one.txt"\n'
    '- [ ] T002 Second\n  - taskexec: run="echo two > two.txt"\n'
)


def tasks_file(tmp_path: Path) -> Path:
    path = tmp_path / "tasks.md"
    path.write_text(TASKS, encoding="utf-8")
    return path


def settings(tmp_path: Path) -> RunSettings:
    return RunSettings(state_dir=tmp_path / "state", writeback=False)


def test_start_none_makes_the_run_and_runs_nothing(tmp_path: Path) -> None:
    plan = taskexec_nb.load(tasks_file(tmp_path))
    handle = start_run(RunRequest(plan, settings(tmp_path), only="T002", start="none"))
    assert handle.requested == ["T002"] and not handle.resumed
    assert handle.result is None and not handle.done
    assert not (tmp_path / "state").exists() and not (tmp_path / "two.txt").exists()
    assert handle.preview() == ["T002"]
    start(handle, "block")
    assert handle.result is RunStatus.COMPLETED
    assert (tmp_path / "two.txt").is_file() and not (tmp_path / "one.txt").exists()


def test_start_thread_returns_a_running_run_that_join_waits_for(tmp_path: Path) -> None:
    plan = taskexec_nb.load(tasks_file(tmp_path))
    handle = start_run(RunRequest(plan, settings(tmp_path), start="thread"))
    assert handle.join(timeout=60) is RunStatus.COMPLETED
    assert handle.done and handle.selection == ["T001", "T002"]
    assert (tmp_path / "one.txt").is_file() and (tmp_path / "two.txt").is_file()


def test_start_loop_runs_on_the_callers_event_loop(tmp_path: Path) -> None:
    plan = taskexec_nb.load(tasks_file(tmp_path))

    async def main() -> RunStatus:
        handle = start_run(RunRequest(plan, settings(tmp_path), start="loop"))
        await handle.started()
        return await handle.wait()

    assert asyncio.run(main()) is RunStatus.COMPLETED


def test_a_resume_found_first_runs_with_the_settings_the_run_kept(tmp_path: Path) -> None:
    plan = taskexec_nb.load(tasks_file(tmp_path))
    first = plan.run(only=["T001"], state_dir=str(tmp_path / "state"), writeback=False, retries=2)
    resumed = find_resumed(
        plan.path, settings(tmp_path), first.run_id, given={"max_workers": None}
    )
    assert resumed.run_id == first.run_id and resumed.settings.retries == 2
    assert resumed.kept is not None and "retries=2 (now 0)" in resumed.kept
    handle = start_run(RunRequest(plan, resumed=resumed))
    assert handle.run_id == first.run_id and handle.settings.retries == 2
    assert resumed.kept in handle.notices
    # Given whole, settings are kept as they are.
    whole = find_resumed(plan.path, settings(tmp_path), first.run_id)
    assert whole.settings.retries == 0 and whole.kept is None


def test_a_request_with_a_resumed_run_refuses_a_selection(tmp_path: Path) -> None:
    plan = taskexec_nb.load(tasks_file(tmp_path))
    first = plan.run(state_dir=str(tmp_path / "state"), writeback=False)
    resumed = find_resumed(plan.path, settings(tmp_path), first.run_id)
    with pytest.raises(UsageError, match="resume= continues the run's own selection"):
        start_run(RunRequest(plan, only="T001", resumed=resumed, start="none"))
