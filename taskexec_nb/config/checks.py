"""Checking a config file, variables and arguments against the settings' declarations.

Every setting's kind (see :mod:`taskexec_nb.kinds`) is declared once, on
:class:`~taskexec_nb.settings.RunSettings`; this module walks a config file's
tables (settings, ``[profiles.NAME]``, ``[[overrides]]``) with them and words
each problem with where it is: ``taskexec.toml:3: retries: must be >= 0 (got -1)``,
``unknown key 'max_worker' (did you mean 'max_workers'?)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskexec_nb.config.files import ConfigFile
from taskexec_nb.config.overrides import OVERRIDE_SETTINGS, SELECTORS
from taskexec_nb.errors import ConfigError
from taskexec_nb.kinds import Loc, Problem, Text
from taskexec_nb.settings import SETTINGS, Setting

PROFILE_SETTINGS: Mapping[str, Setting] = {**SETTINGS, "extends": Setting(Text(), name="extends")}
"""What a ``[profiles.NAME]`` table may set: every setting, and the profile it extends."""

ENTRY_SETTINGS: Mapping[str, Setting] = {**SELECTORS, **OVERRIDE_SETTINGS}
"""What an ``[[overrides]]`` entry may hold: which tasks, and their settings."""

FILE_KEYS = (*SETTINGS, "default_profile", "profiles", "overrides")
"""The top-level keys of a config file."""


@dataclass(frozen=True)
class Issue:
    """A problem at a key path of a table.

    Attributes:
        loc: The key path, e.g. ``("profiles", "ci", "retries")``.
        problem: What is wrong with the value there; None for an unknown key.
        known: For an unknown key: the keys that would fit there.
    """

    loc: Loc
    problem: Problem | None = None
    known: tuple[str, ...] = ()


@dataclass
class FileSettings:
    """A config file's tables, checked: values converted (``"5m"`` is 300.0).

    Attributes:
        base: The top-level settings.
        default_profile: The profile used when none is chosen.
        profiles: Each profile's settings (with ``extends``), by name.
        overrides: The ``[[overrides]]`` entries, in file order.
    """

    base: dict[str, Any] = field(default_factory=dict)
    default_profile: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: list[dict[str, Any]] = field(default_factory=list)


def guess(word: str, choices: Sequence[str]) -> str:
    """`` (did you mean 'kernel'?)`` for the closest of ``choices``, or nothing.

    Args:
        word: The word as written.
        choices: The valid words.

    Returns:
        The hint, with a leading space, or an empty string.
    """
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_table(
    data: Mapping[str, Any],
    specs: Mapping[str, Setting],
    at: Loc = (),
    known: Sequence[str] | None = None,
) -> tuple[dict[str, Any], list[Issue]]:
    """Check each key of a table with its setting's declaration.

    Args:
        data: The table.
        specs: The settings it may hold, by name.
        at: The table's own key path (put before each issue's).
        known: The names an unknown key is compared with (default: ``specs``).

    Returns:
        The checked (converted) values of the known keys, and the issues.
    """
    out: dict[str, Any] = {}
    issues: list[Issue] = []
    for key, value in data.items():
        spec = specs.get(key)
        if spec is None:
            issues.append(Issue((*at, key), None, tuple(known if known is not None else specs)))
            continue
        checked, found = spec.kind.check(value)
        out[key] = checked
        issues += [Issue((*at, key, *p.loc), p) for p in found]
    return out, issues


def _not_a(kind: str, loc: Loc, value: Any) -> Issue:
    return Issue(loc, Problem((), f"input should be a valid {kind}", value))


def check_file(cf: ConfigFile) -> FileSettings:
    """Check a config file's settings, profiles and overrides.

    Args:
        cf: The config file.

    Returns:
        Its checked tables.

    Raises:
        ConfigError: Naming every problem, one line each, in line order:
            ``file:line: key.path: message (got value)``.
    """
    table = dict(cf.table)
    special = {k: table.pop(k) for k in ("default_profile", "profiles", "overrides") if k in table}
    out = FileSettings()
    out.base, issues = check_table(table, SETTINGS, (), FILE_KEYS)
    if "default_profile" in special:
        value = special["default_profile"]
        _, wrong = Text().check(value)
        issues += [Issue(("default_profile",), p) for p in wrong]
        out.default_profile = value if not wrong else None
    profiles = special.get("profiles", {})
    if not isinstance(profiles, Mapping):
        issues.append(_not_a("dictionary", ("profiles",), profiles))
        profiles = {}
    for name, profile in profiles.items():
        if not isinstance(profile, Mapping):
            issues.append(_not_a("dictionary", ("profiles", name), profile))
            continue
        out.profiles[name], found = check_table(profile, PROFILE_SETTINGS, ("profiles", name))
        issues += found
    entries = special.get("overrides", [])
    if not isinstance(entries, list):
        issues.append(_not_a("list", ("overrides",), entries))
        entries = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            issues.append(_not_a("dictionary", ("overrides", i), entry))
            continue
        checked, found = check_table(entry, ENTRY_SETTINGS, ("overrides", i))
        out.overrides.append(checked)
        issues += found
    if issues:
        problems = sorted((_in_file(cf, i) for i in issues), key=_line_of)
        raise ConfigError(
            f"invalid configuration in {cf.path}:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return out


def _in_file(cf: ConfigFile, issue: Issue) -> str:
    if issue.problem is None:
        hint = guess(str(issue.loc[-1]), issue.known)
        return f"{cf.where(issue.loc)}: unknown key {cf.key(issue.loc)!r}{hint}"
    return f"{cf.where(issue.loc)}: {cf.key(issue.loc)}: {_words(issue.problem)}"


def _words(problem: Problem) -> str:
    return problem.text() + problem.shown()


def _line_of(problem: str) -> int:
    match = re.match(r"[^\n]*?:(\d+): ", problem)
    return int(match.group(1)) if match else 0


def check_values(
    values: Mapping[str, Any], where: Callable[[Loc], str], key: Callable[[Loc], str]
) -> dict[str, Any]:
    """Check settings given as variables or arguments (every name known).

    Args:
        values: Setting names and values.
        where: Names where a value came from, e.g. ``environment variable
            TASKEXEC_RETRIES`` or ``--retries``.
        key: Names the key path in the message, e.g. ``retries`` or ``resources.gpu``.

    Returns:
        The checked (converted) values.

    Raises:
        ConfigError: Naming every problem, one line each.
    """
    checked, issues = check_table(values, {k: SETTINGS[k] for k in values})
    if issues:
        raise ConfigError(
            "\n".join(
                f"{where(i.loc)}: {key(i.loc)}: {_words(i.problem)}"
                for i in issues
                if i.problem is not None
            )
        )
    return checked


def plain(value: Any) -> Any:
    """A value as a config file would hold it: paths as text, tuples as lists.

    Args:
        value: An argument's value.

    Returns:
        The plain value.
    """
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value
