"""A state store this user may only read, or cannot have: clear messages, nothing written.

``status``, ``runs`` and reports open the store read-only; a run names the
folder it cannot write, or the file that stands where its folder should be.
Where the tests run as root, a second user is played by dropping to
``nobody`` with ``setpriv`` (root may write anywhere).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import md

import taskexec_nb
from taskexec_nb.cli import main
from taskexec_nb.errors import StoreError
from taskexec_nb.report import ExecutionReport
from taskexec_nb.store import StateStore

TASKS = md(
    """\
    ## Phase 1: X

    - [ ] T001 First
      - taskexec: run="echo one"
    - [ ] T002 Second
      - taskexec: run="echo two"
    """
)


def _as_other_user() -> list[str]:
    """The argv prefix that runs a command as a user who may not write our files."""
    if os.geteuid() != 0:
        return []  # permissions already apply to us
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no other user to play")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import taskexec_nb"],
        capture_output=True,
        env=_env(),
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"user nobody cannot run this Python: {probe.stderr.decode()[-200:]}")
    return prefix


def _env() -> dict[str, str]:
    root = str(Path(taskexec_nb.__file__).resolve().parent.parent)
    return {**os.environ, "PYTHONPATH": root, "HOME": "/tmp", "COVERAGE_PROCESS_START": ""}


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder everyone may read (pytest's own tmp_path is private to its user)."""
    folder = Path(tempfile.mkdtemp(prefix="taskexec-shared-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _lock_down(folder: Path) -> None:
    """Everything readable, nothing writable, for anyone but the owner."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cli(prefix: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "taskexec_nb.cli", *args],
        capture_output=True,
        text=True,
        env=_env(),
        check=False,
    )


def test_status_runs_and_reports_read_a_store_this_user_may_not_write(shared: Path) -> None:
    path = shared / "tasks.md"
    path.write_text(TASKS)
    (shared / ".git").mkdir()
    run = taskexec_nb.load(path).run()
    assert run.result is not None and run.result.value == "completed"
    state = shared / ".taskexec"
    _lock_down(shared)
    before = _digest(state)
    other = _as_other_user()

    status = _cli(other, "status", "--state-dir", str(state))
    assert status.returncode == 0, status.stderr
    assert f"run {run.run_id}: completed" in status.stdout
    assert "T002     completed" in status.stdout
    runs = _cli(other, "runs", "--state-dir", str(state))
    assert runs.returncode == 0, runs.stderr
    assert "2 completed" in runs.stdout
    report = _cli(other, "report", "--format", "md", "--tasks", str(path))
    assert report.returncode == 0, report.stderr
    assert f"# Run {run.run_id}: completed" in report.stdout
    assert _digest(state) == before  # not a byte written, no -wal or -shm left


def test_a_run_in_a_folder_this_user_may_not_write_names_it(shared: Path) -> None:
    path = shared / "tasks.md"
    path.write_text(TASKS)
    (shared / ".git").mkdir()
    (shared / ".taskexec").mkdir()
    _lock_down(shared)
    path.chmod(0o666)  # the file may be ticked: only the state folder is closed
    result = _cli(_as_other_user(), "run", str(path))
    assert result.returncode == 2
    assert (
        f"{shared / '.taskexec' / 'state.db'}: cannot open the state store: permission "
        f"denied: this user may not write in {shared / '.taskexec'}"
    ) in result.stderr
    assert "Traceback" not in result.stderr
    assert "[ ] T001" in path.read_text()  # nothing ran


def test_a_file_where_the_state_folder_should_be_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TASKS)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".taskexec").write_text("not a folder")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / '.taskexec'} is a file, not a folder (the state_dir must be a folder)"
    ) in err
    assert "Errno" not in err
    assert (tmp_path / ".taskexec").read_text() == "not a folder"


def test_a_store_whose_shared_memory_file_cannot_be_made_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "tasks.md"
    path.write_text(TASKS)
    (tmp_path / ".git").mkdir()
    run = taskexec_nb.load(path).run()
    db = tmp_path / ".taskexec" / "state.db"
    (tmp_path / ".taskexec" / "state.db-shm").mkdir()  # SQLite cannot make its -shm file
    with pytest.raises(StoreError, match="cannot open the state store"):
        StateStore(db)  # a writer needs it
    store = StateStore(db, readonly=True)
    try:
        assert store.latest_run() == run.run_id
        assert [t["status"] for t in store.tasks(run.run_id)] == ["completed", "completed"]
    finally:
        store.close()
    report = ExecutionReport.load(tmp_path / ".taskexec")
    assert list(report.tasks["status"]) == ["completed", "completed"]
    assert len(report.events) > 0


def test_a_read_of_an_older_store_upgrades_it_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    raw = sqlite3.connect(db)
    raw.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES ('schema_version', '3');"
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, tasks_file TEXT NOT NULL, mode TEXT,"
        " status TEXT NOT NULL, started REAL, finished REAL, pid INTEGER, host TEXT,"
        " settings TEXT, selection TEXT, runner TEXT, elapsed REAL, resumed REAL);"
        "CREATE TABLE tasks (run_id TEXT NOT NULL, task_id TEXT NOT NULL, def_hash TEXT,"
        " status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, started REAL,"
        " finished REAL, exit_code INTEGER, signal INTEGER, error TEXT, waiting_on TEXT,"
        " tail TEXT, stderr_tail TEXT, log_path TEXT, line INTEGER, phase TEXT, story TEXT,"
        " description TEXT, deps TEXT, allowed INTEGER, PRIMARY KEY (run_id, task_id));"
        "INSERT INTO runs (run_id, tasks_file, status) VALUES ('old', '/x/tasks.md', 'failed');"
        "INSERT INTO tasks (run_id, task_id, status) VALUES ('old', 'T001', 'completed');"
    )
    raw.commit()
    raw.close()
    store = StateStore(db, readonly=True)
    try:
        assert store.task_records("old")["T001"].ticked is False
        assert store.runs()[0]["counts"] == {"completed": 1}
    finally:
        store.close()
    with pytest.raises(StoreError, match="does not exist"):
        StateStore(tmp_path / "missing.db", readonly=True)


def test_opening_waits_for_a_writer_that_sqlite_would_not_wait_for(tmp_path: Path) -> None:
    # Another connection is in the middle of a write to a store still in rollback mode
    # (a runner creating it this moment): switching to WAL needs that write to end, and
    # SQLite says "locked" at once instead of using the busy timeout.
    import threading
    import time

    path = tmp_path / "state.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE scratch (a)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO scratch VALUES (1)")
    timer = threading.Timer(0.3, other.execute, ("COMMIT",))
    timer.start()
    started = time.monotonic()
    try:
        store = StateStore(path)
        waited = time.monotonic() - started
        store.close()
    finally:
        timer.join()
        other.close()
    assert waited >= 0.25  # it did wait for the other write, and then opened
    store = StateStore(path, readonly=True)
    try:
        assert store.runs() == []
    finally:
        store.close()
