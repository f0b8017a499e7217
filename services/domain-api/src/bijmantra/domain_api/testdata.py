"""Import the BrAPI Test Server's data set (Core, Germplasm, genotyping references) into one
organization.

The upstream SQL is loaded as-is into a scratch schema (as the owner role), each entity is
read from there as a BrAPI new-request document, and written through the engine's create
use case like any client write — validated, reference-checked and emitting its events.
Upstream DbIds are kept as our DbIds (and as an external reference, source
``brapi-test-server``), so a second run creates nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import psycopg
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.modules.genotyping import REFERENCE_BLOCKS
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.domain.genotyping.reference_bases import block_db_id, split_blocks
from bijmantra.domain_api.production import postgres_units
from bijmantra.domain_api.testdata_genotypes import demo_vcf, load_demo_genotypes
from bijmantra.domain_api.testdata_genotyping import settle
from bijmantra.domain_api.testdata_sql import PARAMETERS, PEDIGREE, SOURCE, SOURCES, java_value
from bijmantra.kernel import BijmantraError, Principal, TenantId
from psycopg import sql

DEMO_GENOTYPES = "genotypes"  # staged VCF of the Test Server's variant set 1
STAGING = "brapi_testdata_staging"
_STAGING = sql.Identifier(STAGING)


def _owner_column(conn: psycopg.Connection[Any], join_table: str) -> str | None:
    """The column of an upstream join table that names the owning entity (None: no table)."""
    row = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s "
        "AND column_name LIKE '%%entity_id'",
        (STAGING, join_table),
    ).fetchone()
    return None if row is None else str(row[0])


def _extras(
    conn: psycopg.Connection[Any], table: str
) -> tuple[dict[str, dict[str, str]], dict[str, list[Any]]]:
    """additionalInfo and externalReferences of every upstream row of ``table``."""
    info: dict[str, dict[str, str]] = defaultdict(dict)
    refs: dict[str, list[Any]] = defaultdict(list)
    if owner := _owner_column(conn, f"{table}_additional_info"):
        for entity_id, key, value in conn.execute(
            sql.SQL(
                "SELECT x.{owner}, a.key, a.value FROM {table} x "
                "JOIN additional_info a ON a.id = x.additional_info_id"
            ).format(owner=sql.Identifier(owner), table=sql.Identifier(f"{table}_additional_info"))
        ):
            if (decoded := java_value(bytes(value))) is not None:
                info[entity_id][key] = decoded
    if owner := _owner_column(conn, f"{table}_external_references"):
        for entity_id, ref_id, ref_source in conn.execute(
            sql.SQL(
                "SELECT x.{owner}, r.external_reference_id, r.external_reference_source "
                "FROM {table} x JOIN external_reference r ON r.id = x.external_references_id"
            ).format(
                owner=sql.Identifier(owner),
                table=sql.Identifier(f"{table}_external_references"),
            )
        ):
            refs[entity_id].append({"referenceId": ref_id, "referenceSource": ref_source})
    return info, refs


Staged = dict[str, list[tuple[str, dict[str, Any]]]]


def _reference_blocks(conn: psycopg.Connection[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Each reference's bases (upstream pages, in order) re-cut into our blocks (ADR 0196)."""
    rows = conn.execute(
        "SELECT reference_id, string_agg(bases, '' ORDER BY page_number) "
        "FROM reference_bases GROUP BY reference_id ORDER BY reference_id"
    )
    return [
        (block_db_id(reference_id, n), {"sequence": block})
        for reference_id, sequence in rows
        for n, block in enumerate(split_blocks(sequence))
    ]


def default_source() -> Path:
    configured = os.environ.get("BRAPI_TESTDATA_DIR")
    if configured:
        return Path(configured)
    for folder in (Path.cwd(), *Path.cwd().parents):
        for base in (folder, folder.parent):
            candidate = base / "shared" / "brapi-testdata" / "brapi-java-testserver" / "db"
            if candidate.is_dir():
                return candidate
    raise FileNotFoundError("BrAPI test data not found; pass --source or set BRAPI_TESTDATA_DIR")


def stage(owner_url: str, source: Path) -> Staged:
    """Load the upstream dump into a scratch schema and read every Core/Germplasm entity."""
    scripts = [source / "migration" / "V001__initial_schema.sql"]
    scripts += sorted((source / "sql").glob("R__init_data_*.sql"))
    scripts += sorted((source / "sql" / "variant_set_4").glob("*.sql"))  # adds ~270 germplasm
    staged: Staged = {}
    with psycopg.connect(owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_STAGING))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(_STAGING))
        try:
            for number, script in enumerate(scripts, 1):
                with conn.transaction():
                    conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(_STAGING))
                    conn.execute(script.read_text())
                print(f"  staged {number}/{len(scripts)} {script.name}", flush=True)
            conn.execute(sql.SQL("SET search_path TO {}").format(_STAGING))
            for item in SOURCES:
                info, refs = _extras(conn, item.table)
                rows = []
                for db_id, document in conn.execute(item.query, PARAMETERS):
                    document = {k: v for k, v in document.items() if v is not None}
                    document["additionalInfo"] = info.get(db_id) or None
                    document["externalReferences"] = [
                        *refs.get(db_id, []),
                        {"referenceId": db_id, "referenceSource": SOURCE},
                    ]
                    rows.append((db_id, document))
                staged[item.entity] = rows
            staged["pedigree"] = list(conn.execute(PEDIGREE, PARAMETERS))
            settle(staged)
            staged[REFERENCE_BLOCKS] = _reference_blocks(conn)
            staged[DEMO_GENOTYPES] = [("variantset1", {"vcf": demo_vcf(conn)})]
            return staged
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(_STAGING))


