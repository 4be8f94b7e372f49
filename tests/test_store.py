"""The SQLite state store: what a run records, older stores, stores this user may only read."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, suppress
from pathlib import Path

import pytest
from conftest import group_members, md
from helpers import (
    _DEAD_RUNNER,
    _write,
    write_tasks,
)

import taskexec_nb
from taskexec_nb import UsageError
from taskexec_nb.cli import main
from taskexec_nb.errors import StoreError
from taskexec_nb.events import Event, EventKind, EventRecorder, RunStatus
from taskexec_nb.report import ExecutionReport
from taskexec_nb.store import SCHEMA_VERSION, StateStore


def test_an_older_store_learns_its_allowed_failures_from_the_events(tmp_path: Path) -> None:
    path = write_tasks(
        tmp_path,
        '## Phase 1: X\n\n- [ ] T001 Flaky\n  - taskexec: run="exit 3" allow_failure=yes\n'
        '- [ ] T002 Broken\n  - taskexec: run="echo \'\\"allowed\\": true\'; exit 4"\n',
    )
    handle = taskexec_nb.load(path).run()
    db_path = tmp_path / ".taskexec" / "state.db"
    with closing(sqlite3.connect(db_path)) as db, db:
        db.execute("ALTER TABLE tasks DROP COLUMN allowed")  # as version 2 left it
    with closing(StateStore(db_path)) as store:
        allowed = {t.task_id: t.allowed for t in store.tasks(handle.run_id)}
    assert allowed == {"T001": True, "T002": False}


def test_runners_started_at_the_same_moment_run_a_task_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check for a live run and the record of the new one are one transaction: here
    # each runner lingers between the two, as a busy machine may make it.
    from taskexec_nb.run.session import RunSession

    check = RunSession._refuse_overlap

    def slow_check(self: RunSession, store: StateStore, selection: list[str]) -> None:
        check(self, store, selection)
        time.sleep(0.5)

    monkeypatch.setattr(RunSession, "_refuse_overlap", slow_check)
    text = (
        "## Phase 1: X\n\n- [ ] T001 Once\n"
        '  - taskexec: run="echo $TASKEXEC_RUN_ID >> ran.txt; sleep 2"\n'
    )
    path = write_tasks(tmp_path, text)
    outcomes: list[str] = []

    def start() -> None:
        try:
            outcomes.append(taskexec_nb.load(path).run(writeback=False).result.value)
        except UsageError as exc:
            outcomes.append("refused" if "is still running" in str(exc) else str(exc))

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len((tmp_path / "ran.txt").read_text().split()) == 1
    assert sorted(outcomes) == ["completed", "refused", "refused"]


def test_store_records_a_real_run(tmp_path: Path) -> None:
    path = _write(tmp_path)
    recorder = EventRecorder()
    handle = taskexec_nb.load(path).run(max_workers=2, observers=[recorder], kill_grace=0.5)
    db = tmp_path / ".taskexec" / "state.db"
    assert db.is_file()

    with closing(sqlite3.connect(db)) as raw:
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"meta", "runs", "tasks", "attempts", "events"} <= tables
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        assert version == (str(SCHEMA_VERSION),)

    with closing(StateStore(db)) as store:
        run = store.run(handle.run_id)
        assert run.status == "failed"
        assert run.tasks_file == str(path.resolve())
        assert run.pid == os.getpid()
        assert run.finished is not None and run.finished >= run.started

        tasks = {t.task_id: t for t in store.tasks(handle.run_id)}
        assert list(tasks) == ["T001", "T002", "T003"]
        assert {k: t.status for k, t in tasks.items()} == {
            "T001": "completed",
            "T002": "failed",
            "T003": "completed",
        }
        assert {k: t.attempt for k, t in tasks.items()} == {"T001": 1, "T002": 1, "T003": 1}
        assert {k: t.exit_code for k, t in tasks.items()} == {"T001": 0, "T002": 3, "T003": 0}
        assert tasks["T001"].tail == "hello-T001"
        assert tasks["T003"].tail == "world-T003"
        assert tasks["T002"].stderr_tail == "oops-T002"
        assert "3" in (tasks["T002"].error or "")
        for task_id, t in tasks.items():
            log = Path(t.log_path)
            assert log.is_file(), task_id
            assert t.finished >= t.started
        assert "hello-T001" in Path(tasks["T001"].log_path).read_text()
        assert "oops-T002" in Path(tasks["T002"].log_path).read_text()
        records = store.task_records(handle.run_id)
        assert records["T002"].status == "failed" and records["T002"].error == tasks["T002"].error

        attempts = store.attempts(handle.run_id)
        assert sorted((a.task_id, a.attempt, a.status, a.exit_code) for a in attempts) == [
            ("T001", 1, "completed", 0),
            ("T002", 1, "failed", 3),
            ("T003", 1, "completed", 0),
        ]
        for a in attempts:
            assert isinstance(a.pgid, int) and a.pgid > 1
            assert a.finished is not None
            assert a.log_path == tasks[a.task_id].log_path
        assert len({a.pgid for a in attempts}) == 3

        events = store.events(handle.run_id)
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert "task_output" not in {e.kind for e in events}
        assert "task_output" in recorder.kinds()  # the output happened, it is just not stored
        expected = [
            (e.kind.value, e.task_id, e.status)
            for e in recorder.events
            if e.kind is not EventKind.TASK_OUTPUT
        ]
        assert [(e.kind, e.task_id, e.status) for e in events] == expected
        assert events[0].kind == "run_started" and events[-1].kind == "run_finished"
        assert events[-1].data["counts"] == {"completed": 2, "failed": 1}
        times = [e.time for e in events]
        assert times == sorted(times)


def test_store_lists_runs_newest_first_and_names_recent_runs(tmp_path: Path) -> None:
    path = _write(tmp_path)
    first = taskexec_nb.load(path).run(max_workers=2)
    time.sleep(0.01)
    second = taskexec_nb.load(path).run(max_workers=2)  # only the failed T002 is left
    assert first.run_id != second.run_id
    with closing(StateStore(tmp_path / ".taskexec" / "state.db")) as store:
        runs = store.runs()
        assert [r.run_id for r in runs] == [second.run_id, first.run_id]
        assert runs[0].counts == {"failed": 1}
        assert runs[1].counts == {"completed": 2, "failed": 1}
        assert store.latest_run() == second.run_id
        assert store.latest_run(str(path.resolve())) == second.run_id
        assert store.runs(str(tmp_path / "other.md")) == []
        assert store.latest_run(str(tmp_path / "other.md")) is None

        with pytest.raises(StoreError) as info:
            store.run("no-such-run")
        message = str(info.value)
        assert "no-such-run" in message
        assert first.run_id in message and second.run_id in message

    # Resuming an unknown run fails the same way, before running anything.
    with pytest.raises(UsageError, match="resume: no run 'no-such-run'") as info:
        taskexec_nb.load(path).run(resume="no-such-run")
    assert second.run_id in str(info.value)
    assert (tmp_path / "effects.log").read_text().split() == ["T001", "T003"]


def test_store_on_an_empty_database_says_so(tmp_path: Path) -> None:
    with closing(StateStore(tmp_path / "state" / "state.db")) as store:
        assert store.runs() == []
        assert store.latest_run() is None
        with pytest.raises(StoreError, match="none yet"):
            store.run("x")


def test_orphans_are_attempts_of_a_dead_runner(tmp_path: Path) -> None:
    db = tmp_path / ".taskexec" / "state.db"
    out = subprocess.run(
        [sys.executable, "-c", _DEAD_RUNNER, str(db), str(tmp_path / "tasks.md")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    dead_pid, sleeper = (int(x) for x in out.split())
    try:
        assert group_members(sleeper) == [sleeper]
        with closing(StateStore(db)) as store:
            # A run of a live runner (this process) with a running attempt is no orphan.
            store.create_run(
                "live-run",
                "x.md",
                "template",
                {},
                ["T001"],
                [
                    dict(
                        task_id="T001", def_hash="h", line=1, phase="P", story=None, description="d"
                    )
                ],
            )
            store(Event(EventKind.TASK_STARTED, "live-run", "T001", 1, "running", {}))
            store.record_pgid("live-run", "T001", 1, os.getpgid(0))

            orphans = store.orphans()
            # T002 finished and T003 never got a process group: only T001 is an orphan.
            assert [(o.run_id, o.task_id, o.attempt, o.pgid, o.pid) for o in orphans] == [
                ("dead-run", "T001", 1, sleeper, dead_pid)
            ]
            store.close_orphan("dead-run", "T001", 1)
            store.mark_interrupted("dead-run")
            assert store.orphans() == []
            assert store.run("dead-run").status == "interrupted"
            attempt = next(a for a in store.attempts("dead-run") if a.task_id == "T001")
            assert attempt.status == "cancelled" and attempt.finished is not None
            assert store.run("live-run").status == "running"
    finally:
        with suppress(ProcessLookupError):
            os.killpg(sleeper, signal.SIGKILL)


def test_a_store_from_schema_1_gains_the_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    raw = sqlite3.connect(db)
    raw.executescript(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
        "INSERT INTO meta VALUES ('schema_version', '1');"
        "CREATE TABLE tasks (run_id TEXT NOT NULL, task_id TEXT NOT NULL, def_hash TEXT,"
        " status TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 0, started REAL, finished REAL,"
        " exit_code INTEGER, signal INTEGER, error TEXT, waiting_on TEXT, tail TEXT,"
        " stderr_tail TEXT, log_path TEXT, line INTEGER, phase TEXT, story TEXT,"
        " description TEXT, PRIMARY KEY (run_id, task_id));"
        "INSERT INTO tasks (run_id, task_id, status) VALUES ('old', 'T001', 'completed');"
    )
    raw.commit()
    raw.close()
    store = StateStore(db)
    try:
        rows = store.tasks("old")
        assert rows[0].deps is None and rows[0].status == "completed"
    finally:
        store.close()
    raw = sqlite3.connect(db)
    version = raw.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    raw.close()
    assert version == (str(SCHEMA_VERSION),)


CHAINS = md(
    """\
    # Tasks

    ## Phase 1: Chains

    - [ ] T001 [P] First a
      - taskexec: run="true"
    - [ ] T002 [P] First b
      - taskexec: run="true"
    - [ ] T003 [P] First c
      - taskexec: run="true"
    - [ ] T004 [P] Second a (depends on T001, T002)
      - taskexec: run="true"
    - [ ] T005 [P] Second b (depends on T002, T003)
      - taskexec: run="true"
    - [ ] T006 [P] Third (depends on T004, T005)
      - taskexec: run="true"
    - [ ] T007 [P] Alone
      - taskexec: run="true"
    """
)


def _saved_statuses(db: Path) -> dict[str, str]:
    """Task statuses as another process sees them (committed rows only)."""
    with closing(sqlite3.connect(db)) as raw:
        return dict(raw.execute("SELECT task_id, status FROM tasks").fetchall())


def test_a_task_starts_only_after_its_prerequisites_finishes_are_saved(tmp_path: Path) -> None:
    path = _write(tmp_path, CHAINS)
    plan = taskexec_nb.load(path)
    db = tmp_path / ".taskexec" / "state.db"
    seen: dict[str, dict[str, str]] = {}

    def at_start(event: Event) -> None:
        if event.kind is EventKind.TASK_STARTED and event.task_id:
            seen[event.task_id] = _saved_statuses(db)

    handle = plan.run(max_workers=2, writeback=False, observers=[at_start])
    assert handle.result is RunStatus.COMPLETED
    assert set(seen) == {f"T00{i}" for i in range(1, 8)}
    for task_id, saved in seen.items():
        for dep in plan.depends_on(task_id):
            assert saved[dep] == "completed", (task_id, dep, saved)


def test_a_finish_is_saved_within_the_save_delay_while_the_run_goes_on(tmp_path: Path) -> None:
    from taskexec_nb.store import SAVE_DELAY

    path = _write(
        tmp_path,
        md(
            """\
            # Tasks

            - [ ] T001 [P] Quick
              - taskexec: run="true"
            - [ ] T002 [P] Slow
              - taskexec: run="sleep 30"
            """
        ),
    )
    db = tmp_path / ".taskexec" / "state.db"

    async def scenario() -> tuple[str, RunStatus]:
        finished = asyncio.Event()

        def on_event(event: Event) -> None:
            if event.kind is EventKind.TASK_FINISHED and event.task_id == "T001":
                finished.set()

        handle = await taskexec_nb.load(path).arun(
            max_workers=2, writeback=False, observers=[on_event]
        )
        await asyncio.wait_for(finished.wait(), 10)
        deadline = time.monotonic() + SAVE_DELAY + 2.0
        status = _saved_statuses(db).get("T001", "")
        while status != "completed" and time.monotonic() < deadline:
            await asyncio.sleep(SAVE_DELAY / 5)
            status = _saved_statuses(db).get("T001", "")
        running = _saved_statuses(db).get("T002", "")
        handle.cancel()
        return f"{status}/{running}", await handle.wait()

    seen, final = asyncio.run(scenario())
    assert seen == "completed/running"  # saved while T002 still runs: no commit waited for it
    assert final is RunStatus.CANCELLED


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
    # Not measured: that user may not write our coverage data files.
    env = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"}
    return {**env, "PYTHONPATH": root, "HOME": "/tmp", "COVERAGE_PROCESS_START": ""}


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
        assert [t.status for t in store.tasks(run.run_id)] == ["completed", "completed"]
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
        assert store.runs()[0].counts == {"completed": 1}
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


def test_the_store_writes_text_with_lone_surrogates_as_replacement_characters(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state.db")
    store.create_run("r1", str(tmp_path / "tasks.md"), "template", {}, [], [])
    bad = os.fsdecode(b"\xff")
    store(Event(EventKind.TASK_QUEUED, "r1", task_id=f"T{bad}", data={"waiting_on": bad}))
    store.commit()
    assert [e.task_id for e in store.events("r1")][-1] == "T\ufffd"
    store.close()


def test_the_readers_records_read_as_the_tables_rows(tmp_path: Path) -> None:
    from taskexec_nb.store import OrphanRecord, as_gone

    path = write_tasks(
        tmp_path,
        '- [ ] T001 One\n  - taskexec: run="echo hi"\n- [ ] T002 Two\n  - taskexec: run=true\n',
    )
    handle = taskexec_nb.load(path).run()
    db_path = tmp_path / ".taskexec" / "state.db"
    with closing(sqlite3.connect(db_path)) as db:
        db.row_factory = sqlite3.Row
        raw = {
            table: [dict(r) for r in db.execute(f"SELECT * FROM {table} ORDER BY rowid")]
            for table in ("runs", "tasks", "attempts", "events")
        }
    with closing(StateStore(db_path, readonly=True)) as store:
        run, tasks = store.run(handle.run_id), store.tasks(handle.run_id)
        attempts, events = store.attempts(handle.run_id), store.events(handle.run_id)
        (listed,) = store.runs()
    # Same keys in the same order as the columns, the same values (booleans and JSON decoded).
    assert [list(run.as_dict().items())] == [list(r.items()) for r in raw["runs"]]
    assert list(listed.as_dict()) == [*raw["runs"][0], "counts"]
    assert listed.counts == {"completed": 2}
    for table, records in (("tasks", tasks), ("attempts", attempts)):
        assert [list(r.as_dict()) for r in records] == [list(r) for r in raw[table]]
    assert [t.as_dict()["allowed"] for t in tasks] == [False, False]
    assert [e.as_dict() for e in events] == [
        {**r, "data": json.loads(r["data"]) if r["data"] else {}} for r in raw["events"]
    ]
    # A record is frozen; as_gone gives a new one with the recorded status kept apart.
    with pytest.raises(AttributeError):
        tasks[0].status = "running"  # type: ignore[misc]
    running = as_gone(dataclasses.replace(tasks[0], status="running"))
    assert (running.status, running.recorded_status) == ("interrupted", "running")
    assert list(running.as_dict())[-2:] == ["ticked", "recorded_status"]
    assert as_gone(tasks[0]) is tasks[0] and "recorded_status" not in tasks[0].as_dict()
    orphan = OrphanRecord("r", "T001", 1, 42, 7, "host", None)
    assert list(orphan.as_dict()) == [
        "run_id",
        "task_id",
        "attempt",
        "pgid",
        "pid",
        "host",
        "runner",
    ]
