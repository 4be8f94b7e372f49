"""A task's attempt: its environment and the secrets masked in what it writes."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import md

import taskexec_nb
from taskexec_nb.events import EventKind, EventRecorder, RunStatus, TaskStatus
from taskexec_nb.secrets import MASK

TOKEN = "tok-run-level-s3cr3t"

OWN_ENV = md(
    """\
    # Tasks

    ## Phase 1: Setup

    - [ ] T001 Has variables of its own
      - taskexec: env.MODE=fast
      ~~~bash
      echo "mode=$MODE token=$API_TOKEN"
      echo "err token=$API_TOKEN" >&2
      ~~~
    - [ ] T002 Has none
      ~~~bash
      echo "token=$API_TOKEN"
      ~~~
    """
)


def test_a_run_level_secret_is_masked_in_a_task_with_variables_of_its_own(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(OWN_ENV)
    handle = taskexec_nb.load(path).run(
        env={"API_TOKEN": TOKEN}, writeback=False, state_dir=tmp_path / "state"
    )
    assert handle.result is RunStatus.COMPLETED
    t1 = (handle.log_dir / "T001.1.log").read_text()
    assert f"mode=fast token={MASK}" in t1
    assert f"err token={MASK}" in t1
    assert f"token={MASK}" in (handle.log_dir / "T002.1.log").read_text()
    for log in handle.log_dir.glob("*.log"):
        assert TOKEN not in log.read_text(), log
    db = sqlite3.connect(tmp_path / "state" / "state.db")
    try:
        dump = "\n".join(db.iterdump())
    finally:
        db.close()
    assert TOKEN not in dump
    assert f"mode=fast token={MASK}" in dump  # the stored tail, masked
    assert TOKEN not in handle.status().to_string()


async def _sleeps_long() -> None:
    await asyncio.sleep(30)


def _sleeps_long_in_a_thread() -> None:
    time.sleep(5)


# Each stops at its timeout: a shell command's process group, an async function's
# coroutine, a plain function's wait (its thread runs on, abandoned).
@pytest.mark.parametrize(
    ("body", "callables"),
    [
        ("  ~~~bash\n  sleep 30\n  ~~~\n", None),
        ("", {"T001": _sleeps_long}),
        ("", {"T001": _sleeps_long_in_a_thread}),
    ],
    ids=["process", "async-callable", "thread-callable"],
)
def test_a_timeout_fires_at_its_time(
    tmp_path: Path, body: str, callables: dict[str, object] | None
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(f"- [ ] T001 Takes too long\n  - taskexec: timeout=2s\n{body}")
    recorder = EventRecorder()
    extra = {"callables": callables} if callables else {}
    handle = taskexec_nb.load(path).run(
        writeback=False, state_dir=tmp_path / "state", observers=[recorder], **extra
    )
    assert handle.result is RunStatus.FAILED
    (started,) = [e for e in recorder.events if e.kind is EventKind.TASK_STARTED]
    (finished,) = [e for e in recorder.events if e.kind is EventKind.TASK_FINISHED]
    assert finished.status == TaskStatus.TIMED_OUT.value
    assert finished.data["error"] == "timed out after 2 s"
    # Not before its time, and well before twice its time (4 s) even on a loaded machine.
    assert 1.95 <= finished.time - started.time < 3.5
