"""A germplasm's ancestry as server-rendered SVG: its pedigree nodes (read in one call by the
germplasm page's read), laid out by the domain's ``ancestry_chart``, drawn left (the
germplasm) to right (its ancestors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bijmantra.application.brapi.schema import stored_objects
from bijmantra.domain.germplasm import ancestry_chart
from bijmantra.gateway.console.tables import named

BOX_W, BOX_H, GAP_X, ROW_H = 150, 26, 40, 32


@dataclass(frozen=True)
class Box:
    db_id: str
    name: str
    x: int
    y: int
    generation: int


@dataclass(frozen=True)
class Edge:
    x1: int
    y1: int
    x2: int
    y2: int


@dataclass(frozen=True)
class Chart:
    boxes: list[Box]
    edges: list[Edge]
    width: int
    height: int
    generations: int


def _parents(node: dict[str, Any]) -> tuple[str | None, str | None]:
    female = male = None
    for parent in stored_objects(node.get("parents")):
        db_id, kind = parent.get("germplasmDbId"), (parent.get("parentType") or "").upper()
        if not db_id:
            continue
        if kind == "MALE" and male is None:
            male = db_id
        elif female is None:
            female = db_id
        elif male is None:
            male = db_id
    return female, male


def ancestry(pedigree: list[dict[str, Any]], root: str, root_name: str, generations: int) -> Chart:
    """The chart of ``root``'s ``pedigree`` nodes (read in one call, ``generations`` deep)."""
    parents = {entry["germplasmDbId"]: _parents(entry) for entry in pedigree}
    names: dict[str, str] = {root: root_name}
    for entry in pedigree:
        for parent in stored_objects(entry.get("parents")):
            if parent.get("germplasmDbId"):
                names.setdefault(parent["germplasmDbId"], parent.get("germplasmName") or "")
    nodes = ancestry_chart(root, parents, generations)
    drawn = max(node.generation for node in nodes)
    height = max(1, 2**drawn) * ROW_H
    boxes: dict[tuple[int, int], Box] = {}
    for node in nodes:
        band = height / 2**node.generation
        y = int(band * node.slot + band / 2 - BOX_H / 2)
        x = node.generation * (BOX_W + GAP_X)
        label = named(names.get(node.db_id), node.db_id)
        boxes[(node.generation, node.slot)] = Box(node.db_id, label, x, y, node.generation)
    edges = [
        Edge(child.x + BOX_W, child.y + BOX_H // 2, box.x, box.y + BOX_H // 2)
        for (generation, slot), box in boxes.items()
        if generation > 0 and (child := boxes.get((generation - 1, slot // 2))) is not None
    ]
    width = (drawn + 1) * (BOX_W + GAP_X)
    return Chart(list(boxes.values()), edges, width, height, drawn)
