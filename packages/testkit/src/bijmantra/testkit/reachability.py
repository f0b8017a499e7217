"""Plain reachability over a parent map: the reference the pedigree rules are checked
against, in memory and in PostgreSQL (a depth-first walk, nothing clever to get wrong)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)


def reaches(parents: Mapping[Node, Iterable[Node]], start: Node, target: Node) -> bool:
    """Whether ``target`` is ``start`` or one of its ancestors under ``parents``."""
    seen: set[Node] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node == target:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(parents.get(node, ()))
    return False
