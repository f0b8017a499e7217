"""Ports: what the use cases need from the outside world, as structural protocols.

Adapters (PostgreSQL, NATS, Redis, gRPC) implement them; ``bijmantra.testkit`` has an
in-memory fake of each so use cases are tested without servers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from bijmantra.application.brapi.ports import ResourceStore
from bijmantra.domain import DomainEvent
from bijmantra.domain.analysis import AnalysisJob
from bijmantra.domain.genotyping import VariantSet
from bijmantra.kernel import Page, PageRequest, Principal, TenantId

if TYPE_CHECKING:
    from bijmantra.application.analysis.dto import Artifact, ResultIndex
    from bijmantra.application.compliance.chain import AuditEntry, ChainHead
    from bijmantra.application.distribution.ports import DistributionStore
    from bijmantra.application.events.envelope import EventEnvelope, OutboxRecord
    from bijmantra.application.genotyping.dto import CallChunk, GenotypeChunk, StoredVariantSet
    from bijmantra.application.genotyping.views import (
        CallSetRow,
        GenotypeFilter,
        VariantRow,
        VariantSetRow,
    )
    from bijmantra.application.operations.ports import OperationsRepository


class GenotypeBlock(Protocol):
    """Consecutive variants of an import; ``dosages`` is an int8 (variants x samples) array."""

    @property
    def chrom(self) -> list[str]: ...

    @property
    def pos(self) -> Any: ...

    @property
    def ids(self) -> list[str]: ...

    @property
    def ref(self) -> list[str]: ...

    @property
    def alt(self) -> list[str]: ...

    @property
    def dosages(self) -> Any: ...

    @property
    def calls(self) -> Any:
        """A ``CallBlock`` beside the dosages, or None when the dosages are the calls."""

    def __len__(self) -> int: ...


class GenotypeUpload(Protocol):
    """A genotype file being received and parsed: samples first, then variant blocks."""

    @property
    def skipped(self) -> Mapping[str, int]: ...

    async def sample_names(self) -> list[str]: ...

    def blocks(self) -> AsyncIterator[GenotypeBlock]: ...


class VariantSetWriter(Protocol):
    async def append(self, block: GenotypeBlock) -> None: ...

    async def close(self) -> int:
        """Write what is buffered; return the number of variants stored."""
        ...


class GenotypeStore(Protocol):
    """Variant sets whose calls are stored as compressed dosage chunks, never one row per call."""

    async def create(self, variant_set: VariantSet) -> VariantSetWriter: ...

    async def seal(self, variant_set: VariantSet) -> None: ...

    async def get(self, variant_set_db_id: str) -> StoredVariantSet | None: ...

    def read(
        self,
        variant_set_db_id: str,
        columns: Sequence[int] | None,
        *,
        packed: bool = False,
        variants: bool = True,
    ) -> AsyncIterator[GenotypeChunk]:
        """Chunks in variant order; ``columns`` selects (and orders) samples, None = all.

        ``packed``: the reader decodes 2-bit codes itself, so chunks may travel encoded
        (codec ``2bit``); otherwise they are raw int8. ``variants=False``: the reader needs
        dosages only, so chunks carry no chrom/pos/ids (not even read from the database)."""
        ...

    def read_calls(
        self, variant_set_db_id: str, start: int, stop: int, columns: Sequence[int] | None
    ) -> AsyncIterator[CallChunk]:
        """The calls of variants ``start`` to ``stop`` (exclusive), chunk by chunk, with the
        variants' fixed columns; ``columns`` as for :meth:`read`."""
        ...

    async def variant_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[VariantSetRow], int]:
        """Matching variant sets in import order, and how many match."""
        ...

    async def call_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[CallSetRow], int]:
        """Matching call sets by variant set (import order) and column, and how many match."""
        ...

    async def variant_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[VariantRow], int]:
        """Matching variants by variant set and index, and how many match."""
        ...

    async def flush(self) -> list[DomainEvent]: ...


class AnalysisRepository(Protocol):
    def add(self, job: AnalysisJob) -> None: ...

    async def get(self, analysis_db_id: str, *, for_update: bool = False) -> AnalysisJob | None: ...

    def save(self, job: AnalysisJob) -> None: ...

    async def store_results(
        self, analysis_db_id: str, tables: Mapping[str, bytes], artifacts: Sequence[Artifact]
    ) -> None:
        """Artifacts whose ``data`` is None are stored as pending figures."""
        ...

    async def attach(self, analysis_db_id: str, figures: Sequence[Artifact]) -> int:
        """Fill pending figures with their data; returns how many were still pending."""
        ...

    async def result_index(self, analysis_db_id: str) -> ResultIndex: ...

    async def result_page(
        self, analysis_db_id: str, table: str, page: PageRequest
    ) -> Page[bytes] | None: ...

    async def artifact(self, analysis_db_id: str, name: str) -> Artifact | None: ...

    async def flush(self) -> list[DomainEvent]: ...


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


class OutboxBatch(Protocol):
    """Events claimed by one relay; the claim lasts until the ``claim`` context exits."""

    records: list[OutboxRecord]

    async def mark_published(self, event_ids: Sequence[str]) -> None: ...


class OutboxStore(Protocol):
    """Unpublished events, claimed so that several relays never publish the same row twice."""

    def claim(self, limit: int) -> AbstractAsyncContextManager[OutboxBatch]: ...


class EventPublisher(Protocol):
    async def publish_batch(self, records: Sequence[OutboxRecord]) -> list[str]:
        """Publish in order and wait for acks; return the ids the stream acknowledged."""
        ...


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal:
        """Return the verified caller or raise ``Unauthorized``."""
        ...


class AuditStore(Protocol):
    """The append-only audit trail of one service's schema (tenant-scoped reads)."""

    async def append(self, consumer: str, event: EventEnvelope, envelope: bytes) -> bool:
        """Append once per event (False when ``consumer`` already recorded it)."""
        ...

    async def append_many(
        self, consumer: str, events: Sequence[tuple[EventEnvelope, bytes]]
    ) -> int:
        """Append a batch atomically, skipping recorded events; return how many were new."""
        ...

    async def page(
        self, tenant_id: TenantId, page: PageRequest, *, resource: str | None = None
    ) -> Page[AuditEntry]:
        """Entries in position order; with ``resource``, those about it (as their subject or
        as an item of a bulk event)."""
        ...

    def entries(self, tenant_id: TenantId, up_to: int) -> AsyncIterator[AuditEntry]:
        """The tenant's entries with position <= ``up_to``, in position order, streamed."""
        ...

    async def head(self, tenant_id: TenantId) -> ChainHead | None: ...
