"""Configuration: settings from files, profiles, the environment and arguments.

Where settings come from, lowest precedence first:

1. the defaults (:class:`~taskexec_nb.settings.RunSettings`);
2. the config file: ``taskexec.toml`` beside the tasks.md, or ``[tool.taskexec]``
   in ``pyproject.toml``, found by walking up from the tasks.md's folder to the
   project root (the first folder with ``.git``);
3. the chosen profile (``[profiles.NAME]``, which may ``extends`` another),
   chosen by argument, ``TASKEXEC_PROFILE`` or the file's ``default_profile``;
4. ``TASKEXEC_*`` environment variables, one per scalar setting;
5. arguments of the CLI, the API and the magics;
6. ``[[overrides]]`` in the config file matching a task's phase, story or ID;
7. the task's own ``taskexec:`` annotation in tasks.md.

Layers 1 to 5 make the run's :class:`RunSettings`; 6 and 7 are applied per
task (:func:`~taskexec_nb.config.overrides.resolve_task`). Every value remembers
its source, shown by ``taskexec config show`` (:mod:`taskexec_nb.config.show`).

Each setting is declared once, on :class:`~taskexec_nb.settings.RunSettings`;
the checks (:mod:`taskexec_nb.config.checks`), the ``TASKEXEC_*`` variables
(:data:`SCALAR_SETTINGS`) and the ``taskexec run`` flags
(:mod:`taskexec_nb.config.flags`) are derived from the declarations.
"""

from __future__ import annotations

import difflib
import os
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from taskexec_nb.agentcmd import agent_template_problems
from taskexec_nb.config.checks import FileSettings, check_file, check_values, guess, plain
from taskexec_nb.config.files import (
    CONFIG_FILE,
    DEFAULT_MODE,
    ENV_PREFIX,
    PROFILE_VAR,
    PYPROJECT,
    RESERVED_VARS,
    ConfigFile,
    find_config,
    read_config,
    read_dotenv,
)
from taskexec_nb.config.overrides import Override, apply_overrides, env_str, read_overrides
from taskexec_nb.errors import ConfigError, UsageError
from taskexec_nb.kinds import TextError
from taskexec_nb.model import ExecParams, Task
from taskexec_nb.settings import SETTINGS, RunSettings, unknown_names

# Settings that are not RunSettings fields.
_SELECTION = ("only", "from_task", "until")

# Settings that merge key by key across layers instead of being replaced.
_MERGED = tuple(name for name, s in SETTINGS.items() if s.kind.table)

SCALAR_SETTINGS = tuple(sorted(name for name, s in SETTINGS.items() if not s.kind.table))
"""Settings a ``TASKEXEC_*`` variable can set (every one but the tables)."""


