"""In-memory genotype store: blocks kept as given, read back as chunks, calls and rows."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bijmantra.adapters.postgres.genotype_calls import Block
from bijmantra.adapters.postgres.genotype_edits import edited_calls
from bijmantra.adapters.postgres.genotype_export import bundle_file
from bijmantra.application.genotyping import CallChunk, GenotypeChunk, StoredVariantSet
from bijmantra.application.ports import GenotypeBlock
from bijmantra.application.ports.genotypes import (
    CallEdit,
    CallSetRow,
    ChunkRead,
    GenotypeFilter,
    Submatrix,
    VariantRow,
    VariantSetRow,
)
from bijmantra.domain import DomainEvent
from bijmantra.domain.genotyping import VariantSet
from bijmantra.domain.genotyping.filters import VariantThresholds
from bijmantra.genomics import bundles, qc, writers
from bijmantra.genomics import calls as gc
from bijmantra.kernel import TenantId


@dataclass(frozen=True, slots=True)
class _Block:
    """A block the fake made itself (an extract's or an edit's), shaped like an import's."""

    chrom: list[str]
    pos: list[int]
    ids: list[str]
    ref: list[str]
    alt: list[str]
    dosages: Any
    calls: gc.CallMatrix

    def __len__(self) -> int:
        return len(self.chrom)


def _calls_of(block: GenotypeBlock) -> gc.CallMatrix:
    calls = block.calls
    return calls if isinstance(calls, gc.CallMatrix) else gc.from_dosages(block.dosages)


def _picked(block: GenotypeBlock, rows: list[int], columns: Sequence[int]) -> _Block:
    """The rows x columns of ``block`` as a block of their own, dosages derived from calls."""
    calls = _calls_of(block).pick(rows).columns(columns)
    alt = [block.alt[r] for r in rows]
    return _Block(
        [block.chrom[r] for r in rows],
        [int(block.pos[r]) for r in rows],
        [block.ids[r] for r in rows],
        [block.ref[r] for r in rows],
        alt,
        calls.dosages(gc.n_alt_of(alt)),
        calls,
    )


def _edited(block: GenotypeBlock, first: int, edits: Sequence[CallEdit]) -> _Block:
    """``block`` with ``edits`` applied: alleles, phase and DS/GQ/DP (the others cleared)."""
    calls = edited_calls(_calls_of(block), first, edits)
    return _Block(
        list(block.chrom),
        [int(p) for p in block.pos],
        list(block.ids),
        list(block.ref),
        list(block.alt),
        calls.dosages(gc.n_alt_of(block.alt)),
        calls,
    )


@dataclass
class _StoredSet:
    variant_set: VariantSet
    blocks: list[GenotypeBlock] = field(default_factory=list)


class FakeWriter:
    def __init__(self, stored: _StoredSet) -> None:
        self._stored = stored

    async def append(self, block: GenotypeBlock) -> None:
        self._stored.blocks.append(block)

    async def close(self) -> int:
        return sum(len(b) for b in self._stored.blocks)


