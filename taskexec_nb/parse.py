"""tasks.md text to tasks, with source line numbers; nothing else.

markdown-it-py (with mdit-py-plugins' front matter) gives the block structure:
headings, list items, fences, tables and HTML blocks, each with the source
lines it spans. Per-task details (checkbox, ID, tags, dependencies,
annotations) are read from those source lines. Only the block-level rules run:
the inline rules are not needed and are most of markdown-it's cost.

One concept: reading a tasks.md into tasks. It is the package's one module over
650 lines, since its steps (blocks, task lines, details, ranges) share the reader's
state and make sense only together.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskexec_nb import annotations as ann
from taskexec_nb._lazyre import EndChecked, LazyPattern
from taskexec_nb._sha import sha256_hex
from taskexec_nb.deps import ID_PATTERN, find_phrases, id_key, id_list, read_statement
from taskexec_nb.markdown import parser_markdown
from taskexec_nb.model import (
    NO_ACTION,
    Action,
    ActionKind,
    DepRef,
    Diagnostic,
    ExecParams,
    Phase,
    Severity,
    Task,
    TaskForm,
    TaskState,
)
from taskexec_nb.paths import files_in

SHELL_LANGUAGES = frozenset({"sh", "bash", "shell"})
PYTHON_LANGUAGES = frozenset({"python", "py", "python3"})
_PLAIN_FENCES = frozenset({"", "text", "txt", "plain", "plaintext"})

_EMPH = r"(?:~~|\*\*|__|\*|_)*"
_SEP_CHAR = r"(?:[\s:.~*_-]|–|—|(?!))"
r"""One character between an ID and its text: ``[\s:.–—~*_-]``, written so that ``re``
compiles no 65,536-entry table for it (``(?!)`` never matches: it keeps the dashes
out of the class)."""
_SEP = rf"{_SEP_CHAR}*"
_TASK_START = (
    rf"(?P<pre>{_EMPH})\s*(?P<lead>(?:\[[^\]\n]{{1,30}}\]\s*)*)(?P<pre2>{_EMPH})"
    rf"(?P<id>{ID_PATTERN})(?!\w)(?P<post>{_EMPH}){_SEP}"
    rf"(?P<tags>(?:\[[^\[\]\n]{{1,40}}\](?!\(){_SEP})*)(?P<rest>.*)$"
)
_TASK_START_RE = LazyPattern("^" + _TASK_START, re.DOTALL)
_TASK_START_AT_RE = LazyPattern(_TASK_START, re.DOTALL)
_LEAD_TAGS = r"(?:\[(?:P|US\d+[A-Za-z0-9-]*)\][ \t]*)*"
_LOOSE_BOX_RE = LazyPattern(rf"\[[ \t]*[^\]\s]?[ \t]*\](?=[ \t]*{_LEAD_TAGS}[*_~]*T)")
"""A box a checkbox is not (``[ x ]``, ``[]``, ``[x]T009``), right before an ID (or the
``[P]``/``[US1]`` tags before it)."""
_LEAD_TAGS_RE = LazyPattern(_LEAD_TAGS)
_LOOSE_CELL_RE = LazyPattern(r"\[[ \t]*[^\]\s]?[ \t]*\]")
_CHECKBOX_TASK_RE = LazyPattern(r"^\[(?P<box>[^\]\n])\][ \t]+" + _TASK_START, re.DOTALL)
_BRACKET_RE = LazyPattern(r"\[([^\[\]\n]{1,40})\](?!\()")
_STORY_RE = LazyPattern(r"^US\d+[A-Za-z0-9-]*$")
_STORY_TAG_RE = LazyPattern(r"\[\s*(US\d+[A-Za-z0-9-]*(?:\s*,\s*US\d+[A-Za-z0-9-]*)*)\s*\]")
_ONLY_MARKERS_RE = LazyPattern(rf"(?:\[(?:P|US\d+[A-Za-z0-9-]*)\]{_SEP})*")
_LOOSE_P_RE = LazyPattern(r"\[\s+P\s*\]|\[\s*P\s+\]")
PHASE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("Phase",),
    "zh-Hans": ("阶段",),
    "zh-Hant": ("階段",),
    "ja": ("フェーズ", "段階"),
    "ko": ("단계",),
    "es": ("Fase", "Etapa"),
    "pt": ("Fase", "Etapa"),
    "fr": ("Phase", "Étape"),
    "de": ("Phase",),
    "ru": ("Этап", "Фаза"),
    "ar": ("المرحلة",),
}
"""The word of a phase heading (``## Phase 3: ...``), by language: the place to extend.

A heading is a phase when it starts with one of these words and a number
(``## 阶段 1：设置``, ``## Fase 2: Fundacional``, ``## フェーズ3``); a word in Han,
kana or Hangul may also follow its number (``## 第1阶段``, ``## 1단계``) or be followed
by Chinese numerals (``## 阶段三``).
"""

_CJK_CHARS = "\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af"
_CJK_RANGES = tuple((ord(_CJK_CHARS[i]), ord(_CJK_CHARS[i + 2])) for i in range(0, 9, 3))
_PHASE_WORD_SET = {w for ws in PHASE_WORDS.values() for w in ws}
_CJK_PHASE_WORDS = {
    w for w in _PHASE_WORD_SET if any(lo <= ord(w[0]) <= hi for lo, hi in _CJK_RANGES)
}
"""The phase words written without a space before the number (``阶段1``); checked by
code point, as a class of 40,000 letters takes ``re`` milliseconds to compile."""


def _number_ends(text: str, at: int) -> bool:
    """Whether a phase number ends at ``at``: no letter or digit follows, unless a CJK one."""
    if at >= len(text):
        return True
    char = text[at]
    return not (char.isalnum() or char == "_") or any(
        lo <= ord(char) <= hi for lo, hi in _CJK_RANGES
    )


_PHASE_RE = EndChecked(
    r"^[^\w]*(?:(?:"
    + "|".join(sorted(re.escape(w) for w in _PHASE_WORD_SET - _CJK_PHASE_WORDS))
    + r")\s+|(?:"
    + "|".join(sorted(re.escape(w) for w in _CJK_PHASE_WORDS))
    + r")\s*)(?P<num>\d+(?:\.\d+)*[a-z]?|(?-i:N)){end}"
    r"\s*(?:[:：.．、–—-]+\s*)?(?P<title>.*)$",
    rf"(?!(?-i:[^\W{_CJK_CHARS}]))",
    _number_ends,
    re.IGNORECASE,
)
"""A phase heading; the class of 40,000 letters after its number is checked in Python."""
_CJK_NUMERALS = "〇零一二三四五六七八九十"
_ORDINAL_PHASE_RE = LazyPattern(
    lambda: (
        r"^[^\w]*(?:(?:第|제)\s*(?P<num>\d+|["
        + _CJK_NUMERALS
        + r"]+)\s*(?:"
        + "|".join(sorted(re.escape(w) for w in _CJK_PHASE_WORDS))
        + r")|(?P<num2>\d+)\s*(?:"
        + "|".join(sorted(re.escape(w) for w in _CJK_PHASE_WORDS))
        + r")(?=$|[\s:：.．、–—-]))|^[^\w]*(?:"
        + "|".join(sorted(re.escape(w) for w in _CJK_PHASE_WORDS))
        + r")\s*(?P<num3>["
        + _CJK_NUMERALS
        + r"]+)(?=$|[\s:：.．、–—-])"
    )
)
"""The number before the phase word (``第1阶段``, ``第一阶段``, ``1단계``, ``제2단계``,
``第3段階``), or a Chinese numeral after it (``阶段三``). A bare number before the word
counts only when the word ends the heading's number part (``1단계: 설정``): ``3段階の
移行計画`` (a three-stage plan) and ``2단계별 가이드`` (a step-by-step guide) are no phase."""


def _ascii_digits(text: str) -> str:
    """A phase number's digits in ASCII (``١``, ``１`` are ``1``), so ``phase:1`` selects it."""
    if text.isascii():
        return text
    return "".join(str(int(c)) if c.isdecimal() else c for c in text)


def _cjk_number(text: str) -> str | None:
    """A phase number written in digits or Chinese numerals (``十二`` is ``12``) as digits.

    Returns:
        The digits, or None for numerals that are no number (``十十``, ``三二十``).
    """
    if text.isdecimal():
        return _ascii_digits(text)
    digits = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0}
    tens, ten, ones = text.partition("十")
    if not ten:
        return "".join(str(digits[c]) for c in text)
    if len(tens) > 1 or len(ones) > 1 or ones == "十":
        return None
    return str((digits[tens] if tens else 1) * 10 + (digits[ones] if ones else 0))


def _phase_heading(text: str) -> tuple[str | None, str] | None:
    """The number and title of a phase heading, or None when the heading is not one.

    Args:
        text: A heading's text (``Phase 3: User Story 1``, ``阶段 1：设置``, ``第2阶段``).

    Returns:
        ``(number, title)``: the number as written in digits (None for the template's
        ``Phase N``), the title after it; None for any other heading.
    """
    plain = text.replace("**", "")
    m = _PHASE_RE.match(plain)
    if m:
        number = None if m.group("num") == "N" else _ascii_digits(m.group("num"))  # "Phase N"
        return number, m.group("title").strip().strip("*").strip()
    if not any(w in plain for w in _CJK_PHASE_WORDS):
        return None
    o = _ORDINAL_PHASE_RE.match(plain)
    if o is None:
        return None
    number = _cjk_number(o.group("num") or o.group("num2") or o.group("num3"))
    if number is None:
        return None
    title = plain[o.end() :].lstrip().lstrip(":：.．、–—-").strip().strip("*").strip()
    return number, title


DEPENDENCY_SECTION_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("dependenc", "execution order", "critical path"),
    "zh-Hans": ("依赖", "执行顺序", "关键路径"),
    "zh-Hant": ("依賴", "執行順序", "關鍵路徑"),
    "ja": ("依存", "実行順序", "実行順", "クリティカルパス"),
    "ko": ("의존", "종속성", "실행 순서", "실행순서", "임계 경로"),
    "es": ("dependencia", "orden de ejecución", "ruta crítica"),
    "pt": ("dependência", "ordem de execução", "caminho crítico"),
    "fr": ("dépendance", "ordre d'exécution", "chemin critique"),
    "de": (
        "abhängigkeit",
        "ausführungsreihenfolge",
        "reihenfolge der ausführung",
        "kritischer pfad",
    ),
    "ru": ("зависимост", "порядок выполнения", "критический путь"),
}
"""Words (lower case; a space matches any spaces) in the heading of a dependencies
section, by language: the place to extend. Under such a heading (``## Dependencies &
Execution Order``, ``## 依赖关系与执行顺序``, ``## Dependencias``), lines that are nothing
but dependency statements are read (see :func:`taskexec_nb.deps.read_statement`).
"""
DEPENDENCY_COLUMN_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("depend", "blocked", "requires", "prereq", "after"),
    "zh-Hans": ("依赖", "前置"),
    "zh-Hant": ("依賴", "前置"),
    "ja": ("依存", "前提"),
    "ko": ("의존", "종속", "선행"),
    "es": ("dependencia", "depende de", "requisito"),
    "pt": ("dependência", "depende de", "requisito"),
    "fr": ("dépendance", "dépend de", "prérequis"),
    "de": ("abhängig", "voraussetzung"),
    "ru": ("зависим", "зависит", "предуслови"),
}
"""Words (lower case) in a table's column header that make the column the row's
prerequisites (``| Depends on |``, ``| 依赖 |``, ``| Dependencias |``), by language:
the place to extend."""


def _words_re(table: dict[str, tuple[str, ...]]) -> LazyPattern:
    words = sorted({w for ws in table.values() for w in ws}, key=len, reverse=True)
    return LazyPattern("|".join(re.escape(w).replace(r"\ ", r"\s*") for w in words), re.I)


_DEP_SECTION_RE = _words_re(DEPENDENCY_SECTION_WORDS)
_STORY_PHASE_RE = LazyPattern(
    r"(?:user\s+story|用户故事|用戶故事|使用者故事|ユーザーストーリー|사용자\s*스토리|"
    r"historia\s+de\s+usuario|história\s+de\s+usuário|(?:récit|histoire)\s+utilisateur|"
    r"benutzergeschichte|пользовательская\s+история|قصة\s+المستخدم)\s*(\d+)|\bUS\s?(\d+)\b",
    re.IGNORECASE,
)
PHASE_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "foundational": (
        "foundation",
        "blocking prereq",
        "基础(?!设施)",
        "基礎(?!設施)",
        "阻塞",
        "(?<!共有)基盤",
        "ブロッキング",
        "기초",
        r"기반(?!\s*시설)",
        "fundacional",
        "fundamentos",
        "bloqueantes",
        "fondation",
        "fondamentaux",
        "bloquants",
        "grundlage",
        "blockierend",
        "фундамент",
        "блокирующ",
        "الأساس",
    ),
    "setup": (
        "setup",
        "设置",
        "設置",
        "初始化",
        "准备",
        "準備",
        "セットアップ",
        "설정",
        "configuración",
        "preparación",
        "configuração",
        "preparação",
        "mise en place",
        "initialisation",
        "einrichtung",
        "vorbereitung",
        "настройка",
        "подготовка",
        "الإعداد",
    ),
    "polish": (
        "polish",
        "cross-cutting",
        "完善",
        "打磨",
        "收尾",
        "润色",
        "潤色",
        "仕上げ",
        "横断",
        "마무리",
        "다듬기",
        "pulido",
        "polimento",
        "finitions",
        "feinschliff",
        "querschnitt",
        "доработка",
        "полировка",
        "refino",
        "refinamento",
        "transversa",
    ),
}
"""Words (regular expressions, lower case) in a phase title that give its kind,
tried in this order after the user-story words (``User Story 2``, ``用户故事 2``,
``Historia de usuario 2``): the place to extend. A title with none is ``other``.
"""
FINAL_PHASE_WORDS: dict[str, tuple[str, ...]] = {
    "en": ("final verification", "final validation", "final checks?"),
    "zh-Hans": ("最终验证", "最终检查"),
    "zh-Hant": ("最終驗證", "最終檢查"),
    "ja": ("最終検証", "最終確認"),
    "ko": (r"최종\s*검증", r"최종\s*확인"),
    "es": ("verificación final", "validación final"),
    "pt": ("verificação final", "validação final"),
    "fr": ("vérification finale", "validation finale"),
    "de": ("abschlussprüfung", "endprüfung"),
}
"""Titles (regular expressions, lower case) of a last step, by language: the place to
extend. They make a phase's kind polish, and a heading with no phase word and number
(``## 最终验证``, ``## Verificación final``) at the level of the file's phase headings,
after them, is the last phase, unnumbered. So is a polish title there (``## Polish``)."""
PHASE_KIND_WORDS["polish"] += tuple(w for ws in FINAL_PHASE_WORDS.values() for w in ws)
_FINAL_RE = LazyPattern("|".join(PHASE_KIND_WORDS["polish"]))
_PHASE_KIND_RES = [(kind, LazyPattern("|".join(ws))) for kind, ws in PHASE_KIND_WORDS.items()]
_TABLE_DEP_HEADER_RE = _words_re(DEPENDENCY_COLUMN_WORDS)
_TABLE_PARALLEL_HEADER_RE = LazyPattern(r"parallel|\[P\]", re.IGNORECASE)
_TRUTHY_CELL = frozenset({"[p]", "p", "yes", "y", "true", "x", "[x]", "✓", "✔", "✅"})
_INLINE_TAG_RE = LazyPattern(r"\[(?:P|US\d+[A-Za-z0-9-]*)\]")
_WALKED = frozenset({"list_item_open", "fence", "heading_open", "table_open"})
_BOX_STATES = {" ": (False, False), "x": (True, False), "X": (True, False), "/": (False, False)}
_BOX_STATES.update({"~": (False, True), "-": (False, True)})
"""(checked, cancelled) for each box symbol: ``[ ]`` and ``[/]`` (in progress) pending,
``[x]``/``[X]`` done, ``[~]``/``[-]`` cancelled. ``[P]`` where the box goes marks a
pending parallel task with no box; any other symbol is reported (TX113)."""
_PARALLEL_BOX = "P"
_RANGE_END_RE = LazyPattern(rf"[*_~]*(?P<end>{ID_PATTERN})(?!\w)")
_NOTE_RE = LazyPattern(r"\([^()\n]*\)|（[^（）\n]*）")
SEE_ABOVE_WORDS: dict[str, tuple[str, ...]] = {
    "en": (r"\bsee\s+(?:above|below)\b", r"\b(?:as|details?)\s+(?:above|below)\b"),
    "zh-Hans": ("见上", "见下", "参见上文", "同上", "详见上", "详见下"),
    "zh-Hant": ("見上", "見下", "參見上文", "同上", "詳見上", "詳見下"),
    "ja": ("上記参照", "上記を参照", "下記参照", "下記を参照", "前述"),
    "ko": (r"위\s*참조", r"아래\s*참조", r"위와\s*같음"),
    "es": (r"\b(?:ver|véase|vea)\s+(?:arriba|abajo)\b", r"\bcomo\s+(?:arriba|antes)\b"),
    "pt": (r"\b(?:ver|veja)\s+(?:acima|abaixo)\b", r"\bcomo\s+acima\b"),
    "fr": (r"\bvoir\s+(?:ci-dessus|ci-dessous|plus\s+haut)", r"\bcf\.?\s+ci-dessus"),
    "de": (r"\bsiehe\s+(?:oben|unten)\b", r"\bwie\s+oben\b", r"\bs\.\s*o\."),
}
"""What a re-listing says to point at the task's definition (``(see above)``, ``（见上文）``,
``siehe oben``), by language (regular expressions, case-blind): the place to extend. A
later listing of an ID that says so is a mention, whatever its other text."""
IN_PROGRESS_WORDS: dict[str, tuple[str, ...]] = {
    "en": (
        r"in[\s-]progress",
        r"\bwip\b",
        r"\bongoing\b",
        r"\bdoing\b",
        r"\bstarted\b",
        r"\bpartial(?:ly)?\b",
        r"\bworking\b",
    ),
    "zh": ("进行中", "進行中", "处理中", "處理中", "部分完成"),
    "ja": ("作業中", "対応中", "実施中"),
    "ko": (r"진행\s*중",),
    "es": (r"\ben\s+(?:curso|progreso|proceso)\b",),
    "pt": (r"\bem\s+(?:andamento|progresso)\b",),
    "fr": (r"\ben\s+cours\b",),
    "de": (r"\bin\s+(?:arbeit|bearbeitung)\b", r"\bbegonnen\b"),
    "ru": (r"в\s+(?:процессе|работе)",),
}
"""What a legend says for a box that means work in progress (``[~] in progress``,
``[~] 进行中``), by language (regular expressions, case-blind): the place to extend.
``[~]`` and ``[-]`` are read as cancelled; a legend that says they mean work in
progress gets a warning (TX114), since those tasks would silently never run."""
_IN_PROGRESS_RE = LazyPattern(
    lambda: "|".join(w for ws in IN_PROGRESS_WORDS.values() for w in ws), re.I
)
_SEE_RE = LazyPattern(lambda: "|".join(w for ws in SEE_ABOVE_WORDS.values() for w in ws), re.I)
_KNOWN_BOXES = "[ ], [x], [X], [~], [-], [/] or [P]"
_LEAD_BOX_RE = LazyPattern(r"\[(?P<box>[^\]\n])\][ \t]*")
_CELL_BOX_RE = LazyPattern(r"\[(?P<box>[^\]\n])\]")
_PLACEHOLDER_RE = LazyPattern(r"\[[^\]\n]\][ \t]+[*_~]*(?P<id>T(?:X{2,}|#{2,}|\?{2,}))(?![\w#?])")
_STEP_CELL_RE = LazyPattern(r"\**\d+[.)]?\**")


