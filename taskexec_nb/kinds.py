"""Kinds of setting values: how each is read from text and checked, with its messages.

A :class:`Kind` knows one shape of value (a whole number, a duration, true or
false, an argv...). :meth:`Kind.check` takes a value as a config file, an
argument or the environment gives it and returns the value to use, or the
problems with it; :meth:`Kind.from_text` reads the value from one string (a
``TASKEXEC_*`` variable or a command-line flag). ``lax`` checking (config files,
arguments, variables) takes ``"5"`` for 5 as TOML users expect; strict checking
(a :class:`~taskexec_nb.settings.RunSettings` built directly) takes only the
Python type. The base and the problems it reports are :mod:`taskexec_nb.kindbase`'s
(re-exported here). This module imports nothing else from the package but the
duration parser, so the declarations in :mod:`taskexec_nb.settings` stay a leaf.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from taskexec_nb.kindbase import Bound, Checked, Kind, Loc, Problem, TextError

__all__ = [
    "NOT_BOOL",
    "Argv",
    "Bound",
    "Checked",
    "Choice",
    "Duration",
    "Flag",
    "Kind",
    "Loc",
    "Names",
    "Number",
    "OneOrMany",
    "Problem",
    "Scalar",
    "Selector",
    "Table",
    "Text",
    "TextError",
    "Whole",
]

_WHOLE_TEXT = re.compile(r"[+-]?\d[\d_]*(?:\.0*)?")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _one_of(words: Sequence[str]) -> str:
    quoted = [repr(w) for w in words]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _either(kinds: Sequence[str]) -> str:
    """``must be a string or a list``: the kinds of a value that was none of them."""
    return "must be " + (
        " or ".join(kinds) if len(kinds) < 3 else ", ".join(kinds[:-1]) + " or " + kinds[-1]
    )


NOT_BOOL = "must be a number, not true or false"


class Whole(Kind):
    """A whole number, optionally with a lower limit; true and false are not numbers."""

    describe = "a whole number"

    def __init__(self, minimum: int | None = None) -> None:
        """A whole number kind.

        Args:
            minimum: The smallest allowed value, if any.
        """
        self.bound = None if minimum is None else Bound(minimum)

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value as an int, refusing booleans, fractions and values under the bound.

        Args:
            value: The value as given.
            lax: Read text where a number is expected (config files, arguments,
                variables); strict takes only the Python type.

        Returns:
            The int (a whole float or a number's text converted where lax) and the
            problems (empty when good).
        """
        if isinstance(value, bool):
            return value, [Problem((), NOT_BOOL, value, "must be a whole number")]
        number = value
        if lax and isinstance(value, float):
            if not math.isfinite(value):
                return value, [Problem((), "input should be a finite number", value)]
            if not value.is_integer():
                message = "input should be a valid integer, got a number with a fractional part"
                return value, [Problem((), message, value, "must be a whole number")]
            number = int(value)
        elif lax and isinstance(value, str):
            if not _WHOLE_TEXT.fullmatch(value.strip()):
                message = "input should be a valid integer, unable to parse string as an integer"
                return value, [Problem((), message, value)]
            number = int(float(value.strip().replace("_", "")))
        elif not isinstance(value, int):
            return value, [
                Problem((), "input should be a valid integer", value, "must be a whole number")
            ]
        problem = self.bound.problem(number, value) if self.bound else None
        return number, [problem] if problem else []


class Number(Kind):
    """A number (int or float), optionally with a lower limit."""

    describe = "a number"

    def __init__(self, bound: Bound | None = None) -> None:
        """A number kind.

        Args:
            bound: Its lower limit, if any.
        """
        self.bound = bound

    def number(self, value: Any, lax: bool) -> Checked:
        """The value as a float (no limit checked).

        Args:
            value: The value as given.
            lax: Read text too.

        Returns:
            The number and the problems.
        """
        if isinstance(value, bool):
            return value, [Problem((), NOT_BOOL, value, "must be a number")]
        if _is_number(value):
            return (float(value) if lax else value), []
        if lax and isinstance(value, str):
            try:
                return float(value.strip().replace("_", "")), []
            except ValueError:
                message = "input should be a valid number, unable to parse string as a number"
                return value, [Problem((), message, value)]
        return value, [Problem((), "input should be a valid number", value, "must be a number")]

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value as a number, refusing booleans and values under the bound.

        Args:
            value: The value as given.
            lax: Read text where a number is expected (config files, arguments,
                variables); strict takes only the Python type.

        Returns:
            The number (a float where lax) and the problems (empty when good).
        """
        number, problems = self.number(value, lax)
        if problems or self.bound is None:
            return number, problems
        problem = self.bound.problem(number, value)
        return number, [problem] if problem else []


class Duration(Number):
    """Seconds as a number, or a duration text such as ``90s``, ``5m``, ``1h30m``, ``250ms``."""

    describe = "a duration"

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value in seconds: a number, or a duration text such as ``5m`` or ``1h30m``.

        Args:
            value: The value as given.
            lax: Read a number's text too (config files, arguments, variables); a duration
                text is read either way.

        Returns:
            The seconds and the problems (a duration text that cannot be read names
            the units it takes).
        """
        if not isinstance(value, str):
            return super().check(value, lax)
        from taskexec_nb.annotations import parse_duration
        from taskexec_nb.errors import AnnotationError

        try:
            seconds = parse_duration(value)
        except AnnotationError as exc:
            return value, [Problem((), str(exc), value, hint=exc.hint)]
        problem = self.bound.problem(seconds, value) if self.bound else None
        return seconds, [problem] if problem else []


