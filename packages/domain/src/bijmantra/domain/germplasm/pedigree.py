"""Pedigree graphs: a germplasm is never its own ancestor."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PedigreeCycle:
    """The germplasm DbIds of a cycle, starting and ending at the same node."""

    path: tuple[str, ...]

    def __str__(self) -> str:
        return " -> ".join(self.path)


def find_cycle(parents: Mapping[str, Iterable[str]]) -> PedigreeCycle | None:
    """Return one child->parent cycle in the graph, or ``None``.

    ``graphlib`` does the search: a parent is a predecessor of its child, and the cycle it
    reports lists each node before the node it precedes, so it is reversed here."""
    sorter = graphlib.TopologicalSorter({child: tuple(ps) for child, ps in parents.items()})
    try:
        sorter.prepare()
    except graphlib.CycleError as cycle:
        return PedigreeCycle(tuple(reversed(cycle.args[1])))
    return None
