"""Allele-matrix variants that pass the MAF / call-rate / heterozygosity filters (ADR 0199).

The statistics are computed in the store by the genomics QC kernel over the dosages of
every call set the request selects (not only the page's columns), so a variant passes or
fails whatever page is read. The passing variants are then paged like any variants.
"""

from __future__ import annotations

from collections.abc import Sequence

from bijmantra.application.genotyping.views import with_filter
from bijmantra.application.ports import GenotypeStore
from bijmantra.application.ports.genotypes import CallSetRow, GenotypeFilter, Submatrix, VariantRow
from bijmantra.domain.genotyping.filters import MAX_FILTERED_VARIANTS, VariantThresholds
from bijmantra.kernel import FieldError, ValidationFailed


async def passing_rows(
    store: GenotypeStore,
    where: GenotypeFilter,
    groups: dict[str, list[CallSetRow]],
    thresholds: VariantThresholds,
) -> Sequence[VariantRow]:
    """Every selected variant that meets ``thresholds``, in variant order."""
    if len(groups) != 1:
        raise ValidationFailed(
            "Variant filters need one variant set",
            [FieldError("variantSetDbId", "name exactly one variant set with minMaf etc.")],
        )
    [(set_id, call_sets)] = groups.items()
    rows, total = await store.variant_rows(
        with_filter(where, variant_set_db_ids=(set_id,)), 0, MAX_FILTERED_VARIANTS, alleles=False
    )
    if total > MAX_FILTERED_VARIANTS:
        raise ValidationFailed(
            "Too many variants to filter",
            [FieldError("positionRange", f"narrow to at most {MAX_FILTERED_VARIANTS} variants")],
        )
    kept = set(
        await store.passing_variants(
            Submatrix(set_id, [r.index for r in rows], [c.column for c in call_sets]), thresholds
        )
    )
    return [r for r in rows if r.index in kept]
