"""Germplasm bounded context: accessions, their taxonomy, donors and origins."""

from bijmantra.domain.germplasm.model import (
    BIOLOGICAL_STATUS_CODES,
    Donor,
    ExternalReference,
    Germplasm,
    Synonym,
    TaxonId,
)

__all__ = [
    "BIOLOGICAL_STATUS_CODES",
    "Donor",
    "ExternalReference",
    "Germplasm",
    "Synonym",
    "TaxonId",
]