class FakeGenotypeStore:
    """Keeps blocks as given (no chunking or compression); reads them back as raw chunks."""

    def __init__(self, sets: dict[tuple[TenantId, str], _StoredSet], tenant: TenantId) -> None:
        self.staged = dict(sets)
        self.deleted: set[tuple[TenantId, str]] = set()  # removed from the tables at commit
        self._tenant = tenant
        self._sealed: list[VariantSet] = []

    async def create(self, variant_set: VariantSet) -> FakeWriter:
        assert variant_set.tenant_id == self._tenant, "row-level security would reject this"
        stored = _StoredSet(variant_set)
        self.staged[(self._tenant, variant_set.variant_set_db_id)] = stored
        return FakeWriter(stored)

    async def seal(self, variant_set: VariantSet) -> None:
        self._sealed.append(variant_set)

    async def get(self, variant_set_db_id: str) -> StoredVariantSet | None:
        stored = self.staged.get((self._tenant, variant_set_db_id))
        if stored is None:
            return None
        v = stored.variant_set
        return StoredVariantSet(
            v.variant_set_db_id,
            v.name,
            v.source_format,
            v.n_variants,
            list(v.call_sets),
            dict(v.skipped),
            "2026-11-22T00:00:00+00:00",
        )

    async def read(self, request: ChunkRead) -> AsyncIterator[GenotypeChunk]:
        variant_set_db_id, columns, start = request.variant_set_db_id, request.columns, 0
        for block in self.staged[(self._tenant, variant_set_db_id)].blocks:
            dosages = block.dosages if columns is None else block.dosages[:, list(columns)]
            chunk = GenotypeChunk(start, len(block), dosages.shape[1], "raw", dosages.tobytes())
            if request.variants:
                ids = [f"{variant_set_db_id}:{start + i}" for i in range(len(block))]
                chunk = dataclasses.replace(
                    chunk,
                    chrom=list(block.chrom),
                    pos=[int(p) for p in block.pos],
                    variant_db_ids=ids,
                )
            yield chunk
            start += len(block)

    async def read_calls(
        self, variant_set_db_id: str, start: int, stop: int, columns: Sequence[int] | None
    ) -> AsyncIterator[CallChunk]:
        async for chunk in self._chunks(variant_set_db_id, start, stop, columns):
            blank = [""] * len(chunk.chrom)
            yield dataclasses.replace(chunk, ref=blank, alt=blank)

    async def _chunks(
        self, variant_set_db_id: str, start: int, stop: int, columns: Sequence[int] | None
    ) -> AsyncIterator[CallChunk]:
        """The calls of a range with their variants' alleles (an export's)."""
        first = 0
        for block in self.staged[(self._tenant, variant_set_db_id)].blocks:
            lo, hi = max(start - first, 0), min(stop - first, len(block))
            if lo < hi:
                calls = _calls_of(block).rows(lo, hi)
                yield CallChunk(
                    first + lo,
                    list(block.chrom[lo:hi]),
                    [int(p) for p in block.pos[lo:hi]],
                    list(block.ids[lo:hi]),
                    list(block.ref[lo:hi]),
                    list(block.alt[lo:hi]),
                    calls if columns is None else calls.columns(columns),
                )
            first += len(block)

    def _sets(self) -> list[_StoredSet]:
        return [v for (tenant, _), v in self.staged.items() if tenant == self._tenant]

    async def variant_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[VariantSetRow], int]:
        rows = [
            VariantSetRow(
                v.variant_set_db_id,
                v.name,
                v.source_format,
                v.n_variants,
                len(v.call_sets),
                "2026-11-22T00:00:00+00:00",
                v.reference_set_db_id,
            )
            for v in (s.variant_set for s in self._sets())
            if _any(where.variant_set_db_ids, v.variant_set_db_id)
            and (
                not where.call_set_db_ids
                or any(c.call_set_db_id in where.call_set_db_ids for c in v.call_sets)
            )
            and _any(where.reference_set_db_ids, v.reference_set_db_id)
            and _any(tuple(s for s, _ in where.references), v.reference_set_db_id)
        ]
        return rows[offset : offset + limit], len(rows)

    async def call_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[CallSetRow], int]:
        rows = [
            CallSetRow(
                c.call_set_db_id,
                c.sample_name,
                c.germplasm_db_id,
                v.variant_set_db_id,
                c.column,
                c.ploidy,
                "2026-11-22T00:00:00+00:00",
            )
            for v in (s.variant_set for s in self._sets())
            for c in v.call_sets
            if _any(where.variant_set_db_ids, v.variant_set_db_id)
            and _any(where.call_set_db_ids, c.call_set_db_id)
            and _any(where.call_set_names, c.sample_name)
            and _any(where.germplasm_db_ids, c.germplasm_db_id)
        ]
        return rows[offset : offset + limit], len(rows)

    async def variant_rows(
        self, where: GenotypeFilter, offset: int, limit: int, *, alleles: bool = True
    ) -> tuple[list[VariantRow], int]:
        rows = []
        for stored in sorted(self._sets(), key=lambda s: s.variant_set.variant_set_db_id):
            set_id = stored.variant_set.variant_set_db_id
            reference_set = stored.variant_set.reference_set_db_id
            index = 0
            for block in stored.blocks:
                for k in range(len(block)):
                    row = VariantRow(
                        set_id,
                        index,
                        block.chrom[k],
                        int(block.pos[k]),
                        block.ids[k],
                        block.ref[k] if alleles else "",
                        block.alt[k] if alleles else "",
                        reference_set,
                    )
                    index += 1
                    if (
                        _any(where.variant_set_db_ids, set_id)
                        and _any(where.reference_set_db_ids, reference_set)
                        and _any(where.references, (reference_set, row.chrom))
                        and _any(where.variants, (set_id, row.index))
                        and where.chrom in (None, row.chrom)
                        and where.start <= row.pos <= where.end
                    ):
                        rows.append(row)
        return rows[offset : offset + limit], len(rows)

    async def alt_allele_counts(
        self, variants: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        found, _ = await self.variant_rows(GenotypeFilter(variants=tuple(variants)), 0, 2**62)
        return {
            (r.variant_set_db_id, r.index): len(r.alt.split(",")) if r.alt else 0 for r in found
        }

    async def export(
        self, variant_set_db_id: str, file_format: str, samples: Sequence[str]
    ) -> AsyncIterator[bytes]:
        if file_format in bundles.BUNDLES:

            def columns_of(columns: Sequence[int] | None) -> AsyncIterator[CallChunk]:
                return self._chunks(variant_set_db_id, 0, 2**62, columns)

            async for piece in bundle_file(columns_of, variant_set_db_id, file_format, samples):
                yield piece
            return
        header, lines = writers.FILE_WRITERS[file_format]
        yield header(samples).encode()
        for block in self.staged[(self._tenant, variant_set_db_id)].blocks:
            sites = writers.Sites(
                block.chrom, [int(p) for p in block.pos], block.ids, block.ref, block.alt
            )
            yield lines(sites, _calls_of(block))

    async def extract(self, source: Submatrix, variant_set: VariantSet) -> int:
        writer = await self.create(variant_set)
        wanted = sorted(source.variants)
        first = 0
        for block in self.staged[(self._tenant, source.variant_set_db_id)].blocks:
            rows = [i - first for i in wanted if first <= i < first + len(block)]
            if rows:
                await writer.append(_picked(block, rows, source.columns))
            first += len(block)
        return await writer.close()

    async def passing_variants(
        self, candidates: Submatrix, thresholds: VariantThresholds
    ) -> list[int]:
        kept: list[int] = []
        first, columns = 0, list(candidates.columns)
        for block in self.staged[(self._tenant, candidates.variant_set_db_id)].blocks:
            passing = qc.passing_variants(
                np.ascontiguousarray(np.asarray(block.dosages, dtype=np.int8)[:, columns]),
                min_maf=thresholds.min_maf,
                min_call_rate=thresholds.min_call_rate,
                max_heterozygosity=thresholds.max_heterozygosity,
            )
            kept += [
                i
                for i in candidates.variants
                if first <= i < first + len(block) and passing[i - first]
            ]
            first += len(block)
        return kept

    async def update_calls(self, variant_set_db_id: str, edits: Sequence[CallEdit]) -> None:
        stored = self.staged[(self._tenant, variant_set_db_id)]
        first = 0
        for k, block in enumerate(stored.blocks):
            mine = [e for e in edits if first <= e.variant_index < first + len(block)]
            if mine:
                stored.blocks[k] = _edited(block, first, mine)
            first += len(block)
        variant_set = stored.variant_set
        for edit in edits:
            call_set = variant_set.call_sets[edit.column]
            if len(edit.alleles) > call_set.ploidy:
                variant_set.call_sets[edit.column] = dataclasses.replace(
                    call_set, ploidy=len(edit.alleles)
                )

    async def hold(self, variant_set_db_id: str) -> bool:
        return (self._tenant, variant_set_db_id) in self.staged

    async def locked(self, variant_set_db_id: str) -> VariantSetRow | None:
        rows, _ = await self.variant_set_rows(GenotypeFilter((variant_set_db_id,)), 0, 1)
        return rows[0] if rows else None

    async def delete(self, variant_set_db_id: str) -> None:
        key = (self._tenant, variant_set_db_id)
        assert key in self.staged, "the use case deletes only a set it found"
        del self.staged[key]
        self.deleted.add(key)

    async def flush(self) -> list[DomainEvent]:
        sealed, self._sealed = self._sealed, []
        return [event for v in sealed for event in v.pull_events()]


def _any(wanted: Sequence[Any], value: Any) -> bool:
    return not wanted or value in wanted


class UnreadUpload:
    """A genotype file that must not be read: a use case that refuses early (a quota, a
    storage cap) touches neither its samples nor its blocks, and touching them fails."""

    skipped: dict[str, int] = {}
    contig_lengths: dict[str, int | None] = {"1": 10**6}

    async def sample_names(self) -> list[str]:
        raise AssertionError("the file was read before the write was refused")

    def blocks(self) -> AsyncIterator[GenotypeBlock]:
        raise AssertionError("the file was read before the write was refused")


@dataclass
class DosageUpload:
    """A genotype file of samples ``names`` and an int8 (variants x samples) ``matrix``,
    read ``block`` variants at a time, for use cases that import without a parser."""

    names: list[str]
    matrix: Any
    skipped: dict[str, int] = field(default_factory=dict)
    contig_lengths: dict[str, int | None] = field(default_factory=lambda: {"1": 10**6})
    block: int = 4

    async def sample_names(self) -> list[str]:
        return self.names

    async def blocks(self) -> AsyncIterator[Block]:
        """Chromosome 1, A/G, unnamed variants; the dosages are the calls."""
        for start in range(0, len(self.matrix), self.block):
            rows = self.matrix[start : start + self.block]
            n = len(rows)
            yield Block(
                ["1"] * n, np.arange(start, start + n), [""] * n, ["A"] * n, ["G"] * n, rows, None
            )
