"""The export runner: builds queued organization exports with the CLI's code (ADR 0285).

It runs as the database owner, like ``bijmantra-tenant export`` (ADR 0101: only the owner
may read every schema past row-level security), and visits every placement, because a job
row lives with its organization's other rows. A job is claimed with ``SKIP LOCKED``; the
runner reports after every table, and a job whose runner fell silent is claimed again by
another, in ``MAX_EXPORT_ATTEMPTS`` attempts at most (then it fails, ADR 0342). The archive
is written to a scratch file with ``export_tenant``, then stored as 1 MiB pieces beside the
job in one transaction that also marks it ready, only if the claim is still this runner's.
Ready archives past their expiry are deleted.

Every write to a job's rows (claim, give-up, heartbeat, failure, archive, expiry) runs in a
transaction that has passed the organization's placement gate, like a unit of work (ADR
0346): on the database the directory names, holding the move fence's key shared, so a move
waits for it and copies what it wrote. A fenced organization's rows are not written (a
heartbeat is skipped; a result waits for the fence), rows in a database the organization
does not live in are not claimed, and a job whose organization moved is followed there.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from bijmantra.adapters.postgres.placement import DEPARTED, FENCED, OPEN
from bijmantra.adapters.postgres.placement_admin import (
    database_owner_url,
    placement_of,
    registered_databases,
)
from bijmantra.adapters.postgres.tenant_archive import export_tenant
from bijmantra.domain.tenancy.exports import (
    MAX_EXPORT_ATTEMPTS,
    RUNNER_SILENCE,
    archive_expiry,
)
from bijmantra.domain.tenancy.placement import PlacementDatabase

PIECE = 1 << 20
_ERROR_CHARS = 500
ELSEWHERE = "elsewhere"  # the organization does not live in this database (now)
FENCE_POLL = 0.5  # seconds between looks at a fenced organization's gate
T = TypeVar("T")

# The organization's gate (ADR 0103) in the runner's transaction, and whether it made the
# transaction read-only: a fenced organization may also answer 'departed'.
_ENTER = "SELECT placement.enter(%s), current_setting('transaction_read_only') = 'on'"
# The oldest job to claim, or to fail after its last silent attempt (ADR 0342); one being
# stored (its row locked by ``_MINE``) is skipped. ``passed``: organizations not enterable.
_CANDIDATE = """
SELECT id, tenant_id, attempts FROM domain.organization_exports
WHERE (status = 'queued' OR (status = 'running' AND heartbeat_at < %(silent)s))
  AND NOT (tenant_id = ANY(%(passed)s::uuid[]))
