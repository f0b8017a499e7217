"""Pedigree graphs: a germplasm is never its own ancestor."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PedigreeCycle:
    """The germplasm DbIds of a cycle, starting and ending at the same node."""

    path: tuple[str, ...]

    def __str__(self) -> str:
        return " -> ".join(self.path)


def find_cycle(parents: Mapping[str, Iterable[str]]) -> PedigreeCycle | None:
    """Return one child->parent cycle in the graph, or ``None`` (iterative DFS, any depth)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    for root in parents:
        if state.get(root):
            continue
        stack: list[tuple[str, list[str]]] = [(root, list(parents.get(root, ())))]
        path = [root]
        state[root] = 1
        while stack:
            node, pending = stack[-1]
            if not pending:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            parent = pending.pop()
            mark = state.get(parent)
            if mark == 1:
                return PedigreeCycle((*path[path.index(parent) :], parent))
            if mark is None:
                state[parent] = 1
                path.append(parent)
                stack.append((parent, list(parents.get(parent, ()))))
    return None
