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
task by :meth:`Config.task_params`. Every value remembers its source, shown by
``taskexec config show``.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import os
import re
import shlex
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the tomli backport, same API (pyproject installs it on 3.10)
    import tomli as tomllib

from taskexec_nb.errors import UsageError
from taskexec_nb.model import ExecParams, Task
from taskexec_nb.secrets import mask_env
from taskexec_nb.settings import RunSettings, agent_template_problems, unknown_names

if TYPE_CHECKING:
    import pydantic

CONFIG_FILE = "taskexec.toml"
PYPROJECT = "pyproject.toml"
ENV_PREFIX = "TASKEXEC_"
PROFILE_VAR = "TASKEXEC_PROFILE"
MODES = ("template", "stories", "explicit")

# Variables the runner itself sets for tasks (and the test suite's corpus path):
# never read as settings, never warned about.
_RESERVED_VARS = frozenset(
    {
        "TASKEXEC_PROFILE",
        "TASKEXEC_RUN_ID",
        "TASKEXEC_TASK_ID",
        "TASKEXEC_ATTEMPT",
        "TASKEXEC_TASKS_FILE",
        "TASKEXEC_RUNNER",
        "TASKEXEC_CORPUS",
    }
)
# Settings that merge key by key across layers instead of being replaced.
_MERGED = ("env", "resources", "executors")
# Settings that are not RunSettings fields.
_SELECTION = ("only", "from_task", "until")


class ConfigError(UsageError):
    """A config file, profile, environment variable or argument is wrong."""


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
        """Whether the entry applies to ``task`` (every given selector must match)."""
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
    mode: str = "template"
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
        """Every effective setting with its source, secrets masked (for JSON)."""
        values = self.values()
        return {
            "file": str(self.file) if self.file else None,
            "profile": self.profile,
            "settings": {
                name: {"value": value, "source": self.sources.get(name, "default")}
                for name, value in values.items()
            },
            "env": {
                name: {"value": value, "source": self.sources.get(f"env.{name}", "default")}
                for name, value in _display_env(self.settings).items()
            },
            "overrides": self.settings.to_dict()["overrides"],
            "warnings": list(self.warnings),
        }

    def values(self) -> dict[str, Any]:
        """Every effective setting except ``env`` as plain values."""
        out: dict[str, Any] = {"mode": self.mode}
        out.update({k: v for k, v in self.settings.to_dict().items() if k not in ("env",)})
        out.pop("overrides", None)
        out["only"] = list(self.only) if self.only is not None else None
        out["from_task"] = self.from_task
        out["until"] = self.until
        return out

    def show(self) -> str:
        """A readable table of the effective settings and their sources."""
        lines = [
            f"config file: {self.file or 'none (defaults)'}",
            f"profile: {self.profile or 'none'}",
            "",
        ]
        rows = [
            (name, _fmt(value), self.sources.get(name, "default"))
            for name, value in self.values().items()
        ]
        rows += [
            (f"env.{name}", _fmt(value), self.sources.get(f"env.{name}", "default"))
            for name, value in _display_env(self.settings).items()
        ]
        width = max(len(r[0]) for r in rows)
        vwidth = min(40, max(len(r[1]) for r in rows))
        lines.append(f"{'SETTING':<{width}}  {'VALUE':<{vwidth}}  SOURCE")
        lines += [f"{n:<{width}}  {v:<{vwidth}}  {s}" for n, v, s in rows]
        for o in self.settings.to_dict()["overrides"]:
            selector = ", ".join(
                f"{k}={','.join(o[key])}"
                for k, key in (("phase", "phases"), ("story", "stories"), ("tasks", "tasks"))
                if o[key]
            )
            lines.append(f"override [{selector}]: {_fmt(o['settings'])}  ({o['source']})")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _display_env(settings: RunSettings) -> dict[str, str]:
    return dict(sorted(mask_env(settings.env, settings.secrets).items()))


# --- per-task overrides ---------------------------------------------------------------------

_TASK_KEYS = ("timeout", "retries", "backoff", "allow_failure", "env", "cwd", "needs", "executor")


