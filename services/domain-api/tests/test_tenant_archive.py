"""Export -> erasure -> import of one organization, on real PostgreSQL and Redis (ADR 0101).

Two organizations hold rows in several contexts (identity, BrAPI resources, the audit trail
with its hash chain, the outbox with its identity column, operations with a self-reference);
the first is exported, erased and imported as a fresh organization, and must come back the
same while the second is never touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres.placement_admin import (
    current_placement,
    database_owner_url,
    provision_database,
)
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.adapters.postgres.tenant_archive import (
    NOT_EXPORTED,
    ROOT,
    ArchiveError,
    qualified,
    read_manifest,
    tenant_tables,
    uncovered_tables,
)
from bijmantra.adapters.postgres.tenant_operations import import_tenant
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.domain_api.tenant_cli import main as tenant_cli
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase
from redis.asyncio import Redis

pytestmark = [pytest.mark.integration]
ZERO = bytes(32)
DEDICATED = PlacementDatabase("bijmantra_test_tenant_archive")
FRESH = PlacementDatabase("bijmantra_test_tenant_archive_fresh")  # no partitions yet


def seed(owner_url: str, tenant: uuid.UUID, name: str) -> None:
    h1, h2 = hashlib.sha256(name.encode()).digest(), hashlib.sha256(name.encode() * 2).digest()
    with psycopg.connect(owner_url) as conn:
        insert_organization(conn, tenant, name, ["admin", "breeder"])
        for db_id in ("g1", "g2\n\ttab"):
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) "
                "VALUES (%s, 'germplasm', %s, %s, %s)",
                (tenant, db_id, json.dumps({"germplasmName": f"{name}-{db_id}"}), b"\x00\xff"),
            )
        for position, prev, digest in ((1, ZERO, h1), (2, h1, h2)):
            conn.execute(
                "INSERT INTO domain.audit_log (tenant_id, position, event_id, event_type, "
                "subject, actor, occurred_at, recorded_at, envelope, prev_hash, hash) VALUES "
                "(%s, %s, %s, 'germplasm.created', 'g1', 'u', now(), now(), %s, %s, %s)",
                (tenant, position, uuid.uuid4(), b"env", prev, digest),
            )
        conn.execute(
            "INSERT INTO domain.audit_chain_heads (tenant_id, position, hash) VALUES (%s, 2, %s)",
            (tenant, h2),
        )
        conn.execute(
            "INSERT INTO domain.outbox (id, tenant_id, type, aggregate_id, envelope) "
            "VALUES (%s, %s, 'germplasm.created', 'g1', %s)",
            (uuid.uuid4(), tenant, b"env"),
        )
        conn.execute(
            "INSERT INTO domain.ops_seasons (tenant_id, id, name, starts_on, ends_on, "
            "capacity_hours, version, created_at) VALUES (%s, 's1', 'Kharif', '2026-06-01', "
            "'2026-10-31', 100, 1, now())",
            (tenant,),
        )
        # The child sorts before its parent, so only a whole-table insert satisfies the FK.
        for item, kind, parent in (("z-plan", "plan", None), ("a-op", "operation", "z-plan")):
            conn.execute(
                "INSERT INTO domain.ops_work_items (tenant_id, id, kind, title, parent_id, "
                "root_id, description, status, priority, assignees, rank, estimate_hours, "
                "unit_ids, variable_ids, version, created_at, updated_at) VALUES (%s, %s, %s, "
                "'t', %s, 'z-plan', '', 'todo', 'normal', '{}', 1, 0, '{}', '{}', 1, now(), "
                "now())",
                (tenant, item, kind, parent),
            )
        conn.execute(
            "INSERT INTO domain.variant_sets (tenant_id, variant_set_db_id, name, source_format, "
            "n_samples, chunk_variants) VALUES (%s, 'vs1', 'panel', 'vcf', 2, 1024)",
            (tenant,),
        )
        for column, sample in enumerate(("S1", "S2")):
            conn.execute(
                "INSERT INTO domain.call_sets (tenant_id, variant_set_db_id, column_index, "
                "call_set_db_id, sample_name, germplasm_db_id) VALUES (%s, 'vs1', %s, %s, %s, "
                "'g1')",
                (tenant, column, f"vs1-{sample}", sample),
            )
        conn.execute("SELECT domain.sensor_reading_partitions('2026-06-01', '2026-06-02')")
        conn.execute(
            "INSERT INTO domain.sensor_readings (tenant_id, device_id, metric, at, value) "
            "VALUES (%s, 'd1', 'soil_moisture', '2026-06-15T06:00:00Z', 0.31)",
            (tenant,),
        )


def snapshot(
    owner_url: str, tenant: uuid.UUID, database: PlacementDatabase | None = None
) -> dict[str, list[str]]:
    """Every row of the organization, minus the organization's own id and name and the
    work items' order (an import or a move renumbers it, ADR 0344); on a
    dedicated ``database``, identity's rows from the control database and the rest from it."""
    if database is None:
        return _rows(owner_url, tenant, lambda table: True)
    return {
        **_rows(owner_url, tenant, lambda table: table[0] == "identity"),
        **_rows(database_owner_url(owner_url, database), tenant, lambda t: t[0] != "identity"),
    }


