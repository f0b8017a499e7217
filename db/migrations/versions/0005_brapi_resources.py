"""BrAPI engine: one document table for every BrAPI entity; germplasm moves into it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22

``domain.resources`` keeps each document as ``jsonb`` (filters, GIN jsonb_path_ops) and as
the exact bytes served (``body``). Existing germplasm rows are converted to BrAPI documents
(the shape the foundation's ``json_build_object`` read model served) before the old table
is dropped. See docs/adr/0040-brapi-engine.md.
"""

from alembic import op
from ddl_v1 import tenant_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_GERMPLASM_COLUMNS = {
    "germplasmDbId": "germplasm_db_id",
    "germplasmName": "germplasm_name",
    "germplasmPUI": "germplasm_pui",
    "commonCropName": "common_crop_name",
    "accessionNumber": "accession_number",
    "acquisitionDate": "acquisition_date",
    "additionalInfo": "additional_info",
    "biologicalStatusOfAccessionCode": "biological_status_of_accession_code",
    "biologicalStatusOfAccessionDescription": "biological_status_of_accession_description",
    "breedingMethodDbId": "breeding_method_db_id",
    "breedingMethodName": "breeding_method_name",
    "collection": "collection",
    "countryOfOriginCode": "country_of_origin_code",
    "defaultDisplayName": "default_display_name",
    "documentationURL": "documentation_url",
    "donors": "donors",
    "externalReferences": "external_references",
    "genus": "genus",
    "germplasmOrigin": "germplasm_origin",
    "germplasmPreprocessing": "germplasm_preprocessing",
    "instituteCode": "institute_code",
    "instituteName": "institute_name",
    "pedigree": "pedigree",
    "seedSource": "seed_source",
    "seedSourceDescription": "seed_source_description",
    "species": "species",
    "speciesAuthority": "species_authority",
    "storageTypes": "storage_types",
    "subtaxa": "subtaxa",
    "subtaxaAuthority": "subtaxa_authority",
    "synonyms": "synonyms",
    "taxonIds": "taxon_ids",
}


def upgrade() -> None:
    for statement in (
        """
        CREATE TABLE domain.resources (
            tenant_id uuid NOT NULL,
            entity text NOT NULL,
            db_id text NOT NULL,
            document jsonb NOT NULL,
            body bytea NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, entity, db_id)
        )
        """,
        "CREATE INDEX resources_document_idx ON domain.resources USING gin (document "
        "jsonb_path_ops)",
        *tenant_table("domain", "resources"),
    ):
        op.execute(statement)
    pairs = ", ".join(f"'{key}', {column}" for key, column in _GERMPLASM_COLUMNS.items())
    op.execute(
        f"""
        INSERT INTO domain.resources (tenant_id, entity, db_id, document, body)
        SELECT tenant_id, 'germplasm', germplasm_db_id, doc, convert_to(doc::text, 'UTF8')
        FROM (SELECT tenant_id, germplasm_db_id, jsonb_build_object({pairs}) AS doc
              FROM domain.germplasm) g
        """
    )
    op.execute("DROP TABLE domain.germplasm")
