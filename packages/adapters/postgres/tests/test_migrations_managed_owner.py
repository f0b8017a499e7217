"""The migrations reach head as an owner that is not a superuser, as managed PostgreSQL
gives one: a login role with CREATEROLE and BYPASSRLS that owns the database. A step only a
superuser may take (0253 and 0257 handed a function to a role the owner could not SET ROLE
to) would stop every deployment there, and the testkit's superuser never meets it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.postgres.engine import libpq_url
from bijmantra.adapters.postgres.migrate import migrations_dir
from bijmantra.adapters.postgres.placement_admin import database_owner_url
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.testkit.servers import LocalPostgres
from psycopg import sql
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.integration


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A PostgreSQL of its own: roles are cluster-wide, and the session's server already has
    every role the migrations create, made by its superuser, which this owner may not grant."""
    server = LocalPostgres(tmp_path / "data")
    yield server.start()
    server.stop()


def test_migrations_reach_head_as_an_owner_that_is_not_a_superuser(cluster: str) -> None:
    owner, name, password = "managed_owner", "managed", uuid.uuid4().hex
    with psycopg.connect(libpq_url(cluster), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER CREATEROLE BYPASSRLS PASSWORD {}").format(
                sql.Identifier(owner), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
    url = (
        make_url(database_owner_url(cluster, PlacementDatabase(name)))
        .set(username=owner, password=password)
        .render_as_string(hide_password=False)
    )
    migrated = subprocess.run(
        [
            sys.executable,
            "-c",
            "from bijmantra.adapters.postgres.placement_admin import main; main()",
        ],
        env={
            **os.environ,
            "DATABASE_OWNER_URL": url,
            "MIGRATIONS_DIR": str(migrations_dir()),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT p.proname, p.proowner::regrole::text, has_schema_privilege(p.proowner, "
            "'domain', 'CREATE') FROM pg_proc p WHERE p.prosecdef ORDER BY p.proname"
        ).fetchall()
    # Each finder function belongs to its finder role, which keeps no right to create in the
    # schema (the owner's other definer functions stay the owner's).
    finders = [row for row in found if row[1] != owner]
    assert finders == [
        ("audit_positions_of", "bijmantra_audit_finder", False),
        ("resource_ids_containing", "bijmantra_resource_finder", False),
        ("resource_ids_naming", "bijmantra_resource_finder", False),
    ]
