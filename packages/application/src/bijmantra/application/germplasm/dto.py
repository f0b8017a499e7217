"""BrAPI v2.1 Germplasm documents (camelCase, every key present, null where empty).

These Structs are the schema of what crosses the service boundary: requests are decoded
and validated here once, in the service that owns the data, whoever the caller is.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from bijmantra.domain.germplasm import (
    Donor,
    ExternalReference,
    Germplasm,
    Synonym,
    TaxonId,
)
from bijmantra.domain.germplasm.model import StorageType
from bijmantra.kernel import FieldError, TenantId, ValidationFailed, new_id


class ExternalReferenceDoc(msgspec.Struct, rename="camel", omit_defaults=False):
    reference_id: str | None = None
    reference_source: str | None = None
    # BrAPI v2.0 clients still send the deprecated spelling.
    reference_i_d: str | None = msgspec.field(default=None, name="referenceID")


class DonorDoc(msgspec.Struct, rename="camel"):
    donor_accession_number: str | None = None
    donor_institute_code: str | None = None


class SynonymDoc(msgspec.Struct, rename="camel"):
    synonym: str | None = None
    type: str | None = None


class TaxonIdDoc(msgspec.Struct, rename="camel"):
    source_name: str
    taxon_id: str


class StorageTypeDoc(msgspec.Struct, rename="camel"):
    code: str | None = None
    description: str | None = None


class GermplasmNewRequest(msgspec.Struct, rename="camel"):
    germplasm_name: str
    common_crop_name: str
    germplasm_pui: str = msgspec.field(name="germplasmPUI")
    accession_number: str | None = None
    acquisition_date: date | None = None
    additional_info: dict[str, Any] | None = None
    biological_status_of_accession_code: str | None = None
    biological_status_of_accession_description: str | None = None
    breeding_method_db_id: str | None = None
    breeding_method_name: str | None = None
    collection: str | None = None
    country_of_origin_code: str | None = None
    default_display_name: str | None = None
    documentation_url: str | None = msgspec.field(default=None, name="documentationURL")
    donors: list[DonorDoc] | None = None
    external_references: list[ExternalReferenceDoc] | None = None
    genus: str | None = None
    germplasm_origin: list[dict[str, Any]] | None = None
    germplasm_preprocessing: str | None = None
    institute_code: str | None = None
    institute_name: str | None = None
    pedigree: str | None = None
    seed_source: str | None = None
    seed_source_description: str | None = None
    species: str | None = None
    species_authority: str | None = None
    storage_types: list[StorageTypeDoc] | None = None
    subtaxa: str | None = None
    subtaxa_authority: str | None = None
    synonyms: list[SynonymDoc] | None = None
    taxon_ids: list[TaxonIdDoc] | None = None

    def to_domain(self, tenant_id: TenantId, *, actor: str | None) -> Germplasm:
        return Germplasm.register(
            actor=actor,
            tenant_id=tenant_id,
            germplasm_db_id=new_id(),
            germplasm_name=self.germplasm_name,
            germplasm_pui=self.germplasm_pui,
            common_crop_name=self.common_crop_name,
            accession_number=self.accession_number,
            acquisition_date=self.acquisition_date,
            additional_info=self.additional_info or {},
            biological_status_of_accession_code=self.biological_status_of_accession_code,
            biological_status_of_accession_description=self.biological_status_of_accession_description,
            breeding_method_db_id=self.breeding_method_db_id,
            breeding_method_name=self.breeding_method_name,
            collection=self.collection,
            country_of_origin_code=self.country_of_origin_code,
            default_display_name=self.default_display_name,
            documentation_url=self.documentation_url,
            donors=[Donor(d.donor_accession_number, d.donor_institute_code) for d in self.donors or []],
            external_references=[
                ExternalReference(r.reference_id or r.reference_i_d, r.reference_source)
                for r in self.external_references or []
            ],
            genus=self.genus,
            germplasm_origin=list(self.germplasm_origin or []),
            germplasm_preprocessing=self.germplasm_preprocessing,
            institute_code=self.institute_code,
            institute_name=self.institute_name,
            pedigree=self.pedigree,
            seed_source=self.seed_source,
            seed_source_description=self.seed_source_description,
            species=self.species,
            species_authority=self.species_authority,
            storage_types=[StorageType(s.code, s.description) for s in self.storage_types or []],
            subtaxa=self.subtaxa,
            subtaxa_authority=self.subtaxa_authority,
            synonyms=[Synonym(s.synonym, s.type) for s in self.synonyms or []],
            taxon_ids=[TaxonId(t.source_name, t.taxon_id) for t in self.taxon_ids or []],
        )


class ExternalReferenceOut(msgspec.Struct, rename="camel"):
    reference_id: str | None
    reference_source: str | None


class GermplasmDocument(msgspec.Struct, rename="camel", omit_defaults=False):
    """The response shape; the PostgreSQL read model must produce exactly this."""

    germplasm_db_id: str
    germplasm_name: str
    germplasm_pui: str = msgspec.field(name="germplasmPUI")
    common_crop_name: str = ""
    accession_number: str | None = None
    acquisition_date: date | None = None
    additional_info: dict[str, Any] = msgspec.field(default_factory=dict)
    biological_status_of_accession_code: str | None = None
    biological_status_of_accession_description: str | None = None
    breeding_method_db_id: str | None = None
    breeding_method_name: str | None = None
    collection: str | None = None
    country_of_origin_code: str | None = None
    default_display_name: str | None = None
    documentation_url: str | None = msgspec.field(default=None, name="documentationURL")
    donors: list[DonorDoc] = msgspec.field(default_factory=list)
    external_references: list[ExternalReferenceOut] = msgspec.field(default_factory=list)
    genus: str | None = None
    germplasm_origin: list[dict[str, Any]] = msgspec.field(default_factory=list)
    germplasm_preprocessing: str | None = None
    institute_code: str | None = None
    institute_name: str | None = None
    pedigree: str | None = None
    seed_source: str | None = None
    seed_source_description: str | None = None
    species: str | None = None
    species_authority: str | None = None
    storage_types: list[StorageTypeDoc] = msgspec.field(default_factory=list)
    subtaxa: str | None = None
    subtaxa_authority: str | None = None
    synonyms: list[SynonymDoc] = msgspec.field(default_factory=list)
    taxon_ids: list[TaxonIdDoc] = msgspec.field(default_factory=list)


def document_for(germplasm: Germplasm) -> GermplasmDocument:
    """The document of an aggregate; used by in-memory read models and tests."""
    return msgspec.convert(germplasm, GermplasmDocument, from_attributes=True)


_items = msgspec.json.Decoder(list[msgspec.Raw])
_item = msgspec.json.Decoder(GermplasmNewRequest)


def decode_new_requests(payload: bytes) -> list[GermplasmNewRequest]:
    """Decode a JSON array of new germplasm; report every invalid item with its index."""
    try:
        raw_items = _items.decode(payload)
    except msgspec.DecodeError as exc:
        raise ValidationFailed("Request body must be a JSON array of Germplasm", [
            FieldError("$", str(exc))
        ]) from exc
    if not raw_items:
        raise ValidationFailed("Request body must contain at least one Germplasm", [])
    requests, problems = [], []
    for index, raw in enumerate(raw_items):
        try:
            requests.append(_item.decode(raw))
        except msgspec.ValidationError as exc:
            problems.append(FieldError(f"[{index}]", str(exc)))
    if problems:
        raise ValidationFailed(f"{len(problems)} invalid Germplasm item(s)", problems)
    return requests
