"""Import the BrAPI Test Server's sample data into one organization.

The upstream SQL is loaded as-is into a scratch schema (as the owner role), mapped to our
model there, and written through the same use cases as any client write — so every row
gets validated and emits its events. The upstream DbId is kept as an external reference
(source ``brapi-test-server``), which also makes the import idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.schema import SchemaSet
from bijmantra.kernel import Principal, TenantId

SOURCE = "brapi-test-server"
STAGING = "brapi_testdata_staging"
STATUS_BY_ORDINAL = SchemaSet("BrAPI-Germplasm").named("GermplasmNewRequest")["properties"][
    "biologicalStatusOfAccessionCode"
]["enum"]

_GERMPLASM = f"""
SELECT g.id, g.germplasm_name, g.germplasmpui, c.crop_name, g.accession_number,
       g.acquisition_date::date, g.biological_status_of_accession_code, g.collection,
       g.country_of_origin_code, g.default_display_name, g.documentationurl, g.genus,
       g.germplasm_preprocessing, g.seed_source, g.seed_source_description, g.species,
       g.species_authority, g.subtaxa, g.subtaxa_authority, g.breeding_method_id, b.name,
       (SELECT coalesce(json_agg(json_build_object('synonym', s.synonym, 'type', s.type)), '[]')
          FROM {STAGING}.germplasm_synonym s WHERE s.germplasm_id = g.id),
       (SELECT coalesce(json_agg(json_build_object('donorAccessionNumber', d.donor_accession_number,
                                                   'donorInstituteCode', d.donor_institute_code)), '[]')
          FROM {STAGING}.germplasm_donor d WHERE d.germplasm_id = g.id)
FROM {STAGING}.germplasm g
LEFT JOIN {STAGING}.crop c ON c.id = g.crop_id
LEFT JOIN {STAGING}.breeding_method b ON b.id = g.breeding_method_id
ORDER BY g.id
"""


def default_source() -> Path:
    configured = os.environ.get("BRAPI_TESTDATA_DIR")
    if configured:
        return Path(configured)
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / "shared" / "brapi-testdata" / "brapi-java-testserver" / "db"
        if candidate.is_dir():
            return candidate
        sibling = folder.parent / "shared" / "brapi-testdata" / "brapi-java-testserver" / "db"
        if sibling.is_dir():
            return sibling
    raise FileNotFoundError("BrAPI test data not found; pass --source or set BRAPI_TESTDATA_DIR")


def stage(owner_url: str, source: Path) -> list[tuple[Any, ...]]:
    """Load the upstream dump into a scratch schema and read germplasm rows from it."""
    scripts = [source / "migration" / "V001__initial_schema.sql"]
    scripts += sorted((source / "sql").glob("R__init_data_*.sql"))
    scripts += sorted((source / "sql" / "variant_set_4").glob("*.sql"))
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {STAGING} CASCADE")
        conn.execute(f"CREATE SCHEMA {STAGING}")
        try:
            for number, script in enumerate(scripts, 1):
                with conn.transaction():
                    conn.execute(f"SET LOCAL search_path TO {STAGING}")
                    conn.execute(script.read_text())  # type: ignore[call-overload]
                print(f"  staged {number}/{len(scripts)} {script.name}", flush=True)
            return conn.execute(_GERMPLASM).fetchall()  # type: ignore[call-overload]
        finally:
            conn.execute(f"DROP SCHEMA IF EXISTS {STAGING} CASCADE")


def to_request(row: tuple[Any, ...]) -> dict[str, Any]:
    (
        db_id,
        name,
        pui,
        crop,
        accession,
        acquired,
        status,
        collection,
        country,
        display,
        url,
        genus,
        preprocessing,
        seed_source,
        seed_source_desc,
        species,
        species_auth,
        subtaxa,
        subtaxa_auth,
        method_id,
        method_name,
        synonyms,
        donors,
    ) = row
    document = {
        "germplasmName": name or db_id,
        "germplasmPUI": pui or f"{SOURCE}:{db_id}",
        "commonCropName": crop or "Unknown",
        "accessionNumber": accession,
        "acquisitionDate": acquired.isoformat() if acquired else None,
        "biologicalStatusOfAccessionCode": STATUS_BY_ORDINAL[status]
        if status is not None
        else None,
        "collection": collection,
        "countryOfOriginCode": country,
        "defaultDisplayName": display,
        "documentationURL": url,
        "genus": genus,
        "germplasmPreprocessing": preprocessing,
        "seedSource": seed_source,
        "seedSourceDescription": seed_source_desc,
        "species": species,
        "speciesAuthority": species_auth,
        "subtaxa": subtaxa,
        "subtaxaAuthority": subtaxa_auth,
        "breedingMethodDbId": None,
        "breedingMethodName": method_name,
        "synonyms": synonyms,
        "donors": donors,
        "externalReferences": [{"referenceId": db_id, "referenceSource": SOURCE}],
    }
    return document


async def load(
    database_url: str, tenant: uuid.UUID, rows: list[tuple[Any, ...]], batch: int = 100
) -> int:
    """Create what is not there yet, keeping the upstream DbIds (so re-running is a no-op)."""
    engine = create_engine(database_url, pool_size=2)
    uow = unit_of_work_factory(engine, source="domain-api")
    principal = Principal(
        subject="import:brapi-testdata",
        tenant_id=TenantId(tenant),
        roles=frozenset({"data-manager"}),
    )
    try:
        async with uow(principal.tenant_id) as unit:
            done = set(await unit.resources.documents("germplasm", [r[0] for r in rows]))
        todo = [r for r in rows if r[0] not in done]
        commands = ResourceCommands(catalog(), uow)
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            await commands.create(
                principal, "germplasm", [to_request(r) for r in chunk], db_ids=[r[0] for r in chunk]
            )
            print(f"  germplasm {min(start + batch, len(todo))}/{len(todo)}", flush=True)
        return len(todo)
    finally:
        await engine.dispose()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bijmantra-domain-api import-testdata")
    parser.add_argument("--tenant", required=True, type=uuid.UUID)
    parser.add_argument("--staging-url", default=os.environ.get("DATABASE_OWNER_URL"))
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--source", type=Path, default=None)
    args = parser.parse_args(argv)
    if not args.staging_url or not args.database_url:
        parser.error(
            "--staging-url/DATABASE_OWNER_URL and --database-url/DATABASE_URL are required"
        )
    print("Importing the BrAPI Test Server data set", flush=True)
    rows = stage(args.staging_url, args.source or default_source())
    created = asyncio.run(load(args.database_url, args.tenant, rows))
    print(f"Imported {created} germplasm ({len(rows) - created} already present)", flush=True)
