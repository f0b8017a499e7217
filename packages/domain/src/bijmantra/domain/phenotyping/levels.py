"""The observation-level hierarchy (BrAPI Observation Levels) and its consistency rule.

Levels nest from coarse to fine; ``levelOrder`` is a level's depth. A unit's own level and
the levels it names as its ancestors (``observationLevelRelationships``) must be known
levels, carry their hierarchy order, and every ancestor must be coarser than the unit.
"""

from __future__ import annotations

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


def level_order(name: str | None) -> int | None:
    return OBSERVATION_LEVELS.get(name) if name is not None else None


def _level_problems(level: dict[str, Any], path: str) -> list[LevelProblem]:
    name = level.get("levelName")
    if name is None:
        return [LevelProblem(f"{path}.levelName", "is required")]
    order = level_order(name)
    if order is None:
        known = ", ".join(OBSERVATION_LEVELS)
        return [LevelProblem(f"{path}.levelName", f"unknown level {name!r} (known: {known})")]
    if level.get("levelOrder") is not None and level["levelOrder"] != order:
        return [LevelProblem(f"{path}.levelOrder", f"level {name!r} has order {order}")]
    level["levelOrder"] = order
    return []


def hierarchy_problems(position: dict[str, Any]) -> list[LevelProblem]:
    """Check (and complete ``levelOrder`` of) one unit's position; return every problem."""
    problems: list[LevelProblem] = []
    own = position.get("observationLevel")
    if own is not None:
        problems += _level_problems(own, "observationLevel")
    own_name = (own or {}).get("levelName")
    own_order = level_order(own_name)
    seen: set[str] = set()
    for index, relation in enumerate(position.get("observationLevelRelationships") or []):
        path = f"observationLevelRelationships[{index}]"
        if relation is None:
            continue
        found = _level_problems(relation, path)
        problems += found
        name = relation.get("levelName")
        if found or name is None:
            continue
        if name in seen:
            problems.append(LevelProblem(f"{path}.levelName", f"level {name!r} named twice"))
        seen.add(name)
        if own_order is not None and relation["levelOrder"] >= own_order:
            problems.append(
                LevelProblem(
                    f"{path}.levelName",
                    f"{name!r} is not above the unit's level {own_name!r}",
                )
            )
    return problems
