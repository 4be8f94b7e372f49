"""taskexec_nb.run.launch: the one start path (RunRequest and start_run), for real runs."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from helpers import (
    linux_only,
    statuses,
    write_md,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.events import EventRecorder, RunStatus
from taskexec_nb.run.launch import RunRequest, find_resumed, start, start_run
from taskexec_nb.settings import RunSettings
from taskexec_nb.store import StateStore

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
    resumed = find_resumed(plan.path, settings(tmp_path), first.run_id, given={"max_workers": None})
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


@linux_only
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"settings": {"max_workers": 2}}, "settings must be a RunSettings, not dict"),
        ({"only": 5}, "only must be a string or a list"),
        ({"only": ["T001", 3]}, "only must be a string or a list"),
        ({"callables": [print]}, "callables must map task IDs"),
        ({"callables": {"T001": 5}}, r"callables\['T001'\] must be a function"),
        ({"observers": [5]}, "observers must be a list of functions"),
        ({"mode": "explicit"}, "mode='explicit'.*chosen when the plan is loaded"),
    ],
)
def test_run_arguments_of_the_wrong_kind_are_refused_by_name(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, "- [ ] T001 Only task\n"))
    with pytest.raises(UsageError, match=message):
        plan.run(state_dir=tmp_path / "state", **kwargs)
    assert not (tmp_path / "state").exists()  # refused before anything ran or was stored


@linux_only
def test_arguments_that_are_fine_still_run(tmp_path: Path) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, "- [ ] T001 Only task\n- [ ] T002 Another\n"))
    seen: list[str] = []
    handle = plan.run(
        state_dir=tmp_path / "state",
        mode=plan.mode.value,  # the plan's own mode is no change
        only=(t for t in ["T001"]),  # any iterable, read once
        observers=(o for o in [lambda e: seen.append(e.kind.value)]),
        callables={"T00*": lambda: None, "T999": print, "US7": print},
        writeback=False,
    )
    assert handle.result is RunStatus.COMPLETED
    assert statuses(handle) == {"T001": "completed"}
    assert "run_finished" in seen
    unmatched = [n for n in handle.notices if "matches no task" in n]
    assert len(unmatched) == 2
    assert any("'T999'" in n for n in unmatched) and any("'US7'" in n for n in unmatched)


def test_example_runs_to_the_end_and_ticks_every_box(tmp_path: Path) -> None:
    work = tmp_path / "ex"
    shutil.copytree(ROOT / "examples", work)
    before = (work / "tasks.md").read_bytes()
    recorder = EventRecorder()
    handle = taskexec_nb.load(work / "tasks.md").run(max_workers=2, observers=[recorder])
    assert handle.result is RunStatus.COMPLETED
    assert (work / "build" / "report.md").read_text() == (
        "# Report\n\n- words: 6\n- lines: 3\n- kept: 4\n"
    )
    frame = handle.status()
    assert list(frame["status"]) == ["completed"] * 8
    after = (work / "tasks.md").read_bytes()
    assert after.count(b"- [X] T") == 8
    assert after.replace(b"- [X] T", b"- [ ] T") == before
    kinds = recorder.kinds("T008")
    assert kinds[:2] == ["task_queued", "task_started"]
    assert kinds[-2:] == ["task_finished", "task_ticked"]
    store = StateStore(work / ".taskexec" / "state.db")
    assert store.latest_run() == handle.run_id
    assert {t.status for t in store.tasks(handle.run_id)} == {"completed"}
    store.close()
    # Everything is ticked now: a second load has nothing to run.
    assert taskexec_nb.load(work / "tasks.md").to_run == ()


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
