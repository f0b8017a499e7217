"""``POST /variantsets/extract``: a new variant set of chosen variants and call sets.

The request selects as ``/calls`` does (variant sets, variants, call sets, with the same
bounds and refusals); the selection must come from one variant set, and the new set's
calls are copied chunk by chunk in the store (ADR 0198). The new set is an ordinary
variant set: its call sets are new ones for the same samples and germplasm, and its
import event says where it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from bijmantra.application.genotyping.brapi import call_set_groups
from bijmantra.application.genotyping.views import (
    UNSUPPORTED,
    Documents,
    genotype_filter,
    with_filter,
)
from bijmantra.application.json_input import decode_bounded
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.documents import DocumentPage
from bijmantra.application.ports.genotypes import GenotypeFilter, Submatrix
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.use_case import refuse_full
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import (
    FieldError,
    NotFound,
    PageRequest,
    Principal,
    ValidationFailed,
    new_id,
)

WRITE = Permission("genotyping", Action.WRITE)
MAX_EXTRACT_VARIANTS = 5_000_000  # variants one extract may copy (their indexes are held)
# Formatting options of the request that say nothing about which calls are chosen.
_SPELLING = ("expandHomozygotes", "sepPhased", "sepUnphased", "unknownString")


def _request(body: bytes) -> dict[str, Any]:
    request = decode_bounded(body, "a VariantSetsExtractRequest object") if body.strip() else None
    if not isinstance(request, dict):
        raise ValidationFailed(
            "Request body must be a VariantSetsExtractRequest object",
            [FieldError("body", "expected object")],
        )
    return {k: v for k, v in request.items() if k not in _SPELLING}


async def extract_variant_set(
    uow: UnitOfWork, principal: Principal, body: bytes, documents: Documents, at: datetime
) -> DocumentPage:
    """Copy the selected calls into a new variant set; answer its document."""
    authorize(principal, WRITE)
    request: Mapping[str, Any] = _request(body)
    where = genotype_filter(request, UNSUPPORTED)
    if not (where.variant_set_db_ids or where.variants or where.call_set_db_ids):
        raise ValidationFailed(
            "Say what to extract",
            [FieldError("variantSetDbIds", "name variant sets, variants or call sets")],
        )
    store = uow.genotypes
    groups = await call_set_groups(store, where)
    if not groups:
        raise NotFound("Nothing to extract: no such variant set, variant or call set")
    if len(groups) > 1:
        raise ValidationFailed(
            "Extract from one variant set at a time",
            [FieldError("variantSetDbIds", f"the selection spans {len(groups)} variant sets")],
        )
    [(source, columns)] = groups.items()
    if not await store.hold(source):  # deleted since: nothing to copy, never part of it
        raise NotFound("Nothing to extract: no such variant set, variant or call set")
    chosen = with_filter(where, variant_set_db_ids=(source,))
    variants, total = await store.variant_rows(chosen, 0, MAX_EXTRACT_VARIANTS, alleles=False)
    if total > MAX_EXTRACT_VARIANTS or not variants:
        raise ValidationFailed(
            "Extract between 1 and 5,000,000 variants",
            [FieldError("variantDbIds", f"the selection has {total} variants")],
        )
    # Its calls are known before a chunk is copied (ADR 0343).
    await refuse_full(uow, StoredResource.GENOTYPE_CALLS, len(variants) * len(columns))
    sources, _ = await store.variant_set_rows(GenotypeFilter(variant_set_db_ids=(source,)), 0, 1)
    variant_set = VariantSet(
        tenant_id=principal.tenant_id,
        variant_set_db_id=new_id(),
        name=f"{sources[0].name} (extract)",
        source_format=sources[0].source_format,
        call_sets=[
            CallSet(new_id(), c.sample_name, c.germplasm_db_id, k, c.ploidy)
            for k, c in enumerate(columns)
        ],
    )
    picked = Submatrix(source, [v.index for v in variants], [c.column for c in columns])
    n = await store.extract(picked, variant_set)
    variant_set.imported(n, {}, actor=principal.subject, at=at)
    await store.seal(variant_set)
    rows, _ = await store.variant_set_rows(
        GenotypeFilter(variant_set_db_ids=(variant_set.variant_set_db_id,)), 0, 1
    )
    document = documents.variant_set(rows[0])
    return DocumentPage(msgspec.json.encode([document]), 1, 1, PageRequest(0, 1))
