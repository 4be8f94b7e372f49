"""Live runs of each tasks.md on this machine, whatever state folder they record in.

A run's state store knows the runs recorded in it; two runs of one tasks.md with
different state folders (``--state-dir``) do not see each other there. So each
run also registers here, in a per-user folder keyed by the tasks.md's real path
(``$XDG_RUNTIME_DIR/taskexec``, else ``taskexec-UID`` in the temporary folder),
with its runner's identity (see :func:`~taskexec_nb._procfs.runner_alive`), its
state folder and its selected tasks. A start whose tasks overlap those of a live
run of the same file is refused; disjoint selections may run side by side. An
entry of a runner that is gone is dropped when found. Reading and writing the
entries is serialised by a lock file, so two starts at the same moment cannot
both find the tasks free. A start also reads the folders this user's runs
use in another environment (the temporary folder's without
``XDG_RUNTIME_DIR``, ``/run/user/UID`` with it). A tasks.md with other hard links is one file under
each of its names: a start also looks at the live runs registered under another
path that is the same file now (:func:`os.path.samefile`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from taskexec_nb._procfs import process_identity, runner_alive
from taskexec_nb._sha import sha256_hex
from taskexec_nb.errors import RunInProgressError

Entry = dict[str, Any]
"""One live run: ``run_id``, ``tasks_file``, ``state_dir``, ``selection``, ``pid``,
``host``, ``runner`` (the process identity) and ``started``."""


def runtime_dir() -> Path:
    """The per-user folder of live runs, created (mode 0700) if missing.

    Returns:
        ``$XDG_RUNTIME_DIR/taskexec`` when that variable names a folder, else
        ``taskexec-UID`` in the temporary folder.

    Raises:
        OSError: If no such folder can be made, or the one there is not a folder
            of this user's that only they may write (another user could fake runs).
    """
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and os.path.isdir(xdg):
        folder = Path(xdg) / "taskexec"
    else:
        folder = Path(tempfile.gettempdir()) / f"taskexec-{os.geteuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    if not _yours(folder):
        raise OSError(f"{folder} is not a folder of yours that only you may write")
    return folder


def _yours(folder: Path) -> bool:
    """Whether ``folder`` is a folder of this user's that only they may write."""
    try:
        info = folder.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


def _other_folders(primary: Path) -> list[Path]:
    """The registry folders this user's runs in another environment use, that exist.

    A run started where ``XDG_RUNTIME_DIR`` is not set (cron, a container's
    shell) registers in the temporary folder; one started in a login session, in
    ``/run/user/UID``. Each start reads both (and ``/tmp``'s), so neither misses
    the other; it registers only in its own.
    """
    uid = os.geteuid()
    candidates = [
        Path(tempfile.gettempdir()) / f"taskexec-{uid}",
        Path("/tmp") / f"taskexec-{uid}",  # the default temporary folder
        Path("/run/user") / str(uid) / "taskexec",
    ]
    others: list[Path] = []
    for folder in candidates:
        if folder != primary and folder not in others and _yours(folder):
            others.append(folder)
    return others


def _elsewhere(primary: Path, tasks_file: str) -> list[Entry]:
    """Runs of the file registered in :func:`_other_folders` (read without their lock)."""
    found: list[Entry] = []
    for folder in _other_folders(primary):
        own = _entries_file(folder, tasks_file)
        found += _read(own) + _linked_entries(folder, tasks_file, own)
    return found


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the registry's lock (one for all files: it is held for milliseconds)."""
    fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _entries_file(folder: Path, tasks_file: str) -> Path:
    key = sha256_hex(os.fsencode(tasks_file))[:32]
    return folder / f"{key}.json"


