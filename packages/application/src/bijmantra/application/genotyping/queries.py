"""Genotype reads: a variant set's document and its dosage matrix as a chunk stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from bijmantra.application.ports import GenotypeStore, UnitOfWorkFactory
from bijmantra.application.ports.genotypes import ChunkRead, GenotypeChunk, StoredVariantSet
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import existing, organization_unit
from bijmantra.domain.genotyping import EXPORT_FORMATS
from bijmantra.kernel import FieldError, NotFound, Principal, ValidationFailed

READ = Permission("genotyping", Action.READ)


async def stored_variant_set(store: GenotypeStore, variant_set_db_id: str) -> StoredVariantSet:
    return existing(await store.get(variant_set_db_id), f"Variant set {variant_set_db_id}")


async def held_variant_set(store: GenotypeStore, variant_set_db_id: str) -> StoredVariantSet:
    """The set, kept from a delete until the unit of work ends: a reader of all its chunks
    reads them all or, if a delete came first, finds no set (ADR 0345)."""
    if not await store.hold(variant_set_db_id):
        raise NotFound(f"Variant set {variant_set_db_id} not found")
    return await stored_variant_set(store, variant_set_db_id)


def columns_for(variant_set: StoredVariantSet, call_set_db_ids: Sequence[str]) -> list[int] | None:
    """Matrix columns of the given call sets, in the given order; None means all."""
    if not call_set_db_ids:
        return None
    by_id = {c.call_set_db_id: c.column for c in variant_set.call_sets}
    unknown = [i for i in call_set_db_ids if i not in by_id]
    if unknown:
        raise ValidationFailed(
            f"{len(unknown)} call set(s) are not in variant set {variant_set.variant_set_db_id}",
            [FieldError("callSetDbIds", i) for i in unknown[:20]],
        )
    return [by_id[i] for i in call_set_db_ids]


@dataclass
class GetVariantSet:
    uow: UnitOfWorkFactory

    async def __call__(self, principal: Principal, variant_set_db_id: str) -> StoredVariantSet:
        async with organization_unit(self.uow, principal, READ) as uow:
            return await stored_variant_set(uow.genotypes, variant_set_db_id)


@dataclass
class StreamGenotypes:
    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, variant_set_db_id: str, call_set_db_ids: Sequence[str] = ()
    ) -> AsyncIterator[GenotypeChunk]:
        async with organization_unit(self.uow, principal, READ) as uow:
            variant_set = await held_variant_set(uow.genotypes, variant_set_db_id)
            columns = columns_for(variant_set, call_set_db_ids)
            async for chunk in uow.genotypes.read(ChunkRead(variant_set_db_id, columns)):
                yield chunk


@dataclass
class ExportGenotypes:
    """A variant set as a genotype file, streamed (ADR 0199); an unknown format is a 400."""

    uow: UnitOfWorkFactory

    async def __call__(
        self, principal: Principal, variant_set_db_id: str, file_format: str
    ) -> AsyncIterator[bytes]:
        authorize(principal, READ)
        if file_format not in EXPORT_FORMATS:
            raise ValidationFailed(
                "Unknown export format",
                [FieldError("format", f"one of {', '.join(sorted(EXPORT_FORMATS))}")],
            )
        async with self.uow(principal.tenant_id) as uow:
            variant_set = await held_variant_set(uow.genotypes, variant_set_db_id)
            samples = [c.sample_name for c in variant_set.call_sets]
            async for piece in uow.genotypes.export(variant_set_db_id, file_format, samples):
                yield piece
