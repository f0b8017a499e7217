"""What crosses the genotyping boundary: import specs and summaries, stored sets, chunks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Self

from bijmantra.domain.genotyping import CallSet


@dataclass(frozen=True, slots=True)
class ImportSpec:
    variant_set_name: str
    source_format: str
    common_crop_name: str


@dataclass(frozen=True, slots=True)
class StoredVariantSet:
    variant_set_db_id: str
    name: str
    source_format: str
    n_variants: int
    call_sets: list[CallSet]
    skipped: dict[str, int]
    created_at: str

    def document(self) -> dict[str, Any]:
        return {
            "variantSetDbId": self.variant_set_db_id,
            "variantSetName": self.name,
            "sourceFormat": self.source_format,
            "variantCount": self.n_variants,
            "callSetCount": len(self.call_sets),
            "variantsSkipped": self.skipped,
            "created": self.created_at,
            "callSets": [
                {
                    "callSetDbId": c.call_set_db_id,
                    "sampleName": c.sample_name,
                    "germplasmDbId": c.germplasm_db_id,
                    "ploidy": c.ploidy,
                }
                for c in self.call_sets
            ],
        }


@dataclass(frozen=True, slots=True)
class GenotypeChunk:
    """Dosages of ``n_variants`` consecutive variants from ``variant_start``, int8 row-major.

    ``codec`` is ``raw`` (int8) or ``2bit`` (``bijmantra.genomics.packing``), the latter
    only for readers that asked for packed chunks.
    """

    variant_start: int
    n_variants: int
    n_samples: int
    codec: str
    dosages: bytes
    chrom: list[str] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    variant_db_ids: list[str] = field(default_factory=list)


class CallBlock(Protocol):
    """Calls of consecutive variants x call sets (``bijmantra.genomics.calls.CallMatrix``):
    allele indexes ``(variants, samples, width)`` (-1 missing, -2 past the ploidy), phase,
    and FORMAT values by key (NaN where absent)."""

    @property
    def alleles(self) -> Any: ...

    @property
    def phased(self) -> Any: ...

    @property
    def fields(self) -> Any: ...

    def __len__(self) -> int: ...

    def pick(self, rows: Sequence[int]) -> Self:
        """The given variants (rows), in that order."""
        ...

    def joined(self, following: Sequence[Self]) -> Self:
        """These calls followed by those of the next variants."""
        ...

    def texts(
        self, sep_phased: str, sep_unphased: str, unknown: str, expand_homozygotes: bool
    ) -> list[list[str]]:
        """Every call spelled as BrAPI asks, ``(variants, samples)``."""
        ...

    def field_texts(self, name: str, unknown: str) -> list[list[str]]:
        """One FORMAT field (DS, GQ, DP) as text, ``unknown`` where absent."""
        ...


@dataclass(frozen=True, slots=True)
class CallChunk:
    """Calls of ``len(chrom)`` consecutive variants from ``variant_start``."""

    variant_start: int
    chrom: list[str]
    pos: list[int]
    names: list[str]
    ref: list[str]
    alt: list[str]  # comma-joined ALT alleles, "" for none
    calls: CallBlock
