"""Ports: what the use cases need from the outside world, as structural protocols.

Adapters (PostgreSQL, NATS, Redis, gRPC) implement them; ``bijmantra.testkit`` has an
in-memory fake of each so use cases are tested without servers. The stores of the unit of
work and the values that cross them live in this package's modules, below every context:
contexts import ports, never the other way round (``.importlinter``: acyclic siblings).
Ports that one context alone uses live in that context (``events.ports``, ``compliance.ports``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from bijmantra.application.ports.analysis import AnalysisRepository, Artifact, ResultIndex
from bijmantra.application.ports.distribution import DistributionStore
from bijmantra.application.ports.documents import ResourceStore
from bijmantra.application.ports.genotypes import (
    GenotypeBlock,
    GenotypeStore,
    GenotypeUpload,
    VariantSetWriter,
)
from bijmantra.application.ports.operations import OperationsRepository
from bijmantra.domain import DomainEvent
from bijmantra.kernel import Principal, TenantId


class UnitOfWork(Protocol):
    """One transaction in one tenant's row-level-security context."""

    resources: ResourceStore
    genotypes: GenotypeStore
    analyses: AnalysisRepository
    distribution: DistributionStore
    operations: OperationsRepository

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


UnitOfWorkFactory = Callable[[TenantId], UnitOfWork]


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """Return the verified caller or raise ``Unauthorized``."""
        ...


__all__ = [
    "AnalysisRepository",
    "Artifact",
    "DistributionStore",
    "GenotypeBlock",
    "GenotypeStore",
    "GenotypeUpload",
    "OperationsRepository",
    "ResourceStore",
    "ResultIndex",
    "TokenVerifier",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "VariantSetWriter",
]
