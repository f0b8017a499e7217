"""Genotyping context: variant sets, their call sets (samples) and variants."""

from bijmantra.domain.genotyping.model import (
    EXPORT_FORMATS,
    GENOTYPE_FORMATS,
    CallSet,
    ExportFormat,
    VariantSet,
)

__all__ = ["EXPORT_FORMATS", "GENOTYPE_FORMATS", "CallSet", "ExportFormat", "VariantSet"]