@dataclass(frozen=True, slots=True)
class Statement:
    """A dependency statement read from a dependencies section.

    Attributes:
        before: References that must finish first.
        after: References that wait for them.
        line: 1-based line of the statement.
    """

    before: tuple[DepRef, ...]
    after: tuple[DepRef, ...]
    line: int


@dataclass(frozen=True, slots=True)
class TaskFile:
    """A parsed tasks.md.

    Attributes:
        path: The file as given (or ``<string>``).
        tasks: One Task per ID, in file order of first appearance.
        phases: The phases in file order (implicit groups included).
        statements: Dependency statements from dependencies sections.
        diagnostics: Problems found while parsing (validation adds more).
        newline: The line ending the file uses (CRLF or LF).
        bom: Whether the file starts with a UTF-8 byte order mark.
        line_count: Number of lines.
        digest: SHA-256 of the file's bytes (empty for text not read from a file).
        data: The file's bytes (empty for text not read from a file).
    """

    path: str
    tasks: tuple[Task, ...]
    phases: tuple[Phase, ...]
    statements: tuple[Statement, ...]
    diagnostics: tuple[Diagnostic, ...]
    newline: str = "\n"
    bom: bool = False
    line_count: int = 0
    digest: str = ""
    data: bytes = dataclasses.field(default=b"", repr=False, compare=False)

    @property
    def ids(self) -> tuple[str, ...]:
        """Task IDs in file order."""
        return tuple(t.id for t in self.tasks)

    def task(self, task_id: str) -> Task:
        """Return the task with this ID.

        Args:
            task_id: A task ID as written.

        Returns:
            The task.

        Raises:
            KeyError: If there is no such task.
        """
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(task_id)