def _read(path: Path) -> list[Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []  # a torn or foreign file: its runs cannot be told, start afresh
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else []


def _write(path: Path, entries: list[Entry]) -> None:
    if not entries:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(entries, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _linked_entries(folder: Path, tasks_file: str, own: Path) -> list[Entry]:
    """Entries registered under another path that is now the same file (a hard link)."""
    found: list[Entry] = []
    for path in sorted(folder.glob("*.json")):
        if path == own:
            continue
        for entry in _read(path):
            other = entry.get("tasks_file")
            if not isinstance(other, str) or other == tasks_file:
                continue
            with contextlib.suppress(OSError):
                if os.path.samefile(other, tasks_file):
                    found.append(entry)
    return found


def _live(entries: list[Entry], stale: Callable[[Mapping[str, Any]], bool]) -> list[Entry]:
    """The entries whose runner still runs on this machine (the registry is per machine)."""
    return [e for e in entries if runner_alive(e) is True and not stale(e)]


def _refuse(entries: Sequence[Entry], run_id: str, selection: Sequence[str]) -> None:
    for entry in entries:
        if entry.get("run_id") == run_id:
            continue  # the run itself, being resumed: checked on its own
        theirs = set(entry.get("selection") or ())
        shared = [t for t in selection if t in theirs]
        if shared:
            more = f" and {len(shared) - 3} more" if len(shared) > 3 else ""
            raise RunInProgressError(
                f"run {entry['run_id']} of {entry['tasks_file']} is still running (runner pid "
                f"{entry['pid']}, state folder {entry['state_dir']}) and also runs "
                f"{', '.join(shared[:3])}{more}: a second run would run them twice. Wait "
                "for it to end or stop it, or select other tasks (--only / only=)",
                run_id=str(entry["run_id"]),
                pid=entry.get("pid"),
                host=entry.get("host"),
                tasks_file=entry.get("tasks_file"),
                state_dir=entry.get("state_dir"),
                tasks=shared,
            )


def check(
    tasks_file: str,
    run_id: str,
    selection: Sequence[str],
    stale: Callable[[Mapping[str, Any]], bool] = lambda entry: False,
) -> None:
    """Refuse a run whose tasks a live run of the same file runs, registering nothing.

    The same file is its real path, or another name of it (a hard link).

    Args:
        tasks_file: The tasks.md's real path.
        run_id: The run (its own entry, when resumed, is no obstacle).
        selection: Its task IDs.
        stale: Tells entries of runs the caller knows are over (e.g. its own).

    Raises:
        RunInProgressError: Naming the other run, its state folder, pid and the shared
            tasks (a :class:`~taskexec_nb.errors.UsageError`).
        OSError: If the registry folder cannot be used.
    """
    folder = runtime_dir()
    own = _entries_file(folder, tasks_file)
    with _locked(folder):
        entries = _read(own) + _linked_entries(folder, tasks_file, own)
        entries += _elsewhere(folder, tasks_file)
        _refuse(_live(entries, stale), run_id, selection)


def register(
    tasks_file: str,
    run_id: str,
    selection: Sequence[str],
    state_dir: str | Path,
    stale: Callable[[Mapping[str, Any]], bool] = lambda entry: False,
) -> Path:
    """Register a starting run, unless a live run of the same file runs any of its tasks.

    The same file is its real path, or another name of it (a hard link). Entries of
    runners that are gone are dropped on the way.

    Args:
        tasks_file: The tasks.md's real path.
        run_id: The run.
        selection: Its task IDs.
        state_dir: Its state folder (named to whoever it keeps from starting).
        stale: Tells entries of runs the caller knows are over (e.g. its own).

    Returns:
        The registry file, for :func:`unregister`.

    Raises:
        RunInProgressError: Naming the other run, its state folder, pid and the shared tasks.
        OSError: If the registry folder cannot be used.
    """
    folder = runtime_dir()
    path = _entries_file(folder, tasks_file)
    with _locked(folder):
        entries = _live(_read(path), stale)
        linked = _linked_entries(folder, tasks_file, path) + _elsewhere(folder, tasks_file)
        linked = _live(linked, stale)
        _refuse(entries + linked, run_id, selection)
        entries = [e for e in entries if e.get("run_id") != run_id]
        entries.append(
            {
                "run_id": run_id,
                "tasks_file": tasks_file,
                "state_dir": str(state_dir),
                "selection": list(selection),
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "runner": process_identity(os.getpid()),
                "started": time.time(),
            }
        )
        _write(path, entries)
    return path


def unregister(path: Path, run_id: str) -> None:
    """Remove a run's entry (the file goes when it was the last).

    Args:
        path: What :func:`register` returned.
        run_id: The run.
    """
    with contextlib.suppress(OSError), _locked(path.parent):
        _write(path, [e for e in _read(path) if e.get("run_id") != run_id])