def _parents_first(nodes: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    by_id = dict(nodes)
    ordered: dict[str, dict[str, Any]] = {}

    def visit(node_id: str, path: frozenset[str]) -> None:
        if node_id in ordered or node_id not in by_id or node_id in path:
            return
        for parent in by_id[node_id]["parents"]:
            visit(parent["germplasmDbId"], path | {node_id})
        ordered[node_id] = by_id[node_id]

    for node_id, _ in nodes:
        visit(node_id, frozenset())
    return list(ordered.items())


def _waves(
    rows: list[tuple[str, dict[str, Any]]], parent_key: str
) -> list[list[tuple[str, dict[str, Any]]]]:
    """Rows referencing a row of the same entity come in a later wave than that row."""
    ids = {db_id for db_id, _ in rows}
    placed: set[str] = set()
    waves, pending = [], list(rows)
    while pending:
        wave = [
            (i, d)
            for i, d in pending
            if d.get(parent_key) not in ids or d.get(parent_key) in placed
        ]
        if not wave:  # a reference cycle upstream (location_01 <-> location_03): break it
            by_id, seen, node = dict(pending), [], pending[0][0]
            while node not in seen:
                seen.append(node)
                node = by_id[node][parent_key]
            print(
                f"  {node}: dropping cyclic {parent_key} {by_id[node].pop(parent_key)!r}",
                flush=True,
            )
            continue
        placed.update(i for i, _ in wave)
        pending = [(i, d) for i, d in pending if i not in placed]
        waves.append(wave)
    return waves


SELF_REFERENCES = {"location": "parentLocationDbId"}


async def load(
    uow: UnitOfWorkFactory, tenant: uuid.UUID, staged: Staged, batch: int = 200
) -> dict[str, int]:
    """Create what is not there yet, entity by entity in dependency order; report progress.
    ``uow`` writes into the organization's placement, like every other write (ADR 0102)."""
    principal = Principal(
        subject="import:brapi-testdata",
        tenant_id=TenantId(tenant),
        roles=frozenset({"data-manager"}),
    )
    commands = ResourceCommands(catalog(), uow)
    created: dict[str, int] = {}
    for entity, rows in staged.items():
        if entity == "pedigree":
            rows = _parents_first(rows)
        if entity == DEMO_GENOTYPES:  # imported last, into the genotype store
            continue
        async with uow(principal.tenant_id) as unit:
            done = set(await unit.resources.documents(entity, [db_id for db_id, _ in rows]))
            todo = [(db_id, doc) for db_id, doc in rows if db_id not in done]
            if entity == REFERENCE_BLOCKS:  # stored blocks, not BrAPI documents
                await unit.resources.insert(entity, todo)
                await unit.commit()
                created[entity] = len(todo)
                continue
        chunks = [
            wave[start : start + batch]
            for wave in _waves(todo, SELF_REFERENCES.get(entity, ""))
            for start in range(0, len(wave), batch)
        ]
        written = 0
        for chunk in chunks:
            if entity == "pedigree":
                await commands.update_many(principal, entity, msgspec.json.encode(dict(chunk)))
            else:
                await commands.create(
                    principal, entity, [doc for _, doc in chunk], db_ids=[i for i, _ in chunk]
                )
            written += len(chunk)
            print(f"  {entity} {written}/{len(todo)}", flush=True)
        created[entity] = len(todo)
    [(_, demo)] = staged[DEMO_GENOTYPES]
    created["variants"] = await load_demo_genotypes(uow, principal, demo["vcf"])
    return created


async def _load_into(database_url: str, tenant: uuid.UUID, staged: Staged) -> dict[str, int]:
    async with postgres_units(database_url) as uow:
        return await load(uow, tenant, staged)


def _report(error: BijmantraError) -> None:
    print(f"  refused: {error.message}", flush=True)
    for detail in error.details:
        print(f"    {detail.location}: {detail.message}", flush=True)


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
    print(
        "Importing the BrAPI Test Server data set (Core, Germplasm, Genotyping documents)",
        flush=True,
    )
    staged = stage(args.staging_url, args.source or default_source())
    try:
        created = asyncio.run(_load_into(args.database_url, args.tenant, staged))
    except BijmantraError as error:
        _report(error)
        raise SystemExit(1) from None
    # The staged VCF is one record; what it adds is variants in the genotype store.
    variants = created.pop("variants", 0)
    total = sum(len(rows) for entity, rows in staged.items() if entity != DEMO_GENOTYPES)
    summary = ", ".join(f"{n} {entity}" for entity, n in created.items() if n)
    print(
        f"Imported {sum(created.values())} of {total} records ({summary or 'all already present'})"
        f" and {variants} demo variants",
        flush=True,
    )