def apply_overrides(task: Task, overrides: Sequence[Override]) -> ExecParams:
    """A task's parameters with matching overrides under its own annotation.

    Args:
        task: The task.
        overrides: Entries in file order (later ones win).

    Returns:
        The merged parameters; the task's annotation always wins.
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
    for name in ("timeout", "retries", "backoff", "allow_failure", "cwd", "executor"):
        if getattr(own, name) is not None:
            merged.pop(name, None)
    return replace(
        own,
        env=MappingProxyType({**env, **own.env}),
        resources=MappingProxyType({**needs, **own.resources}),
        **merged,
    )


def effective_task(task: Task, overrides: Sequence[Override]) -> Task:
    """``task`` with its parameters after overrides (the same object when none match)."""
    params = apply_overrides(task, overrides)
    return task if params is task.params else replace(task, params=params)


# --- finding the file -----------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigFile:
    """A config file's settings table, with what is needed to point at its lines."""

    path: Path
    table: Mapping[str, Any]
    prefix: tuple[str, ...]  # ("tool", "taskexec") in pyproject.toml
    lines: Mapping[tuple[str, ...], int]
    present: bool = True  # False: a pyproject.toml without [tool.taskexec]

    def where(self, loc: Sequence[str | int]) -> str:
        """``file:line`` of a key path inside the settings table (best match)."""
        path = (*self.prefix, *(str(p) for p in loc))
        while path:
            if path in self.lines:
                return f"{self.path}:{self.lines[path]}"
            path = path[:-1]
        return str(self.path)

    def key(self, loc: Sequence[str | int]) -> str:
        """The key path as written in the file, e.g. ``tool.taskexec.profiles.ci.retries``."""
        parts = [*self.prefix]
        for p in loc:
            if isinstance(p, int):
                parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
            else:
                parts.append(p)
        return ".".join(parts)


def find_config(start: str | Path) -> ConfigFile | None:
    """Find the config file for a tasks.md (or a folder) by walking up.

    Args:
        start: The tasks.md or the folder to start from.

    Returns:
        The first ``taskexec.toml``, or ``pyproject.toml`` with a
        ``[tool.taskexec]`` table, up to the project root; None if there is none.

    Raises:
        ConfigError: If a candidate file is not valid TOML.
    """
    try:
        here = Path(start).resolve()
    except (OSError, RuntimeError):  # a symlink loop: search from where it was named
        here = Path(os.path.abspath(start))
    folder = here if here.is_dir() else here.parent
    for candidate in (folder, *folder.parents):
        own = candidate / CONFIG_FILE
        if own.is_file():
            return read_config(own)
        pyproject = candidate / PYPROJECT
        if pyproject.is_file():
            found = read_config(pyproject)
            if found.present:
                return found
        if (candidate / ".git").exists():
            return None
    return None


def read_config(path: str | Path) -> ConfigFile:
    """Read one config file (``taskexec.toml`` or ``pyproject.toml``).

    Args:
        path: The file.

    Returns:
        Its settings table (empty for a pyproject without ``[tool.taskexec]``).

    Raises:
        ConfigError: If the file cannot be read or is not valid TOML.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{line.group(1)}" if line else str(path)
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    prefix: tuple[str, ...] = ()
    present = True
    if path.name == PYPROJECT:
        prefix = ("tool", "taskexec")
        tool = data.get("tool", {})
        present = isinstance(tool, dict) and "taskexec" in tool
        table = tool.get("taskexec", {}) if isinstance(tool, dict) else {}
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: tool.taskexec must be a table")
        data = table
    return ConfigFile(path, data, prefix, _key_lines(text), present)


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return tuple(p.strip("\"'") for p in parts)


def _key_lines(text: str) -> dict[tuple[str, ...], int]:
    """First line of every table and key path, for messages (arrays of tables indexed)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    in_string = False
    for number, line in enumerate(text.splitlines(), 1):
        if in_string:
            if line.count('"""') % 2 or line.count("'''") % 2:
                in_string = False
            continue
        header = _HEADER.match(line)
        if header:
            name = _split_key(header.group(2))
            if header.group(1) == "[[":
                index = counts.get(name, 0)
                counts[name] = index + 1
                for i in range(1, len(name) + 1):
                    lines.setdefault(name[:i], number)
                name = (*name, str(index))
            table = name
            for i in range(1, len(table) + 1):
                lines.setdefault(table[:i], number)
            continue
        key = _KEY.match(line)
        if key:
            path = (*table, *_split_key(key.group(1)))
            for i in range(len(table) + 1, len(path) + 1):
                lines.setdefault(path[:i], number)
            if line.count('"""') % 2 or line.count("'''") % 2:
                in_string = True
    return lines


