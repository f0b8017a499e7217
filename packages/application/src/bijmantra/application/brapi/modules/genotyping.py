"""BrAPI-Genotyping: variant sets, call sets, variants, calls and the allele matrix;
reference sets and references. The module's other document entities (samples, plates,
maps, ...) are in ``genotyping_documents`` and ``genotyping_vendor``.

The first five are views over the genotype store (``view=True``, ADR 0191): the engine
mounts their routes from these declarations and hands their reads to
``bijmantra.application.genotyping.brapi.GenotypeViews``. Reference sets and references
are ordinary documents; a reference's bases are blocks read by the ``bases`` view
(ADR 0196).
"""

from __future__ import annotations

from typing import Any

from bijmantra.application.brapi.entity import (
    READ_ONLY,
    DocumentReader,
    Entity,
    Match,
    Module,
    Op,
    Ref,
    View,
    ViewQuery,
    external_reference_filters,
    fields,
)
from bijmantra.application.brapi.modules.genotyping_documents import DOCUMENT_ENTITIES, entity
from bijmantra.application.brapi.modules.genotyping_vendor import VENDOR_ENTITIES, VENDOR_VIEWS
from bijmantra.domain.genotyping.reference_bases import bases_window, block_db_id

READ_AND_SEARCH = READ_ONLY | {Op.SEARCH}


def _view(
    name: str,
    schema: str,
    *,
    path: str = "",
    operations: frozenset[Op] = READ_AND_SEARCH,
    children: dict[str, tuple[str, str]] | None = None,
    single: bool = False,
    token_paging: bool = False,
    derive: str | None = None,
) -> Entity:
    """A view over the genotype store: reads (and ``PUT /calls``) take the schema itself."""
    return entity(
        name=name,
        path=path,
        schema=schema,
        request_schema=schema,
        operations=operations,
        children=children or {},
        view=True,
        single=single,
        token_paging=token_paging,
        derive=derive,
    )


VARIANT_SETS = _view(
    "variantset",
    "VariantSet",
    children={
        "callsets": ("callset", "variantSetDbId"),
        "variants": ("variant", "variantSetDbId"),
        "calls": ("call", "variantSetDbId"),
    },
    derive="extract",
)
CALL_SETS = _view("callset", "CallSet", children={"calls": ("call", "callSetDbId")})
VARIANTS = _view(
    "variant",
    "Variant",
    children={"calls": ("call", "variantDbId")},
    token_paging=True,
)
CALLS = _view(
    "call",
    "Call",
    operations=frozenset({Op.LIST, Op.SEARCH, Op.UPDATE_MANY}),
    token_paging=True,
)
ALLELE_MATRIX = _view(
    "allelematrix",
    "AlleleMatrix",
    path="allelematrix",
    operations=frozenset({Op.LIST, Op.SEARCH}),
    single=True,
)

# Filters the spec names for references that need data outside the document.
_REFERENCE_UNSUPPORTED = ("programDbId", "trialDbId", "studyDbId", "minLength", "maxLength")
_SOURCE_FILTERS = {
    "accession": Match.on("sourceAccessions.*"),
    "germplasmDbId": Match.on("sourceGermplasm.*.germplasmDbId"),
    "germplasmName": Match.on("sourceGermplasm.*.germplasmName"),
    **fields("md5checksum", "commonCropName"),
    **external_reference_filters(),
}
REFERENCE_SETS = entity(
    name="referenceset",
    schema="ReferenceSet",
    search_schema="ReferenceSetsSearchRequest",
    operations=READ_AND_SEARCH,
    filters={**fields("referenceSetDbId", "assemblyPUI"), **_SOURCE_FILTERS},
    unsupported_filters=_REFERENCE_UNSUPPORTED,
)
REFERENCES = entity(
    name="reference",
    schema="Reference",
    search_schema="ReferencesSearchRequest",
    operations=READ_AND_SEARCH,
    filters={**fields("referenceDbId", "referenceSetDbId", "isDerived"), **_SOURCE_FILTERS},
    unsupported_filters=_REFERENCE_UNSUPPORTED,
    references=(
        Ref("referenceSetDbId", "referenceset", names={"referenceSetName": "referenceSetName"}),
    ),
)
REFERENCE_BLOCKS = "referencebases"  # stored blocks of a reference's bases; never served


def _one(params: ViewQuery, name: str) -> str | None:
    values = params.get(name) or ()
    return values[0] if values else None


async def bases_view(
    reader: DocumentReader, reference: dict[str, Any], params: ViewQuery
) -> dict[str, Any]:
    """``GET /references/{id}/bases``: one bounded window of the sequence (ADR 0196)."""
    length = reference.get("length") or 0
    window = bases_window(
        length, _one(params, "start"), _one(params, "end"), _one(params, "pageToken")
    )
    db_id = reference["referenceDbId"]
    ids = {block_db_id(db_id, b): b for b in window.blocks}
    found = await reader.parts(REFERENCES.name, REFERENCE_BLOCKS, list(ids))
    blocks = {ids[i]: str(d.get("sequence") or "") for i, d in found.items()}
    sequence = window.cut(blocks)
    complete = len(sequence) == window.stop - window.start
    return {
        "offset": window.start,
        "sequence": sequence,
        "nextPageToken": window.next_token if complete else None,
    }


GENOTYPING = Module(
    name="BrAPI-Genotyping",
    entities=(
        VARIANT_SETS,
        CALL_SETS,
        VARIANTS,
        CALLS,
        ALLELE_MATRIX,
        *DOCUMENT_ENTITIES,
        *VENDOR_ENTITIES,
        REFERENCE_SETS,
        REFERENCES,
    ),
    views=(*VENDOR_VIEWS, View("reference", "bases", "ReferenceBases", bases_view)),
)
