"""``[[overrides]]``: per-task settings for the tasks an entry matches, applied in one place.

An entry selects tasks by phase (number, kind or title pattern), story or ID
pattern, and sets some per-task settings (those declared ``per_task`` on
:class:`~taskexec_nb.settings.RunSettings`, plus ``needs`` and ``executor``).
:func:`resolve_task` is the one place that applies them: matching entries in
file order, the task's own ``taskexec:`` annotation on top, the run settings
under both.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from taskexec_nb.config.files import ConfigFile
from taskexec_nb.errors import ConfigError
from taskexec_nb.kinds import Bound, Number, Selector, Table, Text
from taskexec_nb.model import ExecParams, Task
from taskexec_nb.settings import SETTINGS, RunSettings, Setting

SELECTORS: Mapping[str, Setting] = MappingProxyType(
    {
        "phase": Setting(Selector(numbers=True), name="phase"),
        "story": Setting(Selector(), name="story"),
        "tasks": Setting(Selector(), name="tasks"),
    }
)
"""How an entry says which tasks it is for."""

OVERRIDE_SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        **{name: s for name, s in SETTINGS.items() if s.per_task},
        "needs": Setting(Table(Number(Bound(0, strict=True))), name="needs"),
        "executor": Setting(Text(), name="executor"),
    }
)
"""What an entry may set for its tasks."""

_SCALARS = ("timeout", "retries", "backoff", "allow_failure", "cwd", "executor")
"""Per-task settings the task's own annotation wins for, one by one."""


@dataclass(frozen=True)
class Override:
    """Settings for the tasks one ``[[overrides]]`` entry matches.

    Attributes:
        phases: Phase numbers or titles (or title patterns) it applies to.
        stories: Story labels, e.g. ``US1``.
        tasks: Task IDs or ID patterns, e.g. ``T01*``.
        values: The per-task settings it sets.
        source: Where it is written (file and line).
    """

    phases: tuple[str, ...] = ()
    stories: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""

    def matches(self, task: Task) -> bool:
        """Whether the entry applies to ``task`` (every given selector must match).

        Args:
            task: The task.

        Returns:
            True when it applies.
        """
        if self.tasks and not any(fnmatch.fnmatchcase(task.id, p) for p in self.tasks):
            return False
        if self.stories and not set(self.stories) & set(task.stories):
            return False
        if self.phases:
            phase = task.phase
            names = {str(phase.number)} if phase and phase.number is not None else set()
            title = phase.title.lower() if phase else ""
            kind = phase.kind if phase else ""
            if not any(
                p in names or p.lower() == kind or fnmatch.fnmatch(title, p.lower())
                for p in self.phases
            ):
                return False
        return True


@dataclass(frozen=True)
class ResolvedTask:
    """A task as a run executes it: overrides applied, then its annotation, then the run's.

    Attributes:
        task: The task with its parameters after the matching overrides (its own
            annotation wins); the same object when none match.
        timeout: Seconds it may run (None: no limit).
        retries: Extra attempts after a failure.
        backoff: Seconds before its first retry.
        allow_failure: Whether its failure leaves its dependents free to run.
    """

    task: Task
    timeout: float | None
    retries: int
    backoff: float
    allow_failure: bool


def apply_overrides(task: Task, overrides: Sequence[Override]) -> ExecParams:
    """A task's parameters with matching overrides under its own annotation.

    Args:
        task: The task.
        overrides: Entries in file order (later ones win).

    Returns:
        The merged parameters (the task's own object when none match); the
        task's annotation always wins.
    """
    matched = [o for o in overrides if o.matches(task)]
    if not matched:
        return task.params
    merged: dict[str, Any] = {}
    env: dict[str, str] = {}
    needs: dict[str, float] = {}
    for o in matched:
        for key, value in o.values.items():
            if key == "env":
                env.update(value)
            elif key == "needs":
                needs.update(value)
            else:
                merged[key] = value
    own = task.params
    for name in _SCALARS:
        if getattr(own, name) is not None:
            merged.pop(name, None)
    return replace(
        own,
        env=MappingProxyType({**env, **own.env}),
        resources=MappingProxyType({**needs, **own.resources}),
        **merged,
    )


def resolve_task(task: Task, settings: RunSettings) -> ResolvedTask:
    """The one place a task's settings are worked out: overrides, annotation, run settings.

    Args:
        task: The task as parsed.
        settings: The run's settings (their ``overrides`` are applied).

    Returns:
        The task with the overrides applied, and its effective timeout,
        retries, backoff and allow_failure.
    """
    params = apply_overrides(task, settings.overrides)
    resolved = task if params is task.params else replace(task, params=params)

    def own(name: str) -> Any:
        """One execution setting: the task's own (overrides applied), else the run's.

        Args:
            name: The setting, an attribute of both the task's parameters and
                the run settings (``timeout``, ``retries``, ``backoff``, ``allow_failure``).

        Returns:
            The task's value, or the run's where the task leaves it unset (None).
        """
        value = getattr(params, name)
        return getattr(settings, name) if value is None else value

    return ResolvedTask(
        resolved, own("timeout"), own("retries"), own("backoff"), own("allow_failure")
    )


def read_overrides(cf: ConfigFile, entries: Sequence[Mapping[str, Any]]) -> tuple[Override, ...]:
    """The ``[[overrides]]`` entries of a config file (checked) as :class:`Override` objects.

    Args:
        cf: The config file (for the entries' lines and relative paths).
        entries: The entries' checked values, in file order.

    Returns:
        The entries.

    Raises:
        ConfigError: For an entry that selects nothing.
    """
    out = []
    for i, entry in enumerate(entries):
        data = dict(entry)
        phases = data.pop("phase", None)
        stories = data.pop("story", None)
        tasks = data.pop("tasks", None)
        where = cf.where(("overrides", i))
        if phases is None and stories is None and tasks is None:
            raise ConfigError(
                f"{where}: {cf.key(('overrides', i))}: say which tasks it is for "
                "(phase, story or tasks)"
            )
        for name, value in (("phase", phases), ("story", stories), ("tasks", tasks)):
            if value is not None and not _strs(value):
                loc = ("overrides", i, name)
                raise ConfigError(f"{cf.where(loc)}: {cf.key(loc)}: an empty list selects nothing")
        if "cwd" in data:  # relative to the config file, like the top-level cwd
            data["cwd"] = str((cf.path.parent / data["cwd"]).resolve())
        if "env" in data:
            data["env"] = {k: env_str(v) for k, v in data["env"].items()}
        out.append(
            Override(
                phases=_strs(phases),
                stories=_strs(stories),
                tasks=_strs(tasks),
                values=MappingProxyType(data),
                source=where,
            )
        )
    return tuple(out)


def _strs(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(str(v) for v in items)


def env_str(value: Any) -> str:
    """An ``env`` value from TOML as the string a process gets (``true``, not ``True``).

    Args:
        value: A string, number or boolean.

    Returns:
        Its text.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
