"""Ports: what the use cases need from the outside world, as structural protocols.

Adapters (PostgreSQL, NATS, Redis, gRPC) implement them; ``bijmantra.testkit`` has an
in-memory fake of each so use cases are tested without servers. The stores of the unit of
work and the values that cross them live in this package's modules, below every context:
contexts import ports, never the other way round (``.importlinter``: acyclic siblings).
Ports that one context alone uses live in that context (``events.ports``, ``compliance.ports``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

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
from bijmantra.application.ports.storage import StorageReader
from bijmantra.application.ports.transaction import Transaction
from bijmantra.application.ports.usage import UsageReader
from bijmantra.kernel import Principal, TenantId


class UnitOfWork(Transaction, Protocol):
    """One transaction in one tenant's row-level-security context."""

    @property
    def resources(self) -> ResourceStore: ...

    @property
    def genotypes(self) -> GenotypeStore: ...

    @property
    def analyses(self) -> AnalysisRepository: ...

    @property
    def distribution(self) -> DistributionStore: ...

    @property
    def operations(self) -> OperationsRepository: ...

    @property
    def usage(self) -> UsageReader: ...

    @property
    def storage(self) -> StorageReader: ...


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
    "StorageReader",
    "TokenVerifier",
    "Transaction",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UsageReader",
    "VariantSetWriter",
]
