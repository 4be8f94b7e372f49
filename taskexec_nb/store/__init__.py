"""The embedded state store: runs, tasks, attempts and events in one SQLite file (WAL).

* :mod:`~taskexec_nb.store.db`: :class:`StateStore`: commits, locking, the run
  rows, the readers;
* :mod:`~taskexec_nb.store.schema`: the schema, and opening a store: created,
  upgraded from an older version, or only read, with busy retries;
* :mod:`~taskexec_nb.store.recorder`: the observer part: events turned into
  buffered writes, committed together;
* :mod:`~taskexec_nb.store.records`: what the readers return, and how a stored
  status reads.

Whether a run's recorded runner still runs is :mod:`taskexec_nb._procfs`'s.
"""

from taskexec_nb.store.db import SAVE_DELAY, SCHEMA_VERSION, StateStore
from taskexec_nb.store.records import (
    GONE_STATUS,
    AttemptRecord,
    EventRecord,
    OrphanRecord,
    RunRecord,
    TaskRecord,
    as_gone,
    shown_status,
)

__all__ = [
    "GONE_STATUS",
    "SAVE_DELAY",
    "SCHEMA_VERSION",
    "AttemptRecord",
    "EventRecord",
    "OrphanRecord",
    "RunRecord",
    "StateStore",
    "TaskRecord",
    "as_gone",
    "shown_status",
]
