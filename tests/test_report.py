"""Run reports and figures, checked against real runs of the engine.

The runs below execute real shell commands (sleeps, a flaky task that fails
once, a task that always fails, a task that outlives its timeout, a cancelled
run). Every column of ``report.tasks`` and ``report.attempts``, every summary
figure, every export and every figure trace is compared with what the tasks
really did: their log files, their sleeps, the DAG written in the tasks.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import json
import re
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pandas as pd
import plotly.graph_objects as go
import pytest
import xmlschema
from conftest import FIXTURES, line_of
from helpers import (
    _sigkilled_runner,
    block,
    linux_only,
    write_md,
    write_tasks,
)

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.errors import ReportError
from taskexec_nb.events import EventKind, RunStatus
from taskexec_nb.figures import (
    STYLES,
    alt_text,
    contrast,
    dag,
    gantt,
    layout_positions,
    text_color,
)
from taskexec_nb.graph import critical_path, layer_order, layers
from taskexec_nb.report import (
    ExecutionReport,
    compare,
    report,
    rollup,
)
from taskexec_nb.store import StateStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="tasks run POSIX shell commands")

SCHEMA = FIXTURES / "schemas" / "junit.xsd"
LATE = 3.0  # generous slack for a loaded machine, in seconds

# --- the runs ---------------------------------------------------------------------------------

RETRY_DIAMOND = """\
# Tasks: diamond with a retry

## Phase 1: Setup

- [ ] T001 Prepare the workspace
  - taskexec: run="sleep 0.1; echo prepared"

## Phase 2: Branches

- [ ] T002 [P] [US1] Left branch in src/left.py
  - taskexec: run="sleep 0.5; echo left-out"
- [ ] T003 [P] [US2] Right branch in src/right.py
  - taskexec: run="test -f once || { touch once; echo boom >&2; exit 3; }; sleep 0.3; echo right-out" retries=1 backoff=0

## Phase 3: Join

- [ ] T004 Join the branches (depends on T002, T003)
  - taskexec: run="sleep 0.1; echo joined"
"""  # noqa: E501

FAIL_DIAMOND = """\
# Tasks: diamond with a failure

## Phase 1: Setup

- [ ] T001 Prepare the workspace
  - taskexec: run="sleep 0.1; echo prepared"

## Phase 2: Branches

- [ ] T002 [P] [US1] Left branch in src/left.py
  - taskexec: run="sleep 0.3; echo left-out"
- [ ] T003 [P] [US2] Right branch in src/right.py
  - taskexec: run="echo right-out; echo boom >&2; exit 3" retries=1 backoff=0

## Phase 3: Join

- [ ] T004 Join the branches (depends on T002, T003)
  - taskexec: run="sleep 0.1; echo joined"
"""

TIMEOUT = """\
# Tasks: a hang

## Phase 1: Setup

- [ ] T001 [P] Hang forever in src/hang.py
  - taskexec: run="echo started; sleep 5" timeout=0.3
- [ ] T002 [P] Quick one in src/quick.py
  - taskexec: run="echo quick"
"""

CANCEL = """\
# Tasks: cancelled

## Phase 1: Setup

- [ ] T001 [P] Long job in src/long.py
  - taskexec: run="echo begun; sleep 5"
- [ ] T002 [P] Waits for a worker in src/other.py
  - taskexec: run="echo other"
"""

COMPARE = """\
# Tasks: two modes

## Phase 1: Setup

- [ ] T001 [P] Gets fixed in src/fixed.py
  - taskexec: run="grep -q b mode"
- [ ] T002 [P] Gets broken in src/broken.py
  - taskexec: run="grep -q a mode"
- [ ] T003 [P] Slows down in src/slow.py
  - taskexec: run="if grep -q a mode; then sleep 0.05; else sleep 0.6; fi"
- [ ] T004 [P] Speeds up in src/fast.py
  - taskexec: run="if grep -q a mode; then sleep 0.6; else sleep 0.05; fi"
- [ ] T005 [P] Stays the same in src/steady.py
  - taskexec: run="sleep 0.05"
"""

PHASES = {
    "T001": "Phase 1: Setup",
    "T002": "Phase 2: Branches",
    "T003": "Phase 2: Branches",
    "T004": "Phase 3: Join",
}
STORIES = {"T001": None, "T002": "US1", "T003": "US2", "T004": None}
DESCRIPTIONS = {
    "T001": "Prepare the workspace",
    "T002": "Left branch in src/left.py",
    "T003": "Right branch in src/right.py",
    "T004": "Join the branches (depends on T002, T003)",
}
DIAMOND_DEPS = {"T001": [], "T002": ["T001"], "T003": ["T001"], "T004": ["T002", "T003"]}
RETRY_SLEEPS = {"T001": 0.1, "T002": 0.5, "T003": 0.3, "T004": 0.1}
FAIL_SLEEPS = {"T001": 0.1, "T002": 0.3}


@dataclass
class Ran:
    folder: Path
    text: str
    handle: Any
    report: ExecutionReport
    elapsed: float  # measured around plan.run


def _run(folder: Path, text: str, **settings: Any) -> Ran:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tasks.md"
    path.write_text(text, encoding="utf-8")
    plan = taskexec_nb.load(path)
    t0 = time.monotonic()
    handle = plan.run(writeback=False, **settings)
    elapsed = time.monotonic() - t0
    return Ran(folder, text, handle, handle.report(), elapsed)


@pytest.fixture(scope="module")
def retry_run(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return _run(tmp_path_factory.mktemp("retry"), RETRY_DIAMOND, max_workers=4)


@pytest.fixture(scope="module")
def fail_run(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return _run(tmp_path_factory.mktemp("fail"), FAIL_DIAMOND, max_workers=4)


@pytest.fixture(scope="module")
def timeout_run(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    return _run(tmp_path_factory.mktemp("timeout"), TIMEOUT, max_workers=2, kill_grace=0.5)


@pytest.fixture(scope="module")
def cancel_run(tmp_path_factory: pytest.TempPathFactory) -> Ran:
    folder = tmp_path_factory.mktemp("cancel")
    path = folder / "tasks.md"
    path.write_text(CANCEL, encoding="utf-8")
    plan = taskexec_nb.load(path)

    async def body() -> Any:
        handle = await plan.arun(writeback=False, max_workers=1, kill_grace=0.5)
        deadline = time.monotonic() + 10
        while not any(
            "begun" in log.read_text()
            for log in (folder / ".taskexec" / "logs").glob("*/T001.1.log")
        ):
            assert time.monotonic() < deadline, "T001 never started"
            await asyncio.sleep(0.02)
        handle.cancel()
        await asyncio.wait_for(handle.wait(), 20)
        return handle

    t0 = time.monotonic()
    handle = asyncio.run(body())
    return Ran(folder, CANCEL, handle, handle.report(), time.monotonic() - t0)


@dataclass
class Compared:
    a: ExecutionReport
    b: ExecutionReport


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> Compared:
    folder = tmp_path_factory.mktemp("compare")
    path = folder / "tasks.md"
    path.write_text(COMPARE, encoding="utf-8")
    reports = []
    for mode in ("a", "b"):
        (folder / "mode").write_text(mode + "\n", encoding="utf-8")
        handle = taskexec_nb.load(path).run(writeback=False, max_workers=5)
        reports.append(handle.report())
    return Compared(*reports)


# --- helpers ------------------------------------------------------------------------------------


def missing(value: Any) -> bool:
    return value is None or (not isinstance(value, list | tuple | dict) and bool(pd.isna(value)))


def seconds(ts: pd.Timestamp) -> float:
    return float(ts.timestamp())


def by_id(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Task ID -> row, of a table indexed by task ID (the tables' index)."""
    assert frame.index.name == "id"
    return dict(zip(frame.index, frame.to_dict("records"), strict=True))


def attempt_rows(rep: ExecutionReport) -> dict[tuple[str, int], dict[str, Any]]:
    frame = rep.attempts
    assert frame.index.name == "id"
    rows = frame.to_dict("records")
    return {(tid, int(row["attempt"])): row for tid, row in zip(frame.index, rows, strict=True)}


def phase_of(row: dict[str, Any]) -> str:
    """A row's phase as its heading's label: its number and title (``Phase 2: Branches``)."""
    return f"Phase {row['phase']}: {row['phase_title']}"


def expected_rollup(
    rep: ExecutionReport, by: str, labels: bool = False
) -> dict[str, tuple[int, int, float]]:
    """Group -> (done, total, percent), counted here from the task statuses.

    With ``labels``, a phase is named by its heading's label (``Phase 2: Branches``), as
    ``taskexec status`` prints it; else by its number, as the tables hold it.
    """
    groups: dict[str, list[str]] = {}
    for row in rep.tasks.to_dict("records"):
        key = row[by] if not missing(row[by]) and row[by] else "(none)"
        if labels and by == "phase":
            key = phase_of(row)
        groups.setdefault(key, []).append(row["status"])
    return {
        g: (s.count("completed"), len(s), round(100.0 * s.count("completed") / len(s), 1))
        for g, s in groups.items()
    }


def node_ids(fig: go.Figure) -> dict[tuple[float, float], str]:
    """Position -> task ID, from the node traces of a dag figure."""
    out = {}
    for trace in fig.data[2:]:
        for x, y, t in zip(trace.x, trace.y, trace.text, strict=True):
            out[(x, y)] = t
    return out


def edges_of(trace: Any, ids: dict[tuple[float, float], str]) -> set[tuple[str, str]]:
    xs, ys = list(trace.x or ()), list(trace.y or ())
    assert len(xs) % 3 == 0
    out = set()
    for i in range(0, len(xs), 3):
        assert xs[i + 2] is None and ys[i + 2] is None
        out.add((ids[(xs[i], ys[i])], ids[(xs[i + 1], ys[i + 1])]))
    return out


def status_traces(fig: go.Figure) -> list[Any]:
    """The traces drawn in the legend (helper traces, such as the one fixing the row order
    of a Gantt chart, are invisible and not in the legend)."""
    shown = []
    for trace in fig.data:
        if trace.showlegend is False:
            assert trace.hoverinfo == "skip"
            assert trace.marker.opacity == 0 or trace.visible is False
        else:
            shown.append(trace)
    return shown


def check_log(path: Any, *needles: str) -> None:
    assert not missing(path)
    log = Path(path)
    assert log.is_file(), log
    text = log.read_text(encoding="utf-8")
    for needle in needles:
        assert needle in text, (needle, text)


# --- 1. the tables and the summary of real runs ------------------------------------------------


