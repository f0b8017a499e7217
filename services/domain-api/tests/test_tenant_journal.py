"""Erase and import of a dedicated organization, killed between their two commits (ADR 0286).

On real PostgreSQL: a child process runs the operation and is SIGKILLed right after the
dedicated database committed and before the control database did. ``bijmantra-tenant
recover`` then undoes the import (no orphaned rows; the same id imports cleanly again) or
finishes the erase (nothing left in either database, the erasure recorded with exact counts).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres.placement_admin import (
    current_placement,
    database_owner_url,
    provision_database,
)
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.adapters.postgres.tenant_archive import export_tenant, read_manifest
from bijmantra.adapters.postgres.tenant_operations import import_tenant
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.domain_api.tenant_cli import main as tenant_cli
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = [pytest.mark.integration]
DEDICATED = PlacementDatabase("bijmantra_test_tenant_journal")
ZERO = bytes(32)

_KILLED = """
import sys, uuid
from pathlib import Path
from bijmantra.adapters.postgres.tenant_operations import erase_tenant, import_tenant
from bijmantra.domain.tenancy.placement import PlacementDatabase

def stop_here():
    print("between commits", flush=True)
    sys.stdin.readline()  # killed while waiting here

owner, command, org, archive = sys.argv[1], sys.argv[2], uuid.UUID(sys.argv[3]), Path(sys.argv[4])
if command == "import":
    import_tenant(owner, archive, new_tenant=org, name=f"imported-{org}",
                  database=PlacementDatabase(sys.argv[5]), between_commits=stop_here)
else:
    erase_tenant(owner, org, archive=archive, erased_by="ops", between_commits=stop_here)
"""


def _seed(owner_url: str) -> uuid.UUID:
    """An organization with identity, BrAPI and audit-trail rows, in the shared database."""
    tenant = uuid.uuid4()
    h1 = hashlib.sha256(tenant.bytes).digest()
    with psycopg.connect(owner_url) as conn:
        insert_organization(conn, tenant, f"org-{tenant}", ["admin"])
        for db_id in ("g1", "g2"):
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) "
                "VALUES (%s, 'germplasm', %s, %s, '')",
                (tenant, db_id, json.dumps({"germplasmName": db_id})),
            )
        conn.execute(
            "INSERT INTO domain.audit_log (tenant_id, position, event_id, event_type, subject, "
            "actor, occurred_at, recorded_at, envelope, prev_hash, hash) VALUES "
            "(%s, 1, %s, 'germplasm.created', 'g1', 'u', now(), now(), 'e', %s, %s)",
            (tenant, uuid.uuid4(), ZERO, h1),
        )
    return tenant


def _count(url: str, query: str, *params: object) -> int:
    with psycopg.connect(url) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return int(row[0])


def _rows_of(url: str, tenant: uuid.UUID) -> int:
    """The organization's rows in one database, over every table that has a tenant_id."""
    return sum(
        _count(url, f"SELECT count(*) FROM {table} WHERE tenant_id = %s", tenant)
        for table in ("domain.resources", "domain.audit_log", "identity.memberships")
    ) + _count(url, "SELECT count(*) FROM identity.organizations WHERE id = %s", tenant)


JOURNAL = "SELECT count(*) FROM placement.tenant_operations WHERE organization_id = %s"


async def _killed_between_commits(owner: str, *args: str) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED,
        owner,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    line = await asyncio.wait_for(child.stdout.readline(), 120)
    assert line.strip() == b"between commits"
    child.kill()  # SIGKILL: no clean-up of any kind runs
    await child.wait()


def _recover(owner: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """``bijmantra-tenant recover`` until the killed process's session (and lock) is gone."""
    for _ in range(200):
        tenant_cli(["--database-url", owner, "recover"])
        recovered: list[str] = json.loads(capsys.readouterr().out)["recovered"]
        if recovered:
            return recovered
        time.sleep(0.05)
    raise AssertionError("nothing was recovered")


def test_an_import_killed_between_its_commits_is_undone_and_can_run_again(
    database: ProvisionedDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = database.owner_url
    provision_database(owner, DEDICATED)
    placed = database_owner_url(owner, DEDICATED)
    source = _seed(owner)
    archive = tmp_path / "source.tar"
    export_tenant(owner, source, archive)
    target = uuid.uuid4()

    asyncio.run(_killed_between_commits(owner, "import", str(target), str(archive), DEDICATED.name))
    assert _rows_of(placed, target) == 3  # committed in the dedicated database: orphans now
    assert _rows_of(owner, target) == 0  # the control database never committed
    assert _count(owner, JOURNAL, target) == 1

    assert _recover(owner, capsys) == [f"import {target}"]
    assert _rows_of(placed, target) == 0
    assert _count(owner, JOURNAL, target) == 0
    loaded = import_tenant(owner, archive, new_tenant=target, name="again", database=DEDICATED)
    assert loaded["domain.resources"] == 2
    assert current_placement(owner, target) == DEDICATED
    assert (_rows_of(placed, target), _rows_of(owner, target)) == (3, 2)


def test_an_erase_killed_between_its_commits_is_finished_and_recorded_exactly(
    database: ProvisionedDatabase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    owner = database.owner_url
    provision_database(owner, DEDICATED)
    placed = database_owner_url(owner, DEDICATED)
    tenant = _seed(owner)
    move_organization(owner, tenant, DEDICATED)
    archive = tmp_path / "erased.tar"
    export_tenant(owner, tenant, archive)
    exported = {e["table"]: e["rows"] for e in read_manifest(archive)["tables"]}

    asyncio.run(_killed_between_commits(owner, "erase", str(tenant), str(archive)))
    assert _rows_of(placed, tenant) == 0  # the dedicated database committed its deletes
    assert _rows_of(owner, tenant) == 2  # organization and membership still in control
    assert _count(owner, JOURNAL, tenant) == 1

    assert _recover(owner, capsys) == [f"erase {tenant}"]
    assert _rows_of(owner, tenant) == 0
    assert _count(owner, JOURNAL, tenant) + _count(placed, JOURNAL, tenant) == 0
    assert current_placement(owner, tenant) is None
    with psycopg.connect(owner) as conn:
        record = conn.execute(
            "SELECT rows_erased, erased_by FROM identity.organization_erasures "
            "WHERE organization_id = %s",
            (tenant,),
        ).fetchone()
    assert record is not None
    assert record[1] == "ops"
    erased = {table: rows for table, rows in record[0].items() if rows}
    assert erased == {table: rows for table, rows in exported.items() if rows}