# --- reading --------------------------------------------------------------------------------


def parse_file(path: str | Path) -> TaskFile:
    """Read and parse a tasks.md file; problems become diagnostics, never exceptions.

    Args:
        path: The tasks.md to read.

    Returns:
        The parsed file. An unreadable file gives a TaskFile with no tasks and
        a ``TX001`` error diagnostic.
    """
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        diag = Diagnostic(
            "TX001",
            Severity.ERROR,
            f"cannot read file: {reason}",
            name,
            hint="check the path and that it is a readable file",
        )
        return TaskFile(name, (), (), (), (diag,))
    return dataclasses.replace(parse_bytes(data, name), digest=sha256_hex(data), data=data)


def parse_bytes(data: bytes, path: str = "<string>") -> TaskFile:
    r"""Decode bytes as UTF-8 (with or without BOM) and parse them.

    Args:
        data: The file's content.
        path: Name used in diagnostics.

    Returns:
        The parsed file; undecodable input gives a ``TX002`` error diagnostic.
    """
    bom = data.startswith(b"\xef\xbb\xbf")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        diag = Diagnostic(
            "TX002",
            Severity.ERROR,
            "file is UTF-16, not UTF-8",
            path,
            1,
            hint="save the file as UTF-8",
        )
        return TaskFile(path, (), (), (), (diag,))
    try:
        text = data[3 if bom else 0 :].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if bom else 0)  # exc.start counts from after the BOM
        head = data[:offset]
        # Lines end at LF, CRLF or a lone CR, as parse_text counts them.
        line = head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n") + 1
        diag = Diagnostic(
            "TX002",
            Severity.ERROR,
            f"not valid UTF-8 (byte 0x{data[offset]:02x} at offset {offset})",
            path,
            line,
            hint="save the file as UTF-8",
        )
        return TaskFile(path, (), (), (), (diag,))
    return parse_text(text, path, bom=bom)


