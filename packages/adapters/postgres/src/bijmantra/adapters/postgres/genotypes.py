"""The genotype store: dosage matrices kept as chunks of variants in 2-bit codes.

A variant set is one row, its call sets and variants ordinary rows, and its calls a few
``bytea`` chunks of ~4 MiB of int8 dosages each (variants x samples, row-major), stored as
2-bit codes (``bijmantra.genomics.packing``, 1 MiB): a 2,000 x 50,000 set is ~25 chunks,
not 10^8 rows. Chunks written before the 2-bit codec (``zlib``: deflated int8) stay
readable. Readers that decode themselves (the analytics-worker) get chunks as stored;
others get raw int8. Chunks are fetched in PostgreSQL's binary format (no hex text), with
their variants' coordinates aggregated into arrays by the same statement. Packing, decoding
and gathers run in a thread so the event loop keeps serving while a large file streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import msgspec
import numpy as np
from bijmantra.adapters.postgres import genotype_views as views
from bijmantra.adapters.postgres.connection_store import ConnectionStore
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.genotype_calls import Block, decode, read_calls
from bijmantra.adapters.postgres.genotype_deletes import (
    delete_variant_set,
    hold_variant_set,
    lock_variant_set,
)
from bijmantra.adapters.postgres.genotype_edits import update_calls
from bijmantra.adapters.postgres.genotype_export import export_file
from bijmantra.adapters.postgres.genotype_extract import copy_calls
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
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.genotyping.filters import VariantThresholds
from bijmantra.genomics import calls as gc
from bijmantra.genomics.packing import pack_dosages
from bijmantra.genomics.qc import passing_variants
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

CHUNK_BYTES = 4 * 1024 * 1024  # raw int8 bytes per chunk
CODEC = "2bit"  # what new chunks are written in; "zlib" chunks of older imports are read too


def chunk_variants_for(n_samples: int) -> int:
    return int(min(max(CHUNK_BYTES // max(n_samples, 1), 256), 65536))


def variant_db_id(variant_set_db_id: str, index: int) -> str:
    return f"{variant_set_db_id}:{index}"


class PostgresVariantSetWriter:
    """Buffers blocks into fixed-size chunks; variants go in as arrays, chunks as bytea rows."""

    def __init__(
        self,
        connection: AsyncConnection,
        variant_set: VariantSet,
        chunk_variants: int,
        stored: Callable[[int], None] = lambda calls: None,
    ) -> None:
        self._connection = connection
        self._stored = stored  # told the calls of each chunk written (charged at commit)
        self._tenant = variant_set.tenant_id
        self._set_id = variant_set.variant_set_db_id
        self._n_samples = len(variant_set.call_sets)
        self._chunk_variants = chunk_variants
        self._blocks: list[GenotypeBlock] = []
        self._buffered = 0
        self._written = 0
        self._chunk_index = 0
        self._ploidy = np.zeros(self._n_samples, dtype=np.int8)

    async def append(self, block: GenotypeBlock) -> None:
        if block.dosages.shape[1] != self._n_samples:
            raise ValueError("block width differs from the number of samples")
        self._blocks.append(block)
        self._buffered += len(block)
        while self._buffered >= self._chunk_variants:
            await self._write(self._chunk_variants)

    async def close(self) -> int:
        if self._buffered:
            await self._write(self._buffered)
        ploidy = np.where(self._ploidy > 0, self._ploidy, 2)
        await self._connection.execute(
            _SET_PLOIDY,
            {"s": self._set_id, "cols": list(range(self._n_samples)), "p": ploidy.tolist()},
        )
        return self._written

    async def _write(self, n: int) -> None:
        parts, taken = [], 0
        while taken < n:
            block = self._blocks[0]
            need = n - taken
            if len(block) <= need:
                parts.append(block)
                self._blocks.pop(0)
                taken += len(block)
            else:
                parts.append(_slice(block, 0, need))
                self._blocks[0] = _slice(block, need, len(block))
                taken += need
        self._buffered -= n
        start = self._written
        dosages = np.concatenate([p.dosages for p in parts]) if len(parts) > 1 else parts[0].dosages
        payload, calls = await asyncio.to_thread(self._encode_chunk, dosages, parts)
        await self._connection.execute(
            text(
                "INSERT INTO domain.genotype_chunks (tenant_id, variant_set_db_id, chunk_index, "
                "variant_start, "
                "n_variants, n_samples, codec, dosages, calls) VALUES (:t, :s, :i, :start, :n, "
                ":ns, :codec, :data, :calls)"
            ),
            {
                "t": self._tenant,
                "s": self._set_id,
                "i": self._chunk_index,
                "start": start,
                "n": n,
                "ns": self._n_samples,
                "codec": CODEC,
                "data": payload,
                "calls": calls,
            },
        )
        await self._insert_variants(parts, start)
        self._chunk_index += 1
        self._written += n
        self._stored(n * self._n_samples)

    def _encode_chunk(self, dosages: Any, parts: list[GenotypeBlock]) -> tuple[bytes, bytes | None]:
        """The 2-bit dosage codes, and the calls when the codes do not say them all."""
        codes = _encode(dosages)
        given = [p.calls for p in parts]
        if all(c is None for c in given):
            return codes, None
        calls = gc.concat(
            [
                c if c is not None else gc.from_dosages(p.dosages)
                for c, p in zip(given, parts, strict=True)
            ]
        )
        np.maximum(self._ploidy, calls.ploidy().max(axis=0, initial=0), out=self._ploidy)
        return codes, None if gc.said_by_dosages(calls, dosages) else gc.encode(calls)

    async def _insert_variants(self, parts: list[GenotypeBlock], start: int) -> None:
        """One statement per chunk over arrays (COPY is refused on tables with RLS)."""
        columns: dict[str, list[Any]] = {"chrom": [], "pos": [], "name": [], "ref": [], "alt": []}
        for part in parts:
            columns["chrom"] += part.chrom
            columns["pos"] += part.pos.tolist()
            columns["name"] += part.ids
            columns["ref"] += part.ref
            columns["alt"] += part.alt
        await self._connection.execute(
            _INSERT_VARIANTS,
            {"t": self._tenant, "s": self._set_id, "start": start, **columns},
        )


_SET_PLOIDY = text(
    "UPDATE domain.call_sets c SET ploidy = p.ploidy FROM unnest(CAST(:cols AS integer[]), "
    "CAST(:p AS smallint[])) AS p(col, ploidy) "
    "WHERE c.variant_set_db_id = :s AND c.column_index = p.col"
)
_INSERT_VARIANTS = text(
    "INSERT INTO domain.variants (tenant_id, variant_set_db_id, variant_index, chrom, pos, "
    "variant_name, ref, alt) "
    "SELECT :t, :s, :start + v.i - 1, v.chrom, v.pos, v.name, v.ref, v.alt FROM unnest("
    "CAST(:chrom AS text[]), CAST(:pos AS bigint[]), CAST(:name AS text[]), CAST(:ref AS text[]), "
    "CAST(:alt AS text[])) WITH ORDINALITY AS v(chrom, pos, name, ref, alt, i)"
)


def _encode(dosages: Any) -> bytes:
    return pack_dosages(np.ascontiguousarray(dosages, dtype=np.int8)).tobytes()


def _slice(block: GenotypeBlock, start: int, stop: int) -> GenotypeBlock:
    return Block(
        block.chrom[start:stop],
        block.pos[start:stop],
        block.ids[start:stop],
        block.ref[start:stop],
        block.alt[start:stop],
        block.dosages[start:stop],
        None if block.calls is None else block.calls.rows(start, stop),
    )


class PostgresGenotypeStore(ConnectionStore):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__(connection)
        self._sealed: list[VariantSet] = []
        self.stored_calls = 0  # calls this transaction stored, charged at its commit (ADR 0340)

    def _count(self, calls: int) -> None:
        self.stored_calls += calls

    async def create(self, variant_set: VariantSet) -> PostgresVariantSetWriter:
        chunk_variants = chunk_variants_for(len(variant_set.call_sets))
        await self._connection.execute(
            text(
                "INSERT INTO domain.variant_sets (tenant_id, variant_set_db_id, name, "
                "source_format, n_samples, "
                "chunk_variants) VALUES (:t, :s, :name, :fmt, :ns, :cv)"
            ),
            {
                "t": variant_set.tenant_id,
                "s": variant_set.variant_set_db_id,
                "name": variant_set.name,
                "fmt": variant_set.source_format,
                "ns": len(variant_set.call_sets),
                "cv": chunk_variants,
            },
        )
        await self._connection.execute(
            text(
                "INSERT INTO domain.call_sets (tenant_id, variant_set_db_id, column_index, "
                "call_set_db_id, "
                "sample_name, germplasm_db_id) VALUES (:t, :s, :col, :id, :name, :g)"
            ),
            [
                {
                    "t": variant_set.tenant_id,
                    "s": variant_set.variant_set_db_id,
                    "col": c.column,
                    "id": c.call_set_db_id,
                    "name": c.sample_name,
                    "g": c.germplasm_db_id,
                }
                for c in variant_set.call_sets
            ],
        )
        return PostgresVariantSetWriter(self._connection, variant_set, chunk_variants, self._count)

    async def seal(self, variant_set: VariantSet) -> None:
        await self._execute(
            "UPDATE domain.variant_sets SET n_variants = :n, "
            "skipped = CAST(:skipped AS jsonb), reference_set_db_id = :r "
            "WHERE variant_set_db_id = :s",
            r=variant_set.reference_set_db_id,
            n=variant_set.n_variants,
            skipped=msgspec.json.encode(variant_set.skipped).decode(),
            s=variant_set.variant_set_db_id,
        )
        self._sealed.append(variant_set)

    async def get(self, variant_set_db_id: str) -> StoredVariantSet | None:
        rows = await self._rows(
            "SELECT name, source_format, n_variants, skipped, created_at FROM "
            "domain.variant_sets WHERE variant_set_db_id = :s",
            s=variant_set_db_id,
        )
        if not rows:
            return None
        call_sets = await self._all(
            "SELECT call_set_db_id, sample_name, germplasm_db_id, column_index, ploidy "
            "FROM domain.call_sets WHERE variant_set_db_id = :s ORDER BY column_index",
            lambda c: CallSet(*c),
            s=variant_set_db_id,
        )
        row = rows[0]
        return StoredVariantSet(
            variant_set_db_id,
            row.name,
            row.source_format,
            row.n_variants,
            call_sets,
            dict(row.skipped),
            row.created_at.isoformat(),
        )

    async def read(self, request: ChunkRead) -> AsyncIterator[GenotypeChunk]:
        variant_set_db_id, columns = request.variant_set_db_id, request.columns
        packed, variants = request.packed, request.variants
        chunk_indexes = (
            await self._connection.execute(
                text(
                    "SELECT chunk_index FROM domain.genotype_chunks WHERE variant_set_db_id = :s "
                    "ORDER BY chunk_index"
                ),
                {"s": variant_set_db_id},
            )
        ).scalars()
        picked = None if columns is None else np.asarray(columns, dtype=np.intp)
        driver = await driver_connection(self._connection)
        statement = _READ_CHUNK if variants else _READ_CHUNK_DOSAGES
        async with driver.cursor(binary=True) as cursor:
            for chunk_index in chunk_indexes.all():
                await cursor.execute(statement, {"s": variant_set_db_id, "i": chunk_index})
                row = await cursor.fetchone()
                assert row is not None
                start, n_variants, n_samples, codec, payload, chrom, pos = row
                if picked is not None or not packed or codec != CODEC:
                    payload = await asyncio.to_thread(
                        recode_chunk, codec, payload, n_samples, picked, packed
                    )
                    codec = CODEC if packed else "raw"
                    n_samples = n_samples if picked is None else len(picked)
                ids = range(start, start + n_variants) if variants else range(0)
                yield GenotypeChunk(
                    start,
                    n_variants,
                    n_samples,
                    codec,
                    bytes(payload),
                    chrom or [],
                    pos or [],
                    [variant_db_id(variant_set_db_id, i) for i in ids],
                )

    def read_calls(
        self, variant_set_db_id: str, start: int, stop: int, columns: Sequence[int] | None
    ) -> AsyncIterator[CallChunk]:
        return read_calls(self._connection, variant_set_db_id, start, stop, columns, alleles=False)

    async def variant_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[VariantSetRow], int]:
        return await views.variant_set_rows(self._connection, where, offset, limit)

    async def call_set_rows(
        self, where: GenotypeFilter, offset: int, limit: int
    ) -> tuple[list[CallSetRow], int]:
        return await views.call_set_rows(self._connection, where, offset, limit)

    async def variant_rows(
        self, where: GenotypeFilter, offset: int, limit: int, *, alleles: bool = True
    ) -> tuple[list[VariantRow], int]:
        return await views.variant_rows(self._connection, where, offset, limit, alleles=alleles)

    async def alt_allele_counts(
        self, variants: Sequence[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        return await views.alt_allele_counts(self._connection, variants)

    def export(
        self, variant_set_db_id: str, file_format: str, samples: Sequence[str]
    ) -> AsyncIterator[bytes]:
        return export_file(self._connection, variant_set_db_id, file_format, samples)

    async def extract(self, source: Submatrix, variant_set: VariantSet) -> int:
        writer = await self.create(variant_set)
        await copy_calls(
            self._connection, source.variant_set_db_id, source.variants, source.columns, writer
        )
        return await writer.close()

    async def passing_variants(
        self, candidates: Submatrix, thresholds: VariantThresholds
    ) -> list[int]:
        wanted = np.asarray(candidates.variants, dtype=np.int64)
        kept: list[int] = []
        dosages = ChunkRead(candidates.variant_set_db_id, candidates.columns, variants=False)
        async for chunk in self.read(dosages):
            start = chunk.variant_start
            here = wanted[(wanted >= start) & (wanted < start + chunk.n_variants)]
            if here.size:
                mask = await asyncio.to_thread(_passing, chunk, thresholds)
                kept += here[mask[here - start]].tolist()
        return kept

    async def update_calls(self, variant_set_db_id: str, edits: Sequence[CallEdit]) -> None:
        await update_calls(self._connection, variant_set_db_id, edits)

    async def hold(self, variant_set_db_id: str) -> bool:
        return await hold_variant_set(self._connection, variant_set_db_id)

    async def locked(self, variant_set_db_id: str) -> VariantSetRow | None:
        return await lock_variant_set(self._connection, variant_set_db_id)

    async def delete(self, variant_set_db_id: str) -> None:
        await delete_variant_set(self._connection, variant_set_db_id)

    async def flush(self) -> list[DomainEvent]:
        sealed, self._sealed = self._sealed, []
        return [event for v in sealed for event in v.pull_events()]


# One statement per chunk: its codes and its variants' coordinates as two arrays.
_READ_CHUNK = (
    "SELECT c.variant_start, c.n_variants, c.n_samples, c.codec, c.dosages, v.chrom, v.pos "
    "FROM domain.genotype_chunks c CROSS JOIN LATERAL ("
    "SELECT array_agg(chrom ORDER BY variant_index) AS chrom, "
    "array_agg(pos ORDER BY variant_index) AS pos FROM domain.variants "
    "WHERE variant_set_db_id = c.variant_set_db_id AND variant_index >= c.variant_start "
    "AND variant_index < c.variant_start + c.n_variants) v "
    "WHERE c.variant_set_db_id = %(s)s AND c.chunk_index = %(i)s"
)
# The same for readers that need dosages only: no variant rows are touched.
_READ_CHUNK_DOSAGES = (
    "SELECT variant_start, n_variants, n_samples, codec, dosages, NULL, NULL "
    "FROM domain.genotype_chunks WHERE variant_set_db_id = %(s)s AND chunk_index = %(i)s"
)


def _passing(chunk: GenotypeChunk, thresholds: VariantThresholds) -> Any:
    """The QC kernel's verdict for every variant of a raw int8 chunk."""
    g = np.frombuffer(chunk.dosages, dtype=np.int8).reshape(chunk.n_variants, chunk.n_samples)
    return passing_variants(
        g,
        min_maf=thresholds.min_maf,
        min_call_rate=thresholds.min_call_rate,
        max_heterozygosity=thresholds.max_heterozygosity,
    )


def recode_chunk(codec: str, payload: bytes, n_samples: int, columns: Any, packed: bool) -> bytes:
    """Decode a stored chunk, keep ``columns`` (None = all) and encode it for the reader."""
    matrix = decode(codec, payload, n_samples)
    if columns is not None:
        matrix = np.ascontiguousarray(matrix[:, columns])
    return _encode(matrix) if packed else matrix.tobytes()
