"""Ports: what the use cases need from the outside world, as structural protocols.

Adapters (PostgreSQL, NATS, Redis, gRPC) implement them; ``bijmantra.testkit`` has an
in-memory fake of each so use cases are tested without servers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from bijmantra.domain import DomainEvent
from bijmantra.domain.germplasm import Germplasm
from bijmantra.kernel import Page, PageRequest, Principal, TenantId

if TYPE_CHECKING:
    from bijmantra.application.events.envelope import EventEnvelope
    from bijmantra.application.germplasm.queries import GermplasmFilter


class GermplasmRepository(Protocol):
    """Write side: aggregates in, aggregates out (tenant comes from the unit of work)."""

    def add(self, germplasm: Germplasm) -> None: ...

    async def get(self, germplasm_db_id: str) -> Germplasm | None: ...

    async def existing_ids(self, germplasm_db_ids: Sequence[str]) -> set[str]: ...


class GermplasmReadModel(Protocol):
    """Read side: BrAPI ``Germplasm`` documents as JSON bytes, ready for the edge."""

    async def get_document(self, germplasm_db_id: str) -> bytes | None: ...

    async def list_documents(
        self, criteria: GermplasmFilter, page: PageRequest
    ) -> Page[bytes]: ...


class UnitOfWork(Protocol):
    """One transaction in one tenant's row-level-security context."""

    germplasm: GermplasmRepository
    germplasm_views: GermplasmReadModel

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


UnitOfWorkFactory = Callable[[TenantId], UnitOfWork]


class OutboxBatch(Protocol):
    """Events claimed by one relay; the claim lasts until the ``claim`` context exits."""

    envelopes: list[EventEnvelope]

    async def mark_published(self, event_ids: Sequence[str]) -> None: ...


class OutboxStore(Protocol):
    """Unpublished events, claimed so that several relays never publish the same row twice."""

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]: ...


class EventPublisher(Protocol):
    async def publish_batch(self, envelopes: Sequence[EventEnvelope]) -> list[str]:
        """Publish and wait for acks; return the ids that the stream acknowledged."""
        ...


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """Return the verified caller or raise ``Unauthorized``."""
        ...


class EventRecorder(Protocol):
    """What a consumer uses to make its effects idempotent."""

    async def first_time(self, consumer: str, event: DomainEvent) -> bool: ...
