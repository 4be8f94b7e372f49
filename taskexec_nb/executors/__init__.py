"""Executors: one protocol, a registry of built-ins, then entry-point plugins.

Third-party packages add executors through the ``taskexec_nb.executors``
entry-point group: each entry point names a class (or factory) that returns an
object with a ``name`` and an ``async run(ctx) -> Outcome`` method.

The modules: ``base`` (the protocol, :class:`AttemptContext`, :class:`Outcome`),
``control`` (a running attempt's process group), ``process`` (an attempt as a
process), ``output`` (its log, tails and output events), ``shell``,
``notebook``, ``agent`` and ``callables`` (the built-ins), ``registry`` (names
to executors).
"""

from __future__ import annotations

from taskexec_nb.executors.base import AttemptContext, Executor, Outcome
from taskexec_nb.executors.callables import TaskFunction
from taskexec_nb.executors.control import ProcessControl
from taskexec_nb.executors.notebook import inferred_notebook, missing_notebook, notebook_fallback
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
