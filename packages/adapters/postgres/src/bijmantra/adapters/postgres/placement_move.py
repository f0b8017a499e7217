"""Move one organization between placements, run as the owner (ADR 0103).

1. *Fence*: the mover's session on the old database takes the organization's fence key
   exclusively. It waits for the organization's transactions in flight; every new one is
   made read-only by ``placement.enter`` (reads go on, writes get a 503). Other
   organizations take other keys and never notice. The fence is a session lock: if the mover
   dies, its connection closes and the fence is gone.
2. *Copy*: from one snapshot taken after the fence, table by table (the catalog's tenant
   tables outside ``identity``, parents first), ``COPY`` out of the old database into the
   new one. Identity columns (an outbox's ``seq``) are not copied: the new database numbers
   the rows itself, in the same order. Rows a failed earlier attempt left in the new
   database are deleted first: until the switch it is not the organization's.
3. *Verify*: per table, the row count and the SHA-256 of the rows (``COPY`` text, in key
   order) must be equal on both sides. Then, still in the copy's transaction, the work
   items get this database's waiting order (ADR 0344): ``topo`` is not kept as copied.
4. *Switch*: the old database lists the organization as departed, then one transaction on
   the control database points the directory at the new placement. That commit is the move:
   before it, the old database is authoritative (a router finding the departure mark asks
   the directory, which still names it); after it, the new one.
5. *Clean up*: the new database's departure mark (from an earlier stay) is removed, the old
   rows are deleted, the fence is released.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from bijmantra.adapters.postgres.placement_admin import (
    current_placement,
    database_owner_url,
    place_organization,
)
from bijmantra.adapters.postgres.tenant_archive import (
    Table,
    _columns,
    _ident,
    _order_by,
    make_partitions,
    placed_tables,
    qualified,
    renumber_work_items,
)
from bijmantra.domain.tenancy.placement import PlacementDatabase
from psycopg import sql

log = logging.getLogger(__name__)
FENCE_WAIT = "30s"  # the longest a move waits for the organization's open transactions
_UNDEPART = "DELETE FROM placement.departures WHERE organization_id = %s"
_IDENTITY_COLUMNS = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> ''
"""


class MoveError(RuntimeError):
    """The move stopped before its switch; the old placement is still the organization's."""


@dataclass
class MoveReport:
    organization: uuid.UUID
    source: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)


def _name(database: PlacementDatabase | None) -> str:
    return "(shared)" if database is None else database.name


