"""Dependency phrases on tasks (taskexec_nb.deps) and the edges they give a parsed file."""

from __future__ import annotations

import pytest
from conftest import md

from taskexec_nb.deps import find_phrases
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
