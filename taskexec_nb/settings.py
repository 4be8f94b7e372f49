"""Run settings: one declared, documented object shared by the API and the CLI.

Where settings come from (files, profiles, environment) is the configuration
layer's work; this module only declares them, with defaults and checks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from taskexec_nb.agentcmd import agent_template_problems
from taskexec_nb.errors import UsageError
from taskexec_nb.kinds import (
    Argv,
    Bound,
    Choice,
    Duration,
    Flag,
    Kind,
    Names,
    Number,
    OneOrMany,
    Scalar,
    Table,
    Text,
    Whole,
)

NO_ACTION_CHOICES = ("agent", "skip", "fail")


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def unknown_names(given: Iterable[str], known: Collection[str]) -> str:
    """The names in ``given`` that are not in ``known``, each with a did-you-mean hint.

    Args:
        given: Names as written.
        known: The valid names.

    Returns:
        ``'tiemout' (did you mean 'timeout'?), 'x'``, sorted; empty if all are known.
    """
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return ""
    import difflib

    choices = sorted(known)
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, choices, n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return ", ".join(hints)


@dataclass(frozen=True)
class Setting:
    """A setting's declaration: everything the CLI, the config and resume derive from.

    Attributes:
        kind: Its kind of value: how it is read from text and checked.
        help: Its ``taskexec run`` flag's help ("" for a setting without a flag).
        flags: Its ``taskexec run`` option strings, e.g. ``("-j", "--jobs")``.
        metavar: The flag's value in ``--help``, e.g. ``N``.
        dest: The flag's attribute on the parsed arguments, where not the setting's name.
        env: Readable from ``TASKEXEC_<NAME>`` (tables are not).
        kept_on_resume: A resume takes it from the run it continues, unless given again.
        per_task: An ``[[overrides]]`` entry may set it for some tasks.
        extra: More checks of a good value of its kind (one message per problem).
        name: The setting's name (filled in from the field it is declared on).
    """

    kind: Kind
    help: str = ""
    flags: tuple[str, ...] = ()
    metavar: str | None = None
    dest: str | None = None
    env: bool = True
    kept_on_resume: bool = False
    per_task: bool = False
    extra: Callable[[Sequence[str]], list[str]] | None = None
    name: str = ""

    @property
    def flag(self) -> str:
        """How messages and ``config show`` name its flag, e.g. ``--jobs``, ``--[no-]writeback``."""
        long = next((f for f in self.flags if f.startswith("--")), "")
        return "--[no-]" + long[2:] if isinstance(self.kind, Flag) else long

    def problems(self, value: Any) -> tuple[Any, list[str]]:
        """A value given to :class:`RunSettings` directly: the value to keep, and the problems.

        Args:
            value: The value.

        Returns:
            The value (a duration text becomes seconds) and one message per problem,
            e.g. ``retries must be >= 0, got -1``.
        """
        checked, found = self.kind.check(value, lax=False)
        out = []
        for p in found:
            name = self.name + "".join(f".{part}" for part in p.loc)
            if p.hint:
                out.append(f"{name}: {p.message} ({p.hint})")
            else:
                out.append(f"{name} {p.plain or p.message}, got {p.value!r}")
        if not found and self.extra is not None and value is not None:
            out += self.extra(value)
        return checked, out


def setting(
    default: Any = None, *, factory: Callable[[], Any] | None = None, **declared: Any
) -> Any:
    """A :class:`RunSettings` field with its :class:`Setting` declaration.

    Args:
        default: The default value.
        factory: Makes the default value instead (for mutable defaults).
        **declared: The :class:`Setting` attributes.

    Returns:
        The dataclass field.
    """
    metadata = {"setting": Setting(**declared)}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


_SECONDS = "seconds"


@dataclass(frozen=True)
class RunSettings:
    """How a run executes. Every field has a documented default.

    Each field declares (:class:`Setting`) its kind, its ``taskexec run`` flag,
    whether ``TASKEXEC_<NAME>`` sets it, and whether a resume keeps it: the
    CLI, the config file's checks, :data:`KEPT_ON_RESUME` and ``config show``
    are derived from these declarations.

    Attributes:
        max_workers: Tasks running at once (default: the number of CPUs).
        resources: Named capacities, e.g. ``{"gpu": 1, "agent": 1}``; a task's
            ``needs`` must fit within them.
        fail_fast: Stop starting tasks after the first failure.
        allow_failure: A failed task leaves its dependents free to run (for
            tasks that set none).
        retries: Extra attempts after a failure, for tasks that set none.
        backoff: Seconds before the first retry; doubles for each next one.
        timeout: Seconds a task may run, for tasks that set none (None: no limit).
        kill_grace: Seconds between SIGTERM and SIGKILL when a task is stopped.
        no_action: What to do with a task that has no action: ``agent`` (hand it
            to ``agent_command``), ``skip`` (record it as skipped, not done) or
            ``fail``. None: ``agent`` when an agent command is set, else ``skip``.
        agent_command: argv template of an AI coding agent's CLI, with
            placeholders ``{id}``, ``{description}``, ``{files}``, ``{phase}``,
            ``{story}``, ``{tasks_file}``, ``{context}`` and ``{prompt}``;
            without ``{prompt}`` the prompt is written to the agent's stdin.
        agent_context: Give the agent the feature's context: the paths of the
            design documents beside tasks.md (plan.md, spec.md, ...) and of the
            project's constitution, in the prompt and as ``{context}``.
        writeback: Tick ``[X]`` in tasks.md after verified success.
        state_dir: Folder of the state store and logs (default: ``.taskexec``
            beside the tasks.md).
        env: Extra environment variables for every task.
        secrets: Names of variables whose values are masked (``****``) in logs,
            events, the store and displays, besides names containing TOKEN,
            SECRET, PASSWORD or KEY.
        cwd: Working directory of tasks (default: the tasks.md folder).
        shell: Shell used for ``sh``/``shell`` blocks and ``run=`` commands.
        tail_lines: Lines of output kept in the state for each attempt.
        log_dir: Folder of the runs' logs and artifacts (default:
            ``<state_dir>/logs``); each run writes into a subfolder.
        log_retention: How many runs' log folders to keep (None: all); older
            ones are removed when a run starts.
        executors: Options per executor, e.g. ``{"notebook": {"kernel": "python3"},
            "python": {"interpreter": "/usr/bin/python3"}}``.
        overrides: Per-task settings from the config file's ``[[overrides]]``
            (see :mod:`taskexec_nb.config`).
    """

    max_workers: int = setting(
        factory=_default_workers,
        kind=Whole(minimum=1),
        flags=("-j", "--jobs"),
        metavar="N",
        help="tasks running at once (default: number of CPUs)",
        kept_on_resume=True,
    )
    resources: Mapping[str, float] = setting(
        factory=_empty,
        kind=Table(Number(Bound(0, strict=True))),
        flags=("--resource",),
        dest="resource",
        metavar="NAME=AMOUNT",
        help="a resource capacity, e.g. gpu=1 (repeatable)",
        kept_on_resume=True,
    )
    fail_fast: bool = setting(
        False,
        kind=Flag(),
        flags=("--fail-fast",),
        help="stop starting tasks after a failure (--no-fail-fast: a resume of a fail-fast run "
        "does not)",
        kept_on_resume=True,
    )
    allow_failure: bool = setting(
        False,
        kind=Flag(),
        flags=("--allow-failure",),
        help="a failed task leaves its dependents free to run (--no-allow-failure: a resume "
        "of such a run does not)",
        kept_on_resume=True,
        per_task=True,
    )
    retries: int = setting(
        0,
        kind=Whole(minimum=0),
        flags=("--retries",),
        metavar="N",
        help="default retries after a failure",
        kept_on_resume=True,
        per_task=True,
    )
    backoff: float = setting(
        1.0,
        kind=Duration(Bound(0, unit=_SECONDS)),
        flags=("--backoff",),
        metavar="TIME",
        help="wait before the first retry, doubling for each next one (default 1s; 0: none)",
        kept_on_resume=True,
        per_task=True,
    )
    timeout: float | None = setting(
        None,
        kind=Duration(Bound(0, strict=True, unit=_SECONDS)),
        flags=("--timeout",),
        metavar="TIME",
        help="default task timeout: 90, 90s, 5m, 1h30m",
        kept_on_resume=True,
        per_task=True,
    )
    kill_grace: float = setting(
        5.0,
        kind=Duration(Bound(0, unit=_SECONDS)),
        flags=("--kill-grace",),
        metavar="TIME",
        help="time a stopped task gets between SIGTERM and SIGKILL (default 5s)",
        kept_on_resume=True,
    )
    no_action: str | None = setting(
        None,
        kind=Choice(NO_ACTION_CHOICES),
        flags=("--no-action",),
        help="what to do with tasks that have no action",
        kept_on_resume=True,
    )
    agent_command: Sequence[str] | None = setting(
        None,
        kind=Argv(),
        flags=("--agent-command",),
        metavar="ARGV",
        help="agent CLI as a shell-quoted argv or a JSON list, e.g. 'my-agent --prompt {prompt}'",
        extra=lambda argv: agent_template_problems(argv),
    )
    agent_context: bool = setting(
        True,
        kind=Flag(),
        flags=("--agent-context",),
        help="give the agent the paths of the feature's design documents and constitution "
        "(the default; --no-agent-context: only the task)",
    )
    writeback: bool = setting(
        True,
        kind=Flag(),
        flags=("--writeback",),
        help="tick [X] in tasks.md after verified success (the default; --no-writeback: do not)",
        kept_on_resume=True,
    )
    state_dir: Path | None = setting(
        None,
        kind=Text(path=True),
        flags=("--state-dir",),
        metavar="DIR",
        help="state store folder (default: .taskexec)",
    )
    env: Mapping[str, str] = setting(factory=_empty, kind=Table(Scalar()), per_task=True)
    cwd: Path | None = setting(None, kind=Text(path=True), per_task=True)
    shell: str = setting("/bin/sh", kind=Text(nonempty=True, path=True))
    tail_lines: int = setting(50, kind=Whole(minimum=1))
    secrets: tuple[str, ...] = setting((), kind=Names())
    log_dir: Path | None = setting(None, kind=Text(path=True))
    log_retention: int | None = setting(None, kind=Whole(minimum=1))
    executors: Mapping[str, Mapping[str, Any]] = setting(
        factory=_empty, kind=Table(Table(Scalar()))
    )
    overrides: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for spec in RUN_SETTINGS.values():
            value = getattr(self, spec.name)
            if value is None and DEFAULTS.get(spec.name, 0) is None:
                continue  # an optional setting left unset
            checked, found = spec.problems(value)
            problems += found
            if not found and checked is not value:
                object.__setattr__(self, spec.name, checked)  # "90s": seconds
        if problems:
            raise UsageError("invalid run settings: " + "; ".join(problems))

    @property
    def effective_no_action(self) -> str:
        """The no-action policy after applying the default."""
        if self.no_action is not None:
            return self.no_action
        return "agent" if self.agent_command else "skip"

    def with_overrides(self, **overrides: Any) -> RunSettings:
        """Return a copy with some settings changed (unknown names are an error).

        Args:
            **overrides: Setting names and values; None values are ignored.

        Returns:
            The new settings.

        Raises:
            UsageError: For an unknown setting name or a bad value.
        """
        unknown = unknown_names(overrides, {f.name for f in fields(self)})
        if unknown:
            raise UsageError(f"unknown run setting(s): {unknown}")
        given = {k: v for k, v in overrides.items() if v is not None}
        if "resources" in given:
            given["resources"] = MappingProxyType(dict(given["resources"]))
        if "env" in given:
            given["env"] = MappingProxyType(dict(given["env"]))
        if "agent_command" in given and not isinstance(given["agent_command"], str):
            given["agent_command"] = tuple(given["agent_command"])
        for name in ("state_dir", "cwd", "log_dir"):
            if name in given:
                given[name] = Path(given[name])
        if "executors" in given:
            given["executors"] = MappingProxyType(
                {k: MappingProxyType(dict(v)) for k, v in dict(given["executors"]).items()}
            )
        for name in ("secrets", "overrides"):
            if name in given and not isinstance(given[name], tuple):
                given[name] = tuple(given[name])
        return replace(self, **given)

    def to_dict(self, masked: bool = True) -> dict[str, Any]:
        """A JSON-ready view of every setting.

        Args:
            masked: Show secret environment values as ``****`` (see
                :mod:`taskexec_nb.secrets`).

        Returns:
            Setting names and plain values.
        """
        from taskexec_nb.secrets import mask_env

        def shown(env: Mapping[str, str]) -> dict[str, str]:
            """Environment variables as the view shows them.

            An override's variables are masked with the run's own: its secrets may appear.

            Args:
                env: The run's ``env`` or one override's, name to value.

            Returns:
                The same names and values, masked as :func:`mask_env` does (with
                the run's variables and ``secrets`` in view) unless ``masked`` is false.
            """
            if not masked:
                return dict(env)
            both = mask_env({**self.env, **env}, self.secrets)
            return {name: both[name] for name in env}

        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "env":
                value = shown(value)
            elif f.name == "overrides":
                value = [
                    {
                        "phases": list(o.phases),
                        "stories": list(o.stories),
                        "tasks": list(o.tasks),
                        "settings": {
                            k: (shown(v) if k == "env" else v) for k, v in o.values.items()
                        },
                        "source": o.source,
                    }
                    for o in value
                ]
            elif f.name == "executors":
                value = {k: dict(v) for k, v in value.items()}
            elif isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _declared() -> dict[str, Setting]:
    out = {}
    for f in fields(RunSettings):
        spec = f.metadata.get("setting")
        if spec is not None:
            out[f.name] = replace(spec, name=f.name)
    return out


RUN_SETTINGS: Mapping[str, Setting] = MappingProxyType(_declared())
"""Every :class:`RunSettings` field's declaration, by name, in field order."""

DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {f.name: f.default for f in fields(RunSettings) if f.default is not MISSING}
)
"""The plain (not factory-made) defaults of :class:`RunSettings`, by name."""

