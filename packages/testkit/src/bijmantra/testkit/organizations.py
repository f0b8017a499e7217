"""An organization and its first member, written straight into identity's tables as the
owner: tests of export, erasure, import and moves need organizations without identity."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg


def insert_organization(
    conn: psycopg.Connection[Any], tenant: uuid.UUID, name: str, roles: list[str]
) -> uuid.UUID:
    """A new user, the organization ``tenant`` they created, and their membership; the user."""
    user = uuid.uuid4()
    conn.execute(
        "INSERT INTO identity.users (id, email, display_name, password_hash) "
        "VALUES (%s, %s, 'Breeder', 'x')",
        (user, f"{user}@example.org"),
    )
    conn.execute(
        "INSERT INTO identity.organizations (id, name, created_by) VALUES (%s, %s, %s)",
        (tenant, name, user),
    )
    conn.execute(
        "INSERT INTO identity.memberships (tenant_id, user_id, roles) VALUES (%s, %s, %s)",
        (tenant, user, roles),
    )
    return user
