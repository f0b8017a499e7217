"""Export, erase and import one organization's rows (ADR 0101), run as the owner role.

The tenant tables are read from the catalog (every table with a ``tenant_id`` column in a
non-system schema, partitions counted once through their parent), so a new context is
covered without touching this module. The organization row itself (``identity.organizations``)
is the root every tenant table hangs from. An archive is a tar file: ``manifest.json`` plus
one COPY text file per table, each with its SHA-256 in the manifest.

An organization on a dedicated database (ADR 0102) keeps its ``identity`` rows in the
control database and every other row in its own: each command works on both, with the
dedicated database's transaction committed before the control database's (ADR 0104).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres.placement_admin import (
    current_placement,
    database_owner_url,
)
from bijmantra.domain.tenancy.placement import PlacementDatabase
from psycopg import sql

FORMAT = 1
ROOT = ("identity", "organizations")
IDENTITY = "identity"  # the schema that stays in the control database (ADR 0102)
# Partitioned tenant tables: the partition column, and the function making a range's partitions.
PARTITIONS = {("domain", "sensor_readings"): ("at", "domain.sensor_reading_partitions")}
MANIFEST = "manifest.json"
# Tenant tables that are not the organization's data: export jobs and their archives
# (ADR 0285). They are erased and moved with the rest but never exported, so an archive
# does not contain earlier archives, nor a queued job that an import would run again.
NOT_EXPORTED = frozenset(
    {("domain", "organization_exports"), ("domain", "organization_export_chunks")}
)
_CHUNK = 1 << 20
WORK_ITEMS = ("domain", "ops_work_items")

_TENANT_TABLES = """
SELECT n.nspname, c.relname
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
ORDER BY 1, 2
"""
_FOREIGN_KEYS = """
SELECT cn.nspname, c.relname, fn.nspname, f.relname
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
JOIN pg_class f ON f.oid = k.confrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE k.contype = 'f'
"""
_COLUMNS = """
SELECT a.attname FROM pg_attribute a
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY k.ord
"""


class ArchiveError(RuntimeError):
    """The archive is damaged, belongs elsewhere, or does not fit this database."""


Table = tuple[str, str]


def qualified(table: Table) -> str:
    return f"{table[0]}.{table[1]}"


def tenant_tables(conn: psycopg.Connection[Any]) -> list[Table]:
    """Every tenant table plus the organization root, parents before children."""
    found = {(row[0], row[1]) for row in conn.execute(_TENANT_TABLES).fetchall()}
    nodes = found | {ROOT}
    graph: dict[Table, set[Table]] = {table: set() for table in nodes}
    for child_schema, child, parent_schema, parent in conn.execute(_FOREIGN_KEYS).fetchall():
        child_t, parent_t = (child_schema, child), (parent_schema, parent)
        if child_t in nodes and parent_t in nodes and child_t != parent_t:
            graph[child_t].add(parent_t)
    # A stable order: static_order is deterministic for the same graph.
    return list(TopologicalSorter({k: sorted(v) for k, v in sorted(graph.items())}).static_order())


def placed_tables(conn: psycopg.Connection[Any]) -> list[Table]:
    """The tenant tables a dedicated database holds: all but identity's (ADR 0102)."""
    return [t for t in tenant_tables(conn) if t[0] != IDENTITY]


@dataclass(frozen=True)
class Part:
    """One database's share of an organization: a connection and the tables it holds there."""

    conn: psycopg.Connection[Any]
    tables: list[Table]


@contextmanager
def _parts(
    owner_url: str, database: PlacementDatabase | None, *, snapshot: bool = False
) -> Iterator[list[Part]]:
    """The organization's tables where they live, control database first (its parents).

    Shared: one part with every table. Dedicated: identity's tables in the control database,
    the rest in the dedicated one. Leaving the block commits the dedicated transaction first,
    so a failure between the two commits leaves the organization known and retryable.
    ``snapshot``: read-only repeatable-read transactions, one consistent view per database."""

    def connect(url: str) -> psycopg.Connection[Any]:
        conn = stack.enter_context(psycopg.connect(url))
        if snapshot:
            conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
        return conn

    with ExitStack() as stack:
        control = connect(owner_url)
        if database is None:
            yield [Part(control, tenant_tables(control))]
            return
        placed = connect(database_owner_url(owner_url, database))
        identity = [t for t in tenant_tables(control) if t[0] == IDENTITY]
        yield [Part(control, identity), Part(placed, placed_tables(placed))]


