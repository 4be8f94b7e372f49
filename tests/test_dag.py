"""Graph algorithms (taskexec_nb.dag): the one critical path and the one layering of the
package."""

from __future__ import annotations

from taskexec_nb.dag import critical_path, layers


def test_critical_path_ties_go_to_file_order() -> None:
    # Two prerequisites as long as each other: the chain goes through the first
    # of them in the file, in a report as in a plan.
    diamond = {"B": ["A"], "C": ["A"], "D": ["B", "C"]}
    assert critical_path(list("ABCD"), diamond, {}, default=1.0) == list("ABD")
    assert critical_path(list("ACBD"), diamond, {}, default=1.0) == list("ACD")
    # Two equal chains: the one ending first in the file.
    assert critical_path(list("ABCD"), {"B": ["A"], "D": ["C"]}, {}, default=1.0) == list("AB")


def test_critical_path_and_layers_keep_every_node_of_a_cycle() -> None:
    deps = {"A": ["C"], "B": ["A"], "C": ["B"], "D": ["B"]}
    # A's edge to C closes the cycle (A is first in the file): it does not count.
    assert critical_path(list("ABCD"), deps, {}, default=1.0) == list("ABC")
    assert layers(list("ABCD"), deps) == {"A": 0, "B": 1, "C": 2, "D": 2}
