"""End-to-end smoke test of a run: the example tasks.md, real processes, real SQLite."""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT

import taskexec_nb
from taskexec_nb.events import EventRecorder, RunStatus
from taskexec_nb.store import StateStore


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
    assert {t["status"] for t in store.tasks(handle.run_id)} == {"completed"}
    store.close()
    # Everything is ticked now: a second load has nothing to run.
    assert taskexec_nb.load(work / "tasks.md").to_run == ()
