"""Reading dependencies written in prose: phrases on tasks and plain statements.

Two readers, both deliberately conservative (an edge is only added where a
person reading the file would agree):

* :func:`find_phrases` finds ``depends on T010, T011``, ``after T003``,
  ``requires T008-T010``, ``blocked by T078–T080``, ``T002 through T005`` and
  label lines such as ``**Depends on**: T001, T002`` in a task's text.
* :func:`read_statement` reads one line of a "Dependencies & Execution Order"
  section when, clause by clause, it is nothing but a dependency statement:
  ``T006 before T007``, ``T013-T029 must complete before T030-T075``,
  ``T003 → T004 → T005``, ``T014 depends on T011+T012``.
"""

from __future__ import annotations

import re

ID_PATTERN = r"T(?:-[A-Z]+)?\d+(?:\.\d+)?[a-z]?"
"""A task ID: ``T001``, ``T007a``, ``T011.5``, ``T-C001``."""

_ID = rf"\**(?:{ID_PATTERN})\**(?!\w)"
_RANGE_SEP = r"\s*(?:[-–—]|\.\.|\bthrough\b|\bthru\b|\bto\b)\s*"
_ITEM = rf"{_ID}(?:{_RANGE_SEP}{_ID})?"
_LIST_SEP = r"(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*&\s*|\s*\+\s*|\s*/\s*)"
_ITEM_NOTE = r"(?:\s*\([^()\n]*\))?"
_ID_LIST = rf"(?:tasks?\s+)?{_ITEM}{_ITEM_NOTE}(?:{_LIST_SEP}{_ITEM}{_ITEM_NOTE})*"

DEPENDENCY_PHRASES: dict[str, tuple[str, ...]] = {
    "en": (
        "depends on",
        "depend on",
        "dependent on",
        "dependency on",
        "blocked by",
        "requires",
        "required",
        "after",
        "needs",
        "dependencies:",
        "dependency:",
        "depends:",
        "prerequisites:",
        "prerequisite:",
    ),
}
"""The words that introduce a task's dependencies, by language: the place to extend.

A phrase counts only when task IDs follow it (``after T003``; ``T003`` may be
bold, a list or a range). A phrase ending in ``:`` is a label, which counts
only with its colon (``Dependencies: T055, T149``, also inside a field list
such as ``(Type: test; Dependencies: T055; Skills: ...)``); spaces in a phrase
match any run of spaces; case does not matter. Every phrase also reads as a
label line (``**Depends on**: T001, T002``).
"""


def _phrase_pattern(phrase: str) -> str:
    """The regex of one table phrase, up to and including its colon."""
    label = phrase.endswith(":")
    words = phrase.rstrip(":").split()
    body = r"\s+".join(re.escape(w) for w in words)
    return body + (r"\**\s*:" if label else r"\**\s*:?")


def _triggers(phrases: list[str]) -> tuple[str, ...]:
    """Where a phrase may start: lower-case first words cut to six letters, none repeated."""
    firsts = sorted({p.rstrip(":").split()[0].lower()[:6] for p in phrases}, key=len)
    kept: list[str] = []
    for word in firsts:
        if not any(word.startswith(k) for k in kept):
            kept.append(word)
    return tuple(kept)


_ALL_PHRASES = sorted(
    (p for phrases in DEPENDENCY_PHRASES.values() for p in phrases), key=len, reverse=True
)
_KEYWORD = "|".join(_phrase_pattern(p) for p in _ALL_PHRASES)
_PHRASE_RE = re.compile(rf"(?<![\w-])(?:{_KEYWORD})\s*(?P<list>{_ID_LIST})", re.IGNORECASE)
_LABEL_WORDS = "|".join(
    dict.fromkeys(r"\s+".join(map(re.escape, p.rstrip(":").split())) for p in _ALL_PHRASES)
)
_LABEL_RE = re.compile(
    rf"^\s*(?:[-*+]\s+)?\**\s*(?:{_LABEL_WORDS})\s*\**\s*:\s*\**\s*(?P<rest>.*)$",
    re.IGNORECASE,
)
_QUICK_WORDS = _triggers(_ALL_PHRASES)
_LIST_START_RE = re.compile(rf"(?P<list>{_ID_LIST})", re.IGNORECASE)
_ITEM_RE = re.compile(
    rf"\**(?P<a>{ID_PATTERN})\**(?:{_RANGE_SEP}\**(?P<b>{ID_PATTERN})\**)?", re.IGNORECASE
)

_NOTE_RE = re.compile(r"\([^()\n]*\)")

Ref = tuple[str, "str | None"]
"""A dependency reference: (first ID, last ID of a range or None)."""


def _items(id_list: str) -> list[Ref]:
    refs: list[Ref] = []
    for m in _ITEM_RE.finditer(_NOTE_RE.sub(" ", id_list)):
        a = _canon(m.group("a"))
        b = m.group("b")
        refs.append((a, _canon(b) if b else None))
    return refs