def test_retry_diamond_task_table(retry_run: Ran) -> None:
    rep = retry_run.report
    tasks = rep.tasks
    assert tasks.index.name == "id"
    assert list(tasks.columns) == [
        "phase",
        "phase_title",
        "story",
        "description",
        "status",
        "allowed",
        "attempts",
        "start",
        "end",
        "duration",
        "exit_code",
        "signal",
        "timed_out",
        "error",
        "stderr_tail",
        "log_path",
        "depends_on",
        "waiting_on",
        "line",
        "critical",
    ]
    assert list(tasks.index) == ["T001", "T002", "T003", "T004"]  # file order
    rows = by_id(tasks)
    att = attempt_rows(rep)
    for tid, row in rows.items():
        assert phase_of(row) == PHASES[tid]
        assert (missing(row["story"]) and STORIES[tid] is None) or row["story"] == STORIES[tid]
        assert row["description"] == DESCRIPTIONS[tid]
        assert row["status"] == "completed"
        assert row["attempts"] == (2 if tid == "T003" else 1)
        mine = [a for (t, _), a in sorted(att.items()) if t == tid]
        assert len(mine) == row["attempts"]
        # The task spans its attempts: first start to last end.
        assert row["start"] == mine[0]["start"]
        assert row["end"] == mine[-1]["end"]
        assert row["duration"] == pytest.approx(
            seconds(row["end"]) - seconds(row["start"]), abs=1e-5
        )
        assert RETRY_SLEEPS[tid] <= row["duration"] < RETRY_SLEEPS[tid] + LATE
        assert row["exit_code"] == 0
        assert missing(row["signal"])
        assert not row["timed_out"]
        assert missing(row["error"])
        assert missing(row["stderr_tail"]) or row["stderr_tail"] == ""  # the last try: no stderr
        assert row["log_path"] == mine[-1]["log_path"]
        assert list(row["depends_on"]) == DIAMOND_DEPS[tid]
        assert missing(row["waiting_on"])
        assert row["line"] == line_of(retry_run.text, f"] {tid} ")
    check_log(rows["T001"]["log_path"], "prepared")
    check_log(rows["T002"]["log_path"], "left-out")
    check_log(rows["T003"]["log_path"], "right-out")
    check_log(rows["T004"]["log_path"], "joined")
    assert Path(rows["T003"]["log_path"]).name == "T003.2.log"
    # Order of what happened: the branches after T001, the join after both branches.
    for branch in ("T002", "T003"):
        assert rows[branch]["start"] >= rows["T001"]["end"]
        assert rows["T004"]["start"] >= rows[branch]["end"]
    # The branches ran side by side.
    assert rows["T003"]["start"] < rows["T002"]["end"]
    # The critical path is the long branch (T002 sleeps 0.5 s, T003 0.3 s after a quick failure).
    assert {t: bool(rows[t]["critical"]) for t in rows} == {
        "T001": True,
        "T002": True,
        "T003": False,
        "T004": True,
    }


def test_retry_diamond_attempt_table(retry_run: Ran) -> None:
    rep = retry_run.report
    assert rep.attempts.index.name == "id"
    assert list(rep.attempts.columns) == [
        "attempt",
        "status",
        "start",
        "end",
        "duration",
        "exit_code",
        "signal",
        "error",
        "stderr_tail",
        "log_path",
        "phase",
        "phase_title",
        "story",
    ]
    att = attempt_rows(rep)
    assert sorted(att) == [("T001", 1), ("T002", 1), ("T003", 1), ("T003", 2), ("T004", 1)]
    for (tid, n), row in att.items():
        failed_try = (tid, n) == ("T003", 1)
        assert row["status"] == ("failed" if failed_try else "completed")
        assert row["duration"] == pytest.approx(
            seconds(row["end"]) - seconds(row["start"]), abs=1e-5
        )
        if failed_try:
            assert row["duration"] < RETRY_SLEEPS["T003"]  # it failed before sleeping
        else:
            assert RETRY_SLEEPS[tid] <= row["duration"] < RETRY_SLEEPS[tid] + LATE
        assert row["exit_code"] == (3 if failed_try else 0)
        assert missing(row["signal"])
        if failed_try:
            assert row["error"] == "exit code 3"
            assert row["stderr_tail"] == "boom"
        else:
            assert missing(row["error"])
            assert missing(row["stderr_tail"]) or row["stderr_tail"] == ""
        assert Path(row["log_path"]).name == f"{tid}.{n}.log"
        assert phase_of(row) == PHASES[tid]
        assert (missing(row["story"]) and STORIES[tid] is None) or row["story"] == STORIES[tid]
    check_log(att[("T003", 1)]["log_path"], "boom")
    assert "right-out" not in Path(att[("T003", 1)]["log_path"]).read_text()
    check_log(att[("T003", 2)]["log_path"], "right-out")
    assert att[("T003", 2)]["start"] >= att[("T003", 1)]["end"]  # the retry came after the failure
    assert (retry_run.folder / "once").is_file()


def test_retry_diamond_summary(retry_run: Ran) -> None:
    rep = retry_run.report
    s = rep.summary
    tasks = by_id(rep.tasks)
    att = rep.attempts
    assert s["run_id"] == retry_run.handle.run_id == rep.run_id
    assert s["tasks_file"] == str((retry_run.folder / "tasks.md").resolve())
    assert s["status"] == "completed"
    assert s["total"] == 4
    assert s["counts"] == {
        "pending": 0,
        "queued": 0,
        "running": 0,
        "paused": 0,
        "completed": 4,
        "failed": 0,
        "timed_out": 0,
        "skipped": 0,
        "cancelled": 0,
    }
    assert s["success_rate"] == 1.0
    path_sleep = RETRY_SLEEPS["T001"] + RETRY_SLEEPS["T002"] + RETRY_SLEEPS["T004"]
    assert path_sleep <= s["wall_time"] <= retry_run.elapsed
    span = seconds(att["end"].max()) - seconds(att["start"].min())
    assert s["wall_time"] >= span - 0.01  # the run holds all its attempts
    assert s["task_time"] == pytest.approx(float(att["duration"].sum()), rel=1e-9)
    assert s["parallelism"] == pytest.approx(s["task_time"] / s["wall_time"])
    assert s["parallelism"] > 1.0  # the branches overlapped
    assert s["critical_path"] == ["T001", "T002", "T004"] == rep.critical_path
    assert s["critical_path_time"] == pytest.approx(
        sum(tasks[t]["duration"] for t in s["critical_path"])
    )
    assert path_sleep <= s["critical_path_time"] <= s["wall_time"] + 0.01
    slow = [(x["id"], x["duration"]) for x in s["slowest"]]
    assert slow[0][0] == "T002"
    assert [d for _, d in slow] == sorted((d for _, d in slow), reverse=True)
    assert {t: d for t, d in slow} == pytest.approx({t: r["duration"] for t, r in tasks.items()})
    assert s["attempts"] == 5 == len(att)
    assert s["retried"] == ["T003"]
    assert s["started"] is not None and s["finished"] is not None
    assert s["started"] <= s["finished"]


def test_failing_diamond_tables(fail_run: Ran) -> None:
    rep = fail_run.report
    rows = by_id(rep.tasks)
    att = attempt_rows(rep)
    assert list(rows) == ["T001", "T002", "T003", "T004"]
    assert {t: r["status"] for t, r in rows.items()} == {
        "T001": "completed",
        "T002": "completed",
        "T003": "failed",
        "T004": "skipped",
    }
    assert {t: r["attempts"] for t, r in rows.items()} == {
        "T001": 1,
        "T002": 1,
        "T003": 2,
        "T004": 0,
    }
    for tid in ("T001", "T002"):
        r = rows[tid]
        assert FAIL_SLEEPS[tid] <= r["duration"] < FAIL_SLEEPS[tid] + LATE
        assert r["exit_code"] == 0 and missing(r["error"]) and missing(r["signal"])
    check_log(rows["T002"]["log_path"], "left-out")
    # T003 failed twice, the task row shows the last attempt.
    t3 = rows["T003"]
    assert t3["exit_code"] == 3
    assert missing(t3["signal"])
    assert not t3["timed_out"]
    assert t3["error"] == "exit code 3"
    assert t3["stderr_tail"] == "boom"
    assert Path(t3["log_path"]).name == "T003.2.log"
    check_log(t3["log_path"], "right-out", "boom")
    assert t3["start"] == att[("T003", 1)]["start"] and t3["end"] == att[("T003", 2)]["end"]
    assert t3["duration"] == pytest.approx(seconds(t3["end"]) - seconds(t3["start"]), abs=1e-5)
    for n in (1, 2):
        a = att[("T003", n)]
        assert a["status"] == "failed" and a["exit_code"] == 3 and a["error"] == "exit code 3"
        assert a["stderr_tail"] == "boom"
        check_log(a["log_path"], "right-out", "boom")
    # T004 never ran: it names the prerequisite that failed.
    t4 = rows["T004"]
    assert missing(t4["start"]) and missing(t4["duration"])
    assert not missing(t4["end"]) and t4["end"] >= t3["end"]
    assert missing(t4["exit_code"]) and missing(t4["signal"]) and not t4["timed_out"]
    assert "T003" in t4["error"] and "fail" in t4["error"]
    assert missing(t4["log_path"]) and missing(t4["stderr_tail"])
    assert not [k for k in att if k[0] == "T004"]
    assert not list(Path(t3["log_path"]).parent.glob("T004*"))
    for tid, r in rows.items():
        assert list(r["depends_on"]) == DIAMOND_DEPS[tid]
        assert r["line"] == line_of(fail_run.text, f"] {tid} ")
        assert phase_of(r) == PHASES[tid]
    assert {t: bool(r["critical"]) for t, r in rows.items()} == {
        "T001": True,
        "T002": True,
        "T003": False,
        "T004": False,
    }


def test_failing_diamond_summary(fail_run: Ran) -> None:
    rep = fail_run.report
    s = rep.summary
    assert s["status"] == "failed"
    counts = {k: v for k, v in s["counts"].items() if v}
    assert counts == {"completed": 2, "failed": 1, "skipped": 1}
    assert s["success_rate"] == 0.5
    assert FAIL_SLEEPS["T001"] + FAIL_SLEEPS["T002"] <= s["wall_time"] <= fail_run.elapsed
    assert s["task_time"] == pytest.approx(float(rep.attempts["duration"].sum()))
    assert s["parallelism"] == pytest.approx(s["task_time"] / s["wall_time"])
    assert s["critical_path"] == ["T001", "T002"]
    assert s["attempts"] == 4
    assert s["retried"] == ["T003"]
    assert s["slowest"][0]["id"] == "T002"
    assert "T004" not in [x["id"] for x in s["slowest"]]  # it never ran