def make_partitions(
    source: psycopg.Connection[Any],
    rows: sql.Composable,
    target: psycopg.Connection[Any],
    table: Table,
) -> None:
    """Create in ``target`` the partitions of ``table`` that ``rows`` (a relation read in
    ``source``) need: a move or an import may reach a database that never held that span."""
    if table not in PARTITIONS:
        return
    column, maker = PARTITIONS[table]
    span = source.execute(
        sql.SQL("SELECT min({c}), max({c}) FROM {r}").format(c=sql.Identifier(column), r=rows)
    ).fetchone()
    if span is not None and span[0] is not None:
        target.execute(sql.SQL("SELECT {}(%s, %s)").format(sql.SQL(maker)), span)


def renumber_work_items(
    conn: psycopg.Connection[Any], tables: Iterable[Table], tenant: uuid.UUID
) -> None:
    """Give the organization's copied work items a fresh order of this database (ADR 0344):
    copied values may break the waiting order or sit below this database's sequence. Run
    in the transaction of the copy, when ``tables`` (those copied on ``conn``) hold them."""
    if WORK_ITEMS in tables:
        conn.execute("SELECT domain.ops_renumber_waiting_order(%s)", (tenant,))


def _key_column(table: Table) -> str:
    return "id" if table == ROOT else "tenant_id"


def _columns(conn: psycopg.Connection[Any], table: Table) -> list[str]:
    return [row[0] for row in conn.execute(_COLUMNS, (qualified(table),)).fetchall()]


def _order_by(conn: psycopg.Connection[Any], table: Table, columns: Sequence[str]) -> sql.Composed:
    keys = [row[0] for row in conn.execute(_PRIMARY_KEY, (qualified(table),)).fetchall()]
    return sql.SQL(", ").join(sql.Identifier(c) for c in (keys or columns))


def _ident(table: Table) -> sql.Identifier:
    return sql.Identifier(*table)


def _scope(conn: psycopg.Connection[Any], tenant: uuid.UUID) -> None:
    """RLS is forced on tenant tables and its policies name only the service roles, so a
    plain owner would silently see nothing: with ``row_security`` off PostgreSQL raises
    instead, unless the role bypasses RLS (superuser or BYPASSRLS), which this needs."""
    conn.execute("SET LOCAL row_security = off")
    conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(tenant),))


