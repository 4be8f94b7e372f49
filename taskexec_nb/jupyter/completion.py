"""Tab completion on a ``%load_tasks`` line: folders and ``.md`` files, modes after ``--mode``.

The line is read like a shell's (as the magic reads its arguments): a path with a
space is offered quoted, and a word typed quoted or with backslashes is read so.
:mod:`taskexec_nb.jupyter.magics` registers :func:`path_matcher` with the magics.
"""

from __future__ import annotations

import glob
import os
import shlex

from IPython.core.completer import (
    CompletionContext,
    SimpleCompletion,
    SimpleMatcherResult,
    context_matcher,
)
from IPython.core.error import TryNext

from taskexec_nb.settings import MODES


def path_candidates(line: str) -> tuple[str, list[str]]:
    """What Tab offers on a ``%load_tasks`` line: folders and ``.md`` files, modes after ``--mode``.

    Args:
        line: The line up to the cursor.

    A path with a space or another shell character is offered quoted
    (``'my specs/'``), as the line is read like a shell's; a word typed quoted or
    with backslashes is read so too.

    Returns:
        The word being completed as typed (what a candidate replaces), and its
        candidates (whole words).

    Raises:
        TryNext: After ``--profile`` or ``-o``, or on the magic's name (nothing to
            offer here).
    """
    raw, current = _last_word(line)
    words = shlex.split(line[: len(line) - len(raw)])  # quotes closed: an open one is in raw
    if not words:  # the magic's own name: IPython completes it
        raise TryNext
    before = words[-1] if len(words) > 1 else ""
    if before == "--mode":
        return raw, [m for m in MODES if m.startswith(current)]
    if before in ("--profile", "-o", "--output"):
        raise TryNext
    if current.startswith("-"):
        return raw, [o for o in ("--mode", "--profile", "--output") if o.startswith(current)]
    expanded = os.path.expanduser(current)
    found = []
    for path in sorted(glob.glob(glob.escape(expanded) + "*")):
        shown = current + path[len(expanded) :]
        if os.path.isdir(path):
            found.append(_quoted(shown + "/"))
        elif path.endswith(".md"):
            found.append(_quoted(shown))
    return raw, found


_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./~_-")


def _quoted(path: str) -> str:
    """A path as the line must hold it: quoted when it has a space or another shell character."""
    return path if all(c in _PLAIN for c in path) else shlex.quote(path)


def _last_word(line: str) -> tuple[str, str]:
    """The last word of a magic's line as typed (quotes, backslashes) and as it reads.

    Args:
        line: The line up to the cursor.

    Returns:
        The word as typed (``'my sp``; empty after a space) and its value (``my sp``).
    """
    start: int | None = None
    quote = ""
    escaped = False
    for i, c in enumerate(line):
        if escaped:
            escaped = False
        elif quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                escaped = True
        elif c.isspace():
            start = None
        else:
            start = i if start is None else start
            if c in "'\"":
                quote = c
            elif c == "\\":
                escaped = True
    raw = "" if start is None else line[start:]
    closed = shlex.split(raw + ("\\" if escaped else "") + quote)  # one word (or none)
    return raw, "".join(closed)


@context_matcher()  # type: ignore[untyped-decorator]
def path_matcher(context: CompletionContext) -> SimpleMatcherResult:
    """IPython's completion on a ``%load_tasks`` line: its candidates only (no Python names).

    Args:
        context: The completion's context (the line up to the cursor, the token).

    Returns:
        The candidates, suppressing IPython's other matchers; nothing on other lines.
    """
    line = context.text_until_cursor
    nothing: SimpleMatcherResult = {"completions": [], "suppress": False}
    if line.split(None, 1)[:1] != ["%load_tasks"]:
        return nothing
    try:
        typed, found = path_candidates(line)
    except TryNext:
        return nothing
    return {
        "completions": [SimpleCompletion(f, type="path") for f in found],
        "matched_fragment": typed,
        "suppress": True,
    }
