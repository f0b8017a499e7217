"""The export runner and a move of the organization it is building for (ADR 0346).

The runner writes its job rows as the owner, past row-level security. These tests move the
organization while its export is claimed, being built or waiting, on real PostgreSQL, and
check that every write lands where the organization lives, that the move's fence is
respected (the move completes, nothing is left behind in the old database) and that a job is
claimed once, on one side.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres import tenant_archive
from bijmantra.adapters.postgres.export_runner import (
    Claim,
    build,
    claim_next,
    expire_archives,
)
from bijmantra.adapters.postgres.placement_admin import database_owner_url, provision_database
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.adapters.postgres.tenant_archive import export_tenant, read_manifest
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = [pytest.mark.integration]
DEDICATED = PlacementDatabase("bijmantra_test_export_moves")


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def owner(database: ProvisionedDatabase) -> str:
    provision_database(database.owner_url, DEDICATED)
    return database.owner_url


def _organization(owner_url: str) -> uuid.UUID:
    tenant = uuid.uuid4()
    with psycopg.connect(owner_url) as conn:
        insert_organization(conn, tenant, f"org-{tenant}", ["admin"])
        for n in range(3):
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) "
                "VALUES (%s, 'germplasm', %s, '{}', '')",
                (tenant, f"g{n}"),
            )
    return tenant


def _queue(url: str, tenant: uuid.UUID, *, expired_ready: bool = False) -> uuid.UUID:
    export_id = uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute("SET row_security = off")
        if not expired_ready:
            conn.execute(
                "INSERT INTO domain.organization_exports (id, tenant_id, requested_by) "
                "VALUES (%s, %s, 'admin')",
                (export_id, tenant),
            )
            return export_id
        conn.execute(
            "INSERT INTO domain.organization_exports (id, tenant_id, requested_by, status, "
            "requested_at, archive_sha256, archive_bytes, finished_at, expires_at) "
            "VALUES (%s, %s, 'admin', 'ready', now() - interval '3 days', %s, 4, "
            "now() - interval '2 days', now() - interval '1 day')",
            (export_id, tenant, "0" * 64),
        )
        conn.execute(
            "INSERT INTO domain.organization_export_chunks (export_id, tenant_id, seq, data) "
            "VALUES (%s, %s, 0, 'abcd')",
            (export_id, tenant),
        )
    return export_id


def _jobs(url: str, tenant: uuid.UUID) -> dict[uuid.UUID, tuple[str, int, int]]:
    """Each of the organization's jobs in one database: status, attempts, pieces."""
    with psycopg.connect(url) as conn:
        conn.execute("SET row_security = off")
        rows = conn.execute(
            "SELECT e.id, e.status, e.attempts, count(c.seq) "
            "FROM domain.organization_exports e "
            "LEFT JOIN domain.organization_export_chunks c ON c.export_id = e.id "
            "WHERE e.tenant_id = %s GROUP BY e.id",
            (tenant,),
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _claim_of(owner_url: str, export_id: uuid.UUID) -> Claim:
    """Claim until ``export_id`` is this runner's (other tests' jobs may be older)."""
    for _ in range(50):
        claim = claim_next(owner_url, _now())
        assert claim is not None
        if claim.export_id == export_id:
            return claim
    raise AssertionError("the job was never claimed")


def test_a_job_claimed_before_a_move_is_stored_where_the_organization_now_lives(
    owner: str, tmp_path: Path
) -> None:
    """Before: the runner stored at the placement of its claim; the moved job's row was gone
    there, so the archive was thrown away and the job stayed ``running`` at its new placement
    until another runner took it over as one more attempt."""
    tenant = _organization(owner)
    export_id = _queue(owner, tenant)
    claim = _claim_of(owner, export_id)
    assert claim.database is None

    move_organization(owner, tenant, DEDICATED)
    assert build(owner, claim, _now, tmp_path)

    placed = database_owner_url(owner, DEDICATED)
    status, attempts, pieces = _jobs(placed, tenant)[export_id]
    assert (status, attempts) == ("ready", 1)
    assert pieces >= 1
    assert _jobs(owner, tenant) == {}


def test_a_runner_building_during_a_move_waits_at_the_fence_and_the_move_completes(
    owner: str, tmp_path: Path
) -> None:
    """Before: the runner's heartbeats and archive went into the old database between the
    copy and the switch; the move found its copied rows changed, ended in ``MoveError`` after
    switching, and left the organization's rows in the old database with the job ``ready``
    there and ``running`` at the new placement."""
    tenant = _organization(owner)
    export_id = _queue(owner, tenant)
    claim = _claim_of(owner, export_id)
    built: list[bool] = []

    def runner() -> None:
        built.append(build(owner, claim, _now, tmp_path))

    thread = threading.Thread(target=runner)

    def meanwhile() -> None:  # the fence is held and the rows are copied
        thread.start()
        thread.join(timeout=5)

    move_organization(owner, tenant, DEDICATED, before_switch=meanwhile)
    thread.join(timeout=120)
    assert built == [True]
    placed = database_owner_url(owner, DEDICATED)
    status, attempts, pieces = _jobs(placed, tenant)[export_id]
    assert (status, attempts) == ("ready", 1)
    assert pieces >= 1
    assert _jobs(owner, tenant) == {}


def test_claims_and_expiry_during_a_move_wait_and_the_job_is_claimed_once_where_it_lives(
    owner: str, tmp_path: Path
) -> None:
    """Before: during the copy the runner claimed the queued job in the old database and
    again in the new one, where the copy had already committed (claimed on both sides), and
    expired an archive in the old database after its copy (the move then failed)."""
    tenant = _organization(owner)
    queued = _queue(owner, tenant)
    expired = _queue(owner, tenant, expired_ready=True)
    seen: dict[str, object] = {}

    def meanwhile() -> None:
        expire_archives(owner, _now())
        seen["old"] = _jobs(owner, tenant)
        claims = [claim_next(owner, _now()) for _ in range(2)]
        seen["claims"] = [c for c in claims if c is not None and c.tenant == tenant]

    move_organization(owner, tenant, DEDICATED, before_switch=meanwhile)
    assert seen == {
        "old": {queued: ("queued", 0, 0), expired: ("ready", 0, 1)},
        "claims": [],
    }

    placed = database_owner_url(owner, DEDICATED)
    assert _jobs(placed, tenant) == {queued: ("queued", 0, 0), expired: ("ready", 0, 1)}
    assert expire_archives(owner, _now() + timedelta(seconds=1)) >= 1
    claim = _claim_of(owner, queued)
    assert (claim.database, claim.attempt) == (DEDICATED, 1)
    assert _jobs(placed, tenant) == {queued: ("running", 1, 0), expired: ("expired", 0, 0)}


def test_an_export_whose_organization_moves_before_its_snapshot_reads_where_it_went(
    owner: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the export read the directory, and a move that switched and deleted the old
    rows before the export's snapshot was taken left an archive without them."""
    tenant = _organization(owner)
    directory = tenant_archive.current_placement
    moved: list[bool] = []

    def then_moved(owner_url: str, organization: uuid.UUID) -> PlacementDatabase | None:
        answer = directory(owner_url, organization)
        if organization == tenant and not moved:
            move_organization(owner_url, tenant, DEDICATED)  # the runner is slow to go on
            moved.append(True)
        return answer

    monkeypatch.setattr(tenant_archive, "current_placement", then_moved)
    exported = export_tenant(owner, tenant, tmp_path / "a.tar")
    assert moved == [True]
    rows = {e["table"]: e["rows"] for e in read_manifest(exported.path)["tables"]}
    assert rows["domain.resources"] == 3
