"""Regular expressions compiled on their first use, not at import.

The dependency phrases of many languages make a few large patterns (every ID-list
form, in every language) that take CPython's ``re`` tens of milliseconds each to
compile. Compiled at import, they cost every ``taskexec`` command about a second
before it does anything; compiled on first use, a command pays only for the
patterns its file needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator


class LazyPattern:
    """A ``re.Pattern`` stand-in that compiles its pattern the first time it is used.

    Args:
        pattern: The regular expression, or a function that writes it (called once,
            when the pattern or its text is first needed: a pattern built from
            tables then costs nothing until it is used).
        flags: ``re`` flags.
    """

    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str | Callable[[], str], flags: int = 0) -> None:
        self._pattern = pattern
        self._flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        """The compiled pattern (compiled now if it was not yet).

        Returns:
            The ``re.Pattern``.
        """
        if self._compiled is None:
            self._compiled = re.compile(self.pattern, self._flags)
        return self._compiled

    @property
    def pattern(self) -> str:
        """The pattern's source text.

        Returns:
            The regular expression as given (written now if a function was given).
        """
        if not isinstance(self._pattern, str):
            self._pattern = self._pattern()
        return self._pattern

    def match(self, string: str, pos: int = 0) -> re.Match[str] | None:
        """As ``re.Pattern.match``.

        Args:
            string: The text.
            pos: Where to start.

        Returns:
            The match, or None.
        """
        return self.compiled.match(string, pos)

    def fullmatch(self, string: str, pos: int = 0) -> re.Match[str] | None:
        """As ``re.Pattern.fullmatch``.

        Args:
            string: The text.
            pos: Where to start.

        Returns:
            The match, or None.
        """
        return self.compiled.fullmatch(string, pos)

    def search(self, string: str, pos: int = 0) -> re.Match[str] | None:
        """As ``re.Pattern.search``.

        Args:
            string: The text.
            pos: Where to start.

        Returns:
            The first match, or None.
        """
        return self.compiled.search(string, pos)

    def finditer(self, string: str, pos: int = 0) -> Iterator[re.Match[str]]:
        """As ``re.Pattern.finditer``.

        Args:
            string: The text.
            pos: Where to start.

        Returns:
            The matches, in order.
        """
        return self.compiled.finditer(string, pos)

    def findall(self, string: str, pos: int = 0) -> list[str]:
        """As ``re.Pattern.findall`` (patterns with at most one group).

        Args:
            string: The text.
            pos: Where to start.

        Returns:
            The matched texts.
        """
        return self.compiled.findall(string, pos)

    def sub(self, repl: str | Callable[[re.Match[str]], str], string: str, count: int = 0) -> str:
        """As ``re.Pattern.sub``.

        Args:
            repl: The replacement text or function.
            string: The text.
            count: At most this many replacements (0: all).

        Returns:
            The text with the matches replaced.
        """
        return self.compiled.sub(repl, string, count)

    def split(self, string: str, maxsplit: int = 0) -> list[str]:
        """As ``re.Pattern.split`` (patterns without groups).

        Args:
            string: The text.
            maxsplit: At most this many splits (0: all).

        Returns:
            The pieces.
        """
        return self.compiled.split(string, maxsplit)


class EndChecked:
    r"""A pattern whose costly lookahead at one place is checked in Python first.

    ``pattern`` holds ``{end}`` where the lookahead stands. :meth:`match` tries the
    pattern with an empty group there instead and checks that place with ``holds``:
    the first match the regex engine finds that passes the check is the full
    pattern's match, so only when the check fails is the full pattern (with the
    lookahead) compiled and tried.

    Args:
        pattern: The regular expression, ``{end}`` where ``lookahead`` goes.
        lookahead: The lookahead, e.g. ``(?!\w)``.
        holds: Whether ``lookahead`` holds in a text at a position.
        flags: ``re`` flags.
    """

    __slots__ = ("_full", "_holds", "_open")

    def __init__(
        self, pattern: str, lookahead: str, holds: Callable[[str, int], bool], flags: int = 0
    ) -> None:
        self._open = LazyPattern(pattern.replace("{end}", "(?P<_end>)"), flags)
        self._full = LazyPattern(pattern.replace("{end}", lookahead), flags)
        self._holds = holds

    @property
    def pattern(self) -> str:
        """The full pattern's source text.

        Returns:
            The regular expression with the lookahead.
        """
        return self._full.pattern

    def match(self, string: str, pos: int = 0) -> re.Match[str] | None:
        """As ``re.Pattern.match`` of the full pattern (its match may have a group ``_end``).

        Args:
            string: The text.
            pos: Where to start.

        Returns:
            The match, or None.
        """
        m = self._open.match(string, pos)
        if m is None or self._holds(string, m.end("_end")):
            return m
        return self._full.match(string, pos)
