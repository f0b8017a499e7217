"""Plates and the wells samples sit in: which positions a plate format has, and which
position a sample's ``row``/``column``/``well`` name.

BrAPI v2.1 lets a client send any of the three; a well is a row letter and a column
number (``A1`` or ``A01``), and when several are given they must agree. ``TUBES`` have no
positions at all. The rules are pure: the engine feeds them documents and reports their
problems with its own locations.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class PlateFormat(StrEnum):
    """The v2.1 ``PlateFormat`` enum (it names no 384-well format)."""

    PLATE_96 = "PLATE_96"
    TUBES = "TUBES"


@dataclass(frozen=True, slots=True)
class Layout:
    rows: str  # row letters, in order
    columns: int  # columns are numbered 1..columns


LAYOUTS = {
    PlateFormat.PLATE_96: Layout("ABCDEFGH", 12),
}
_WELL = re.compile(r"([A-Za-z])0*([1-9][0-9]*)")


@dataclass(frozen=True, slots=True)
class Well:
    """A position on a plate; ``name`` is the canonical spelling (``A01``)."""

    row: str
    column: int

    @property
    def name(self) -> str:
        return f"{self.row}{self.column:02d}"


@dataclass(frozen=True, slots=True)
class Problem:
    field: str
    message: str


def layout_of(plate_format: str | None) -> Layout | None:
    """The layout of a plate format; ``None`` for tubes (or an unstated format)."""
    try:
        return LAYOUTS.get(PlateFormat(plate_format)) if plate_format else None
    except ValueError:
        return None


def sample_well(
    row: str | None, column: int | None, well: str | None
) -> tuple[Well | None, list[Problem]]:
    """The well a sample's fields name (``None`` when they name none), or what is wrong."""
    problems: list[Problem] = []
    from_well: Well | None = None
    if well is not None:
        parsed = _WELL.fullmatch(well.strip())
        if parsed is None:
            problems.append(Problem("well", f"{well!r} is not a well (a row letter and a column)"))
        else:
            from_well = Well(parsed[1].upper(), int(parsed[2]))
    if row is not None and (len(row.strip()) != 1 or not row.strip().isalpha()):
        problems.append(Problem("row", f"{row!r} is not a row letter"))
    if column is not None and column < 1:
        problems.append(Problem("column", f"{column} is not a column number (from 1)"))
    if problems:
        return None, problems
    stated_row = row.strip().upper() if row is not None else None
    if from_well is not None:
        if stated_row is not None and stated_row != from_well.row:
            problems.append(Problem("row", f"{row!r} is not the row of well {well!r}"))
        if column is not None and column != from_well.column:
            problems.append(Problem("column", f"{column} is not the column of well {well!r}"))
        return (None if problems else from_well), problems
    if stated_row is None and column is None:
        return None, []
    if stated_row is None or column is None:
        missing = "row" if stated_row is None else "column"
        return None, [Problem(missing, "a plate position needs both a row and a column")]
    return Well(stated_row, column), []


def placement_problems(plate_format: str | None, well: Well | None) -> list[Problem]:
    """A sample's well must exist on its plate's format; tubes take no well."""
    if well is None:
        return []
    layout = layout_of(plate_format)
    if layout is None:
        return [Problem("well", f"a {plate_format or 'plate without a format'} has no wells")]
    problems = []
    if well.row not in layout.rows:
        problems.append(
            Problem("row", f"{plate_format} rows are {layout.rows[0]}-{layout.rows[-1]}")
        )
    if well.column > layout.columns:
        problems.append(Problem("column", f"{plate_format} columns are 1-{layout.columns}"))
    return problems


def repeated_wells(placed: Iterable[tuple[str, str, Well]]) -> dict[str, tuple[str, str, Well]]:
    """Samples placed in a well another sample of the same plate already holds.

    ``placed`` is (sample DbId, plate DbId, well) in precedence order (stored samples that
    keep their place first); the answer maps each later sample to the one holding it."""
    holder: dict[tuple[str, Well], str] = {}
    clashes: dict[str, tuple[str, str, Well]] = {}
    for sample, plate, well in placed:
        first = holder.setdefault((plate, well), sample)
        if first != sample:
            clashes[sample] = (first, plate, well)
    return clashes
