"""The journal of erases and imports that span two databases (ADR 0286).

An organization on a dedicated database keeps its identity rows in the control database
(ADR 0104), so erasing or importing it commits twice. Before either database changes, a row
in the control database's ``placement.tenant_operations`` says which operation is under way;
the control database's last transaction removes it. A row still there means the operation
was interrupted: an import is rolled back (its placed rows deleted), an erase is finished.
The erase's dedicated transaction leaves a marker row in that database's own table with the
rows it deleted, so finishing it later records exact counts.

A session advisory lock per organization on the control database (``operation_key``) is held
for the whole operation: recovery skips an operation whose process is alive, and takes over
one whose process died (PostgreSQL released its lock with its session).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from bijmantra.domain.tenancy.placement import PlacementDatabase


class OperationKind(StrEnum):
    IMPORT = "import"
    ERASE = "erase"


@dataclass(frozen=True)
class Operation:
    organization: uuid.UUID
    kind: OperationKind
    database: PlacementDatabase
    organization_name: str | None = None
    erased_by: str | None = None
    archive_sha256: str | None = None


class OrganizationBusy(RuntimeError):
    """Another process is erasing, importing or recovering this organization."""


@contextmanager
def operation_lock(owner_url: str, organization: uuid.UUID) -> Iterator[None]:
    """Hold the organization's operation lock for the block (raise if someone else has it)."""
    with psycopg.connect(owner_url, autocommit=True) as session:
        if not try_lock(session, organization):
            raise OrganizationBusy(f"another process is working on organization {organization}")
        yield  # closing the session releases the lock


def try_lock(session: psycopg.Connection[Any], organization: uuid.UUID) -> bool:
    row = session.execute(
        "SELECT pg_try_advisory_lock(placement.operation_key(%s))", (organization,)
    ).fetchone()
    return bool(row and row[0])


def begin(owner_url: str, operation: Operation) -> None:
    """Record the operation in the control database, committed before anything changes."""
    with psycopg.connect(owner_url) as control:
        control.execute(
            "INSERT INTO placement.tenant_operations (organization_id, kind, database, cluster, "
            "organization_name, erased_by, archive_sha256) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (
                operation.organization,
                str(operation.kind),
                operation.database.name,
                operation.database.cluster,
                operation.organization_name,
                operation.erased_by,
                operation.archive_sha256,
            ),
        )


def pending(control: psycopg.Connection[Any], organization: uuid.UUID | None) -> list[Operation]:
    """Operations under way (or interrupted): of one organization, or of all."""
    rows = control.execute(
        "SELECT organization_id, kind, database, cluster, organization_name, erased_by, "
        "archive_sha256 FROM placement.tenant_operations "
        "WHERE %(org)s::uuid IS NULL OR organization_id = %(org)s ORDER BY started_at",
        {"org": organization},
    ).fetchall()
    return [
        Operation(row[0], OperationKind(row[1]), PlacementDatabase(row[2], row[3]), *row[4:])
        for row in rows
    ]


def finish(conn: psycopg.Connection[Any], organization: uuid.UUID) -> bool:
    """Remove the organization's row in ``conn``'s transaction; False if there was none."""
    return (
        conn.execute(
            "DELETE FROM placement.tenant_operations WHERE organization_id = %s",
            (organization,),
        ).rowcount
        > 0
    )


def mark_placed(
    placed: psycopg.Connection[Any], operation: Operation, rows: dict[str, int]
) -> None:
    """In the dedicated database's erasing transaction: its rows are gone, this many."""
    placed.execute(
        "INSERT INTO placement.tenant_operations (organization_id, kind, database, cluster, "
        "placed_rows) VALUES (%s, %s, %s, %s, %s)",
        (
            operation.organization,
            str(operation.kind),
            operation.database.name,
            operation.database.cluster,
            json.dumps(rows),
        ),
    )


def placed_rows(placed: psycopg.Connection[Any], organization: uuid.UUID) -> dict[str, int] | None:
    """What an earlier attempt's committed dedicated transaction erased, if one did."""
    row = placed.execute(
        "SELECT placed_rows FROM placement.tenant_operations WHERE organization_id = %s",
        (organization,),
    ).fetchone()
    return None if row is None else dict(row[0])
