"""Which tasks a run runs: task IDs, stories (``US1``) and phases (``phase:3``) to tasks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from taskexec_nb.errors import UsageError
from taskexec_nb.model import Phase, TaskState

if TYPE_CHECKING:
    from taskexec_nb.plan import ExecutionPlan


CLI_NAMES = {"only": "--only", "from_task": "--from", "until": "--until"}
"""How selection errors name the selectors, by default."""
API_NAMES = {"only": "only=", "from_task": "from_task=", "until": "until="}
"""How selection errors name the selectors of :meth:`ExecutionPlan.run`."""


def selector_names(
    defaults: Mapping[str, str], sources: Mapping[str, str], keys: Iterable[str]
) -> dict[str, str]:
    """How selection errors name the selectors in ``keys`` that the configuration set.

    Args:
        defaults: The names for selectors given directly (:data:`CLI_NAMES` or
            :data:`API_NAMES`).
        sources: Where each setting came from (:attr:`Config.sources`).
        keys: The selectors whose value came from the configuration.

    Returns:
        ``defaults`` with those selectors named by their source, such as
        ``TASKEXEC_ONLY=`` or ``/path/taskexec.toml:3: only=``.
    """
    names = dict(defaults)
    for key in keys:
        source = sources.get(key)
        if source is None or source == defaults.get(key):
            continue
        if source.startswith("environment "):
            names[key] = source.removeprefix("environment ") + "="
        else:
            names[key] = f"{source}: {key}="
    return names


def select_tasks(
    plan: ExecutionPlan,
    only: Iterable[str] | None = None,
    from_task: str | None = None,
    until: str | None = None,
    *,
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """The pending tasks to run, in plan order.

    Every selector is a task ID, a story tag (``US1``) or a phase (``phase:3``).

    Args:
        plan: The plan.
        only: Selectors to keep; None keeps every pending task.
        from_task: Start at this task (for a story or phase: its first task in run order).
        until: Stop after this task (for a story or phase: its last task in run order).
        names: How errors name ``only``, ``from_task`` and ``until`` (default: the
            CLI's ``--only``, ``--from`` and ``--until``).

    Returns:
        Task IDs.

    Raises:
        UsageError: For a selector that matches nothing (with the closest task ID), an
            empty ``only``, or a ``from_task`` that comes after ``until``.
    """
    name = {**CLI_NAMES, **(names or {})}
    for key, value in (("from_task", from_task), ("until", until)):
        if value is not None and not isinstance(value, str):
            raise UsageError(
                f"{name[key]} takes a task ID, story or phase as text (e.g. 'T005'), "
                f"got {type(value).__name__} {value!r}"
            )
    full = plan.topological_order()  # done tasks keep their place: --from US1 works after US1
    position = {t: i for i, t in enumerate(full)}
    start, stop = 0, len(full) - 1
    if from_task is not None:
        start = min(position[t] for t in _matches(plan, name["from_task"], from_task.strip()))
    if until is not None:
        stop = max(position[t] for t in _matches(plan, name["until"], until.strip()))
    if start > stop:
        raise UsageError(
            f"{_said(name['from_task'], from_task)} comes after "
            f"{_said(name['until'], until)} in run order "
            f"({full[start]} runs after {full[stop]}): nothing would run"
        )
    order = [t for t in full[start : stop + 1] if plan[t].state is TaskState.PENDING]
    if only is not None:
        selectors = [sel.strip() for sel in only]
        if not any(selectors):
            raise UsageError(
                f"{name['only']}: the selection is empty (leave it out to run every task)"
            )
        wanted: set[str] = set()
        for sel in selectors:
            if sel:
                wanted |= _matches(plan, name["only"], sel)
        if (from_task is not None or until is not None) and wanted.isdisjoint(
            full[start : stop + 1]
        ):
            bounds = [
                _said(name[key], value)
                for key, value in (("from_task", from_task), ("until", until))
                if value is not None
            ]
            raise UsageError(
                f"{_said(name['only'], ','.join(selectors))} selects no task within "
                f"{' and '.join(bounds)} ({full[start]} to {full[stop]} in run order): "
                "nothing would run"
            )
        order = [t for t in order if t in wanted]
    return order


def _matches(plan: ExecutionPlan, option: str, sel: str) -> set[str]:
    """The tasks a selector names; UsageError naming the option if none."""
    hits = _match(plan, sel)
    if hits:
        return hits
    import difflib

    if sel.lower().startswith("phase:"):
        phases = {t.phase.index: t.phase for t in plan.tasks if t.phase.line is not None}
        known = ", ".join(f"phase:{p.number or p.title}" for p in phases.values()) or "none"
        raise UsageError(f"{_said(option, sel)}: no such phase; the phases are {known}")
    names = [t.id for t in plan.tasks] + sorted({s for t in plan.tasks for s in t.stories})
    # The same name but for case and leading zeros (T4 for T004, us1 for US1) is meant
    # before one that only spells closer (T014).
    same = [n for n in names if _spelling(n) == _spelling(sel)]
    close = same or difflib.get_close_matches(sel, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    kinds = "a task ID, a story such as US1 or a phase such as phase:3"
    raise UsageError(f"{_said(option, sel)}: matches no task{hint}; give {kinds}")


def _spelling(name: str) -> str:
    """A task ID or story as compared for a suggestion: upper case, numbers without zeros."""
    return re.sub(r"\d+", lambda m: str(int(m.group())), name.upper())


def _said(option: str, value: str | None) -> str:
    """An option as the user wrote it: ``--only US9`` or ``only='US9'``."""
    return f"{option}{value!r}" if option.endswith("=") else f"{option} {value}"


def _match(plan: ExecutionPlan, sel: str) -> set[str]:
    if sel.lower().startswith("phase:"):
        name = sel.split(":", 1)[1].strip()
        if len(name) > 1 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1].strip()  # phase:"Polish & Cross-Cutting", quotes kept by a config
        return {t.id for t in plan.tasks if _is_phase(t.phase, name)}
    if sel in plan:
        return {sel}
    return {t.id for t in plan.tasks if sel in t.stories}


def _is_phase(phase: Phase, name: str) -> bool:
    """``phase:3`` is phase 3 and its sub-phases (3.1, 3a); ``phase:Polish`` goes by title."""
    number = (phase.number or "").casefold()
    rest = number[len(name) :] if name and number.startswith(name.casefold()) else None
    if rest is not None and (rest[:1] in ("", ".") or (rest.isalpha() and name[-1].isdigit())):
        return True
    wanted = name.casefold()
    kind = phase.kind if phase.kind != "other" else None  # phase:polish, phase:setup
    return bool(wanted) and wanted in (phase.title.casefold(), phase.heading.casefold(), kind)


def listed(task_ids: Sequence[str], most: int = 5) -> str:
    """``T001, T002 and 3 more``: task IDs for a message, the first few of them.

    Args:
        task_ids: The IDs, in the order to name them.
        most: How many to name before ``and N more``.

    Returns:
        The phrase.
    """
    more = len(task_ids) - most
    return ", ".join(task_ids[:most]) + (f" and {more} more" if more > 0 else "")
