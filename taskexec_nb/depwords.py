"""The words that introduce a task's dependencies, by language: the place to extend.

:mod:`taskexec_nb.deps` reads them (and re-exports both tables); a language or a
phrase is added here, with no other change.
"""

from __future__ import annotations

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
        "prereqs:",
        "prereq:",
        "deps:",
        "depends_on:",
        "depends-on:",
        "blocked-by:",
        "blocked_by:",
    ),
    "zh-Hans": (
        "依赖于",
        "依赖",
        "依赖项",
        "依赖任务",
        "前置任务",
        "前置条件",
        "前置",
        "需要先完成",
        "受阻于",
    ),
    "zh-Hant": (
        "依賴於",
        "依賴",
        "依賴項",
        "依賴任務",
        "前置任務",
        "前置條件",
        "需要先完成",
        "受阻於",
    ),
    "ja": (
        "依存関係",
        "依存先",
        "依存タスク",
        "依存",
        "前提条件",
        "前提タスク",
        "前提",
        "先行タスク",
    ),
    "ko": ("의존성", "의존 작업", "의존", "선행 작업", "선행 조건", "선행 태스크", "선행"),
    "es": (
        "depende de",
        "dependencias:",
        "dependencia:",
        "requiere",
        "después de",
        "bloqueado por",
        "bloqueada por",
        "necesita",
        "prerrequisitos:",
        "requisitos previos:",
    ),
    "pt": (
        "depende de",
        "depende da",
        "depende do",
        "depende das",
        "depende dos",
        "dependências:",
        "dependência:",
        "requer",
        "após",
        "depois de",
        "bloqueado por",
        "bloqueada por",
        "pré-requisitos:",
    ),
    "fr": (
        "dépend de",
        "dépend des",
        "dépendances:",
        "dépendance:",
        "après",
        "nécessite",
        "requiert",
        "bloqué par",
        "bloquée par",
        "prérequis:",
    ),
    "de": (
        "abhängig von",
        "hängt ab von",
        "hängt von",
        "Abhängigkeiten:",
        "Abhängigkeit:",
        "nach",
        "benötigt",
        "erfordert",
        "blockiert durch",
        "Voraussetzungen:",
        "Voraussetzung:",
    ),
    "ru": (
        "зависит от",
        "после",
        "требует",
        "блокируется",
        "Зависимости:",
        "Зависимость:",
        "Предусловия:",
    ),
}
"""The words that introduce a task's dependencies, by language: the place to extend.

A phrase counts only when task IDs follow it (``after T003``, ``依赖 T007、T008``,
``depende de T003 y T004``; the IDs may be bold, a list or a range). A phrase
ending in ``:`` is a label, which counts only with its colon (``:`` or ``：``):
``Dependencies: T055, T149``, also inside a field list such as
``(Type: test; Dependencies: T055; Skills: ...)``. Spaces in a phrase match any
run of spaces; case does not matter; a phrase in Latin letters must start a
word, one in Han, kana or Hangul need not. Every phrase also reads as a label
line (``**Depends on**: T001, T002``, ``- **依賴**：T103``).
"""

DEPENDENCY_SUFFIXES: dict[str, tuple[str, ...]] = {
    "zh-Hans": ("之后", "完成后", "完成之后"),
    "zh-Hant": ("之後", "完成後", "完成之後"),
    "ja": ("に依存", "の後", "の完了後", "完了後"),
    "ko": ("에 의존", "이후", "완료 후", "후에"),
}
"""Words that follow the IDs they depend on, by language (``T001、T002 に依存``,
``T003 이후``, ``在 T004 之后``): the place to extend for languages that put the
verb last. IDs that start the text are the task's own and do not count
(``T005 之后...`` on task T005's line).
"""
