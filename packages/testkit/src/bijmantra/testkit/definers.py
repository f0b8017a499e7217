"""Checks of a finder function (ADR 0351, 0356): a SECURITY DEFINER function that reads past
row-level security must stay its own confined role's, executable by the domain role alone,
and its migration must go down and up again on a cluster that already has the role."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import psycopg
import pytest
from alembic import command
from alembic.config import Config
from bijmantra.adapters.postgres.ddl import OUTBOX_RELAY_ROLE, SERVICE_ROLES
from bijmantra.adapters.postgres.engine import sqlalchemy_url
from bijmantra.adapters.postgres.migrate import migrations_dir, upgrade
from bijmantra.adapters.postgres.placement_admin import database_owner_url
from bijmantra.domain.tenancy.placement import PlacementDatabase
from bijmantra.testkit.provision import ProvisionedDatabase
from psycopg import sql


def assert_caller_cannot_become(caller_url: str, role: str) -> None:
    """The caller can neither SET ROLE nor SET SESSION AUTHORIZATION to ``role``, and holds
    no membership of it."""
    with psycopg.connect(caller_url, autocommit=True) as conn:
        for attempt in (
            sql.SQL("SET ROLE {}").format(sql.Identifier(role)),
            sql.SQL("SET SESSION AUTHORIZATION {}").format(sql.Identifier(role)),
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attempt)
        assert conn.execute(
            "SELECT pg_has_role(current_user, %s, 'MEMBER'), pg_has_role(current_user, %s, "
            "'USAGE')",
            (role, role),
        ).fetchone() == (False, False)


def assert_role_confined(owner_url: str, role: str) -> None:
    """``role`` cannot log in, bypasses no row security and is no superuser."""
    with psycopg.connect(owner_url) as conn:
        assert conn.execute(
            "SELECT rolcanlogin, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone() == (False, False, False)


def assert_only_the_domain_role_executes(
    database: ProvisionedDatabase, signature: str, role: str, call: str, args: tuple[Any, ...]
) -> None:
    """``signature`` is a definer of ``role`` with a pinned ``search_path``, PUBLIC holds no
    EXECUTE, and roles that may use the schema (the outbox relay) or not (identity) are
    refused ``call``."""
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        grants = conn.execute(
            "SELECT r.rolname FROM pg_roles r WHERE has_function_privilege(r.oid, %s, "
            "'EXECUTE') AND NOT r.rolsuper AND r.rolname NOT LIKE 'pg\\_%%' ORDER BY 1",
            (signature,),
        ).fetchall()
        assert grants == sorted([(SERVICE_ROLES["domain"],), (role,)])
        definition = conn.execute(
            "SELECT p.prosecdef, pg_get_userbyid(p.proowner), p.proconfig, p.proacl::text[] "
            "FROM pg_proc p WHERE p.oid = CAST(%s AS regprocedure)",
            (signature,),
        ).fetchone()
        assert definition is not None
        assert definition[:3] == (True, role, ["search_path=pg_catalog, pg_temp"])
        assert not any(entry.startswith("=") for entry in definition[3])  # PUBLIC revoked
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(OUTBOX_RELAY_ROLE)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(call, args)
    with (
        psycopg.connect(database.identity_url) as identity,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        identity.execute(call, args)


@contextmanager
def migrated_down(database: ProvisionedDatabase, revision: str, previous: str) -> Iterator[str]:
    """A new database at ``revision`` taken down to ``previous`` (its owner URL, for the
    caller to look at), then up to ``revision`` again, then dropped."""
    name = f"down_up_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database.owner_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_owner_url(database.owner_url, PlacementDatabase(name))
    try:
        upgrade(url, revision)
        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        config.set_main_option("prepend_sys_path", str(migrations_dir()))
        config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
        command.downgrade(config, previous)
        yield url
        upgrade(url, revision)
    finally:
        with psycopg.connect(database.owner_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def seed_documents(
    owner_url: str, tenant: uuid.UUID, entity: str, documents: dict[str, Any]
) -> None:
    """``documents`` (DbId -> document) of ``entity`` in ``tenant``, written as the owner:
    the rows a finder's test reads past row-level security."""
    with psycopg.connect(owner_url) as conn:
        for db_id, document in documents.items():
            encoded = msgspec.json.encode(document).decode()
            conn.execute(
                "INSERT INTO domain.resources (tenant_id, entity, db_id, document, body) VALUES "
                "(%s, %s, %s, CAST(%s AS jsonb), convert_to(%s, 'UTF8'))",
                (tenant, entity, db_id, encoded, encoded),
            )