def parse_text(text: str, path: str = "<string>", *, bom: bool = False) -> TaskFile:
    """Parse tasks.md text.

    Args:
        text: The Markdown text (a leading BOM character is ignored).
        path: Name used in diagnostics.
        bom: Whether the original bytes had a UTF-8 BOM (recorded only).

    Returns:
        The parsed file with its parse diagnostics.
    """
    if text.startswith("\ufeff"):
        text, bom = text[1:], True
    newline = "\r\n" if "\r\n" in text else "\n"
    normal = text.replace("\r\n", "\n").replace("\r", "\n")
    return _Parser(normal, path).run(newline, bom)


# --- the parser -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Site:
    """One place where a task ID is written, before sites are merged into tasks."""

    id: str
    form: TaskForm
    line: int  # 0-based
    first_text: str  # first source line (tags are read from it)
    head_text: str  # the whole first paragraph / heading / description cell
    after_id: str  # the text after the ID (description and trailing tags)
    lead: str  # bracket tags written before the ID
    tags: str  # bracket tags written right after the ID
    checked: bool | None
    cancelled: bool
    phase: Phase
    section: str | None
    body_start: int  # 0-based, inclusive
    body_end: int  # 0-based, exclusive
    level: int = 0  # heading level for heading sites
    extra_deps: list[DepRef] = field(default_factory=list)
    parallel_cell: bool = False
    fences: list[tuple[int, int, str, str]] = field(default_factory=list)
    owner_span: tuple[int, int] = (0, 0)
    box: int = -1  # 0-based line of the task's box; -1 where it has none
    summary: bool = False  # a table row with a step number before its ID (| 2 | T002 | ...)


@dataclass
class _Heading:
    line: int
    level: int
    text: str
    end: int = -1  # 0-based exclusive end of its section


def _cut_at_annotation(start: re.Match[str], para: list[int]) -> tuple[str, str, int]:
    """An item's text, its text after the ID and its body's start, cut at an annotation line.

    ``- [ ] T001 Build`` then ``  taskexec: run=make`` on the next line: Markdown
    joins the two into the item's first paragraph (its lines ``para``), but a
    reader sees the task's text and its annotation, so the annotation starts the body.
    """
    content, rest = start.string, start.group("rest")
    if "\n" not in rest or "taskexec" not in rest.lower():
        return content, rest, para[1]
    lines = content.split("\n")
    for k in range(1, len(lines)):
        if ann.ANNOTATION_RE.match(lines[k]):
            cut = len("\n".join(lines[:k]))
            return content[:cut], content[start.start("rest") : cut], para[0] + k
    return content, rest, para[1]


