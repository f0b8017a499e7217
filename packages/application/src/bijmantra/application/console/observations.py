"""Observation entry from the study workbench (grid form or CSV): what to write, what is wrong.

Every value is checked against its variable's scale before anything is written, so a batch
with one bad value stores nothing and each bad value is named in place.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bijmantra.domain.phenotyping.scales import scale_of, scale_rule

MAX_ENTRIES = 20_000  # values in one submission (grid page or uploaded file)


@dataclass(frozen=True)
class Entry:
    unit: str
    variable: str
    value: str


@dataclass(frozen=True)
class Existing:
    observation: str  # observationDbId
    value: str


@dataclass(frozen=True)
class Plan:
    creates: list[dict[str, Any]]
    updates: dict[str, dict[str, Any]]  # observationDbId -> new fields (BrAPI PUT body)
    errors: dict[tuple[str, str], str]  # (unit, variable) -> why the value is refused

    @property
    def empty(self) -> bool:
        return not self.creates and not self.updates


def plan_entries(
    entries: Sequence[Entry],
    scales: Mapping[str, dict[str, Any] | None],
    units: frozenset[str],
    existing: Mapping[tuple[str, str], Existing],
) -> Plan:
    """New values become creates, changed ones updates; blank or unchanged cells are left
    alone. Unknown units or variables and values outside the scale are errors."""
    rules = {variable: scale_rule(scale_of(scale)) for variable, scale in scales.items()}
    creates: list[dict[str, Any]] = []
    updates: dict[str, dict[str, Any]] = {}
    errors: dict[tuple[str, str], str] = {}
    if len(entries) > MAX_ENTRIES:
        return Plan([], {}, {("", ""): f"at most {MAX_ENTRIES} values at once"})
    for entry in entries:
        key, value = (entry.unit, entry.variable), entry.value.strip()
        if entry.unit not in units:
            errors[key] = "not an observation unit of this study"
            continue
        rule = rules.get(entry.variable)
        if rule is None:
            errors[key] = "not a variable of this study"
            continue
        current = existing.get(key)
        if not value or (current is not None and current.value == value):
            continue
        problem = rule(value)
        if problem is not None:
            errors[key] = problem
        elif current is None:
            creates.append(_observation(entry, value))
        else:
            updates[current.observation] = _observation(entry, value)
    return Plan(creates, updates, errors)


def _observation(entry: Entry, value: str) -> dict[str, Any]:
    return {
        "observationUnitDbId": entry.unit,
        "observationVariableDbId": entry.variable,
        "value": value,
    }


def csv_entries(text: str, variables: Mapping[str, str]) -> tuple[list[Entry], list[str]]:
    """Entries from a CSV with an ``observationUnitDbId`` column and one column per variable,
    named by its DbId or its name (``variables``: name -> DbId) — the shape the workbench
    downloads (BrAPI's observation table; its second row of variable names is skipped).
    A file the csv module cannot read (a field past its 128 KiB limit) is a problem to show,
    not an exception: it was a 500 (ADR 0326)."""
    try:
        return _entries(csv.reader(io.StringIO(text)), variables)
    except csv.Error as exc:
        return [], [f"the file is not readable as CSV: {exc}"]


def _entries(
    reader: Iterator[list[str]], variables: Mapping[str, str]
) -> tuple[list[Entry], list[str]]:
    header = next(reader, None)
    if header is None or "observationUnitDbId" not in header:
        return [], ["the file needs an observationUnitDbId column"]
    unit_column = header.index("observationUnitDbId")
    by_name = dict(variables)
    known = set(variables.values())
    columns = [
        (i, name if name in known else by_name[name])
        for i, name in enumerate(header)
        if name in known or name in by_name
    ]
    if not columns:
        return [], ["no column names a variable of this study"]
    entries: list[Entry] = []
    for row in reader:
        if len(row) <= unit_column or not row[unit_column].strip():
            continue
        unit = row[unit_column].strip()
        entries += [Entry(unit, variable, row[i]) for i, variable in columns if i < len(row)]
        if len(entries) > MAX_ENTRIES:
            return [], [f"the file has more than {MAX_ENTRIES} values"]
    return entries, []
