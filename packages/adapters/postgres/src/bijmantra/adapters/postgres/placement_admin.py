"""Operator side of placement, run as the owner: provision, migrate every placement, place.

A dedicated database is created with ``CREATE DATABASE`` on its cluster, migrated like the
shared one (same schemas, roles, grants and forced row-level security), then registered in
the directory. The owner reaches another cluster with the same role name and password as the
shared one; the directory stores ``host:port`` only.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid
from typing import Any

import psycopg
import psycopg.sql
from bijmantra.adapters.postgres.engine import libpq_url
from bijmantra.adapters.postgres.migrate import upgrade
from bijmantra.adapters.postgres.placement import placement_url
from bijmantra.domain.tenancy.placement import PlacementDatabase

log = logging.getLogger(__name__)


def database_owner_url(owner_url: str, database: PlacementDatabase | None) -> str:
    """The owner's URL for a placement (``None``: the shared, control database)."""
    return libpq_url(owner_url if database is None else placement_url(owner_url, database))


def placement_of(
    control: psycopg.Connection[Any], organization: uuid.UUID
) -> PlacementDatabase | None:
    """Where the directory places ``organization`` (``None``: the shared database)."""
    row = control.execute(
        "SELECT d.name, d.cluster FROM placement.organizations o "
        "JOIN placement.databases d ON d.name = o.database WHERE o.organization_id = %s",
        (organization,),
    ).fetchone()
    return None if row is None else PlacementDatabase(row[0], row[1])


def current_placement(owner_url: str, organization: uuid.UUID) -> PlacementDatabase | None:
    with psycopg.connect(owner_url) as conn:
        return placement_of(conn, organization)


def registered_databases(owner_url: str) -> list[PlacementDatabase]:
    with psycopg.connect(libpq_url(owner_url)) as conn:
        rows = conn.execute("SELECT name, cluster FROM placement.databases ORDER BY name")
        return [PlacementDatabase(name, cluster) for name, cluster in rows]


def migrate_every_placement(owner_url: str, revision: str = "head") -> list[str]:
    """Upgrade the shared database, then every dedicated one its directory lists.

    Returns the databases migrated, by name (never a URL: it carries the password)."""
    upgrade(libpq_url(owner_url), revision)
    done = ["(shared)"]
    for database in registered_databases(owner_url):
        log.info("migrating placement %s", database.name)
        upgrade(database_owner_url(owner_url, database), revision)
        done.append(database.name)
    return done


def _create_database(owner_url: str, database: PlacementDatabase) -> None:
    """``CREATE DATABASE`` on the placement's cluster unless it exists (idempotent)."""
    maintenance = psycopg.conninfo.make_conninfo(
        database_owner_url(owner_url, database), dbname="postgres"
    )
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database.name,)
        ).fetchone()
        if exists is None:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database.name))
            )


def provision_database(owner_url: str, database: PlacementDatabase) -> None:
    """Create, migrate and register a dedicated database; running it again changes nothing."""
    _create_database(owner_url, database)
    upgrade(database_owner_url(owner_url, database))
    with psycopg.connect(libpq_url(owner_url)) as conn:
        conn.execute(
            "INSERT INTO placement.databases (name, cluster) VALUES (%s, %s) "
            "ON CONFLICT (name) DO NOTHING",
            (database.name, database.cluster),
        )
        registered = conn.execute(
            "SELECT cluster FROM placement.databases WHERE name = %s", (database.name,)
        ).fetchone()
        if registered is None or registered[0] != database.cluster:
            raise ValueError(f"database {database.name} is registered on another cluster")


def place_organization(
    conn: psycopg.Connection, organization: uuid.UUID, database: PlacementDatabase | None
) -> None:
    """Point the directory at a placement, in the caller's (control database) transaction.

    This statement is the commit point of a move: before it the old placement is the
    organization's, after it the new one."""
    if database is None:
        conn.execute(
            "DELETE FROM placement.organizations WHERE organization_id = %s", (organization,)
        )
        return
    conn.execute(
        "INSERT INTO placement.organizations (organization_id, database) VALUES (%s, %s) "
        "ON CONFLICT (organization_id) DO UPDATE SET database = excluded.database, "
        "placed_at = now()",
        (organization, database.name),
    )


def main() -> None:
    """``bijmantra-migrate [REVISION]``: the shared database, then every dedicated one."""
    url = os.environ.get("DATABASE_OWNER_URL") or os.environ.get("DATABASE_URL")
    if not url:
        sys.exit("DATABASE_OWNER_URL (or DATABASE_URL) must be set")
    migrated = migrate_every_placement(url, sys.argv[1] if len(sys.argv) > 1 else "head")
    print("migrated:", ", ".join(migrated))