def test_timed_out_task(timeout_run: Ran) -> None:
    rep = timeout_run.report
    rows = by_id(rep.tasks)
    hang = rows["T001"]
    assert hang["status"] == "timed_out"
    assert hang["timed_out"]
    assert missing(hang["exit_code"])
    assert hang["signal"] in (9, 15)
    assert "timed out" in hang["error"] and "0.3" in hang["error"]
    assert 0.3 <= hang["duration"] < 0.3 + LATE  # killed, long before `sleep 5` would end
    assert timeout_run.elapsed < 5
    check_log(hang["log_path"], "started")
    assert rows["T002"]["status"] == "completed" and not rows["T002"]["timed_out"]
    errors = rep.errors
    assert list(errors.index) == ["T001"]
    err = errors.iloc[0]
    assert err["status"] == "timed_out" and bool(err["timed_out"])
    assert "timed out" in err["failure_point"] and "attempt 1" in err["failure_point"]
    assert err["log_path"] == hang["log_path"]
    root = ET.fromstring(rep.to_junit())
    case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("T001 "))
    assert [child.tag for child in case] == ["error"]
    assert "timed out" in (case.find("error").get("message") or "")  # type: ignore[union-attr]
    assert rep.summary["counts"]["timed_out"] == 1


# --- 2. errors, events, progress ---------------------------------------------------------------


def test_errors_table(fail_run: Ran, retry_run: Ran) -> None:
    assert retry_run.report.errors.empty
    assert "failure_point" in retry_run.report.errors.columns
    errors = fail_run.report.errors
    assert errors.index.name == "id"
    assert list(errors.columns) == [
        "status",
        "allowed",
        "attempts",
        "exit_code",
        "signal",
        "timed_out",
        "failure_point",
        "error",
        "stderr_tail",
        "log_path",
    ]
    rows = by_id(errors)
    assert list(rows) == ["T003", "T004"]
    t3 = rows["T003"]
    assert t3["status"] == "failed" and t3["attempts"] == 2 and t3["exit_code"] == 3
    assert t3["failure_point"] == "attempt 2: exit code 3"
    assert t3["stderr_tail"] == "boom"
    check_log(t3["log_path"], "boom")
    t4 = rows["T004"]
    assert t4["status"] == "skipped" and t4["attempts"] == 0
    assert "T003" in t4["failure_point"]


def test_events_in_order(retry_run: Ran, fail_run: Ran) -> None:
    kinds = {k.value for k in EventKind}
    for ran in (retry_run, fail_run):
        ev = ran.report.events
        assert list(ev.columns) == ["seq", "time", "kind", "id", "attempt", "status", "data"]
        assert set(ev["kind"]) <= kinds
        assert ev["kind"].iloc[0] == "run_started"
        assert ev["kind"].iloc[-1] == "run_finished"
        assert list(ev["kind"]).count("run_started") == list(ev["kind"]).count("run_finished") == 1
        assert ev["seq"].is_monotonic_increasing
        assert ev["time"].is_monotonic_increasing
        assert ev["status"].iloc[-1] == ran.report.summary["status"]
        final = ev[ev["kind"] == "task_finished"]
        assert dict(zip(final["id"], final["status"], strict=True)) == dict(
            zip(ran.report.tasks.index, ran.report.tasks["status"], strict=True)
        )
    ev = retry_run.report.events

    def kinds_of(tid: str) -> list[str]:
        return list(ev[ev["id"] == tid]["kind"])

    assert kinds_of("T003") == [
        "task_queued",
        "task_started",
        "task_retrying",
        "task_started",
        "task_finished",
    ]
    for tid in ("T001", "T002", "T004"):
        assert kinds_of(tid) == ["task_queued", "task_started", "task_finished"]
    seq = {(k, t): s for s, k, t in zip(ev["seq"], ev["kind"], ev["id"], strict=True)}
    assert seq[("task_started", "T004")] > seq[("task_finished", "T002")]
    assert seq[("task_started", "T004")] > seq[("task_finished", "T003")]
    retry = ev[ev["kind"] == "task_retrying"].iloc[0]
    assert retry["data"]["exit_code"] == 3 and retry["data"]["stderr_tail"] == "boom"
    fev = fail_run.report.events
    skip = fev[(fev["id"] == "T004")]
    assert list(skip["kind"]) == ["task_finished"]
    assert skip.iloc[0]["status"] == "skipped"
    assert skip.iloc[0]["data"]["blocked_by"] == "T003"


@pytest.mark.parametrize("by", ["phase", "story"])
def test_progress_rollups(fail_run: Ran, retry_run: Ran, by: str) -> None:
    for ran in (fail_run, retry_run):
        want = expected_rollup(ran.report, by)
        got = ran.report.progress(by)
        assert list(got[by]) == list(want)  # file order
        for row in got.to_dict("records"):
            assert (row["done"], row["total"], row["percent"]) == want[row[by]]
            statuses = [
                r["status"]
                for r in ran.report.tasks.to_dict("records")
                if (r[by] if not missing(r[by]) and r[by] else "(none)") == row[by]
            ]
            for status in STYLES:
                assert row[status] == statuses.count(status)
        live = ran.handle.progress(by)
        cols = [by, "done", "total", "percent"]
        pd.testing.assert_frame_equal(live[cols], got[cols], check_dtype=False)
    fail = fail_run.report.progress("phase").set_index("phase")
    assert fail.loc["2", "percent"] == 50.0
    assert fail.loc["3", "skipped"] == 1
    assert list(fail["phase_title"]) == ["Setup", "Branches", "Join"]  # beside the number


def test_run_handle_status_matches_the_report(retry_run: Ran, fail_run: Ran) -> None:
    for ran in (retry_run, fail_run):
        live = ran.handle.status()
        assert live.index.name == "id"
        assert list(live.columns) == [
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
        stored = ran.report.tasks
        assert list(live.index) == list(stored.index)
        assert list(live["status"]) == list(stored["status"])
        assert list(live["attempt"]) == list(stored["attempts"])
        assert list(live["phase"]) == list(stored["phase"])
        assert list(live["phase_title"]) == list(stored["phase_title"])
        assert live["phase"].dtype == stored["phase"].dtype  # the same ordered categories
        for a, b in zip(live["duration"], stored["duration"], strict=True):
            assert (missing(a) and missing(b)) or a == pytest.approx(b, abs=1e-3)
        assert ran.handle.report().run_id == ran.handle.run_id


# --- 3. comparing runs -------------------------------------------------------------------------


def test_compare_two_real_runs(compared: Compared) -> None:
    a, b = compared.a, compared.b
    assert a.run_id != b.run_id
    sa = dict(zip(a.tasks.index, a.tasks["status"], strict=True))
    sb = dict(zip(b.tasks.index, b.tasks["status"], strict=True))
    assert sa == {
        "T001": "failed",
        "T002": "completed",
        "T003": "completed",
        "T004": "completed",
        "T005": "completed",
    }
    assert sb == {
        "T001": "completed",
        "T002": "failed",
        "T003": "completed",
        "T004": "completed",
        "T005": "completed",
    }
    diff = compare(a, b)
    assert diff.index.name == "id"
    assert list(diff.columns) == [
        "status_a",
        "status_b",
        "duration_a",
        "duration_b",
        "change",
    ]
    assert dict(zip(diff.index, diff["change"], strict=True)) == {
        "T001": "fixed",
        "T002": "newly failing",
        "T003": "slower",
        "T004": "faster",
        "T005": "same",
    }
    rows = by_id(diff)
    da = dict(zip(a.tasks.index, a.tasks["duration"], strict=True))
    db = dict(zip(b.tasks.index, b.tasks["duration"], strict=True))
    for tid, row in rows.items():
        assert row["status_a"] == sa[tid] and row["status_b"] == sb[tid]
        assert row["duration_a"] == pytest.approx(da[tid])
        assert row["duration_b"] == pytest.approx(db[tid])
    assert rows["T003"]["duration_b"] - rows["T003"]["duration_a"] > 0.4
    assert rows["T004"]["duration_a"] - rows["T004"]["duration_b"] > 0.4
    back = b.compare(a)
    assert dict(zip(back.index, back["change"], strict=True)) == {
        "T001": "newly failing",
        "T002": "fixed",
        "T003": "faster",
        "T004": "slower",
        "T005": "same",
    }
    # A huge threshold makes the duration changes not count.
    calm = compare(a, b, threshold=100.0)
    assert set(calm.loc[["T003", "T004"]]["change"]) == {"same"}


def _fake(run_id: str, statuses: dict[str, str]) -> ExecutionReport:
    rows = [
        {
            "task_id": tid,
            "phase": "P",
            "story": None,
            "description": tid,
            "status": status,
            "attempt": 1,
            "started": 100.0,
            "finished": 101.0,
            "exit_code": 0,
            "signal": None,
            "error": None,
            "stderr_tail": None,
            "log_path": None,
            "deps": "[]",
            "waiting_on": None,
            "line": i + 1,
        }
        for i, (tid, status) in enumerate(statuses.items())
    ]
    run = {"run_id": run_id, "status": "failed", "started": 100.0, "finished": 102.0}
    return ExecutionReport(run, rows, [])


def test_compare_added_removed_and_status_changes() -> None:
    a = _fake("A", {"T1": "completed", "T2": "completed", "T3": "skipped", "T4": "timed_out"})
    b = _fake("B", {"T1": "completed", "T3": "cancelled", "T4": "failed", "T9": "completed"})
    diff = compare(a, b)
    assert dict(zip(diff.index, diff["change"], strict=True)) == {
        "T1": "same",
        "T2": "removed",
        "T3": "status changed",
        "T4": "status changed",  # timed out, then failed: still failing, not "newly"
        "T9": "added",
    }
    assert missing(by_id(diff)["T9"]["status_a"]) and missing(by_id(diff)["T2"]["status_b"])


# --- 4. exports --------------------------------------------------------------------------------


def test_csv_export(fail_run: Ran, tmp_path: Path) -> None:
    rep = fail_run.report
    out = tmp_path / "r.csv"
    rep.to_csv(out)
    back = pd.read_csv(out)
    assert len(back) == len(rep.tasks) == 4
    assert list(back["id"]) == list(rep.tasks.index)
    assert list(back["status"]) == list(rep.tasks["status"])
    # The index is the first column; the run's status, which the tasks table lacks, the last.
    assert list(back.columns) == ["id", *rep.tasks.columns, "run_status"]
    assert set(back["run_status"]) == {"failed"}
    assert list(back["depends_on"].fillna("")) == ["", "T001", "T001", "T002, T003"]
    text = rep.to_csv()
    assert isinstance(text, str)
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(text)), back)