class Flag(Kind):
    """True or false (in a file: the TOML booleans; in text: yes/no, on/off, 1/0)."""

    describe = "true or false"

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value if it is a boolean; anything else is a problem.

        Args:
            value: The value as given.
            lax: Unused: a boolean is needed either way (text is read by :meth:`from_text`).

        Returns:
            The value unchanged and the problems (empty when good).
        """
        if isinstance(value, bool):
            return value, []
        return value, [
            Problem((), "input should be a valid boolean", value, "must be true or false")
        ]

    def from_text(self, text: str) -> Any:
        """True for 1, true, yes or on; false for 0, false, no, off or nothing (any case).

        Args:
            text: The text of a ``TASKEXEC_*`` variable or a command-line flag.

        Returns:
            The boolean (case and surrounding spaces do not matter).

        Raises:
            TextError: If the text is none of those words.
        """
        word = text.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off", ""):
            return False
        raise TextError(f"expected true or false, got {text!r}")


class Choice(Kind):
    """One of a few words."""

    def __init__(self, choices: Sequence[str]) -> None:
        """A choice kind.

        Args:
            choices: The allowed words.
        """
        self.choices = tuple(choices)
        self.describe = "one of " + ", ".join(self.choices)

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value if it is one of the choices; anything else is a problem listing them.

        Args:
            value: The value as given.
            lax: Unused: the value must be one of the choices' strings either way.

        Returns:
            The value unchanged and the problems (empty when good).
        """
        if isinstance(value, str) and value in self.choices:
            return value, []
        return value, [
            Problem(
                (),
                f"must be one of {_one_of(self.choices)}",
                value,
                f"must be one of {', '.join(self.choices)}",
            )
        ]


class Text(Kind):
    """A string, a path (strict: a path object too), optionally not empty."""

    describe = "a string"

    def __init__(self, nonempty: bool = False, path: bool = False) -> None:
        """A text kind.

        Args:
            nonempty: Refuse the empty string.
            path: A path: a :class:`~pathlib.Path` is fine where strict.
        """
        self.nonempty = nonempty
        self.path = path

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value if it is a string (not empty, when the kind says so).

        Args:
            value: The value as given.
            lax: Where strict, a path kind also takes a path object.

        Returns:
            The value unchanged and the problems (empty when good).
        """
        if not lax and self.path and isinstance(value, os.PathLike):
            return value, []
        if not isinstance(value, str):
            return value, [Problem((), "input should be a valid string", value, "must be a string")]
        if self.nonempty and not value:
            return value, [Problem((), "must not be empty", value)]
        return value, []


def _text_list(value: Any, lax: bool) -> Checked:
    """A list of strings (strict: a tuple too)."""
    if not isinstance(value, list) and (lax or not isinstance(value, tuple)):
        return value, [
            Problem((), "input should be a valid list", value, "must be a list of strings")
        ]
    problems = [
        Problem((i,), "input should be a valid string", item, "must be a string")
        for i, item in enumerate(value)
        if not isinstance(item, str)
    ]
    return (list(value) if lax else value), problems


def _json_list(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TextError(f"not a JSON list: {exc}") from None


class Names(Kind):
    """A list of strings; as text, comma-separated or a JSON list."""

    describe = "a list of strings"

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value as a list of strings.

        Args:
            value: The value as given.
            lax: Return a copy of the list; strict also takes a tuple and returns it as it is.

        Returns:
            The list and the problems, each located at its item's index.
        """
        return _text_list(value, lax)

    def from_text(self, text: str) -> Any:
        """A JSON list if the text starts with ``[``, else the comma-separated names.

        Args:
            text: The text of a ``TASKEXEC_*`` variable or a command-line flag.

        Returns:
            The list of names, blank entries dropped.

        Raises:
            TextError: If the text starts with ``[`` but is not a JSON list.
        """
        if text.strip().startswith("["):
            return _json_list(text)
        return [s.strip() for s in text.split(",") if s.strip()]