def _canon(task_id: str) -> str:
    # IDs are written with an upper-case T; a lower-case "t001" in prose is the same ID.
    return "T" + task_id[1:] if task_id[:1] == "t" else task_id


def find_phrases(text: str) -> list[Ref]:
    """Find the dependencies named by explicit phrases in a piece of task text.

    Args:
        text: One logical line of a task (its wrapped first paragraph or a body line).

    Returns:
        References in the order written; ranges are not expanded here.
    """
    low = text.lower()
    for word in _QUICK_WORDS:
        if word in low:
            break
    else:
        return []
    label = _LABEL_RE.match(text)
    if label:
        start = _LIST_START_RE.match(label.group("rest"))
        return _items(start.group("list")) if start else []
    if len(low) != len(text):  # lower() changed some lengths: positions would not line up
        return [r for m in _PHRASE_RE.finditer(text) for r in _items(m.group("list"))]
    # Try the phrase only where a keyword starts, instead of at every position.
    found: list[tuple[int, str]] = []
    for word in _QUICK_WORDS:
        pos = low.find(word)
        while pos != -1:
            m = _PHRASE_RE.match(text, pos)
            if m:
                found.append((pos, m.group("list")))
            pos = low.find(word, pos + 1)
    found.sort()
    return [r for _, id_list in found for r in _items(id_list)]


# --- statements in a dependencies section -------------------------------------------------

_GROUP = rf"(?:{_ID_LIST})"
_NOTE = r"(?:\s*\([^()]*\))?"
_ARROW = r"\s*(?:→|->|-->|⟶|=>)\s*"
_PTAG = r"(?:\s*\[P\])?"
_CHAIN_RE = re.compile(
    rf"^(?P<chain>{_GROUP}{_PTAG}{_NOTE}(?:{_ARROW}{_GROUP}{_PTAG}{_NOTE})+)"
    r"(?:\s*(?:must\s+be\s+|are\s+|is\s+|run\s+)?sequential(?:ly)?)?$",
    re.IGNORECASE,
)
_BEFORE_RE = re.compile(
    rf"^(?P<a>{_GROUP}){_NOTE}\s+(?:(?:must|should|has\s+to|have\s+to)\s+"
    r"(?:complete|finish|be\s+done|be\s+completed|run|happen|land)\s+|"
    r"(?:completes?|runs?|comes?|goes|lands?)\s+)?"
    rf"before\s+(?P<b>{_GROUP}){_NOTE}$",
    re.IGNORECASE,
)
_AFTER_RE = re.compile(
    rf"^(?P<b>{_GROUP}){_NOTE}\s+(?:depends\s+on|requires|needs|must\s+wait\s+for|"
    r"(?:is\s+|are\s+)?blocked\s+by|(?:can\s+|must\s+|only\s+)?(?:starts?|runs?|begins?)\s+after|"
    rf"(?:must\s+)?(?:come|run|happen)s?\s+after|after)\s+(?P<a>{_GROUP}){_NOTE}$",
    re.IGNORECASE,
)
_BLOCKS_RE = re.compile(
    rf"^(?P<a>{_GROUP}){_NOTE}\s+blocks\s+(?P<b>{_GROUP}){_NOTE}$", re.IGNORECASE
)
_LEAD_RE = re.compile(r"^\s*(?:[-*+]|\d+[.)])?\s*(?:\*\*[^*]{1,60}\*\*\s*:?|[\w .()/-]{1,40}:)?\s*")
_CLAUSE_SPLIT_RE = re.compile(r";|\s[—–]\s|\.\s+(?=[A-Z])")
_HAS_ID_RE = re.compile(ID_PATTERN)

Edge = tuple[list[Ref], list[Ref]]
"""A statement edge: every task of the second list depends on every task of the first."""


def read_statement(line: str) -> list[Edge]:
    """Read the dependency statements of one line of a dependencies section.

    Each clause (split at ``;``, dashes and sentence ends) must be a statement
    in full; a clause with any other words is ignored, so prose such as
    "T002 before any compose service tasks" adds nothing.

    Args:
        line: One source line (bullet and ``**Label**:`` prefixes allowed).

    Returns:
        Edges as (prerequisites, dependents), each side a list of references.
    """
    if not _HAS_ID_RE.search(line):
        return []
    edges: list[Edge] = []
    for raw in _CLAUSE_SPLIT_RE.split(line):
        clause = _LEAD_RE.sub("", raw, count=1).strip().rstrip(".,:").strip()
        clause = clause.replace("`", "")
        if not clause:
            continue
        chain = _CHAIN_RE.match(clause)
        if chain:
            groups = re.split(_ARROW, chain.group("chain"))
            refs = [_items(re.sub(r"\([^()]*\)|\[P\]", "", g)) for g in groups]
            edges.extend((refs[i], refs[i + 1]) for i in range(len(refs) - 1))
            continue
        for pattern in (_BEFORE_RE, _AFTER_RE, _BLOCKS_RE):
            m = pattern.match(clause)
            if m:
                edges.append((_items(m.group("a")), _items(m.group("b"))))
                break
    return edges