# --- validation -----------------------------------------------------------------------------

_models: dict[str, Any] = {}


def _schema() -> dict[str, Any]:
    """The pydantic models (built on first use: pydantic stays out of ``--help``)."""
    if _models:
        return _models
    from typing import Annotated, Literal

    from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

    def no_bool(value: Any) -> Any:
        if isinstance(value, bool):  # TOML true is not the number 1
            raise ValueError("must be a number, not true or false")
        return value

    def duration(value: Any) -> Any:
        """Seconds as a number, or a duration string such as "90s", "5m", "1h30m"."""
        value = no_bool(value)
        if isinstance(value, str):
            from taskexec_nb.annotations import AnnotationError, parse_duration

            try:
                return parse_duration(value)
            except AnnotationError as exc:
                raise ValueError(f"{exc}: {exc.hint}") from None
        return value

    def argv(value: Any) -> Any:
        """An argv as a list, or as one string split like a shell line (as the flag does)."""
        if isinstance(value, str):
            try:
                return shlex.split(value)
            except ValueError as exc:
                raise ValueError(f"cannot split {value!r} like a shell line: {exc}") from None
        return value

    whole = Annotated[int, BeforeValidator(no_bool)]
    seconds = Annotated[float, BeforeValidator(duration)]
    amount = Annotated[float, BeforeValidator(no_bool), Field(gt=0)]
    positive = Field(default=None, gt=0)
    scalar = str | int | float | bool

    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid")

    class Settings(Strict):
        max_workers: whole | None = Field(default=None, ge=1)
        resources: dict[str, amount] | None = None
        mode: Literal["template", "stories", "explicit"] | None = None
        fail_fast: StrictBool | None = None
        allow_failure: StrictBool | None = None
        retries: whole | None = Field(default=None, ge=0)
        backoff: seconds | None = Field(default=None, ge=0)
        timeout: seconds | None = positive
        kill_grace: seconds | None = Field(default=None, ge=0)
        no_action: Literal["agent", "skip", "fail"] | None = None
        agent_command: Annotated[list[str], BeforeValidator(argv)] | None = Field(
            default=None, min_length=1
        )
        agent_context: StrictBool | None = None
        executors: dict[str, dict[str, scalar]] | None = None
        shell: str | None = Field(default=None, min_length=1)
        cwd: str | None = None
        env: dict[str, scalar] | None = None
        env_file: str | list[str] | None = None
        secrets: list[str] | None = None
        state_dir: str | None = None
        log_dir: str | None = None
        log_retention: whole | None = Field(default=None, ge=1)
        writeback: StrictBool | None = None
        only: str | list[str] | None = None
        from_task: str | None = None
        until: str | None = None
        tail_lines: whole | None = Field(default=None, ge=1)

    class Profile(Settings):
        extends: str | None = None

    class OverrideModel(Strict):
        phase: int | str | list[int | str] | None = None
        story: str | list[str] | None = None
        tasks: str | list[str] | None = None
        timeout: seconds | None = positive
        retries: whole | None = Field(default=None, ge=0)
        backoff: seconds | None = Field(default=None, ge=0)
        allow_failure: StrictBool | None = None
        env: dict[str, scalar] | None = None
        cwd: str | None = None
        needs: dict[str, amount] | None = None
        executor: str | None = None

    class FileModel(Settings):
        default_profile: str | None = None
        profiles: dict[str, Profile] | None = None
        overrides: list[OverrideModel] | None = None

    _models.update(Settings=Settings, Profile=Profile, File=FileModel, Override=OverrideModel)
    return _models


