"""In-memory fakes of the analytics-worker's sensors ports (``application.sensors.evaluation``):
its state, the cross-tenant due read, and domain-api's worker calls made in process."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from bijmantra.application.events import EventEnvelope
from bijmantra.application.sensors.worker_calls import (
    PresenceReport,
    SensorsWorkerCalls,
    firings_body,
    readings_from_body,
    rules_from_body,
)
from bijmantra.domain.sensors import AlertRule, Firing, Presence, TimedValue, Watch
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.sensors import SensorTables, fake_sensors_unit_of_work_factory
from bijmantra.testkit.transaction import FakeTransaction

WORKER_ROLES = frozenset({"analysis-worker"})


@dataclass
class EvaluationTables:
    """The worker's rows of every tenant; a transaction sees only its tenant's."""

    watches: dict[tuple[TenantId, str, str], tuple[Watch, datetime | None]] = field(
        default_factory=dict
    )
    presences: dict[tuple[TenantId, str], tuple[Presence, datetime | None]] = field(
        default_factory=dict
    )
    processed: set[tuple[str, str]] = field(default_factory=set)


class FakeEvaluationState(FakeTransaction[EvaluationTables]):
    """Works on a copy of the tables; ``commit`` swaps it in (no commit: nothing changed)."""

    def __init__(self, tables: EvaluationTables, tenant: TenantId) -> None:
        super().__init__(tables, tenant)
        self._tenant = tenant
        self._work = copy.deepcopy(tables)

    def _open(self) -> None:
        self._work = copy.deepcopy(self._tables)

    async def commit(self) -> None:
        self._tables.watches = self._work.watches
        self._tables.presences = self._work.presences
        self._tables.processed = self._work.processed

    async def first_delivery(self, consumer: str, event: EventEnvelope) -> bool:
        if (consumer, event.id) in self._work.processed:
            return False
        self._work.processed.add((consumer, event.id))
        return True

    async def watch(self, rule_id: str, device_id: str) -> Watch:
        return self._work.watches.get((self._tenant, rule_id, device_id), (Watch(), None))[0]

    async def save_watch(
        self, rule_id: str, device_id: str, watch: Watch, due: datetime | None
    ) -> None:
        self._work.watches[(self._tenant, rule_id, device_id)] = (watch, due)

    async def presence(self, device_id: str) -> Presence:
        return self._work.presences.get((self._tenant, device_id), (Presence(), None))[0]

    async def save_presence(self, device_id: str, presence: Presence, due: datetime | None) -> None:
        self._work.presences[(self._tenant, device_id)] = (presence, due)


def fake_evaluation_state_factory(
    tables: EvaluationTables,
) -> Callable[[TenantId], FakeEvaluationState]:
    return lambda tenant: FakeEvaluationState(tables, tenant)


class FakeDueChecks:
    """Every tenant's due watches and presences, as the checks role reads them."""

    def __init__(self, tables: EvaluationTables) -> None:
        self._t = tables

    async def due_watches(self, now: datetime, limit: int) -> list[tuple[TenantId, str, str]]:
        found = sorted(
            (due, t, r, d)
            for (t, r, d), (_, due) in self._t.watches.items()
            if due is not None and due <= now
        )
        return [(t, r, d) for _, t, r, d in found[:limit]]

    async def due_presences(self, now: datetime, limit: int) -> list[tuple[TenantId, str]]:
        found = sorted(
            (due, t, d)
            for (t, d), (_, due) in self._t.presences.items()
            if due is not None and due <= now
        )
        return [(t, d) for _, t, d in found[:limit]]


class InProcessSensorsDomain:
    """``SensorsDomain`` answered by domain-api's use case in process, through the same JSON
    bodies the gRPC client sends, as the worker's service principal of each organization."""

    def __init__(self, calls: SensorsWorkerCalls) -> None:
        self._calls = calls

    @staticmethod
    def _worker(tenant: TenantId) -> Principal:
        return Principal("analytics-worker", tenant, WORKER_ROLES)

    async def rules_for(self, tenant: TenantId, device_id: str) -> list[AlertRule]:
        found = await self._calls.rules_for_device(self._worker(tenant), device_id)
        return rules_from_body(tenant, msgspec.json.encode(found))

    async def open_alerts(self, tenant: TenantId, firings: Sequence[Firing]) -> set[str]:
        body = firings_body(tenant, firings)
        return set((await self._calls.standing_alerts(self._worker(tenant), body)).alert_ids)

    async def report_presence(self, tenant: TenantId, report: PresenceReport) -> bool:
        return await self._calls.report_presence(self._worker(tenant), report)

    async def readings_around(
        self, tenant: TenantId, device_id: str, metric: str, start: datetime, end: datetime
    ) -> list[TimedValue]:
        window = start.isoformat(), end.isoformat()
        found = await self._calls.readings_around(self._worker(tenant), device_id, metric, *window)
        return readings_from_body(msgspec.json.encode(found))


@dataclass
class WorkerSensors:
    """The worker's sensors ports over fakes; domain-api's side runs over ``sensors``."""

    sensors: SensorTables
    tables: EvaluationTables = field(default_factory=EvaluationTables)

    def __post_init__(self) -> None:
        self.state = fake_evaluation_state_factory(self.tables)
        self.due = FakeDueChecks(self.tables)
        self.domain = InProcessSensorsDomain(
            SensorsWorkerCalls(fake_sensors_unit_of_work_factory(self.sensors))
        )
