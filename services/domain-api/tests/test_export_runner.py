"""The organization export runner on real PostgreSQL (ADR 0285).

A queued job is built with the CLI's ``export_tenant`` on the organization's placement and
stored as pieces that reassemble to a checksummed archive; a job whose runner fell silent is
taken over, and the silent runner's late result is discarded; expired archives are deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres.export_runner import (
    _store,
    build,
    claim_next,
    expire_archives,
    run_exports_once,
)
from bijmantra.adapters.postgres.placement_admin import database_owner_url, provision_database
from bijmantra.adapters.postgres.placement_move import move_organization
from bijmantra.adapters.postgres.tenant_archive import read_manifest
from bijmantra.domain.tenancy.exports import MAX_EXPORT_ATTEMPTS, RUNNER_SILENCE
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.domain_api.__main__ import main
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = [pytest.mark.integration]
DEDICATED = PlacementDatabase("bijmantra_test_export_runner")


def _organization(owner_url: str, documents: int) -> uuid.UUID:
    tenant = uuid.uuid4()
    with psycopg.connect(owner_url) as conn:
        insert_organization(conn, tenant, f"org-{tenant}", ["admin"])
        for n in range(documents):
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) "
                "VALUES (%s, 'germplasm', %s, %s, '')",
                (tenant, f"g{n}", json.dumps({"germplasmName": f"g{n}", "pad": "x" * 4000})),
            )
    return tenant


def _queue(url: str, tenant: uuid.UUID) -> uuid.UUID:
    export_id = uuid.uuid4()
    with psycopg.connect(url) as conn:
        conn.execute("SET row_security = off")
        conn.execute(
            "INSERT INTO domain.organization_exports (id, tenant_id, requested_by) "
            "VALUES (%s, %s, 'admin')",
            (export_id, tenant),
        )
    return export_id


def _job(url: str, export_id: uuid.UUID) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(
            "SELECT status, tables_done, tables_total, archive_sha256, archive_bytes, attempts "
            "FROM domain.organization_exports WHERE id = %s",
            (export_id,),
        ).fetchone()
    assert row is not None
    return tuple(row)


def _archive(url: str, export_id: uuid.UUID, into: Path) -> Path:
    with psycopg.connect(url) as conn:
        conn.execute("SET row_security = off")
        pieces = conn.execute(
            "SELECT data FROM domain.organization_export_chunks WHERE export_id = %s ORDER BY seq",
            (export_id,),
        ).fetchall()
    into.write_bytes(b"".join(bytes(p[0]) for p in pieces))
    return into


def test_a_queued_export_of_a_dedicated_organization_is_built_there(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    owner = database.owner_url
    provision_database(owner, DEDICATED)
    tenant = _organization(owner, documents=300)  # > 1 MiB: several pieces
    move_organization(owner, tenant, DEDICATED)
    placed = database_owner_url(owner, DEDICATED)
    export_id = _queue(placed, tenant)

    assert run_exports_once(owner, lambda: datetime.now(UTC), tmp_path) == 1
    status, done, total, sha, size, attempts = _job(placed, export_id)
    assert (status, attempts) == ("ready", 1)
    assert done == total
    archive = _archive(placed, export_id, tmp_path / "got.tar")
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == sha
    assert archive.stat().st_size == size
    manifest = read_manifest(archive)
    rows = {e["table"]: e["rows"] for e in manifest["tables"]}
    assert rows["domain.resources"] == 300
    assert rows["identity.organizations"] == 1
    assert "domain.organization_exports" not in rows
    assert not list(tmp_path.glob("tmp*"))  # the scratch copy is gone

    later = datetime.now(UTC) + timedelta(days=2)
    assert expire_archives(owner, later) >= 1
    assert _job(placed, export_id)[0] == "expired"
    assert _archive(placed, export_id, tmp_path / "none.tar").stat().st_size == 0


def test_a_silent_runners_job_is_taken_over_and_its_late_result_discarded(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    owner = database.owner_url
    tenant = _organization(owner, documents=3)
    export_id = _queue(owner, tenant)
    now = datetime.now(UTC)
    first = claim_next(owner, now)
    assert first is not None
    assert first.export_id == export_id
    assert claim_next(owner, now) is None  # running and reporting: nobody else takes it

    second = claim_next(owner, now + RUNNER_SILENCE + timedelta(seconds=1))
    assert second is not None
    assert (second.export_id, second.attempt) == (export_id, 2)
    assert build(owner, second, lambda: datetime.now(UTC), tmp_path)
    sha = _job(owner, export_id)[3]
    late = tmp_path / "late.tar"
    late.write_bytes(b"the first runner's archive, finished too late")
    assert not _store(owner, first, late, "0" * 64, datetime.now(UTC))
    assert _job(owner, export_id)[3] == sha  # the second runner's archive stands


def test_the_export_runner_process_builds_with_the_owners_url_alone(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    """``bijmantra-domain-api export-runner`` (the Helm chart's runner Deployment, ADR 0287)
    needs no DATABASE_URL, builds a queued export and stops cleanly on SIGTERM."""
    owner = database.owner_url
    export_id = _queue(owner, _organization(owner, documents=3))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_OWNER_URL": owner,
        "EXPORT_SCRATCH_DIR": str(tmp_path),
    }
    runner = subprocess.Popen(
        [sys.executable, "-m", "bijmantra.domain_api", "export-runner"], env=env
    )
    try:
        for _ in range(600):  # a guard against hanging, not a speed target
            if _job(owner, export_id)[0] not in ("queued", "running"):
                break
            time.sleep(0.2)
        assert _job(owner, export_id)[0] == "ready"
    finally:
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 0


def test_the_export_runner_refuses_to_start_without_the_owners_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATABASE_OWNER_URL", raising=False)
    monkeypatch.setattr(sys, "argv", ["bijmantra-domain-api", "export-runner"])
    with pytest.raises(SystemExit, match="DATABASE_OWNER_URL"):
        main()


def test_a_job_that_ended_its_runner_in_every_attempt_fails_and_the_next_is_built(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    """Found by the seventh review (ADR 0342): a job whose runner is killed every time (an
    archive past the runner's scratch limit gets its pod evicted) was claimed again after
    each silence, without end; the oldest job first, so no later organization's export ran."""
    owner = database.owner_url
    stuck = _queue(owner, _organization(owner, documents=3))
    waiting = _queue(owner, _organization(owner, documents=3))
    now = datetime.now(UTC)
    for attempt in range(1, MAX_EXPORT_ATTEMPTS + 1):  # each runner dies without a word
        claim = claim_next(owner, now)
        assert claim is not None
        assert (claim.export_id, claim.attempt) == (stuck, attempt)
        now += RUNNER_SILENCE + timedelta(seconds=1)

    claim = claim_next(owner, now)
    assert claim is not None
    assert claim.export_id == waiting
    with psycopg.connect(owner) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(
            "SELECT status, error, finished_at FROM domain.organization_exports WHERE id = %s",
            (stuck,),
        ).fetchone()
    assert row is not None
    status, error, finished_at = row
    assert status == "failed"
    assert f"{MAX_EXPORT_ATTEMPTS} attempts" in error
    assert finished_at is not None
    assert build(owner, claim, lambda: datetime.now(UTC), tmp_path)
    assert _job(owner, waiting)[0] == "ready"


def test_a_runner_killed_mid_build_leaves_no_work_folder_to_its_restart(
    database: ProvisionedDatabase, tmp_path: Path
) -> None:
    """ADR 0367: a runner SIGKILLed while it wrote an archive (the OOM killer, an eviction
    of the container) left its work folder in the scratch space. The chart's scratch is an
    emptyDir, which outlives the container's restart, so each kill took a share of the space
    the next attempt needs, until an archive no longer fit. The restarted runner clears it."""
    owner = database.owner_url
    _queue(owner, _organization(owner, documents=1500))
    env = {
        "PATH": os.environ.get("PATH", ""),
        "DATABASE_OWNER_URL": owner,
        "EXPORT_SCRATCH_DIR": str(tmp_path),
    }
    command = [sys.executable, "-m", "bijmantra.domain_api", "export-runner"]
    runner = subprocess.Popen(command, env=env)
    try:
        for _ in range(6000):  # a guard against hanging, not a speed target
            if any(p.is_dir() for p in tmp_path.iterdir()):
                break
            time.sleep(0.005)
        runner.send_signal(signal.SIGKILL)
        runner.wait(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    left = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert left, "the runner finished before it could be killed mid-build"
    (tmp_path / "not-ours.txt").write_text("an operator's file")

    restarted = subprocess.Popen(command, env=env)
    try:
        for _ in range(300):
            if not any(p.exists() for p in left):
                break
            time.sleep(0.05)
        assert not any(p.exists() for p in left)
        assert (tmp_path / "not-ours.txt").exists()
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=60) == 0