def _names(model: Any) -> list[str]:
    return sorted(model.model_fields)


def _errors(
    exc: pydantic.ValidationError,
    where: Any,
    key: Any,
    models: Mapping[str, Any],
    data: Mapping[str, Any],
) -> list[str]:
    """One line per problem: ``file:line: key.path: message``."""
    out = []
    by_loc: dict[tuple[Any, ...], list[Any]] = {}
    for err in exc.errors():
        by_loc.setdefault(tuple(_clean_loc(list(err["loc"]), data)), []).append(err)
    for loc_key, errs in by_loc.items():
        loc = list(loc_key)
        first = errs[0]
        name = key(loc)
        if first["type"] == "extra_forbidden":
            known = _known_for(loc, models)
            out.append(f"{where(loc)}: unknown key {name!r}{_guess(str(loc[-1]), known)}")
            continue
        got = first.get("input")
        if isinstance(got, dict | list):
            shown = ""
        else:
            shown = f" (got {json.dumps(got) if isinstance(got, bool) else repr(got)})"
        message = _message(first) if len(errs) == 1 else _wrong_type(errs)
        out.append(f"{where(loc)}: {name}: {message}{shown}")
    return out


_KINDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a table",
}


def _wrong_type(errs: Sequence[Mapping[str, Any]]) -> str:
    kinds = list(dict.fromkeys(_KINDS.get(str(e["type"]), str(e["type"])) for e in errs))
    return "must be " + (
        " or ".join(kinds) if len(kinds) < 3 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    )


def _clean_loc(loc: list[Any], data: Any) -> list[Any]:
    """The key path as the user wrote it.

    pydantic adds the member type of a union to an error's path (``str``,
    ``list[str]``, ...); following the path through the data tells them apart
    from the user's own keys, even a key that happens to be named ``str``.
    """
    out: list[Any] = []
    current = data
    for part in loc:
        if _has(current, part):
            current = current[part]
            out.append(part)
        # else: a type tag pydantic added, not a key
    return out or [str(p) for p in loc[:1]]


def _has(container: Any, part: Any) -> bool:
    if isinstance(container, Mapping):
        return part in container
    if isinstance(container, list):
        return isinstance(part, int) and 0 <= part < len(container)
    return False


