"""RunHandle: its views of a run (status frame, snapshot) and waiting for it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    MARK,
    block,
    linux_only,
    stamped,
    times,
    write_md,
)

import taskexec_nb

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
    assert list(frame.columns) == [
        "id",
        "phase",
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
    assert list(frame["id"]) == ["T001", "T002", "T003", "T004"]
    assert list(frame["phase"]) == [
        "Phase 1: Setup",
        *["Phase 3: User Story 1 - Things (Priority: P1)"] * 3,
    ]
    assert list(frame["story"].fillna("")) == ["", "US1", "US1", "US1"]
    assert list(frame["status"]) == ["completed", "completed", "failed", "skipped"]
    assert list(frame["attempt"]) == [1, 3, 1, 0]
    assert str(frame["start"].dt.tz) == "UTC"
    rows = frame.set_index("id")
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
