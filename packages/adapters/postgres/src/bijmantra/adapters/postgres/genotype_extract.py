"""``POST /variantsets/extract`` in the packed store: a new set cut from an existing one.

The chosen variants are read chunk by chunk for the chosen columns only and written
through the ordinary variant-set writer, so the new set's chunks, codes and call payloads
are what an import of the same calls would have stored (ADR 0198). Memory: one source
chunk and one writer chunk at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
from bijmantra.adapters.postgres.genotype_calls import Block, read_calls
from bijmantra.application.genotyping import CallChunk
from bijmantra.application.ports import VariantSetWriter
from bijmantra.genomics import calls as gc
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncConnection

_SPAN = 65_536  # source variants one read spans (the reads skip chunks nothing is wanted from)


async def copy_calls(
    connection: AsyncConnection,
    source: str,
    indexes: Sequence[int],
    columns: Sequence[int],
    writer: VariantSetWriter,
) -> None:
    """Append the calls of ``indexes`` (ascending) x ``columns`` of ``source`` to ``writer``."""
    at = 0
    while at < len(indexes):
        stop = at
        while stop < len(indexes) and indexes[stop] < indexes[at] + _SPAN:
            stop += 1
        wanted = np.asarray(indexes[at:stop], dtype=np.int64)
        lo, hi = int(wanted[0]), int(wanted[-1]) + 1
        async for chunk in read_calls(connection, source, lo, hi, columns):
            first = chunk.variant_start
            rows = wanted[(wanted >= first) & (wanted < first + len(chunk.chrom))] - first
            if rows.size:
                await writer.append(await asyncio.to_thread(_block, chunk, rows))
        at = stop


def _block(chunk: CallChunk, rows: NDArray[np.int64]) -> Block:
    assert isinstance(chunk.calls, gc.CallMatrix)
    picked = rows.tolist()
    calls = chunk.calls.pick(picked)
    alt = [chunk.alt[r] for r in picked]
    return Block(
        [chunk.chrom[r] for r in picked],
        np.asarray([chunk.pos[r] for r in picked], dtype=np.int64),
        [chunk.names[r] for r in picked],
        [chunk.ref[r] for r in picked],
        alt,
        calls.dosages(gc.n_alt_of(alt)),
        calls,
    )