class _Reader:
    """The first pass: markdown-it's tokens to task sites, phases, headings and fences.

    What a person sees on the page, each with its line: the places a task is
    written (list items, headings, table rows), their boxes, the phases and the
    sections; :class:`_Parser` then builds the tasks from them.
    """

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.lines = text.split("\n")
        self.diags: list[Diagnostic] = []
        self.phases: list[Phase] = []
        self.sites: list[_Site] = []
        self.headings: list[_Heading] = []
        self.fences: list[tuple[int, int, str, str]] = []  # start, end, lang, content
        # List items that are not tasks: (0-based first line, nesting level, box symbol or "").
        self.items: list[tuple[int, int, str]] = []
        self.cancel_boxes: list[tuple[str, str, int]] = []  # symbol, task ID, 0-based line
        self.ranges: list[tuple[str, str, int, str]] = []  # first, last, 0-based line, box
        self._implicit: Phase | None = None

    # -- diagnostics
    def diag(
        self,
        code: str,
        sev: Severity,
        msg: str,
        line: int | None,
        hint: str | None = None,
        task_id: str | None = None,
    ) -> None:
        """Record a diagnostic about this file.

        Args:
            code: The diagnostic's code (``TX...``, listed in the README).
            sev: Its severity.
            msg: What is wrong, in one sentence.
            line: The 1-based line it is on, or None for the whole file.
            hint: How to fix it, or None.
            task_id: The task concerned, when there is one.
        """
        self.diags.append(Diagnostic(code, sev, msg, self.path, line, hint, task_id))

    # -- walk
    def _walk(self, tokens: list[Any]) -> None:
        phase_stack: list[tuple[int, Phase]] = []  # (heading level, phase)
        phase_level = 0  # the level of the last phase heading
        section: str | None = None
        skip_to = -1
        for i, tok in enumerate(tokens):
            typ = tok.type
            if typ not in _WALKED or i < skip_to:
                continue
            if typ == "list_item_open":
                self._list_item(tokens, i, phase_stack, section)
            elif typ == "fence":
                start, end = tok.map
                lang = (tok.info.strip().split() or [""])[0].lower()
                self.fences.append((start, end, lang, tok.content))
            elif typ == "heading_open":
                if tok.level:
                    continue  # a heading inside a list or quote does not open a section
                level = int(tok.tag[1])
                text = tokens[i + 1].content.strip()
                line = tok.map[0]
                while phase_stack and phase_stack[-1][0] >= level:
                    phase_stack.pop()
                self.headings.append(_Heading(line, level, text))
                found = _phase_heading(text)
                if found:
                    phase_stack.append((level, self._new_phase(*found, text, line)))
                    phase_level = level
                elif level == phase_level and not phase_stack and _FINAL_RE.search(text.lower()):
                    # "## 最终验证" after "## 阶段 5: ...": the last phase, unnumbered.
                    title = text.strip("*# ")
                    phase = Phase(len(self.phases), None, title, text, line + 1, "polish")
                    self.phases.append(phase)
                    phase_stack.append((level, phase))
                section = text
                self._heading_task(text, line, level, phase_stack, section)
            else:  # table_open
                skip_to = self._table(tokens, i, phase_stack, section)

    def _current_phase(self, phase_stack: list[tuple[int, Phase]]) -> Phase:
        if phase_stack:
            self._implicit = None
            return phase_stack[-1][1]
        if self._implicit is None:
            self._implicit = Phase(len(self.phases), None, "(no phase)", "", None)
            self.phases.append(self._implicit)
        return self._implicit

    def _new_phase(self, number: str | None, title: str, heading: str, line: int) -> Phase:
        kind, story = _phase_kind(title)
        phase = Phase(len(self.phases), number, title, heading, line + 1, kind, story)
        self.phases.append(phase)
        return phase

    def _list_item(
        self, tokens: list[Any], i: int, phase_stack: list[tuple[int, Phase]], section: str | None
    ) -> None:
        if i + 2 >= len(tokens) or tokens[i + 1].type != "paragraph_open":
            self.items.append((tokens[i].map[0], tokens[i].level, ""))
            return
        content = tokens[i + 2].content
        if content[:1] != "[":
            self.items.append((tokens[i].map[0], tokens[i].level, ""))
            return
        start = _CHECKBOX_TASK_RE.match(content)
        if not start and (after_box := self._loose_box(content, tokens[i].map[0])):
            # [ x ], [] or [x]T009: reported (TX113), and the task is kept, with no box.
            phase = self._current_phase(phase_stack)
            self.sites.append(_boxless_item(self.lines, tokens, i, after_box, phase, section))
            return
        if not start and (placeholder := _PLACEHOLDER_RE.match(content)):
            self.diag(
                "TX117",
                Severity.WARNING,
                f"{placeholder.group('id')} is a template placeholder, not a task ID: "
                "this item is not a task and will not run",
                tokens[i].map[0] + 1,
                "give it a real ID (the next free one, e.g. T010) or delete the line",
            )
        if not start or self._range_listing(start, tokens[i].map[0]):
            found = _LEAD_BOX_RE.match(content)
            symbol = found.group("box") if found and found.end() > 3 else ""
            self.items.append((tokens[i].map[0], tokens[i].level, symbol))
            return
        item_start, item_end = tokens[i].map
        mark, pre, lead, pre2, task_id, post, tags, rest = start.groups()
        content, rest, para_end = _cut_at_annotation(start, tokens[i + 1].map)
        emph = pre + pre2 + post
        state = _BOX_STATES.get(mark)
        if state is None:  # [P] in the box's place, or a symbol we do not know: no box
            if mark != _PARALLEL_BOX:
                self._unknown_box(mark, task_id, item_start)
            checked, struck, box = None, False, -1
        else:
            checked, struck, box = state[0], state[1], item_start
            if struck:
                self.cancel_boxes.append((mark, task_id, item_start))
        # Positional arguments, in _Site's field order: this runs once per task and
        # keyword arguments cost a third more.
        site = _Site(
            task_id,
            TaskForm.CHECKBOX,
            item_start,
            self.lines[item_start],
            content[start.start("pre") :].replace("\n", " "),
            rest.replace("\n", " ") if "\n" in rest else rest,
            lead,
            tags,
            checked,
            struck or "~~" in emph,
            self._current_phase(phase_stack),
            section,
            para_end,
            item_end,
            0,
            [],
            False,
            [],
            (item_start, item_end),
            box,
        )
        self.sites.append(site)

    def _range_listing(self, start: re.Match[str], line: int) -> bool:
        """Whether a task start is a range (``T205-T208: ...``): a mention, not a task."""
        rest = start.group("rest")
        if start.group("tags") or not rest or rest[0] not in "T*_~":
            return False
        sep = start.string[start.end("post") : start.start("tags")]
        end = _RANGE_END_RE.match(rest)
        if end is None or not ("-" in sep or "–" in sep or "—" in sep or "~" in sep or ".." in sep):
            return False
        box = start.groupdict().get("box") or ""
        if not box and start.group("lead") and not start.group("pre"):
            mark = _LEAD_BOX_RE.match(start.group("lead"))
            box = mark.group("box") if mark else ""
        self.ranges.append((start.group("id"), end.group("end"), line, box))
        return True

    def _unknown_box(self, symbol: str, task_id: str, line: int, written: str = "") -> None:
        what = (
            f"box {written!r} is not a checkbox (one symbol between the brackets, then a space)"
            if written
            else f"unknown box [{symbol}]"
        )
        self.diag(
            "TX113",
            Severity.ERROR,
            f"{task_id}: {what}: it is neither done nor pending (boxes read: {_KNOWN_BOXES})",
            line + 1,
            "write [x] if the task is done, [ ] if it is to run, [~] if it is cancelled",
            task_id,
        )

    def _loose_box(self, text: str, line: int) -> re.Match[str] | None:
        """Report a task written after a box a checkbox is not (``[ x ]``, ``[]``, ``[x]T009``).

        Args:
            text: The item's, heading's or cell's text, from its start.
            line: The 0-based line it is on.

        Returns:
            The task's start after the box (its ID and text), or None when the
            text does not start with such a box and a task ID.
        """
        box = _LOOSE_BOX_RE.match(text) if text[:1] == "[" else None
        if box is None or (box.end() == 3 and text[3:4] in (" ", "\t")):
            return None  # none, or a checkbox: [x] and a space
        start = _TASK_START_AT_RE.match(text, box.end())
        if start is None or not _LEAD_TAGS_RE.fullmatch(start.group("lead")):
            return None  # no ID, or a link or note before it
        self._unknown_box("", start.group("id"), line, text[: start.end("id")])
        return start

    def _heading_task(
        self,
        text: str,
        line: int,
        level: int,
        phase_stack: list[tuple[int, Phase]],
        section: str | None,
    ) -> None:
        start = _TASK_START_RE.match(text)
        loose = start is None or (bool(start.group("lead")) and not start.group("pre"))
        if loose and (after_box := self._loose_box(text, line)):
            start = after_box  # ### [ x ] T005: reported; the task is kept, with no box
        if not start or self._range_listing(start, line):
            return
        emph = start.group("pre") + start.group("pre2") + start.group("post")
        lead = start.group("lead")
        checked: bool | None = None
        cancelled = "~~" in emph
        box = -1
        mark = _LEAD_BOX_RE.match(lead) if lead and not start.group("pre") else None
        if mark and mark.group("box") in _BOX_STATES:  # ### [x] T005 Title
            checked, struck = _BOX_STATES[mark.group("box")]
            cancelled = cancelled or struck
            lead, box = lead[mark.end() :], line
            if struck:
                self.cancel_boxes.append((mark.group("box"), start.group("id"), line))
        elif mark and mark.group("box") != _PARALLEL_BOX:
            self._unknown_box(mark.group("box"), start.group("id"), line)
            lead = lead[mark.end() :]
        self.sites.append(
            _Site(
                id=start.group("id"),
                form=TaskForm.HEADING,
                line=line,
                first_text=self.lines[line],
                head_text=text,
                after_id=start.group("rest"),
                lead=lead,
                tags=start.group("tags"),
                checked=checked,
                cancelled=cancelled,
                phase=self._current_phase(phase_stack),
                section=section,
                body_start=line + 1,
                body_end=-1,
                level=level,
                owner_span=(line, line + 1),
                box=box,
            )
        )

    def _table(
        self, tokens: list[Any], i: int, phase_stack: list[tuple[int, Phase]], section: str | None
    ) -> int:
        headers: list[str] = []
        row: list[str] = []
        row_line = 0
        in_head = False
        n = len(tokens)
        while i < n and tokens[i].type != "table_close":
            tok = tokens[i]
            if tok.type == "thead_open":
                in_head = True
            elif tok.type == "thead_close":
                in_head = False
            elif tok.type == "tr_open":
                row = []
                row_line = tok.map[0]
            elif tok.type == "inline":
                row.append(tok.content.strip())
            elif tok.type == "tr_close":
                if in_head:
                    headers = row
                else:
                    self._table_row(row, headers, row_line, phase_stack, section)
            i += 1
        return i

    def _table_row(
        self,
        cells: list[str],
        headers: list[str],
        line: int,
        phase_stack: list[tuple[int, Phase]],
        section: str | None,
    ) -> None:
        found = [
            (col, m)
            for col, m in enumerate(_TASK_START_RE.match(c) for c in cells[:2])
            if m and not (m.group("tags") + m.group("rest")).strip(" *~_")
        ]
        in_cell = not found
        if in_cell:
            # | [ ] | T001 Write the reader | or | [x] T001 Write the reader |: with a box,
            # the ID and the task's text may share a cell.
            found = _boxed_text_cell(cells)
            if not found or self._range_listing(found[0][1], line):
                return
        col, start = found[0]
        after = cells[col + 1 :]
        rest = (
            [start.group("rest")]
            if in_cell
            else [c for c in after if c and not _CELL_BOX_RE.fullmatch(c)]
        )
        # The row's box: a first cell that is only a box (| [x] | T004 | ...), a box
        # written before the ID in its cell (| [x] T004 | ...), or else a status cell
        # after the ID that is only a box (| T004 | Write the test | [x] |).
        mark = _CELL_BOX_RE.fullmatch(cells[0]) if col == 1 else None
        if col == 1 and mark is None and _LOOSE_CELL_RE.fullmatch(cells[0]):
            self._unknown_box("", start.group("id"), line, cells[0])  # | [ x ] | T004 |
        if col == 0 and start.group("lead") and not start.group("pre"):
            mark = _LEAD_BOX_RE.match(start.group("lead"))
            if mark is None:
                self._loose_box(cells[0], line)  # | [ x ] T004 |
        if mark is None and not in_cell and not (col == 1 and _LOOSE_CELL_RE.fullmatch(cells[0])):
            mark = self._status_cell(after, headers[col + 1 :], start.group("id"), line)
        checked, struck = (
            _BOX_STATES.get(mark.group("box"), (None, False)) if mark else (None, False)
        )
        if mark and checked is None and mark.group("box") != _PARALLEL_BOX:
            self._unknown_box(mark.group("box"), start.group("id"), line)
        if struck and mark:
            self.cancel_boxes.append((mark.group("box"), start.group("id"), line))
        site = _Site(
            id=start.group("id"),
            form=TaskForm.TABLE,
            line=line,
            first_text=self.lines[line],
            head_text=" ".join(rest[:1]),
            after_id=" ".join(rest[:1]),
            lead="",
            tags=start.group("tags") if in_cell else "",
            checked=checked,
            cancelled="~~" in start.group("pre") or struck,
            phase=self._current_phase(phase_stack),
            section=section,
            body_start=line + 1,
            body_end=line + 1,
            owner_span=(line, line + 1),
            box=-1 if checked is None else line,
            summary=mark is None and col == 1 and _STEP_CELL_RE.fullmatch(cells[0]) is not None,
        )
        for header, value in zip(headers, cells, strict=False):
            if _TABLE_DEP_HEADER_RE.search(header):
                site.extra_deps.extend(DepRef(a, b, line + 1, "inline") for a, b in id_list(value))
            elif _TABLE_PARALLEL_HEADER_RE.search(header) and value.lower() in _TRUTHY_CELL:
                site.parallel_cell = True
        self.sites.append(site)

    def _status_cell(
        self, after: list[str], heads: list[str], task_id: str, line: int
    ) -> re.Match[str] | None:
        """The row's status box: its last cell after the ID that is only a box.

        A box under a ``Parallel`` or ``[P]`` header marks the task parallel instead.
        The last box cell is the one a success ticks (the writer finds it the same
        way), so a status box before another box cell is reported (TX113).
        """
        boxes = [
            (at, m)
            for at, m in enumerate(map(_CELL_BOX_RE.fullmatch, after))
            if m and m.group("box") in _BOX_STATES
        ]
        status = [
            m
            for at, m in boxes
            if not (at < len(heads) and _TABLE_PARALLEL_HEADER_RE.search(heads[at]))
        ]
        if not status or status[-1] is boxes[-1][1]:
            return status[-1] if status else None
        self.diag(
            "TX113",
            Severity.ERROR,
            f"{task_id}: its status box comes before another box cell in the row, where a "
            "success would be ticked: done or not cannot be kept",
            line + 1,
            "make the status column the row's last column of boxes, or write the other "
            "column's boxes as yes/no",
            task_id,
        )
        return None

    def _close_sections(self) -> None:
        """Give each heading (and heading task) the end line of its section."""
        stack: list[_Heading] = []
        for h in self.headings:
            while stack and stack[-1].level >= h.level:
                stack.pop().end = h.line
            stack.append(h)
        for h in stack:
            h.end = len(self.lines)
        ends = {h.line: h.end for h in self.headings}
        for s in self.sites:
            if s.form is TaskForm.HEADING:
                s.body_end = ends[s.line]
                s.owner_span = (s.line, s.line + 1)

    def _body_boxes(self) -> None:
        """Give a heading task without a box the box of its body's first list item.

        ``### T001: Title`` then ``- [x] **Description**: ...``: the item's box is the
        task's, unless the first item is a task of its own (or a nested heading
        task's) or other items at its level, before the next heading, have boxes too
        (a checklist of steps, not the task's state). A sub-heading's checklist
        (``#### Acceptance criteria``) does not count against it.
        """
        headings = [s for s in self.sites if s.form is TaskForm.HEADING and s.box < 0]
        if not headings or not self.items:
            return
        task_lines = sorted(
            s.line for s in self.sites if s.form is TaskForm.CHECKBOX or s.form is TaskForm.HEADING
        )
        heading_lines = [h.line for h in self.headings]
        item_lines = [it[0] for it in self.items]
        for site in headings:
            lo = bisect.bisect_left(item_lines, site.body_start)
            hi = bisect.bisect_left(item_lines, site.body_end)
            if lo == hi:
                continue
            line, level, symbol = self.items[lo]
            if symbol not in _BOX_STATES:
                continue
            t = bisect.bisect_left(task_lines, site.body_start)
            if t < len(task_lines) and task_lines[t] < line:
                continue  # the section's first item is a task's own (a nested heading's)
            # Its list ends at the next heading: a sub-heading's checklist
            # ("#### Acceptance criteria") is not a sibling of the task's own box.
            h = bisect.bisect_right(heading_lines, line)
            if h < len(heading_lines) and heading_lines[h] < site.body_end:
                hi = bisect.bisect_left(item_lines, heading_lines[h])
            if any(it[1] == level and it[2] for it in self.items[lo + 1 : hi]):
                continue  # several boxes: a checklist of steps
            site.checked, struck = _BOX_STATES[symbol]
            site.cancelled = site.cancelled or struck
            site.box = line
            if struck:
                self.cancel_boxes.append((symbol, site.id, line))

    def _cancel_legend(self) -> None:
        """Warn where a ``[~]`` or ``[-]`` box cancels tasks and no line says what it means.

        Some people use ``[~]`` for work in progress; read as cancelled, such a task
        silently never runs. A legend is any line that is not a task's own line and
        names the box (``- [~] = cancelled``, ``Legend: [x] done, [~] skipped``).
        """
        task_lines = {s.line for s in self.sites} | {s.box for s in self.sites}
        for symbol in dict.fromkeys(sym for sym, _, _ in self.cancel_boxes):
            written = f"[{symbol}]"
            legends = [
                (ln, text)
                for ln, text in enumerate(self.lines)
                if ln not in task_lines and "[" in text and written in text
            ]
            # What each legend says the box means: its text up to the next box.
            meanings = [(ln, text.split(written, 1)[1].split("[", 1)[0]) for ln, text in legends]
            progress = [ln for ln, said in meanings if _IN_PROGRESS_RE.search(said)]
            if legends and not progress:
                continue
            tasks = [(tid, ln) for sym, tid, ln in self.cancel_boxes if sym == symbol]
            shown = ", ".join(f"{tid} (line {ln + 1})" for tid, ln in tasks[:5])
            more = f" and {len(tasks) - 5} more" if len(tasks) > 5 else ""
            why = (
                f"the legend at line {progress[0] + 1} says {written} means work in progress"
                if progress
                else f"the file has no legend saying what {written} means"
            )
            self.diag(
                "TX114",
                Severity.WARNING,
                f"{len(tasks)} task(s) have a {written} box, read as cancelled, so they will "
                f"not run: {shown}{more}; {why}",
                tasks[0][1] + 1,
                "write [/] for work in progress, in the tasks and the legend (it runs, "
                "and is ticked [X] on success)"
                if progress
                else f"if {written} means in progress here, write [/] or [ ]; if it means "
                f"cancelled, add a legend line such as '{written} = cancelled'",
                tasks[0][0],
            )

    # -- sites to tasks


