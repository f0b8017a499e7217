"""Genotyping use cases: import genotype files, read variant sets and their matrices."""

from bijmantra.application.genotyping.dto import (
    CallBlock,
    CallChunk,
    GenotypeChunk,
    ImportSpec,
    StoredVariantSet,
)
from bijmantra.application.genotyping.imports import ImportGenotypes
from bijmantra.application.genotyping.queries import (
    GetVariantSet,
    StreamGenotypes,
    columns_for,
    stored_variant_set,
)

__all__ = [
    "CallBlock",
    "CallChunk",
    "GenotypeChunk",
    "GetVariantSet",
    "ImportGenotypes",
    "ImportSpec",
    "StoredVariantSet",
    "StreamGenotypes",
    "columns_for",
    "stored_variant_set",
]
