"""The state store's schema, and opening it: created, upgraded or only read.

:func:`connect` opens ``state.db`` for :class:`~taskexec_nb.store.db.StateStore`:
a writable open creates the file and its folder, sets WAL mode and adds the
columns later versions added, waiting out other runners opening it at the same
moment; a read-only open writes nothing (a store in a folder this user may not
write can still be read). A failed open says what to change.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from taskexec_nb.errors import StoreError

SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, tasks_file TEXT NOT NULL, mode TEXT, status TEXT NOT NULL,
    started REAL, finished REAL, pid INTEGER, host TEXT, settings TEXT, selection TEXT,
    runner TEXT, elapsed REAL, resumed REAL
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id TEXT NOT NULL, task_id TEXT NOT NULL, def_hash TEXT, status TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0, started REAL, finished REAL, exit_code INTEGER,
    signal INTEGER, error TEXT, waiting_on TEXT, tail TEXT, stderr_tail TEXT, log_path TEXT,
    line INTEGER, phase TEXT, story TEXT, description TEXT, deps TEXT, allowed INTEGER,
    ticked INTEGER,
    PRIMARY KEY (run_id, task_id)
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL, task_id TEXT NOT NULL, attempt INTEGER NOT NULL, status TEXT NOT NULL,
    started REAL, finished REAL, exit_code INTEGER, signal INTEGER, error TEXT, log_path TEXT,
    pgid INTEGER, tail TEXT, stderr_tail TEXT, artifacts TEXT,
    PRIMARY KEY (run_id, task_id, attempt)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, time REAL NOT NULL,
    kind TEXT NOT NULL, task_id TEXT, attempt INTEGER, status TEXT, data TEXT
);
CREATE INDEX IF NOT EXISTS events_run ON events (run_id, seq);
"""
# Failures under allow_failure recorded before the column: their last finish event says so.
_ALLOWED_FROM_EVENTS = (
    "UPDATE tasks SET allowed = 1 WHERE status IN ('failed', 'timed_out') AND (SELECT CASE"
    " WHEN json_valid(e.data) THEN json_extract(e.data, '$.allowed') END FROM events e"
    " WHERE e.run_id = tasks.run_id AND e.task_id = tasks.task_id AND e.kind = 'task_finished'"
    " ORDER BY e.seq DESC LIMIT 1) = 1"
)
# Columns added since version 1, with their types (added to an older store on open).
_ADDED_COLUMNS = {
    "tasks": {"deps": "TEXT", "allowed": "INTEGER", "ticked": "INTEGER"},
    "runs": {"runner": "TEXT", "elapsed": "REAL", "resumed": "REAL"},
}

BUSY_SECONDS = 30.0
"""How long a connection waits for another one's write to end."""


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """Open the store at ``path``: read-only if asked and possible, else writable.

    A read-only open of a store written by an older version opens it writable
    once, to upgrade it.

    Args:
        path: The database file (created with its folder by a writable open).
        readonly: Write nothing when the store is already of this version.

    Returns:
        The connection (usable from any thread).

    Raises:
        StoreError: If the store cannot be opened, naming the file and why.
    """
    upgrade = ""
    try:
        if readonly:
            db = _open_readonly(path)
            if db is not None:
                return db
            upgrade = " (written by an older taskexec, it is upgraded on first open)"
        return _open_writable(path)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(
            f"{path}: cannot open the state store: {_why(path, exc)}{upgrade}"
        ) from None


def _open_writable(path: Path) -> sqlite3.Connection:
    """Open (creating or upgrading) the store, waiting out other openers.

    SQLite's busy timeout does not cover every wait: a connection that must
    turn its read lock into a write lock while another does the same (two
    runners creating one store at the same moment) is told "locked" at
    once. Such an open is tried again, for as long as the busy timeout.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + BUSY_SECONDS
    pause = 0.005
    while True:
        db = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_SECONDS)
        try:
            _prepare(db)
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _prepare(db: sqlite3.Connection) -> None:
    """WAL mode, the schema, and the columns later versions added."""
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(_SCHEMA)
    for table, columns in _ADDED_COLUMNS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns.items():
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
                if (table, name) == ("tasks", "allowed"):
                    db.execute(_ALLOWED_FROM_EVENTS)
    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    db.commit()


def _open_readonly(path: Path) -> sqlite3.Connection | None:
    """Open without writing; None if the store is older and must be upgraded first."""
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise FileNotFoundError(f"{path} {what}")
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, check_same_thread=False, timeout=BUSY_SECONDS
        )
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:
        # A WAL store whose folder we may not write (no -shm file can be made): read it
        # as a file that does not change; a runner writing it meanwhile is not seen.
        db = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False)
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if version is None or int(version[0]) < SCHEMA_VERSION:
        db.close()
        return None  # older columns: upgraded by a writable open (or an error saying so)
    return db


def _why(path: Path, exc: BaseException) -> str:
    """Why the store cannot be opened, in words that say what to change."""
    folder = path.parent
    if isinstance(exc, FileExistsError) or (folder.exists() and not folder.is_dir()):
        return f"{folder} is a file, not a folder (the state_dir must be a folder)"
    if isinstance(exc, PermissionError) or (
        folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK)
    ):
        return f"permission denied: this user may not write in {folder} ({exc})"
    if path.exists() and not os.access(path, os.W_OK):
        return f"permission denied: this user may not write {path} ({exc})"
    return str(exc)