class _Parser(_Reader):
    """The second pass: task sites to tasks (definitions, mentions, bodies, actions)."""

    def run(self, newline: str, bom: bool) -> TaskFile:
        """Parse the text: both passes, then the file-level checks.

        Args:
            newline: The line ending the file uses (CRLF or LF), recorded only: the
                text parsed has LF line endings.
            bom: Whether the file started with a UTF-8 byte order mark (recorded only).

        Returns:
            The parsed file: its tasks, phases and statements, and every parse
            diagnostic sorted by line then code (TX003 when it has no task).
        """
        tokens = parser_markdown(self.text.startswith("-")).parse(self.text)
        self._walk(tokens)
        self._close_sections()
        self._body_boxes()
        if self.cancel_boxes:
            self._cancel_legend()
        tasks = self._build_tasks()
        statements = self._read_statements()
        if not tasks and not any(d.is_error for d in self.diags):
            self.diag(
                "TX003",
                Severity.ERROR,
                "no tasks found",
                None,
                "tasks are lines like '- [ ] T001 Do something' (see README)",
            )
        self.diags.sort(key=lambda d: (d.line or 0, d.code))
        return TaskFile(
            self.path,
            tuple(tasks),
            tuple(self.phases),
            tuple(statements),
            tuple(self.diags),
            newline,
            bom,
            len(self.lines),
        )

    def _build_tasks(self) -> list[Task]:
        owned = self._owned_lines()
        fence_lines: set[int] = set()
        for fence in self.fences:
            fence_lines.update(range(fence[0], fence[1]))
            owner = owned.get(fence[0])
            if owner is not None:
                owner.fences.append(fence)
        heading_deps = self._heading_deps()
        by_id: dict[str, list[_Site]] = {}
        for s in self.sites:
            by_id.setdefault(s.id, []).append(s)
        tasks: list[Task] = []
        make = self._make_task
        moved = False
        for sites in by_id.values():
            if len(sites) > 1:
                listed = _definitions(sites)
                moved = moved or listed[0] is not sites[0]
                primary, sites = self._merge_sites(listed)
            else:
                primary = sites[0]
            tasks.append(make(primary, sites, owned, fence_lines, heading_deps))
        if moved:  # a task is placed at its definition, not at a summary listed before it
            tasks.sort(key=lambda t: t.line)
        if self.ranges:
            self._check_ranges(tasks)
        return tasks

    def _check_ranges(self, tasks: list[Task]) -> None:
        """Warn about a range listing that names no task, or whose box disagrees with them."""
        keys = [id_key(t.id) for t in tasks]
        for first, last, line, box in self.ranges:
            lo, hi = id_key(first), id_key(last)
            inside = [
                t for t, k in zip(tasks, keys, strict=True) if lo <= k <= hi and k[0] == lo[0]
            ]
            state = _BOX_STATES.get(box)
            if inside and state is not None:
                said = "cancelled" if state[1] else "done" if state[0] else "pending"
                other = [t for t in inside if t.state.value != said]
                if other:
                    self.diag(
                        "TX115",
                        Severity.WARNING,
                        f"{first}-{last} is listed here with a box that says {said}, but "
                        + ", ".join(f"{t.id} (line {t.line}) is {t.state.value}" for t in other)
                        + ": each task's own box counts",
                        line + 1,
                        "make the boxes agree, or drop the box from the range line",
                        first,
                    )
            if not inside:
                self.diag(
                    "TX115",
                    Severity.WARNING,
                    f"{first}-{last} is a range, read as a mention of those tasks, and the "
                    "file defines none of them: nothing runs for it",
                    line + 1,
                    f"write one task per ID ('- [ ] {first} ...'), or drop the range line",
                    first,
                )

    def _owned_lines(self) -> dict[int, _Site]:
        """Map each line inside a task to the innermost task it belongs to.

        A heading task owns its section; a checkbox task owns its list item,
        and wins over a heading around it; nested ones win over outer ones.
        """
        owned: dict[int, _Site] = {}
        for s in self.sites:
            if s.form is TaskForm.HEADING:
                for ln in range(s.line, s.body_end):
                    owned[ln] = s
        for s in self.sites:
            if s.form is TaskForm.CHECKBOX:
                start, end = s.owner_span
                if end - start == 1:
                    owned[start] = s
                else:
                    for ln in range(start, end):
                        owned[ln] = s
        return owned

    def _heading_deps(self) -> list[tuple[int, int, list[DepRef]]]:
        out: list[tuple[int, int, list[DepRef]]] = []
        task_heading_lines = {s.line for s in self.sites if s.form is TaskForm.HEADING}
        for h in self.headings:
            if h.line in task_heading_lines or _DEP_SECTION_RE.search(h.text):
                continue
            refs = find_phrases(h.text)
            if refs:
                out.append((h.line, h.end, [DepRef(a, b, h.line + 1, "heading") for a, b in refs]))
        return out

    def _merge_sites(self, sites: list[_Site]) -> tuple[_Site, list[_Site]]:
        """Pick the site that defines the task, and the sites that add to it.

        The first site defines the task. A site of another form joins it (a
        checkbox task's detail heading, or the checkbox of a heading task). A
        later site of a form already seen is a re-listing (a summary, a recap,
        "see above"): a mention that adds nothing, unless the two define
        different work (different text, both pending), which is a duplicate ID.
        A re-listing whose box disagrees with the task's state is reported.

        Returns:
            The defining site, and the sites whose text and body make the task.
        """
        primary = sites[0]
        kept = [primary]
        forms = {primary.form}
        for other in sites[1:]:
            if other.form not in forms:
                forms.add(other.form)
                kept.append(other)
                if (
                    other.form is TaskForm.CHECKBOX
                    and primary.form is not TaskForm.CHECKBOX
                    and primary.box < 0
                ):
                    # A heading or row without a box came first: the checkbox holds the state.
                    primary.checked, primary.cancelled = other.checked, other.cancelled
                    primary.box = other.box
            elif _pending(primary) and _pending(other) and not _same_work(primary, other):
                self.diag(
                    "TX101",
                    Severity.ERROR,
                    f"duplicate task ID {other.id} (first defined at line {primary.line + 1}): "
                    "the two define different work",
                    other.line + 1,
                    f"give one of them a new ID, e.g. {other.id}a",
                    other.id,
                )
        state = _site_state(primary)
        for other in sites[1:]:
            if other.box >= 0 and other.box != primary.box and _site_state(other) != state:
                self.diag(
                    "TX115",
                    Severity.WARNING,
                    f"{other.id} is listed again here with a box that says "
                    f"{_site_state(other)}, but the task (line {primary.line + 1}) is {state}: "
                    "the first definition counts",
                    other.box + 1,
                    "make the two boxes agree, or drop the re-listing",
                    other.id,
                )
        return primary, kept
        return primary

    def _make_task(
        self,
        primary: _Site,
        sites: list[_Site],
        owned: dict[int, _Site],
        fence_lines: set[int],
        heading_deps: list[tuple[int, int, list[DepRef]]],
    ) -> Task:
        tid = primary.id
        deps: list[DepRef] = []
        body_lines: list[str] = []
        builder: ann.AnnotationBuilder | None = None
        fences: list[tuple[int, int, str, str]] = []
        last = primary.body_start - 1
        for site in sites:
            refs = find_phrases(site.head_text)
            if refs:
                deps.extend(DepRef(a, b, site.line + 1, "inline") for a, b in refs)
            if site.extra_deps:
                deps.extend(site.extra_deps)
            if site.fences:
                fences.extend(site.fences)
            for ln in range(site.body_start, site.body_end):
                if owned.get(ln, site) is not site:
                    continue  # a nested task's line, or another task under this heading
                line = self.lines[ln]
                body_lines.append(line)
                if not line or line.isspace():
                    continue
                if site is primary:
                    last = ln
                if ln in fence_lines:
                    continue
                if "taskexec" in line or "TASKEXEC" in line.upper():
                    m = ann.ANNOTATION_RE.match(line)
                    if m:
                        builder = builder or ann.new_builder()
                        for problem in ann.apply_annotation(builder, m.group("rest"), ln + 1):
                            self.diag(
                                "TX107",
                                Severity.ERROR,
                                f"{tid}: {problem}",
                                ln + 1,
                                problem.hint,
                                tid,
                            )
                        continue
                refs = find_phrases(line)
                if refs:
                    deps.extend(DepRef(a, b, ln + 1, "body") for a, b in refs)
            for h_start, h_end, h_refs in heading_deps:
                if h_start < site.line < h_end:
                    deps.extend(h_refs)
        description = _description(primary.after_id)
        first = primary.first_text
        tags: tuple[str, ...] = ()
        tag_text = primary.lead + primary.tags
        if tag_text and not _ONLY_MARKERS_RE.fullmatch(tag_text):
            tags = _other_tags(_BRACKET_RE.findall(tag_text))
        if builder is None:
            params, declared = ann.DEFAULT_PARAMS, []
        else:
            params, declared = builder.build(), builder.actions
        if fences or declared or params.executor or ".ipynb" in description:
            action = self._action(tid, fences, declared, params, description)
        else:
            action = NO_ACTION
        if primary.cancelled:
            state = TaskState.CANCELLED
        else:
            state = TaskState.DONE if primary.checked else TaskState.PENDING
        # Positional arguments in Task's field order (see model.Task): once per task.
        return Task(
            tid,
            description,
            state,
            primary.form,
            primary.parallel_cell or "[P]" in first or _loose_p(first),
            _stories(first) if "[" in first and "US" in first else (),
            tags,
            primary.phase,
            primary.section,
            primary.line + 1,
            max(last, primary.line) + 1,
            primary.checked,
            "\n".join(body_lines).strip("\n") if body_lines else "",
            tuple(dict.fromkeys(deps)) if deps else (),
            action,
            params,
            first,
            primary.box + 1 if primary.box >= 0 else None,
        )

    def _action(
        self,
        tid: str,
        fences: Iterable[tuple[int, int, str, str]],
        declared: list[Action],
        params: ExecParams,
        description: str,
    ) -> Action:
        runnable: list[Action] = []
        for start, _end, lang, content in fences:
            if lang in SHELL_LANGUAGES:
                runnable.append(Action(ActionKind.SHELL, content, lang, line=start + 1))
            elif lang in PYTHON_LANGUAGES:
                runnable.append(Action(ActionKind.PYTHON, content, lang, line=start + 1))
            elif lang not in _PLAIN_FENCES:
                self.diag(
                    "TX106",
                    Severity.WARNING,
                    f"{tid}: fenced '{lang}' block is not run (runnable: sh, bash, python)",
                    start + 1,
                    "use a sh, bash or python block, or a taskexec: run= line",
                    tid,
                )
        kinds = {a.kind for a in runnable}
        if len(kinds) > 1 or (runnable and declared) or len(declared) > 1:
            where = ", ".join(str(a.line) for a in [*runnable, *declared])
            self.diag(
                "TX108",
                Severity.ERROR,
                f"{tid}: more than one action (lines {where}); a task runs one action",
                (runnable or declared)[0].line,
                "keep one fenced block or one run=/notebook=/callable= annotation",
                tid,
            )
            return (runnable or declared)[0]
        if runnable:
            first = runnable[0]
            code = "\n".join(a.code or "" for a in runnable)
            return Action(first.kind, code, first.language, line=first.line)
        if declared:
            return declared[0]
        if params.executor == "agent":
            return Action(ActionKind.AGENT, line=params.line)
        notebooks = [f for f in files_in(description) if f.endswith(".ipynb")]
        if notebooks:
            return Action(ActionKind.NOTEBOOK, target=notebooks[0])
        return NO_ACTION

    # -- dependencies sections
    def _read_statements(self) -> list[Statement]:
        out: list[Statement] = []
        task_lines = {ln for s in self.sites for ln in range(*s.owner_span)}
        skip = {ln for f in self.fences if f[2] not in _PLAIN_FENCES for ln in range(f[0], f[1])}
        fence_marks = {ln for f in self.fences for ln in (f[0], f[1] - 1)}
        seen: set[int] = set()
        for h in self.headings:
            if not _DEP_SECTION_RE.search(h.text) or _phase_heading(h.text):
                continue
            for ln in range(h.line + 1, h.end):
                if ln in seen or ln in task_lines or ln in skip or ln in fence_marks:
                    continue
                seen.add(ln)
                for before, after in read_statement(self.lines[ln]):
                    out.append(
                        Statement(
                            tuple(DepRef(a, b, ln + 1, "section") for a, b in before),
                            tuple(DepRef(a, b, ln + 1, "section") for a, b in after),
                            ln + 1,
                        )
                    )
        return out