def _rows(
    url: str, tenant: uuid.UUID, wanted: Callable[[tuple[str, str]], bool]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with psycopg.connect(url) as conn:
        for table in filter(wanted, tenant_tables(conn)):
            key = "id" if table == ROOT else "tenant_id"
            rows = conn.execute(
                psycopg.sql.SQL(
                    "SELECT (to_jsonb(t) - 'tenant_id' - 'topo' - {drop})::text FROM {t} AS t "
                    "WHERE {k} = %s"
                ).format(
                    drop=psycopg.sql.Literal("id" if table == ROOT else ""),
                    t=psycopg.sql.Identifier(*table),
                    k=psycopg.sql.Identifier(key),
                ),
                (tenant,),
            ).fetchall()
            out[qualified(table)] = sorted(
                json.dumps({k: v for k, v in json.loads(r[0]).items() if k != "name"})
                if table == ROOT
                else r[0]
                for r in rows
            )
    return out


async def redis_keys(url: str) -> set[bytes]:
    redis = Redis.from_url(url)
    try:
        return {key async for key in redis.scan_iter(match="*")}
    finally:
        await redis.aclose()


async def put_keys(url: str, *keys: str) -> None:
    redis = Redis.from_url(url)
    try:
        for key in keys:
            await redis.set(key, b"1", ex=600)
    finally:
        await redis.aclose()


def run_cli(*args: str) -> None:
    tenant_cli(list(args))


def erase(owner: str, redis_url: str, tenant: uuid.UUID, archive: Path, by: str) -> None:
    run_cli(
        "--database-url",
        owner,
        "--redis-url",
        redis_url,
        "erase",
        str(tenant),
        str(archive),
        "--by",
        by,
    )


def test_export_erase_import_round_trip(
    database: ProvisionedDatabase, redis_url: str, tmp_path: Path
) -> None:
    owner = database.owner_url
    a, b = uuid.uuid4(), uuid.uuid4()
    seed(owner, a, f"org-a-{a}")
    seed(owner, b, f"org-b-{b}")
    asyncio.run(
        put_keys(
            redis_url,
            f"brapi:search:{a}:germplasm:abc",
            f"brapi:search:{b}:germplasm:abc",
            f"revoked:member:{a}:someone",
        )
    )
    before_a, before_b = snapshot(owner, a), snapshot(owner, b)
    seeded = [table for table, rows in before_a.items() if rows]
    assert len(seeded) >= 10, seeded

    archive = tmp_path / "a.tar"
    run_cli("--database-url", owner, "export", str(a), str(archive))
    manifest = read_manifest(archive)
    with psycopg.connect(owner) as conn:
        discovered = {qualified(t) for t in tenant_tables(conn) if t not in NOT_EXPORTED}
        covered = {entry["table"] for entry in manifest["tables"]}
        assert covered == discovered
        assert uncovered_tables(conn, covered) == []
    assert {e["table"]: e["rows"] for e in manifest["tables"]}["domain.resources"] == 2

    # Erasure needs this organization's own verified archive: another's is refused.
    other = tmp_path / "b.tar"
    run_cli("--database-url", owner, "export", str(b), str(other))
    with pytest.raises(SystemExit):
        erase(owner, redis_url, a, other, "ops")
    assert snapshot(owner, a) == before_a

    erase(owner, redis_url, a, archive, "ops@example.org")
    assert all(rows == [] for rows in snapshot(owner, a).values())
    assert snapshot(owner, b) == before_b
    keys = asyncio.run(redis_keys(redis_url))
    assert f"brapi:search:{a}:germplasm:abc".encode() not in keys
    assert f"brapi:search:{b}:germplasm:abc".encode() in keys
    assert f"revoked:member:{a}:someone".encode() in keys
    assert f"revoked:organization:{a}".encode() in keys  # its tokens end too (ADR 0331)
    with psycopg.connect(owner) as conn:
        record = conn.execute(
            "SELECT erased_by, archive_sha256, rows_erased FROM identity.organization_erasures "
            "WHERE organization_id = %s",
            (a,),
        ).fetchone()
    assert record is not None
    assert record[0] == "ops@example.org"
    assert record[1] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert record[2]["domain.audit_log"] == 2

    fresh = uuid.uuid4()
    run_cli(
        "--database-url",
        owner,
        "import",
        str(archive),
        "--name",
        "org-a-again",
        "--organization",
        str(fresh),
    )
    assert snapshot(owner, fresh) == before_a
    assert snapshot(owner, b) == before_b


def _checksums(archive: Path) -> dict[str, str]:
    """Per table, but the work items: their order is renumbered on import (ADR 0344)."""
    tables = read_manifest(archive)["tables"]
    return {e["table"]: e["sha256"] for e in tables if e["table"] != "domain.ops_work_items"}


def test_an_organization_on_a_dedicated_database_round_trips_there(
    database: ProvisionedDatabase, redis_url: str, tmp_path: Path
) -> None:
    owner = database.owner_url
    provision_database(owner, DEDICATED)
    provision_database(owner, FRESH)
    a, b = uuid.uuid4(), uuid.uuid4()
    seed(owner, a, f"org-a-{a}")
    seed(owner, b, f"org-b-{b}")
    move_organization(owner, a, DEDICATED)
    before_a, before_b = snapshot(owner, a, DEDICATED), snapshot(owner, b)
    assert len(before_a["domain.resources"]) == 2
    assert snapshot(owner, a)["domain.resources"] == []  # its rows are in DEDICATED only

    archive = tmp_path / "a.tar"
    run_cli("--database-url", owner, "export", str(a), str(archive))
    with psycopg.connect(owner) as conn:
        discovered = {qualified(t) for t in tenant_tables(conn) if t not in NOT_EXPORTED}
    assert {e["table"] for e in read_manifest(archive)["tables"]} == discovered
    assert {e["table"]: e["rows"] for e in read_manifest(archive)["tables"]}[
        "domain.resources"
    ] == 2

    erase(owner, redis_url, a, archive, "ops@example.org")
    assert all(rows == [] for rows in snapshot(owner, a, DEDICATED).values())
    assert all(rows == [] for rows in snapshot(owner, a).values())
    assert current_placement(owner, a) is None
    with psycopg.connect(owner) as conn:
        record = conn.execute(
            "SELECT rows_erased FROM identity.organization_erasures WHERE organization_id = %s",
            (a,),
        ).fetchone()
    assert record is not None
    assert record[0]["domain.resources"] == 2

    name = read_manifest(archive)["organization"]["name"]
    load = ["--database-url", owner, "import", str(archive), "--name", name]
    with pytest.raises(SystemExit):
        run_cli(*load, "--organization", str(a), "--database", "bijmantra_not_registered")
    assert all(rows == [] for rows in snapshot(owner, a).values())
    run_cli(*load, "--organization", str(a), "--database", FRESH.name)
    assert current_placement(owner, a) == FRESH
    assert snapshot(owner, a, FRESH) == before_a
    again = tmp_path / "again.tar"
    run_cli("--database-url", owner, "export", str(a), str(again))
    assert _checksums(again) == _checksums(archive)
    assert snapshot(owner, b) == before_b


def test_a_tampered_archive_is_refused_and_loads_nothing(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    owner = database.owner_url
    a = uuid.uuid4()
    seed(owner, a, f"org-t-{a}")
    archive = tmp_path / "a.tar"
    run_cli("--database-url", owner, "export", str(a), str(archive))
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(archive) as src, tarfile.open(tampered, "w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member)
            assert data is not None
            body = data.read()
            if member.name == "tables/domain.resources.copy":
                body = body.replace(b"org-t", b"org-X")
            member.size = len(body)
            dst.addfile(member, io.BytesIO(body))
    with pytest.raises(ArchiveError, match="checksum"):
        read_manifest(tampered)
    fresh = uuid.uuid4()
    with pytest.raises(SystemExit):
        run_cli(
            "--database-url",
            owner,
            "import",
            str(tampered),
            "--name",
            "x",
            "--organization",
            str(fresh),
        )
    assert all(rows == [] for rows in snapshot(owner, fresh).values())
    with pytest.raises(SystemExit):
        run_cli("--database-url", owner, "import", str(tmp_path / "missing.tar"), "--name", "y")
    # An archive of an organization that still exists collides on its global keys (event
    # ids, OAuth client ids): refused whole, with the name free and nothing loaded.
    with pytest.raises(ArchiveError, match="still present"):
        import_tenant(owner, archive, new_tenant=fresh, name=f"copy-{fresh}")
    assert all(rows == [] for rows in snapshot(owner, fresh).values())


def refused(url: str, *statements: str) -> None:
    """The last statement fails for lack of privilege (after the others ran)."""
    with psycopg.connect(url) as conn:
        for statement in statements[:-1]:
            conn.execute(statement)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statements[-1])


def test_the_audit_trail_stays_append_only_outside_an_erasure(
    database: ProvisionedDatabase,
) -> None:
    owner = database.owner_url
    a, b = uuid.uuid4(), uuid.uuid4()
    seed(owner, a, f"org-u-{a}")
    seed(owner, b, f"org-v-{b}")
    hatch = f"SELECT set_config('bijmantra.erasing_tenant', '{a}', true)"
    refused(owner, f"DELETE FROM domain.audit_log WHERE tenant_id = '{a}'")
    # The hatch is scoped to the organization being erased, never to another one.
    refused(owner, hatch, f"DELETE FROM domain.audit_log WHERE tenant_id = '{b}'")
    refused(owner, hatch, "TRUNCATE domain.audit_log")
    # The service role has no DELETE at all, setting or not.
    refused(
        database.domain_url,
        f"SELECT set_config('app.tenant_id', '{a}', true)",
        hatch,
        f"DELETE FROM domain.audit_log WHERE tenant_id = '{a}'",
    )
    assert len(snapshot(owner, a)["domain.audit_log"]) == 2
    # The erasure record is the owner's alone: no service reads or rewrites it.
    for url in (database.identity_url, database.domain_url):
        refused(url, "SELECT * FROM identity.organization_erasures")
        refused(url, "DELETE FROM identity.organization_erasures")


def test_a_tenant_table_without_a_tenant_id_column_is_reported_uncovered(
    database: ProvisionedDatabase,
) -> None:
    """A new context whose RLS-forced table names its tenant column differently would be
    missed by export and erasure: the coverage check catches it (and the DDL rolls back)."""
    with psycopg.connect(database.owner_url) as conn:
        conn.execute("CREATE TABLE domain.zz_uncovered (org_id uuid NOT NULL)")
        conn.execute("ALTER TABLE domain.zz_uncovered ENABLE ROW LEVEL SECURITY")
        conn.execute("ALTER TABLE domain.zz_uncovered FORCE ROW LEVEL SECURITY")
        covered = [qualified(t) for t in tenant_tables(conn)]
        assert uncovered_tables(conn, covered) == ["domain.zz_uncovered"]
        conn.rollback()
