"""The shape most use cases share: a unit of work per call and the clock they read time from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.domain import DomainEvent
from bijmantra.kernel import Clock, Principal, SystemClock


@dataclass
class ClockedUseCase:
    """Base of a use case that opens one unit of work per call and stamps what it writes with
    ``clock`` (a fixed clock in tests, the system clock otherwise)."""

    uow: UnitOfWorkFactory
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
