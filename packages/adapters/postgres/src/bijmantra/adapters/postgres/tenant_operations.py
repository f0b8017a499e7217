"""Erase and import one organization (ADRs 0101, 0104, 0286), run as the owner role.

On the shared database each is one transaction. An organization on a dedicated database
commits in two (its identity rows stay in the control database), so each runs under the
journal of ``tenant_journal``: an interrupted import is rolled back, an interrupted erase is
finished, by the next command on that organization or by ``recover_operations`` (which
``bijmantra-tenant`` runs first, and ``bijmantra-tenant recover`` alone).
"""

from __future__ import annotations

import io
import json
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from bijmantra.adapters.postgres.placement_admin import (
    current_placement,
    database_owner_url,
    place_organization,
)
from bijmantra.adapters.postgres.tenant_archive import (
    _CHUNK,
    IDENTITY,
    ROOT,
    ArchiveError,
    _ident,
    _key_column,
    _order_by,
    _parts,
    _revision,
    _scope,
    delete_rows,
    file_sha256,
    make_partitions,
    placed_tables,
    qualified,
    read_manifest,
    renumber_work_items,
    tenant_tables,
)
from bijmantra.adapters.postgres.tenant_journal import (
    Operation,
    OperationKind,
    begin,
    finish,
    mark_placed,
    operation_lock,
    pending,
    placed_rows,
    try_lock,
)
from bijmantra.domain.tenancy.placement import PlacementDatabase
from psycopg import sql


def _erasing(conn: psycopg.Connection[Any], tenant: uuid.UUID) -> None:
    """Past row-level security, with the audit trail's erasure hatch open (ADR 0101)."""
    _scope(conn, tenant)
    conn.execute("SELECT set_config('bijmantra.erasing_tenant', %s, true)", (str(tenant),))


def erase_tenant(
    owner_url: str,
    tenant: uuid.UUID,
    *,
    archive: Path,
    erased_by: str,
    between_commits: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Delete every row of ``tenant`` (children first) and record it.

    Refuses unless ``archive`` is a verified export of this very organization, so nothing is
    erased that was not first exported; the record keeps the archive's checksum. On a
    dedicated database, once the journal says so the erase is finished even if this process
    dies (``between_commits`` runs after the dedicated commit: tests kill an erase there)."""
    manifest = read_manifest(archive)
    if manifest["organization"]["id"] != str(tenant):
        raise ArchiveError("the archive belongs to another organization")
    sha = file_sha256(archive)
    with operation_lock(owner_url, tenant):
        _resolve(owner_url, tenant)
        with psycopg.connect(owner_url) as control:
            _scope(control, tenant)
            found = control.execute(
                "SELECT name FROM identity.organizations WHERE id = %s", (tenant,)
            ).fetchone()
        if found is None:
            raise ArchiveError(f"no organization {tenant}")
        database = current_placement(owner_url, tenant)
        if database is None:
            with psycopg.connect(owner_url) as conn:
                _erasing(conn, tenant)
                erased = delete_rows(conn, tenant_tables(conn), tenant)
                _record_erasure(conn, tenant, found[0], erased_by, sha, erased)
            return erased
        operation = Operation(tenant, OperationKind.ERASE, database, found[0], erased_by, sha)
        with psycopg.connect(database_owner_url(owner_url, database)) as placed:
            finish(placed, tenant)  # a marker left by an earlier, finished erase of this id
        begin(owner_url, operation)
        return finish_erase(owner_url, operation, between_commits)


def finish_erase(
    owner_url: str, operation: Operation, between_commits: Callable[[], None] = lambda: None
) -> dict[str, int]:
    """The dedicated database's rows (unless an earlier attempt's marker says they are gone),
    then the control database's rows, record and journal row in one transaction."""
    tenant = operation.organization
    placed_url = database_owner_url(owner_url, operation.database)
    with psycopg.connect(placed_url) as placed:
        erased = placed_rows(placed, tenant)
        if erased is None:
            _erasing(placed, tenant)
            erased = delete_rows(placed, placed_tables(placed), tenant)
            mark_placed(placed, operation, erased)
    between_commits()
    with psycopg.connect(owner_url) as control:
        _erasing(control, tenant)
        if not finish(control, tenant):
            return erased  # another process finished it meanwhile
        identity = [t for t in tenant_tables(control) if t[0] == IDENTITY]
        erased = {**erased, **delete_rows(control, identity, tenant)}
        _record_erasure(
            control,
            tenant,
            operation.organization_name or "",
            operation.erased_by or "",
            operation.archive_sha256 or "",
            erased,
        )
    with psycopg.connect(placed_url) as placed:
        finish(placed, tenant)
    return erased


