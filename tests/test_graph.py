"""The dependency graph (taskexec_nb.graph): inference against stated order."""

from __future__ import annotations

import pytest
from conftest import line_of, md

from taskexec_nb.graph import build_graph
from taskexec_nb.model import Severity
from taskexec_nb.parse import parse_text

# A test-first task that depends on an interface declared a few lines later.
LATER = md(
    """\
    ## Phase 1: Setup

    - [ ] T012 Create the module skeleton

    ## Phase 2: User Story 1

    - [ ] T013 [P] Write the fake provider in tests/fake_provider.py
    - [ ] T014 Write the repository test in tests/test_repo.py (depends on T013 and T016)
    - [ ] T015 Declare the session type in src/session.py
    - [ ] T016 Declare the repository interface in src/repo.py (depends on T015)
    - [ ] T017 Implement the repository in src/repo_impl.py

    ## Phase 3: Polish

    - [ ] T020 Document the repository in docs/repo.md
    """
)


@pytest.mark.parametrize("mode", ["template", "stories"])
def test_a_stated_dependency_on_a_later_task_wins_over_file_order(mode: str) -> None:
    graph = build_graph(parse_text(LATER, "tasks.md"), mode)
    assert [d.code for d in graph.diagnostics if d.is_error] == []
    order = graph.order
    assert order is not None
    assert order.index("T016") < order.index("T014") < order.index("T017")
    assert order.index("T015") < order.index("T016")
    # The tasks moved up keep their place after what came before them...
    assert "T013" in graph.deps["T015"]
    assert graph.reasons[("T015", "T013")].startswith("file order in Phase 2")
    assert "past T014" in graph.reasons[("T015", "T013")]
    # ...and the next phase still waits for every task of this one.
    assert set(graph.deps["T020"]) >= {"T017"}
    assert "T014" not in graph.deps["T015"]  # the dropped edge is gone, and why() says nothing


def test_the_dropped_inferred_edge_is_a_notice_naming_the_stated_chain() -> None:
    graph = build_graph(parse_text(LATER, "tasks.md"))
    (d,) = graph.diagnostics
    assert (d.code, d.severity, d.task_id, d.line) == (
        "TX116", Severity.INFO, "T015", line_of(LATER, "T015 Declare")
    )  # fmt: skip
    assert d.message.startswith("T015 does not wait for T014 (file order in Phase 2: User Story 1)")
    assert f"T014 waits for T016 (declared at line {line_of(LATER, 'T014 Write')})" in d.message
    assert f"T016 waits for T015 (declared at line {line_of(LATER, 'T016 Declare')})" in d.message


def test_a_cycle_of_stated_edges_alone_is_still_an_error() -> None:
    text = md(
        """\
        ## Phase 1

        - [ ] T001 First
        - [ ] T002 Second (depends on T003)
        - [ ] T003 Third (depends on T002)
        - [ ] T004 Fourth
        """
    )
    graph = build_graph(parse_text(text, "tasks.md"))
    cycles = [d for d in graph.diagnostics if d.code == "TX103"]
    assert [d.message for d in cycles] == ["dependency cycle: T002 → T003 → T002"]
    assert "file order" not in (cycles[0].hint or "")


def test_a_stated_dependency_across_phases_against_phase_order_is_kept() -> None:
    text = md(
        """\
        ## Phase 1: Setup

        - [ ] T001 Configure the build (after T003)
        - [ ] T002 Add the linter

        ## Phase 2: Core

        - [ ] T003 Write the core
        - [ ] T004 Test the core
        """
    )
    graph = build_graph(parse_text(text, "tasks.md"))
    assert graph.order == ["T003", "T001", "T002", "T004"]
    assert "T003" not in graph.deps["T002"] and graph.deps["T004"] == ["T003", "T002"]
    assert [d.code for d in graph.diagnostics] == ["TX116"]