# --- small helpers --------------------------------------------------------------------------


def _phase_kind(title: str) -> tuple[str, str | None]:
    low = title.lower()
    m = _STORY_PHASE_RE.search(title)
    if m:
        return "story", f"US{m.group(1) or m.group(2)}"
    for kind, words in _PHASE_KIND_RES:
        if words.search(low):
            return kind, None
    return "other", None


def _definitions(sites: list[_Site]) -> list[_Site]:
    """The listings of one ID that may define it: summary table rows are left out.

    A listing with a box (a list item, a boxed table row or heading) defines the
    task over table rows without one, which are then summaries (a mapping table,
    an outline) and add nothing. Without a boxed listing, a row with a step number
    before its ID (``| 2 | T002 | ... |``) is a summary of a task listed elsewhere.
    """
    if any(s.form is TaskForm.CHECKBOX or s.box >= 0 for s in sites):
        return [s for s in sites if s.form is not TaskForm.TABLE or s.box >= 0]
    return [s for s in sites if not s.summary] or sites


def _boxless_item(
    lines: list[str],
    tokens: list[Any],
    i: int,
    start: re.Match[str],
    phase: Phase,
    section: str | None,
) -> _Site:
    """The site of a list item task whose box cannot be read (reported already).

    Args:
        lines: The file's lines.
        tokens: markdown-it's tokens; ``tokens[i]`` opens the list item.
        i: The item's token.
        start: The task's start (ID, tags, text) in the item's first paragraph.
        phase: The phase the item is in.
        section: The heading text of its section, if any.

    Returns:
        A checkbox site with no box.
    """
    content = tokens[i + 2].content
    item_start, item_end = tokens[i].map
    pre, lead, pre2, task_id, post, tags, rest = start.groups()
    return _Site(
        task_id,
        TaskForm.CHECKBOX,
        item_start,
        lines[item_start],
        content[start.start("pre") :].replace("\n", " "),
        rest.replace("\n", " "),
        lead,
        tags,
        None,
        "~~" in pre + pre2 + post,
        phase,
        section,
        tokens[i + 1].map[1],
        item_end,
        0,
        [],
        False,
        [],
        (item_start, item_end),
        -1,
    )


