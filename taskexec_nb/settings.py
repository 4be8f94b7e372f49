"""Run settings: one declared, documented object shared by the API and the CLI.

Where settings come from (files, profiles, environment) is the configuration
layer's work; this module only declares them, with defaults and checks.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from taskexec_nb.errors import UsageError

AGENT_PLACEHOLDERS = ("id", "description", "files", "phase", "story", "tasks_file", "prompt")
"""The fields an ``agent_command`` element may use, e.g. ``{prompt}``."""


def agent_template_problems(template: Sequence[str]) -> list[str]:
    """What is wrong with an ``agent_command`` template: unknown fields, stray braces.

    Args:
        template: The argv template.

    Returns:
        One message per problem (empty when the template is good).
    """
    import string

    known = ", ".join("{" + p + "}" for p in AGENT_PLACEHOLDERS)
    problems = []
    for element in template:
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(element) if f is not None]
        except ValueError as exc:
            problems.append(
                f"agent_command: bad template element {element!r}: {exc} "
                "(write {{ and }} for literal braces)"
            )
            continue
        problems.extend(
            f"agent_command: unknown placeholder {{{name}}} in {element!r} (known: {known})"
            for name in names
            if name not in AGENT_PLACEHOLDERS
        )
    return problems


NO_ACTION_CHOICES = ("agent", "skip", "fail")

AGENT_EXAMPLE = ("claude", "-p", "--permission-mode", "acceptEdits", "{prompt}")
"""A working ``agent_command`` (Claude Code, allowed to edit files), for hints."""
AGENT_TOML_EXAMPLE = "agent_command = [" + ", ".join(f'"{a}"' for a in AGENT_EXAMPLE) + "]"
""":data:`AGENT_EXAMPLE` as a ``taskexec.toml`` line."""
AGENT_FLAG_EXAMPLE = "--agent-command '" + " ".join(AGENT_EXAMPLE) + "'"
""":data:`AGENT_EXAMPLE` as a ``taskexec run`` flag."""


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
class RunSettings:
    """How a run executes. Every field has a documented default.

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
            ``{story}``, ``{tasks_file}`` and ``{prompt}``; without ``{prompt}``
            the prompt is written to the agent's stdin.
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

    max_workers: int = field(default_factory=_default_workers)
    resources: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    fail_fast: bool = False
    allow_failure: bool = False
    retries: int = 0
    backoff: float = 1.0
    timeout: float | None = None
    kill_grace: float = 5.0
    no_action: str | None = None
    agent_command: Sequence[str] | None = None
    writeback: bool = True
    state_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    cwd: Path | None = None
    shell: str = "/bin/sh"
    tail_lines: int = 50
    secrets: tuple[str, ...] = ()
    log_dir: Path | None = None
    log_retention: int | None = None
    executors: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    overrides: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        problems = []
        for name in ("backoff", "kill_grace", "timeout"):
            value = getattr(self, name)
            if isinstance(value, str):  # "90s", "5m": as in the config file and on the CLI
                from taskexec_nb.annotations import AnnotationError, parse_duration

                try:
                    value = parse_duration(value)
                except AnnotationError as exc:
                    raise UsageError(f"invalid run settings: {name}: {exc} ({exc.hint})") from None
                object.__setattr__(self, name, value)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise UsageError(f"invalid run settings: {name} must be a number, got {value!r}")
        if self.log_retention is not None and (
            isinstance(self.log_retention, bool)
            or not isinstance(self.log_retention, int)
            or self.log_retention < 1
        ):
            problems.append(
                f"log_retention must be a whole number >= 1, got {self.log_retention!r}"
            )
        for name in ("max_workers", "retries", "tail_lines"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(
                    f"invalid run settings: {name} must be a whole number, got {value!r}"
                )
        if self.tail_lines < 1:
            problems.append(f"tail_lines must be >= 1, got {self.tail_lines!r}")
        if self.max_workers < 1:
            problems.append(f"max_workers must be a whole number >= 1, got {self.max_workers!r}")
        if self.retries < 0:
            problems.append(f"retries must be a whole number >= 0, got {self.retries!r}")
        for name in ("backoff", "kill_grace"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.timeout is not None and self.timeout <= 0:
            problems.append(f"timeout must be > 0 seconds, got {self.timeout!r}")
        if self.no_action is not None and self.no_action not in NO_ACTION_CHOICES:
            problems.append(
                f"no_action must be one of {', '.join(NO_ACTION_CHOICES)}, got {self.no_action!r}"
            )
        if self.agent_command is not None and (
            isinstance(self.agent_command, str)
            or not self.agent_command
            or not all(isinstance(a, str) for a in self.agent_command)
        ):
            problems.append(
                "agent_command must be a non-empty list of strings (an argv), "
                f"got {self.agent_command!r}"
            )
        elif self.agent_command is not None:
            problems.extend(agent_template_problems(self.agent_command))
        for name, amount in self.resources.items():
            if not isinstance(amount, int | float) or amount <= 0:
                problems.append(f"resources.{name} must be a positive number, got {amount!r}")
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
            # An override's variables are masked with the run's own: its secrets may appear.
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
