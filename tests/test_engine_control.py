"""Pause, cancel, timeouts and re-runs as a notebook user drives them, with real processes.

Each case here was a gap found by using the API end to end: an async callable
that ignored cancel, retries that started while paused, timeouts that stopped
for a pause that did not stop the process, a second pause that could not
suspend, ticks of a re-run plan refused as conflicts, and arguments of the
wrong kind that failed deep inside.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    MARK,
    aread_pid,
    block,
    proc_state,
    ran,
    run_async,
    running,
    statuses,
    until,
    write_md,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.events import RunStatus

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="checks processes through /proc (Linux only)"
)


def test_cancel_ends_an_async_callable_at_once_and_records_it_cancelled(tmp_path: Path) -> None:
    path = write_md(tmp_path, "- [ ] T001 Slow work\n- [ ] T002 After it\n")
    plan = taskexec_nb.load(path)
    began: list[float] = []
    ended: list[str] = []

    async def slow() -> None:
        began.append(time.monotonic())
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            ended.append("cancelled")
            raise

    async def main() -> None:
        handle = await plan.arun(
            callables={"T001": slow, "T002": slow}, state_dir=tmp_path / "state"
        )
        await until(lambda: bool(began))
        handle.cancel()
        assert await asyncio.wait_for(handle.wait(), 3) is RunStatus.CANCELLED
        assert statuses(handle) == {"T001": "cancelled", "T002": "cancelled"}

    run_async(main)
    assert ended == ["cancelled"]  # the coroutine itself was cancelled, not left running
    assert len(began) == 1
    assert "[ ] T001" in path.read_text()  # never ticked


def test_cancel_records_a_plain_callable_cancelled_without_waiting_for_it(
    tmp_path: Path,
) -> None:
    plan = taskexec_nb.load(write_md(tmp_path, "- [ ] T001 Blocking work\n"))

    def blocking() -> None:
        time.sleep(1.0)

    async def main() -> None:
        handle = await plan.arun(callables={"T001": blocking}, state_dir=tmp_path / "state")
        await until(lambda: statuses(handle)["T001"] == "running")
        began = time.monotonic()
        handle.cancel()
        await until(lambda: statuses(handle)["T001"] == "cancelled", 0.5)
        assert time.monotonic() - began < 0.5
        assert await handle.wait() is RunStatus.CANCELLED

    run_async(main)


def test_a_plain_pause_does_not_stop_the_timeout_of_a_task_that_keeps_running(
    tmp_path: Path,
) -> None:
    text = f"- [ ] T001 Hangs\n  - taskexec: timeout=1s\n{block('echo $$ > t.pid', 'sleep 30')}"
    plan = taskexec_nb.load(write_md(tmp_path, text))

    async def main() -> None:
        async with running(plan, state_dir=tmp_path / "state", kill_grace=0.5) as handle:
            pid = await aread_pid(tmp_path / "t.pid")
            handle.pause()  # no suspend: the process goes on running, so its clock does too
            assert proc_state(pid) in ("S", "R")
            await until(lambda: statuses(handle)["T001"] == "timed_out", 4.0)
            assert handle.paused
            handle.resume()
            assert await handle.wait() is RunStatus.FAILED

    run_async(main)


def test_pausing_a_paused_run_with_suspend_suspends_its_tasks(tmp_path: Path) -> None:
    loop = block("echo $$ > loop.pid", "for i in $(seq 30); do sleep 0.05; done")
    plan = taskexec_nb.load(write_md(tmp_path, f"- [ ] T001 Loop\n{loop}"))

    async def main() -> None:
        async with running(plan, state_dir=tmp_path / "state") as handle:
            pid = await aread_pid(tmp_path / "loop.pid")
            handle.pause()
            await asyncio.sleep(0.1)
            assert proc_state(pid) in ("S", "R")
            handle.pause(suspend=True)
            await until(lambda: proc_state(pid) == "T", 2.0)
            assert statuses(handle) == {"T001": "paused"}
            handle.resume()
            await until(lambda: proc_state(pid) in ("S", "R", None), 2.0)
            assert await handle.wait() is RunStatus.COMPLETED

    run_async(main)


def test_no_retry_starts_while_the_run_is_paused(tmp_path: Path) -> None:
    failing = block('echo "$(date +%s.%N)" >> attempts', "exit 1")
    text = f"- [ ] T001 Flaky\n  - taskexec: retries=2 backoff=100ms\n{failing}"
    plan = taskexec_nb.load(write_md(tmp_path, text))
    attempts = tmp_path / "attempts"

    def count() -> int:
        return len(attempts.read_text().splitlines()) if attempts.exists() else 0

    async def main() -> None:
        async with running(plan, state_dir=tmp_path / "state") as handle:
            await until(lambda: count() >= 1)
            handle.pause()
            await asyncio.sleep(0.8)  # several backoffs long
            assert count() == 1, "a retry started while the run was paused"
            assert statuses(handle)["T001"] == "queued"
            handle.resume()
            assert await handle.wait() is RunStatus.FAILED

    run_async(main)
    assert count() == 3


GATED = f"""## Phase 1: Setup

- [ ] T001 Always works
{MARK}- [ ] T002 Needs the gate
{block("test -f gate", 'touch "ran/$TASKEXEC_TASK_ID"')}- [ ] T003 After T002 (depends on T002)
{MARK}"""


def test_resuming_with_the_same_plan_ticks_after_its_own_earlier_ticks(tmp_path: Path) -> None:
    path = write_md(tmp_path, GATED)
    (tmp_path / "ran").mkdir()
    plan = taskexec_nb.load(path, mode="explicit")
    first = plan.run(state_dir=tmp_path / "state")
    assert first.result is RunStatus.FAILED
    text = path.read_text()
    assert "[X] T001" in text and "[ ] T002" in text
    (tmp_path / "gate").touch()
    second = plan.run(state_dir=tmp_path / "state", resume=first.run_id)
    assert second.result is RunStatus.COMPLETED
    assert second.notices == []
    assert path.read_text() == GATED.replace("[ ]", "[X]")
    assert ran(tmp_path) == {"T001", "T002", "T003"}


def test_a_box_not_ticked_because_the_file_changed_is_in_the_notices(tmp_path: Path) -> None:
    edit = block('echo "<!-- edited while running -->" >> tasks.md')
    path = write_md(tmp_path, f"- [ ] T001 Edits its own tasks.md\n{edit}")
    handle = taskexec_nb.load(path).run(state_dir=tmp_path / "state")
    assert handle.result is RunStatus.COMPLETED
    assert any("changed on disk" in n and "T001" in n for n in handle.notices), handle.notices
    assert "[ ] T001" in path.read_text()  # nothing clobbered


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


def test_a_chain_of_tasks_without_actions_is_skipped_and_the_run_incomplete_not_failed(
    tmp_path: Path,
) -> None:
    text = "- [ ] T001 Think about the parser\n- [ ] T002 Then think about the printer\n"
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(state_dir=tmp_path / "state")
    assert statuses(handle) == {"T001": "skipped", "T002": "skipped"}
    assert handle.result is RunStatus.INCOMPLETE  # as for one such task: nothing failed
    assert "[X]" not in (tmp_path / "tasks.md").read_text()  # and nothing reported done
