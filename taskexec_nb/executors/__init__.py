"""Executors: one protocol, a registry of built-ins, then entry-point plugins.

Third-party packages add executors through the ``taskexec_nb.executors``
entry-point group: each entry point names a class (or factory) that returns an
object with a ``name`` and an ``async run(ctx) -> Outcome`` method.

The modules: ``base`` (the protocol, :class:`AttemptContext`, :class:`Outcome`),
``control`` (a running attempt's process group), ``process`` (an attempt as a
process), ``output`` (its log, tails and output events), ``shell``,
``notebook``, ``agent`` and ``callables`` (the built-ins), ``inferred`` (a notebook a
description names), ``registry`` (names to executors).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskexec_nb.executors.base import AttemptContext, Executor, Outcome
    from taskexec_nb.executors.callables import TaskFunction
    from taskexec_nb.executors.control import ProcessControl
    from taskexec_nb.executors.inferred import inferred_notebook, missing_notebook
    from taskexec_nb.executors.notebook import notebook_fallback
    from taskexec_nb.executors.registry import ENTRY_POINT_GROUP, ExecutorRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "AttemptContext",
    "Executor",
    "ExecutorRegistry",
    "Outcome",
    "ProcessControl",
    "TaskFunction",
    "inferred_notebook",
    "missing_notebook",
    "notebook_fallback",
]


def __getattr__(name: str) -> Any:
    """The names of the package's modules, imported on first use.

    ``taskexec validate`` looks for notebooks a description names
    (:mod:`.inferred`) without loading the executors (and asyncio).

    Args:
        name: The attribute.

    Returns:
        Its value.

    Raises:
        AttributeError: If the package has no such name.
    """
    module: ModuleType
    if name in ("AttemptContext", "Executor", "Outcome"):
        from taskexec_nb.executors import base as module
    elif name == "TaskFunction":
        from taskexec_nb.executors import callables as module
    elif name == "ProcessControl":
        from taskexec_nb.executors import control as module
    elif name in ("inferred_notebook", "missing_notebook"):
        from taskexec_nb.executors import inferred as module
    elif name == "notebook_fallback":
        from taskexec_nb.executors import notebook as module
    elif name in ("ENTRY_POINT_GROUP", "ExecutorRegistry"):
        from taskexec_nb.executors import registry as module
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(module, name)
