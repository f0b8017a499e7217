"""Board order: integer ranks with gaps, so a move rewrites one item, not the board."""

from __future__ import annotations

from collections.abc import Sequence

GAP = 1 << 16


def rank_after(last: int | None) -> int:
    """The rank of an item appended to the end of a board."""
    return GAP if last is None else last + GAP


def rank_between(before: int | None, after: int | None) -> int | None:
    """A rank strictly between two neighbours (None: no room, renumber the board first)."""
    if before is None and after is None:
        return GAP
    if before is None:
        assert after is not None
        return after - GAP if after - GAP < after else None
    if after is None:
        return before + GAP
    middle = (before + after) // 2
    return middle if before < middle < after else None


def renumbered(ids_in_order: Sequence[str]) -> dict[str, int]:
    """Evenly spaced ranks for a whole board, in the given order."""
    return {item: (position + 1) * GAP for position, item in enumerate(ids_in_order)}
