"""The Treaty's SMTA reporting rows: one row per sample transferred under an SMTA.

The columns follow what the Governing Body's reporting (Easy-SMTA) asks of a provider: the
SMTA's identification, date and type, provider and recipient with their countries, the
method of acceptance, and for each sample its identifier, crop and Annex I status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bijmantra.domain.distribution.agreements import Agreement, is_annex1

SMTA_COLUMNS = (
    "smta_id",
    "smta_date",
    "smta_type",
    "template_version",
    "status",
    "provider_name",
    "provider_country",
    "recipient_name",
    "recipient_country",
    "acceptance_method",
    "language",
    "sample_id",
    "accession_number",
    "sample_name",
    "crop",
    "annex1",
    "pud",
    "document_sha256",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Material:
    """What the germplasm context tells about a sample."""

    germplasm_id: str
    name: str = ""
    accession_number: str = ""
    crop: str = ""
    genus: str = ""
    species: str = ""

    @property
    def annex1(self) -> bool:
        return is_annex1(self.genus or None, self.species or None, self.crop or None)


def cell(value: str) -> str:
    """Text a spreadsheet would run as a formula is prefixed with a quote (CSV injection)."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def smta_rows(
    agreements: Sequence[Agreement], material: Mapping[str, Material]
) -> list[tuple[str, ...]]:
    rows = []
    for agreement in agreements:
        provider = next(p for p in agreement.parties if p.role == "provider")
        recipient = next(p for p in agreement.parties if p.role == "recipient")
        when = agreement.activated_at or agreement.created_at
        for sample in agreement.material:
            facts = material.get(sample, Material(sample))
            row = (
                agreement.id,
                when.date().isoformat(),
                "standard",
                agreement.template_version,
                agreement.status.value,
                provider.name,
                provider.country,
                recipient.name,
                recipient.country,
                "signature",
                "en",
                sample,
                facts.accession_number,
                facts.name,
                facts.crop,
                "yes" if facts.annex1 else "no",
                "no",
                agreement.document_sha256 or "",
            )
            rows.append(tuple(cell(v) for v in row))
    return rows