MODES = ("template", "stories", "explicit")
"""The dependency modes (see :class:`~taskexec_nb.model.DependencyMode`)."""

CONFIG_SETTINGS: Mapping[str, Setting] = MappingProxyType(
    {
        s.name: s
        for s in (
            Setting(
                Choice(MODES),
                name="mode",
                flags=("--mode",),
                help="dependency inference mode (default: from the config, else template)",
            ),
            Setting(
                OneOrMany(),
                name="only",
                flags=("--only",),
                metavar="SEL",
                help="task IDs, stories (US1) or phases (phase:3), comma-separated",
            ),
            Setting(
                Text(),
                name="from_task",
                flags=("--from",),
                metavar="TASK",
                help="start at this task",
            ),
            Setting(
                Text(),
                name="until",
                flags=("--until",),
                metavar="TASK",
                help="stop after this task",
            ),
            Setting(OneOrMany(), name="env_file"),
        )
    }
)
"""Settings of the configuration that are not :class:`RunSettings` fields: the
dependency mode, which tasks to run, and the dotenv files of ``env``."""

SETTINGS: Mapping[str, Setting] = MappingProxyType({**RUN_SETTINGS, **CONFIG_SETTINGS})
"""Every setting a config file, a profile, a variable or an argument may give."""

KEPT_ON_RESUME = tuple(name for name, s in RUN_SETTINGS.items() if s.kept_on_resume)
"""Settings a resume takes from the run it continues, unless they are given again."""
