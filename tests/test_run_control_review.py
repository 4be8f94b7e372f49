"""What a run says while it is stopped, paused or between retries (review fixes).

Real runner processes for the signals; the run handle and the state store for
what a queued task waits on.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import md
from helpers import running, wait_until, write_tasks

import taskexec_nb
from taskexec_nb.run.schedule import PAUSED_WAIT

SLOW = md(
    """\
    ## Phase 1: X

    - [ ] T001 Slow
      - taskexec: run="echo started; sleep 30"
    - [ ] T002 Then this
      - taskexec: run="echo ok > done.txt"
    """
)


def _started_runner(tmp_path: Path, text: str = SLOW) -> subprocess.Popen[str]:
    path = write_tasks(tmp_path, text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "taskexec_nb.cli", "run", str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_until(
        lambda: any(
            p.read_text().startswith("started")
            for p in (tmp_path / ".taskexec" / "logs").glob("*/T001.1.log")
        ),
        30,
    )
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGTERM])
def test_a_stop_signal_says_it_is_stopping_and_leaves_a_resumable_run(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc = _started_runner(tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert (
        "stopping: 1 running task(s) get SIGTERM, then SIGKILL after 5 s "
        "(interrupt again to kill them now)"
    ) in err
    assert "--resume" in err
    assert not (tmp_path / "done.txt").exists()


def test_a_second_interrupt_says_it_kills_now(tmp_path: Path) -> None:
    ignores_term = SLOW.replace('run="echo started;', "run=\"trap '' TERM; echo started;")
    assert "trap" in ignores_term
    proc = _started_runner(tmp_path, ignores_term)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the task ignores SIGTERM: the run waits out kill_grace...
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)  # ...unless asked again
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 4
    assert proc.returncode == 130, err
    assert "killing 1 running task(s) now" in err


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
                lambda: handle.status().set_index("id").loc["T001", "status"] == "running",
                20,
            )
            frame = handle.status().set_index("id")
            assert frame.loc["T002", "waiting_on"] == "a worker"
            handle.pause()
            await asyncio.sleep(0.1)
            frame = handle.status().set_index("id")
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
                lambda: (
                    str(handle.status().set_index("id").loc["T001", "waiting_on"])
                    == "attempt 2, in 30 s"
                ),
                20,
            )
            assert handle.status().set_index("id").loc["T001", "status"] == "queued"
            from contextlib import closing

            from taskexec_nb.store import StateStore

            def stored() -> str | None:
                with closing(StateStore(state, readonly=True)) as store:
                    return str(store.tasks(handle.run_id)[0]["waiting_on"])

            assert await asyncio.to_thread(wait_until, lambda: stored() == "attempt 2, in 30 s", 5)
            handle.cancel()
            await handle.wait()

    asyncio.run(scenario())


def test_the_status_frame_has_the_same_dtypes_with_no_rows(tmp_path: Path) -> None:
    path = write_tasks(tmp_path, SLOW.replace('sleep 30"', 'true"'))
    done = taskexec_nb.load(path).run()
    assert list(done.status()["status"]) == ["completed", "completed"]
    nothing = taskexec_nb.load(path).run()  # every box is ticked now
    empty = nothing.status()
    assert empty.empty
    assert empty.dtypes.to_dict() == done.status().dtypes.to_dict()
    assert str(empty["start"].dtype) == "datetime64[us, UTC]"
    assert str(empty["attempt"].dtype) == "int64"
