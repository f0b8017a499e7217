"""Pedigree graphs: a germplasm is never its own ancestor."""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ParentLink:
    germplasm_db_id: str | None
    parent_type: str | None = None


@dataclass(frozen=True)
class PedigreeNode:
    """A germplasm's place in the pedigree: its parents as the node names them."""

    germplasm_db_id: str
    germplasm_name: str | None = None
    parents: tuple[ParentLink, ...] = ()

    @classmethod
    def from_brapi(cls, node: Mapping[str, Any]) -> PedigreeNode:
        return cls(
            node["germplasmDbId"],
            node.get("germplasmName"),
            tuple(
                ParentLink(p.get("germplasmDbId"), p.get("parentType"))
                for p in node.get("parents") or []
            ),
        )

    @property
    def parent_ids(self) -> list[str]:
        return [p.germplasm_db_id for p in self.parents if p.germplasm_db_id]


@dataclass(frozen=True)
class Offspring:
    """One entry of a parent's ``progeny``: the child, and how the parent is its parent."""

    germplasm_db_id: str
    germplasm_name: str | None
    parent_type: str | None


def progeny_of(parent: str, children: Iterable[PedigreeNode]) -> list[Offspring]:
    """A parent's progeny as the nodes naming it as a parent say (once per naming)."""
    return [
        Offspring(child.germplasm_db_id, child.germplasm_name, link.parent_type)
        for child in children
        for link in child.parents
        if link.germplasm_db_id == parent
    ]


def progeny_by_parent(children: Iterable[PedigreeNode]) -> dict[str, list[Offspring]]:
    """Every named parent's ``progeny_of``, in one pass over the children (a write's
    parents share one read of their children, not one each)."""
    found: dict[str, list[Offspring]] = {}
    for child in children:
        for link in child.parents:
            if link.germplasm_db_id:
                found.setdefault(link.germplasm_db_id, []).append(
                    Offspring(child.germplasm_db_id, child.germplasm_name, link.parent_type)
                )
    return found


def pedigree_graph(*layers: Iterable[PedigreeNode]) -> dict[str, list[str]]:
    """child -> parents; a later layer (the nodes being written) replaces an earlier one."""
    return {node.germplasm_db_id: node.parent_ids for layer in layers for node in layer}


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


MAX_CHART_GENERATIONS = 6


@dataclass(frozen=True)
class ChartNode:
    """One box of an ancestry chart: generation 0 is the germplasm itself, then its parents.

    ``slot`` counts from the top within its generation (generation ``g`` has ``2**g`` slots:
    female parent at ``2*slot``, male at ``2*slot + 1``), so a chart is drawn without search."""

    db_id: str
    generation: int
    slot: int


def ancestry_chart(
    root: str, parents: Mapping[str, tuple[str | None, str | None]], generations: int
) -> list[ChartNode]:
    """The ancestors of ``root`` to ``generations`` back, as a binary chart.

    An ancestor reached twice (inbreeding) is drawn twice, as a printed pedigree does;
    an unknown parent leaves its slot empty."""
    depth = max(0, min(generations, MAX_CHART_GENERATIONS))
    chart = [ChartNode(root, 0, 0)]
    layer = chart
    for generation in range(1, depth + 1):
        nxt: list[ChartNode] = []
        for node in layer:
            for offset, parent in enumerate(parents.get(node.db_id, (None, None))):
                if parent is not None:
                    nxt.append(ChartNode(parent, generation, 2 * node.slot + offset))
        chart += nxt
        layer = nxt
    return chart