def _record_erasure(
    control: psycopg.Connection[Any],
    tenant: uuid.UUID,
    name: str,
    erased_by: str,
    sha: str,
    erased: dict[str, int],
) -> None:
    place_organization(control, tenant, None)
    control.execute(
        "INSERT INTO identity.organization_erasures "
        "(organization_id, organization_name, erased_by, archive_sha256, rows_erased) "
        "VALUES (%s, %s, %s, %s, %s)",
        (tenant, name, erased_by, sha, json.dumps(erased)),
    )


def undo_import(owner_url: str, tenant: uuid.UUID) -> bool:
    """Roll back an import whose control transaction never committed: delete what it put in
    the dedicated database, then its journal row. False when there was nothing to undo."""
    with psycopg.connect(owner_url) as control:
        found = [o for o in pending(control, tenant) if o.kind is OperationKind.IMPORT]
    if not found:
        return False
    with psycopg.connect(database_owner_url(owner_url, found[0].database)) as placed:
        _erasing(placed, tenant)
        delete_rows(placed, placed_tables(placed), tenant)
    with psycopg.connect(owner_url) as control:
        finish(control, tenant)
    return True


def _resolve(owner_url: str, tenant: uuid.UUID) -> Operation | None:
    """Finish or undo the organization's interrupted operation (the caller holds its lock)."""
    with psycopg.connect(owner_url) as control:
        found = pending(control, tenant)
    if not found:
        return None
    if found[0].kind is OperationKind.IMPORT:
        undo_import(owner_url, tenant)
    else:
        finish_erase(owner_url, found[0])
    return found[0]


def recover_operations(owner_url: str) -> list[Operation]:
    """Resolve every interrupted operation whose process is gone (imports undone, erases
    finished) and return them; skip those whose process is alive."""
    done: list[Operation] = []
    with psycopg.connect(owner_url) as control:
        operations = pending(control, None)
    with psycopg.connect(owner_url, autocommit=True) as session:
        for operation in operations:
            if not try_lock(session, operation.organization):
                continue  # its process is alive and holds the lock
            try:
                if (outcome := _resolve(owner_url, operation.organization)) is not None:
                    done.append(outcome)
            finally:
                session.execute(
                    "SELECT pg_advisory_unlock(placement.operation_key(%s))",
                    (operation.organization,),
                )
    return done


