"""Phenotyping bounded context: the rules BrAPI documents alone cannot express."""

from bijmantra.domain.phenotyping.images import image_problem
from bijmantra.domain.phenotyping.levels import (
    OBSERVATION_LEVELS,
    Level,
    LevelProblem,
    UnitPosition,
    hierarchy_problems,
    level_order,
)
from bijmantra.domain.phenotyping.scales import Scale, scale_of, scale_problem, scale_rule

__all__ = [
    "OBSERVATION_LEVELS",
    "Level",
    "LevelProblem",
    "Scale",
    "UnitPosition",
    "hierarchy_problems",
    "image_problem",
    "level_order",
    "scale_of",
    "scale_problem",
    "scale_rule",
]