def test_json_export(fail_run: Ran, tmp_path: Path) -> None:
    rep = fail_run.report
    out = tmp_path / "r.json"
    rep.to_json(out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["summary"] == rep.summary
    assert len(doc["tasks"]) == len(rep.tasks) == 4
    assert len(doc["attempts"]) == len(rep.attempts) == 4
    assert doc["run"]["run_id"] == rep.run_id
    assert "settings" not in doc["run"] and isinstance(doc["settings"], dict)
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert tasks["T004"]["depends_on"] == ["T002", "T003"]
    assert tasks["T004"]["start"] is None and tasks["T003"]["exit_code"] == 3
    assert tasks["T001"]["start"] == rep.tasks["start"].iloc[0].isoformat()
    assert json.loads(str(rep.to_json())) == doc


def test_parquet_export(fail_run: Ran, tmp_path: Path) -> None:
    rep = fail_run.report
    out = tmp_path / "r.parquet"
    rep.to_parquet(out)
    back = pd.read_parquet(out)
    assert list(back["id"]) == list(rep.tasks.index)
    assert list(back["status"]) == list(rep.tasks["status"])
    assert [list(d) for d in back["depends_on"]] == [DIAMOND_DEPS[t] for t in back["id"]]
    assert list(back["critical"]) == list(rep.tasks["critical"])
    assert list(back.columns) == ["id", *rep.tasks.columns, "run_status"]
    assert set(back["run_status"]) == {"failed"}


@linux_only
def test_the_table_exports_of_an_incomplete_run_say_it_is_incomplete(tmp_path: Path) -> None:
    # CSV and Parquet hold the tasks table alone: without the run's status, an
    # incomplete run's file would read like a finished one with a few skips.
    text = (
        "## Fase 1: Datos\n\n- [ ] T001 [P] Revisar el esquema a mano\n"
        f"- [ ] T002 [P] Contar filas\n{block('echo 3')}"
    )
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    rep = plan.run(state_dir=tmp_path / "state", writeback=False).report()
    assert rep.summary["status"] == "incomplete"
    back = pd.read_csv(io.StringIO(str(rep.to_csv())))
    assert list(zip(back["id"], back["status"], back["run_status"], strict=True)) == [
        ("T001", "skipped", "incomplete"),
        ("T002", "completed", "incomplete"),
    ]
    rep.to_parquet(tmp_path / "r.parquet")
    assert list(pd.read_parquet(tmp_path / "r.parquet")["run_status"]) == ["incomplete"] * 2


@linux_only
def test_the_markdown_report_of_an_incomplete_run_lists_what_was_not_run_and_why(
    tmp_path: Path,
) -> None:
    text = (
        "## Etapa 1: Dados\n\n- [ ] T001 Rever o esquema à mão\n"
        f"- [ ] T002 Contar linhas (depende de T001)\n{block('echo 3')}"
        f"- [ ] T003 [P] Listar colunas\n{block('echo id')}"
    )
    plan = taskexec_nb.load(write_md(tmp_path, text), mode="explicit")
    rep = plan.run(state_dir=tmp_path / "state", writeback=False).report()
    lines = rep.to_markdown().splitlines()
    assert lines[0] == f"# Run {rep.run_id}: incomplete"
    section = lines[lines.index("## Not run") :]
    assert section[2:4] == [
        "- **T001** skipped: no action (no_action=skip): not run, not done",
        "- **T002** skipped: prerequisite T001 skipped",
    ]
    assert not any("T003" in line for line in section[:5])  # it ran
    assert "## Failures" not in lines


def test_markdown_export(fail_run: Ran) -> None:
    rep = fail_run.report
    text = rep.to_markdown()
    lines = text.splitlines()
    assert lines[0] == f"# Run {rep.run_id}: failed"
    assert "- Tasks: 4; 2 completed, 1 failed, 1 skipped" in lines
    assert "## Failures" in lines
    assert "- **T003** failed: attempt 2: exit code 3" in lines
    t3_log = by_id(rep.tasks)["T003"]["log_path"]
    assert f"  log: `{t3_log}`" in lines
    assert any(line.strip() == "boom" for line in lines)
    table = [line for line in lines if re.match(r"\| T00\d \|", line)]
    assert len(table) == 4
    for line, row in zip(table, rep.tasks.reset_index().to_dict("records"), strict=True):
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        assert cells[0] == row["id"] and cells[3] == row["status"]
        assert cells[4] == str(row["attempts"])
    assert "Critical path" in text and "T001 → T002" in text


_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "source",
    "wbr",
}


