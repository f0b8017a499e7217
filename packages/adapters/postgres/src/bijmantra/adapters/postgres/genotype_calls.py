"""Reading calls back from the genotype store: a variant range, any call sets, any ploidy.

A chunk's calls are its ``calls`` payload when one was stored, else the calls its 2-bit
dosage codes state (ADR 0191). One binary statement per chunk returns the payloads and the
range's variants as arrays; decoding and gathers run in a thread.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec
import numpy as np
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.application.genotyping import CallChunk
from bijmantra.genomics import calls as gc
from bijmantra.genomics.packing import unpack_dosages
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_CHUNKS = text(
    "SELECT chunk_index FROM domain.genotype_chunks WHERE variant_set_db_id = :s "
    "AND variant_start < :hi AND variant_start + n_variants > :lo ORDER BY chunk_index"
)
_CHUNK = (
    "SELECT c.variant_start, c.n_variants, c.n_samples, c.codec, c.dosages, c.calls, "
    "v.chrom, v.pos, v.name, v.ref, v.alt FROM domain.genotype_chunks c CROSS JOIN LATERAL ("
    "SELECT array_agg(chrom ORDER BY variant_index) AS chrom, "
    "array_agg(pos ORDER BY variant_index) AS pos, "
    "array_agg(variant_name ORDER BY variant_index) AS name, "
    "array_agg(CASE WHEN %(alleles)s THEN ref ELSE '' END ORDER BY variant_index) AS ref, "
    "array_agg(CASE WHEN %(alleles)s THEN alt ELSE '' END ORDER BY variant_index) AS alt "
    "FROM domain.variants "
    "WHERE variant_set_db_id = c.variant_set_db_id "
    "AND variant_index >= greatest(c.variant_start, %(lo)s) "
    "AND variant_index < least(c.variant_start + c.n_variants, %(hi)s)) v "
    "WHERE c.variant_set_db_id = %(s)s AND c.chunk_index = %(i)s"
)


class Block(msgspec.Struct):
    """Consecutive variants with their dosages and calls, as a variant-set writer takes them."""

    chrom: list[str]
    pos: Any
    ids: list[str]
    ref: list[str]
    alt: list[str]
    dosages: Any
    calls: gc.CallMatrix | None

    def __len__(self) -> int:
        return len(self.chrom)


def decode(codec: str, payload: bytes, n_samples: int) -> np.ndarray:
    """A stored chunk as an int8 ``(variants, samples)`` matrix, whichever codec wrote it."""
    if codec == "2bit":
        return unpack_dosages(payload, n_samples)
    if codec == "zlib":
        return np.frombuffer(zlib.decompress(payload), dtype=np.int8).reshape(-1, n_samples)
    raise ValueError(f"unknown genotype chunk codec {codec!r}")


async def read_calls(
    connection: AsyncConnection,
    variant_set_db_id: str,
    start: int,
    stop: int,
    columns: Sequence[int] | None,
    *,
    alleles: bool = True,
) -> AsyncIterator[CallChunk]:
    indexes = (
        await connection.execute(_CHUNKS, {"s": variant_set_db_id, "lo": start, "hi": stop})
    ).scalars()
    picked = None if columns is None else np.asarray(columns, dtype=np.intp)
    driver = await driver_connection(connection)
    async with driver.cursor(binary=True) as cursor:
        for chunk_index in indexes.all():
            await cursor.execute(
                _CHUNK,
                {
                    "s": variant_set_db_id,
                    "i": chunk_index,
                    "lo": start,
                    "hi": stop,
                    "alleles": alleles,
                },
            )
            row = await cursor.fetchone()
            assert row is not None
            first, n_variants, n_samples, codec, codes, payload, chrom, pos, name, ref, alt = row
            lo, hi = max(start - first, 0), min(stop - first, n_variants)
            calls = await asyncio.to_thread(
                chunk_calls, codec, codes, payload, n_samples, lo, hi, picked
            )
            yield CallChunk(first + lo, chrom, pos, name, ref, alt, calls)


def chunk_calls(
    codec: str, codes: bytes, payload: bytes | None, n_samples: int, lo: int, hi: int, picked: Any
) -> gc.CallMatrix:
    """Rows ``lo:hi`` of a stored chunk's calls, for the ``picked`` columns (None = all)."""
    if payload is None:  # columns picked from the 1-byte dosages, before the calls exist
        dosages = decode(codec, codes, n_samples)[lo:hi]
        return gc.from_dosages(dosages if picked is None else dosages[:, picked])
    calls = gc.decode(payload).rows(lo, hi)
    return calls if picked is None else calls.columns(picked)
