"""What a resume runs again, and with which settings (review fixes).

Real runs on real files, the state store on disk: a resume reads back which
boxes its run ticked and how the run was started.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import pytest
from helpers import counts, write_tasks

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.events import Event, EventKind
from taskexec_nb.store import StateStore


def records(folder: Path, run_id: str) -> dict[str, tuple[str, bool]]:
    with closing(StateStore(folder / ".taskexec" / "state.db")) as store:
        return {k: (r.status, r.ticked) for k, r in store.task_records(run_id).items()}


def test_the_store_records_which_boxes_the_run_ticked(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    seen: list[Event] = []
    first = taskexec_nb.load(path).run(max_workers=1, observers=[seen.append])
    assert first.result is not None and first.result.value == "failed"  # T003 fails
    assert records(tmp_path, first.run_id) == {
        "T001": ("completed", True),
        "T002": ("completed", True),
        "T003": ("failed", False),
        "T004": ("skipped", False),
    }
    ticked = [e.task_id for e in seen if e.kind is EventKind.TASK_TICKED]
    assert ticked == ["T001", "T002"]


def test_a_box_unticked_by_hand_runs_again_on_resume(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)
    assert counts(tmp_path) == ["T001", "T002"]
    path.write_text(path.read_text().replace("- [X] T001", "- [ ] T001"))
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id, max_workers=1)
    assert again.result is not None and again.result.value == "completed"
    # T001 ran again (it was not just ticked back); T002, still ticked, did not.
    assert counts(tmp_path) == ["T001", "T002", "T001", "T003", "T004"]
    assert any(
        f"T001 was un-ticked in {path} after run {first.run_id} completed and ticked it" in n
        for n in again.notices
    )
    assert "- [X] T001" in path.read_text()
    assert records(tmp_path, first.run_id)["T001"] == ("completed", True)


def test_a_completed_box_never_ticked_is_ticked_on_resume_without_running(
    tmp_path: Path,
) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1, writeback=False)
    assert "- [ ] T001" in path.read_text()
    assert records(tmp_path, first.run_id)["T001"] == ("completed", False)
    (tmp_path / "fixed").touch()
    seen: list[Event] = []
    # The run was started without write-back: turning it on for the resume ticks the boxes.
    again = taskexec_nb.load(path).run(resume=first.run_id, observers=[seen.append], writeback=True)
    assert again.result is not None and again.result.value == "completed"
    assert counts(tmp_path) == ["T001", "T002", "T003", "T004"]  # T001 and T002 ran once
    assert "- [X] T001" in path.read_text() and "- [X] T002" in path.read_text()
    assert {e.task_id for e in seen if e.kind is EventKind.TASK_TICKED} == {
        "T001",
        "T002",
        "T003",
        "T004",
    }
    assert all(ticked for _, ticked in records(tmp_path, first.run_id).values())


def test_a_ticked_task_edited_since_is_reported_not_run(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)
    path.write_text(path.read_text().replace("T001 First", "T001 First, edited"))
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id, max_workers=1)
    assert again.result is not None and again.result.value == "completed"
    assert counts(tmp_path) == ["T001", "T002", "T003", "T004"]
    assert (
        f"T001 changed since run {first.run_id} completed it, but its box is ticked in "
        f"{path}: not run again (untick it to run it)"
    ) in again.notices


# -- the settings a resume runs with ---------------------------------------------------------

RETRIED = (
    "# Tasks\n\n## Phase 1: Setup\n\n"
    "- [ ] T001 Flaky\n"
    '  - taskexec: run="echo T001 >> count.txt; test -e fixed"\n'
    "- [ ] T002 Next\n"
    '  - taskexec: run="echo T002 >> count.txt"\n'
)


def test_a_cli_resume_keeps_the_runs_settings_unless_given_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path, RETRIED)
    argv = ["run", str(path), "-j", "7", "--retries", "1", "--no-writeback", "--fail-fast"]
    assert main(argv) == 1
    assert counts(tmp_path) == ["T001", "T001"]  # one retry; fail-fast: T002 never started
    capsys.readouterr()
    # The resume retries once again, still does not tick, and says what it kept.
    assert main(["run", str(path), "--resume"]) == 1
    err = capsys.readouterr().err
    assert counts(tmp_path) == ["T001"] * 4
    assert "resume keeps the settings run" in err
    for kept in ("max_workers=7", "retries=1 (now 0)", "fail_fast=true (now false)"):
        assert kept in err
    assert "writeback=false (now true)" in err
    # Given again, a flag wins: no retry, and write-back on.
    (tmp_path / "fixed").touch()
    assert main(["run", str(path), "--resume", "--retries", "0", "--writeback"]) == 0
    err = capsys.readouterr().err
    assert "retries=" not in err and "writeback=" not in err
    assert counts(tmp_path) == ["T001"] * 5 + ["T002"]
    assert "- [X] T001" in path.read_text() and "- [X] T002" in path.read_text()


def test_an_api_resume_keeps_the_runs_settings_and_a_settings_object_keeps_its_own(
    tmp_path: Path,
) -> None:
    from taskexec_nb.settings import RunSettings

    path = write_tasks(tmp_path, RETRIED)
    first = taskexec_nb.load(path).run(retries=2, writeback=False, resources={"db": 1})
    assert counts(tmp_path) == ["T001"] * 3
    again = taskexec_nb.load(path).run(resume=True)
    assert counts(tmp_path) == ["T001"] * 6  # two retries again
    assert again.settings.retries == 2 and dict(again.settings.resources) == {"db": 1}
    assert again.settings.writeback is False
    assert any('resources={"db": 1} (now {})' in n for n in again.notices)
    # A whole settings object is taken as it is.
    third = taskexec_nb.load(path).run(resume=first.run_id, settings=RunSettings(retries=0))
    assert counts(tmp_path) == ["T001"] * 7
    assert not any("resume keeps" in n for n in third.notices)
    assert "- [ ] T001" in path.read_text()


def test_the_resume_notice_says_what_an_unset_setting_means() -> None:
    from taskexec_nb.run.resume import resumed_settings
    from taskexec_nb.settings import RunSettings

    now = RunSettings(no_action="fail", timeout=5)
    stored = '{"no_action": null, "timeout": null}'
    kept, notice = resumed_settings(now, {"run_id": "r1", "settings": stored}, {})
    assert (kept.no_action, kept.timeout) == (None, None)
    assert notice is not None and "null" not in notice
    assert 'no_action=not set, default skip (now "fail")' in notice
    assert "timeout=not set, no limit (now 5)" in notice
    with_agent = RunSettings(agent_command=["my-agent"])
    _, notice = resumed_settings(
        with_agent, {"run_id": "r2", "settings": '{"no_action": "fail"}'}, {}
    )
    assert notice is not None
    assert 'no_action="fail" (now not set, default agent)' in notice


def test_settings_recorded_unreadable_or_no_longer_valid_are_not_kept() -> None:
    from taskexec_nb.run.resume import resumed_settings
    from taskexec_nb.settings import RunSettings

    now = RunSettings(max_workers=2)
    assert resumed_settings(now, {"run_id": "r", "settings": "{not json"}, {}) == (now, None)
    bad = '{"max_workers": 0, "retries": 1}'  # recorded by a version that allowed it
    assert resumed_settings(now, {"run_id": "r", "settings": bad}, {}) == (now, None)
    good = '{"max_workers": 3, "retries": 1, "timeout": null}'
    kept, note = resumed_settings(now, {"run_id": "r", "settings": good}, {"retries": 0})
    assert (kept.max_workers, kept.retries) == (3, 0)
    assert note == (
        "resume keeps the settings run r started with: max_workers=3 (now 2); "
        "give a setting again to change it"
    )


def test_a_resumed_runs_status_shows_what_it_did_before_the_resume(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=1)
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=first.run_id, max_workers=1)
    frame = again.status().set_index("id")
    assert list(frame.index) == ["T001", "T002", "T003", "T004"]
    assert list(frame["status"]) == ["completed"] * 4
    assert list(frame["attempt"]) == [1, 1, 2, 1]  # T001 and T002 as the first session left them
    assert frame.loc["T001", "start"] < frame.loc["T003", "start"]
    assert again.selection == ["T003", "T004"]
    assert list(again.progress()["done"]) == [3, 1]