ORDER BY requested_at FOR UPDATE SKIP LOCKED LIMIT 1
"""
_GIVE_UP = (
    "UPDATE domain.organization_exports SET status = 'failed', finished_at = %(now)s, "
    "error = %(why)s WHERE id = %(id)s"
)
_CLAIM = (
    "UPDATE domain.organization_exports SET status = 'running', attempts = attempts + 1, "
    "heartbeat_at = %(now)s, tables_done = 0 WHERE id = %(id)s RETURNING attempts"
)
_EXPIRED = """
SELECT id, tenant_id FROM domain.organization_exports
WHERE status = 'ready' AND expires_at <= %(now)s AND NOT (tenant_id = ANY(%(passed)s::uuid[]))
ORDER BY expires_at FOR UPDATE SKIP LOCKED LIMIT 1
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
    """The owner past row-level security (session-wide, committed: also after a rollback)."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET row_security = off")
    conn.autocommit = autocommit
    return conn


class _Placements:
    """The runner's connections: the directory (control database) and each placement's."""

    def __init__(self, owner_url: str) -> None:
        self._owner_url = owner_url
        self._directory = _owner(owner_url, autocommit=True)
        self._connections: dict[PlacementDatabase | None, psycopg.Connection[Any]] = {}

    def __enter__(self) -> _Placements:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for conn in [*self._connections.values(), self._directory]:
            conn.close()

    def databases(self) -> list[PlacementDatabase | None]:
        """The shared database first, then every dedicated one registered."""
        return [None, *registered_databases(self._owner_url)]

    def connection(self, database: PlacementDatabase | None) -> psycopg.Connection[Any]:
        if database not in self._connections:
            self._connections[database] = _owner(database_owner_url(self._owner_url, database))
        return self._connections[database]

    def home_of(self, tenant: uuid.UUID) -> PlacementDatabase | None:
        return placement_of(self._directory, tenant)

    def enter(
        self, conn: psycopg.Connection[Any], database: PlacementDatabase | None, tenant: uuid.UUID
    ) -> str:
        """Pass the organization's gate in ``conn``'s open transaction on ``database``, as a
        unit of work does: ``open`` (it lives here; the fence's key is held shared until the
        transaction ends, so no move of it starts meanwhile), ``fenced`` (a move is copying
        it) or ``elsewhere``. The directory is read before the gate: an organization it
        names here cannot leave without the fence, and one it names elsewhere is another
        database's (rows a move copied here before its switch, or kept after a failed one)."""
        named = self.home_of(tenant)
        row = conn.execute(_ENTER, (tenant,)).fetchone()
        assert row is not None
        answer, read_only = row
        if read_only:
            return FENCED
        if named != database or (answer == DEPARTED and self.home_of(tenant) != database):
            return ELSEWHERE  # (a departure mark with the directory still here: a dead move)
        return OPEN

    @contextmanager
    def home(self, tenant: uuid.UUID) -> Iterator[psycopg.Connection[Any] | None]:
        """A transaction where the organization lives, past its gate, committed at the end;
        ``None`` while a move fences it. A move that has switched is followed."""
        for _ in range(3):  # each turn follows a move completed meanwhile
            database = self.home_of(tenant)
            conn = self.connection(database)
            gate = self.enter(conn, database, tenant)
            if gate == OPEN:
                break
            conn.rollback()
            if gate == FENCED:
                yield None
                return
        else:
            yield None
            return
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _write_at_home(
    places: _Placements,
    tenant: uuid.UUID,
    write: Callable[[psycopg.Connection[Any]], T],
    *,
    patience: float,
) -> T | None:
    """``write`` where the organization lives, past its gate; while a move fences it, look
    again for ``patience`` seconds, then give up (``None``)."""
    deadline = time.monotonic() + patience
    while True:
        with places.home(tenant) as conn:
            if conn is not None:
                return write(conn)
        if time.monotonic() >= deadline:
            return None
        time.sleep(FENCE_POLL)


def expire_archives(owner_url: str, now: datetime) -> int:
    """Delete the pieces of archives past their expiry, in every placement, each past its
    organization's gate; return how many jobs expired."""
    expired = 0
    with _Placements(owner_url) as places:
        for database in places.databases():
            conn, passed = places.connection(database), list[uuid.UUID]()
            while row := conn.execute(_EXPIRED, {"now": now, "passed": passed}).fetchone():
                export_id, tenant = row
                if places.enter(conn, database, tenant) != OPEN:
                    conn.rollback()
                    passed.append(tenant)
                    continue
                conn.execute(
                    "DELETE FROM domain.organization_export_chunks WHERE export_id = %s",
                    (export_id,),
                )
                conn.execute(
                    "UPDATE domain.organization_exports SET status = 'expired' WHERE id = %s",
                    (export_id,),
                )
                conn.commit()
                expired += 1
            conn.rollback()
    return expired


