"""The shape most use cases share: the member's permission checked, then one unit of work of
the member's organization per call, and the clock they read time from (ADR 0309)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.documents import ResourceStore
from bijmantra.application.ports.storage import StorageReader
from bijmantra.application.ports.transaction import Transaction
from bijmantra.application.security import Permission, authorize
from bijmantra.domain import DomainEvent
from bijmantra.domain.tenancy.quotas import Resource, early_refusal, period_of
from bijmantra.domain.tenancy.storage import StoredResource, storage_refusal
from bijmantra.kernel import Clock, NotFound, Principal, SystemClock, TenantId
from bijmantra.kernel.errors import FieldError, Unprocessable

Unit = TypeVar("Unit", bound=Transaction)
Record = TypeVar("Record")


def organization_unit(
    units: Callable[[TenantId], Unit], principal: Principal, needed: Permission
) -> Unit:
    """The unit of work of ``principal``'s organization, once ``principal`` holds ``needed``.

    ``async with organization_unit(self.uow, principal, READ) as uow:`` — the permission is
    checked when the expression is evaluated, so ``Forbidden`` is raised before any transaction
    opens. ``units`` is any context's factory (the main, sensors, exports or tenancy unit).
    """
    authorize(principal, needed)
    return units(principal.tenant_id)


def existing(record: Record | None, missing: str) -> Record:
    """``record``, or ``NotFound`` ("``missing`` not found", 404) when the organization's unit of
    work has none — another organization's record included, which row-level security hides."""
    if record is None:
        raise NotFound(f"{missing} not found")
    return record


_LOOKED_UP_AT_ONCE = 1_000  # ids of one list looked up per statement
_UNKNOWN_SHOWN = 20  # unknown ids a refusal names


async def records_exist(
    resources: ResourceStore,
    named: Sequence[tuple[str, str, str | None]],
    listed: Sequence[tuple[str, str, Sequence[str]]] = (),
) -> None:
    """Each ``(field, entity, id)`` a body names (``None``: not named), and each id of the
    ``(field, entity, ids)`` lists it names, is a record of the unit of work's organization:
    422 naming the fields that are not (ADR 0325, 0378). A body's reference to another
    organization's record reads as unknown, like a mistyped one."""
    asked = [*((name, entity, [i]) for name, entity, i in named if i is not None), *listed]
    problems = [
        FieldError(field_name, f"unknown {entity} {db_id!r}")
        for field_name, entity, ids in asked
        for db_id in await _unknown(resources, entity, ids)
    ]
    if problems:
        raise Unprocessable(
            "Referenced entities not found in this organization", problems[:_UNKNOWN_SHOWN]
        )


async def _unknown(resources: ResourceStore, entity: str, ids: Sequence[str]) -> list[str]:
    wanted = sorted(set(ids))
    found: set[str] = set()
    for start in range(0, len(wanted), _LOOKED_UP_AT_ONCE):
        found |= (
            await resources.documents(entity, wanted[start : start + _LOOKED_UP_AT_ONCE])
        ).keys()
    return [i for i in wanted if i not in found]


async def refuse_used_up(
    uow: UnitOfWork, resource: Resource, now: datetime, known: int = 0
) -> None:
    """Raise the quota's 429 before a heavy write does its work (an import streams, an upload
    is stored, an analysis is queued) when the organization's day of ``resource`` is used up,
    or ``known`` would pass it (ADR 0340). One read in ``uow``; the commit's charge decides."""
    standing = await uow.usage.standing(resource, period_of(now))
    if (refusal := early_refusal(standing, now, known)) is not None:
        raise refusal


class StoringUnit(Protocol):
    """A unit of work that can say what its organization stores (``UnitOfWork``,
    ``SensorsUnitOfWork``)."""

    @property
    def storage(self) -> StorageReader: ...


async def refuse_full(uow: StoringUnit, resource: StoredResource, incoming: int = 1) -> None:
    """Raise ``storage_full`` (409) before a heavy write does its work when ``incoming`` more
    of ``resource`` (1 where the amount is not known yet: what it stores at least) would pass
    what the organization may keep (ADR 0343). One read of its stored rows in ``uow``; the
    commit reads them again with the write's own."""
    standing = await uow.storage.standing(resource)
    if standing is not None and (refusal := storage_refusal(standing, incoming)) is not None:
        raise refusal


@dataclass
class ClockedUseCase(Generic[Unit]):
    """Base of a use case that opens one unit of work per call (``ClockedUseCase[UnitOfWork]``,
    ``ClockedUseCase[SensorsUnitOfWork]``, …) and stamps what it writes with ``clock`` (a fixed
    clock in tests, the system clock otherwise)."""

    uow: Callable[[TenantId], Unit]
    clock: Clock = field(default_factory=SystemClock)


@dataclass(frozen=True)
class ContextEvents:
    """Records ``<context>.<name>``: what a signed-in caller did, through the outbox of the
    write's own transaction."""

    context: str

    def record(
        self,
        uow: UnitOfWork,
        principal: Principal,
        name: str,
        aggregate_id: str,
        data: dict[str, Any],
        at: datetime,
    ) -> None:
        uow.record(DomainEvent.done_by(principal, f"{self.context}.{name}", aggregate_id, data, at))
