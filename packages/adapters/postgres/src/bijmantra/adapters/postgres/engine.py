"""Async engine construction (SQLAlchemy 2 + psycopg 3)."""

from __future__ import annotations

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def sqlalchemy_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as pgserver and operators give them)."""
    parsed = make_url(url)
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The plain ``postgresql://`` form of an engine URL, as libpq and psycopg take it."""
    return (
        make_url(sqlalchemy_url(url))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )


def with_user(url: str, user: str) -> str:
    """The same server and database, as another role (local/test topologies only)."""
    return (
        make_url(sqlalchemy_url(url))
        .set(username=user, password=None)
        .render_as_string(hide_password=False)
    )


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        # The connection returned last is handed out next: its prepared statements (psycopg
        # prepares a statement run five times on one connection) and session state are warm;
        # first in, first out spread a steady request stream over every pooled connection,
        # so nothing ever reached five (ADR 0334).
        pool_use_lifo=True,
        # A failed statement's exception (and every log line quoting it) names the SQL, not
        # its parameters: they are tenants' data and can be megabytes (a bulk write).
        hide_parameters=True,
    )


async def driver_connection(connection: AsyncConnection) -> psycopg.AsyncConnection:
    """The psycopg connection under a SQLAlchemy one, for what SQLAlchemy cannot ask for:
    pipelined statements and results in PostgreSQL's binary format. It shares the open
    transaction, so RLS and the unit of work's rollback/commit still apply."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


_PING = text("SELECT 1")


async def reachable(engine: AsyncEngine) -> bool:
    """Whether the database answers a trivial query now: what readiness probes report."""
    try:
        async with engine.connect() as conn:
            await conn.execute(_PING)
    except Exception:  # any failure to reach it is "not ready", never a crashed probe
        return False
    return True