def claim_next(owner_url: str, now: datetime) -> Claim | None:
    """The oldest queued (or abandoned) export of any placement, now this runner's; silent
    jobs that had their last attempt fail on the way (ADR 0342). Only where the job's
    organization lives and is not fenced (ADR 0346)."""
    given = {"now": now, "silent": now - RUNNER_SILENCE, "why": GAVE_UP}
    with _Placements(owner_url) as places:
        for database in places.databases():
            conn, passed = places.connection(database), list[uuid.UUID]()
            while row := conn.execute(_CANDIDATE, {**given, "passed": passed}).fetchone():
                export_id, tenant, attempts = row
                if places.enter(conn, database, tenant) != OPEN:
                    conn.rollback()
                    passed.append(tenant)
                    continue
                if attempts >= MAX_EXPORT_ATTEMPTS:
                    conn.execute(_GIVE_UP, {**given, "id": export_id})
                    conn.commit()
                    continue
                claimed = conn.execute(_CLAIM, {**given, "id": export_id}).fetchone()
                conn.commit()
                assert claimed is not None
                return Claim(database, export_id, tenant, claimed[0])
            conn.rollback()
    return None


# The runner's work folders in its scratch space, one per archive being built.
SCRATCH_PREFIX = "bijmantra-export-"


def clear_scratch(scratch: Path) -> int:
    """Remove the work folders a runner killed mid-build left in ``scratch`` (its own space:
    an emptyDir outlives the container's restart, ADR 0367); how many there were."""
    left = [p for p in scratch.glob(f"{SCRATCH_PREFIX}*") if p.is_dir()]
    for folder in left:
        shutil.rmtree(folder, ignore_errors=True)
    return len(left)


def build(owner_url: str, claim: Claim, clock: Callable[[], datetime], scratch: Path) -> bool:
    """Export the organization and store the archive; False when the claim was lost
    (another runner took the job over) or the export failed (recorded on the job).
    Every write goes where the organization lives at that moment (ADR 0346)."""
    with (
        _Placements(owner_url) as places,
        tempfile.TemporaryDirectory(dir=scratch, prefix=SCRATCH_PREFIX) as work,
    ):

        def report(done: int, total: int) -> None:
            # While a move fences the organization this heartbeat is skipped: a move takes
            # seconds, a runner is presumed gone after minutes (RUNNER_SILENCE).
            _write_at_home(
                places,
                claim.tenant,
                lambda conn: conn.execute(
                    "UPDATE domain.organization_exports "
                    "SET tables_done = %s, tables_total = %s, heartbeat_at = %s "
                    "WHERE id = %s AND attempts = %s AND status = 'running'",
                    (done, total, clock(), claim.export_id, claim.attempt),
                ),
                patience=0,
            )

        try:
            exported = export_tenant(
                owner_url, claim.tenant, Path(work) / "archive.tar", progress=report
            )
        except Exception as error:  # recorded on the job for the admin; the runner goes on
            why = str(error)[:_ERROR_CHARS]
            _write_at_home(
                places,
                claim.tenant,
                lambda conn: conn.execute(
                    "UPDATE domain.organization_exports SET status = 'failed', error = %s, "
                    "finished_at = %s WHERE id = %s AND attempts = %s AND status = 'running'",
                    (why, clock(), claim.export_id, claim.attempt),
                ),
                patience=RUNNER_SILENCE.total_seconds(),
            )
            return False
        return _stored(places, claim, exported.path, exported.sha256, clock())


def _store(owner_url: str, claim: Claim, archive: Path, sha256: str, now: datetime) -> bool:
    """The archive's pieces and the job's ``ready``, in one transaction, if still ours."""
    with _Placements(owner_url) as places:
        return _stored(places, claim, archive, sha256, now)


def _stored(places: _Placements, claim: Claim, archive: Path, sha256: str, now: datetime) -> bool:
    """``_store`` where the organization lives now; while a move fences it, the archive
    waits (up to ``RUNNER_SILENCE``: after that the job is another runner's to take)."""

    def write(conn: psycopg.Connection[Any]) -> bool:
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

    stored = _write_at_home(places, claim.tenant, write, patience=RUNNER_SILENCE.total_seconds())
    return bool(stored)


def run_exports_once(owner_url: str, clock: Callable[[], datetime], scratch: Path) -> int:
    """One pass: expire old archives everywhere, then build at most one export."""
    now = clock()
    expire_archives(owner_url, now)
    claim = claim_next(owner_url, now)
    if claim is None:
        return 0
    build(owner_url, claim, clock, scratch)
    return 1
