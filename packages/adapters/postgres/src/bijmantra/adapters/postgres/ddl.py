"""Names of database objects that the migrations created and the services use at run time.

The migrations themselves never import this module (they have their own frozen
``db/migrations/ddl_v1.py``): these are the names both sides agree on.
"""

from __future__ import annotations

import os

from psycopg import sql

# One login role per service; each sees only its own schema.
SERVICE_ROLES = {
    "domain": os.environ.get("DOMAIN_DB_ROLE", "bijmantra_domain"),
    "identity": os.environ.get("IDENTITY_DB_ROLE", "bijmantra_identity"),
    "analytics": os.environ.get("ANALYTICS_DB_ROLE", "bijmantra_analytics"),
}
# domain-api's outbox relay switches to this role (SET LOCAL ROLE) to read every tenant's
# unpublished events; it may touch nothing but the outbox.
OUTBOX_RELAY_ROLE = os.environ.get("OUTBOX_RELAY_DB_ROLE", "bijmantra_outbox_relay")
OUTBOX_SCHEMAS = ("domain", "identity")  # the schemas that hold an ``outbox`` table
# domain-api switches to this role to reserve the next analysis job of any organization; it
# sees only the columns that decide the order (ADR 0329).
ANALYSIS_SCHEDULER_ROLE = os.environ.get(
    "ANALYSIS_SCHEDULER_DB_ROLE", "bijmantra_analysis_scheduler"
)


def set_local_role(role: str) -> str:
    """``SET LOCAL ROLE`` for ``role`` (names may come from the environment), quoted by psycopg."""
    return sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)).as_string()


def outbox_relay_role(schema: str) -> str:
    """The role a relay ``SET LOCAL ROLE``s to for reading every tenant's outbox rows."""
    return OUTBOX_RELAY_ROLE if schema == "domain" else f"bijmantra_{schema}_outbox_relay"


def outbox_channel(schema: str) -> str:
    """The NOTIFY channel that wakes the relay of ``schema``'s outbox."""
    return "bijmantra_outbox" if schema == "domain" else f"bijmantra_outbox_{schema}"


# Outboxes are split into this many partitions by a hash of the aggregate id. A relay owns
# a partition while it publishes from it, so several relays never interleave one aggregate.
OUTBOX_PARTITIONS = 64


def outbox_partition(aggregate_id: str) -> str:
    """SQL: the outbox partition of an aggregate id expression (the generated column's)."""
    return f"(hashtext({aggregate_id}) & {OUTBOX_PARTITIONS - 1})::smallint"