def import_tenant(
    owner_url: str,
    archive: Path,
    *,
    new_tenant: uuid.UUID,
    name: str,
    database: PlacementDatabase | None = None,
    between_commits: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    """Load a verified archive as organization ``new_tenant``, one transaction per database.

    ``database`` places the new organization on that registered dedicated database (the
    directory row is written with the control database's rows); ``None``: the shared one.
    There the journal makes it all or nothing: until the control database commits, an
    interruption is undone (``between_commits`` runs after the dedicated commit: tests kill
    an import there)."""
    manifest = read_manifest(archive)
    with operation_lock(owner_url, new_tenant):
        _resolve(owner_url, new_tenant)  # an earlier attempt with this id, interrupted
        if database is None:
            return _load_archive(owner_url, archive, manifest, new_tenant, name, None)
        begin(owner_url, Operation(new_tenant, OperationKind.IMPORT, database))
        try:
            return _load_archive(
                owner_url, archive, manifest, new_tenant, name, database, between_commits
            )
        except BaseException:
            undo_import(owner_url, new_tenant)  # a no-op once the control commit is done
            raise


def _load_archive(
    owner_url: str,
    archive: Path,
    manifest: dict[str, Any],
    new_tenant: uuid.UUID,
    name: str,
    database: PlacementDatabase | None,
    between_commits: Callable[[], None] = lambda: None,
) -> dict[str, int]:
    with _parts(owner_url, database) as parts:
        control = parts[0].conn
        if manifest["schema_revision"] != _revision(control):
            raise ArchiveError(
                f"archive schema {manifest['schema_revision']} differs from the database's "
                f"{_revision(control)}: migrate one to match the other first"
            )
        home = {qualified(t): part for part in parts for t in part.tables}
        order = {table: i for i, table in enumerate(home)}
        entries = sorted(manifest["tables"], key=lambda e: order.get(e["table"], -1))
        unknown = [e["table"] for e in entries if e["table"] not in home]
        if unknown:
            raise ArchiveError(f"tables not in this database: {unknown}")
        for part in parts:
            _scope(part.conn, new_tenant)
        if database is not None:
            _place_new(control, new_tenant, database)
        loaded: dict[str, int] = {}
        with tarfile.open(archive, "r") as tar:
            for entry in entries:
                member = tar.extractfile(entry["file"])
                assert member is not None  # read_manifest checked every file
                try:
                    loaded[entry["table"]] = _load(
                        home[entry["table"]].conn, entry, member, new_tenant, name
                    )
                except psycopg.errors.IntegrityError as error:
                    # Every transaction rolls back: nothing is half-loaded.
                    raise ArchiveError(
                        f"{entry['table']} refused the archive's rows ({error.sqlstate}: "
                        f"{str(error).splitlines()[0]}); is the exported organization, or "
                        "the name, still present?"
                    ) from error
        for part in parts:
            renumber_work_items(part.conn, part.tables, new_tenant)
        if database is not None:  # the control transaction is the commit point
            finish(control, new_tenant)
            parts[1].conn.commit()
            between_commits()
    return loaded


def _place_new(
    control: psycopg.Connection[Any], tenant: uuid.UUID, database: PlacementDatabase
) -> None:
    """Point the directory at ``database`` for a new organization, in the import's transaction."""
    registered = control.execute(
        "SELECT 1 FROM placement.databases WHERE name = %s AND cluster IS NOT DISTINCT FROM %s",
        (database.name, database.cluster),
    ).fetchone()
    if registered is None:
        raise ArchiveError(f"database {database.name} is not a registered placement")
    placed = control.execute(
        "SELECT 1 FROM placement.organizations WHERE organization_id = %s", (tenant,)
    ).fetchone()
    if placed is not None:
        raise ArchiveError(f"organization {tenant} is already placed")
    place_organization(control, tenant, database)


def _load(
    conn: psycopg.Connection[Any],
    entry: dict[str, Any],
    data: io.BufferedReader | Any,
    tenant: uuid.UUID,
    name: str,
) -> int:
    schema, _, relname = entry["table"].partition(".")
    table = (schema, relname)
    columns: list[str] = entry["columns"]
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE stage ON COMMIT DROP AS SELECT {c} FROM {t} WITH NO DATA"
        ).format(c=cols, t=_ident(table))
    )
    with conn.cursor().copy(sql.SQL("COPY stage ({c}) FROM STDIN").format(c=cols)) as copy:
        while chunk := data.read(_CHUNK):
            copy.write(chunk)
    updates: list[sql.Composable] = [
        sql.SQL("{k} = %s").format(k=sql.Identifier(_key_column(table)))
    ]
    params: list[Any] = [tenant]
    if table == ROOT:
        updates.append(sql.SQL("name = %s"))
        params.append(name)
    conn.execute(sql.SQL("UPDATE stage SET {u}").format(u=sql.SQL(", ").join(updates)), params)
    make_partitions(conn, sql.SQL("stage"), conn, table)
    cursor = conn.execute(
        sql.SQL(
            "INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM stage ORDER BY {o}"
        ).format(t=_ident(table), c=cols, o=_order_by(conn, table, columns))
    )
    conn.execute("DROP TABLE stage")
    return cursor.rowcount
