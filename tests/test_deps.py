"""Dependency phrases on tasks (taskexec_nb.deps) and the edges they give a parsed file."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from conftest import md

from taskexec_nb.deps import DEPENDENCY_PHRASES, DEPENDENCY_SUFFIXES, find_phrases, read_statement
from taskexec_nb.graph import build_graph
from taskexec_nb.parse import parse_text
from taskexec_nb.validate import validate_taskfile


def _starts(text: str) -> list[str]:
    return [a if b is None else f"{a}-{b}" for a, b in find_phrases(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T150 Add test (Type: test; Dependencies: T055, T149; Skills: pytest)", ["T055", "T149"]),
        ("T150 Add test (Blocks: T099; Dependency: T055; Owner: T. Smith)", ["T055"]),
        ("T150 Add test (Type: test; **Dependencies**: T055–T057)", ["T055-T057"]),
        ("T150 Add test [Prerequisites: T010 and T011]", ["T010", "T011"]),
        ("- **Prerequisites**: T001, T002", ["T001", "T002"]),
        ("- Depends: T004", ["T004"]),
    ],
)
def test_dependency_field_inside_a_field_list_or_label(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T150 Add test (deps: T001)", ["T001"]),
        ("T150 Add test {type: test, depends_on: T002, owner: ana}", ["T002"]),
        ("T150 Add test (Blocked-by: T003 | Size: S)", ["T003"]),
        ("T150 Add test (Prereq: T004)", ["T004"]),
        ("T150 Add test [Prereqs: T005, T006]", ["T005", "T006"]),
        ("- **Depends-On**: T007", ["T007"]),
    ],
)
def test_short_field_names_of_a_dependency_field_are_read(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T150 Add test (depends_on: [T001, T002])", ["T001", "T002"]),
        ("- **Depends on**: [T003](#t003-build-the-api), [T004](tasks.md#t004)", ["T003", "T004"]),
        ("T150 Add test, depends on [T001-T003]", ["T001-T003"]),
        ("- **依赖**：[T005、T006]", ["T005", "T006"]),
    ],
)
def test_ids_in_brackets_or_links_after_a_dependency_word(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "T150 Add test (Type: test; Blocks: T099; Skills: pytest)",
        "T150 Update dependencies T055 pins",  # a noun without its colon is prose
        "T150 Document dependencies: none",
        "**Prerequisites**: plan.md (required), spec.md",
    ],
)
def test_field_lists_without_a_dependency_field_add_nothing(text: str) -> None:
    assert find_phrases(text) == []


def test_parallel_task_waits_for_the_dependency_in_its_field_list() -> None:
    tf = parse_text(
        md(
            """\
            ## Phase 1: Tests

            - [ ] T055 [P] Write fixtures in tests/fixtures.py
            - [ ] T056 [P] Add a contract test (Type: test; Dependencies: T055; Blocks: T099)
            - [ ] T099 Ship
            """
        )
    )
    assert [r.start for r in tf.task("T056").deps] == ["T055"]
    graph = validate_taskfile(tf, "template").graph
    assert "T055" in graph.deps["T056"]
    assert graph.explicit["T099"] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Chinese, simplified and traditional
        ("- **依賴**: T103", ["T103"]),
        ("T010 实现服务（依赖 T007, T008）", ["T007", "T008"]),
        ("T010 实现服务，依赖T007和T008", ["T007", "T008"]),
        ("T010 依赖于 T001、T002 与 T003", ["T001", "T002", "T003"]),
        ("T010 前置任务：T004～T006", ["T004-T006"]),
        ("T010 需要先完成 T002 及 T003", ["T002", "T003"]),
        ("T010 在 T004 之后运行", ["T004"]),
        ("T010 在 T004 完成後執行", ["T004"]),
        # Japanese
        ("- **依存関係**：T001, T002", ["T001", "T002"]),
        ("T010 API を実装（前提: T003）", ["T003"]),
        ("T010 T001、T002 に依存", ["T001", "T002"]),
        ("T010 T005 の完了後に統合テスト", ["T005"]),
        # Korean
        ("- 의존: T003", ["T003"]),
        ("T010 선행 작업: T001, T002", ["T001", "T002"]),
        ("T010 T001과 T002에 의존", ["T001", "T002"]),
        ("T010 T004 완료 후 배포", ["T004"]),
        # Spanish
        ("T010 Crear el servicio (depende de T003)", ["T003"]),
        ("- **Dependencias**: T003 y T004", ["T003", "T004"]),
        ("T010 Integrar (Tipo: test; Dependencias: T055; Bloquea: T099)", ["T055"]),
        ("T010 Desplegar después de T001 a T003", ["T001-T003"]),
        ("T010 Requiere la tarea T007", ["T007"]),
        # Portuguese
        ("T010 Criar o serviço (depende de T002, T004)", ["T002", "T004"]),
        ("T010 Integrar (depende de T003; faz T008/T009 passarem)", ["T003"]),
        ("T010 Publicar após T005 e T006", ["T005", "T006"]),
        ("T010 Rodar testes depois de T002 (esquema) e T003", ["T002", "T003"]),
        ("- **Dependências**: T001", ["T001"]),
        # French
        ("T010 Créer le service (dépend de T003 et T004)", ["T003", "T004"]),
        ("T010 Déployer après T009", ["T009"]),
        ("- **Dépendances** : T001, T002", ["T001", "T002"]),
        ("T010 Nécessite T004", ["T004"]),
        # German
        ("T010 Dienst anlegen (abhängig von T001 und T002)", ["T001", "T002"]),
        ("T010 Hängt ab von T003", ["T003"]),
        ("T010 Tests ausführen, hängt von T004 ab", ["T004"]),
        ("- **Abhängigkeiten**: T005 bis T007", ["T005-T007"]),
        ("T010 Ausrollen nach T008", ["T008"]),
        ("T010 Benötigt T002", ["T002"]),
        # A letter whose lower case is longer ("İ") does not shift where phrases are found
        ("T010 İzmir şubesi: depende de T003 y después de T004", ["T003", "T004"]),
    ],
)
def test_dependency_phrases_in_other_languages(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T010 实现服务（依赖任务：T001）", ["T001"]),
        ("- 依赖任务: T001, T002", ["T001", "T002"]),
        ("- **依賴任務**：T003", ["T003"]),
        ("T010 テスト（依存タスク: T004）", ["T004"]),
        ("- 의존 작업: T005", ["T005"]),
    ],
)
def test_a_dependent_tasks_label_in_other_languages(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "T010 依赖 Setup 完成后再开始",  # the word, then no task ID
        "T010 确认所有依赖已安装 (T002 会用到)",
        "- **依赖**: 无",
        "T010 Documentar las dependencias de T003",  # a noun without its colon
        "T010 Configurar dependências do projeto; ver T003",
        "T010 Nach dem Deployment prüfen (T003 ist Referenz)",
        "T005 之后的所有任务都需要评审",  # the IDs that start a task's text are its own
        "T010 Deployment nachher (see T003)",
        "T010 Après-vente: voir T003",
    ],
)
def test_prose_in_other_languages_adds_nothing(text: str) -> None:
    assert find_phrases(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T010 Итог (зависит от T018)", ["T018"]),
        ("T010 Тесты, после T001 и T002", ["T001", "T002"]),
        ("- **Зависимости**: T003, T004", ["T003", "T004"]),
        ("T010 Развернуть (Тип: релиз; Предусловия: T005)", ["T005"]),
        ("T010 Требует T006", ["T006"]),
    ],
)
def test_dependency_phrases_in_russian(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


def test_russian_prose_and_statements() -> None:
    assert find_phrases("T010 Обновить зависимости проекта") == []
    assert read_statement("- T019 зависит от T017 и T018") == [
        ([("T017", None), ("T018", None)], [("T019", None)])
    ]


def test_dependency_words_live_in_one_table_by_language() -> None:
    assert {"en", "zh-Hans", "zh-Hant", "ja", "ko", "es", "pt", "fr", "de"} <= set(
        DEPENDENCY_PHRASES
    )
    for phrases in DEPENDENCY_PHRASES.values():
        for phrase in phrases:
            # Every phrase of the table is read, as a phrase and as a label line.
            word = phrase.rstrip(":")
            assert _starts(f"T100 x ({word}: T001)") == ["T001"], phrase
            assert _starts(f"- **{word}**: T002, T003") == ["T002", "T003"], phrase
    for phrases in DEPENDENCY_SUFFIXES.values():
        for phrase in phrases:
            assert _starts(f"T100 x T004 {phrase}") == ["T004"], phrase


def test_tasks_in_a_chinese_file_wait_for_what_they_depend_on() -> None:
    tf = parse_text(
        md(
            """\
            ## 阶段 1：设置

            - [ ] T001 [P] 创建项目结构
            - [ ] T002 [P] 配置数据库（依赖 T001）
            - [ ] T003 [P] 编写文档
              - **依賴**: T002
            """
        )
    )
    graph = validate_taskfile(tf, "template").graph
    assert graph.explicit == {"T001": [], "T002": ["T001"], "T003": ["T002"]}


# --- statements in a dependencies section ------------------------------------------------------


def _edges(line: str) -> list[tuple[list[str], list[str]]]:
    return [
        ([a if b is None else f"{a}-{b}" for a, b in before], [a for a, _ in after])
        for before, after in read_statement(line)
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # A comma between two complete chains separates them.
        ("- TDD: T001→T002, T004→T005.", [(["T001"], ["T002"]), (["T004"], ["T005"])]),
        ("- T003 → T004, T001 → T002", [(["T003"], ["T004"]), (["T001"], ["T002"])]),
        (
            "- T001 → T002 → T003, T007 -> T008",
            [(["T001"], ["T002"]), (["T002"], ["T003"]), (["T007"], ["T008"])],
        ),
        # A list before or after an arrow stays a list.
        ("- T001, T002 → T003", [(["T001", "T002"], ["T003"])]),
        ("- T003 → T004, T005", [(["T003"], ["T004", "T005"])]),
        ("- T001, T002 → T003, T004 → T005", [(["T001", "T002"], ["T003"]), (["T004"], ["T005"])]),
    ],
)
def test_comma_separated_chains_are_separate_chains(
    line: str, expected: list[tuple[list[str], list[str]]]
) -> None:
    assert _edges(line) == expected


def test_separate_chains_in_one_phase_make_no_cycle() -> None:
    text = md(
        """\
        ## Phase 1: Core

        - [ ] T001 Write the parser test
        - [ ] T002 Write the parser
        - [ ] T003 Write the writer test
        - [ ] T004 Write the writer

        ## Dependencies

        - TDD: T003→T004, T001→T002
        """
    )
    result = validate_taskfile(parse_text(text), "template")
    assert result.errors == ()
    assert result.graph.explicit == {"T001": [], "T002": ["T001"], "T003": [], "T004": ["T003"]}


def test_a_comma_inside_a_note_does_not_split_a_chain() -> None:
    line = "- US2: T007 → T013 (depends on T010, and T012 anytime) → T018 (after T011, T017)"
    assert _edges(line) == [(["T007"], ["T013"]), (["T013"], ["T018"])]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T012 바인딩 작성 (T009 · T010 에 의존)", ["T009", "T010"]),
        ("T018 구현 (T005 · T008 · T016 에 의존)", ["T005", "T008", "T016"]),
        ("T004 Wire the store, depends on T002 · T003", ["T002", "T003"]),
        ("T004 实现存储（依赖 T002・T003）", ["T002", "T003"]),
        ("T004 ストアを実装 (T002・T003 に依存)", ["T002", "T003"]),
    ],
)
def test_middle_dots_separate_a_list_of_ids(text: str, expected: list[str]) -> None:
    assert _starts(text) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("- T019 依赖 T017、T018", [(["T017", "T018"], ["T019"])]),
        ("- T001 → T006 → T007。", [(["T001"], ["T006"]), (["T006"], ["T007"])]),
        (
            "- 阶段 5 依赖所有故事；T019 依赖 T017、T018，T020 需要用户明确授权。",
            [(["T017", "T018"], ["T019"])],
        ),
        ("- T010 依赖 T009，T011 依赖 T010", [(["T009"], ["T010"]), (["T010"], ["T011"])]),
        ("- T014 depends on T011, T012", [(["T011", "T012"], ["T014"])]),
        ("- T010 depende de T009", [(["T009"], ["T010"])]),
        ("- **Orden**：T003 → T004", [(["T003"], ["T004"])]),
    ],
)
def test_statements_in_other_languages(
    line: str, expected: list[tuple[list[str], list[str]]]
) -> None:
    assert _edges(line) == expected


@pytest.mark.parametrize(
    "heading",
    [
        "## 依赖关系与执行顺序",
        "## 依賴關係",
        "## 依存関係と実行順序",
        "## 의존성 및 실행 순서",
        "## Dependencias y orden de ejecución",
        "## Dependências",
        "## Dépendances",
        "## Abhängigkeiten",
        "## 执行顺序",
        "## Orden de ejecución",
        "## Зависимости и порядок выполнения",
    ],
)
def test_a_dependencies_section_is_found_by_its_heading_in_other_languages(heading: str) -> None:
    text = md(
        f"""\
        ## Phase 1: Core

        - [ ] T001 [P] Write the parser
        - [ ] T002 [P] Write the writer
        - [ ] T003 [P] Write the CLI

        {heading}

        - T001 → T003
        - T003 依赖 T002
        """
    )
    graph = build_graph(parse_text(text), "explicit")
    assert graph.explicit == {"T001": [], "T002": [], "T003": ["T001", "T002"]}


@pytest.mark.parametrize(
    "header", ["依赖", "依賴", "依存", "의존성", "Dependencias", "Dependências", "Зависит от"]
)
def test_a_dependency_column_is_read_in_other_languages(header: str) -> None:
    text = md(
        f"""\
        # Tasks

        | 状态 | ID | 任务 | {header} |
        |------|----|------|----------|
        | [x] | T001 | 准备 | – |
        | [ ] | T002 | 实现 | T001 |
        """
    )
    assert build_graph(parse_text(text), "explicit").explicit["T002"] == ["T001"]


# --- the cost of compiling the patterns ------------------------------------------------------


def test_a_list_of_ids_checks_the_cjk_class_once() -> None:
    # Each copy of the 40,000-letter class costs re milliseconds to compile.
    from taskexec_nb import deps

    assert deps._ID_LIST.count(deps._CJK) == 1
    assert deps._PHRASE_RE.pattern.count(deps._CJK) == 1  # one pattern for every phrase
    # ... and matched first without it, the end of its last ID checked in Python.
    assert deps._CJK not in deps._PHRASE_RE._open.pattern
    # Lists followed by a space, a note or the end need no check.
    for pattern in (deps._BEFORE_RE, deps._AFTER_RE, deps._BLOCKS_RE, deps._LIST_ONLY_RE):
        assert deps._CJK not in pattern.pattern
    assert deps._CHAIN_RE.pattern.count(deps._CJK) == 1  # the last list may touch "sequential"


def _big_classes(pattern: str, flags: int) -> int:
    """How many character classes ``re`` compiles into its 65,536-entry table (CPython 3.11+).

    A class whose characters (and, read case-blind, their lower-case forms and the
    letters that fold with them) make more than two runs, one beyond Latin-1.
    """
    from re import _casefix, _parser  # type: ignore[attr-defined]
    from re import _constants as c  # type: ignore[attr-defined]

    count = 0

    def chars_of(items: list[Any], blind: bool) -> set[int]:
        chars: set[int] = set()
        for op, av in items:
            span = [av] if op is c.LITERAL else range(av[0], av[1] + 1) if op is c.RANGE else []
            for code in span:
                chars.add(code)
                low = chr(code).lower()
                if blind and len(low) == 1:
                    chars.add(ord(low))
                    chars.update(_casefix._EXTRA_CASES.get(ord(low), ()))
        return chars

    def walk(items: list[Any], blind: bool) -> None:
        nonlocal count
        for op, av in items:
            if op is c.IN:
                chars = sorted(chars_of(av, blind))
                runs = sum(1 for i, ch in enumerate(chars) if i == 0 or ch != chars[i - 1] + 1)
                count += runs > 2 and chars[-1] >= 256
            elif op is c.BRANCH:
                for branch in av[1]:
                    walk(branch, blind)
            elif op is c.SUBPATTERN:
                walk(av[3], (blind or bool(av[1] & re.I)) and not av[2] & re.I)
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                walk(av[2], blind)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                walk(av[1], blind)

    walk(list(_parser.parse(pattern, flags)), bool(flags & re.I))
    return count


@pytest.mark.skipif(sys.version_info < (3, 11), reason="re's compiler modules as in 3.11+")
def test_the_id_lists_have_no_class_compiled_into_a_big_table_but_the_cjk_check() -> None:
    # Each such class costs re about 0.2 ms to compile, in every pattern that has it.
    from taskexec_nb import deps

    lazy = [
        deps._LABEL_RE,
        deps._BEFORE_RE,
        deps._AFTER_RE,
        deps._BLOCKS_RE,
        deps._LIST_ONLY_RE,
        deps._SUFFIX_RE,
        deps._CHAIN_RE,
        deps._OTHER_AFTER_RE,
        deps._PHRASE_RE._open,
        deps._PHRASE_RE._full,
        deps._LIST_START_RE._open,
        deps._LIST_START_RE._full,
    ]
    patterns = [(p.pattern, re.I) for p in lazy] + [(deps._ITEM_RE.pattern, re.I)]
    patterns += [(deps._NOTE_RE.pattern, 0), (deps.ID_PATTERN, 0), (deps.ID_PATTERN, re.I)]
    for pattern, flags in patterns:
        allowed = pattern.count(deps._CJK)  # the end of a list's last ID, once
        if pattern == deps._LABEL_RE.pattern:
            allowed = 1  # a branch of the phrases' words: d, s (and ſ)
        assert _big_classes(pattern, flags) <= allowed, pattern[:80]
    assert _big_classes("[-–—〜～至到]", 0) == 1 and _big_classes("[a-z]", re.I) == 1


# What the ID lists' pieces were, with classes: they read the same now.
_CLASSES = {
    r"(?:[A-HJ-RT-Z]|I|S|(?!))": "[A-Z]",
    r"(?:[a-hj-rt-z]|i|s|(?!))": "[a-z]",
    r"\s*(?:-|–|—|〜|～|至|到|\.\.|": r"\s*(?:[-–—〜～至到]|\.\.|",
    r"(?:\s*(?:[,，]|、|；|(?!))\s*": r"(?:\s*[,，、；]\s*",
    r"\s*(?:[&+/·]|・|･|和|及|与|與|と|과|와|(?!))\s*)": (
        r"\s*(?:[&+/·・･]|和|及|与|與|と|과|와)\s*)"
    ),
    r"[(（](?:(?![（）])[^()\n])*[)）]": r"[(（][^()（）\n]*[)）]",
    r"d(?:[aou]|[ao]s|e[lrn]|es|ie)": r"d(?:[aou]|[ao]s|e[lrns]|ie)",
}


def _as_classes(pattern: str) -> str:
    for piece, cls in _CLASSES.items():
        pattern = pattern.replace(piece, cls)
    return pattern


def test_the_letter_classes_match_every_character_as_a_z_does() -> None:
    from taskexec_nb import deps

    for flags in (0, re.I):
        for piece in (deps._UPPER, deps._LOWER):
            ours = re.compile(piece, flags)
            theirs = re.compile(_as_classes(piece), flags)
            assert _as_classes(piece) != piece
            for code in range(0x10000):
                char = chr(code)
                assert bool(ours.fullmatch(char)) == bool(theirs.fullmatch(char)), (piece, code)


def test_the_dependency_patterns_match_as_the_ones_with_classes_did() -> None:
    import random

    from taskexec_nb import deps

    pieces = ["T001", "T2", "t003", "T-C001", "T083-B", "T011.5", "T007a", "T007ſ", "T00ı", "Tİ1"]
    pieces += [
        " ",
        ", ",
        "，",
        "、",
        "；",
        " and ",
        " y ",
        "&",
        "+",
        "/",
        "·",
        "・",
        "･",
        "和",
        "과",
    ]
    pieces += ["-", "–", "—", "〜", "～", "至", "到", "..", "~", " to ", " through ", " bis "]
    pieces += ["(", ")", "（", "）", "(setup)", "（准备）", "\n", "x", "é", "K", "S", "ſ", "ı"]
    pieces += ["depends on ", "after ", "before ", " must complete before ", " blocks "]
    pieces += [
        "Dependencies: ",
        "**Depends on**: ",
        "依赖 ",
        " 之后",
        "the tasks ",
        "des tâches ",
        "dies ",
    ]
    pieces += ["→", " -> ", "[P]", " depende de ", "：", "**", "dels ", "DES ", "tasks "]
    rng = random.Random(22)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 9))) for _ in range(6000)]
    ids, seps = pieces[:10], [*pieces[10:40], "(setup)", "（准备）", " (x), "]
    links = [" before ", " must complete before ", " depends on ", " → ", " -> ", " blocks "]
    links += [" 依赖 ", " depende de ", " after ", " requires "]

    def id_list() -> str:
        out = rng.choice(["", "", "tasks ", "the tasks ", "任务", "des tâches "]) + rng.choice(ids)
        for _ in range(rng.randint(0, 3)):
            out += rng.choice(seps) + rng.choice(ids)
        return out

    for _ in range(6000):
        text = id_list() + rng.choice(links) + id_list() + rng.choice(["", "", " 之后", "x", "."])
        if rng.random() < 0.3:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(pieces) + text[at:]
        texts.append(text)
    lazy = [
        deps._BEFORE_RE,
        deps._AFTER_RE,
        deps._BLOCKS_RE,
        deps._LIST_ONLY_RE,
        deps._SUFFIX_RE,
        deps._CHAIN_RE,
        deps._OTHER_AFTER_RE,
        deps._PHRASE_RE._open,
        deps._LIST_START_RE._open,
    ]
    patterns = [(p.pattern, re.I) for p in lazy] + [(deps._ITEM_RE.pattern, re.I)]
    patterns += [(deps._NOTE_RE.pattern, 0), (deps.ID_PATTERN, 0)]
    for pattern, flags in patterns:
        ours, theirs = re.compile(pattern, flags), re.compile(_as_classes(pattern), flags)
        assert ours.pattern != theirs.pattern
        for text in texts:
            for at in (0, len(text) // 2):
                a, b = ours.match(text, at), theirs.match(text, at)
                assert (a and (a.span(), a.groups())) == (b and (b.span(), b.groups())), text
            found = [(m.span(), m.groups()) for m in ours.finditer(text)]
            assert found == [(m.span(), m.groups()) for m in theirs.finditer(text)], text


def test_importing_the_reader_compiles_only_the_hot_patterns_and_writes_no_alternation() -> None:
    # A file without dependency words (a one-task run) pays for none of the rest.
    import subprocess

    code = (
        "import re, taskexec_nb._lazyre as lazy\n"
        "compiled = []\n"
        "real = re._compile\n"
        "re._compile = lambda p, f: compiled.append(p) or real(p, f)\n"
        "import taskexec_nb.deps as deps\n"
        "written = [p for p in (deps._LABEL_RE, deps._OTHER_AFTER_RE, deps._PHRASE_RE._open)"
        " if isinstance(p._pattern, str)]\n"
        "print(len(compiled), len(written))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["2", "0"]  # an ID's sort key and the quick look for an ID
    from taskexec_nb import deps

    assert deps._LABEL_RE.match("- **Depends on**: T001").group("rest") == "T001"  # type: ignore[union-attr]
    assert find_phrases("依赖 T007、T008") == [("T007", None), ("T008", None)]
    assert read_statement("T019 依赖 T017、T018") == [
        ([("T017", None), ("T018", None)], [("T019", None)])
    ]


def test_a_phrase_whose_list_ends_in_a_letter_is_matched_as_the_full_pattern_would() -> None:
    from taskexec_nb import deps

    for text in ("after T001abc", "after T001, T002x", "after T001和", "after T001_", "after T1"):
        full = deps._PHRASE_RE._full.match(text)
        fast = deps._PHRASE_RE.match(text)
        assert (full and (full.span(), full.group("list"))) == (
            fast and (fast.span(), fast.group("list"))
        ), text
    assert deps._ends_an_id("T1", 2) and deps._ends_an_id("T1和", 2)
    assert not deps._ends_an_id("T1x", 2) and not deps._ends_an_id("T1_", 2)


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("depends on T001至T003", [("T001", "T003")]),
        ("depends on T001**to T003", [("T001", None)]),  # "to" touching the ID: no range
        ("depends on T001 to T003", [("T001", "T003")]),
        ("depends on T001abc", []),
        ("depends on T001和T002", [("T001", None), ("T002", None)]),
        ("depends on T001 (setup), T002", [("T001", None), ("T002", None)]),
        ("depends on T001éT002", []),
    ],
)
def test_an_id_ends_where_no_letter_but_a_cjk_one_follows(
    text: str, refs: list[tuple[str, str | None]]
) -> None:
    assert find_phrases(text) == refs


def test_the_cjk_check_by_code_point_agrees_with_the_class() -> None:
    import re

    from taskexec_nb import deps

    cjk = re.compile(f"[{deps._CJK}]")
    for code in range(0x10000):
        char = chr(code)
        assert deps._is_cjk(char) is bool(cjk.match(char)), hex(code)
    assert deps._is_cjk("") is False
