"""RunHandle: its views of a run (status frame, snapshot) and waiting for it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import md
from helpers import (
    MARK,
    block,
    linux_only,
    running,
    stamped,
    times,
    until,
    wait_until,
    write_md,
    write_tasks,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.run.schedule import PAUSED_WAIT

FLAKY = block(
    "n=$(cat counter 2>/dev/null || echo 0)",
    "n=$((n + 1))",
    'echo "$n" > counter',
    'test "$n" -ge 3',
)


@linux_only
def test_status_frame_shows_what_happened(tmp_path: Path) -> None:
    text = (
        "## Phase 1: Setup\n\n"
        f"- [ ] T001 Set up\n{stamped(0.2)}\n"
        "## Phase 3: User Story 1 - Things (Priority: P1)\n\n"
        f"- [ ] T002 [US1] Fail twice then pass\n  - taskexec: retries=2 backoff=0\n{FLAKY}"
        f"- [ ] T003 [US1] Fail\n{block('exit 7')}"
        f"- [ ] T004 [US1] Blocked\n{MARK}"
    )
    handle = taskexec_nb.load(write_md(tmp_path, text)).run(state_dir=tmp_path / "state")
    frame = handle.status()
    assert frame.index.name == "id"
    assert list(frame.columns) == [
        "phase",
        "phase_title",
        "story",
        "status",
        "allowed",
        "attempt",
        "start",
        "end",
        "duration",
        "waiting_on",
        "error",
    ]
    assert list(frame.index) == ["T001", "T002", "T003", "T004"]
    assert list(frame["phase"]) == ["1", "3", "3", "3"]
    assert list(frame["phase_title"]) == [
        "Setup",
        *["User Story 1 - Things (Priority: P1)"] * 3,
    ]
    assert list(frame["story"].fillna("")) == ["", "US1", "US1", "US1"]
    assert list(frame["status"]) == ["completed", "completed", "failed", "skipped"]
    assert list(frame["attempt"]) == [1, 3, 1, 0]
    assert str(frame["start"].dt.tz) == "UTC"
    rows = frame
    t1 = times(tmp_path)["T001"]
    assert rows.loc["T001", "start"].timestamp() <= t1[0]
    assert rows.loc["T001", "end"].timestamp() >= t1[1]
    assert rows.loc["T001", "duration"] == pytest.approx(
        (rows.loc["T001", "end"] - rows.loc["T001", "start"]).total_seconds(), abs=1e-3
    )
    assert 0.2 <= rows.loc["T001", "duration"] < 2.0
    assert rows.loc["T002", "start"] >= rows.loc["T001", "end"]
    assert pd.isna(rows.loc["T004", "start"])  # skipped: never started
    assert not pd.isna(rows.loc["T004", "end"])
    assert pd.isna(rows.loc["T004", "duration"])
    assert frame["waiting_on"].isna().all()
    assert pd.isna(rows.loc["T001", "error"])
    assert pd.isna(rows.loc["T002", "error"])  # the last attempt succeeded
    assert rows.loc["T003", "error"] == "exit code 7"
    assert "T003" in rows.loc["T004", "error"]


def test_join_on_the_loop_an_arun_runs_on_is_refused_and_wait_works(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text("# T\n\n## Phase 1: A\n\n- [ ] T001 Sleeps\n")

    async def main() -> str:
        handle = await taskexec_nb.load(path).arun(
            callables={"T001": lambda: time.sleep(0.2)},
            writeback=False,
            state_dir=tmp_path / "state",
        )
        with pytest.raises(UsageError, match=r"join\(\) would block it.*await handle.wait"):
            handle.join(1)
        status = (await handle.wait()).value
        assert handle.join(0) is not None  # once the run is over, nothing blocks
        return status

    assert asyncio.run(main()) == "completed"


def test_awaiting_the_handle_waits_for_the_end_of_the_run(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text("# T\n\n## Phase 1: A\n\n- [ ] T001 Sleeps\n- [ ] T002 Then\n")

    async def main() -> tuple[str, bool, str]:
        handle = await taskexec_nb.load(path).arun(
            callables={"T*": lambda: time.sleep(0.1)},
            writeback=False,
            state_dir=tmp_path / "state",
        )
        status = await handle  # as `await run` in a notebook
        return status.value, handle.done, str(handle.status()["status"].tolist())

    assert asyncio.run(main()) == ("completed", True, "['completed', 'completed']")


SLOW_THEN_MORE = md(
    """\
    ## Phase 1: X

    - [ ] T001 Slow
      - taskexec: run="echo started; sleep 30"
    - [ ] T002 Then this
      - taskexec: run="echo ok > done.txt"
    """
)


def test_queued_tasks_wait_on_the_resume_while_paused(tmp_path: Path) -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 [P] Slow
          - taskexec: run="sleep 30"
        - [ ] T002 [P] Queued behind it
          - taskexec: run="true"
        """
    )
    plan = taskexec_nb.load(write_tasks(tmp_path, text))

    async def scenario() -> None:
        async with running(plan, max_workers=1, writeback=False) as handle:
            assert await asyncio.to_thread(
                wait_until,
                lambda: handle.status().loc["T001", "status"] == "running",
                20,
            )
            frame = handle.status()
            assert frame.loc["T002", "waiting_on"] == "a worker"
            handle.pause()
            await until(lambda: handle.status().loc["T002", "waiting_on"] == PAUSED_WAIT)
            frame = handle.status()
            assert frame.loc["T002", "status"] == "queued"
            assert frame.loc["T002", "waiting_on"] == PAUSED_WAIT
            handle.cancel()
            await handle.wait()

    asyncio.run(scenario())


def test_a_task_between_retries_says_which_attempt_it_waits_for(tmp_path: Path) -> None:
    text = md(
        """\
        ## Phase 1: X

        - [ ] T001 Flaky
          - taskexec: run="exit 3" retries=1 backoff=30
        """
    )
    plan = taskexec_nb.load(write_tasks(tmp_path, text))
    state = tmp_path / ".taskexec" / "state.db"

    async def scenario() -> None:
        async with running(plan, writeback=False) as handle:
            assert await asyncio.to_thread(
                wait_until,
                lambda: str(handle.status().loc["T001", "waiting_on"]) == "attempt 2, in 30 s",
                20,
            )
            assert handle.status().loc["T001", "status"] == "queued"
            from contextlib import closing

            from taskexec_nb.store import StateStore

            def stored() -> str | None:
                with closing(StateStore(state, readonly=True)) as store:
                    return str(store.tasks(handle.run_id)[0].waiting_on)

            assert await asyncio.to_thread(wait_until, lambda: stored() == "attempt 2, in 30 s", 5)
            handle.cancel()
            await handle.wait()

    asyncio.run(scenario())


def test_the_status_frame_has_the_same_dtypes_with_no_rows(tmp_path: Path) -> None:
    path = write_tasks(tmp_path, SLOW_THEN_MORE.replace('sleep 30"', 'true"'))
    done = taskexec_nb.load(path).run()
    assert list(done.status()["status"]) == ["completed", "completed"]
    nothing = taskexec_nb.load(path).run()  # every box is ticked now
    empty = nothing.status()
    assert empty.empty
    assert empty.dtypes.to_dict() == done.status().dtypes.to_dict()
    assert str(empty["start"].dtype) == "datetime64[us, UTC]"
    assert str(empty["attempt"].dtype) == "int64"
