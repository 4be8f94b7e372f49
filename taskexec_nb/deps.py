"""Reading dependencies written in prose: phrases on tasks and plain statements.

Two readers, both deliberately conservative (an edge is only added where a
person reading the file would agree):

* :func:`find_phrases` finds ``depends on T010, T011``, ``after T003``,
  ``requires T008-T010``, ``blocked by T078–T080``, ``T002 through T005``,
  label lines such as ``**Depends on**: T001, T002`` and the same in other
  languages (``依赖 T007、T008``, ``depende de T003``) in a task's text. The
  words are in :data:`DEPENDENCY_PHRASES` and :data:`DEPENDENCY_SUFFIXES`
  (defined in :mod:`taskexec_nb.depwords`, the place to extend).
* :func:`read_statement` reads one line of a "Dependencies & Execution Order"
  section when, clause by clause, it is nothing but a dependency statement:
  ``T006 before T007``, ``T013-T029 must complete before T030-T075``,
  ``T003 → T004 → T005``, ``T014 depends on T011+T012``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from taskexec_nb._lazyre import LazyPattern
from taskexec_nb.depwords import DEPENDENCY_PHRASES, DEPENDENCY_SUFFIXES

_UPPER = r"(?:[A-HJ-RT-Z]|I|S|(?!))"
_LOWER = r"(?:[a-hj-rt-z]|i|s|(?!))"
"""``[A-Z]`` and ``[a-z]``, cheaper to compile where case does not matter.

Read case-blind, ``[a-z]`` is also ``ı`` and ``ſ`` (``i`` and ``s`` in Turkish and
old print), and ``re`` compiles such a class into a table of 65,536 entries (about
0.1 ms, for each ID of every pattern). ``i`` and ``s`` alone are two letters each;
``(?!)``, which never matches, keeps ``re`` from merging them back into the class.
"""

ID_PATTERN = rf"T(?:-{_UPPER}+)?\d+(?:\.\d+)?{_LOWER}?(?-i:-[A-Z](?!\w))?"
r"""A task ID: ``T001``, ``T007a``, ``T011.5``, ``T-C001``, ``T083-B``.

That is ``T(?:-[A-Z]+)?\d+(?:\.\d+)?[a-z]?(?-i:-[A-Z](?!\w))?``, its letter classes
written as :data:`_UPPER` and :data:`_LOWER`. A hyphen and one capital letter
(``T083-B``) is part of the ID, in any context (even where the rest is read
case-blind); ``T003-T005`` stays a range, as ``T005`` is a task ID and not a letter.
"""

_CJK = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
"""Han, kana and Hangul: written without spaces, so an ID may touch them (``依赖T007和T008``)."""

_CJK_RANGES = tuple((ord(_CJK[i]), ord(_CJK[i + 2])) for i in range(0, len(_CJK), 3))


def _is_cjk(text: str) -> bool:
    """Whether ``text`` starts with a character of :data:`_CJK` (no regex to compile)."""
    return bool(text) and any(lo <= ord(text[0]) <= hi for lo, hi in _CJK_RANGES)


_ID = rf"\**(?:{ID_PATTERN})\**"
_ID_END = rf"(?!(?-i:[^\W{_CJK}]))"  # (?-i:): no case folding of 40k letters
"""After an ID: no letter or digit, unless it is Han, kana or Hangul.

