"""The Germplasm aggregate and its invariants."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from bijmantra.domain.events import DomainEvent, EventSource
from bijmantra.kernel import FieldError, TenantId, ValidationFailed

# MCPD v2.1 SAMPSTAT codes accepted by BrAPI v2.1.
BIOLOGICAL_STATUS_CODES = frozenset(
    {
        "100", "110", "120", "130", "200", "300", "400", "410", "411", "412", "413", "414",
        "415", "416", "420", "421", "422", "423", "500", "600", "999",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExternalReference:
    reference_id: str | None
    reference_source: str | None


@dataclass(frozen=True, slots=True)
class Donor:
    donor_accession_number: str | None = None
    donor_institute_code: str | None = None


@dataclass(frozen=True, slots=True)
class Synonym:
    synonym: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class TaxonId:
    source_name: str
    taxon_id: str


@dataclass(frozen=True, slots=True)
class StorageType:
    code: str | None = None
    description: str | None = None


@dataclass(eq=False)
class Germplasm(EventSource):
    """A germplasm accession owned by one organization.

    Invariants: a non-blank name, PUI and crop; a known biological-status code; an
    acquisition date that is a real calendar date not in the future.
    """

    tenant_id: TenantId
    germplasm_db_id: str
    germplasm_name: str
    germplasm_pui: str
    common_crop_name: str
    accession_number: str | None = None
    acquisition_date: date | None = None
    additional_info: dict[str, Any] = field(default_factory=dict)
    biological_status_of_accession_code: str | None = None
    biological_status_of_accession_description: str | None = None
    breeding_method_db_id: str | None = None
    breeding_method_name: str | None = None
    collection: str | None = None
    country_of_origin_code: str | None = None
    default_display_name: str | None = None
    documentation_url: str | None = None
    donors: list[Donor] = field(default_factory=list)
    external_references: list[ExternalReference] = field(default_factory=list)
    genus: str | None = None
    germplasm_origin: list[dict[str, Any]] = field(default_factory=list)
    germplasm_preprocessing: str | None = None
    institute_code: str | None = None
    institute_name: str | None = None
    pedigree: str | None = None
    seed_source: str | None = None
    seed_source_description: str | None = None
    species: str | None = None
    species_authority: str | None = None
    storage_types: list[StorageType] = field(default_factory=list)
    subtaxa: str | None = None
    subtaxa_authority: str | None = None
    synonyms: list[Synonym] = field(default_factory=list)
    taxon_ids: list[TaxonId] = field(default_factory=list)

    def __post_init__(self) -> None:
        EventSource.__init__(self)
        problems = self.violations()
        if problems:
            raise ValidationFailed("Invalid germplasm", problems)

    def violations(self, today: date | None = None) -> list[FieldError]:
        """Every broken invariant, so a client sees all of them at once."""
        problems = []
        for name in ("germplasm_name", "germplasm_pui", "common_crop_name"):
            if not str(getattr(self, name) or "").strip():
                problems.append(FieldError(_camel(name), "must not be blank"))
        code = self.biological_status_of_accession_code
        if code is not None and code not in BIOLOGICAL_STATUS_CODES:
            problems.append(
                FieldError("biologicalStatusOfAccessionCode", f"unknown MCPD status code {code!r}")
            )
        if self.acquisition_date is not None and self.acquisition_date > (today or date.today()):
            problems.append(FieldError("acquisitionDate", "must not be in the future"))
        return problems

    @classmethod
    def register(cls, *, actor: str | None = None, **fields: Any) -> Germplasm:
        """Create a new accession and record ``germplasm.created``."""
        germplasm = cls(**fields)
        germplasm.record(
            DomainEvent(
                type="germplasm.created",
                tenant_id=germplasm.tenant_id,
                aggregate_id=germplasm.germplasm_db_id,
                data=germplasm.snapshot(),
                actor=actor,
            )
        )
        return germplasm

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy of the state, carried by events."""
        state = asdict(self)
        state.pop("_pending_events", None)
        state["tenant_id"] = str(self.tenant_id)
        if self.acquisition_date is not None:
            state["acquisition_date"] = self.acquisition_date.isoformat()
        return state


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.upper() if part in {"pui", "url"} else part.title() for part in rest)
