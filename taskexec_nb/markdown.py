"""The markdown-it-py set-up: the parser's light configuration and the benchmark's baseline.

The parser needs markdown-it's block structure only. It runs CommonMark plus
tables and front matter with the inline rules off and three block rules a
tasks.md does not need off too, and it reaches the remaining block rules
through a first-character dispatch that only skips calls that would fail
(``tests/test_markdown_config.py`` shows every token is unchanged).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=2)
def parser_markdown(front_matter: bool = True) -> Any:
    """The parser's markdown-it; the front matter rule only where the text starts with ``-``.

    Args:
        front_matter: Whether to include the front matter rule.

    Returns:
        A cached MarkdownIt instance.
    """
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    md = MarkdownIt("commonmark").enable("table")
    if front_matter:
        md.use(front_matter_plugin)
    # Inline rules are not needed: task details are read from the source lines.
    # Neither are three block rules, which only cost time on a tasks.md:
    # indented code (a 4-space-indented line is prose to us either way),
    # link reference definitions, and setext headings, which would turn
    # "Some text" followed by a "---" separator into a heading that ends a phase.
    md.disable(["inline", "code", "reference", "lheading"])
    _guard_block_rules(md)
    return md


# The first character (after indentation) each block rule needs before it can match
# (hr is "*-_" with a stronger check of its own).
_RULE_FIRST_CHARS = {
    "fence": "`~",
    "blockquote": ">",
    "list": "*-+0123456789",
    "html_block": "<",
    "heading": "#",
}


def _guard_block_rules(md: Any) -> None:
    """Put a one-character check in front of block rules, with identical results.

    markdown-it tries every block rule at every line; each rule bails out when
    the line's first character cannot start it, but only after a Python call
    and a debug log. Checking that character first skips those calls: the
    rules still decide every line they could match. On the main chain, the
    rules keyed by first character are then reached through one dispatch on
    that character, in their original order.
    """
    ruler = md.block.ruler
    keyed: dict[str, Any] = {}  # rule name -> rule that needs its first character
    raw = {rule.name: rule.fn for rule in ruler.__rules__}
    for rule in ruler.__rules__:
        chars = _RULE_FIRST_CHARS.get(rule.name)
        if chars is not None:
            keyed[rule.name] = rule.fn
            rule.fn = _first_char_guard(rule.fn, chars)
        elif rule.name == "table":
            rule.fn = _table_guard(rule.fn)
        elif rule.name == "hr":
            rule.fn = _hr_guard(rule.fn)
            keyed[rule.name] = rule.fn
    ruler.__cache__ = None
    _dispatch_main_chain(ruler, keyed, raw)


def _dispatch_main_chain(ruler: Any, keyed: dict[str, Any], raw: dict[str, Any]) -> None:
    """Replace the main chain's rules before ``paragraph`` by one function.

    It runs them in their original order, each only where it can match:
    front matter at line 0, a table where the next line can be a delimiter
    row, the others by the line's first character.
    """
    enabled = [r for r in ruler.__rules__ if r.enabled]
    chain = ruler.getRules("")
    names = [r.name for r in enabled]
    positions = [i for i, name in enumerate(names) if name in keyed]
    head = names[: positions[0]] if positions else names
    if (
        len(chain) != len(enabled)
        or not positions
        or positions != list(range(positions[0], positions[-1] + 1))
        or not set(head) <= {"front_matter", "table"}
    ):
        return  # pragma: no cover - another markdown-it layout: keep the guarded rules
    by_char: dict[str, list[Any]] = {}
    for i in positions:
        for char in _RULE_FIRST_CHARS.get(names[i], "*-_"):
            by_char.setdefault(char, []).append(keyed[names[i]])
    front_matter = raw.get("front_matter") if "front_matter" in head else None
    table = raw.get("table") if "table" in head else None

    def dispatch(state: Any, start: int, end: int, silent: bool) -> bool:
        """Try the dispatched rules at one line, each only where it can match.

        Args:
            state: markdown-it's block state (the source, each line's marks and the tokens).
            start: The line the rule is tried at.
            end: The line after the block's last (the end of the text or of a container).
            silent: Only say whether a block starts here, adding no tokens (as when
                markdown-it checks whether a paragraph is interrupted).

        Returns:
            Whether one of them matched (the first to match in the chain's order wins).
        """
        src = state.src
        if start == 0 and front_matter is not None and front_matter(state, start, end, silent):
            return True
        if table is not None and start + 1 < end:
            nxt = start + 1
            pos = state.bMarks[nxt] + state.tShift[nxt]
            if pos < state.eMarks[nxt] and src[pos] in "|-:" and table(state, start, end, silent):
                return True
        pos = state.bMarks[start] + state.tShift[start]
        if pos >= state.eMarks[start]:
            return False
        for fn in by_char.get(src[pos], ()):  # noqa: SIM110 - a plain loop is faster here
            if fn(state, start, end, silent):
                return True
        return False

    ruler.__cache__[""] = [dispatch, *chain[positions[-1] + 1 :]]


def _first_char_guard(fn: Any, chars: str) -> Any:
    def guarded(state: Any, start: int, end: int, silent: bool) -> Any:
        """Call the block rule ``fn`` only where the line starts with one of ``chars``.

        Args:
            state: markdown-it's block state (the source, each line's marks and the tokens).
            start: The line the rule is tried at.
            end: The line after the block's last (the end of the text or of a container).
            silent: Only say whether a block starts here, adding no tokens (as when
                markdown-it checks whether a paragraph is interrupted).

        Returns:
            False where the line is blank or starts with another character,
            else what ``fn`` returns (whether it matched).
        """
        pos = state.bMarks[start] + state.tShift[start]
        if pos >= state.eMarks[start] or state.src[pos] not in chars:
            return False
        return fn(state, start, end, silent)

    return guarded


def _hr_guard(fn: Any) -> Any:
    def guarded(state: Any, start: int, end: int, silent: bool) -> Any:
        """Call the thematic-break rule ``fn`` only where the line can be one.

        Args:
            state: markdown-it's block state (the source, each line's marks and the tokens).
            start: The line the rule is tried at.
            end: The line after the block's last (the end of the text or of a container).
            silent: Only say whether a block starts here, adding no tokens (as when
                markdown-it checks whether a paragraph is interrupted).

        Returns:
            False where the line's first three characters are not one marker
            (``*``, ``-`` or ``_``) with spaces or tabs between, else what ``fn``
            returns (whether it matched).
        """
        # A thematic break is 3+ of one marker, spaces allowed between: "- [ ] T001"
        # (a list item) fails on its third character, "---" and "- - -" pass.
        pos = state.bMarks[start] + state.tShift[start]
        head = state.src[pos : pos + 3]
        if not head or head[0] not in "*-_" or head.strip(head[0] + " \t"):
            return False
        return fn(state, start, end, silent)

    return guarded


def _table_guard(fn: Any) -> Any:
    def guarded(state: Any, start: int, end: int, silent: bool) -> Any:
        """Call the table rule ``fn`` only where the next line can be a delimiter row.

        Args:
            state: markdown-it's block state (the source, each line's marks and the tokens).
            start: The line the rule is tried at.
            end: The line after the block's last (the end of the text or of a container).
            silent: Only say whether a block starts here, adding no tokens (as when
                markdown-it checks whether a paragraph is interrupted).

        Returns:
            False where there is no next line in the block or it does not start
            with ``|``, ``-`` or ``:``, else what ``fn`` returns (whether it matched).
        """
        nxt = start + 1  # a table needs a delimiter row, starting with | - or :
        if nxt >= end:
            return False
        pos = state.bMarks[nxt] + state.tShift[nxt]
        if pos >= state.eMarks[nxt] or state.src[pos] not in "|-:":
            return False
        return fn(state, start, end, silent)

    return guarded


@lru_cache(maxsize=1)
def _reference_markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.front_matter import front_matter_plugin

    md = MarkdownIt("commonmark").enable("table").use(front_matter_plugin)
    md.disable("inline")
    return md


def block_tokens(text: str) -> list[Any]:
    """Return markdown-it-py's own block-level parse of ``text`` (the benchmark's baseline).

    This is CommonMark plus tables and front matter with every block rule on
    and the inline rules off; the parser itself runs a lighter configuration.

    Args:
        text: Markdown text with LF line endings.

    Returns:
        The token stream.
    """
    return list(_reference_markdown().parse(text))


# --- the parser -----------------------------------------------------------------------------
