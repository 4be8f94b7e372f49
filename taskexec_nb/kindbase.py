"""What every kind of setting value shares: the :class:`Kind` base and the problems it reports.

A :class:`Kind` checks a value and reads it from text; what is wrong is a
:class:`Problem` located inside the value, text that cannot be read a
:class:`TextError`, and a number's lower limit a :class:`Bound`. The kinds
themselves are :mod:`taskexec_nb.kinds`' (which re-exports these). A leaf: it
imports nothing from the package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """What is wrong with (part of) a setting's value.

    Attributes:
        loc: Where inside the setting's value, e.g. ``("gpu",)`` for
            ``resources.gpu`` or ``(1,)`` for an argv's second element.
        message: What is wrong, e.g. ``must be >= 0``.
        value: The offending value (shown after the message, as ``(got 5)``).
        plain: The message as :class:`~taskexec_nb.settings.RunSettings` words it,
            where it differs (e.g. with the unit: ``must be > 0 seconds``).
        hint: How to write it right, for a value that could not be read.
    """

    loc: Loc
    message: str
    value: Any
    plain: str | None = None
    hint: str | None = None

    def shown(self) -> str:
        """`` (got 5)`` after a message; nothing for a table or a list (too long).

        Returns:
            The offending value after ``got``, in parentheses with a leading space, or
            an empty string.
        """
        if isinstance(self.value, Mapping | list | tuple):
            return ""
        got = json.dumps(self.value) if isinstance(self.value, bool) else repr(self.value)
        return f" (got {got})"

    def text(self) -> str:
        """The message in a config file's words, with the hint after a colon.

        Returns:
            The message, followed by ``: hint`` when there is a hint.
        """
        return f"{self.message}: {self.hint}" if self.hint else self.message


Checked = tuple[Any, list[Problem]]


class TextError(ValueError):
    """A value that could not be read from its text (the message says why)."""


class Kind:
    """One shape of setting value (a base: each subclass is one kind).

    Attributes:
        describe: The kind in words, e.g. ``a whole number``.
        table: Whether it is a table (merged key by key across layers; not a
            ``TASKEXEC_*`` variable).
    """

    describe = "a value"
    table = False

    def check(self, value: Any, lax: bool = True) -> Checked:
        """The value to use and the problems with it.

        Args:
            value: The value as given.
            lax: Read text where a number is expected (config files, arguments,
                variables); strict takes only the Python type.

        Returns:
            The (possibly converted) value and the problems (empty when good).
        """
        return value, []

    def from_text(self, text: str) -> Any:
        """The value written as one string (a variable or a flag).

        Args:
            text: The text.

        Returns:
            The value, to be checked with :meth:`check`.

        Raises:
            TextError: If the text cannot be read.
        """
        return text


@dataclass(frozen=True)
class Bound:
    """A lower limit of a number: ``>= 0`` or ``> 0``.

    Attributes:
        limit: The limit.
        strict: ``>`` rather than ``>=``.
        unit: Said after the limit in :class:`RunSettings` messages, e.g. ``seconds``.
    """

    limit: float
    strict: bool = False
    unit: str = ""

    def problem(self, number: float, given: Any) -> Problem | None:
        """The problem of a number outside the limit (NaN is outside every limit).

        Args:
            number: The value as a number.
            given: The value as given (shown in the message).

        Returns:
            The problem, or None when the number is inside the limit.
        """
        inside = number > self.limit if self.strict else number >= self.limit
        if inside:
            return None
        sign = ">" if self.strict else ">="
        unit = f" {self.unit}" if self.unit else ""
        limit = f"{self.limit:g}"
        return Problem((), f"must be {sign} {limit}", given, f"must be {sign} {limit}{unit}")
