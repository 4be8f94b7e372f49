"""What the commands that read the state store share: ``--state-dir``, the tasks.md, the store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskexec_nb.errors import UsageError
from taskexec_nb.report.runs import state_dir_default

if TYPE_CHECKING:
    from taskexec_nb.store import StateStore


def add_state_dir(parser: Any) -> None:
    """Add the ``--state-dir`` option of the commands that read the state store.

    Args:
        parser: The command's parser.
    """
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        help="state store folder (default: the configured one, else .taskexec)",
    )


def tasks_file_here(given: str | None = None) -> Path | None:
    """The tasks.md whose runs ``status``, ``runs`` and ``report`` look at.

    Args:
        given: The file named on the command line (``--tasks``), if any.

    Returns:
        That file, else ``./tasks.md`` when there is one, else None. A link is
        followed as a run follows it: its store is beside the file it points to.

    Raises:
        UsageError: If ``given`` is a folder, or not a file.
    """
    tasks = Path(given) if given else Path("tasks.md")
    if given and tasks.is_dir():
        raise UsageError(f"{given}: is a folder; give the tasks.md file in it")
    if given and not tasks.is_file():
        raise UsageError(f"{given}: no such file")
    return tasks if tasks.is_file() else None


def run_or_tasks(run: str | None, tasks: str | None = None) -> tuple[str | None, Path | None]:
    """Read ``status``/``report``'s RUN argument, which may name a tasks.md instead.

    Run IDs have no slash and no ``.md`` suffix, so a RUN that is a file or a
    folder, or looks like a path, is the tasks.md whose latest run is meant.

    Args:
        run: The RUN argument, if given.
        tasks: ``--tasks``, if the command has it and it was given.

    Returns:
        ``(run ID or None, tasks.md or None)``, the tasks.md as
        :func:`tasks_file_here` finds it.

    Raises:
        UsageError: If the file named does not exist or is a folder, or both a
            file and ``--tasks`` are given.
    """
    if run and (Path(run).exists() or run.endswith(".md") or "/" in run):
        if tasks:
            raise UsageError(f"{run}: give a run ID, or the tasks.md once (not with --tasks)")
        return None, tasks_file_here(run)
    return run, tasks_file_here(tasks)


def open_store(state_dir: str | None, tasks_file: Path | None = None) -> StateStore:
    """The state store, read-only.

    Args:
        state_dir: The state folder (None: :func:`~taskexec_nb.report.runs.state_dir_default`).
        tasks_file: The tasks.md whose folder the default is found from.

    Returns:
        The store (a :class:`~taskexec_nb.store.StateStore`).

    Raises:
        UsageError: If there is no store there.
    """
    from taskexec_nb.store import StateStore

    if state_dir is None:
        state_dir = state_dir_default(tasks_file)
    path = Path(state_dir) / "state.db"
    if not path.exists():
        raise UsageError(f"no state store at {path} (run a tasks.md first, or pass --state-dir)")
    return StateStore(path, readonly=True)


def pick_run(store: StateStore, run_id: str | None, tasks_file: Path | None = None) -> str:
    """The run asked for, else the latest of ``tasks_file`` (as ``report`` picks it).

    Args:
        store: The state store.
        run_id: The run given on the command line, if any.
        tasks_file: The tasks.md whose latest run to take (None: the latest in the store).

    Returns:
        The run's ID.

    Raises:
        UsageError: If the store has no such runs.
    """
    if run_id:
        return run_id
    chosen = store.latest_run(str(tasks_file.resolve()) if tasks_file else None)
    if chosen is None:
        where = f" of {tasks_file}" if tasks_file else ""
        raise UsageError(f"no runs{where} in {store.path}")
    return str(chosen)
