"""BrAPI-Phenotyping's streamed tables: ``/observations/table`` and ``/observationunits/table``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from bijmantra.application.brapi.entity import TableChunk
from bijmantra.application.ports.documents import Criteria, ResourceStore

TABLE_CHUNK = 2000  # documents per streamed table chunk


UNIT_COLUMNS = (
    "observationUnitDbId",
    "observationUnitName",
    "studyDbId",
    "studyName",
    "germplasmDbId",
    "germplasmName",
    "positionCoordinateX",
    "positionCoordinateY",
    "year",
    "field",
    "plot",
    "sub-plot",
    "plant",
    "pot",
    "block",
    "entry",
    "rep",
)


LEVEL_COLUMNS = UNIT_COLUMNS[UNIT_COLUMNS.index("field") :]


OBSERVATION_COLUMNS = ("observationTimeStamp", *UNIT_COLUMNS)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _unit_cells(unit: dict[str, Any], year: Any) -> list[str]:
    """The unit's columns of a table row: names, position, and the code of each level."""
    position = unit.get("observationUnitPosition") or {}
    codes = {
        level.get("levelName"): level.get("levelCode")
        for level in [
            position.get("observationLevel"),
            *(position.get("observationLevelRelationships") or []),
        ]
        if level
    }
    cells = [_cell(unit.get(key)) for key in UNIT_COLUMNS[:6]]
    cells += [
        _cell(position.get("positionCoordinateX")),
        _cell(position.get("positionCoordinateY")),
    ]
    return [*cells, _cell(year), *(_cell(codes.get(level)) for level in LEVEL_COLUMNS)]


async def _variable_header(
    store: ResourceStore, variable_ids: Sequence[str]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Variables ordered by name, as the table's value columns."""
    found = await store.documents("variable", sorted(variable_ids))
    ordered = sorted(
        variable_ids, key=lambda i: (found.get(i, {}).get("observationVariableName") or "", i)
    )
    columns = [
        {
            "observationVariableDbId": i,
            "observationVariableName": found.get(i, {}).get("observationVariableName"),
        }
        for i in ordered
    ]
    return ordered, columns


def _season_year(observation: dict[str, Any]) -> Any:
    return (observation.get("season") or {}).get("year")


class ObservationTable:
    """``GET /observations/table``: one row per observation, its value in its variable's
    column, ordered by unit and time; units are read per chunk, never all at once."""

    async def build(self, store: ResourceStore, criteria: Criteria) -> AsyncIterator[TableChunk]:
        ids = await store.distinct_values("observation", criteria, "observationVariableDbId")
        ordered, variables = await _variable_header(store, ids)
        yield TableChunk(header_row=OBSERVATION_COLUMNS, variables=variables)
        column = {variable_id: i for i, variable_id in enumerate(ordered)}
        order = ("observationUnitDbId", "observationTimeStamp")
        async for observations in store.stream("observation", criteria, order, TABLE_CHUNK):
            units = await store.documents(
                "observationunit", sorted({o["observationUnitDbId"] for o in observations})
            )
            rows = []
            for observation in observations:
                values = [""] * len(ordered)
                values[column[observation["observationVariableDbId"]]] = _cell(
                    observation.get("value")
                )
                unit = units.get(observation["observationUnitDbId"], observation)
                rows.append(
                    [
                        _cell(observation.get("observationTimeStamp")),
                        *_unit_cells(unit, _season_year(observation)),
                        *values,
                    ]
                )
            yield TableChunk(rows=rows)


class ObservationUnitTable:
    """``GET /observationunits/table``: one row per unit with its latest value of each
    variable observed in the units' studies."""

    async def build(self, store: ResourceStore, criteria: Criteria) -> AsyncIterator[TableChunk]:
        studies = await store.distinct_values("observationunit", criteria, "studyDbId")
        in_studies = (tuple({"studyDbId": s} for s in studies),)
        ids = (
            await store.distinct_values("observation", in_studies, "observationVariableDbId")
            if studies
            else []
        )
        ordered, variables = await _variable_header(store, ids)
        yield TableChunk(header_row=UNIT_COLUMNS, variables=variables)
        column = {variable_id: i for i, variable_id in enumerate(ordered)}
        order = ("observationUnitName",)
        async for units in store.stream("observationunit", criteria, order, TABLE_CHUNK):
            of_units = (tuple({"observationUnitDbId": u["observationUnitDbId"]} for u in units),)
            latest: dict[str, dict[str, dict[str, Any]]] = {}
            for observation in await store.matching("observation", of_units, 10_000_000):
                per_unit = latest.setdefault(observation["observationUnitDbId"], {})
                known = per_unit.get(observation["observationVariableDbId"])
                stamp = observation.get("observationTimeStamp") or ""
                if known is None or stamp >= (known.get("observationTimeStamp") or ""):
                    per_unit[observation["observationVariableDbId"]] = observation
            rows = []
            for unit in units:
                values = [""] * len(ordered)
                observed = latest.get(unit["observationUnitDbId"], {})
                for variable_id, observation in observed.items():
                    if variable_id in column:
                        values[column[variable_id]] = _cell(observation.get("value"))
                years = [_season_year(o) for o in observed.values()]
                year = next((y for y in years if y is not None), None)
                rows.append([*_unit_cells(unit, year), *values])
            yield TableChunk(rows=rows)
