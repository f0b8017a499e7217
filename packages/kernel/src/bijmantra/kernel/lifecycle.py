"""Lifecycles as explicit transition tables, one shape for every context (ADR 0301).

A table maps (state, action) to the next state; anything absent is refused with ``Conflict``.
The tables are data, so a test can walk every (state, action) pair and an API can say what is
allowed next.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from bijmantra.kernel.errors import Conflict, FieldError

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)


@dataclass(frozen=True)
class StateMachine(Generic[S, A]):
    """``name`` appears in refusals; ``table`` is the whole lifecycle."""

    name: str
    table: Mapping[tuple[S, A], S]

    def allowed(self, state: S) -> list[A]:
        return [action for (source, action) in self.table if source == state]

    def next(self, state: S, action: A) -> S:
        """The state after ``action``; ``Conflict`` (409) when the table has no such move."""
        target = self.table.get((state, action))
        if target is None:
            allowed = ", ".join(str(a) for a in self.allowed(state)) or "nothing"
            article = "An" if state.value[:1] in "aeiou" else "A"
            raise Conflict(
                f"{article} {state} {self.name} cannot be {action.value}",
                [FieldError("status", f"{state}: allowed {allowed}")],
            )
        return target

    @classmethod
    def by_action(cls, name: str, moves: Mapping[A, tuple[Collection[S], S]]) -> StateMachine[S, A]:
        """The table declared action by action: the states each action is taken from and the
        state it leads to, so an action open from many states (cancel, revoke) is one line."""
        table = {
            (source, action): target
            for action, (sources, target) in moves.items()
            for source in sources
        }
        return cls(name, table)


def terminal(machine: StateMachine[S, A], states: Iterable[S]) -> frozenset[S]:
    """States with no way out."""
    return frozenset(s for s in states if not machine.allowed(s))
