"""The observation-level hierarchy (BrAPI Observation Levels) and its consistency rule.

Levels nest from coarse to fine; ``levelOrder`` is a level's depth. A unit's own level and
the levels it names as its ancestors (``observationLevelRelationships``) must be known
levels, carry their hierarchy order, and every ancestor must be coarser than the unit.
``UnitPosition.from_brapi`` reads a unit's ``observationUnitPosition`` once; the rule sees
typed levels only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# levelName -> levelOrder; "field > 0 ... plant" as the BrAPI Observation Levels page orders them.
OBSERVATION_LEVELS: dict[str, int] = {
    "study": 0,
    "field": 1,
    "entry": 2,
    "rep": 3,
    "block": 4,
    "sub-block": 5,
    "plot": 6,
    "sub-plot": 7,
    "plant": 8,
    "pot": 9,
    "sample": 10,
}


@dataclass(frozen=True)
class LevelProblem:
    path: str  # relative to the unit's observationUnitPosition
    message: str


@dataclass(frozen=True)
class Level:
    """A level as a document names it: ``order`` is the client's ``levelOrder``, if any."""

    name: str | None
    order: Any = None

    @classmethod
    def from_brapi(cls, level: Mapping[str, Any]) -> Level:
        return cls(level.get("levelName"), level.get("levelOrder"))


@dataclass(frozen=True)
class UnitPosition:
    """A unit's own level and the ancestors it names (None where the array holds null)."""

    level: Level | None = None
    ancestors: tuple[Level | None, ...] = ()

    @classmethod
    def from_brapi(cls, position: Mapping[str, Any]) -> UnitPosition:
        own = position.get("observationLevel")
        relations = position.get("observationLevelRelationships") or []
        return cls(
            Level.from_brapi(own) if own is not None else None,
            tuple(Level.from_brapi(r) if r is not None else None for r in relations),
        )


def level_order(name: str | None) -> int | None:
    return OBSERVATION_LEVELS.get(name) if name is not None else None


def _level_problems(level: Level, path: str) -> list[LevelProblem]:
    if level.name is None:
        return [LevelProblem(f"{path}.levelName", "is required")]
    order = level_order(level.name)
    if order is None:
        known = ", ".join(OBSERVATION_LEVELS)
        return [LevelProblem(f"{path}.levelName", f"unknown level {level.name!r} (known: {known})")]
    if level.order is not None and level.order != order:
        return [LevelProblem(f"{path}.levelOrder", f"level {level.name!r} has order {order}")]
    return []


def hierarchy_problems(position: UnitPosition) -> list[LevelProblem]:
    """Every problem of one unit's position; none means each named level is known (its order
    is then ``level_order(name)``) and every ancestor is coarser than the unit."""
    problems: list[LevelProblem] = []
    own = position.level
    if own is not None:
        problems += _level_problems(own, "observationLevel")
    own_name = own.name if own is not None else None
    own_order = level_order(own_name)
    seen: set[str] = set()
    for index, relation in enumerate(position.ancestors):
        path = f"observationLevelRelationships[{index}]"
        if relation is None:
            continue
        found = _level_problems(relation, path)
        problems += found
        name = relation.name
        if found or name is None:
            continue
        if name in seen:
            problems.append(LevelProblem(f"{path}.levelName", f"level {name!r} named twice"))
        seen.add(name)
        order = OBSERVATION_LEVELS[name]
        if own_order is not None and order >= own_order:
            problems.append(
                LevelProblem(
                    f"{path}.levelName",
                    f"{name!r} is not above the unit's level {own_name!r}",
                )
            )
    return problems
