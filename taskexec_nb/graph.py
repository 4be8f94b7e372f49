"""Dependency inference: explicit edges plus the ones a mode infers, and cycle search.

:func:`build_graph` turns a parsed file into dependency edges (inferred by the
chosen :class:`~taskexec_nb.model.DependencyMode`, plus every explicit edge),
with diagnostics for unknown IDs, bad ranges and cycles. Nothing here runs a
task or knows about pandas. The algorithms on those edges (topological order,
layering, critical path, cycle search) are :mod:`taskexec_nb.dag`'s, re-exported
here.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from taskexec_nb.dag import (
    critical_path,
    find_cycles,
    layer_order,
    layers,
    order_breaking_cycles,
    topological_order,
)
from taskexec_nb.deps import id_key
from taskexec_nb.errors import UsageError
from taskexec_nb.model import DependencyMode, DepRef, Diagnostic, Severity, Task
from taskexec_nb.parse import TaskFile

__all__ = [
    "Graph",
    "build_graph",
    "critical_path",
    "find_cycles",
    "layer_order",
    "layers",
    "order_breaking_cycles",
    "parse_mode",
    "topological_order",
]


def parse_mode(mode: str | DependencyMode) -> DependencyMode:
    """Return the DependencyMode for ``mode``.

    Args:
        mode: ``template``, ``stories`` or ``explicit`` (or the enum).

    Returns:
        The mode.

    Raises:
        UsageError: If the mode is unknown.
    """
    if isinstance(mode, DependencyMode):
        return mode
    try:
        return DependencyMode(str(mode).strip().lower())
    except ValueError:
        names = ", ".join(m.value for m in DependencyMode)
        raise UsageError(f"unknown dependency mode {mode!r} (choose one of: {names})") from None


@dataclass
class Graph:
    """Dependency edges of a file, before they become a plan.

    Attributes:
        deps: Task ID to the IDs it waits for (inferred and explicit), in order.
        explicit: Task ID to the IDs declared for it in the file.
        reasons: (task, prerequisite) to why the edge exists.
        diagnostics: Unknown IDs, bad ranges, self-dependencies, cycles.
        order: A topological order (file order for ties), None when there is a cycle.
    """

    deps: dict[str, list[str]]
    explicit: dict[str, list[str]]
    reasons: dict[tuple[str, str], str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    order: list[str] | None = None

    def add(self, task: str, prereq: str, reason: str) -> None:
        """Add the edge ``task`` waits for ``prereq`` (once).

        A second edge between the same two tasks is ignored: the first reason stays.

        Args:
            task: The waiting task's ID.
            prereq: The ID of the task it waits for.
            reason: Why, in words (what :meth:`ExecutionPlan.why` returns).
        """
        if (task, prereq) not in self.reasons:
            self.reasons[(task, prereq)] = reason
            self.deps[task].append(prereq)


class _Resolver:
    """Expands references (``T002-T005``) into existing IDs, reporting problems."""

    def __init__(self, tf: TaskFile, graph: Graph) -> None:
        self.tf = tf
        self.graph = graph
        self.ids = [t.id for t in tf.tasks]
        self.known = set(self.ids)
        self._sorted: list[str] | None = None

    @property
    def sorted(self) -> list[str]:
        """IDs in ID order, for expanding ranges (sorted on first use)."""
        if self._sorted is None:
            self._sorted = sorted(self.ids, key=id_key)
        return self._sorted

    def resolve(self, ref: DepRef, who: str | None, severity: Severity) -> list[str]:
        """The existing IDs a reference names; an unknown ID or a bad range is a diagnostic.

        Args:
            ref: One ID or a range (``T002-T005``), with the line it is on.
            who: The task that depends on it; None for a dependency statement.
            severity: How grave an unknown ID or a bad range is here.

        Returns:
            The IDs that exist, in ID order for a range (empty for a bad range).
        """
        out: list[str] = []
        for end in (ref.start, ref.end):
            if end is not None and end not in self.known:
                self._unknown(end, ref, who, severity)
        if ref.end is None:
            return [ref.start] if ref.start in self.known else []
        lo, hi = id_key(ref.start), id_key(ref.end)
        if lo[0] != hi[0] or hi < lo:
            self.graph.diagnostics.append(
                Diagnostic(
                    "TX112",
                    severity,
                    f"bad dependency range {ref.start}-{ref.end}",
                    self.tf.path,
                    ref.line,
                    "write the lower ID first, with the same prefix",
                    who,
                )
            )
            return out
        return [i for i in self.sorted if lo <= id_key(i) <= hi]

    def _unknown(self, task_id: str, ref: DepRef, who: str | None, severity: Severity) -> None:
        others = [i for i in self.ids if i != who]
        close = difflib.get_close_matches(task_id, others, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]}?" if close else "no task has a similar ID"
        subject = f"{who} depends on" if who else "dependency statement names"
        self.graph.diagnostics.append(
            Diagnostic(
                "TX102",
                severity,
                f"{subject} unknown task {task_id}",
                self.tf.path,
                ref.line,
                hint,
                who,
            )
        )


def build_graph(tf: TaskFile, mode: str | DependencyMode = DependencyMode.TEMPLATE) -> Graph:
    """Compute the dependency edges of a parsed file.

    Args:
        tf: The parsed file.
        mode: How to infer edges on top of the explicit ones.

    Returns:
        The graph with its diagnostics (unknown IDs, bad ranges, cycles).
    """
    mode = parse_mode(mode)
    graph = Graph({t.id: [] for t in tf.tasks}, {t.id: [] for t in tf.tasks})
    resolver = _Resolver(tf, graph)
    for task in tf.tasks:
        for ref in task.deps:
            for dep in resolver.resolve(ref, task.id, Severity.ERROR):
                if dep == task.id:
                    graph.diagnostics.append(
                        Diagnostic(
                            "TX110",
                            Severity.ERROR,
                            f"{task.id} depends on itself",
                            tf.path,
                            ref.line,
                            "remove it from its own dependency list",
                            task.id,
                        )
                    )
                    continue
                if dep not in graph.explicit[task.id]:
                    graph.explicit[task.id].append(dep)
                graph.add(task.id, dep, f"declared at line {ref.line}")
    for st in tf.statements:
        before = [d for r in st.before for d in resolver.resolve(r, None, Severity.WARNING)]
        after = [d for r in st.after for d in resolver.resolve(r, None, Severity.WARNING)]
        for task_id in after:
            for dep in before:
                if dep != task_id:
                    if dep not in graph.explicit[task_id]:
                        graph.explicit[task_id].append(dep)
                    graph.add(task_id, dep, f"dependency statement at line {st.line}")
    inferred = Graph({t.id: [] for t in tf.tasks}, graph.explicit)
    if mode is DependencyMode.TEMPLATE:
        _infer_template(tf, inferred)
    elif mode is DependencyMode.STORIES:
        _infer_stories(tf, inferred)
    stated = {task_id: list(deps) for task_id, deps in graph.deps.items()}
    for task_id, prereqs in inferred.deps.items():
        for prereq in prereqs:
            graph.add(task_id, prereq, inferred.reasons[(task_id, prereq)])
    ids = [t.id for t in tf.tasks]
    order = topological_order(graph.deps, ids)
    if len(order) != len(ids) and len(topological_order(stated, ids)) == len(ids):
        _stated_order_wins(tf, graph, stated, inferred)
        order = topological_order(graph.deps, ids)
    if len(order) == len(ids):
        graph.order = order
    else:  # only stated edges make a cycle: an inferred edge is never reported in one
        for cycle in find_cycles(stated, ids):
            graph.diagnostics.append(_cycle_diagnostic(tf, graph, cycle))
    return graph


# --- inference ------------------------------------------------------------------------------


def _phase_groups(tasks: Sequence[Task], graph: Graph) -> list[list[str]]:
    """Split one phase's tasks (file order) into groups that may run together.

    A group is one non-``[P]`` task or a run of consecutive ``[P]`` tasks; in a
    run, a task naming a file an earlier task of the run names waits for it.
    """
    groups: list[list[str]] = []
    run: list[Task] = []

    def flush() -> None:
        if run:
            groups.append([t.id for t in run])
            run.clear()

    last_for: dict[str, str] = {}  # file -> latest [P] task of the current run naming it
    for task in tasks:
        if not task.parallel:
            flush()
            last_for.clear()
            groups.append([task.id])
            continue
        for path in task.files:
            earlier = last_for.get(path)
            if earlier is not None:
                graph.add(task.id, earlier, f"[P] tasks both name {path}")
            last_for[path] = task.id
        run.append(task)
    flush()
    return groups


def _by_phase(tf: TaskFile) -> list[list[Task]]:
    buckets: dict[int, list[Task]] = {}
    for task in tf.tasks:
        buckets.setdefault(task.phase.index, []).append(task)
    return [buckets[i] for i in sorted(buckets)]


def _chain(graph: Graph, groups: list[list[str]], before: Iterable[str], reason: str) -> list[str]:
    """Make each group wait for the previous one; return the last group."""
    prev = list(before)
    for group in groups:
        for task_id in group:
            for dep in prev:
                graph.add(task_id, dep, reason)
        prev = group
    return prev


def _infer_template(tf: TaskFile, graph: Graph) -> None:
    prev: list[str] = []
    for tasks in _by_phase(tf):
        reason = f"file order in {tasks[0].phase.label}"
        prev = _chain(graph, _phase_groups(tasks, graph), prev, reason)


def _is_story_phase(tasks: Sequence[Task]) -> bool:
    if tasks[0].phase.kind == "story":
        return True
    tagged = sum(1 for t in tasks if t.stories)
    return tasks[0].phase.kind == "other" and tagged * 2 > len(tasks)


def _infer_stories(tf: TaskFile, graph: Graph) -> None:
    barrier: list[str] = []
    open_ends: list[str] = []
    story_ends: dict[str, list[str]] = {}
    for tasks in _by_phase(tf):
        phase = tasks[0].phase
        groups = _phase_groups(tasks, graph)
        reason = f"file order in {phase.label}"
        if _is_story_phase(tasks):
            story = phase.story or (tasks[0].story or f"phase-{phase.index}")
            before = barrier + story_ends.get(story, [])
            ends = _chain(graph, groups, before, reason)
            open_ends = [i for i in open_ends if i not in story_ends.get(story, [])] + ends
            story_ends[story] = ends
        else:
            before = open_ends if open_ends else barrier
            barrier = _chain(graph, groups, before, reason)
            open_ends = []
            story_ends = {}


def _stated_order_wins(
    tf: TaskFile, graph: Graph, stated: Mapping[str, list[str]], inferred: Graph
) -> None:
    """Drop the inferred edges that would close a cycle with stated ones (which have none).

    A stated dependency on a later task (``T014 ... (depends on T016)`` with T015
    and T016 after it) contradicts file order; the file's words win. Inferred
    edges are put back task by task in file order; one whose prerequisite
    already waits for the task (through the stated edges and the ones kept so
    far) is dropped, and the task waits instead for what the dropped
    prerequisite waited for by inference, so it keeps its place after the tasks
    before them. A task waiting for one whose inferred edges were dropped also
    waits for those it skipped (so the next phase still waits for all of this
    one). Each dropped edge gets a TX116 notice.

    Args:
        tf: The parsed file.
        graph: The graph; its edges are replaced by the stated ones and the kept ones.
        stated: The stated edges of each task (they make no cycle).
        inferred: The edges the mode inferred, with their reasons.
    """
    graph.reasons = {k: v for k, v in graph.reasons.items() if k[1] in stated[k[0]]}
    graph.deps = {t: list(ps) for t, ps in stated.items()}
    waiters: dict[str, list[str]] = {t: [] for t in stated}
    for task_id, prereqs in stated.items():
        for prereq in prereqs:
            waiters[prereq].append(task_id)
    skipped_by: dict[str, list[str]] = {}
    for task in tf.tasks:
        tid = task.id
        # What waits for tid now stays so while tid gets its own edges (they add no cycle).
        above = _waiting_for(waiters, tid)
        seen: set[str] = set()
        # (prerequisite, reason, tasks skipped to reach it, whether the edge is tid's own)
        todo: list[tuple[str, str, tuple[str, ...], bool]] = [
            (p, inferred.reasons[(tid, p)], (), True) for p in reversed(inferred.deps[tid])
        ]
        while todo:
            prereq, reason, past, own = todo.pop()
            if prereq in seen or prereq == tid:
                continue
            seen.add(prereq)
            if prereq not in above:
                note = f" (past {', '.join(past)}, which come after {tid} by stated order)"
                graph.add(tid, prereq, reason + note if past else reason)
                waiters[prereq].append(tid)
                todo.extend((e, reason, (), False) for e in reversed(skipped_by.get(prereq, ())))
                continue
            if own and not past:
                graph.diagnostics.append(_set_aside(tf, graph, tid, prereq, reason))
                skipped_by.setdefault(tid, []).append(prereq)
            todo.extend((e, reason, (*past, prereq), own) for e in reversed(inferred.deps[prereq]))


def _waiting_for(waiters: Mapping[str, Sequence[str]], task_id: str) -> set[str]:
    """The tasks that wait for ``task_id``, directly or through others."""
    found: set[str] = set()
    todo = [task_id]
    while todo:
        for waiter in waiters[todo.pop()]:
            if waiter not in found:
                found.add(waiter)
                todo.append(waiter)
    return found


def _path(deps: Mapping[str, Sequence[str]], start: str, goal: str) -> list[str] | None:
    """A chain of waits from ``start`` to ``goal`` (``start`` waits ... for ``goal``), if any."""
    parent: dict[str, str] = {start: start}
    todo = [start]
    while todo:
        node = todo.pop()
        for dep in deps[node]:
            if dep in parent:
                continue
            parent[dep] = node
            if dep == goal:
                path = [dep]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return path[::-1]
            todo.append(dep)
    return None  # pragma: no cover - called only where the waits close a cycle


def _set_aside(tf: TaskFile, graph: Graph, task_id: str, prereq: str, reason: str) -> Diagnostic:
    """The TX116 notice for an inferred edge dropped because stated order says otherwise."""
    path = _path(graph.deps, prereq, task_id)
    assert path is not None  # the edge is dropped because prereq waits for task_id
    chain = ", ".join(
        f"{a} waits for {b} ({graph.reasons[(a, b)]})" for a, b in itertools.pairwise(path)
    )
    return Diagnostic(
        "TX116",
        Severity.INFO,
        f"{task_id} does not wait for {prereq} ({reason}): {prereq} comes after {task_id} "
        f"by stated order, which wins: {chain}",
        tf.path,
        tf.task(task_id).line,
        "nothing to do if that is the order you mean; otherwise fix the stated dependency",
        task_id,
    )


def _cycle_diagnostic(tf: TaskFile, graph: Graph, cycle: list[str]) -> Diagnostic:
    text = " → ".join(cycle)
    reasons = []
    for a, b in itertools.pairwise(cycle):
        reasons.append(f"{b} after {a}: {graph.reasons.get((b, a), 'declared')}")
    # Only stated edges make a cycle: an inferred edge that would close one is dropped.
    hint = "; ".join(reasons)
    first = min(cycle[:-1], key=lambda i: tf.task(i).line)
    return Diagnostic(
        "TX103",
        Severity.ERROR,
        f"dependency cycle: {text}",
        tf.path,
        tf.task(first).line,
        hint,
        first,
    )
