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

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


_FROM_MODEL = (
    "Action",
    "ActionKind",
    "DependencyMode",
    "Diagnostic",
    "ExecParams",
    "Phase",
    "Severity",
    "Task",
    "TaskForm",
    "TaskState",
)


def __getattr__(name: str) -> Any:
    """The exported names, each imported from its module on first use.

    Every ``taskexec`` command starts by importing this package; importing the
    engine, the store and asyncio here would cost the commands that do not need them.

    Args:
        name: The attribute.

    Returns:
        Its value (kept in the package's namespace after the first use).

    Raises:
        AttributeError: If the package exports no such name.
    """
    module: types.ModuleType
    if name == "TaskFile":  # the package's ``parse`` is the function, not this module
        from taskexec_nb.parse import TaskFile

        globals()[name] = TaskFile
        return TaskFile
    if name == "Validation":
        from taskexec_nb.validate import Validation

        globals()[name] = Validation
        return Validation
    if name == "load" or name == "loads":
        from taskexec_nb import api as module
    elif name in ("RunStatus", "TaskStatus"):
        from taskexec_nb import events as module
    elif name == "ExecutionPlan":
        from taskexec_nb import plan as module
    elif name == "runs":
        from taskexec_nb.report import runs as module
    elif name == "ExecutionReport":
        from taskexec_nb.report import tables as module
    elif name == "RunHandle":
        from taskexec_nb.run import handle as module
    elif name == "RunSettings":
        from taskexec_nb import settings as module
    elif name in _FROM_MODEL:
        from taskexec_nb import model as module
    elif name in __all__ and name.endswith(("Error", "Shortfall")):
        from taskexec_nb import errors as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's names, the ones imported on first use included.

    Returns:
        The names, sorted.
    """
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """This package's module type: ``parse``, ``validate`` and ``report`` stay the functions.

    Each shares its name with a module of the package (``taskexec_nb/parse.py``,
    ``validate.py``, ``report/``), which the import system sets as an attribute of
    the package whenever it is first imported. These properties import the function
    on first use and ignore that binding (a value set by hand is kept).
    """

    def _set(self, name: str, value: Any) -> None:
        """Keep ``value`` as ``name``, unless it is the module of that name.

        Args:
            name: The attribute.
            value: What is set.
        """
        if getattr(value, "__name__", None) != f"{__name__}.{name}":
            self.__dict__[name] = value

    @property
    def parse(self) -> Any:
        """:func:`taskexec_nb.api.parse`.

        Returns:
            The function.
        """
        from taskexec_nb.api import parse

        return self.__dict__.get("parse", parse)

    @parse.setter
    def parse(self, value: Any) -> None:
        """Keep a value set by hand as ``parse`` (not the module the import system sets).

        Args:
            value: What is set.
        """
        self._set("parse", value)

    @property
    def validate(self) -> Any:
        """:func:`taskexec_nb.api.validate`.

        Returns:
            The function.
        """
        from taskexec_nb.api import validate

        return self.__dict__.get("validate", validate)

    @validate.setter
    def validate(self, value: Any) -> None:
        """Keep a value set by hand as ``validate`` (not the module the import system sets).

        Args:
            value: What is set.
        """
        self._set("validate", value)

    @property
    def report(self) -> Any:
        """:func:`taskexec_nb.report.tables.report`.

        Returns:
            The function.
        """
        from taskexec_nb.report.tables import report

        return self.__dict__.get("report", report)

    @report.setter
    def report(self, value: Any) -> None:
        """Keep a value set by hand as ``report`` (not the module the import system sets).

        Args:
            value: What is set.
        """
        self._set("report", value)


sys.modules[__name__].__class__ = _Package
