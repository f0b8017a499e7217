"""Pages of variant sets, call sets and variants: the rows BrAPI's views are built from.

Each page is one statement over the ordinary rows (``count(*) OVER ()`` gives the total
with the page); an empty filter array means "any". Row-level security scopes every read.
A filter lists up to 10,000 values and an edit names up to 10,000 call sets and variants, so
every statement is planned for its lists (ADR 0353): on a generic plan ``= ANY`` is a filter
that compares each row with the whole list (23 s for 10,000 call sets among 100,000).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bijmantra.adapters.postgres.plans import planned_per_call
from bijmantra.application.ports.genotypes import (
    CallSetRow,
    GenotypeFilter,
    VariantRow,
    VariantSetRow,
)
from bijmantra.kernel.pagination import MAX_PAGE_BYTES, page_too_large
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_VARIANT_SETS = planned_per_call(
    text(
        "SELECT v.variant_set_db_id, v.name, v.source_format, v.n_variants, v.n_samples, "
        "v.created_at, v.reference_set_db_id, count(*) OVER () FROM domain.variant_sets v "
        "WHERE (cardinality(CAST(:sets AS text[])) = 0 "
        "OR v.variant_set_db_id = ANY(CAST(:sets AS text[]))) "
        "AND (cardinality(CAST(:call_sets AS text[])) = 0 OR EXISTS (SELECT 1 FROM "
        "domain.call_sets c WHERE c.variant_set_db_id = v.variant_set_db_id "
        "AND c.call_set_db_id = ANY(CAST(:call_sets AS text[])))) "
        "AND (cardinality(CAST(:ref_sets AS text[])) = 0 "
        "OR v.reference_set_db_id = ANY(CAST(:ref_sets AS text[]))) "
        "AND (cardinality(CAST(:ref_pair_sets AS text[])) = 0 "
        "OR v.reference_set_db_id = ANY(CAST(:ref_pair_sets AS text[]))) "
        "ORDER BY v.created_at, v.variant_set_db_id LIMIT :limit OFFSET :offset"
    )
)
_CALL_SETS = planned_per_call(
    text(
        "SELECT c.call_set_db_id, c.sample_name, c.germplasm_db_id, c.variant_set_db_id, "
        "c.column_index, c.ploidy, v.created_at, count(*) OVER () FROM domain.call_sets c "
        "JOIN domain.variant_sets v USING (tenant_id, variant_set_db_id) "
        "WHERE (cardinality(CAST(:sets AS text[])) = 0 "
        "OR c.variant_set_db_id = ANY(CAST(:sets AS text[]))) "
        "AND (cardinality(CAST(:call_sets AS text[])) = 0 "
        "OR c.call_set_db_id = ANY(CAST(:call_sets AS text[]))) "
        "AND (cardinality(CAST(:names AS text[])) = 0 "
        "OR c.sample_name = ANY(CAST(:names AS text[]))) "
        "AND (cardinality(CAST(:germplasm AS text[])) = 0 "
        "OR c.germplasm_db_id = ANY(CAST(:germplasm AS text[]))) "
        "ORDER BY v.created_at, c.variant_set_db_id, c.column_index LIMIT :limit OFFSET :offset"
    )
)
# A page's alleles count towards MAX_PAGE_BYTES (ADR 0376) as its documents do: REF and ALT
# are bounded only by a VCF line (32 MiB). Past the bound PostgreSQL sends none (the running
# size still says how big the page was, to refuse it); ``octet_length`` reads a stored value's
# size, not the value. A caller that needs no alleles (calls, the matrix) asks for none.
_VARIANTS = planned_per_call(
    text(
        "SELECT variant_set_db_id, variant_index, chrom, pos, variant_name, "
        "CASE WHEN running <= :max_bytes THEN ref ELSE '' END, "
        "CASE WHEN running <= :max_bytes THEN alt ELSE '' END, reference_set_db_id, running, "
        "total FROM (SELECT *, sum(octet_length(ref) + octet_length(alt)) "
        "OVER (ORDER BY variant_set_db_id, variant_index) AS running FROM ("
        "SELECT v.variant_set_db_id, v.variant_index, v.chrom, v.pos, v.variant_name, "
        "CASE WHEN CAST(:alleles AS boolean) THEN v.ref ELSE '' END AS ref, "
        "CASE WHEN CAST(:alleles AS boolean) THEN v.alt ELSE '' END AS alt, "
        "s.reference_set_db_id, count(*) OVER () AS total FROM domain.variants v "
        "JOIN domain.variant_sets s USING (tenant_id, variant_set_db_id) "
        "WHERE (cardinality(CAST(:sets AS text[])) = 0 "
        "OR v.variant_set_db_id = ANY(CAST(:sets AS text[]))) "
        "AND (cardinality(CAST(:pair_sets AS text[])) = 0 "
        "OR (v.variant_set_db_id, v.variant_index) IN (SELECT * FROM "
        "unnest(CAST(:pair_sets AS text[]), CAST(:pair_indexes AS integer[])))) "
        "AND (cardinality(CAST(:ref_sets AS text[])) = 0 "
        "OR s.reference_set_db_id = ANY(CAST(:ref_sets AS text[]))) "
        "AND (cardinality(CAST(:ref_pair_sets AS text[])) = 0 OR (s.reference_set_db_id, v.chrom) "
        "IN (SELECT * FROM unnest(CAST(:ref_pair_sets AS text[]), "
        "CAST(:ref_pair_names AS text[])))) "
        "AND (CAST(:chrom AS text) IS NULL OR v.chrom = :chrom) "
        "AND v.pos >= :lo AND v.pos <= :hi "
        "ORDER BY v.variant_set_db_id, v.variant_index LIMIT :limit OFFSET :offset) p) q "
        "ORDER BY variant_set_db_id, variant_index"
    )
)


_NO_ALLELES = {"alleles": False, "max_bytes": MAX_PAGE_BYTES}
# How many ALT alleles each named variant has, counted where ALT is stored: a call edit needs
# the number, not the alleles, which may pass MAX_PAGE_BYTES together (a VCF line each).
_ALT_COUNTS = planned_per_call(
    text(
        "SELECT variant_set_db_id, variant_index, CASE WHEN alt = '' THEN 0 "
        "ELSE length(alt) - length(replace(alt, ',', '')) + 1 END FROM domain.variants "
        "WHERE (variant_set_db_id, variant_index) IN (SELECT * FROM "
        "unnest(CAST(:pair_sets AS text[]), CAST(:pair_indexes AS integer[])))"
    )
)


def _params(where: GenotypeFilter, offset: int, limit: int) -> dict[str, Any]:
    return {
        "sets": list(where.variant_set_db_ids),
        "call_sets": list(where.call_set_db_ids),
        "names": list(where.call_set_names),
        "germplasm": list(where.germplasm_db_ids),
        "pair_sets": [s for s, _ in where.variants],
        "pair_indexes": [i for _, i in where.variants],
        "ref_sets": list(where.reference_set_db_ids),
        "ref_pair_sets": [s for s, _ in where.references],
        "ref_pair_names": [n for _, n in where.references],
        "chrom": where.chrom,
        "lo": where.start,
        "hi": where.end,
        "limit": limit,
        "offset": offset,
    }


async def variant_set_rows(
    connection: AsyncConnection, where: GenotypeFilter, offset: int, limit: int
) -> tuple[list[VariantSetRow], int]:
    rows = (await connection.execute(_VARIANT_SETS, _params(where, offset, limit))).all()
    found = [VariantSetRow(r[0], r[1], r[2], r[3], r[4], r[5].isoformat(), r[6]) for r in rows]
    return found, rows[0][-1] if rows else await _total(connection, _VARIANT_SETS, where)


async def call_set_rows(
    connection: AsyncConnection, where: GenotypeFilter, offset: int, limit: int
) -> tuple[list[CallSetRow], int]:
    rows = (await connection.execute(_CALL_SETS, _params(where, offset, limit))).all()
    found = [CallSetRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6].isoformat()) for r in rows]
    return found, rows[0][-1] if rows else await _total(connection, _CALL_SETS, where)


async def variant_rows(
    connection: AsyncConnection,
    where: GenotypeFilter,
    offset: int,
    limit: int,
    *,
    alleles: bool = True,
) -> tuple[list[VariantRow], int]:
    bounds = {"alleles": alleles, "max_bytes": MAX_PAGE_BYTES}
    rows = (await connection.execute(_VARIANTS, _params(where, offset, limit) | bounds)).all()
    if rows and rows[-1][-2] > MAX_PAGE_BYTES:
        raise page_too_large(int(rows[-1][-2]))
    found = [VariantRow(*r[:8]) for r in rows]
    return found, rows[0][-1] if rows else await _total(connection, _VARIANTS, where)


async def _total(connection: AsyncConnection, statement: Any, where: GenotypeFilter) -> int:
    """The total when the page asked for is past the end (the window gave no row)."""
    rows = (await connection.execute(statement, _params(where, 0, 1) | _NO_ALLELES)).all()
    return int(rows[0][-1]) if rows else 0


async def alt_allele_counts(
    connection: AsyncConnection, variants: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    params = {"pair_sets": [s for s, _ in variants], "pair_indexes": [i for _, i in variants]}
    rows = (await connection.execute(_ALT_COUNTS, params)).all()
    return {(r[0], r[1]): r[2] for r in rows}
