"""Genotyping use cases: import genotype files, read variant sets and their matrices."""

from bijmantra.application.genotyping.deletes import DeleteVariantSet
from bijmantra.application.genotyping.dto import ImportSpec
from bijmantra.application.genotyping.imports import ImportGenotypes
from bijmantra.application.genotyping.queries import (
    ExportGenotypes,
    GetVariantSet,
    StreamGenotypes,
    columns_for,
    stored_variant_set,
)
from bijmantra.application.ports.genotypes import (
    CallBlock,
    CallChunk,
    GenotypeChunk,
    StoredVariantSet,
)

__all__ = [
    "CallBlock",
    "CallChunk",
    "DeleteVariantSet",
    "ExportGenotypes",
    "GenotypeChunk",
    "GetVariantSet",
    "ImportGenotypes",
    "ImportSpec",
    "StoredVariantSet",
    "StreamGenotypes",
    "columns_for",
    "stored_variant_set",
]
