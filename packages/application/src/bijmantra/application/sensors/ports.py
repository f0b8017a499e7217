"""What the sensors use cases need from storage: one port, one unit of work per tenant."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Protocol, Self

from bijmantra.domain import DomainEvent
from bijmantra.domain.sensors import Bucket, Device, DeviceProfile, Reading, Window
from bijmantra.kernel import Page, PageRequest, Principal, TenantId


class SensorStore(Protocol):
    """Profiles, devices and readings of one tenant (row-level security in PostgreSQL)."""

    async def add_profile(self, profile: DeviceProfile) -> None:
        """Raise ``Conflict`` when the tenant already has a profile of that name."""
        ...

    async def profile(self, profile_id: str) -> DeviceProfile | None: ...

    async def profiles(self) -> list[DeviceProfile]: ...

    async def add_device(self, device: Device) -> None: ...

    async def device(self, device_id: str, *, for_update: bool = False) -> Device | None: ...

    async def devices(self, page: PageRequest) -> Page[Device]: ...

    async def devices_placed(self, study_db_id: str, location_db_id: str | None) -> list[Device]:
        """Devices placed in the study, or (when given) at its location."""
        ...

    async def save_device(self, device: Device) -> None: ...

    async def store_readings(self, device_id: str, readings: Sequence[Reading]) -> int:
        """Insert readings not stored yet (idempotent on device, metric, time) and fold the new
        ones into the 1m/1h/1d rollups in the same transaction; return how many were new."""
        ...

    async def raw(self, device_id: str, metric: str, window: Window, limit: int) -> list[Reading]:
        """Readings in ``[window.start, window.end)`` by time, at most ``limit``."""
        ...

    async def buckets(self, device_id: str, metric: str, window: Window) -> list[Bucket]:
        """Stored rollup buckets of the window's resolution, by start."""
        ...

    async def daily(
        self, device_ids: Sequence[str], metric: str, first: date, last: date
    ) -> dict[date, Bucket]:
        """Per UTC day, the 1d rollups of ``metric`` merged across devices."""
        ...


class SensorsUnitOfWork(Protocol):
    sensors: SensorStore

    def record(self, event: DomainEvent) -> None: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


SensorsUnitOfWorkFactory = Callable[[TenantId], SensorsUnitOfWork]


@dataclass(frozen=True, slots=True)
class StudyPlace:
    location_db_id: str | None
    start: date | None
    end: date | None


class StudyPlaces(Protocol):
    """Where and when a study runs; the core context answers (``NotFound`` if unknown)."""

    async def __call__(self, principal: Principal, study_db_id: str) -> StudyPlace: ...