def _owner_session(url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET row_security = off")  # the owner must bypass RLS (see tenant_archive)
    return conn


def _copied_columns(conn: psycopg.Connection[Any], table: Table) -> list[str]:
    identity = {r[0] for r in conn.execute(_IDENTITY_COLUMNS, (qualified(table),)).fetchall()}
    return [c for c in _columns(conn, table) if c not in identity]


def _rows_query(
    conn: psycopg.Connection[Any], table: Table, columns: list[str], org: uuid.UUID
) -> sql.Composed:
    return sql.SQL(
        "COPY (SELECT {c} FROM {t} WHERE tenant_id = {o} ORDER BY {k}) TO STDOUT"
    ).format(
        c=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        t=_ident(table),
        o=sql.Literal(str(org)),
        k=_order_by(conn, table, _columns(conn, table)),
    )


def _of(table: Table, org: uuid.UUID) -> sql.Composed:
    return sql.SQL("(SELECT * FROM {t} WHERE tenant_id = {o}) AS rows").format(
        t=_ident(table), o=sql.Literal(str(org))
    )


def _digest(conn: psycopg.Connection[Any], query: sql.Composed) -> tuple[int, str]:
    digest, rows = hashlib.sha256(), 0
    with conn.cursor().copy(query) as copy:
        for chunk in copy:
            data = bytes(chunk)
            digest.update(data)
            rows += data.count(b"\n")
    return rows, digest.hexdigest()


def _delete_rows(conn: psycopg.Connection[Any], tables: list[Table], org: uuid.UUID) -> int:
    """Delete the organization's rows, children first, in one transaction (audit included:
    the owner's erasure hatch, ADR 0101)."""
    deleted = 0
    with conn.transaction():
        conn.execute("SELECT set_config('bijmantra.erasing_tenant', %s, true)", (str(org),))
        for table in reversed(tables):
            cursor = conn.execute(
                sql.SQL("DELETE FROM {} WHERE tenant_id = %s").format(_ident(table)), (org,)
            )
            deleted += cursor.rowcount
    return deleted


def _copy(
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    tables: list[Table],
    org: uuid.UUID,
    report: MoveReport,
) -> None:
    """Copy every table inside one target transaction and compare both sides; then, in the
    same transaction, give the work items this database's order (ADR 0344)."""
    with target.transaction():
        for table in tables:
            columns = _copied_columns(source, table)
            make_partitions(source, _of(table, org), target, table)
            into = sql.SQL("COPY {t} ({c}) FROM STDIN").format(
                t=_ident(table), c=sql.SQL(", ").join(sql.Identifier(c) for c in columns)
            )
            with (
                source.cursor().copy(_rows_query(source, table, columns, org)) as out,
                target.cursor().copy(into) as into_copy,
            ):
                for chunk in out:
                    into_copy.write(bytes(chunk))
        for table in tables:
            columns = _copied_columns(source, table)
            there = _digest(target, _rows_query(target, table, columns, org))
            here = _digest(source, _rows_query(source, table, columns, org))
            if here != there:
                raise MoveError(f"{qualified(table)} differs after the copy: {here} != {there}")
            report.rows[qualified(table)], report.sha256[qualified(table)] = here
        renumber_work_items(target, tables, org)


def move_organization(
    owner_url: str,
    organization: uuid.UUID,
    to: PlacementDatabase | None,
    *,
    before_switch: Callable[[], None] = lambda: None,
) -> MoveReport:
    """Move ``organization`` to ``to`` (``None``: the shared database); see the module doc.

    ``before_switch`` runs after the departure mark, just before the directory's commit
    (tests kill a move there)."""
    source = current_placement(owner_url, organization)
    report = MoveReport(organization, _name(source), _name(to))
    if source == to:
        return report
    fence = _owner_session(database_owner_url(owner_url, source))
    try:
        fence.execute("SELECT set_config('lock_timeout', %s, false)", (FENCE_WAIT,))
        fence.execute("SELECT pg_advisory_lock(placement.fence_key(%s))", (organization,))
        fence.execute("RESET lock_timeout")
        # A mark left by a move that died before its switch: the directory still names us.
        fence.execute(
            "DELETE FROM placement.departures WHERE organization_id = %s", (organization,)
        )
        with _owner_session(database_owner_url(owner_url, to)) as target:
            snapshot = _owner_session(database_owner_url(owner_url, source))
            try:
                snapshot.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                tables = placed_tables(snapshot)
                _delete_rows(target, tables, organization)  # an earlier attempt's leftovers
                _copy(snapshot, target, tables, organization, report)
                snapshot.execute("COMMIT")
            finally:
                snapshot.close()
            _switch(owner_url, fence, target, organization, to, before_switch)
        with _owner_session(database_owner_url(owner_url, source)) as old:
            _unchanged_since_copy(old, placed_tables(old), organization, report)
            _delete_rows(old, placed_tables(old), organization)
        log.info("moved organization %s from %s to %s", organization, report.source, report.target)
        return report
    finally:
        fence.close()  # releases the fence, whatever happened


_FENCE_HELD = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND mode = 'ExclusiveLock' AND granted
  AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = placement.fence_key(%s)
"""


def _confirm_fence(fence: psycopg.Connection[Any], organization: uuid.UUID) -> None:
    """Refuse to switch unless the fence session still holds the fence: a mover that lost
    only its connection must not switch while the old database took writes again (ADR 0103)."""
    try:
        row = fence.execute(_FENCE_HELD, (organization,)).fetchone()
    except psycopg.Error as error:
        raise MoveError(f"the fence's session was lost before the switch: {error}") from error
    if row is None or row[0] != 1:
        raise MoveError("the fence is no longer held; the old placement stays")


def _unchanged_since_copy(
    source: psycopg.Connection[Any], tables: list[Table], org: uuid.UUID, report: MoveReport
) -> None:
    """After the switch, before the old rows go: they must still be what was copied. If the
    fence was lost in the instant between its last check and the switch, writes taken there
    are kept (not deleted) and the move says so, instead of losing them silently. Outboxes
    are left out: their relay is not fenced and may mark or prune the rows meanwhile."""
    for table in (t for t in tables if t[1] != "outbox"):
        columns = _copied_columns(source, table)
        now = _digest(source, _rows_query(source, table, columns, org))
        if now != (report.rows[qualified(table)], report.sha256[qualified(table)]):
            raise MoveError(
                f"{qualified(table)} changed in the old database after the copy; its rows "
                "there are kept for an operator to reconcile"
            )


def _switch(
    owner_url: str,
    fence: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    organization: uuid.UUID,
    to: PlacementDatabase | None,
    before_switch: Callable[[], None],
) -> None:
    """Departure mark on the old database, then the directory's single commit."""
    fence.execute(
        "INSERT INTO placement.departures (organization_id) VALUES (%s) ON CONFLICT DO NOTHING",
        (organization,),
    )
    try:
        before_switch()
        with psycopg.connect(owner_url) as control:
            place_organization(control, organization, to)
            _confirm_fence(fence, organization)  # last thing before the commit point
    except BaseException:
        # A fence session already lost leaves the mark: routers ask the directory, which
        # still names the old database, and the next move clears it.
        with contextlib.suppress(psycopg.Error):
            fence.execute(_UNDEPART, (organization,))
        raise
    target.execute(_UNDEPART, (organization,))
