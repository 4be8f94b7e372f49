"""The package's public API: what ``import taskexec_nb`` gives a notebook, and what it loads."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import taskexec_nb
from taskexec_nb.cli import main

TASKS = (
    "## Phase 1: Setup\n\n"
    '- [ ] T001 First\n  - taskexec: run="echo one"\n'
    '- [ ] T002 Second\n  - taskexec: run="echo two"\n'
)


def test_the_names_a_notebook_uses_are_exported() -> None:
    from taskexec_nb.events import RunStatus, TaskStatus
    from taskexec_nb.plan import ExecutionPlan
    from taskexec_nb.report.runs import runs
    from taskexec_nb.report.tables import ExecutionReport, report
    from taskexec_nb.run.handle import RunHandle
    from taskexec_nb.settings import RunSettings

    expected = {
        "RunHandle": RunHandle,
        "RunStatus": RunStatus,
        "TaskStatus": TaskStatus,
        "RunSettings": RunSettings,
        "ExecutionReport": ExecutionReport,
        "ExecutionPlan": ExecutionPlan,
        "report": report,
        "runs": runs,
    }
    for name, value in expected.items():
        assert name in taskexec_nb.__all__, name
        assert getattr(taskexec_nb, name) is value, name
    for name in ("load", "loads", "validate", "parse", "TaskexecError", "UsageError"):
        assert name in taskexec_nb.__all__, name
    # The scheduler's tracker is reached through the plan, not exported.
    assert "ReadyTracker" not in taskexec_nb.__all__
    assert not hasattr(taskexec_nb, "ReadyTracker")
    for name in taskexec_nb.__all__:
        assert hasattr(taskexec_nb, name), name


def test_import_loads_no_heavy_library_and_report_stays_the_function() -> None:
    code = (
        "import sys, taskexec_nb\n"
        "heavy = [m for m in ('pandas', 'plotly', 'pyarrow', 'pydantic') if m in sys.modules]\n"
        "import taskexec_nb.report.formats, taskexec_nb.report.html\n"
        "from taskexec_nb.report import ExecutionReport\n"
        "print(heavy, callable(taskexec_nb.report), taskexec_nb.report.__module__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["[]", "True", "taskexec_nb.report.tables"], done.stderr


def test_runs_lists_a_files_runs_newest_first_as_the_cli_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TASKS, encoding="utf-8")
    other = tmp_path / "other.md"
    other.write_text(TASKS, encoding="utf-8")
    with pytest.raises(taskexec_nb.ReportError, match="no state store at"):
        taskexec_nb.runs(path)
    first = taskexec_nb.load(path).run(only="T001", writeback=False)
    second = taskexec_nb.load(path).run(writeback=False)
    elsewhere = taskexec_nb.load(other).run(writeback=False)
    records = taskexec_nb.runs(path)  # the store beside it, its runs only
    assert [r["run_id"] for r in records] == [second.run_id, first.run_id]
    assert records[1]["selection"] == ["T001"]  # JSON columns decoded
    assert records[0]["counts"] == {"completed": 2} and records[0]["status"] == "completed"
    assert isinstance(records[0]["settings"], dict)
    state = tmp_path / ".taskexec"
    every = taskexec_nb.runs(state_dir=state)
    assert [r["run_id"] for r in every] == [elsewhere.run_id, second.run_id, first.run_id]
    # A run left marked running by a runner that is gone reads interrupted.
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    with sqlite3.connect(state / "state.db") as db:
        db.execute(
            "UPDATE runs SET status = 'running', pid = ? WHERE run_id = ?",
            (int(gone.stdout), first.run_id),
        )
    db.close()
    [record] = [r for r in taskexec_nb.runs(path) if r["run_id"] == first.run_id]
    assert record["status"] == "interrupted" and record["recorded_status"] == "running"
    assert record["runner_alive"] is False
    # The same records as `taskexec runs --json`.
    assert main(["runs", "--state-dir", str(state), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(json.dumps(taskexec_nb.runs(state_dir=state), default=str))


def test_the_names_import_on_first_use_and_the_functions_keep_their_names() -> None:
    code = (
        "import json, sys, taskexec_nb\n"
        "engine = [m for m in ('taskexec_nb.plan', 'taskexec_nb.parse', 'asyncio') "
        "if m in sys.modules]\n"
        "import taskexec_nb.parse, taskexec_nb.validate, taskexec_nb.report.runs\n"
        "funcs = [getattr(taskexec_nb, n).__module__ for n in ('parse', 'validate', 'report')]\n"
        "taskexec_nb.parse = len  # set by hand: kept\n"
        "print(json.dumps([engine, funcs, taskexec_nb.parse is len, 'load' in dir(taskexec_nb)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    engine, funcs, kept, listed = json.loads(done.stdout)
    assert engine == []  # nothing of the engine at import
    assert funcs == ["taskexec_nb.api", "taskexec_nb.api", "taskexec_nb.report.tables"]
    assert kept and listed


def test_the_packages_say_which_names_they_do_not_have() -> None:
    import taskexec_nb.config
    import taskexec_nb.executors

    for package in (taskexec_nb, taskexec_nb.config, taskexec_nb.executors):
        with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
            package.Nope  # noqa: B018
    assert taskexec_nb.TaskFile.__name__ == "TaskFile"
    assert taskexec_nb.Validation.__name__ == "Validation"
    assert taskexec_nb.config.CONFIG_FILE and taskexec_nb.config.Override
    assert taskexec_nb.executors.notebook_fallback and taskexec_nb.executors.TaskFunction
