"""``PUT /calls`` in the packed store: rewrite the chunks the edited calls live in (ADR 0197).

Each touched chunk is read ``FOR UPDATE`` (two writers of one chunk queue instead of losing
each other's edit), decoded to its calls, edited, and written back in the caller's
transaction: the 2-bit dosage codes for the edited cells are derived from the new calls
as an import derives them, and the call payload is dropped again when the codes say
everything. A call set's ploidy grows to the widest call it now has.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from bijmantra.adapters.postgres.genotype_calls import decode
from bijmantra.adapters.postgres.plans import planned_per_call
from bijmantra.application.ports.genotypes import CallEdit
from bijmantra.genomics import calls as gc
from bijmantra.genomics.packing import pack_dosages
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# The chunks of up to MAX_CALL_EDITS edited calls, planned for them (ADR 0353).
_CHUNKS_OF = planned_per_call(
    text(
        "SELECT chunk_index, variant_start, n_variants, n_samples, codec, dosages, calls "
        "FROM domain.genotype_chunks WHERE variant_set_db_id = :s "
        "AND chunk_index = ANY(CAST(:chunks AS integer[])) ORDER BY chunk_index FOR UPDATE"
    )
)
_CHUNK_OF_VARIANTS = text(
    "SELECT DISTINCT c.chunk_index FROM domain.genotype_chunks c "
    "JOIN unnest(CAST(:indexes AS bigint[])) AS v(i) "
    "ON v.i >= c.variant_start AND v.i < c.variant_start + c.n_variants "
    "WHERE c.variant_set_db_id = :s"
)
_WRITE_CHUNK = text(
    "UPDATE domain.genotype_chunks SET codec = '2bit', dosages = :codes, calls = :calls "
    "WHERE variant_set_db_id = :s AND chunk_index = :i"
)
_GROW_PLOIDY = text(
    "UPDATE domain.call_sets c SET ploidy = greatest(c.ploidy, p.ploidy) "
    "FROM unnest(CAST(:cols AS integer[]), CAST(:p AS smallint[])) AS p(col, ploidy) "
    "WHERE c.variant_set_db_id = :s AND c.column_index = p.col"
)


async def update_calls(
    connection: AsyncConnection, variant_set_db_id: str, edits: Sequence[CallEdit]
) -> None:
    if not edits:
        return
    indexes = sorted({e.variant_index for e in edits})
    chunk_ids = (
        await connection.execute(_CHUNK_OF_VARIANTS, {"s": variant_set_db_id, "indexes": indexes})
    ).scalars()
    rows = (
        await connection.execute(
            _CHUNKS_OF, {"s": variant_set_db_id, "chunks": sorted(chunk_ids.all())}
        )
    ).all()
    ploidy: dict[int, int] = defaultdict(int)
    for row in rows:
        mine = [
            e
            for e in edits
            if row.variant_start <= e.variant_index < row.variant_start + row.n_variants
        ]
        codes, payload = await asyncio.to_thread(
            edit_chunk, row.codec, row.dosages, row.calls, row.n_samples, row.variant_start, mine
        )
        await connection.execute(
            _WRITE_CHUNK,
            {"s": variant_set_db_id, "i": row.chunk_index, "codes": codes, "calls": payload},
        )
        for edit in mine:
            ploidy[edit.column] = max(ploidy[edit.column], len(edit.alleles))
    await connection.execute(
        _GROW_PLOIDY,
        {"s": variant_set_db_id, "cols": list(ploidy), "p": list(ploidy.values())},
    )


def edit_chunk(
    codec: str,
    codes: bytes,
    payload: bytes | None,
    n_samples: int,
    first: int,
    edits: Sequence[CallEdit],
) -> tuple[bytes, bytes | None]:
    """A chunk's new dosage codes and call payload (None when the codes say it all)."""
    dosages = np.array(decode(codec, codes, n_samples), dtype=np.int8)
    stored = gc.from_dosages(dosages) if payload is None else gc.decode(payload)
    calls = edited_calls(stored, first, edits)
    rows = np.array([e.variant_index - first for e in edits], dtype=np.intp)
    cols = np.array([e.column for e in edits], dtype=np.intp)
    n_alt = np.array([e.n_alt for e in edits])
    edited = gc.CallMatrix(
        calls.alleles[rows, cols][:, None, :], calls.phased[rows, cols][:, None], {}
    ).dosages(n_alt)
    dosages[rows, cols] = edited[:, 0]
    packed = pack_dosages(dosages).tobytes()
    return packed, None if gc.said_by_dosages(calls, dosages) else gc.encode(calls)


def edited_calls(stored: gc.CallMatrix, first: int, edits: Sequence[CallEdit]) -> gc.CallMatrix:
    """``stored`` (variants from ``first``) with ``edits`` applied: alleles (widened as
    needed), phase, and DS/GQ/DP as given (the ones not given cleared)."""
    width = max(stored.alleles.shape[2], *(len(e.alleles) for e in edits))
    alleles = np.full((*stored.phased.shape, width), gc.ABSENT, dtype=np.int8)
    alleles[..., : stored.alleles.shape[2]] = stored.alleles
    phased = stored.phased.copy()
    names = [n for n in gc.FIELDS if n in stored.fields or any(n in e.fields for e in edits)]
    fields = {
        n: np.array(stored.fields[n], dtype=np.float32)
        if n in stored.fields
        else np.full(phased.shape, np.nan, dtype=np.float32)
        for n in names
    }
    for edit in edits:
        row, col = edit.variant_index - first, edit.column
        alleles[row, col] = gc.ABSENT
        alleles[row, col, : len(edit.alleles)] = edit.alleles
        phased[row, col] = edit.phased
        for name, values in fields.items():
            values[row, col] = edit.fields.get(name, np.nan)
    return gc.CallMatrix(alleles, phased, fields)
