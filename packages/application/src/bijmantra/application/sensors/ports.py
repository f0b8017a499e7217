"""What the sensors use cases need from storage: one port, one unit of work per tenant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bijmantra.application.ports.documents import ResourceStore
from bijmantra.application.ports.storage import StorageReader
from bijmantra.application.ports.transaction import Transaction
from bijmantra.domain.sensors import (
    Alert,
    AlertRule,
    AlertStatus,
    Bucket,
    Device,
    DeviceProfile,
    PresenceChange,
    Reading,
    ReadingLike,
    Window,
)
from bijmantra.kernel import Page, PageRequest, Principal, TenantId


class SensorStore(Protocol):
    """Profiles, devices and readings of one tenant (row-level security in PostgreSQL)."""

    async def add_profile(self, profile: DeviceProfile) -> None:
        """Raise ``Conflict`` when the tenant already has a profile of that name."""
        ...

    async def profile(self, profile_id: str) -> DeviceProfile | None: ...

    async def profiles(self) -> list[DeviceProfile]: ...

    async def profile_count(self) -> int:
        """How many profiles the organization has. Holds its profiles until commit, so that
        concurrent creations count and add one after another (the bound holds)."""
        ...

    async def add_device(self, device: Device) -> None: ...

    async def device(self, device_id: str, *, for_update: bool = False) -> Device | None: ...

    async def device_and_profile(
        self, device_id: str, *, for_update: bool = False
    ) -> tuple[Device, DeviceProfile] | None:
        """The device and its profile (never deleted while a device names it), or None."""
        ...

    async def device_for_batch(
        self, device_id: str
    ) -> tuple[Device, DeviceProfile, frozenset[str]] | None:
        """What a telemetry batch needs before it is stored, in one round trip: the device
        (locked until commit), its profile and the metrics its alert rules follow reading by
        reading (``followed_metrics`` of the rules that apply to it); None when unknown."""
        ...

    async def devices(self, page: PageRequest, ids: Sequence[str] = ()) -> Page[Device]:
        """One page of the organization's devices; with ``ids``, only those of them."""
        ...

    async def devices_placed(self, study_db_id: str, location_db_id: str | None) -> list[Device]:
        """Devices placed in the study, or (when given) at its location."""
        ...

    async def save_device(self, device: Device) -> None: ...

    async def devices_can_connect(self) -> bool:
        """Whether a device of the organization holds a credential (claimed or commissioned).
        When none does, holds its other devices and its registrations until the unit of work
        ends, so that none comes to meanwhile (a claim or a registration waits): the device
        edge reclaims the organization's stream in that time (ADR 0386)."""
        ...

    async def record_presence(self, device_id: str, change: PresenceChange) -> None:
        """The device's status becomes ``change``: the worker's reports arrive one at a time
        per device, in the order it decided them (ADR 0306); ``save_device`` never writes it."""
        ...

    async def store_readings(self, device_id: str, readings: Sequence[ReadingLike]) -> int:
        """Insert readings not stored yet (idempotent on device, metric, time) and fold the new
        ones into the 1m/1h/1d rollups in the same transaction; return how many were new."""
        ...

    async def raw(self, device_id: str, metric: str, window: Window, limit: int) -> list[Reading]:
        """Readings in ``[window.start, window.end)`` by time, at most ``limit``."""
        ...

    async def around(
        self, device_id: str, metric: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        """Readings in ``[start, end]`` by time (at most ``limit``) and the nearest one on
        each side: the neighbours a late batch is judged among (ADR 0380)."""
        ...

    async def series(self, device_id: str, metric: str, window: Window) -> bytes:
        """A JSON array with one object per bucket start of the window, in order:
        ``{time, min, max, mean, count}`` from the rollups, and for a bucket without readings
        (a gap) nulls and ``count`` 0 — the rule of ``domain.sensors.with_gaps``. Encoded by
        the store: a year at 1 h is 8,760 points, too many to build one by one in Python."""
        ...

    async def daily(
        self, device_ids: Sequence[str], metric: str, first: date, last: date
    ) -> dict[date, Bucket]:
        """Per UTC day, the 1d rollups of ``metric`` merged across devices."""
        ...


class AlertStore(Protocol):
    """Alert rules and alerts of one tenant (evaluation state is the worker's, ADR 0290)."""

    async def add_rule(self, rule: AlertRule) -> None: ...

    async def rule(self, rule_id: str) -> AlertRule | None: ...

    async def rules(self) -> list[AlertRule]: ...

    async def rule_count(self) -> int:
        """How many rules the organization has. Holds its rules until commit, so that
        concurrent creations count and add one after another (the bound holds)."""
        ...

    async def rules_for(self, device_id: str, profile_id: str) -> list[AlertRule]: ...

    async def add_alert(self, alert: Alert) -> bool:
        """Store a new alert; False (nothing stored) when its id is stored already."""
        ...

    async def opened_between(
        self, rule_id: str, device_id: str, window: tuple[datetime, datetime]
    ) -> bool:
        """Whether an alert of this rule and device opened strictly inside ``window``. Holds
        the pair until commit, so that concurrent openings of one pair take turns."""
        ...

    async def first_presence_report(self, report_id: str, change: PresenceChange) -> bool:
        """Remember a presence report (in the domain inbox); False when it was made before."""
        ...

    async def alert(self, alert_id: str, *, for_update: bool = False) -> Alert | None: ...

    async def save_alert(self, alert: Alert) -> None: ...

    async def alerts(self, page: PageRequest, status: AlertStatus | None) -> Page[Alert]: ...


class SensorsUnitOfWork(Transaction, Protocol):
    @property
    def sensors(self) -> SensorStore: ...

    @property
    def resources(self) -> ResourceStore:
        """The organization's breeding records, read to check the places a device names."""
        ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def storage(self) -> StorageReader:
        """How many devices the organization has enrolled, and its limit (ADR 0361)."""
        ...


SensorsUnitOfWorkFactory = Callable[[TenantId], SensorsUnitOfWork]


@dataclass(frozen=True, slots=True)
class StudyPlace:
    location_db_id: str | None
    start: date | None
    end: date | None


class StudyPlaces(Protocol):
    """Where and when a study runs; the core context answers (``NotFound`` if unknown)."""

    async def __call__(self, principal: Principal, study_db_id: str) -> StudyPlace: ...