class _Page(HTMLParser):
    """Collects tags, attributes and text, and nesting problems."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[tuple[tuple[str, ...], str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append((tuple(self.stack), data))


def test_html_export_is_self_contained_and_accessible(fail_run: Ran, tmp_path: Path) -> None:
    rep = fail_run.report
    out = tmp_path / "r.html"
    rep.to_html(out)
    page_text = out.read_text(encoding="utf-8")
    returned = rep.to_html()  # without a path: the text (figure div IDs are random)
    assert isinstance(returned, str) and len(returned) == len(page_text)
    page = _Page()
    page.feed(page_text)
    page.close()
    assert page.problems == []
    assert page.stack == []
    assert page_text.startswith("<!DOCTYPE html>")
    # plotly.js inline, once; nothing is loaded from elsewhere.
    scripts = [data for stack, data in page.text if stack and stack[-1] == "script"]
    assert sum("plotly.js v" in s for s in scripts) == 1
    assert sum("Plotly.newPlot" in s for s in scripts) == 3
    assert '<script src="http' not in page_text
    for tag, attrs in page.tags:
        if tag == "script":
            assert "src" not in attrs
        assert tag not in ("link", "iframe", "img", "object", "embed")
        for name in ("src", "href", "data", "action", "poster", "srcset"):
            value = attrs.get(name) or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
    visible = " ".join(data for stack, data in page.text if "script" not in stack)
    assert "http://" not in visible and "https://" not in visible
    styles = " ".join(data for stack, data in page.text if stack and stack[-1] == "style")
    assert "url(" not in styles and "@import" not in styles
    # Each figure's text alternative is its figcaption, which labels the figure (the plot
    # itself keeps its interactive controls: no role=img hiding them).
    alts = [alt_text(rep.progress_figure("phase")), alt_text(rep.gantt()), alt_text(rep.dag())]
    captions = [d for s, d in page.text if s and s[-1] == "figcaption"]
    assert captions == alts
    figures = [a for t, a in page.tags if t == "figure"]
    caption_ids = [a.get("id") for t, a in page.tags if t == "figcaption"]
    assert [a.get("aria-labelledby") for a in figures] == caption_ids
    assert len(set(caption_ids)) == 3
    assert not [a for t, a in page.tags if a.get("role") == "img"]
    assert "2 completed, 1 failed, 1 skipped" in alts[2]
    # Tables with a caption and column headers.
    table_captions = [d for s, d in page.text if s and s[-1] == "caption"]
    assert table_captions == ["Tasks that did not complete", "Every task of the run"]
    headers = [a for t, a in page.tags if t == "th"]
    assert headers and all(a.get("scope") == "col" for a in headers)
    cells = [d for s, d in page.text if s and s[-1] == "td"]
    for tid in ("T001", "T002", "T003", "T004"):
        assert tid in cells
    assert f"Run {rep.run_id}: failed" in " ".join(d for s, d in page.text if s[-1:] == ("h1",))


@pytest.mark.parametrize("which", ["fail", "timeout", "cancel", "retry"])
def test_junit_export_is_valid_and_counts_match(
    which: str, fail_run: Ran, timeout_run: Ran, cancel_run: Ran, retry_run: Ran
) -> None:
    ran = {"fail": fail_run, "timeout": timeout_run, "cancel": cancel_run, "retry": retry_run}[
        which
    ]
    rep = ran.report
    text = rep.to_junit()
    xmlschema.XMLSchema(str(SCHEMA)).validate(text)
    root = ET.fromstring(text)
    tasks = rep.tasks.reset_index().to_dict("records")
    phases = list(dict.fromkeys(phase_of(t) for t in tasks))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == phases
    outcome = {
        "failed": ["failure"],
        "timed_out": ["error"],
        "skipped": ["skipped"],
        "cancelled": ["skipped"],
        "completed": [],
    }
    seen = []
    for suite in suites:
        mine = [t for t in tasks if phase_of(t) == suite.get("name")]
        statuses = [t["status"] for t in mine]
        assert suite.get("tests") == str(len(mine))
        assert suite.get("failures") == str(statuses.count("failed"))
        assert suite.get("errors") == str(statuses.count("timed_out"))
        assert suite.get("skipped") == str(statuses.count("skipped") + statuses.count("cancelled"))
        cases = suite.findall("testcase")
        assert len(cases) == len(mine)
        for case, task in zip(cases, mine, strict=True):
            assert case.get("name", "").split()[0] == task["id"]
            assert [c.tag for c in case] == outcome[task["status"]]
            dur = 0.0 if missing(task["duration"]) else task["duration"]
            assert float(case.get("time", "nan")) == pytest.approx(dur, abs=0.001)
            if task["status"] in ("failed", "timed_out"):
                body = case[0].text or ""
                assert f"log: {task['log_path']}" in body
            seen.append(task["id"])
    assert sorted(seen) == sorted(rep.tasks.index)
    if which == "cancel":
        assert set(rep.tasks["status"]) == {"cancelled"}
    if which == "fail":
        case = next(c for c in root.iter("testcase") if c.get("name", "").startswith("T003"))
        assert case[0].get("message") == "attempt 2: exit code 3"
        assert "boom" in (case[0].text or "")


def test_export_dispatch_and_unknown_format(fail_run: Ran, tmp_path: Path) -> None:
    rep = fail_run.report
    rep.export("md", tmp_path / "a.md")
    assert (tmp_path / "a.md").read_text(encoding="utf-8") == rep.to_markdown()
    rep.export("junit", tmp_path / "a.xml")
    assert (tmp_path / "a.xml").read_text(encoding="utf-8") == rep.to_junit() + "\n"
    with pytest.raises(ReportError, match="unknown report format 'pdf'"):
        rep.export("pdf", tmp_path / "a.pdf")


def test_report_function_finds_the_latest_run(retry_run: Ran) -> None:
    tasks_md = retry_run.folder / "tasks.md"
    rep = report(tasks_file=tasks_md)
    assert rep.run_id == retry_run.handle.run_id
    assert report(retry_run.handle.run_id, state_dir=retry_run.folder / ".taskexec").run_id == (
        retry_run.handle.run_id
    )
    with pytest.raises(ReportError, match="recent runs"):
        report("no-such-run", tasks_file=tasks_md)
    with pytest.raises(ReportError, match="no state store"):
        report(state_dir=retry_run.folder / "nothing-here")
    assert repr(rep) == f"<ExecutionReport {rep.run_id} completed: 4 completed>"


def test_report_of_a_path_reads_that_file_or_store(
    retry_run: Ran, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no store here: a path must not be read as a run ID
    folder, want = retry_run.folder, retry_run.handle.run_id
    state = folder / ".taskexec"
    for given in (folder / "tasks.md", folder, state, state / "state.db", str(state)):
        assert report(given).run_id == want, given
    with pytest.raises(ReportError, match=r"missing/tasks.md: no such file or folder"):
        report("missing/tasks.md")
    with pytest.raises(ReportError, match="no state store"):
        report(str(tmp_path))  # a folder without a store says so
    # A store file by another name is not read as the state.db beside it.
    (tmp_path / "state.db").write_bytes((state / "state.db").read_bytes())
    (tmp_path / "backup.db").write_bytes(b"")
    with pytest.raises(ReportError, match=r"backup.db: report\(\) reads a store's state.db"):
        report(tmp_path / "backup.db")


# --- 5. the CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "fmt"),
    [
        (".html", "html"),
        (".xml", "junit"),
        (".csv", "csv"),
        (".json", "json"),
        (".md", "md"),
        (".parquet", "parquet"),
    ],
)
def test_cli_report_to_a_file(
    fail_run: Ran, tmp_path: Path, capsys: pytest.CaptureFixture[str], suffix: str, fmt: str
) -> None:
    rep = fail_run.report
    out = tmp_path / f"report{suffix}"
    state = str(fail_run.folder / ".taskexec")
    assert main(["report", rep.run_id, "-o", str(out), "--state-dir", state]) == 0
    err = capsys.readouterr().err
    assert f"wrote {fmt} report of run {rep.run_id} to {out}" in err
    if fmt == "html":
        assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert f"Run {rep.run_id}: failed" in out.read_text(encoding="utf-8")
    elif fmt == "junit":
        xmlschema.XMLSchema(str(SCHEMA)).validate(str(out))
        assert ET.parse(out).getroot().get("name") == f"taskexec run {rep.run_id}"
    elif fmt == "csv":
        assert list(pd.read_csv(out)["status"]) == list(rep.tasks["status"])
    elif fmt == "json":
        assert json.loads(out.read_text(encoding="utf-8"))["summary"] == rep.summary
    elif fmt == "md":
        assert out.read_text(encoding="utf-8") == rep.to_markdown()
    else:
        assert list(pd.read_parquet(out)["id"]) == list(rep.tasks.index)


def test_cli_report_to_stdout_and_errors(
    fail_run: Ran,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rep = fail_run.report
    state = str(fail_run.folder / ".taskexec")
    assert main(["report", rep.run_id, "--format", "md", "--state-dir", state]) == 0
    assert capsys.readouterr().out == rep.to_markdown()
    assert main(["report", rep.run_id, "-f", "json", "--state-dir", state]) == 0
    assert json.loads(capsys.readouterr().out)["summary"] == rep.summary
    # Parquet is binary: not to stdout.
    assert main(["report", rep.run_id, "-f", "parquet", "--state-dir", state]) == 2
    err = capsys.readouterr().err
    assert "parquet" in err and "-o" in err
    # An unknown run: the message names the recent ones.
    assert main(["report", "nope", "--state-dir", state]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and rep.run_id in err
    # No store at all.
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    assert main(["report"]) == 2
    assert "no state store" in capsys.readouterr().err
    assert main(["report", "--state-dir", str(tmp_path / "none")]) == 2
    assert "no state store" in capsys.readouterr().err


def test_cli_report_picks_the_latest_run_of_the_tasks_md_here(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = tmp_path / "tasks.md"
    tasks.write_text('## Phase 1: A\n\n- [ ] T001 Echo\n  - taskexec: run="echo one"\n')
    other = tmp_path / "other.md"
    other.write_text('## Phase 1: B\n\n- [ ] T009 Other\n  - taskexec: run="echo other"\n')
    plan = taskexec_nb.load(tasks)
    first = plan.run(writeback=False).run_id
    second = plan.run(writeback=False).run_id
    newest = taskexec_nb.load(other).run(writeback=False).run_id  # newest in the same store
    assert len({first, second, newest}) == 3
    monkeypatch.chdir(tmp_path)
    assert main(["report", "-f", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["run"]["run_id"] == second
    assert [t["id"] for t in doc["tasks"]] == ["T001"]
    assert main(["report", "--tasks", "other.md", "-f", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run"]["run_id"] == newest
    assert main(["report", "-o", "out.md"]) == 0
    assert (tmp_path / "out.md").read_text().startswith(f"# Run {second}: completed")


def test_cli_status_rollups(fail_run: Ran, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(fail_run.folder / ".taskexec")
    rep = fail_run.report
    assert main(["status", rep.run_id, "--state-dir", state]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"run {rep.run_id}: failed")
    assert "BY PHASE" in lines and "BY STORY" in lines
    phase_part = lines[lines.index("BY PHASE") + 1 : lines.index("BY STORY")]
    # A failed run's status ends with the command that resumes it, after the roll-ups.
    assert lines[-1].startswith("resume: taskexec run ") and f"--resume {rep.run_id}" in lines[-1]
    story_part = lines[lines.index("BY STORY") + 1 : -1]
    for part, by in ((phase_part, "phase"), (story_part, "story")):
        want = expected_rollup(rep, by, labels=True)  # tasks without a story: "(none)"
        assert len(part) == len(want)
        for line, (group, (done, total, pct)) in zip(part, want.items(), strict=True):
            assert re.match(rf"\s+{re.escape(group)}\s+{done}/{total}\s+{pct:.1f}%", line), line
    assert any("Phase 2: Branches" in x and "(1 failed)" in x for x in phase_part)
    assert any("Phase 3: Join" in x and "(1 skipped)" in x for x in phase_part)
    # --watch on a finished run: one snapshot, exit 0.
    t0 = time.monotonic()
    assert main(["status", "--watch", "--interval", "0.1", "--state-dir", state]) == 0
    assert time.monotonic() - t0 < 5
    watched = capsys.readouterr().out
    assert watched.count(f"run {rep.run_id}: ") == 1
    assert "\x1b[2J" not in watched


WATCHED = """\
# Tasks: watched

## Phase 1: Setup

- [ ] T001 First
  - taskexec: run="echo one; sleep 0.6"
- [ ] T002 Second
  - taskexec: run="echo two; sleep 0.6"
- [ ] T003 [US1] Third
  - taskexec: run="echo three; for i in $(seq 600); do [ -e go ] && break; sleep 0.05; done"
"""


def _background_run(folder: Path, text: str) -> tuple[threading.Thread, list[Any]]:
    path = folder / "tasks.md"
    path.write_text(text, encoding="utf-8")
    plan = taskexec_nb.load(path)
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(plan.run(writeback=False, max_workers=1))
        except BaseException as exc:  # shown by the test, not lost in the thread
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not list((folder / ".taskexec" / "logs").glob("*/T001.1.log")):
        assert not (result and isinstance(result[0], BaseException)), repr(result[0])
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.02)
    return thread, result


def test_cli_status_watch_follows_a_running_run(tmp_path: Path) -> None:
    # T003 waits for the file `go`, made once the watch has shown the run running: the
    # watch sees the run both running and ended however slowly its process starts.
    thread, result = _background_run(tmp_path, WATCHED)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "taskexec_nb.cli",
            "status",
            "--watch",
            "--interval",
            "0.1",
            "--state-dir",
            str(tmp_path / ".taskexec"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    (tmp_path / "go").touch()
    rest, err = proc.communicate(timeout=60)
    ended = time.time()
    thread.join(30)
    assert result, "the run did not finish"
    handle = result[0]
    assert proc.returncode == 0, err
    out = first + rest
    header = f"run {handle.run_id}: "
    snapshots = [header + part for part in out.split(header)[1:]]
    assert len(snapshots) > 1, out
    assert snapshots[0].startswith(header + "running")
    assert snapshots[-1].startswith(header + "completed")
    assert "BY PHASE" in snapshots[-1] and "3/3" in snapshots[-1]
    assert "BY STORY" in snapshots[-1]
    assert "\x1b[" not in out  # not a TTY: no redraw codes
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        finished = store.run(handle.run_id).finished
    assert finished <= ended <= finished + 5  # it stopped once the run had ended


# --- 6. figures --------------------------------------------------------------------------------


def test_gantt_traces_of_the_retry_diamond(retry_run: Ran) -> None:
    rep = retry_run.report
    fig = rep.gantt()
    att = attempt_rows(rep)
    bars = status_traces(fig)
    names = [t.name for t in bars]
    assert names == ["completed", "failed"]
    assert sum(len(t.x) for t in bars) == 5 == len(att)
    labels = {sty.label: status for status, sty in STYLES.items()}
    seen = set()
    for trace in bars:
        status = labels[trace.name]
        assert trace.orientation == "h"
        assert trace.marker.color == STYLES[status].color
        assert trace.marker.pattern.shape == STYLES[status].pattern
        groups, ylabels = trace.y
        for i, ylabel in enumerate(ylabels):
            tid = ylabel.split()[0]
            assert groups[i] == PHASES[tid]  # multicategory: grouped by phase
            hover = trace.hovertext[i]
            n = int(re.search(r"attempt (\d+)", hover).group(1))  # type: ignore[union-attr]
            row = att[(tid, n)]
            assert row["status"] == status
            assert f"<b>{tid}</b>" in hover
            assert STYLES[status].label in trace.text[i]
            assert trace.x[i] == pytest.approx(max(1.0, row["duration"] * 1000), abs=0.01)
            assert pd.Timestamp(trace.base[i]) == row["start"]
            seen.add((tid, n))
    assert seen == set(att)
    failed = bars[names.index("failed")]
    assert failed.marker.pattern.shape == "x"
    assert list(failed.y[1]) == ["T003 Right branch in src/right.py"]
    assert failed.text == ("failed #1",)
    assert "exit code 3" in failed.hovertext[0] and "attempt 1" in failed.hovertext[0]
    completed = bars[names.index("completed")]
    assert "completed #2" in completed.text  # the successful retry says which attempt it was
    assert fig.layout.title.text and rep.run_id in fig.layout.title.text
    alt = fig.layout.meta["alt"]
    assert "5 attempts of 4 tasks" in alt and "4 completed, 1 failed" in alt
    assert "T002" in alt  # the longest attempt
    by_story = rep.gantt(group_by="story")
    groups = [g for t in status_traces(by_story) for g in t.y[0]]
    assert set(groups) == {"(none)", "US1", "US2"}


def test_gantt_updates_a_figure_in_place(retry_run: Ran, fail_run: Ran) -> None:
    fig = go.Figure()
    same = gantt(fail_run.report.attempts, fail_run.report.tasks, figure=fig, title="first")
    assert same is fig
    names = [t.name for t in status_traces(fig)]
    assert names == ["completed", "failed", "skipped, never started"]  # T004 has its row
    assert sum(len(t.x) for t in status_traces(fig)[:2]) == 4
    again = gantt(retry_run.report.attempts, retry_run.report.tasks, figure=fig, title="second")
    assert again is fig
    assert sum(len(t.x) for t in status_traces(fig)) == 5
    assert fig.layout.title.text == "second"
    assert "5 attempts" in fig.layout.meta["alt"]


def test_dag_traces(retry_run: Ran, fail_run: Ran) -> None:
    for ran in (retry_run, fail_run):
        rep = ran.report
        fig = rep.dag()
        assert [t.name for t in fig.data[:2]] == ["dependency", "critical path"]
        ids = node_ids(fig)
        assert sorted(ids.values()) == ["T001", "T002", "T003", "T004"]
        normal = edges_of(fig.data[0], ids)
        crit = edges_of(fig.data[1], ids)
        assert crit == set(itertools.pairwise(rep.critical_path))
        all_edges = {(d, t) for t, ds in DIAMOND_DEPS.items() for d in ds}
        assert normal | crit == all_edges and not normal & crit
        assert fig.data[1].line.width > fig.data[0].line.width
        for trace in fig.data[2:]:
            assert trace.mode == "markers+text"
        assert fig.layout.title.text and rep.run_id in fig.layout.title.text
        assert "4 tasks in 3 levels (4 dependencies)" in fig.layout.meta["alt"]
        assert " → ".join(rep.critical_path) in fig.layout.meta["alt"]
    fig = fail_run.report.dag()
    nodes = {t.name: t for t in fig.data[2:]}
    assert {n: list(t.text) for n, t in nodes.items()} == {
        "completed": ["T001", "T002"],
        "failed": ["T003"],
        "skipped": ["T004"],
    }
    assert nodes["completed"].marker.symbol == "circle"
    assert nodes["failed"].marker.symbol == "x"
    assert nodes["skipped"].marker.symbol == "circle-open"
    assert list(nodes["completed"].marker.line.width) == [3, 3]  # both on the critical path
    assert "2 completed, 1 failed, 1 skipped" in fig.layout.meta["alt"]
    assert "Not completed because of failures: T003" in fig.layout.meta["alt"]
    # Layers: T001 first, the branches next, the join last.
    pos = {v: k for k, v in node_ids(fig).items()}
    assert [pos[t][0] for t in ("T001", "T002", "T003", "T004")] == [0.0, 1.0, 1.0, 2.0]


EXPLICIT = """\
# Tasks: listed out of order

