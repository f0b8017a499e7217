"""Work tied to trials: plot order from the field layout, phenotyping-round progress from
the observations that arrived, and seed lots from a completed harvest task.

Plots, observations and seed lots belong to the BrAPI contexts; they are read and written
only through ``BreedingRecords`` (the BrAPI engine's application services), never their
tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.events import EventEnvelope
from bijmantra.application.operations.dto import (
    PlotOrderDocument,
    PlotStop,
    RoundProgressDocument,
    encode,
)
from bijmantra.application.operations.items import READ, item_or_404
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.operations import BreedingRecords
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.operations import (
    MAX_UNITS,
    Kind,
    OperationType,
    Pattern,
    Plot,
    WorkItem,
    parse_coordinate,
    plot_order,
)
from bijmantra.kernel import FieldError, PageRequest, Principal, TenantId, Unprocessable

HARVEST_CONSUMER = "operations-harvest"
COMPLETED = "operations.work_item.completed"
# Seed lot ids are derived from (harvest task, unit): a second completion finds them taken.
_LOT_NAMESPACE = uuid.UUID("6f1c3c52-94a4-4b8e-9a57-0d6b1f3f2a10")
_PAGE = 1000
_CHUNK = 200  # ids per filtered read
_documents = msgspec.json.Decoder(list[dict[str, Any]])


def harvest_lot_id(item_id: str, unit_id: str) -> str:
    return str(uuid.uuid5(_LOT_NAMESPACE, f"{item_id}/{unit_id}"))


@dataclass
class BrapiBreedingRecords:
    """``BreedingRecords`` over the BrAPI engine's use cases (same process, same rules)."""

    queries: ResourceQueries
    commands: ResourceCommands

    async def _all(
        self, principal: Principal, entity: str, query: dict[str, list[str]], limit: int
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 0
        while len(found) < limit:
            batch = await self.queries.list(principal, entity, query, PageRequest(page, _PAGE))
            found += _documents.decode(batch.documents)
            if (page + 1) * _PAGE >= batch.total_count:
                break
            page += 1
        return found[:limit]

    async def plots(
        self, principal: Principal, *, study_id: str | None, unit_ids: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        if unit_ids:
            found: list[dict[str, Any]] = []
            for start in range(0, len(unit_ids), _CHUNK):
                chunk = list(unit_ids[start : start + _CHUNK])
                query = {"observationUnitDbId": chunk}
                found += await self._all(principal, "observationunit", query, len(chunk))
            return found
        if study_id is None:
            return []
        return await self._all(
            principal, "observationunit", {"studyDbId": [study_id]}, MAX_UNITS + 1
        )

    async def observed(
        self, principal: Principal, unit_ids: Sequence[str], variable_ids: Sequence[str]
    ) -> set[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        wanted = set(variable_ids)
        for start in range(0, len(unit_ids), _CHUNK):
            chunk = list(unit_ids[start : start + _CHUNK])
            query = {"observationUnitDbId": chunk, "observationVariableDbId": list(variable_ids)}
            for doc in await self._all(
                principal, "observation", query, len(chunk) * len(wanted) * 50
            ):
                unit, variable = doc.get("observationUnitDbId"), doc.get("observationVariableDbId")
                if unit and variable in wanted and doc.get("value") not in (None, ""):
                    pairs.add((unit, variable))
        return pairs

    async def create_seed_lots(
        self, uow: Any, principal: Principal, lots: Sequence[tuple[str, dict[str, Any]]]
    ) -> int:
        ids = [lot_id for lot_id, _ in lots]
        existing = {
            d["seedLotDbId"]
            for start in range(0, len(ids), _CHUNK)
            for d in await self._all(
                principal, "seedlot", {"seedLotDbId": ids[start : start + _CHUNK]}, _CHUNK
            )
        }
        fresh = [(i, doc) for i, doc in lots if i not in existing]
        if fresh:
            await self.commands.create_in(
                uow, principal, "seedlot", [d for _, d in fresh], db_ids=[i for i, _ in fresh]
            )
        return len(fresh)


def _plots(documents: list[dict[str, Any]]) -> tuple[list[Plot], list[str]]:
    placed, unplaced = [], []
    for doc in documents:
        position = doc.get("observationUnitPosition") or {}
        x = parse_coordinate(position.get("positionCoordinateX"))
        y = parse_coordinate(position.get("positionCoordinateY"))
        if x is None or y is None:
            unplaced.append(doc["observationUnitDbId"])
        else:
            placed.append(Plot(doc["observationUnitDbId"], x, y))
    return placed, sorted(unplaced)


def _bounded(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(documents) > MAX_UNITS:
        raise Unprocessable(
            f"The study has more than {MAX_UNITS} observation units",
            [FieldError("study_id", "too many units for one operation")],
        )
    return documents


@dataclass
class BreedingLinks:
    uow: UnitOfWorkFactory
    records: BreedingRecords

    async def _item(self, principal: Principal, item_id: str) -> WorkItem:
        async with organization_unit(self.uow, principal, READ) as uow:
            return await item_or_404(uow.operations, item_id)

    async def plot_order(self, principal: Principal, item_id: str, pattern: str) -> bytes:
        """The order a planting or harvest crew walks the item's plots."""
        try:
            walk = Pattern(pattern)
        except ValueError:
            raise Unprocessable(
                "Unknown plot order pattern",
                [FieldError("pattern", f"one of {[p.value for p in Pattern]}")],
            ) from None
        item = await self._item(principal, item_id)
        if item.operation_type is None or not item.operation_type.has_plot_order:
            raise Unprocessable(
                "Only planting and harvest work has a plot order",
                [FieldError("operation_type", "planting or harvest")],
            )
        if item.study_id is None:
            raise Unprocessable("The item names no study", [FieldError("study_id", "required")])
        documents = _bounded(
            await self.records.plots(principal, study_id=item.study_id, unit_ids=item.unit_ids)
        )
        placed, unplaced = _plots(documents)
        ordered = plot_order(placed, walk)
        return encode(
            PlotOrderDocument(
                work_item_id=item.id,
                study_id=item.study_id,
                pattern=walk.value,
                plots=[
                    PlotStop(position=n + 1, observation_unit_id=p.unit_id, x=p.x, y=p.y)
                    for n, p in enumerate(ordered)
                ],
                unpositioned=unplaced,
            )
        )

    async def round_progress(self, principal: Principal, item_id: str) -> bytes:
        """How much of a phenotyping round is observed: (unit, variable) pairs with a value."""
        item = await self._item(principal, item_id)
        if item.operation_type is not OperationType.PHENOTYPING_ROUND:
            raise Unprocessable(
                "Only a phenotyping round has observation progress",
                [FieldError("operation_type", "phenotyping_round")],
            )
        units = list(item.unit_ids)
        if not units and item.study_id is not None:
            plots = await self.records.plots(principal, study_id=item.study_id)
            units = [d["observationUnitDbId"] for d in _bounded(plots)]
        variables = list(item.variable_ids)
        expected = len(units) * len(variables)
        observed = await self.records.observed(principal, units, variables) if expected else set()
        missing = sorted({u for u in units for v in variables if (u, v) not in observed})
        return encode(
            RoundProgressDocument(
                work_item_id=item.id,
                expected=expected,
                observed=len(observed),
                fraction=len(observed) / expected if expected else 0.0,
                complete=expected > 0 and len(observed) == expected,
                units_missing=missing[:100],
                units_missing_count=len(missing),
            )
        )


@dataclass
class RecordHarvest:
    """Consumer of ``operations.work_item.completed``: a finished harvest task creates one
    seed lot per harvested unit, exactly once (the inbox row and the lots commit together,
    and lot ids derived from task and unit make a second completion a no-op)."""

    uow: UnitOfWorkFactory
    records: BreedingRecords
    consumer: str = HARVEST_CONSUMER

    async def __call__(self, event: EventEnvelope) -> None:
        item = event.data.get("item") or {}
        if event.type != COMPLETED or item.get("kind") != Kind.TASK.value:
            return
        if item.get("operation_type") != OperationType.HARVEST.value:
            return
        tenant = TenantId(uuid.UUID(event.tenant_id))
        # The person who completed the task acts; completing harvest work is their say-so.
        principal = Principal(event.actor or self.consumer, tenant, frozenset({"breeder"}))
        units = await self.records.plots(
            principal, study_id=item.get("study_id"), unit_ids=item.get("unit_ids") or ()
        )
        lots = [
            (harvest_lot_id(item["id"], unit["observationUnitDbId"]), _lot(item, unit))
            for unit in units[:MAX_UNITS]
        ]
        async with self.uow(tenant) as uow:
            if not await uow.operations.first_delivery(self.consumer, event):
                return
            await self.records.create_seed_lots(uow, principal, lots)
            await uow.commit()


def _lot(item: dict[str, Any], unit: dict[str, Any]) -> dict[str, Any]:
    mixture = {"mixturePercentage": 100}
    if unit.get("germplasmDbId"):
        mixture["germplasmDbId"] = unit["germplasmDbId"]
    lot: dict[str, Any] = {
        "seedLotName": f"{unit.get('observationUnitName') or unit['observationUnitDbId']} harvest",
        "seedLotDescription": f"Harvested by work item {item['title']}",
        "amount": 0,
        "units": "seeds",
        "sourceCollection": "harvest",
        "contentMixture": [mixture],
        "additionalInfo": {
            "observationUnitDbId": unit["observationUnitDbId"],
            "workItemId": item["id"],
        },
    }
    if item.get("location_id") or unit.get("locationDbId"):
        lot["locationDbId"] = item.get("location_id") or unit.get("locationDbId")
    if unit.get("programDbId"):
        lot["programDbId"] = unit["programDbId"]
    return lot
