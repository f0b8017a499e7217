"""BrAPI-Genotyping: variant sets, call sets, variants, calls and the allele matrix; the
module's document entities (samples, plates, maps, ...) are in ``genotyping_documents``.

These five are views over the genotype store (``view=True``, ADR 0191): the engine mounts
their routes from these declarations and hands their reads to
``bijmantra.application.genotyping.brapi.GenotypeViews``.
"""

from __future__ import annotations

from bijmantra.application.brapi.entity import READ_ONLY, Entity, Module, Op
from bijmantra.application.brapi.modules.genotyping_documents import DOCUMENT_ENTITIES
from bijmantra.application.brapi.modules.genotyping_vendor import VENDOR_ENTITIES, VENDOR_VIEWS
from bijmantra.application.brapi.schema import SchemaSet

SCHEMAS = SchemaSet("BrAPI-Genotyping")
READ_AND_SEARCH = READ_ONLY | {Op.SEARCH}


def _view(
    name: str,
    path: str,
    schema: str,
    db_id: str,
    *,
    operations: frozenset[Op] = READ_AND_SEARCH,
    children: dict[str, tuple[str, str]] | None = None,
    single: bool = False,
    token_paging: bool = False,
) -> Entity:
    return Entity(
        name=name,
        path=path,
        context="genotyping",
        schemas=SCHEMAS,
        schema=schema,
        request_schema=schema,
        search_schema=f"{schema}SearchRequest",
        db_id=db_id,
        operations=operations,
        children=children or {},
        view=True,
        single=single,
        token_paging=token_paging,
    )


VARIANT_SETS = _view(
    "variantset",
    "variantsets",
    "VariantSet",
    "variantSetDbId",
    children={
        "callsets": ("callset", "variantSetDbId"),
        "variants": ("variant", "variantSetDbId"),
        "calls": ("call", "variantSetDbId"),
    },
)
CALL_SETS = _view(
    "callset", "callsets", "CallSet", "callSetDbId", children={"calls": ("call", "callSetDbId")}
)
VARIANTS = _view(
    "variant",
    "variants",
    "Variant",
    "variantDbId",
    children={"calls": ("call", "variantDbId")},
    token_paging=True,
)
CALLS = _view(
    "call",
    "calls",
    "Call",
    "callDbId",
    operations=frozenset({Op.LIST, Op.SEARCH}),
    token_paging=True,
)
ALLELE_MATRIX = _view(
    "allelematrix",
    "allelematrix",
    "AlleleMatrix",
    "alleleMatrixDbId",
    operations=frozenset({Op.LIST, Op.SEARCH}),
    single=True,
)

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
    ),
    views=VENDOR_VIEWS,
)