The class of 40,000 letters takes ``re`` milliseconds to compile each time a pattern
has it, so a list of IDs has it once, after its last ID: a separator, a note or a
range after any other ID starts with a space, a sign or a CJK character, which it
allows anyway, or (a range's ``to``, ``a``, ``bis``...) with a letter that
``(?![tabà])`` refuses where the full check would."""
_NOTE_TEXT = r"[(（](?:(?![（）])[^()\n])*[)）]"
"""A note in parentheses, ``(...)`` or ``（...）``, on one line.

The ID lists' pieces have no character class that mixes ASCII with other characters
in more than two runs (``[,，、；]``): ``re`` compiles each such class, every time a
pattern has it, into a table of 65,536 entries (about 0.2 ms). They are written as
alternatives instead, with ``(?!)`` (which never matches) among them where ``re``
would merge single characters back into a class, and as a lookahead in a note."""
_RANGE_SEP = (
    r"\s*(?:-|–|—|〜|～|至|到|\.\.|(?<!~)~(?!~)|\b(?:th(?:rough|ru)|to|a|à|até|bis)(?!\w))\s*"
)
_ITEM = rf"{_ID}(?:(?![tabà]){_RANGE_SEP}{_ID})?"
_LIST_SEP = (
    r"(?:\s*(?:[,，]|、|；|(?!))\s*(?:(?:and|y|e|et|und|и)\s+)?|\s+(?:and|y|e|et|und|и|및)\s+|"
    r"\s*(?:[&+/·]|・|･|和|及|与|與|と|과|와|(?!))\s*)"
)
_ITEM_NOTE = rf"(?:\s*{_NOTE_TEXT})?"
_TASK_WORD = (
    r"(?:(?:(?:the|l[ao]s?|les|[ao]s?|d(?:[aou]|[ao]s|e[lrn]|es|ie))\s+)?"
    r"(?:t(?:asks?|are(?:as?|fas?)|âches?)|aufgaben?)\s+|(?:任[务務]|タスク|작업)\s*)?"
)
_ID_LIST_OPEN = rf"{_TASK_WORD}{_ITEM}(?:{_ITEM_NOTE}{_LIST_SEP}{_ITEM})*"
_ID_LIST = rf"{_ID_LIST_OPEN}{_ID_END}{_ITEM_NOTE}"
_SPACED_LIST = rf"{_ID_LIST_OPEN}{_ITEM_NOTE}"
"""A list of IDs followed by a space, a sign, a CJK character or the end (``T001 before``,
``T001、T002 之后``): the end of its last ID needs no check (see :data:`_ID_END`)."""


def _ends_an_id(text: str, at: int) -> bool:
    """Whether :data:`_ID_END` holds at ``at``: no letter or digit there but a CJK one."""
    if at >= len(text):
        return True
    char = text[at]
    return not (char.isalnum() or char == "_") or _is_cjk(char)


class _ListAtEnd:
    """A pattern ending with a list of IDs, the end of its last ID checked in Python.

    :meth:`match` tries the pattern without :data:`_ID_END` (no CJK class to compile)
    and checks the end of the last ID itself: the first match the regex engine finds
    that passes the check is the full pattern's match, so only when it fails is the
    full pattern compiled and tried. :meth:`finditer` uses the full pattern.

    Args:
        head: What comes before the list (``(?P<list>...)`` follows it), or a function
            that writes it when a pattern is first needed.
        flags: ``re`` flags.
    """

    def __init__(self, head: str | Callable[[], str], flags: int) -> None:
        self._head = head
        self._open = LazyPattern(
            lambda: rf"{self.head}(?P<list>{_ID_LIST_OPEN}(?P<id_end>){_ITEM_NOTE})", flags
        )
        self._full = LazyPattern(lambda: rf"{self.head}(?P<list>{_ID_LIST})", flags)

    @property
    def head(self) -> str:
        """What comes before the list (written now if a function was given).

        Returns:
            The regular expression of the pattern's head.
        """
        if not isinstance(self._head, str):
            self._head = self._head()
        return self._head

    @property
    def pattern(self) -> str:
        """The full pattern's text.

        Returns:
            The regular expression, with the check of the last ID's end.
        """
        return self._full.pattern

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        """As ``re.Pattern.match`` of the full pattern.

        Args:
            text: The text.
            pos: Where to start.

        Returns:
            The match, or None.
        """
        m = self._open.match(text, pos)
        if m is None or _ends_an_id(text, m.end("id_end")):
            return m
        return self._full.match(text, pos)

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        """As ``re.Pattern.finditer`` of the full pattern.

        Args:
            text: The text.

        Returns:
            The matches, in order.
        """
        return self._full.finditer(text)


def _tokens(phrase: str, ending: bool = True) -> list[str]:
    """A table phrase as regex pieces: one per letter, one per space, then its colon."""
    words = phrase.rstrip(":").lower().split()
    out = [r"\s+" if ch == " " else re.escape(ch) for ch in " ".join(words)]
    if not _is_cjk(out[0]):
        out[0] = r"(?<![\w-])" + out[0]  # a Latin phrase starts a word
    if ending:
        out.append(r"\**\s*[:：]" if phrase.endswith(":") else r"\**\s*[:：]?")
    return out


def _alternation(paths: list[list[str]]) -> str:
    """One regex for many piece sequences, each shared prefix written once.

    A regex with one alternative per phrase tries them all at every candidate
    position; a prefix tree rejects a non-phrase at its first letters. Where a
    phrase ends inside a longer one, the longer one is tried first.
    """
    tree: dict[str, Any] = {}
    for path in paths:
        node = tree
        for piece in path:
            node = node.setdefault(piece, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        """The regex for the sequences below one node of the prefix tree.

        Args:
            node: Each next piece mapped to its own subtree; the key ``""`` marks
                that a sequence may end here.

        Returns:
            The pieces that follow ``node``, as a group of alternatives where
            they branch (with an empty alternative where a sequence ends), or
            ``""`` at a leaf.
        """
        alts = [piece + emit(child) for piece, child in node.items() if piece]
        if not alts:
            return ""
        if len(alts) == 1 and "" not in node:
            return alts[0]
        return "(?:" + "|".join(alts) + ("|)" if "" in node else ")")

    return emit(tree)


def _triggers(phrases: list[str]) -> dict[str, list[str]]:
    """The phrases under the text that starts them, which a line is searched for.

    A trigger is a phrase's first word in lower case, cut to six letters, or to
    four where several share them (``requ`` for ``requires``, ``requiere``,
    ``requer``), so that few are searched for. No trigger starts with another,
    so a phrase is tried once where it may start.
    """
    firsts = {p.split()[0].rstrip(":").lower()[:6] for p in phrases}
    shared = {w[:4] for w in firsts if sum(f[:4] == w[:4] for f in firsts) > 1}
    triggers: list[str] = []
    for word in sorted({w[:4] if w[:4] in shared else w for w in firsts}, key=len):
        if not any(word.startswith(t) for t in triggers):
            triggers.append(word)
    out: dict[str, list[str]] = {}
    for phrase in phrases:
        out.setdefault(next(t for t in triggers if phrase.lower().startswith(t)), []).append(phrase)
    return out


def _phrase_re(phrases: list[str]) -> _ListAtEnd:
    """The phrases followed by a list of IDs; the alternation is written on first use."""
    return _ListAtEnd(lambda: rf"{_alternation([_tokens(p) for p in phrases])}\s*", re.IGNORECASE)


_ALL_PHRASES = sorted({p for ps in DEPENDENCY_PHRASES.values() for p in ps})
_PHRASE_RE = _phrase_re(_ALL_PHRASES)
_BY_TRIGGER = _triggers(_ALL_PHRASES)
_ENGLISH_WORDS = tuple(
    w for w in _BY_TRIGGER if any(p.lower().startswith(w) for p in DEPENDENCY_PHRASES["en"])
)
_ASCII_WORDS = tuple(w for w in _BY_TRIGGER if any(p.isascii() for p in _BY_TRIGGER[w]))
_ALL_WORDS = tuple(_BY_TRIGGER)
_UPPER_ID_RE = re.compile(r"T-?[A-Z]*\d")
_LABEL_RE = LazyPattern(
    lambda: (
        r"^\s*(?:[-*+]\s+)?\**\s*"
        + _alternation([_tokens(p, ending=False) for p in _ALL_PHRASES])
        + r"\s*\**\s*[:：]\s*\**\s*(?P<rest>.*)$"
    ),
    re.IGNORECASE,
)
_LIST_START_RE = _ListAtEnd("", re.IGNORECASE)
_ITEM_RE = LazyPattern(
    rf"\**(?P<a>{ID_PATTERN})\**(?:{_RANGE_SEP}\**(?P<b>{ID_PATTERN})\**)?", re.IGNORECASE
)

_ALL_SUFFIXES = sorted({p for ps in DEPENDENCY_SUFFIXES.values() for p in ps})
_SUFFIX_QUICK_WORDS = tuple(_triggers(_ALL_SUFFIXES))
_SUFFIX_WORDS = _alternation(
    [[re.escape(c) if c != " " else r"\s*" for c in p] for p in _ALL_SUFFIXES]
)
_SUFFIX_LIST = _SPACED_LIST if all(_is_cjk(w) for w in _ALL_SUFFIXES) else _ID_LIST
_SUFFIX_RE = LazyPattern(rf"(?P<list>{_SUFFIX_LIST})\s*{_SUFFIX_WORDS}", re.IGNORECASE)
_BARE_START = " \t*_~"
"""What may come before a task's own ID at the start of its text."""

_NOTE_RE = LazyPattern(_NOTE_TEXT)
_BRACKETED_RE = LazyPattern(
    rf"\[\s*(?P<list>{_ITEM}(?:{_LIST_SEP}{_ITEM})*)\s*\](?:\([^()\s]*\))?", re.IGNORECASE
)
"""IDs in brackets, a list (``[T001, T002]``) or a link to a task (``[T003](#t003)``):
the IDs are read as if written bare."""

Ref = tuple[str, "str | None"]
"""A dependency reference: (first ID, last ID of a range or None)."""


def _items(id_list: str) -> list[Ref]:
    refs: list[Ref] = []
    if "(" in id_list or "（" in id_list:
        id_list = _NOTE_RE.sub(" ", id_list)
    for m in _ITEM_RE.finditer(id_list):
        a = _canon(m.group("a"))
        b = m.group("b")
        refs.append((a, _canon(b) if b else None))
    return refs


def id_list(text: str) -> list[Ref]:
    """Every task ID and range written in a piece of text, such as a table cell.

    Args:
        text: The text (``T001, T003``, ``T03–T15``, ``T001-T003``).

    Returns:
        References in the order written; ranges are not expanded here.
    """
    return [
        (_canon(m.group("a")), _canon(m.group("b")) if m.group("b") else None)
        for m in _ITEM_RE.finditer(text)
    ]


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
    for word in _ENGLISH_WORDS:
        if word in low:
            words = _ENGLISH_WORDS
            break
    else:
        words = ()
    # Other languages' words are looked for only where an upper-case ID follows the
    # start: one quick search instead of a look for each of their words.
    if _UPPER_ID_RE.search(text, 1) is not None:
        words = _ASCII_WORDS if text.isascii() else _ALL_WORDS
    elif not words:
        return []
    hits = [w for w in words if w in low]
    if not hits:
        return _suffix_phrases(text)
    if "[" in text:  # depends_on: [T001, T002], depends on [T003](#t003-build-the-api)
        text = _BRACKETED_RE.sub(r"\g<list>", text)
        low = text.lower()
    label = _LABEL_RE.match(text)
    if label:
        start = _LIST_START_RE.match(label.group("rest"))
        return _items(start.group("list")) if start else []
    found: list[tuple[int, str]] = []
    if len(low) != len(text):  # lower() changed some lengths: positions would not line up
        found = [(m.start(), m.group("list")) for m in _PHRASE_RE.finditer(text)]
    else:  # try the phrases only where a keyword starts, instead of at every position
        # Only the phrases of that keyword can match there (no keyword starts another):
        # one pattern for all, as each pattern compiles the list's CJK class again.
        for word in hits:
            pos = low.find(word)
            while pos != -1:
                m = _PHRASE_RE.match(text, pos)
                if m:
                    found.append((pos, m.group("list")))
                pos = low.find(word, pos + 1)
    if not text.isascii():
        found.extend(_suffix_lists(text))
    found.sort()
    return [r for _, id_list in found for r in _items(id_list)]


def _suffix_lists(text: str) -> list[tuple[int, str]]:
    """ID lists followed by a word of DEPENDENCY_SUFFIXES, with their positions."""
    if not any(word in text for word in _SUFFIX_QUICK_WORDS):
        return []
    return [
        (m.start(), m.group("list"))
        for m in _SUFFIX_RE.finditer(text)
        if text[: m.start()].strip(_BARE_START)
    ]


def _suffix_phrases(text: str) -> list[Ref]:
    if text.isascii():
        return []
    return [r for _, id_list in _suffix_lists(text) for r in _items(id_list)]


# --- statements in a dependencies section -------------------------------------------------

_GROUP = rf"(?:{_ID_LIST})"
_SPACED_GROUP = rf"(?:{_SPACED_LIST})"
_NOTE = r"(?:\s*\([^()]*\))?"
_ARROW = r"\s*(?:→|->|-->|⟶|=>)\s*"
_PTAG = r"(?:\s*\[P\])?"
_CHAIN_RE = LazyPattern(
    rf"^(?P<chain>{_SPACED_GROUP}{_PTAG}{_NOTE}(?:{_ARROW}{_GROUP}{_PTAG}{_NOTE})+)"
    r"(?:\s*(?:must\s+be\s+|are\s+|is\s+|run\s+)?sequential(?:ly)?)?$",
    re.IGNORECASE,
)
_BEFORE_RE = LazyPattern(
    rf"^(?P<a>{_SPACED_GROUP}){_NOTE}\s+(?:(?:must|should|has\s+to|have\s+to)\s+"
    r"(?:complete|finish|be\s+done|be\s+completed|run|happen|land)\s+|"
    r"(?:completes?|runs?|comes?|goes|lands?)\s+)?"
    rf"before\s+(?P<b>{_SPACED_GROUP}){_NOTE}$",
    re.IGNORECASE,
)
_AFTER_RE = LazyPattern(
    rf"^(?P<b>{_SPACED_GROUP}){_NOTE}\s+(?:depends\s+on|requires|needs|must\s+wait\s+for|"
    r"(?:is\s+|are\s+)?blocked\s+by|(?:can\s+|must\s+|only\s+)?(?:starts?|runs?|begins?)\s+after|"
    rf"(?:must\s+)?(?:come|run|happen)s?\s+after|after)\s+(?P<a>{_SPACED_GROUP}){_NOTE}$",
    re.IGNORECASE,
)


def _other_after_words() -> str:
    return _alternation(
        [
            _tokens(p, ending=False)
            for lang, phrases in DEPENDENCY_PHRASES.items()
            if lang != "en"
            for p in phrases
            if not p.endswith(":")
        ]
    )


_OTHER_AFTER_RE = LazyPattern(
    lambda: rf"^(?P<b>{_GROUP}){_NOTE}\s*{_other_after_words()}\s*(?P<a>{_SPACED_GROUP}){_NOTE}$",
    re.IGNORECASE,
)
"""``T019 依赖 T017、T018``, ``T010 depende de T009``: the phrases of DEPENDENCY_PHRASES."""
_BLOCKS_RE = LazyPattern(
    rf"^(?P<a>{_SPACED_GROUP}){_NOTE}\s+blocks\s+(?P<b>{_SPACED_GROUP}){_NOTE}$", re.IGNORECASE
)
_LEAD_RE = LazyPattern(
    r"^\s*(?:[-*+]|\d+[.)])?\s*(?:\*\*[^*]{1,60}\*\*\s*[:：]?|[\w .()/-]{1,40}[:：])?\s*"
)
_CLAUSE_SPLIT_RE = LazyPattern(r"[;；。]|\s[—–]\s|\.\s+(?=[A-Z])")
_LIST_ONLY_RE = LazyPattern(rf"^{_SPACED_GROUP}$", re.IGNORECASE)
_HAS_ID_RE = LazyPattern(ID_PATTERN)

_HAS_ARROW_RE = LazyPattern(_ARROW)

_STATEMENT_RES: tuple[tuple[tuple[str, ...], LazyPattern], ...] = (
    (("before",), _BEFORE_RE),
    (("depend", "requir", "need", "wait", "blocked", "after"), _AFTER_RE),
    (("blocks",), _BLOCKS_RE),
    (
        tuple(
            {
                p.lower()[:2]
                for lang, phrases in DEPENDENCY_PHRASES.items()
                if lang != "en"
                for p in phrases
                if not p.endswith(":")
            }
        ),
        _OTHER_AFTER_RE,
    ),
)
"""Each statement pattern with the words (in lower case) one of which it cannot match without."""

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
        clause = _LEAD_RE.sub("", raw, count=1).strip().rstrip(".,:，：").strip()
        clause = clause.replace("`", "")
        if not clause:
            continue
        for piece in _statements(clause):
            edges.extend(_statement(piece))
    return edges


def _statement(clause: str) -> list[Edge]:
    """The edges of one clause that is a statement in full, or none."""
    chain = _CHAIN_RE.match(clause) if _HAS_ARROW_RE.search(clause) else None
    if chain:
        groups = re.split(_ARROW, chain.group("chain"))
        refs = [_items(re.sub(r"\([^()]*\)|\[P\]", "", g)) for g in groups]
        return [(refs[i], refs[i + 1]) for i in range(len(refs) - 1)]
    low = clause.lower()
    for words, pattern in _STATEMENT_RES:
        if not any(word in low for word in words):
            continue  # the pattern needs one of these words: not compiled, not tried
        m = pattern.match(clause)
        if m:
            return [(_items(m.group("a")), _items(m.group("b")))]
    return []


def _statements(clause: str) -> list[str]:
    """Split a clause at the commas between two statements.

    ``T001→T002, T004→T005`` and ``T019 依赖 T017、T018，T020 ...`` are two
    statements each; a comma next to a bare list of IDs is the list's
    (``T001, T002 → T003``, ``T003 → T004, T005``, ``T014 depends on T011, T012``),
    and a comma inside a note in parentheses is the note's.
    """
    if "," not in clause and "，" not in clause and "、" not in clause:
        return [clause]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(clause):
        if ch in "(（":
            depth += 1
        elif ch in ")）":
            depth = max(depth - 1, 0)
        elif ch in ",，、" and depth == 0:
            parts.append(clause[start:i].strip())
            start = i + 1
    parts.append(clause[start:].strip())
    out = [parts[0]]
    for part in parts[1:]:
        if _LIST_ONLY_RE.match(out[-1]) or _LIST_ONLY_RE.match(part):
            out[-1] += ", " + part
        else:
            out.append(part)
    return out


_ID_KEY_RE = re.compile(
    r"^(?P<prefix>T(?:-[A-Z]+)?)(?P<num>\d+)(?:\.(?P<frac>\d+))?(?P<suf>[a-z]?(?:-[A-Z])?)$"
)


def id_key(task_id: str) -> tuple[str, int, int, str]:
    """Sort key of a task ID: ``T011.5`` and ``T011-B`` sort between ``T011`` and ``T012``.

    Args:
        task_id: A task ID.

    Returns:
        (prefix, number, fraction, suffix); unknown shapes sort by text.
    """
    m = _ID_KEY_RE.match(task_id)
    if not m:
        return (task_id, -1, 0, "")
    return (m.group("prefix"), int(m.group("num")), int(m.group("frac") or 0), m.group("suf"))
