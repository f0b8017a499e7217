"""Genotyping context: variant sets, their call sets (samples) and variants."""

from bijmantra.domain.genotyping.model import GENOTYPE_FORMATS, CallSet, VariantSet

__all__ = ["GENOTYPE_FORMATS", "CallSet", "VariantSet"]
