"""What every unit of work is: one transaction in one organization's row-level-security
context, whose recorded events reach the outbox with its commit."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self

from bijmantra.domain import DomainEvent


class Transaction(Protocol):
    def record(self, event: DomainEvent) -> None:
        """Queue an event; ``commit`` writes it to the outbox in the same transaction."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None:
        """Write pending domain events to the outbox, then commit everything at once."""
        ...


@dataclass(slots=True)
class KeyedRequest:
    """A write request sent with an ``Idempotency-Key`` (its scoped record, ADR 0336).

    The first commit with events in the request records ``key`` in that same transaction;
    a later request with the same key finds it and is refused (409): its first run committed
    and only the answer was lost (the service died between commit and reply)."""

    key: str
    recorded: bool = False
