"""Migration 0250 (ADR 0343): contents left by soft deletes before the resource store removed
them with their document go; a live document's content stays. On a database of its own,
migrated to 0246 first."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from bijmantra.adapters.postgres.migrate import upgrade
from bijmantra.adapters.postgres.placement_admin import database_owner_url
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.testkit.provision import ProvisionedDatabase
from psycopg import sql

pytestmark = pytest.mark.integration


@pytest.fixture
def old_database(database: ProvisionedDatabase) -> Iterator[str]:
    """A new database at revision 0246: the owner's URL."""
    name = f"contents_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_owner_url(database.owner_url, PlacementDatabase(name))
    upgrade(url, "0246")
    yield url
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_contents_of_deleted_documents_are_removed_and_live_ones_kept(old_database: str) -> None:
    tenant = uuid.uuid4()
    with psycopg.connect(old_database) as conn:
        for db_id, deleted in (("live", False), ("gone", True)):
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body, "
                "deleted_at) VALUES (%s, 'image', %s, '{}', '{}', "
                "CASE WHEN %s THEN now() END)",
                (tenant, db_id, deleted),
            )
            conn.execute(
                "INSERT INTO domain.resource_contents (tenant_id, entity, db_id, media_type, "
                "content) VALUES (%s, 'image', %s, 'image/png', %s)",
                (tenant, db_id, bytes(100)),
            )
    upgrade(old_database, "0250")
    with psycopg.connect(old_database) as conn:
        left = conn.execute("SELECT db_id FROM domain.resource_contents ORDER BY db_id").fetchall()
        documents = conn.execute("SELECT count(*) FROM domain.resources").fetchone()
    assert left == [("live",)]
    assert documents == (2,)  # the deleted document's row stays as history
