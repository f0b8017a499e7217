"""In-memory fake of the sensors port (``SensorsUnitOfWork``), for use-case tests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import msgspec
from bijmantra.application.sensors.ports import SensorsUnitOfWork, StudyPlace
from bijmantra.domain import DomainEvent
from bijmantra.domain.sensors import (
    CONNECTABLE,
    Alert,
    AlertRule,
    AlertStatus,
    Bucket,
    Device,
    DeviceProfile,
    EnrolmentState,
    PresenceChange,
    Reading,
    ReadingLike,
    Resolution,
    Window,
    bucket_start,
    followed_metrics,
    with_gaps,
)
from bijmantra.domain.tenancy.storage import Standing, StoredResource
from bijmantra.kernel import Conflict, NotFound, Page, PageRequest, Principal, TenantId
from bijmantra.testkit.fakes import Documents, FakeResourceStore
from bijmantra.testkit.storage_fakes import StorageCapTables
from bijmantra.testkit.transaction import FakeTransaction

TABLES = (
    "profiles",
    "devices",
    "readings",
    "rollups",
    "rules",
    "alerts",
    "presence_reports",
)
_RESOLUTIONS = (Resolution.MINUTE, Resolution.HOUR, Resolution.DAY)


@dataclass
class SensorTables:
    """Every tenant's rows; a unit of work sees only its tenant's, like row-level security."""

    profiles: dict[tuple[TenantId, str], DeviceProfile] = field(default_factory=dict)
    devices: dict[tuple[TenantId, str], Device] = field(default_factory=dict)
    readings: dict[tuple[TenantId, str, str, datetime], float] = field(default_factory=dict)
    rollups: dict[tuple[TenantId, str, str, str, datetime], Bucket] = field(default_factory=dict)
    rules: dict[tuple[TenantId, str], AlertRule] = field(default_factory=dict)
    alerts: dict[tuple[TenantId, str], Alert] = field(default_factory=dict)
    presence_reports: dict[tuple[TenantId, str], PresenceChange] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    # The breeding records a device's placement names (read only here): ``place`` adds one.
    documents: Documents = field(default_factory=dict)
    # The limit of enrolled devices (ADR 0361): the deployment's and an operator's per tenant.
    caps: StorageCapTables = field(default_factory=StorageCapTables)

    def place(self, tenant: TenantId, entity: str, db_id: str) -> str:
        """A ``location`` or ``study`` of ``tenant`` a device may be placed at; its id."""
        self.documents[(tenant, entity, db_id)] = msgspec.json.encode({f"{entity}DbId": db_id})
        return db_id


def _fold(old: Bucket | None, value: float, start: datetime) -> Bucket:
    if old is None:
        return Bucket(start, value, value, value, 1)
    return Bucket(
        start,
        min(old.minimum, value),
        max(old.maximum, value),
        old.total + value,
        old.count + 1,
    )


class FakeSensorStore:
    def __init__(self, tables: SensorTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant

    async def add_profile(self, profile: DeviceProfile) -> None:
        if any(
            p.name == profile.name for (t, _), p in self._t.profiles.items() if t == self._tenant
        ):
            raise Conflict(f"A device profile named {profile.name!r} exists")
        self._t.profiles[(self._tenant, profile.profile_id)] = profile

    async def profile(self, profile_id: str) -> DeviceProfile | None:
        return self._t.profiles.get((self._tenant, profile_id))

    async def profiles(self) -> list[DeviceProfile]:
        mine = [p for (t, _), p in self._t.profiles.items() if t == self._tenant]
        return sorted(mine, key=lambda p: p.name)

    async def profile_count(self) -> int:
        return len(await self.profiles())

    async def add_device(self, device: Device) -> None:
        assert device.tenant_id == self._tenant, "row-level security would reject this"
        self._t.devices[(self._tenant, device.device_id)] = device

    async def save_device(self, device: Device) -> None:
        if (self._tenant, device.device_id) in self._t.devices:
            self._t.devices[(self._tenant, device.device_id)] = device

    async def device(self, device_id: str, *, for_update: bool = False) -> Device | None:
        return self._t.devices.get((self._tenant, device_id))

    async def record_presence(self, device_id: str, change: PresenceChange) -> None:
        key = (self._tenant, device_id)
        if (device := self._t.devices.get(key)) is not None:
            self._t.devices[key] = replace(device, reported=change)

    async def device_and_profile(
        self, device_id: str, *, for_update: bool = False
    ) -> tuple[Device, DeviceProfile] | None:
        device = await self.device(device_id)
        profile = await self.profile(device.profile_id) if device is not None else None
        return (device, profile) if device is not None and profile is not None else None

    async def device_for_batch(
        self, device_id: str
    ) -> tuple[Device, DeviceProfile, frozenset[str]] | None:
        found = await self.device_and_profile(device_id, for_update=True)
        if found is None:
            return None
        device, profile = found
        rules = FakeAlertStore(self._t, self._tenant).rules_for(device_id, device.profile_id)
        return device, profile, followed_metrics(await rules)

    async def devices_can_connect(self) -> bool:
        return any(d.state in CONNECTABLE for d in self._mine())

    def _mine(self) -> list[Device]:
        return sorted(
            (d for (t, _), d in self._t.devices.items() if t == self._tenant),
            key=lambda d: d.device_id,
        )

    async def devices(self, page: PageRequest, ids: Sequence[str] = ()) -> Page[Device]:
        mine = [d for d in self._mine() if not ids or d.device_id in ids]
        return Page(mine[page.offset : page.offset + page.page_size], page, len(mine))

    async def devices_placed(self, study_db_id: str, location_db_id: str | None) -> list[Device]:
        return [
            d
            for d in self._mine()
            if d.placement.study_db_id == study_db_id
            or (location_db_id is not None and d.placement.location_db_id == location_db_id)
        ]

    async def store_readings(self, device_id: str, readings: Sequence[ReadingLike]) -> int:
        new = 0
        for r in readings:
            key = (self._tenant, device_id, r.metric, r.at)
            if key in self._t.readings:
                continue
            self._t.readings[key] = r.value
            new += 1
            for res in _RESOLUTIONS:
                start = bucket_start(r.at, res)
                rk = (self._tenant, device_id, r.metric, res.value, start)
                self._t.rollups[rk] = _fold(self._t.rollups.get(rk), r.value, start)
        return new

    async def raw(self, device_id: str, metric: str, window: Window, limit: int) -> list[Reading]:
        found = sorted(
            (
                Reading(m, at, v)
                for (t, d, m, at), v in self._t.readings.items()
                if (t, d, m) == (self._tenant, device_id, metric)
                and window.start <= at < window.end
            ),
            key=lambda reading: reading.at,
        )
        return found[:limit]

    async def around(
        self, device_id: str, metric: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        found = sorted(
            (at, v)
            for (t, d, m, at), v in self._t.readings.items()
            if (t, d, m) == (self._tenant, device_id, metric)
        )
        before = [r for r in found if r[0] < start][-1:]
        inside = [r for r in found if start <= r[0] <= end][:limit]
        after = [r for r in found if r[0] > end][:1]
        return [Reading(metric, at, v) for at, v in before + inside + after]

    async def series(self, device_id: str, metric: str, window: Window) -> bytes:
        points = [
            {"time": at.isoformat(), "min": None, "max": None, "mean": None, "count": 0}
            if b is None
            else {
                "time": at.isoformat(),
                "min": b.minimum,
                "max": b.maximum,
                "mean": b.mean,
                "count": b.count,
            }
            for at, b in with_gaps(window, self._buckets(device_id, metric, window))
        ]
        return msgspec.json.encode(points)

    def _buckets(self, device_id: str, metric: str, window: Window) -> list[Bucket]:
        key = (self._tenant, device_id, metric, window.resolution.value)
        return sorted(
            (
                b
                for (*k, start), b in self._t.rollups.items()
                if tuple(k) == key and window.start <= start < window.end
            ),
            key=lambda b: b.start,
        )

    async def daily(
        self, device_ids: Sequence[str], metric: str, first: date, last: date
    ) -> dict[date, Bucket]:
        out: dict[date, Bucket] = {}
        for (t, d, m, res, start), b in self._t.rollups.items():
            day = start.astimezone(UTC).date()
            if t != self._tenant or d not in device_ids or m != metric or res != "1d":
                continue
            if not first <= day <= last:
                continue
            old = out.get(day)
            out[day] = (
                b
                if old is None
                else Bucket(
                    old.start,
                    min(old.minimum, b.minimum),
                    max(old.maximum, b.maximum),
                    old.total + b.total,
                    old.count + b.count,
                )
            )
        return out


class FakeAlertStore:
    def __init__(self, tables: SensorTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant

    async def add_rule(self, rule: AlertRule) -> None:
        assert rule.tenant_id == self._tenant, "row-level security would reject this"
        self._t.rules[(self._tenant, rule.rule_id)] = rule

    async def rule(self, rule_id: str) -> AlertRule | None:
        return self._t.rules.get((self._tenant, rule_id))

    async def rules(self) -> list[AlertRule]:
        return sorted(
            (r for (t, _), r in self._t.rules.items() if t == self._tenant),
            key=lambda r: r.rule_id,
        )

    async def rule_count(self) -> int:
        return len(await self.rules())

    async def rules_for(self, device_id: str, profile_id: str) -> list[AlertRule]:
        return [r for r in await self.rules() if r.applies_to(device_id, profile_id)]

    async def add_alert(self, alert: Alert) -> bool:
        assert alert.tenant_id == self._tenant, "row-level security would reject this"
        if (self._tenant, alert.alert_id) in self._t.alerts:
            return False
        self._t.alerts[(self._tenant, alert.alert_id)] = alert
        return True

    async def opened_between(
        self, rule_id: str, device_id: str, window: tuple[datetime, datetime]
    ) -> bool:
        return any(
            window[0] < a.opened_at < window[1]
            for (t, _), a in self._t.alerts.items()
            if t == self._tenant and (a.rule_id, a.device_id) == (rule_id, device_id)
        )

    async def first_presence_report(self, report_id: str, change: PresenceChange) -> bool:
        if (self._tenant, report_id) in self._t.presence_reports:
            return False
        self._t.presence_reports[(self._tenant, report_id)] = change
        return True

    async def alert(self, alert_id: str, *, for_update: bool = False) -> Alert | None:
        return self._t.alerts.get((self._tenant, alert_id))

    async def save_alert(self, alert: Alert) -> None:
        if (self._tenant, alert.alert_id) in self._t.alerts:
            self._t.alerts[(self._tenant, alert.alert_id)] = alert

    async def alerts(self, page: PageRequest, status: AlertStatus | None) -> Page[Alert]:
        mine = sorted(
            (
                a
                for (t, _), a in self._t.alerts.items()
                if t == self._tenant and (status is None or a.status is status)
            ),
            key=lambda a: (a.opened_at, a.alert_id),
            reverse=True,
        )
        return Page(mine[page.offset : page.offset + page.page_size], page, len(mine))


class FakeEnrolledDevices:
    """The ``StorageReader`` of the sensors fake: the tenant's devices not revoked, in the
    unit of work's own view, against ``SensorTables.caps`` (nothing checked at commit)."""

    def __init__(self, tables: SensorTables, tenant: TenantId) -> None:
        self._t, self._tenant = tables, tenant

    async def standing(self, resource: StoredResource) -> Standing | None:
        deployment = self._t.caps.caps.get(resource)
        if deployment is None or resource is not StoredResource.ENROLLED_DEVICES:
            return None
        cap = self._t.caps.own.get((self._tenant, resource), deployment)
        used = sum(
            1
            for (tenant, _), device in self._t.devices.items()
            if tenant == self._tenant and device.state is not EnrolmentState.REVOKED
        )
        return Standing(resource, used, cap)