def _message(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"])
    ctx = err.get("ctx") or {}
    kind = err["type"]
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    if kind == "literal_error" and "expected" in ctx:
        return f"must be one of {ctx['expected']}"
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<="}
    for name, sign in bounds.items():
        if kind == name:
            limit = next(iter(ctx.values()), None)
            shown = f"{limit:g}" if isinstance(limit, int | float) else limit
            return f"must be {sign} {shown}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    return msg[0].lower() + msg[1:] if msg else msg


def _known_for(loc: Sequence[Any], models: Mapping[str, Any]) -> list[str]:
    if len(loc) >= 3 and loc[0] == "profiles":
        return _names(models["Profile"])
    if len(loc) >= 3 and loc[0] == "overrides":
        return _names(models["Override"])
    if len(loc) == 1:
        return _names(models["File"])
    return []


def _line_of(problem: str) -> int:
    match = re.match(r"[^\n]*?:(\d+): ", problem)
    return int(match.group(1)) if match else 0


def _validate_file(cf: ConfigFile) -> Any:
    from pydantic import ValidationError as PydanticError

    models = _schema()
    try:
        return models["File"].model_validate(dict(cf.table))
    except PydanticError as exc:
        problems = sorted(_errors(exc, cf.where, cf.key, models, cf.table), key=_line_of)
        raise ConfigError(
            f"invalid configuration in {cf.path}:\n" + "\n".join(f"  {p}" for p in problems)
        ) from None


# --- resolving -----------------------------------------------------------------------------


@dataclass
class _Layers:
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def apply(self, data: Mapping[str, Any], source: Any) -> None:
        """Put ``data`` on top; ``source(key)`` names where each key came from."""
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
    file_model = None
    warnings: list[str] = []
    overrides: tuple[Override, ...] = ()
    chosen = profile or environ.get(PROFILE_VAR) or None
    origin = "argument" if profile else ("env" if chosen else None)
    if cf is not None:
        file_model = _validate_file(cf)
        base = file_model.model_dump(
            exclude_none=True, exclude={"profiles", "overrides", "default_profile"}
        )
        _apply_file_layer(layers, cf, base, ())
        if not chosen and file_model.default_profile:
            chosen, origin = file_model.default_profile, "default_profile"
        overrides = _overrides(cf, file_model)
    if chosen:
        profiles = (file_model.profiles or {}) if file_model is not None else {}
        chain = _profile_chain(chosen, profiles, cf, origin, start)
        for name in chain:
            data = profiles[name].model_dump(exclude_none=True, exclude={"extends"})
            assert cf is not None
            _apply_file_layer(layers, cf, data, ("profiles", name))
    env_values, env_warnings = _from_environ(environ)
    warnings += env_warnings
    layers.apply(env_values, lambda k, sub: f"environment {ENV_PREFIX}{k.upper()}")
    names = dict(argument_names or {})
    given = {k: v for k, v in (arguments or {}).items() if v is not None}
    _check_arguments(given, names)
    layers.apply(given, lambda k, sub: names.get(k, f"argument {k}"))
    return _build(layers, cf, chosen, overrides, tuple(warnings))


def _apply_file_layer(
    layers: _Layers, cf: ConfigFile, data: dict[str, Any], table: tuple[str, ...]
) -> None:
    env_files = data.pop("env_file", None)
    if env_files is not None:
        loaded: dict[str, str] = {}
        for name in [env_files] if isinstance(env_files, str) else env_files:
            loaded.update(_read_dotenv(cf, (*table, "env_file"), name))
        layers.apply({"env": loaded}, lambda k, sub: f"{cf.where((*table, 'env_file'))} (env_file)")
        layers.sources["env_file"] = cf.where((*table, "env_file"))
        layers.values["env_file"] = env_files
    for key in ("state_dir", "log_dir", "cwd"):
        if key in data:
            data[key] = str((cf.path.parent / data[key]).resolve())
    for name, given in (data.get("executors") or {}).items():
        for path, problem in _executor_problems(name, given):
            loc = (*table, "executors", *path)
            raise ConfigError(f"{cf.where(loc)}: {cf.key(loc)}: {problem}")
    suffix = f" (profile {table[1]})" if table else ""
    layers.apply(data, lambda k, sub: cf.where((*table, k, sub) if sub else (*table, k)) + suffix)


def _read_dotenv(cf: ConfigFile, loc: tuple[str, ...], name: str) -> dict[str, str]:
    from dotenv import dotenv_values

    path = (cf.path.parent / name).resolve()
    if not path.is_file():
        raise ConfigError(
            f"{cf.where(loc)}: {cf.key(loc)}: dotenv file {name!r} does not exist "
            f"(looked for {path})"
        )
    values = dotenv_values(path)
    return {k: v for k, v in values.items() if v is not None}


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
        current = profiles[current].extends
    return chain[::-1]


def _overrides(cf: ConfigFile, model: Any) -> tuple[Override, ...]:
    out = []
    for i, entry in enumerate(model.overrides or []):
        data = entry.model_dump(exclude_none=True)
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
            data["env"] = {k: _env_str(v) for k, v in data["env"].items()}
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


def _env_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Settings a TASKEXEC_* variable can set (every one but the tables); a test checks
# this against the schema, kept literal so that reading the environment needs no pydantic.
SCALAR_SETTINGS = (
    "agent_command",
    "agent_context",
    "allow_failure",
    "backoff",
    "cwd",
    "env_file",
    "fail_fast",
    "from_task",
    "kill_grace",
    "log_dir",
    "log_retention",
    "max_workers",
    "mode",
    "no_action",
    "only",
    "retries",
    "secrets",
    "shell",
    "state_dir",
    "tail_lines",
    "timeout",
    "until",
    "writeback",
)


def _from_environ(environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """``TASKEXEC_*`` variables as settings (validated), and warnings for unknown ones."""
    scalars = SCALAR_SETTINGS
    values: dict[str, Any] = {}
    warnings = []
    for var, raw in sorted(environ.items()):
        if not var.startswith(ENV_PREFIX) or var in _RESERVED_VARS:
            continue
        name = var[len(ENV_PREFIX) :].lower()
        if name in ("resources", "env", "executors"):
            warnings.append(
                f"environment variable {var} is ignored: {name} is a table; set it in the "
                "config file or with an argument"
            )
            continue
        if name not in scalars:
            close = difflib.get_close_matches(name, scalars, n=1)
            if close:
                warnings.append(
                    f"environment variable {var} is not a setting; "
                    f"did you mean {ENV_PREFIX}{close[0].upper()}?"
                )
            continue
        value: Any = raw
        if name in ("agent_command", "secrets", "only", "env_file") and raw.strip().startswith("["):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"environment variable {var}: not a JSON list: {exc}") from None
        elif name == "agent_command":
            try:
                value = shlex.split(raw)
            except ValueError as exc:
                raise ConfigError(f"environment variable {var}: {exc}") from None
        elif name == "secrets":
            value = [s.strip() for s in raw.split(",") if s.strip()]
        elif name in ("fail_fast", "allow_failure", "writeback", "agent_context"):
            value = _env_bool(var, raw)
        values[name] = value
    if not values:
        return {}, warnings
    from pydantic import ValidationError as PydanticError

    models = _schema()
    try:
        checked = models["Settings"].model_validate(values)
    except PydanticError as exc:

        def where(loc: Sequence[Any]) -> str:
            return f"environment variable {ENV_PREFIX}{str(loc[0]).upper()}"

        problems = _errors(exc, where, lambda loc: str(loc[0]), models, values)
        raise ConfigError("\n".join(problems)) from None
    out = checked.model_dump(exclude_none=True)
    if "env_file" in out:
        raise ConfigError(
            f"environment variable {ENV_PREFIX}ENV_FILE: name dotenv files in the config "
            "file (env_file), not the environment"
        )
    return out, warnings


def _env_bool(var: str, raw: str) -> bool:
    text = raw.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"environment variable {var}: expected true or false, got {raw!r}")


