"""PostgreSQL adapter: SQLAlchemy 2 async + psycopg 3 repositories, unit of work, RLS, outbox."""

from bijmantra.adapters.postgres.audit import PostgresAuditStore
from bijmantra.adapters.postgres.engine import (
    create_engine,
    libpq_url,
    reachable,
    sqlalchemy_url,
    with_user,
)
from bijmantra.adapters.postgres.inbox import first_delivery
from bijmantra.adapters.postgres.lookup import PostgresDocumentLookup
from bijmantra.adapters.postgres.outbox import PostgresOutboxStore, write_outbox
from bijmantra.adapters.postgres.uow import PostgresUnitOfWork, set_tenant, unit_of_work_factory

__all__ = [
    "PostgresAuditStore",
    "PostgresDocumentLookup",
    "PostgresOutboxStore",
    "PostgresUnitOfWork",
    "create_engine",
    "first_delivery",
    "libpq_url",
    "reachable",
    "set_tenant",
    "sqlalchemy_url",
    "unit_of_work_factory",
    "with_user",
    "write_outbox",
]
