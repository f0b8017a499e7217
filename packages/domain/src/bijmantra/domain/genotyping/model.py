"""The VariantSet aggregate: one imported genotype file and the samples it genotyped.

The calls themselves are not modelled one by one: they live in the store as packed
chunks (variants x call sets); the aggregate guards what a matrix cannot — a name, unique
sample names, at least one variant — and records the import as an event.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bijmantra.domain.events import DomainEvent, EventSource
from bijmantra.kernel import FieldError, TenantId, ValidationFailed

GENOTYPE_FORMATS = frozenset({"vcf", "plink", "hapmap", "flapjack"})


@dataclass(frozen=True, slots=True)
class ExportFormat:
    """A file a variant set can be downloaded as (BrAPI ``availableFormats``, ADR 0199)."""

    name: str  # URL segment: /api/v1/variantsets/{id}/files/{name}
    data_format: str  # BrAPI's ``dataFormat`` spelling
    media_type: str
    extension: str
    file_format: str = "text/tsv"  # BrAPI's ``fileFormat`` (its enum has no VCF or .bed type)
    # How the file spells a call (BrAPI's fields of the same names); None: not as text.
    sep_phased: str | None = "|"
    sep_unphased: str | None = "/"
    unknown_string: str | None = "."
    expand_homozygotes: bool | None = True


_ZIP = "application/zip"
EXPORT_FORMATS = {
    f.name: f
    for f in (
        ExportFormat("vcf", "VCF", "text/tab-separated-values", "vcf"),
        ExportFormat("hapmap", "Hapmap", "text/tab-separated-values", "hmp.txt"),
        # Multi-file formats as one zip (ADR 0270): .genotype + .map; .bed + .bim + .fam.
        ExportFormat("flapjack", "tabular", _ZIP, "flapjack.zip", _ZIP, "/", "/", "-", False),
        ExportFormat("plink", "tabular", _ZIP, "plink.zip", _ZIP, None, None, None, None),
    )
}


@dataclass(frozen=True, slots=True)
class CallSet:
    """One sample's column in the matrix, linked to the germplasm it was taken from."""

    call_set_db_id: str
    sample_name: str
    germplasm_db_id: str
    column: int
    ploidy: int = 2  # the most alleles any of its calls has, known once the file is read


@dataclass(eq=False)
class VariantSet(EventSource):
    tenant_id: TenantId
    variant_set_db_id: str
    name: str
    source_format: str
    call_sets: list[CallSet]
    n_variants: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    reference_set_db_id: str | None = None  # the contigs' reference set, once created

    def __post_init__(self) -> None:
        EventSource.__init__(self)
        problems = []
        if not self.name.strip():
            problems.append(FieldError("variantSetName", "must not be blank"))
        if self.source_format not in GENOTYPE_FORMATS:
            problems.append(FieldError("format", f"must be one of {sorted(GENOTYPE_FORMATS)}"))
        if not self.call_sets:
            problems.append(FieldError("samples", "the file names no samples"))
        names = [c.sample_name for c in self.call_sets]
        if len(set(names)) != len(names):
            problems.append(FieldError("samples", "sample names must be unique"))
        if problems:
            raise ValidationFailed("Invalid variant set", problems)

    def imported(
        self, n_variants: int, skipped: Mapping[str, int], *, actor: str | None, at: datetime
    ) -> None:
        """Seal the import: a set with no usable variant is refused (nothing is stored)."""
        if n_variants < 1:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(skipped.items())) or "empty file"
            raise ValidationFailed(
                "The file holds no variant with genotype calls",
                [FieldError("file", f"skipped {reasons}")],
            )
        self.n_variants = n_variants
        self.skipped = dict(skipped)
        self.record(
            DomainEvent(
                type="genotyping.variant_set_imported",
                tenant_id=self.tenant_id,
                aggregate_id=self.variant_set_db_id,
                data={
                    "variant_set_db_id": self.variant_set_db_id,
                    "name": self.name,
                    "format": self.source_format,
                    "n_variants": n_variants,
                    "n_samples": len(self.call_sets),
                    "skipped": self.skipped,
                },
                actor=actor,
                occurred_at=at,
            )
        )
