"""Observation-level hierarchies and image signatures."""

from __future__ import annotations

from typing import Any

from bijmantra.domain.phenotyping import (
    OBSERVATION_LEVELS,
    LevelProblem,
    UnitPosition,
    image_problem,
    level_order,
)
from bijmantra.domain.phenotyping import hierarchy_problems as problems_of


def hierarchy_problems(position: dict[str, Any]) -> list[LevelProblem]:
    """The position read as the use case reads it, then the rule."""
    return problems_of(UnitPosition.from_brapi(position))


PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)


def test_a_plot_under_field_rep_and_block_is_consistent_and_gets_its_orders() -> None:
    position = {
        "observationLevel": {"levelName": "plot", "levelCode": "P1"},
        "observationLevelRelationships": [
            {"levelName": "field"},
            {"levelName": "rep"},
            {"levelName": "block"},
        ],
    }
    assert hierarchy_problems(position) == []
    assert level_order(position["observationLevel"]["levelName"]) == OBSERVATION_LEVELS["plot"]
    orders = [level_order(r["levelName"]) for r in position["observationLevelRelationships"]]
    assert orders == [OBSERVATION_LEVELS[n] for n in ("field", "rep", "block")]


def test_low_ancestors_repeated_or_unknown_levels_and_wrong_orders_are_problems() -> None:
    position = {
        "observationLevel": {"levelName": "plot", "levelOrder": 2},
        "observationLevelRelationships": [
            {"levelName": "plant"},
            {"levelName": "block"},
            {"levelName": "block"},
            {"levelName": "paddock"},
        ],
    }
    paths = sorted(p.path for p in hierarchy_problems(position))
    assert paths == [
        "observationLevel.levelOrder",  # a plot's order is the hierarchy's, not the client's
        "observationLevelRelationships[0].levelName",  # a plant is not above a plot
        "observationLevelRelationships[2].levelName",  # block named twice
        "observationLevelRelationships[3].levelName",  # unknown level
    ]


def test_images_must_be_raster_types_whose_bytes_match_and_within_the_limit() -> None:
    assert image_problem("image/png", PNG, 1024) is None
    assert image_problem("image/PNG; charset=binary", PNG, 1024) is None
    assert image_problem("image/jpeg", PNG, 1024) is not None
    assert image_problem("image/svg+xml", b"<svg/>", 1024) is not None
    assert image_problem("text/plain", b"hello", 1024) is not None
    assert image_problem("image/png", b"", 1024) is not None
    assert image_problem("image/png", PNG, len(PNG) - 1) is not None
    assert image_problem("image/webp", b"RIFF\x00\x00\x00\x00WAVE", 1024) is not None
    assert image_problem("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", 1024) is None