def _check_arguments(given: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Unknown names and bad values of arguments, naming the option or argument."""
    unknown = unknown_names(given, {f.name for f in fields(RunSettings)} | {"mode", *_SELECTION})
    if unknown:
        raise ConfigError(f"unknown setting(s): {unknown}")
    if not given:
        return
    from pydantic import ValidationError as PydanticError

    models = _schema()
    checkable = {k: _plain(v) for k, v in given.items() if k in models["Settings"].model_fields}
    try:
        models["Settings"].model_validate(checkable)
    except PydanticError as exc:

        def where(loc: Sequence[Any]) -> str:
            return names.get(str(loc[0]), f"argument {loc[0]}")

        problems = _errors(exc, where, lambda loc: ".".join(map(str, loc)), models, checkable)
        raise ConfigError("\n".join(problems)) from None


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


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
            hint = _guess(name, names)
            yield (
                (name,),
                f"unknown executor {name!r}{hint}; the executors here are: " + (", ".join(names)),
            )
        return
    for option, value in options.items():
        if option not in known:
            hint, takes = _guess(option, known), ", ".join(known) or "no options"
            yield (
                (name, option),
                f"unknown option {option!r}{hint}; the {name} executor takes: {takes}",
            )
        elif not isinstance(value, str) or not value.strip():
            yield (name, option), f"must be a non-empty string (a name or a path), not {value!r}"


def _guess(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'kernel'?)`` for the closest of ``choices``, or nothing."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
    mode = str(values.pop("mode", "template"))
    only = values.pop("only", None)
    from_task = values.pop("from_task", None)
    until = values.pop("until", None)
    if "env" in values:
        values["env"] = {k: _env_str(v) for k, v in values["env"].items()}
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