class FakeSensorsUnitOfWork(FakeTransaction[SensorTables]):
    """Works on a copy of the tables; ``commit`` swaps it in (no commit: nothing changed)."""

    checks_tenant = True
    sensors: FakeSensorStore
    alerts: FakeAlertStore
    resources: FakeResourceStore
    storage: FakeEnrolledDevices

    def _open(self) -> None:
        self._work = copy.copy(self._tables)
        for name in TABLES:
            setattr(self._work, name, dict(getattr(self._tables, name)))
        self.sensors = FakeSensorStore(self._work, self.tenant_id)
        self.alerts = FakeAlertStore(self._work, self.tenant_id)
        self.resources = FakeResourceStore(self._tables.documents, self.tenant_id)
        self.storage = FakeEnrolledDevices(self._work, self.tenant_id)

    async def commit(self) -> None:
        for name in TABLES:
            setattr(self._tables, name, getattr(self._work, name))
        self._tables.events.extend(self._take_events())


def fake_sensors_unit_of_work_factory(
    tables: SensorTables,
) -> Callable[[TenantId], FakeSensorsUnitOfWork]:
    return lambda tenant: FakeSensorsUnitOfWork(tables, tenant)


@dataclass
class SettableClock:
    """A clock tests move by hand."""

    at: datetime

    def now(self) -> datetime:
        return self.at

    def advance(self, by: timedelta) -> None:
        self.at += by


@dataclass
class FakeStudyPlaces:
    """``StudyPlaces`` over a table of studies (unknown: ``NotFound``, as the core context)."""

    studies: dict[tuple[TenantId, str], StudyPlace] = field(default_factory=dict)

    async def __call__(self, principal: Principal, study_db_id: str) -> StudyPlace:
        found = self.studies.get((principal.tenant_id, study_db_id))
        if found is None:
            raise NotFound(f"Study {study_db_id} not found")
        return found


async def place_to_put_devices(
    units: Callable[[TenantId], SensorsUnitOfWork], tenant: TenantId, entity: str, db_id: str
) -> str:
    """A ``location`` or ``study`` of ``tenant``, stored through ``units`` (any store), for a
    device to be placed at: registration refuses a place the organization does not have."""
    async with units(tenant) as uow:
        await uow.resources.insert(entity, [(db_id, {f"{entity}DbId": db_id})])
        await uow.commit()
    return db_id