## Phase 1: Setup

- [ ] T001 Publish the results (depends on T003)
  - taskexec: run="sleep 0.05"
- [ ] T002 Prepare the data
  - taskexec: run="sleep 0.3"
- [ ] T003 Compute the results (depends on T002)
  - taskexec: run="sleep 0.05"
"""


def test_dag_highlights_the_critical_path_in_path_order(tmp_path: Path) -> None:
    """A file listing a chain out of order (explicit mode): edges follow the path, not the file."""
    path = tmp_path / "tasks.md"
    path.write_text(EXPLICIT, encoding="utf-8")
    rep = taskexec_nb.load(path, mode="explicit").run(writeback=False).report()
    assert rep.critical_path == ["T002", "T003", "T001"]
    fig = rep.dag()
    ids = node_ids(fig)
    assert edges_of(fig.data[1], ids) == {("T002", "T003"), ("T003", "T001")}
    assert edges_of(fig.data[0], ids) == set()
    assert "Critical path: T002 → T003 → T001." in fig.layout.meta["alt"]


def test_progress_figure(fail_run: Ran) -> None:
    rep = fail_run.report
    fig = rep.progress_figure("phase")
    want = expected_rollup(rep, "phase", labels=True)  # "Phase 2: Branches", as the file
    present = [s for s in ("completed", "failed", "skipped") if s in set(rep.tasks["status"])]
    assert [t.name for t in fig.data] == [STYLES[s].label for s in present]
    for trace, status in zip(fig.data, present, strict=True):
        assert list(trace.y) == list(want)
        counts = [
            sum(
                1
                for r in rep.tasks.to_dict("records")
                if phase_of(r) == g and r["status"] == status
            )
            for g in want
        ]
        assert list(trace.x) == counts
        assert trace.marker.pattern.shape == STYLES[status].pattern
    notes = {a.y: a.text.strip() for a in fig.layout.annotations}
    for group, (done, total, pct) in want.items():
        assert notes[group] == f"{done}/{total} ({pct:g}%)"
    assert notes["Phase 2: Branches"] == "1/2 (50%)"
    assert fig.layout.title.text and "phase" in fig.layout.title.text
    alt = fig.layout.meta["alt"]
    assert "Phase 2: Branches 1/2 done (50%)" in alt and "Phase 3: Join 0/1 done (0%)" in alt
    story = rep.progress_figure("story")
    assert list(story.data[0].y) == list(expected_rollup(rep, "story"))


def _big_frame(width: int, depth: int) -> pd.DataFrame:
    statuses = ["completed", "failed", "skipped", "running", "pending"]
    rows = []
    for level in range(depth):
        for i in range(width):
            tid = f"T{level:02d}{i:03d}"
            deps = [f"T{level - 1:02d}{i:03d}"] if level else []
            rows.append(
                {
                    "id": tid,
                    "status": statuses[(level + i) % len(statuses)],
                    "depends_on": deps,
                    "description": f"task {tid}",
                    "duration": 0.5,
                }
            )
    return pd.DataFrame(rows)


def test_dag_of_300_tasks_is_readable() -> None:
    wide = dag(_big_frame(100, 3))
    narrow = dag(_big_frame(50, 6))
    for fig in (wide, narrow):
        nodes = fig.data[2:]
        assert sum(len(t.x) for t in nodes) == 300
        for trace in nodes:
            assert trace.mode == "markers"  # no labels on 300 nodes
            assert trace.marker.size <= 10
        assert fig.data[0].line.width < 1.0  # thin edges
        assert fig.layout.title.text
        assert "300 tasks" in fig.layout.meta["alt"]
    assert len(wide.data[0].x) == 3 * 200 and len(narrow.data[0].x) == 3 * 250
    assert wide.layout.height > narrow.layout.height
    assert wide.layout.height >= 100 * 9 and narrow.layout.height >= 50 * 9
    small = dag(_big_frame(3, 2))
    assert all(t.mode == "markers+text" for t in small.data[2:])
    assert small.data[0].line.width > wide.data[0].line.width


LIVE = """\
# Tasks: live

## Phase 1: Setup

- [ ] T001 First
  - taskexec: run="echo one; sleep 0.1"
- [ ] T002 Second
  - taskexec: run="echo two; sleep 1.2"
