"""Graph algorithms on a mapping of each node to the nodes it waits for.

The one topological order (file order for ties), the order and layering that
break cycles (a plan's waves, the DAG figure's columns), the one critical path
(a plan's and a run report's) and cycle search. A leaf: it knows nothing of
tasks, files or runs; :mod:`taskexec_nb.graph` builds the edges from a parsed
file and re-exports these.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence


def topological_order(deps: Mapping[str, Sequence[str]], ids: Sequence[str]) -> list[str]:
    """Order ``ids`` so each comes after what it waits for; ties go to file order.

    Args:
        deps: Node to the nodes it waits for.
        ids: Every node, in file order.

    Returns:
        The order; shorter than ``ids`` when there is a cycle.
    """
    position = {node: i for i, node in enumerate(ids)}
    if all(position[dep] < i for i, node in enumerate(ids) for dep in deps[node]):
        return list(ids)  # every edge points back in the file: file order is the order
    missing, dependents, heap = _kahn_start(deps, ids, position)
    order: list[str] = []
    while heap:
        node = ids[heapq.heappop(heap)]
        order.append(node)
        for nxt in dependents[node]:
            missing[nxt] -= 1
            if missing[nxt] == 0:
                heapq.heappush(heap, position[nxt])
    return order


def _kahn_start(
    deps: Mapping[str, Sequence[str]], ids: Sequence[str], position: Mapping[str, int]
) -> tuple[dict[str, int], dict[str, list[str]], list[int]]:
    """A topological sort's start: what each node still waits for, who waits for it, the ready.

    Returns:
        Node to its number of prerequisites not placed yet; node to the nodes that wait
        for it (file order); and a heap of the positions of the nodes that wait for none.
    """
    missing = {node: len(deps[node]) for node in ids}
    dependents: dict[str, list[str]] = {node: [] for node in ids}
    for node in ids:
        for dep in deps[node]:
            dependents[dep].append(node)
    heap = [position[n] for n in ids if missing[n] == 0]
    heapq.heapify(heap)
    return missing, dependents, heap


def order_breaking_cycles(
    deps: Mapping[str, Sequence[str]], ids: Sequence[str]
) -> tuple[list[str], set[tuple[str, str]]]:
    """A topological order even when there are cycles, and the edges left out for it.

    Tasks are placed as :func:`topological_order` places them; when every task left
    waits for another one left (a cycle), the first of them in file order stops waiting
    for the ones left, and placing goes on. Only edges that close a cycle are left out,
    so a plan of a file with a cycle still shows every task in waves.

    Args:
        deps: Node to the nodes it waits for.
        ids: Every node, in file order.

    Returns:
        The order of every node, and the ``(task, prerequisite)`` edges left out.
    """
    position = {node: i for i, node in enumerate(ids)}
    missing, dependents, heap = _kahn_start(deps, ids, position)
    placed: set[str] = set()
    dropped: set[tuple[str, str]] = set()
    order: list[str] = []
    rest = iter(ids)  # the first node not placed yet, in file order, is looked for here
    while len(order) < len(ids):
        if not heap:
            node = next(n for n in rest if n not in placed)
            dropped.update((node, dep) for dep in deps[node] if dep not in placed)
            missing[node] = 0
            heapq.heappush(heap, position[node])
        node = ids[heapq.heappop(heap)]
        placed.add(node)
        order.append(node)
        for nxt in dependents[node]:
            if (nxt, node) in dropped:
                continue
            missing[nxt] -= 1
            if missing[nxt] == 0:
                heapq.heappush(heap, position[nxt])
    return order, dropped


def layer_order(ids: Sequence[str], deps: Mapping[str, Iterable[str]]) -> list[str]:
    """Every node of ``ids``, each after its prerequisites among them.

    Prerequisites outside ``ids`` are ignored; a cycle is broken as
    :func:`order_breaking_cycles` breaks it, so every node is kept.

    Args:
        ids: The nodes, in file order (ties keep it).
        deps: Node to the nodes it waits for (a node missing waits for none).

    Returns:
        The order.
    """
    return order_breaking_cycles(_within(ids, deps), ids)[0]


def layers(ids: Sequence[str], deps: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Each node's layer: 0 without prerequisites, else 1 + its deepest prerequisite's.

    The one layering of the package: a plan's waves, the DAG figure's columns.
    Prerequisites outside ``ids`` are ignored; an edge that closes a cycle does
    not count (as :func:`order_breaking_cycles` leaves it out).

    Args:
        ids: The nodes, in file order.
        deps: Node to the nodes it waits for.

    Returns:
        The layer of every node of ``ids``.
    """
    within = _within(ids, deps)
    order, dropped = order_breaking_cycles(within, ids)
    depth: dict[str, int] = {}
    for node in order:
        parents = [d for d in within[node] if (node, d) not in dropped]
        depth[node] = 1 + max((depth[p] for p in parents), default=-1)
    return depth


