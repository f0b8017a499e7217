"""``StateMachine.by_action``: a table declared action by action is the same table."""

from __future__ import annotations

from enum import StrEnum

import pytest
from bijmantra.kernel import Conflict
from bijmantra.kernel.lifecycle import StateMachine, terminal


class Door(StrEnum):
    SHUT = "shut"
    OPEN = "open"
    GONE = "gone"


class Move(StrEnum):
    OPEN = "opened"
    SHUT = "shut"
    REMOVE = "removed"


DOOR = StateMachine.by_action(
    "door",
    {
        Move.OPEN: ((Door.SHUT,), Door.OPEN),
        Move.SHUT: ((Door.OPEN,), Door.SHUT),
        Move.REMOVE: ((Door.SHUT, Door.OPEN), Door.GONE),
    },
)


def test_each_source_of_an_action_gets_its_own_move() -> None:
    assert DOOR.table == {
        (Door.SHUT, Move.OPEN): Door.OPEN,
        (Door.OPEN, Move.SHUT): Door.SHUT,
        (Door.SHUT, Move.REMOVE): Door.GONE,
        (Door.OPEN, Move.REMOVE): Door.GONE,
    }
    assert DOOR.allowed(Door.OPEN) == [Move.SHUT, Move.REMOVE]  # in declaration order
    assert terminal(DOOR, Door) == {Door.GONE}
    with pytest.raises(Conflict, match=r"^A gone door cannot be opened$"):
        DOOR.next(Door.GONE, Move.OPEN)