@dataclass(frozen=True)
class Config:
    """The effective configuration for one tasks.md.

    Attributes:
        settings: The run settings (layers 1 to 5).
        mode: The dependency mode.
        only: Which tasks to run (IDs, stories, ``phase:N``), or None for all.
        from_task: Start at this task.
        until: Stop after this task.
        overrides: Per-task settings, in file order (a later entry wins).
        sources: Where each setting's value came from, by setting name (and
            ``env.NAME`` / ``resources.NAME`` for merged tables).
        file: The config file used, if any.
        profile: The chosen profile, if any.
        warnings: Things that did not stop the run, e.g. a misspelt variable.
    """

    settings: RunSettings
    mode: str = DEFAULT_MODE
    only: tuple[str, ...] | None = None
    from_task: str | None = None
    until: str | None = None
    overrides: tuple[Override, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    file: Path | None = None
    profile: str | None = None
    warnings: tuple[str, ...] = ()

    def task_params(self, task: Task) -> ExecParams:
        """A task's parameters: matching overrides, then its own annotation on top.

        Args:
            task: The task.

        Returns:
            Its effective parameters (unset ones fall back to the run settings).
        """
        return apply_overrides(task, self.overrides)

    def to_dict(self) -> dict[str, Any]:
        """Every effective setting with its source, secrets masked (for JSON).

        Returns:
            What ``taskexec config show --json`` prints: each setting's value and the
            layer it came from.
        """
        from taskexec_nb.config.show import show_dict

        return show_dict(self)

    def values(self) -> dict[str, Any]:
        """Every effective setting except ``env`` as plain values.

        Returns:
            The mode, the run settings (without ``env`` and ``overrides``) and the
            selection (``only``, ``from_task``, ``until``), by name.
        """
        out: dict[str, Any] = {"mode": self.mode}
        out.update({k: v for k, v in self.settings.to_dict().items() if k not in ("env",)})
        out.pop("overrides", None)
        out["only"] = list(self.only) if self.only is not None else None
        out["from_task"] = self.from_task
        out["until"] = self.until
        return out

    def show(self) -> str:
        """A readable table of the effective settings and their sources.

        Returns:
            The table's text, secrets masked (what ``taskexec config show`` prints).
        """
        from taskexec_nb.config.show import show_text

        return show_text(self)


@dataclass
class _Layers:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def apply(self, data: Mapping[str, Any], source: Any) -> None:
        """Put ``data`` on top of the layers below, noting where each value came from.

        A ``None`` value leaves the key as it was. ``secrets`` add to the names
        already marked, and a table setting (``env``, ``resources``...) is merged
        key by key; any other setting is replaced.

        Args:
            data: This layer's settings by name (a config file's table, the
                environment's or the caller's arguments).
            source: Called as ``source(key, sub)`` to name where a setting came from
                (a file and line, an environment variable, an argument); ``sub`` is
                the key inside a table setting, or None for the setting as a whole.
        """
        for key, value in data.items():
            if value is None:
                continue
            if key == "secrets":  # a narrower layer adds secrets, never un-marks one
                merged = list(dict.fromkeys([*(self.values.get(key) or []), *value]))
                self.values[key] = merged
                self.sources[key] = source(key, None)
            elif key in _MERGED:
                table = dict(self.values.get(key) or {})
                for sub, item in value.items():
                    table[sub] = item
                    self.sources[f"{key}.{sub}"] = source(key, sub)
                self.values[key] = table
                self.sources[key] = source(key, None)
            else:
                self.values[key] = value
                self.sources[key] = source(key, None)


def resolve(
    tasks_file: str | Path | None = None,
    *,
    profile: str | None = None,
    arguments: Mapping[str, Any] | None = None,
    argument_names: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Config:
    """Work out the effective configuration for a tasks.md.

    Args:
        tasks_file: The tasks.md (its folder is where the search starts); None
            searches from the current folder.
        profile: Profile to use (wins over ``TASKEXEC_PROFILE``).
        arguments: Settings given by the CLI, the API or a magic (None values ignored).
        argument_names: How each argument is named for ``config show``, e.g.
            ``{"max_workers": "--jobs"}`` (default: ``argument max_workers``).
        environ: The environment (default: ``os.environ``).
        config_file: Use this file instead of searching.

    Returns:
        The effective configuration.

    Raises:
        ConfigError: For any bad file, key, value, profile, dotenv file or variable.
    """
    environ = os.environ if environ is None else environ
    start = Path(tasks_file) if tasks_file is not None else Path.cwd()
    cf = read_config(config_file) if config_file else find_config(start)
    layers = _Layers()
    file_model: FileSettings | None = None
    warnings: list[str] = []
    overrides: tuple[Override, ...] = ()
    chosen = profile or environ.get(PROFILE_VAR) or None
    origin = "argument" if profile else ("env" if chosen else None)
    if cf is not None:
        file_model = check_file(cf)
        _apply_file_layer(layers, cf, dict(file_model.base), ())
        if not chosen and file_model.default_profile:
            chosen, origin = file_model.default_profile, "default_profile"
        overrides = read_overrides(cf, file_model.overrides)
    if chosen:
        profiles = file_model.profiles if file_model is not None else {}
        chain = _profile_chain(chosen, profiles, cf, origin, start)
        for name in chain:
            data = {k: v for k, v in profiles[name].items() if k != "extends"}
            assert cf is not None
            _apply_file_layer(layers, cf, data, ("profiles", name))
    env_values, env_warnings = _from_environ(environ)
    warnings += env_warnings
    # A relative program path in a variable or an argument is from the current folder.
    _anchor_agent_program(env_values, Path.cwd())
    layers.apply(env_values, lambda k, sub: f"environment {ENV_PREFIX}{k.upper()}")
    names = dict(argument_names or {})
    given = {k: v for k, v in (arguments or {}).items() if v is not None}
    _check_arguments(given, names)
    _anchor_agent_program(given, Path.cwd())
    layers.apply(given, lambda k, sub: names.get(k, f"argument {k}"))
    return _build(layers, cf, chosen, overrides, tuple(warnings))


def _apply_file_layer(
    layers: _Layers, cf: ConfigFile, data: dict[str, Any], table: tuple[str, ...]
) -> None:
    env_files = data.pop("env_file", None)
    if env_files is not None:
        loaded: dict[str, str] = {}
        for name in [env_files] if isinstance(env_files, str) else env_files:
            loaded.update(read_dotenv(cf, (*table, "env_file"), name))
        layers.apply({"env": loaded}, lambda k, sub: f"{cf.where((*table, 'env_file'))} (env_file)")
        layers.sources["env_file"] = cf.where((*table, "env_file"))
        layers.values["env_file"] = env_files
    for key in ("state_dir", "log_dir", "cwd"):
        if key in data:
            data[key] = str((cf.path.parent / data[key]).resolve())
    _anchor_agent_program(data, cf.path.parent)
    for name, given in (data.get("executors") or {}).items():
        for path, problem in _executor_problems(name, given):
            loc = (*table, "executors", *path)
            raise ConfigError(f"{cf.where(loc)}: {cf.key(loc)}: {problem}")
    suffix = f" (profile {table[1]})" if table else ""
    layers.apply(data, lambda k, sub: cf.where((*table, k, sub) if sub else (*table, k)) + suffix)


def _anchor_agent_program(data: dict[str, Any], base: Path) -> None:
    """Make a relative program path of ``data``'s ``agent_command`` absolute from ``base``.

    The agent runs in its task's working folder (the tasks.md's, or ``cwd=``), not
    where its command was written: ``./scripts/agent.sh`` in a project's
    ``taskexec.toml`` means the one beside that file, and in ``--agent-command``
    the one in the folder it was typed in. Only a program written as a path (with a
    ``/``) is one; a bare name is looked up on ``PATH``, as ever.

    Args:
        data: A layer's settings by name; its ``agent_command`` (a list, or a line
            split like a shell's) is replaced in place when its program is relative.
        base: The folder the path is from (the config file's, or the current one).
    """
    argv = data.get("agent_command")
    try:
        words = shlex.split(argv) if isinstance(argv, str) else argv
    except ValueError:  # an unclosed quote: the value's check says so
        return
    if not isinstance(words, list | tuple) or not words or not isinstance(words[0], str):
        return
    program = words[0]
    if "/" in program and not os.path.isabs(program) and "{" not in program:
        data["agent_command"] = [os.path.normpath(base / program), *words[1:]]


def _profile_chain(
    name: str, profiles: Mapping[str, Any], cf: ConfigFile | None, origin: Any, start: Path
) -> list[str]:
    if cf is None:
        start = start if start.is_dir() else start.parent
        by = f" (from {PROFILE_VAR})" if origin == "env" else ""
        raise ConfigError(
            f"profile {name!r}{by} was asked for, but there is no config file: no "
            f"{CONFIG_FILE} or [tool.taskexec] in {PYPROJECT} from {start} up to the "
            "project root"
        )
    known = ", ".join(sorted(profiles)) or "none"
    chain: list[str] = []
    current: str | None = name
    while current is not None:
        if current not in profiles:
            close = difflib.get_close_matches(current, sorted(profiles), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            if chain:
                loc: tuple[str, ...] = ("profiles", chain[-1], "extends")
                raise ConfigError(
                    f"{cf.where(loc)}: {cf.key(loc)}: profile {chain[-1]!r} extends "
                    f"{current!r}, which is not defined in {cf.path} (profiles: {known}){hint}"
                )
            if origin == "default_profile":
                loc = ("default_profile",)
                raise ConfigError(
                    f"{cf.where(loc)}: {cf.key(loc)}: profile {current!r} is not defined "
                    f"(profiles: {known}){hint}"
                )
            by = f" (from {PROFILE_VAR})" if origin == "env" else ""
            raise ConfigError(
                f"profile {current!r}{by} is not defined in {cf.path} (profiles: {known}){hint}"
            )
        if current in chain:
            cycle = " -> ".join([*chain[chain.index(current) :], current])
            raise ConfigError(
                f"{cf.where(('profiles', current))}: profiles extend each other in a cycle: {cycle}"
            )
        chain.append(current)
        current = profiles[current].get("extends")
    return chain[::-1]


def _from_environ(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``TASKEXEC_*`` variables as settings (checked), and warnings for unknown ones."""
    values: dict[str, Any] = {}
    warnings = []
    for var, raw in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or var in RESERVED_VARS:
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name in _MERGED:
            warnings.append(
                f"environment variable {var} is ignored: {name} is a table; set it in the "
                "config file or with an argument"
            )
            continue
        if name not in SCALAR_SETTINGS:
            close = difflib.get_close_matches(name, SCALAR_SETTINGS, n=1)
            if close:
                warnings.append(
                    f"environment variable {var} is not a setting; "
                    f"did you mean {ENV_PREFIX}{close[0].upper()}?"
                )
            continue
        try:
            values[name] = SETTINGS[name].kind.from_text(raw)
        except TextError as exc:
            raise ConfigError(f"environment variable {var}: {exc}") from None
    if not values:
        return {}, warnings
    out = check_values(
        values,
        lambda loc: f"environment variable {ENV_PREFIX}{str(loc[0]).upper()}",
        lambda loc: str(loc[0]),
    )
    if "env_file" in out:
        raise ConfigError(
            f"environment variable {ENV_PREFIX}ENV_FILE: name dotenv files in the config "
            "file (env_file), not the environment"
        )
    return out, warnings


def _check_arguments(given: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Unknown names and bad values of arguments, naming the option or argument."""
    unknown = unknown_names(given, {f.name for f in fields(RunSettings)} | {"mode", *_SELECTION})
    if unknown:
        raise ConfigError(f"unknown setting(s): {unknown}")
    check_values(
        {k: plain(v) for k, v in given.items() if k in SETTINGS},
        lambda loc: names.get(str(loc[0]), f"argument {loc[0]}"),
        lambda loc: ".".join(map(str, loc)),
    )


def _executor_problems(
    name: str, options: Mapping[str, Any]
) -> Iterator[tuple[tuple[str, ...], str]]:
    """What is wrong with an ``executors`` table: (key path, problem) pairs, the name first.

    Args:
        name: The executor's name: a built-in or a ``taskexec_nb.executors`` entry point.
        options: Its table. A plugin executor's options are its own business.
    """
    from taskexec_nb.executors.registry import EXECUTOR_OPTIONS

    known = EXECUTOR_OPTIONS.get(name)
    if known is None:
        from importlib.metadata import entry_points

        from taskexec_nb.executors import ENTRY_POINT_GROUP

        plugins = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        if name not in plugins:
            names = [*EXECUTOR_OPTIONS, *plugins]
            hint = guess(name, names)
            yield (
                (name,),
                f"unknown executor {name!r}{hint}; the executors here are: " + (", ".join(names)),
            )
        return
    for option, value in options.items():
        if option not in known:
            hint, takes = guess(option, known), ", ".join(known) or "no options"
            yield (
                (name, option),
                f"unknown option {option!r}{hint}; the {name} executor takes: {takes}",
            )
        elif not isinstance(value, str) or not value.strip():
            yield (name, option), f"must be a non-empty string (a name or a path), not {value!r}"


def _check_executor_options(options: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    for name, given in options.items():
        for path, problem in _executor_problems(name, given):
            where = sources.get(f"executors.{name}", "executors")
            raise ConfigError(f"{where}: executors.{'.'.join(path)}: {problem}")


def _build(
    layers: _Layers,
    cf: ConfigFile | None,
    profile: str | None,
    overrides: tuple[Override, ...],
    warnings: tuple[str, ...],
) -> Config:
    values = dict(layers.values)
    values.pop("env_file", None)
    mode = str(values.pop("mode", DEFAULT_MODE))
    only = values.pop("only", None)
    from_task = values.pop("from_task", None)
    until = values.pop("until", None)
    if "env" in values:
        values["env"] = {k: env_str(v) for k, v in values["env"].items()}
    if "secrets" in values:
        values["secrets"] = tuple(values["secrets"])
    values["overrides"] = overrides
    _check_executor_options(values.get("executors") or {}, layers.sources)
    template = values.get("agent_command")
    problems = agent_template_problems(template) if isinstance(template, list | tuple) else []
    if problems:
        where = layers.sources.get("agent_command", "agent_command")
        raise ConfigError(f"{where}: " + "; ".join(problems))
    try:
        settings = RunSettings().with_overrides(**values)
    except UsageError as exc:
        raise ConfigError(str(exc)) from None
    if isinstance(only, str):
        only = [s.strip() for s in only.split(",") if s.strip()]
    return Config(
        settings=settings,
        mode=mode,
        only=tuple(only) if only is not None else None,
        from_task=from_task,
        until=until,
        overrides=overrides,
        sources=dict(layers.sources),
        file=cf.path if cf else None,
        profile=profile,
        warnings=warnings,
    )