class OneOrMany(Kind):
    """A string or a list of strings (a list as text: JSON)."""

    describe = "a string or a list of strings"

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value if it is a string, else as a list of strings.

        Args:
            value: The value as given.
            lax: Refuse a tuple (strict takes one, as a RunSettings built in Python may).

        Returns:
            The string or the list, and the problems (empty when good).
        """
        if isinstance(value, str):
            return value, []
        if isinstance(value, list | tuple):
            return _text_list(value, lax or isinstance(value, list))
        return value, [Problem((), _either(["a string", "a list"]), value)]

    def from_text(self, text: str) -> Any:
        """A JSON list if the text starts with ``[``, else the text itself as one string.

        Args:
            text: The text of a ``TASKEXEC_*`` variable or a command-line flag.

        Returns:
            The list or the string.

        Raises:
            TextError: If the text starts with ``[`` but is not a JSON list.
        """
        return _json_list(text) if text.strip().startswith("[") else text


class Argv(Kind):
    """A command's argv: a non-empty list of strings, or one line split like a shell's."""

    describe = "an argv"

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value as a non-empty argv: a list of strings, or a line split like a shell's.

        Args:
            value: The value as given.
            lax: Also take one string, split like a shell line; strict takes only a
                non-empty list or tuple of strings.

        Returns:
            The argv and the problems (an empty argv or an unsplittable line is one).
        """
        plain = "must be a non-empty list of strings (an argv)"
        given = value
        if not lax and (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(a, str) for a in value)
        ):
            return value, [Problem((), plain, value, plain)]
        if isinstance(value, str):
            try:
                value = shlex.split(value)
            except ValueError as exc:
                message = f"cannot split {value!r} like a shell line: {exc}"
                return value, [Problem((), message, value)]
        elif not isinstance(value, list | tuple):
            either = "must be a list of strings or one string (a command line)"
            return value, [Problem((), either, value, either)]
        value, problems = _text_list(value, lax)
        if not problems and not value:
            problems = [Problem((), "must not be empty", given)]
        return value, problems

    def from_text(self, text: str) -> Any:
        """A JSON list if the text starts with ``[``, else the line split like a shell's.

        Args:
            text: The text of a ``TASKEXEC_*`` variable or a command-line flag.

        Returns:
            The argv (a JSON list's items as strings).

        Raises:
            TextError: If the text is not a JSON list or has an unclosed quote.
        """
        stripped = text.strip()
        if stripped.startswith("["):
            return [str(v) for v in _json_list(stripped)]  # "[" starts a list, if any
        try:
            return shlex.split(stripped)
        except ValueError as exc:
            raise TextError(str(exc)) from None


class Table(Kind):
    """A table (mapping) of names to values of one kind.

    Attributes:
        item: The kind of each value.
    """

    describe = "a table"
    table = True

    def __init__(self, item: Kind) -> None:
        """A table kind.

        Args:
            item: The kind of each value.
        """
        self.item = item

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value if it is a mapping, each of its values checked as the item kind.

        Args:
            value: The value as given.
            lax: Passed to the item kind's check; where lax the converted values are kept.

        Returns:
            The table (with the items' converted values where lax) and the problems,
            each located at its key.
        """
        if not isinstance(value, Mapping):
            return value, [
                Problem((), "input should be a valid dictionary", value, "must be a table")
            ]
        out: dict[str, Any] = {}
        problems: list[Problem] = []
        for key, item in value.items():
            checked, found = self.item.check(item, lax)
            out[key] = checked
            problems += [Problem((key, *p.loc), p.message, p.value, p.plain, p.hint) for p in found]
        return (out if lax else value), problems


class Scalar(Kind):
    """A string, number or boolean (an environment value or an executor option)."""

    describe = "a string, number or boolean"

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value if it is a string, a number or a boolean.

        Args:
            value: The value as given.
            lax: Unused: any of those types is taken as it is.

        Returns:
            The value unchanged and the problems (empty when good).
        """
        if isinstance(value, str | int | float):  # bool is an int
            return value, []
        kinds = ["a string", "a whole number", "a number", "true or false"]
        return value, [Problem((), _either(kinds), value)]


class Selector(Kind):
    """What an ``[[overrides]]`` entry selects: one item or a list of them.

    Attributes:
        numbers: Whole numbers are allowed (phase numbers), besides strings.
    """

    def __init__(self, numbers: bool = False) -> None:
        """A selector kind.

        Args:
            numbers: Allow whole numbers (phase numbers) besides strings.
        """
        self.numbers = numbers
        self.describe = "a string or a list of strings"

    def _item(self, value: Any) -> Checked:
        if isinstance(value, str):
            return value, []
        if self.numbers:
            return Whole().check(value) if not isinstance(value, bool) else (int(value), [])
        return value, [Problem((), "input should be a valid string", value)]

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value as one selector (a string, or a whole number if allowed) or a list of them.

        Args:
            value: The value as given.
            lax: Unused: a selector's type is checked the same way everywhere.

        Returns:
            The selector or the list of them, and the problems, each located at its
            item's index.
        """
        if isinstance(value, list):
            out, problems = [], []
            for i, item in enumerate(value):
                checked, found = self._item(item)
                out.append(checked)
                problems += [Problem((i, *p.loc), p.message, p.value) for p in found]
            return out, problems
        checked, found = self._item(value)
        if not found:
            return checked, []
        kinds = ["a whole number", "a string", "a list"] if self.numbers else ["a string", "a list"]
        return value, [Problem((), _either(kinds), value)]
