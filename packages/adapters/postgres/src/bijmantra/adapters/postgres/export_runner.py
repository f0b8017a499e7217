"""The export runner: builds queued organization exports with the CLI's code (ADR 0285).

It runs as the database owner, like ``bijmantra-tenant export`` (ADR 0101: only the owner
may read every schema past row-level security), and visits every placement, because a job
row lives with its organization's other rows. A job is claimed with ``SKIP LOCKED``; the
runner reports after every table, and a job whose runner fell silent is claimed again by
another, in ``MAX_EXPORT_ATTEMPTS`` attempts at most (then it fails, ADR 0342). The archive
is written to a scratch file with ``export_tenant``, then stored as 1 MiB pieces beside the
job in one transaction that also marks it ready, only if the claim is still this runner's.
Ready archives past their expiry are deleted.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres.placement_admin import database_owner_url, registered_databases
from bijmantra.adapters.postgres.tenant_archive import export_tenant
from bijmantra.domain.tenancy.exports import (
    MAX_EXPORT_ATTEMPTS,
    RUNNER_SILENCE,
    archive_expiry,
)
from bijmantra.domain.tenancy.placement import PlacementDatabase

PIECE = 1 << 20
_ERROR_CHARS = 500

# A silent job that had its last attempt fails (ADR 0342); the claim then passes it by. One
# being stored (its row locked by ``_MINE``) is skipped, as the claim skips it.
_GIVE_UP = """
UPDATE domain.organization_exports
SET status = 'failed', finished_at = %(now)s, error = %(why)s
WHERE id IN (
    SELECT id FROM domain.organization_exports
    WHERE status = 'running' AND heartbeat_at < %(silent)s AND attempts >= %(most)s
    FOR UPDATE SKIP LOCKED
)
"""
_CLAIM = """
UPDATE domain.organization_exports
SET status = 'running', attempts = attempts + 1, heartbeat_at = %(now)s, tables_done = 0
WHERE id = (
    SELECT id FROM domain.organization_exports
    WHERE status = 'queued'
       OR (status = 'running' AND heartbeat_at < %(silent)s AND attempts < %(most)s)
    ORDER BY requested_at FOR UPDATE SKIP LOCKED LIMIT 1
)
RETURNING id, tenant_id, attempts
"""
GAVE_UP = (
    f"stopped unfinished in each of its {MAX_EXPORT_ATTEMPTS} attempts: the runner building "
    "it ended (an archive larger than the runner's scratch space ends it); ask the operator"
)
_MINE = (
    "SELECT 1 FROM domain.organization_exports "
    "WHERE id = %s AND attempts = %s AND status = 'running' FOR UPDATE"
)


@dataclass(frozen=True)
class Claim:
    database: PlacementDatabase | None
    export_id: uuid.UUID
    tenant: uuid.UUID
    attempt: int


def _owner(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """The owner past row-level security (session-wide: also in autocommit)."""
    conn = psycopg.connect(url, autocommit=autocommit)
    conn.execute("SET row_security = off")
    return conn


def expire_archives(url: str, now: datetime) -> int:
    """Delete the pieces of archives past their expiry; return how many jobs expired."""
    with _owner(url) as conn:
        conn.execute(
            "DELETE FROM domain.organization_export_chunks c USING domain.organization_exports e "
            "WHERE c.export_id = e.id AND e.status = 'ready' AND e.expires_at <= %s",
            (now,),
        )
        return conn.execute(
            "UPDATE domain.organization_exports SET status = 'expired' "
            "WHERE status = 'ready' AND expires_at <= %s",
            (now,),
        ).rowcount


def claim_next(owner_url: str, now: datetime) -> Claim | None:
    """The oldest queued (or abandoned) export of any placement, now this runner's."""
    for database in [None, *registered_databases(owner_url)]:
        with _owner(database_owner_url(owner_url, database)) as conn:
            given = {
                "now": now,
                "silent": now - RUNNER_SILENCE,
                "most": MAX_EXPORT_ATTEMPTS,
                "why": GAVE_UP,
            }
            conn.execute(_GIVE_UP, given)
            row = conn.execute(_CLAIM, given).fetchone()
        if row is not None:
            return Claim(database, row[0], row[1], row[2])
    return None


def build(owner_url: str, claim: Claim, clock: Callable[[], datetime], scratch: Path) -> bool:
    """Export the organization and store the archive; False when the claim was lost
    (another runner took the job over) or the export failed (recorded on the job)."""
    url = database_owner_url(owner_url, claim.database)
    reporting = _owner(url, autocommit=True)
    with reporting as progress_conn, tempfile.TemporaryDirectory(dir=scratch) as work:

        def report(done: int, total: int) -> None:
            progress_conn.execute(
                "UPDATE domain.organization_exports "
                "SET tables_done = %s, tables_total = %s, heartbeat_at = %s "
                "WHERE id = %s AND attempts = %s",
                (done, total, clock(), claim.export_id, claim.attempt),
            )

        try:
            exported = export_tenant(
                owner_url, claim.tenant, Path(work) / "archive.tar", progress=report
            )
        except Exception as error:  # recorded on the job for the admin; the runner goes on
            progress_conn.execute(
                "UPDATE domain.organization_exports SET status = 'failed', error = %s, "
                "finished_at = %s WHERE id = %s AND attempts = %s",
                (str(error)[:_ERROR_CHARS], clock(), claim.export_id, claim.attempt),
            )
            return False
        return _store(url, claim, exported.path, exported.sha256, clock())


def _store(url: str, claim: Claim, archive: Path, sha256: str, now: datetime) -> bool:
    """The archive's pieces and the job's ``ready``, in one transaction, if still ours."""
    with _owner(url) as conn:
        if conn.execute(_MINE, (claim.export_id, claim.attempt)).fetchone() is None:
            return False
        conn.execute(
            "DELETE FROM domain.organization_export_chunks WHERE export_id = %s",
            (claim.export_id,),
        )
        size = 0
        with archive.open("rb") as source, conn.cursor() as cursor:
            seq = 0
            while piece := source.read(PIECE):
                cursor.execute(
                    "INSERT INTO domain.organization_export_chunks "
                    "(export_id, tenant_id, seq, data) VALUES (%s, %s, %s, %s)",
                    (claim.export_id, claim.tenant, seq, piece),
                )
                seq, size = seq + 1, size + len(piece)
        conn.execute(
            "UPDATE domain.organization_exports SET status = 'ready', archive_sha256 = %s, "
            "archive_bytes = %s, finished_at = %s, expires_at = %s WHERE id = %s",
            (sha256, size, now, archive_expiry(now), claim.export_id),
        )
    return True


def run_exports_once(owner_url: str, clock: Callable[[], datetime], scratch: Path) -> int:
    """One pass: expire old archives everywhere, then build at most one export."""
    now = clock()
    for database in [None, *registered_databases(owner_url)]:
        expire_archives(database_owner_url(owner_url, database), now)
    claim = claim_next(owner_url, now)
    if claim is None:
        return 0
    build(owner_url, claim, clock, scratch)
    return 1
