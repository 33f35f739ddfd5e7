"""The step graph: topological order, cycles, ancestry. Pure functions over names."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


def topological_order(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Steps in an order where every step follows its dependencies.

    Ties are broken by declaration order, so the order (and every answer built from it) is
    deterministic. Steps on a cycle, and unknown dependencies, are left out.
    """
    position = {name: index for index, name in enumerate(dependencies)}
    waiting = {name: len({d for d in deps if d in position}) for name, deps in dependencies.items()}
    dependents: dict[str, list[str]] = {name: [] for name in dependencies}
    for name, deps in dependencies.items():
        for dependency in set(deps):
            if dependency in dependents:
                dependents[dependency].append(name)
    ready = [(position[name], name) for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                heapq.heappush(ready, (position[dependent], dependent))
    return order


def find_cycle(dependencies: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]`` (each step depends on the next), or None."""
    ordered = set(topological_order(dependencies))
    on_cycles = [name for name in dependencies if name not in ordered]
    if not on_cycles:
        return None
    # Every step left out has a dependency that is also left out: walk those until a
    # step repeats; the walk from its first visit is a cycle.
    path: list[str] = []
    seen: dict[str, int] = {}
    current = on_cycles[0]
    while current not in seen:
        seen[current] = len(path)
        path.append(current)
        current = next(d for d in dependencies[current] if d in dependencies and d not in ordered)
    return [*path[seen[current] :], current]


def ancestors(dependencies: Mapping[str, Sequence[str]], step: str) -> set[str]:
    """Every step that ``step`` depends on, directly or through others."""
    found: set[str] = set()
    stack = [d for d in dependencies.get(step, ()) if d in dependencies]
    while stack:
        name = stack.pop()
        if name in found:
            continue
        found.add(name)
        stack.extend(d for d in dependencies[name] if d in dependencies and d not in found)
    return found
