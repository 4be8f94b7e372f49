"""Paths: the file paths a task's description names, and the names of plans with no file."""

from __future__ import annotations

import re

_PATH_RE = re.compile(r"[\w@.~/-]+")
_EXT_RE = re.compile(
    r"\.(?:py|ipynb|ts|tsx|js|jsx|mjs|cjs|go|rs|rb|java|kt|swift|cs|c|h|cpp|hpp|md|json|ya?ml|"
    r"toml|ini|cfg|sh|sql|html|css|scss|vue|svelte|txt|env|lock|xml|gradle|dart|php|tf|proto)$"
)
_BACKTICK_RE = re.compile(r"`([^`\n]+)`")


def _looks_like_path(candidate: str, quoted: bool) -> bool:
    """Tell a file path from prose such as ``OR/CR``, ``e.g.`` or ``iOS/Android``."""
    if "://" in candidate or candidate.startswith("//"):
        return False
    last = candidate.rstrip("/").rsplit("/", 1)[-1]
    has_ext = "." in last.strip(".")
    if quoted:
        return "/" in candidate or has_ext
    if "/" not in candidate:
        return _EXT_RE.search(candidate) is not None
    return has_ext or candidate.count("/") >= 2 or candidate.endswith("/")


_TRIM = "\"'()[]{}<>,;:!?*"


def files_in(description: str) -> tuple[str, ...]:
    """File paths named in a task description, backticked ones first.

    Args:
        description: The task's description.

    Returns:
        The paths in the order written, each once.
    """
    if "/" not in description and "." not in description:
        return ()
    found: list[str] = []
    if "`" in description:
        for quoted in _BACKTICK_RE.findall(description):
            q = quoted.strip()
            if " " not in q and _PATH_RE.fullmatch(q) and _looks_like_path(q, True):
                found.append(q)
        description = _BACKTICK_RE.sub(" ", description)
    for token in description.split():
        if "/" in token or "." in token:
            candidate = token.strip(_TRIM).rstrip(".-~").lstrip("-~")
            if candidate and _PATH_RE.fullmatch(candidate) and _looks_like_path(candidate, False):
                found.append(candidate)
    return tuple(dict.fromkeys(found)) if found else ()


def is_text_path(path: str) -> bool:
    """Whether a plan's path names text with no file (``<string>``, ``<cell plan>``).

    Args:
        path: A plan's ``path``.

    Returns:
        True for a name in angle brackets, as ``taskexec_nb.loads`` plans have.
    """
    return path.startswith("<") and path.endswith(">")
