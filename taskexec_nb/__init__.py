"""taskexec_nb: run a spec-kit tasks.md for real, from Jupyter, a terminal or a batch job.

The public API is small::

    import taskexec_nb
    plan = taskexec_nb.load("tasks.md")      # parse + validate + plan
    plan.to_frame()                          # one row per task
    plan.waves, plan.critical_path()
    handle = plan.run()                      # a RunHandle: status(), wait(), report()
    taskexec_nb.runs("tasks.md")             # past runs, newest first
    taskexec_nb.report()                     # an ExecutionReport of the latest run

``import taskexec_nb`` loads no heavy library (pandas, plotly, pyarrow): the
report side imports pandas when a table is first asked for. ``taskexec_nb.report``
is the :func:`~taskexec_nb.report.tables.report` function; the package of that
name is imported by its full name (``from taskexec_nb.report import ...``).
The engine's ready-task tracker is reached through :meth:`ExecutionPlan.tracker`
(``taskexec_nb.tracker``), not exported here: it is the scheduler's protocol
(``start``/``done``), not something a notebook drives.
"""

from typing import Any

from taskexec_nb.api import load, loads, parse, validate
from taskexec_nb.errors import (
    AgentNotConfiguredError,
    AnnotationError,
    ConfigError,
    KernelNotFoundError,
    NotebookError,
    ReportError,
    ResourceError,
    ResourceShortfall,
    ResumeError,
    ResumeRunningError,
    RunFailedError,
    RunInProgressError,
    StoreError,
    TaskexecError,
    UsageError,
    ValidationError,
)
from taskexec_nb.events import RunStatus, TaskStatus
from taskexec_nb.model import (
    Action,
    ActionKind,
    DependencyMode,
    Diagnostic,
    ExecParams,
    Phase,
    Severity,
    Task,
    TaskForm,
    TaskState,
)
from taskexec_nb.parse import TaskFile
from taskexec_nb.plan import ExecutionPlan
from taskexec_nb.report.runs import runs
from taskexec_nb.report.tables import ExecutionReport, report
from taskexec_nb.run.handle import RunHandle
from taskexec_nb.settings import RunSettings
from taskexec_nb.validate import Validation

__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext taskexec_nb``: register the magics (``%load_tasks``, ``%run_tasks``...).

    IPython is imported here, on first use, not by ``import taskexec_nb``.

    Args:
        ipython: The IPython shell.
    """
    from taskexec_nb.jupyter import magics

    magics.load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext taskexec_nb``: remove the magics again.

    Args:
        ipython: The IPython shell.
    """
    from taskexec_nb.jupyter import magics

    magics.unload(ipython)


__all__ = [
    "Action",
    "ActionKind",
    "AgentNotConfiguredError",
    "AnnotationError",
    "ConfigError",
    "DependencyMode",
    "Diagnostic",
    "ExecParams",
    "ExecutionPlan",
    "ExecutionReport",
    "KernelNotFoundError",
    "NotebookError",
    "Phase",
    "ReportError",
    "ResourceError",
    "ResourceShortfall",
    "ResumeError",
    "ResumeRunningError",
    "RunFailedError",
    "RunHandle",
    "RunInProgressError",
    "RunSettings",
    "RunStatus",
    "Severity",
    "StoreError",
    "Task",
    "TaskFile",
    "TaskForm",
    "TaskState",
    "TaskStatus",
    "TaskexecError",
    "UsageError",
    "Validation",
    "ValidationError",
    "__version__",
    "load",
    "load_ipython_extension",
    "loads",
    "parse",
    "report",
    "runs",
    "unload_ipython_extension",
    "validate",
]
