"""Plot order of a planting or harvest operation, from the study's field layout.

Plots are walked row by row (rows by ``y``, ascending). ``zigzag`` starts every row at the
low ``x`` end; ``serpentine`` turns at the end of each row, so odd rows (0-based) run from
high ``x`` to low, and the machine never drives back empty across the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from itertools import groupby


class Pattern(StrEnum):
    SERPENTINE = "serpentine"
    ZIGZAG = "zigzag"


@dataclass(frozen=True, slots=True)
class Plot:
    unit_id: str
    x: float
    y: float


def parse_coordinate(value: object) -> float | None:
    """BrAPI carries ``positionCoordinateX/Y`` as strings; a number or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def plot_order(plots: Iterable[Plot], pattern: Pattern) -> list[Plot]:
    """Every plot once, in the order the crew walks them (ties broken by unit id)."""
    ordered = sorted(plots, key=lambda p: (p.y, p.x, p.unit_id))
    walk: list[Plot] = []
    for row, (_, cells) in enumerate(groupby(ordered, key=lambda p: p.y)):
        row_plots = list(cells)
        if pattern is Pattern.SERPENTINE and row % 2 == 1:
            row_plots.sort(key=lambda p: (-p.x, p.unit_id))
        walk.extend(row_plots)
    return walk