def _boxed_text_cell(cells: list[str]) -> list[tuple[int, re.Match[str]]]:
    """A task whose ID and text share a cell, after a box: ``| [ ] | T001 Do it |``.

    Returns:
        ``[(column of the ID, its task start)]``, or ``[]`` when the row is not so.
    """
    if len(cells) > 1 and _LOOSE_CELL_RE.fullmatch(cells[0]):
        start = _TASK_START_RE.match(cells[1])
        lead = _LOOSE_CELL_RE.match(start.group("lead")) if start else None
        if start and not start.group("pre") and (lead is None or lead.group() == "[P]"):
            return [(1, start)]  # | [ ] | T001 ... | or | [ ] | [P] T001 ... |
    start = _TASK_START_RE.match(cells[0]) if cells else None
    if start and not start.group("pre") and _LOOSE_CELL_RE.match(start.group("lead")):
        return [(0, start)]
    return []


def _site_state(site: _Site) -> str:
    if site.cancelled:
        return "cancelled"
    return "done" if site.checked else "pending"


def _pending(site: _Site) -> bool:
    return not site.cancelled and not site.checked


def _gist(text: str) -> str:
    """A task's text without notes, markup and case, to compare two listings."""
    text = _NOTE_RE.sub(" ", _description(text)).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def _same_work(first: _Site, later: _Site) -> bool:
    """Whether a later listing of an ID describes the same work as its definition."""
    gist = _gist(later.after_id)
    return not gist or _SEE_RE.search(later.after_id) is not None or gist == _gist(first.after_id)


def _description(rest: str) -> str:
    """Clean the text after an ID and its tags: inline tags, strike-through, spacing."""
    text = rest
    if "[" in text:
        text = _INLINE_TAG_RE.sub(" ", text)
    if "~~" in text:
        text = text.replace("~~", "")
    text = text.strip()
    if "  " in text or "\t" in text:
        text = " ".join(text.split())
    return text


def _other_tags(found: list[str]) -> tuple[str, ...]:
    out = []
    for raw in found:
        tag = raw.strip()
        if tag and tag != "P" and not _STORY_RE.match(tag):
            out.append(tag)
    return tuple(dict.fromkeys(out))


def _stories(first_line: str) -> tuple[str, ...]:
    """Story tags of a task's first line: ``[US1]``, ``[US2-NEW]``, ``[US1, US3]``."""
    found = _STORY_TAG_RE.findall(first_line)
    if len(found) == 1 and "," not in found[0]:
        return (found[0],)
    out = [part.strip() for group in found for part in group.split(",")]
    return tuple(dict.fromkeys(out))


def _loose_p(first_line: str) -> bool:
    """``[ P ]`` with spaces, which is still the parallel marker."""
    return "P" in first_line and "[" in first_line and _LOOSE_P_RE.search(first_line) is not None
