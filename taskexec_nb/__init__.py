"""taskexec_nb: run a spec-kit tasks.md for real, from Jupyter, a terminal or a batch job.

The public API is small::

    import taskexec_nb
    plan = taskexec_nb.load("tasks.md")      # parse + validate + plan
    plan.to_frame()                          # one row per task
    plan.waves, plan.critical_path()
"""

from taskexec_nb.api import load, loads, parse, validate
from taskexec_nb.errors import (
    AgentNotConfiguredError,
    AnnotationError,
    ConfigError,
    KernelNotFoundError,
    ReportError,
    ResourceError,
    ResourceShortfall,
    ResumeError,
    ResumeRunningError,
    RunInProgressError,
    StoreError,
    TaskexecError,
    UsageError,
    ValidationError,
)
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
from taskexec_nb.tracker import ReadyTracker
from taskexec_nb.validate import Validation

__version__ = "0.1.0"

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
    "KernelNotFoundError",
    "Phase",
    "ReadyTracker",
    "ReportError",
    "ResourceError",
    "ResourceShortfall",
    "ResumeError",
    "ResumeRunningError",
    "RunInProgressError",
    "Severity",
    "StoreError",
    "Task",
    "TaskFile",
    "TaskForm",
    "TaskState",
    "TaskexecError",
    "UsageError",
    "Validation",
    "ValidationError",
    "__version__",
    "load",
    "loads",
    "parse",
    "validate",
]
