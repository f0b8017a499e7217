"""Async engine construction (SQLAlchemy 2 + psycopg 3)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import psycopg
from bijmantra.adapters.postgres.contention import contended_or
from bijmantra.adapters.postgres.plans import plan_each_call
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

T = TypeVar("T")


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
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        # No round trip per checkout: a connection the server dropped while it sat in the
        # pool fails its unit's first statement, and ``begin_unit`` retries that (ADR 0341).
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
    # A statement given a list a caller sizes is planned for that list, never prepared (ADR 0353).
    plan_each_call(engine.sync_engine)
    return engine


async def driver_connection(connection: AsyncConnection) -> psycopg.AsyncConnection:
    """The psycopg connection under a SQLAlchemy one, for what SQLAlchemy cannot ask for:
    pipelined statements and results in PostgreSQL's binary format. It shares the open
    transaction, so RLS and the unit of work's rollback/commit still apply."""
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, psycopg.AsyncConnection)
    return driver


async def begin_unit(
    engine: AsyncEngine, opening: Callable[[AsyncConnection], Awaitable[T]]
) -> tuple[AsyncConnection, T]:
    """A connection of ``engine`` in a begun transaction, and the answer of ``opening``: the
    unit of work's first statement (its tenant setting, say), run on it.

    The pool lends connections unchecked (no ping, ADR 0341), so one the server dropped while
    it sat there (a restart, a failover, an ended backend) fails at ``opening``. Then nothing
    of the unit has run: the connection is discarded, the pool is told that every connection
    it made up to this one is suspect (they reconnect at their next checkout, as after a
    disconnect SQLAlchemy sees itself), and ``opening`` runs once more on a fresh connection.
    Any other failure, and a second one, propagates (a transaction given up under contention
    as ``ContendedTransaction``, ADR 0355); the caller owns the connection."""
    retried = False
    while True:
        connection = await engine.connect()
        try:
            await connection.begin()
            return connection, await opening(connection)
        except BaseException as error:
            lost = not retried and await _lost(connection, error)
            # Interrupted mid-pipeline (a cancelled stream, say), the driver can still be in
            # pipeline mode: the next borrower's statements would return no rows. Discard it.
            await connection.invalidate()
            await connection.close()
            if not lost:
                if (contended := contended_or(error)) is not error:
                    raise contended from error
                raise
            retried = True


@contextlib.asynccontextmanager
async def opened_transaction(
    engine: AsyncEngine, opening: Callable[[AsyncConnection], Awaitable[T]]
) -> AsyncIterator[tuple[AsyncConnection, T]]:
    """``engine.begin()`` whose first statement is ``opening``, retried as ``begin_unit``
    retries it: committed when the block ends without an error, rolled back otherwise. A
    transaction given up under contention, in the block or at ``COMMIT``, leaves as
    ``ContendedTransaction`` (ADR 0355)."""
    connection, answer = await begin_unit(engine, opening)
    try:
        yield connection, answer
        await connection.commit()
    except (DBAPIError, psycopg.Error) as error:
        if (contended := contended_or(error)) is not error:
            raise contended from error
        raise
    finally:
        await connection.close()  # rolls back what was not committed


async def _lost(connection: AsyncConnection, error: BaseException) -> bool:
    """Whether ``error`` came from a dead connection, as SQLAlchemy decides it for psycopg (the
    driver connection is closed or broken); if so the pool has been told."""
    if isinstance(error, DBAPIError):  # SQLAlchemy saw it and has told the pool itself
        return error.connection_invalidated
    if not isinstance(error, psycopg.Error) or connection.invalidated:
        return False
    proxied = await connection.get_raw_connection()
    driver = proxied.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection) or not (driver.closed or driver.broken):
        return False
    # The statements that failed went to the driver directly (pipelines, simple-protocol
    # openings), so SQLAlchemy never saw the error. This is what it does when it sees one
    # (``invalidate_pool_on_disconnect``): connections older than this one reconnect at their
    # next checkout; connections made since are kept.
    connection.sync_engine.pool._invalidate(proxied, error, _checkin=False)
    return True


_COMMIT = b"COMMIT"


async def queue_commit(driver: psycopg.AsyncConnection) -> None:
    """``COMMIT`` as the open pipeline's last statement, sent and answered as the pipeline
    block ends (ADR 0321). Not ``driver.commit()``: inside a pipeline psycopg (3.3.9) sends
    the commit and then waits for its answer without flushing what the pipeline still
    holds. A statement larger than the socket's buffer (a bulk write's outbox rows) was
    then never sent whole: the server waited for its rest, the client for an answer, until
    the request's deadline. The pipeline's exit flushes everything before it reads."""
    await driver.execute(_COMMIT)


_PING = text("SELECT 1")


async def reachable(engine: AsyncEngine) -> bool:
    """Whether the database answers a trivial query now: what readiness probes report."""
    try:
        # A pool of connections the server dropped does not make the probe fail (ADR 0341).
        async with opened_transaction(engine, lambda conn: conn.execute(_PING)):
            pass
    except Exception:  # any failure to reach it is "not ready", never a crashed probe
        return False
    return True
