"""Finish-to-start dependencies that work can always get past, checked in the new edge's
neighbourhood.

Finishing waits for two things (ADR 0344): an item starts only when its predecessors are
finished, and it is done only when its children are. With events ``X.start`` and
``X.finish`` the rules are the edges ``P.finish -> S.start`` (a dependency), ``X.start ->
X.finish`` and ``child.finish -> parent.finish``; a cycle there is work that can never be
done. Every start event leads only to its own finish, so collapsing onto items keeps exactly
the cycles of the *waiting graph*: ``P -> S`` for each dependency and ``child -> parent``
for each item with a parent. ``tail -> head`` is refused when ``head`` already reaches
``tail`` there (``finishes_before``): ``head`` has to finish before ``tail`` can, and the new
edge asks for the opposite.

Every item keeps an integer ``order``, a topological order of the waiting graph maintained
incrementally (after Pearce & Kelly, "A dynamic topological sort algorithm for directed
acyclic graphs", JEA 2006): ``order[P] < order[S]`` per dependency and ``order[child] <
order[parent]``. A new item has only its parent link, so it takes a value below all others.
Adding ``tail -> head``:

- ``order[tail] < order[head]``: the order already agrees, nothing can close; O(1).
- otherwise only the *affected region* is searched: what ``head`` reaches with order at most
  ``order[tail]`` (``forward``: dependencies and parent links) and what reaches ``tail`` with
  order at least ``order[head]`` (``backward``: dependencies and children). ``tail`` in
  ``forward`` is refused: a cycle when dependencies alone reach it, else a deadlock with the
  hierarchy; otherwise the region's order values are dealt out again, ``backward`` first
  (``reorder``).

The cost is the region between the two orders, never the whole graph. The PostgreSQL
adapter runs the two searches as recursive CTEs and calls ``reorder`` on their rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from bijmantra.kernel import FieldError, Unprocessable

Neighbours = Callable[[str], Iterable[str]]
N = TypeVar("N", bound=Hashable)  # a node: an item id, or an int in the oracle's tests


@dataclass(frozen=True, slots=True)
class Ordered:
    id: str
    order: int
    by_dependencies: bool = True  # in ``forward``: reached from the head by dependencies alone


def cycle_error(tail: str, head: str) -> Unprocessable:
    return Unprocessable(
        "The dependency would close a cycle",
        [FieldError("successor_id", f"{head!r} already leads to {tail!r}")],
    )


def deadlock_error(tail: str, head: str) -> Unprocessable:
    return Unprocessable(
        "The dependency would deadlock the hierarchy",
        [FieldError("successor_id", f"{head!r} has to finish before {tail!r} can finish")],
    )


def reorder(forward: Sequence[Ordered], backward: Sequence[Ordered]) -> dict[str, int]:
    """New orders of the affected region after adding an edge from ``backward``'s ``tail``
    to ``forward``'s ``head``: the same order values, ``backward`` items first, each side
    keeping its relative order. Only items whose order changes are returned."""
    ahead = sorted(backward, key=lambda n: n.order)
    behind = sorted(forward, key=lambda n: n.order)
    pool = sorted(n.order for n in (*ahead, *behind))
    return {n.id: o for n, o in zip((*ahead, *behind), pool, strict=True) if n.order != o}


def reachable(start: N, step: Callable[[N], Iterable[N]], keep: Callable[[N], bool]) -> set[N]:
    """``start`` and every node reached from it by ``step`` through nodes ``keep`` accepts."""
    seen, stack = {start}, [start]
    while stack:
        for nxt in step(stack.pop()):
            if nxt not in seen and keep(nxt):
                seen.add(nxt)
                stack.append(nxt)
    return seen


def needs_search(tail: str, head: str, order_tail: int, order_head: int) -> bool:
    """Whether ``tail -> head`` disagrees with the current order (a self-loop is a cycle)."""
    if tail == head:
        raise cycle_error(tail, head)
    return order_tail > order_head


def refuse_cycle(tail: str, head: str, forward: Iterable[Ordered]) -> None:
    """``forward`` is what ``head`` reaches inside the region; ``tail`` reached by
    dependencies alone closes a cycle of dependencies."""
    if any(n.id == tail and n.by_dependencies for n in forward):
        raise cycle_error(tail, head)


def finishes_before(
    first: N,
    then: N,
    successors: Callable[[N], Iterable[N]],
    parent: Callable[[N], N | None],
) -> bool:
    """Whether ``then`` is reached from ``first`` in the waiting graph (dependencies forward,
    then child to parent), ``first`` itself included: ``first`` must finish before ``then``
    can finish."""

    def step(node: N) -> Iterable[N]:
        up = parent(node)
        return (*successors(node), *(() if up is None else (up,)))

    return then in reachable(first, step, lambda _: True)


def refuse_deadlock(tail: str, head: str, forward: Iterable[Ordered]) -> None:
    """``tail`` anywhere in ``forward`` (the waiting-graph region): ``head`` has to finish
    before ``tail`` can (call ``refuse_cycle`` first to name plain cycles as such)."""
    if any(n.id == tail for n in forward):
        raise deadlock_error(tail, head)


def _no_parent(_: str) -> str | None:
    return None


def _no_children(_: str) -> Iterable[str]:
    return ()


def plan_edge(
    tail: str,
    head: str,
    order: Mapping[str, int],
    successors: Neighbours,
    predecessors: Neighbours,
    parent: Callable[[str], str | None] = _no_parent,
    children: Neighbours = _no_children,
) -> dict[str, int]:
    """The order changes that adding ``tail -> head`` needs; ``Unprocessable`` on a cycle or
    a deadlock. ``order`` is a topological order of the waiting graph."""
    low, high = order[head], order[tail]
    if not needs_search(tail, head, high, low):
        return {}

    def up(node: str) -> Iterable[str]:
        above = parent(node)
        return (*successors(node), *(() if above is None else (above,)))

    def down(node: str) -> Iterable[str]:
        return (*predecessors(node), *children(node))

    inside = reachable(head, successors, lambda n: order[n] <= high)
    forward = [
        Ordered(n, order[n], n in inside) for n in reachable(head, up, lambda n: order[n] <= high)
    ]
    refuse_cycle(tail, head, forward)
    refuse_deadlock(tail, head, forward)
    backward = reachable(tail, down, lambda n: order[n] >= low)
    return reorder(forward, [Ordered(n, order[n]) for n in backward])


class DependencyGraph:
    """The rule on an in-memory graph of dependencies alone (no hierarchy), for tests."""

    def __init__(self) -> None:
        self.order: dict[str, int] = {}
        self.successors: defaultdict[str, set[str]] = defaultdict(set)
        self.predecessors: defaultdict[str, set[str]] = defaultdict(set)

    def add_node(self, node: str) -> None:
        if node not in self.order:
            self.order[node] = max(self.order.values(), default=0) + 1

    def add(self, tail: str, head: str) -> None:
        changes = plan_edge(
            tail, head, self.order, self.successors.__getitem__, self.predecessors.__getitem__
        )
        self.order.update(changes)
        self.successors[tail].add(head)
        self.predecessors[head].add(tail)

    def remove(self, tail: str, head: str) -> None:
        self.successors[tail].discard(head)
        self.predecessors[head].discard(tail)

    def edges(self) -> Iterable[tuple[str, str]]:
        return ((t, h) for t, heads in self.successors.items() for h in heads)