"""


def test_gantt_draws_a_running_attempt_up_to_now(tmp_path: Path) -> None:
    thread, _ = _background_run(tmp_path, LIVE)
    state = tmp_path / ".taskexec"
    deadline = time.monotonic() + 20
    while not list((state / "logs").glob("*/T002.1.log")):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.5)
    rep = ExecutionReport.load(state)
    loaded = time.time()
    thread.join(30)
    assert rep.run["status"] == "running"
    started = rep.attempts.loc["T002", "start"]
    running_for = loaded - seconds(started)
    assert running_for >= 0.4
    fig = rep.gantt()
    running = next(t for t in fig.data if t.name == "running")
    assert running.x[0] >= (running_for - 0.2) * 1000, running.x[0]
    assert "duration: -" not in running.hovertext[0]


# --- 7. the palette ----------------------------------------------------------------------------


def test_palette_is_accessible() -> None:
    for status, sty in STYLES.items():
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", sty.color)
        assert contrast(sty.color, "#FFFFFF") >= 3.0, status
        assert contrast(text_color(sty.color), sty.color) >= 4.5, status
    assert len({s.label for s in STYLES.values()}) == len(STYLES)
    assert len({s.symbol for s in STYLES.values()}) == len(STYLES)
    assert len({(s.pattern, s.symbol) for s in STYLES.values()}) == len(STYLES)
    assert set(STYLES) == {
        "pending",
        "queued",
        "running",
        "paused",
        "completed",
        "failed",
        "timed_out",
        "skipped",
        "cancelled",
    }
    # The WCAG formula itself: black on white is 21:1, a colour with itself 1:1.
    assert contrast("#000000", "#FFFFFF") == pytest.approx(21.0)
    assert contrast("#767676", "#767676") == pytest.approx(1.0)
    assert text_color("#FFFFFF") == "#000000" and text_color("#000000") == "#FFFFFF"


# --- 8. helpers on hand-made inputs ------------------------------------------------------------


def test_critical_path_unit() -> None:
    assert critical_path([], {}, {}) == []
    diamond = {"B": ["A"], "C": ["A"], "D": ["B", "C"]}
    assert critical_path(list("ABCD"), diamond, {"A": 1, "B": 5, "C": 2, "D": 1}) == list("ABD")
    assert critical_path(list("ABCD"), diamond, {"A": 1, "B": 2, "C": 5, "D": 1}) == list("ACD")
    # A dependency outside the set is ignored.
    assert critical_path(["B", "C"], {"B": ["X"], "C": ["B"]}, {"B": 1, "C": 1}) == ["B", "C"]
    # Independent tasks: the longest one alone.
    assert critical_path(list("ABC"), {}, {"A": 1, "B": 3, "C": 2}) == ["B"]
    # Order of the input does not matter.
    assert critical_path(list("DCBA"), diamond, {"A": 1, "B": 5, "C": 2, "D": 1}) == list("ABD")


def test_rollup_unit() -> None:
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "status": ["completed", "failed", "completed", "pending", "skipped"],
            "phase": ["P2", None, "P2", "", "P1"],
        }
    )
    out = rollup(frame, "phase")
    assert list(out["phase"]) == ["P2", "(none)", "P1"]  # first appearance order
    assert list(out["done"]) == [2, 0, 0]
    assert list(out["total"]) == [2, 2, 1]
    assert list(out["percent"]) == [100.0, 0.0, 0.0]
    assert list(out["failed"]) == [0, 1, 0] and list(out["pending"]) == [0, 1, 0]
    assert list(out["skipped"]) == [0, 0, 1]
    thirds = rollup(
        pd.DataFrame({"status": ["completed", "failed", "failed"], "story": "US1"}), "story"
    )
    assert thirds["percent"].iloc[0] == 33.3
    empty = rollup(pd.DataFrame({"id": [], "status": [], "phase": []}), "phase")
    assert empty.empty and {"phase", "done", "total", "percent", "completed"} <= set(empty.columns)
    with pytest.raises(ReportError, match="phase or story"):
        rollup(frame, "owner")


def test_layers_and_positions_unit() -> None:
    assert layers([], {}) == {} and layout_positions([], {}) == {}
    deps = {"B": ["A"], "C": ["A"], "D": ["B", "C"], "E": ["X"]}  # X is not in the set
    assert layers(list("ABCDE"), deps) == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 0}
    pos = layout_positions(list("ABCDE"), deps)
    assert {t: p[0] for t, p in pos.items()} == {"A": 0, "B": 1, "C": 1, "D": 2, "E": 0}
    # Each layer is centred on 0 with unit spacing.
    assert sorted(p[1] for t, p in pos.items() if p[0] == 0) == [-0.5, 0.5]
    assert sorted(p[1] for t, p in pos.items() if p[0] == 1) == [-0.5, 0.5]
    assert pos["D"][1] == 0.0
    # Children are ordered by their parents' places (fewer crossings).
    crossed = layout_positions(list("ABCD"), {"C": ["B"], "D": ["A"]})
    assert crossed["D"][1] < crossed["C"][1]
    assert layer_order([], {}) == []
    assert layer_order(list("DCBA"), {"B": ["A"], "C": ["B"], "D": ["C"]}) == list("ABCD")
    # A cycle: every node is kept, the acyclic ones first.
    cyc = layer_order(list("ABCD"), {"A": ["C"], "B": ["A"], "C": ["B"]})
    assert cyc[0] == "D" and sorted(cyc) == list("ABCD")


def test_layers_survive_a_cycle() -> None:
    """layer_order keeps the nodes of a cycle; layers (and so the dag layout) must too."""
    ids = ["A", "B", "C", "D"]
    deps = {"A": ["C"], "B": ["A"], "C": ["B"]}
    depth = layers(ids, deps)
    assert set(depth) == set(ids)
    assert depth["D"] == 0
    assert all(isinstance(v, int) and v >= 0 for v in depth.values())
    assert set(layout_positions(ids, deps)) == set(ids)


def test_junit_stays_valid_xml_with_colour_codes_and_control_characters(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.md"
    fence = "`" * 3
    tasks.write_text(
        '## Phase 1: Setup\n\n- [ ] T001 Colourful <failure> & "quotes"\n'
        f"  {fence}bash\n"
        "  printf '\\033[31mred\\033[0m \\001\\002 bell\\007\\n' >&2\n"
        "  exit 1\n"
        f"  {fence}\n"
    )
    handle = taskexec_nb.load(tasks).run(writeback=False)
    assert handle.result.value == "failed"
    report = handle.report()
    # The tail is the text as a terminal showed it: no colour codes or control characters
    # (the log keeps the raw bytes).
    assert report.tasks["stderr_tail"].iloc[0] == "red  bell"
    assert (
        b"\x1b[31mred\x1b[0m \x01\x02 bell\x07"
        in Path(report.tasks["log_path"].iloc[0]).read_bytes()
    )
    xml = report.to_junit()
    assert "\x1b" not in xml and "\x01" not in xml and "\x07" not in xml
    assert "red  bell" in xml
    schema = xmlschema.XMLSchema(str(FIXTURES / "schemas" / "junit.xsd"))
    schema.validate(xml)
    case = ET.fromstring(xml).find(".//testcase")
    assert case is not None and case.get("name") == 'T001 Colourful <failure> & "quotes"'


def test_a_run_whose_runner_died_reads_as_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks = tmp_path / "tasks.md"
    fence = "`" * 3
    tasks.write_text(
        "## Phase 1: Setup\n\n- [ ] T001 Fails\n"
        f"  {fence}bash\n  echo '# Heading' >&2\n  echo '<img src=x>' >&2\n  exit 2\n  {fence}\n"
        '- [ ] T002 [P] Other\n  - taskexec: run="true"\n'
    )
    handle = taskexec_nb.load(tasks).run(writeback=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db = tmp_path / ".taskexec" / "state.db"
    with closing(sqlite3.connect(db)) as raw:  # as a runner killed mid-run leaves it
        raw.execute(
            "UPDATE runs SET status = 'running', finished = NULL, pid = ? WHERE run_id = ?",
            (dead.pid, handle.run_id),
        )
        raw.execute("UPDATE tasks SET status = 'running', finished = NULL WHERE task_id = 'T002'")
        raw.commit()
    report = ExecutionReport.load(tmp_path / ".taskexec", handle.run_id)
    assert report.summary["status"] == "interrupted"
    root = ET.fromstring(report.to_junit())
    for suite in root.iter("testsuite"):
        assert int(suite.get("skipped") or 0) == len(suite.findall("testcase/skipped"))
        assert int(suite.get("failures") or 0) == len(suite.findall("testcase/failure"))
    markdown = report.to_markdown()
    block = markdown.split("## Failures", 1)[1].split("## Tasks", 1)[0]
    assert "  ```\n  # Heading\n  <img src=x>\n  ```" in block  # shown as code, not rendered
    assert "finished not yet" in markdown
    t0 = time.monotonic()
    assert main(["status", "--watch", "--state-dir", str(tmp_path / ".taskexec")]) == 0
    assert time.monotonic() - t0 < 5  # a dead runner's run is not watched forever
    assert "its runner is gone" in capsys.readouterr().out


def test_a_gantt_lane_or_comparison_that_cannot_be_is_a_report_error(retry_run: Ran) -> None:
    rep = retry_run.report
    with pytest.raises(ReportError, match=r"gantt\(group_by='stories'\): no such column"):
        rep.gantt(group_by="stories")
    assert rep.gantt(group_by="story").data  # the column that exists
    with pytest.raises(ReportError, match=r"compare\(\): b must be a run's report .* got int"):
        rep.compare(5)  # type: ignore[arg-type]


def test_rollup_and_the_status_table_group_alike_missing_keys_and_no_rows() -> None:
    from taskexec_nb.report.status import by_group

    keys = pd.array(["Phase 1", None, "", "Phase 1"], dtype="string")
    statuses = ["completed", "failed", "pending", "failed"]
    frame = pd.DataFrame({"phase": keys, "status": pd.array(statuses, dtype="string")})
    grouped = by_group(keys.tolist(), statuses)  # pd.NA, None and "" are all "(none)"
    assert grouped == {"Phase 1": ["completed", "failed"], "(none)": ["failed", "pending"]}
    assert by_group([float("nan")], ["queued"]) == {"(none)": ["queued"]}
    from taskexec_nb.report import rollup

    rolled = rollup(frame, "phase")
    assert rolled[["phase", "done", "total", "failed", "pending"]].values.tolist() == [
        ["Phase 1", 1, 2, 1, 0],
        ["(none)", 0, 2, 1, 1],
    ]
    assert [str(t) for t in rolled.dtypes[["done", "total", "percent"]]] == [
        "int64",
        "int64",
        "float64",
    ]
    empty = rollup(frame.iloc[:0], "phase")
    assert empty.empty and str(empty["phase"].dtype) == "string"
    assert str(empty["total"].dtype) == "float64" and str(empty["done"].dtype) == "int64"


def test_an_allowed_failure_stays_marked_in_the_store_and_the_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(
        tmp_path,
        "## Phase 1: X\n\n"
        '- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n'
        '- [ ] T002 Broken\n  - taskexec: run="exit 4"\n'
        '- [ ] T003 Fine\n  - taskexec: run="true"\n',
    )
    handle = taskexec_nb.load(path, mode="explicit").run()
    frame = handle.status()
    assert frame["allowed"].to_dict() == {"T001": True, "T002": False, "T003": False}
    assert list(frame["status"]) == ["failed", "failed", "completed"]  # filters still work
    assert "1 failed (allowed)" in repr(handle)
    state = str(tmp_path / ".taskexec")
    capsys.readouterr()
    assert main(["status", "--state-dir", state]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert rows["T001"].split()[1:3] == ["failed", "(allowed)"]
    assert rows["T002"].split()[1:3] == ["failed", "1"]
    assert main(["runs", "--state-dir", state, "--json"]) == 0
    counts = json.loads(capsys.readouterr().out)[0]["counts"]
    assert counts == {"completed": 1, "failed": 1, "failed (allowed)": 1}
    report = handle.report()
    assert report.tasks["allowed"].to_dict() == frame["allowed"].to_dict()
    assert report.summary["allowed_failures"] == 1
    assert "**T001** failed (allowed): attempt 1: exit code 3" in report.to_markdown()
    assert "1 completed, 2 failed (1 allowed)" in report.to_markdown()
    suite = ET.fromstring(report.to_junit()).find("testsuite")
    assert suite is not None
    assert (suite.get("failures"), suite.get("skipped")) == ("1", "1")
    cases = {c.get("name", "").split()[0]: c for c in suite.iter("testcase")}
    skipped = cases["T001"].find("skipped")
    assert skipped is not None and skipped.get("message") == (
        "failed (allowed): attempt 1: exit code 3"
    )
    assert cases["T002"].find("failure") is not None
    page = report.to_html()
    assert page is not None and page.count("<td>failed (allowed)</td>") == 2  # both tables
    # A resume runs the failures again: the mark goes with the old result.
    path.write_text(path.read_text().replace('run="exit 3"', 'run="true"'))
    again = taskexec_nb.load(path, mode="explicit").run(resume=True)
    assert again.status()["allowed"].to_dict()["T001"] is False
    assert again.report().tasks["allowed"].to_dict()["T001"] is False


def test_reports_of_a_dead_runners_run_read_as_status_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, run_id = _sigkilled_runner(tmp_path)
    state = str(tmp_path / ".taskexec")
    assert main(["status", "--state-dir", state, "--json"]) == 0
    shown = {t["task_id"]: t["status"] for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert shown == {"T001": "interrupted"}
    assert main(["report", "--state-dir", state, "--format", "md"]) == 0
    text = capsys.readouterr().out
    assert f"# Run {run_id}: interrupted" in text
    assert "- Tasks: 1; 1 interrupted" in text
    assert "| T001 | Phase 1: X |  | interrupted |" in text
    assert main(["report", "--state-dir", state, "--format", "junit"]) == 0
    case = ET.fromstring(capsys.readouterr().out).find(".//testcase")
    assert case is not None
    assert [(c.tag, c.get("message")) for c in case] == [("skipped", "interrupted")]
    assert main(["report", "--state-dir", state, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["id"], r["status"]) for r in rows] == [("T001", "interrupted")]


def test_a_resumed_runs_wall_time_leaves_out_the_wait_before_the_resume(tmp_path: Path) -> None:
    path = write_tasks(tmp_path)  # T003 fails until ./fixed exists
    plan = taskexec_nb.load(path)
    start = time.perf_counter()
    first = plan.run(max_workers=1)
    first_took = time.perf_counter() - start
    assert first.result is not None and first.result.value == "failed"
    time.sleep(2.0)  # the run sits failed, then is resumed
    (tmp_path / "fixed").touch()
    start = time.perf_counter()
    again = taskexec_nb.load(path).run(resume=True)
    second_took = time.perf_counter() - start
    summary = again.report().summary
    assert summary["status"] == "completed"
    assert 0 < summary["wall_time"] <= first_took + second_took  # not + 2 s
    assert summary["parallelism"] == pytest.approx(summary["task_time"] / summary["wall_time"])


def test_a_hand_ticked_allowed_failure_is_no_longer_allowed(tmp_path: Path) -> None:
    path = write_tasks(
        tmp_path,
        '## Phase 1: X\n\n- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n'
        '- [ ] T002 Broken\n  - taskexec: run="test -e fixed"\n',
    )
    assert taskexec_nb.load(path).run().result is RunStatus.FAILED  # T002 fails
    path.write_text(path.read_text().replace("- [ ] T001", "- [x] T001"))
    (tmp_path / "fixed").touch()
    again = taskexec_nb.load(path).run(resume=True)
    tasks = again.report().tasks
    assert tasks.loc["T001", "status"] == "skipped" and not tasks.loc["T001", "allowed"]
    assert again.report().summary["allowed_failures"] == 0
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        assert store.runs()[0].counts == {"completed": 1, "skipped": 1}


@pytest.mark.parametrize("fmt", ["html", "junit", "csv", "json", "md", "parquet"])
def test_a_report_path_that_cannot_be_written_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    state = ["--state-dir", str(tmp_path / ".taskexec"), "--format", fmt]
    missing = tmp_path / "nosuchdir" / "r.out"
    assert main(["report", *state, "-o", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"{missing}: cannot write the report: there is no folder {missing.parent}" in err
    assert "Traceback" not in err
    assert main(["report", *state, "-o", str(tmp_path)]) == 2
    assert "it is a folder (give a file name)" in capsys.readouterr().err


def test_report_refuses_an_unknown_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_tasks(tmp_path)
    assert main(["run", str(path)]) == 1
    state = str(tmp_path / ".taskexec")
    assert main(["report", "--state-dir", state, "-o", str(tmp_path / "x.pdf")]) == 2
    assert "no report format for '.pdf'" in capsys.readouterr().err
    assert not (tmp_path / "x.pdf").exists()
    assert (
        main(["report", "--state-dir", state, "-o", str(tmp_path / "x.pdf"), "--format", "md"]) == 0
    )
    assert (tmp_path / "x.pdf").read_text().startswith("#")


def test_the_report_package_serves_its_names_on_first_use() -> None:
    import importlib

    from taskexec_nb.report import summary, tables

    package = importlib.import_module("taskexec_nb.report")  # the module, not report()
    assert package.STATUSES is summary.STATUSES
    assert package.FINAL_FAILURES is summary.FINAL_FAILURES
    assert package.ExecutionReport is tables.ExecutionReport
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        package.nothing_here  # noqa: B018


# --- 9. tables and figures as a notebook user reads them ---------------------------------------

STAMP = "datetime64[us, UTC]"


def test_every_task_table_is_indexed_by_task_id_with_one_phase_and_time_type(
    fail_run: Ran, compared: Compared
) -> None:
    rep, handle = fail_run.report, fail_run.handle
    plan = taskexec_nb.load(fail_run.folder / "tasks.md")
    live = handle.model.tasks_frame()
    tables = {
        "plan.to_frame()": plan.to_frame(),
        "status()": handle.status(),
        "model.tasks_frame()": live,
        "report.tasks": rep.tasks,
        "report.attempts": rep.attempts,
        "report.errors": rep.errors,
        "compare()": compared.a.compare(compared.b),
    }
    for name, frame in tables.items():
        assert frame.index.name == "id", name
        assert "id" not in frame.columns, name
    ids = ["T001", "T002", "T003", "T004"]
    for name in ("plan.to_frame()", "status()", "model.tasks_frame()", "report.tasks"):
        frame = tables[name]
        assert list(frame.index) == ids, name
        # The same phase everywhere: the number, ordered as in the file; the title beside it.
        assert frame["phase"].dtype == pd.CategoricalDtype(["1", "2", "3"], ordered=True), name
        assert list(frame["phase"]) == ["1", "2", "2", "3"], name
        assert list(frame["phase_title"]) == ["Setup", "Branches", "Branches", "Join"], name
        assert list(frame.columns).index("phase_title") == list(frame.columns).index("phase") + 1
        assert list(frame.sort_values("phase", ascending=False).index)[-1] == "T001", name
    for name, frame in tables.items():
        for col in ("start", "end"):
            if col in frame:
                assert str(frame[col].dtype) == STAMP, (name, col)
    assert str(rep.events["time"].dtype) == STAMP
    assert str(handle.model.attempts_frame()["start"].dtype) == STAMP
    # A task that never ran has no duration: NaN, not 0.0.
    for name in ("status()", "model.tasks_frame()", "report.tasks"):
        assert tables[name]["duration"].dtype == "float64", name
        assert pd.isna(tables[name].loc["T004", "duration"]), name
    assert pd.isna(rep.attempts["duration"]).sum() == 0  # every attempt ended


def test_compare_gives_nan_for_a_task_that_did_not_end_in_a_run(fail_run: Ran) -> None:
    rep = fail_run.report
    diff = rep.compare(rep)
    assert diff["duration_a"].dtype == "float64"
    assert pd.isna(diff.loc["T004", "duration_a"]) and pd.isna(diff.loc["T004", "duration_b"])
    assert diff.loc["T001", "duration_a"] > 0


def test_the_gantt_of_a_failed_run_shows_the_tasks_that_never_started(fail_run: Ran) -> None:
    fig = fail_run.report.gantt()
    never = next(t for t in fig.data if t.name == "skipped, never started")
    assert never.type == "scatter" and never.marker.symbol == STYLES["skipped"].symbol
    groups, labels = never.y
    assert [label.split()[0] for label in labels] == ["T004"]
    assert list(groups) == ["Phase 3: Join"]
    assert list(never.text) == ["skipped (never started)"]
    assert "1 never started: 1 skipped" in fig.layout.meta["alt"]
    order = fig.data[0]  # the invisible trace that orders the rows: T004 has one
    assert [label.split()[0] for label in order.y[1]] == ["T001", "T002", "T003", "T004"]


def test_report_figures_update_a_figure_widget_in_place(retry_run: Ran, fail_run: Ran) -> None:
    widget = go.FigureWidget()
    rep = retry_run.report
    assert rep.gantt(figure=widget) is widget  # the README's in-place update
    assert sum(len(t.x) for t in status_traces(widget)) == 5
    assert fail_run.report.gantt(group_by="story", figure=widget) is widget
    assert "grouped by story" in widget.layout.meta["alt"]
    dag_widget = go.FigureWidget()
    assert rep.dag(figure=dag_widget) is dag_widget
    assert sorted(node_ids(dag_widget).values()) == ["T001", "T002", "T003", "T004"]
    bars = go.FigureWidget()
    assert rep.progress_figure("phase", figure=bars) is bars
    assert list(bars.data[0].y) == ["Phase 1: Setup", "Phase 2: Branches", "Phase 3: Join"]


def test_report_figures_have_the_legend_above_and_fit_the_notebook(fail_run: Ran) -> None:
    rep = fail_run.report
    for fig in (rep.gantt(), rep.dag(), rep.progress_figure()):
        legend = fig.layout.legend
        assert legend.orientation == "h" and legend.y > 1 and legend.yanchor == "bottom"
        assert fig.layout.width is None or fig.layout.width <= 1000
        assert fig.layout.meta["alt"]
        # The title sits at the top of the figure, under the modebar and above the legend.
        title = fig.layout.title
        assert (title.yref, title.y, title.yanchor, title.pad.t) == ("container", 1, "top", 34)


def test_the_live_models_frames_draw_the_same_gantt_as_the_report(fail_run: Ran) -> None:
    model, rep = fail_run.handle.model, fail_run.report
    end = rep.tasks["end"].max()
    live = gantt(model.attempts_frame(), model.tasks_frame(), now=end)
    stored = rep.gantt()
    assert [t.name for t in status_traces(live)] == [t.name for t in status_traces(stored)]
    for a, b in zip(status_traces(live), status_traces(stored), strict=True):
        assert list(a.y[0]) == list(b.y[0])  # lanes by phase, from the tasks' rows
        assert list(a.y[1]) == list(b.y[1])  # task IDs and titles
        assert list(a.text) == list(b.text)


def test_the_resume_line_of_a_status_read_with_state_dir_names_that_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run kept in a store of its own: the printed command must find it there.
    monkeypatch.chdir(tmp_path)
    text = '## Phase 1: X\n\n- [ ] T001 Check\n  - taskexec: run="test -f fixed"\n'
    path = write_tasks(tmp_path, text)
    store = tmp_path / "elsewhere" / "state"
    assert main(["run", str(path), "--state-dir", str(store)]) == 1
    capsys.readouterr()
    assert main(["status", "--state-dir", str(store)]) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.startswith("resume: taskexec run ")
    (tmp_path / "fixed").touch()
    command = shlex.split(line.split("  (")[0].removeprefix("resume: "))
    assert main(command[1:]) == 0  # the printed command, as given, resumes and completes
    assert not (tmp_path / ".taskexec").exists()  # in that store, not one beside the file


def test_report_of_a_tasks_md_reads_the_store_its_config_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # taskexec.toml's state_dir: report() finds the run where `taskexec report` does.
    path = write_tasks(tmp_path, "## Phase 1: X\n\n- [ ] T001 A\n  - taskexec: run=true\n")
    (tmp_path / "taskexec.toml").write_text('state_dir = "build/state"\n', encoding="utf-8")
    assert main(["run", str(path)]) == 0
    capsys.readouterr()
    assert (tmp_path / "build" / "state" / "state.db").is_file()
    run_id = taskexec_nb.runs(path)[0]["run_id"]
    assert taskexec_nb.report(path).run_id == run_id
    assert taskexec_nb.report(tasks_file=path).run_id == run_id
    monkeypatch.chdir(tmp_path)
    assert taskexec_nb.report().run_id == run_id
