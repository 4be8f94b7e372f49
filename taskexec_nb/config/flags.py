"""The ``taskexec run`` flags of the settings, derived from their declarations.

Each setting declared with ``flags`` on :class:`~taskexec_nb.settings.RunSettings`
(or in :data:`~taskexec_nb.settings.CONFIG_SETTINGS`) gets its option here, typed
by its kind: true or false as ``--X/--no-X``, a duration read with units, a
choice with its words, a table or a list repeatable.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from taskexec_nb.errors import UsageError
from taskexec_nb.kinds import Argv, Choice, Duration, Flag, OneOrMany, Text, TextError, Whole
from taskexec_nb.settings import SETTINGS, Setting

FLAGGED: Mapping[str, Setting] = MappingProxyType(
    {name: s for name, s in SETTINGS.items() if s.flags}
)
"""The settings ``taskexec run`` has a flag for, by name."""

FLAGS: Mapping[str, str] = MappingProxyType({name: s.flag for name, s in FLAGGED.items()})
"""How messages and ``config show`` name each setting's flag, e.g. ``--jobs``."""


def duration(text: str) -> float:
    """A duration flag's value: seconds or units (90, 90s, 5m, 1h30m).

    Args:
        text: The value as written.

    Returns:
        Seconds.

    Raises:
        argparse.ArgumentTypeError: If it is not a duration (argparse names the flag).
    """
    from taskexec_nb.annotations import parse_duration
    from taskexec_nb.errors import AnnotationError

    try:
        return parse_duration(text)
    except AnnotationError as exc:
        raise argparse.ArgumentTypeError(f"{exc}: {exc.hint}") from None


def add_setting_flags(parser: argparse.ArgumentParser, *, skip: Collection[str] = ()) -> None:
    """Add every flagged setting's option to ``taskexec run``'s parser (or ``%run_tasks``'s).

    Args:
        parser: The ``run`` subcommand's parser.
        skip: Settings not to add a flag for (their value reads as not given).
    """
    for name, spec in FLAGGED.items():
        if name in skip:
            continue
        options: dict[str, Any] = {"dest": spec.dest or name, "help": spec.help}
        if spec.metavar:
            options["metavar"] = spec.metavar
        kind = spec.kind
        if isinstance(kind, Flag):
            options.update(action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(kind, Choice):
            options["choices"] = list(kind.choices)
        elif isinstance(kind, Duration):
            options["type"] = duration
        elif isinstance(kind, Whole):
            options["type"] = int
        elif kind.table or isinstance(kind, OneOrMany):
            options["action"] = "append"
        parser.add_argument(*spec.flags, **options)


def cli_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The settings given as ``taskexec run`` flags (None: not given).

    Args:
        args: The parsed arguments.

    Returns:
        Setting names and values, ready for :func:`~taskexec_nb.config.resolve`.

    Raises:
        UsageError: For a value its flag cannot read, naming the flag.
    """
    out: dict[str, Any] = {}
    for name, spec in FLAGGED.items():
        raw = getattr(args, spec.dest or name, None)  # None: not given, or no such flag
        if raw is None:
            out[name] = None
        elif spec.kind.table:
            out[name] = table_items(spec.flag, raw)
        elif isinstance(spec.kind, OneOrMany):
            out[name] = [s for group in raw for s in group.split(",")]
        elif isinstance(spec.kind, Argv):
            try:
                out[name] = spec.kind.from_text(raw)
            except TextError as exc:
                raise UsageError(f"{spec.flag}: {exc}") from None
        elif isinstance(spec.kind, Text) and spec.kind.path:
            out[name] = str(Path(raw).resolve())
        else:
            out[name] = raw
    return out


def table_items(flag: str, items: list[str] | None) -> dict[str, float] | None:
    """``NAME=AMOUNT`` values of a repeatable table flag (``--resource gpu=1``).

    Args:
        flag: The flag as messages name it, e.g. ``--resource``.
        items: The values as given, one per use of the flag (None or empty: not given).

    Returns:
        Amounts by name, or None when the flag was not given.

    Raises:
        UsageError: For a value that is not ``NAME=AMOUNT``, naming the flag and the value.
    """
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, amount = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(amount)
        except ValueError:
            raise UsageError(f"{flag} {item!r}: write NAME=AMOUNT, e.g. gpu=1") from None
    return out