def _revision(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute("SELECT version_num FROM public.alembic_version").fetchone()
    return "" if row is None else str(row[0])


@dataclass(frozen=True)
class Exported:
    path: Path
    sha256: str
    rows: dict[str, int]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


Progress = Callable[[int, int], None]


def export_tenant(
    owner_url: str, tenant: uuid.UUID, archive: Path, *, progress: Progress | None = None
) -> Exported:
    """Write every row of ``tenant``, one consistent snapshot per database, into ``archive``.

    ``progress(tables written, tables in all)`` is called after each table."""
    for _ in range(3):
        database = current_placement(owner_url, tenant)
        with _parts(owner_url, database, snapshot=True) as parts:
            for part in parts:
                _scope(part.conn, tenant)  # the snapshots are taken here
            # A move that switched after the directory's answer may have deleted the rows
            # before the snapshots: only a directory unchanged after them vouches for them
            # (the old rows go only after the switch's commit), ADR 0346.
            if current_placement(owner_url, tenant) == database:
                return _export_parts(parts, tenant, archive, progress)
    raise ArchiveError(f"organization {tenant} kept moving during its export")


def _export_parts(
    parts: list[Part], tenant: uuid.UUID, archive: Path, progress: Progress | None
) -> Exported:
    control = parts[0].conn
    org = control.execute(
        "SELECT name FROM identity.organizations WHERE id = %s", (tenant,)
    ).fetchone()
    if org is None:
        raise ArchiveError(f"no organization {tenant}")
    entries: list[dict[str, Any]] = []
    exported = [(p.conn, t) for p in parts for t in p.tables if t not in NOT_EXPORTED]
    # Written aside and renamed at the end: a failed export leaves no archive behind.
    partial = archive.with_name(archive.name + ".partial")
    with tarfile.open(partial, "w") as tar, tempfile.TemporaryDirectory() as scratch:
        for conn, table in exported:
            entries.append(_export_table(conn, table, tenant, tar, Path(scratch)))
            if progress is not None:
                progress(len(entries), len(exported))
        manifest = {
            "format": FORMAT,
            "organization": {"id": str(tenant), "name": org[0]},
            "exported_at": datetime.now(UTC).isoformat(),
            "schema_revision": _revision(control),
            "tables": entries,
        }
        body = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    partial.replace(archive)
    return Exported(archive, file_sha256(archive), {e["table"]: e["rows"] for e in entries})


def _export_table(
    conn: psycopg.Connection[Any],
    table: Table,
    tenant: uuid.UUID,
    tar: tarfile.TarFile,
    scratch: Path,
) -> dict[str, Any]:
    """One table's rows as a COPY text file in the archive; its manifest entry."""
    columns = _columns(conn, table)
    query = sql.SQL(
        "COPY (SELECT {cols} FROM {t} WHERE {key} = {tenant} ORDER BY {o}) TO STDOUT"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        t=_ident(table),
        key=sql.Identifier(_key_column(table)),
        tenant=sql.Literal(str(tenant)),
        o=_order_by(conn, table, columns),
    )
    name = f"tables/{qualified(table)}.copy"
    local = scratch / qualified(table)
    digest, rows = hashlib.sha256(), 0
    with local.open("wb") as out, conn.cursor().copy(query) as copy:
        for chunk in copy:
            data = bytes(chunk)
            digest.update(data)
            rows += data.count(b"\n")
            out.write(data)
    tar.add(local, arcname=name)
    return {
        "table": qualified(table),
        "file": name,
        "columns": columns,
        "rows": rows,
        "sha256": digest.hexdigest(),
    }


def read_manifest(archive: Path) -> dict[str, Any]:
    """The manifest, after checking every table file against its recorded SHA-256."""
    try:
        with tarfile.open(archive, "r") as tar:
            raw = tar.extractfile(MANIFEST)
            if raw is None:
                raise ArchiveError("the archive has no manifest")
            manifest: dict[str, Any] = json.loads(raw.read())
            if manifest.get("format") != FORMAT:
                raise ArchiveError(f"unknown archive format {manifest.get('format')!r}")
            for entry in manifest["tables"]:
                member = tar.extractfile(entry["file"])
                if member is None:
                    raise ArchiveError(f"{entry['file']} is missing")
                digest = hashlib.sha256()
                while chunk := member.read(_CHUNK):
                    digest.update(chunk)
                if digest.hexdigest() != entry["sha256"]:
                    raise ArchiveError(f"{entry['file']} does not match its checksum")
    except (OSError, tarfile.TarError, KeyError, ValueError) as error:
        raise ArchiveError(f"not a tenant archive: {error}") from error
    return manifest


def delete_rows(
    conn: psycopg.Connection[Any], tables: Sequence[Table], tenant: uuid.UUID
) -> dict[str, int]:
    """Delete the organization's rows of ``tables``, last first (children before parents)."""
    erased: dict[str, int] = {}
    for table in reversed(tables):
        cursor = conn.execute(
            sql.SQL("DELETE FROM {t} WHERE {key} = %s").format(
                t=_ident(table), key=sql.Identifier(_key_column(table))
            ),
            (tenant,),
        )
        erased[qualified(table)] = cursor.rowcount
    return erased


def uncovered_tables(conn: psycopg.Connection[Any], covered: Iterable[str]) -> list[str]:
    """Tables under forced row-level security that an export would not include (other than
    the export jobs' own, ``NOT_EXPORTED``)."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relforcerowsecurity AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
    ).fetchall()
    skipped = {qualified(t) for t in NOT_EXPORTED}
    return sorted({row[0] for row in rows} - set(covered) - skipped)
