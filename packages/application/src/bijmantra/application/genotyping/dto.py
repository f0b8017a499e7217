"""What crosses the genotyping boundary: import specs and summaries, stored sets, chunks.

The documents ``/api/v1`` answers are declared here for the published contract (ADR 0250)."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


@dataclass(frozen=True, slots=True)
class ImportSpec:
    variant_set_name: str
    source_format: str
    common_crop_name: str
    vendor_order_id: str = ""  # the results of this vendor order (ADR 0274)


class _Out(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    pass


class CallSetSummary(_Out):
    call_set_db_id: str
    sample_name: str
    germplasm_db_id: str
    ploidy: int


class VariantSetDocument(_Out):
    """``StoredVariantSet.document()`` as ``GET /api/v1/variantsets/{id}`` answers it."""

    variant_set_db_id: str
    variant_set_name: str
    source_format: str
    variant_count: int
    call_set_count: int
    variants_skipped: dict[str, int]
    created: str
    call_sets: list[CallSetSummary]


class ImportSummary(_Out):
    """What an import answers: the new variant set and what was matched or created."""

    variant_set_db_id: str
    variants_imported: int
    variants_skipped: dict[str, int]
    samples_imported: int
    germplasm_matched: int
    germplasm_created: int
    reference_set_db_id: str | None = None  # the contigs' reference set (ADR 0273)


class DeletedVariantSet(_Out):
    """What ``DELETE /api/v1/variantsets/{id}`` answers (ADR 0345): the set removed, with its
    call sets, variants and calls; ``genotype_calls`` is the room its organization got back."""

    variant_set_db_id: str
    variant_set_name: str
    variant_count: int
    call_set_count: int
    genotype_calls: int