def critical_path(
    ids: Sequence[str],
    deps: Mapping[str, Iterable[str]],
    durations: Mapping[str, float],
    default: float = 0.0,
) -> list[str]:
    """The chain of dependent nodes with the longest summed duration.

    The one critical path of the package: a plan's (expected durations) and a
    run report's (measured ones). Ties go to the node first in ``ids``, both
    for where the chain ends and for which prerequisite it comes through.

    Args:
        ids: The nodes, in file order (dependencies outside it are ignored; an
            edge that closes a cycle does not count).
        deps: Node to the nodes it waits for.
        durations: Seconds per node.
        default: The duration of a node ``durations`` does not list.

    Returns:
        The chain, first node first (empty for no nodes).
    """
    within = _within(ids, deps)
    order, dropped = order_breaking_cycles(within, ids)
    position = {node: i for i, node in enumerate(ids)}
    best: dict[str, float] = {}
    back: dict[str, str | None] = {}
    for node in order:
        parents = [d for d in within[node] if (node, d) not in dropped]
        via = max(parents, key=lambda d: (best[d], -position[d]), default=None)
        best[node] = (best[via] if via is not None else 0.0) + float(durations.get(node, default))
        back[node] = via
    if not best:
        return []
    end: str | None = max(ids, key=lambda n: (best[n], -position[n]))
    path = []
    while end is not None:
        path.append(end)
        end = back[end]
    return path[::-1]


def _within(ids: Sequence[str], deps: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """Each node's prerequisites among ``ids`` (once each, in the order given)."""
    known = set(ids)
    return {node: list(dict.fromkeys(d for d in deps.get(node, ()) if d in known)) for node in ids}


def find_cycles(deps: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[list[str]]:
    """Find one cycle in each strongly connected part of the graph that has one.

    Args:
        deps: Node to the nodes it waits for.
        order: Nodes in a stable order (file order).

    Returns:
        Cycles as paths in run order, first node repeated at the end
        (``["T004", "T007", "T004"]``: T004 runs before T007, which runs before T004).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for root in order:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(deps.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            child = next(it, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(deps.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    comp.append(top)
                    if top == node:
                        break
                if len(comp) > 1 or node in deps.get(node, ()):
                    comps.append(comp)
    position = {n: i for i, n in enumerate(order)}
    return [_cycle_in(deps, set(c), min(c, key=lambda n: position.get(n, 0))) for c in comps]


def _cycle_in(deps: Mapping[str, Sequence[str]], members: set[str], start: str) -> list[str]:
    """Shortest cycle through ``start`` inside one strongly connected part (BFS)."""
    parent: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for dep in deps.get(node, ()):
                if dep == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    # path: node, the task waiting for node, ..., start. Each waits for the
                    # one before it, so in run order start comes first, then node, ...
                    return [start, *path[:-1], start]
                if dep in members and dep not in seen:
                    seen.add(dep)
                    parent[dep] = node
                    nxt.append(dep)
        frontier = nxt
    return [start, start]  # pragma: no cover - a strongly connected part always has a cycle
