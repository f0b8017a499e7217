"""Bring a database to the shape the services expect: migrated, with login roles per service."""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg
from bijmantra.adapters.postgres import libpq_url, with_user
from bijmantra.adapters.postgres.ddl import SERVICE_ROLES
from bijmantra.adapters.postgres.migrate import upgrade

LOCAL_ROLE_PASSWORD = os.environ.get("BIJMANTRA_DB_ROLE_PASSWORD", "bijmantra-local")


@dataclass(frozen=True)
class ProvisionedDatabase:
    owner_url: str
    domain_url: str
    identity_url: str
    analytics_url: str


def provision(owner_url: str) -> ProvisionedDatabase:
    """Migrate as the owner, then let each service role log in (local topologies only)."""
    upgrade(owner_url)
    with psycopg.connect(libpq_url(owner_url), autocommit=True) as conn:
        for role in SERVICE_ROLES.values():
            conn.execute(
                psycopg.sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                    psycopg.sql.Identifier(role), psycopg.sql.Literal(LOCAL_ROLE_PASSWORD)
                )
            )

    def as_role(service: str) -> str:
        url = with_user(owner_url, SERVICE_ROLES[service])
        role = SERVICE_ROLES[service]
        return libpq_url(url.replace(f"{role}@", f"{role}:{LOCAL_ROLE_PASSWORD}@", 1))

    return ProvisionedDatabase(
        owner_url=libpq_url(owner_url),
        domain_url=as_role("domain"),
        identity_url=as_role("identity"),
        analytics_url=as_role("analytics"),
    )
