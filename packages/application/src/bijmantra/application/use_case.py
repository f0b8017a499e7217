"""The shape most use cases share: a unit of work per call and the clock they read time from."""

from __future__ import annotations

from dataclasses import dataclass, field

from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.kernel import Clock, SystemClock


@dataclass
class ClockedUseCase:
    """Base of a use case that opens one unit of work per call and stamps what it writes with
    ``clock`` (a fixed clock in tests, the system clock otherwise)."""

    uow: UnitOfWorkFactory
    clock: Clock = field(default_factory=SystemClock)
