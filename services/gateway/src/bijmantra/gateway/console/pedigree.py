"""A germplasm's ancestry as server-rendered SVG: fetched one generation per call, laid out
by the domain's ``ancestry_chart``, drawn left (the germplasm) to right (its ancestors)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import msgspec
from bijmantra.domain.germplasm import ancestry_chart
from bijmantra.gateway.console.paging import CachedLists
from bijmantra.kernel import PageRequest

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
    for parent in node.get("parents") or []:
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


async def ancestry(
    brapi: CachedLists, token: str, root: str, root_name: str, generations: int
) -> Chart:
    parents: dict[str, tuple[str | None, str | None]] = {}
    names: dict[str, str] = {root: root_name}
    frontier = {root}
    for _ in range(generations):
        if not frontier:
            break
        ids = sorted(frontier)
        page = await brapi.list(token, "pedigree", {"germplasmDbId": ids}, PageRequest(0, len(ids)))
        frontier = set()
        for node in msgspec.json.decode(page.documents):
            parents[node["germplasmDbId"]] = _parents(node)
            for parent in node.get("parents") or []:
                if parent.get("germplasmDbId"):
                    names.setdefault(parent["germplasmDbId"], parent.get("germplasmName") or "")
                    if parent["germplasmDbId"] not in parents:
                        frontier.add(parent["germplasmDbId"])
    nodes = ancestry_chart(root, parents, generations)
    drawn = max(node.generation for node in nodes)
    height = max(1, 2**drawn) * ROW_H
    boxes: dict[tuple[int, int], Box] = {}
    for node in nodes:
        band = height / 2**node.generation
        y = int(band * node.slot + band / 2 - BOX_H / 2)
        x = node.generation * (BOX_W + GAP_X)
        label = names.get(node.db_id) or node.db_id
        boxes[(node.generation, node.slot)] = Box(node.db_id, label, x, y, node.generation)
    edges = [
        Edge(child.x + BOX_W, child.y + BOX_H // 2, box.x, box.y + BOX_H // 2)
        for (generation, slot), box in boxes.items()
        if generation > 0 and (child := boxes.get((generation - 1, slot // 2))) is not None
    ]
    width = (drawn + 1) * (BOX_W + GAP_X)
    return Chart(list(boxes.values()), edges, width, height, drawn)


def with_root_name(chart: Chart, name: str) -> Chart:
    """The chart with its root box labelled ``name``: the ancestry is read while the root's
    own record is still being read, so it starts out labelled with its id."""
    boxes = [replace(b, name=name) if b.generation == 0 else b for b in chart.boxes]
    return replace(chart, boxes=boxes)
