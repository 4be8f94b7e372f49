"""Finding and reading the config file: ``taskexec.toml``, ``[tool.taskexec]``, dotenv files.

The config file is ``taskexec.toml`` beside the tasks.md, or ``[tool.taskexec]``
in ``pyproject.toml``, found by walking up from the tasks.md's folder to the
project root (the first folder with ``.git``). Every key's line is kept, so a
message can point at it (``taskexec.toml:3``).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskexec_nb._lazyre import LazyPattern
from taskexec_nb.errors import ConfigError

CONFIG_FILE = "taskexec.toml"
PYPROJECT = "pyproject.toml"
ENV_PREFIX = "TASKEXEC_"
PROFILE_VAR = "TASKEXEC_PROFILE"
DEFAULT_MODE = "template"
"""The dependency mode when nothing sets one."""

RESERVED_VARS = frozenset(
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
"""Variables the runner itself sets for tasks (and the test suite's corpus path): never
read as settings, never warned about."""


@dataclass(frozen=True)
class ConfigFile:
    """A config file's settings table, with what is needed to point at its lines."""

    path: Path
    table: Mapping[str, Any]
    prefix: tuple[str, ...]  # ("tool", "taskexec") in pyproject.toml
    lines: Mapping[tuple[str, ...], int]
    present: bool = True  # False: a pyproject.toml without [tool.taskexec]

    def where(self, loc: Sequence[str | int]) -> str:
        """``file:line`` of a key path inside the settings table (best match).

        Args:
            loc: The key path below the file's settings table, e.g. ``("retries",)``
                or ``("agent_command", 1)``.

        Returns:
            ``file:line`` of the longest part of the path the file has a line for,
            else the file's path alone.
        """
        path = (*self.prefix, *(str(p) for p in loc))
        while path:
            if path in self.lines:
                return f"{self.path}:{self.lines[path]}"
            path = path[:-1]
        return str(self.path)

    def key(self, loc: Sequence[str | int]) -> str:
        """The key path as written in the file, e.g. ``tool.taskexec.profiles.ci.retries``.

        Args:
            loc: The key path below the file's settings table; a number is a list
                index, written ``[1]`` after the key before it.

        Returns:
            The dotted key path, from the top of the file.
        """
        parts = [*self.prefix]
        for p in loc:
            if isinstance(p, int):
                parts[-1] = f"{parts[-1]}[{p}]" if parts else f"[{p}]"
            else:
                parts.append(p)
        return ".".join(parts)


def nothing_configured(
    tasks_file: str | Path, profile: str | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Whether no layer but the defaults could set anything for a tasks.md.

    True when no profile is asked for (argument or ``TASKEXEC_PROFILE``), no other
    ``TASKEXEC_*`` variable is set and there is no config file: then
    :func:`~taskexec_nb.config.layering.resolve` gives the default settings, the
    mode :data:`DEFAULT_MODE` and no warning, and a command that needs no more
    than those need not load the settings' checks.

    Args:
        tasks_file: The tasks.md (its folder is where the search starts).
        profile: The profile given as an argument, if any.
        environ: The environment (default: ``os.environ``).

    Returns:
        Whether the configuration is the defaults.

    Raises:
        ConfigError: If a candidate config file is not valid TOML.
    """
    environ = os.environ if environ is None else environ
    if profile or environ.get(PROFILE_VAR):
        return False
    if any(v.startswith(ENV_PREFIX) and v not in RESERVED_VARS for v in environ):
        return False
    return find_config(tasks_file) is None


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
    if sys.version_info >= (3, 11):  # imported here: most runs have no config file to read
        import tomllib
    else:  # pragma: no cover - the tomli backport, same API (pyproject installs it on 3.10)
        import tomli as tomllib

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


_HEADER = LazyPattern(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = LazyPattern(
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


def read_dotenv(cf: ConfigFile, loc: tuple[str, ...], name: str) -> dict[str, str]:
    """The variables of a dotenv file named in the config file (relative to it).

    Args:
        cf: The config file.
        loc: The key path of the ``env_file`` that names it (for messages).
        name: The dotenv file's name as written.

    Returns:
        Its variables (those without a value left out).

    Raises:
        ConfigError: If the file does not exist.
    """
    from dotenv import dotenv_values

    path = (cf.path.parent / name).resolve()
    if not path.is_file():
        raise ConfigError(
            f"{cf.where(loc)}: {cf.key(loc)}: dotenv file {name!r} does not exist "
            f"(looked for {path})"
        )
    values = dotenv_values(path)
    return {k: v for k, v in values.items() if v is not None}
