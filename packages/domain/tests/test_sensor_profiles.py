"""A device profile's metrics: names, units and ranges a reading can be checked against and
its rollups summed within."""

from __future__ import annotations

import math

import pytest
from bijmantra.domain.sensors import MetricSpec, parse_metrics
from bijmantra.kernel import ValidationFailed


def test_a_sensible_range_is_kept() -> None:
    spec = MetricSpec("co2", "ppm", 0, 40_000)
    assert parse_metrics([spec]) == (spec,)


@pytest.mark.parametrize(
    ("minimum", "maximum"),
    [
        (5, 5),
        (10, -10),
        (-math.inf, 0),
        (0, math.nan),
        # Two readings of 1e308 in one minute made PostgreSQL's rollup sum overflow (an error:
        # the batch failed with a 500, and so would every later batch touching that minute).
        (0, 1e308),
        (-1e13, 0),
    ],
)
def test_a_range_that_is_empty_or_too_wide_to_sum_is_refused(
    minimum: float, maximum: float
) -> None:
    with pytest.raises(ValidationFailed):
        parse_metrics([MetricSpec("x", "u", minimum, maximum)])
