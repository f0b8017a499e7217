"""Placement: the directory of dedicated databases and the engines that reach them (ADR 0102).

The directory (``placement.databases``, ``placement.organizations``) lives in the shared
database, which is also the control database. Every service reads it through a short cache
and reaches each placement as its own role: a dedicated database has the same roles, grants
and forced row-level security as the shared one, so the unit of work is the same code.

Engines to dedicated databases are created on first use and kept in a least-recently-used
set of bounded size, each with a small pool: many organizations, few connections. The most
any process holds is ``shared pool + max_engines * (pool_size + max_overflow)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import psycopg
from bijmantra.adapters.postgres.contention import contended_or
from bijmantra.adapters.postgres.engine import (
    begin_unit,
    create_engine,
    driver_connection,
    opened_transaction,
    sqlalchemy_url,
)
from bijmantra.adapters.postgres.retiring import RetiringCache
from bijmantra.application.tenancy.placement import PlacementDirectory
from bijmantra.domain.tenancy.placement import Placement, PlacementDatabase
from bijmantra.kernel import TenantId, Unavailable
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

_DIRECTORY = text(
    "SELECT o.organization_id, d.name, d.cluster FROM placement.organizations o "
    "JOIN placement.databases d ON d.name = o.database"
)
_DATABASES = text("SELECT name, cluster FROM placement.databases ORDER BY name")
# The tenant setting and the gate in one statement, for a transaction already open.
ENTER = "SELECT set_config('app.tenant_id', %s, true), placement.enter(CAST(%s AS uuid))"
# ... and the same with its BEGIN, sent as one simple-protocol query (ADR 0308).
_OPEN = "BEGIN; SELECT set_config('app.tenant_id', '{0}', true), placement.enter('{0}'::uuid)"
OPEN, FENCED, DEPARTED = "open", "fenced", "departed"  # placement.enter answers
READ_ONLY_TRANSACTION = "25006"  # SQLSTATE of a write in a fenced (read-only) transaction


class OrganizationMoving(Unavailable):
    """A write reached an organization whose data is being moved; retrying later succeeds."""

    def __init__(self) -> None:
        super().__init__("this organization is being moved; retry in a moment")


async def enter_tenant(connection: AsyncConnection, tenant: TenantId) -> str:
    """Scope the open transaction to ``tenant`` (RLS) and pass its placement gate.

    Returns ``open``, ``fenced`` (a move is copying the organization: the transaction was
    made read-only) or ``departed`` (the organization no longer lives in this database)."""
    driver = await driver_connection(connection)
    async with driver.pipeline():
        cursor = await driver.execute(ENTER, (str(tenant), str(tenant)))
    row = await cursor.fetchone()
    assert row is not None
    return str(row[1])


async def open_tenant_transaction(connection: AsyncConnection, tenant: TenantId) -> str:
    """Begin the transaction of a freshly borrowed ``connection`` scoped to ``tenant`` and
    pass its gate (answers as ``enter_tenant``): one simple-protocol query, ``BEGIN`` and the
    setting together, which costs domain-api about half the CPU of the pipelined pair
    (ADR 0308). The driver is put in autocommit so it sends no ``BEGIN`` of its own; the
    server is inside the explicit transaction all the same, so nothing commits before
    ``commit()``. ``release`` must hand the connection back (it restores the mode)."""
    literal = uuid.UUID(str(tenant))  # a UUID's text is hex and dashes: safe as a literal
    driver = await driver_connection(connection)
    await driver.set_autocommit(True)
    cursor = await driver.execute(_OPEN.format(literal).encode())
    cursor.nextset()  # past BEGIN's empty result
    row = await cursor.fetchone()
    assert row is not None
    return str(row[1])


async def release(connection: AsyncConnection) -> None:
    """End what ``open_tenant_transaction`` began and give the connection back to its pool
    as the pool lends it (driver not in autocommit); one that cannot be restored is
    discarded, never lent out half-configured."""
    try:
        if connection.invalidated:
            # Lost (a COMMIT on a connection the server ended, say): the pool already has
            # no driver connection to restore, and asking for one would reconnect.
            return
        if connection.in_transaction():
            await connection.rollback()
        driver = await driver_connection(connection)
        if driver.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            # A COMMIT pipelined after a failed write (ADR 0321) left the server's
            # transaction aborted while SQLAlchemy counts it as ended.
            await driver.rollback()
        await driver.set_autocommit(False)
    except BaseException:
        await connection.invalidate()
        raise
    finally:
        await connection.close()


@dataclass
class _Snapshot:
    placed: dict[uuid.UUID, PlacementDatabase] = field(default_factory=dict)
    databases: list[PlacementDatabase] = field(default_factory=list)
    read_at: float = float("-inf")


async def _read_directory(conn: AsyncConnection) -> dict[uuid.UUID, PlacementDatabase]:
    return {
        org: PlacementDatabase(name, cluster)
        for org, name, cluster in await conn.execute(_DIRECTORY)
    }


class PostgresPlacementDirectory:
    """``PlacementDirectory`` over the control database, read whole and cached ``ttl`` seconds.

    The directory is small (one row per dedicated organization). A stale answer is harmless:
    a database an organization left refuses its transactions (``placement.enter``), and the
    unit of work then calls ``forget`` and asks again."""

    def __init__(
        self, engine: AsyncEngine, *, ttl: float = 2.0, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._now = now
        self._snapshot = _Snapshot()
        self._lock = asyncio.Lock()

    async def _current(self) -> _Snapshot:
        if self._now() - self._snapshot.read_at < self._ttl:
            return self._snapshot
        async with self._lock:
            if self._now() - self._snapshot.read_at < self._ttl:
                return self._snapshot
            # Often the first statement of a request: retried on a dropped connection (0341).
            async with opened_transaction(self._engine, _read_directory) as (conn, placed):
                databases = [PlacementDatabase(n, c) for n, c in await conn.execute(_DATABASES)]
            self._snapshot = _Snapshot(placed, databases, self._now())
            return self._snapshot

    async def placement_of(self, organization: TenantId) -> Placement:
        snapshot = await self._current()
        return Placement(organization, snapshot.placed.get(organization))

    async def dedicated_databases(self) -> Sequence[PlacementDatabase]:
        return list((await self._current()).databases)

    def forget(self) -> None:
        self._snapshot = _Snapshot()


def placement_url(service_url: str, database: PlacementDatabase) -> str:
    """The service's own URL (role and password) pointed at a dedicated database."""
    url = make_url(sqlalchemy_url(service_url)).set(database=database.name)
    if database.cluster is not None:
        host, _, port = database.cluster.rpartition(":")
        url = url.set(host=host.strip("[]"), port=int(port), query={})
    return url.render_as_string(hide_password=False)


class PlacementEngines:
    """The engine of each placement: the shared one, and a bounded LRU of dedicated ones."""

    def __init__(
        self,
        shared: AsyncEngine,
        directory: PlacementDirectory | None = None,
        *,
        service_url: str | None = None,
        max_engines: int = 16,
        pool_size: int = 2,
        max_overflow: int = 2,
        on_engine: Callable[[AsyncEngine], None] = lambda engine: None,
    ) -> None:
        if directory is not None and service_url is None:
            raise ValueError("a directory needs the service URL to reach dedicated databases")
        self.shared = shared
        self.directory = directory
        self._service_url = service_url or ""
        self._pool = (pool_size, max_overflow)
        self._on_engine = on_engine
        # An evicted engine's connections still checked out finish their transaction and
        # are closed then.
        self._engines: RetiringCache[PlacementDatabase, AsyncEngine] = RetiringCache(
            max_engines, lambda engine: engine.dispose()
        )

    def engine_of(self, database: PlacementDatabase | None) -> AsyncEngine:
        """The engine of a placement (``None``: shared), created on first use."""
        if database is None:
            return self.shared
        engine = self._engines.get(database)
        if engine is not None:
            return engine
        pool_size, max_overflow = self._pool
        engine = create_engine(
            placement_url(self._service_url, database),
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        self._on_engine(engine)
        self._engines.add(database, engine)
        return engine

    async def database_of(self, tenant: TenantId) -> PlacementDatabase | None:
        if self.directory is None:
            return None
        return (await self.directory.placement_of(tenant)).database

    async def engine_for(self, tenant: TenantId) -> AsyncEngine:
        return self.engine_of(await self.database_of(tenant))

    async def placements(self) -> list[PlacementDatabase | None]:
        """The shared database first, then every dedicated one registered."""
        if self.directory is None:
            return [None]
        return [None, *await self.directory.dedicated_databases()]

    def forget(self) -> None:
        if self.directory is not None:
            self.directory.forget()

    async def still_here(self, tenant: TenantId, database: PlacementDatabase | None) -> bool:
        """After a ``departed`` gate: does the directory, read afresh, still name ``database``?
        Yes means a move died before its switch and the organization never left."""
        self.forget()
        return await self.database_of(tenant) == database

    async def connect(
        self, tenant: TenantId
    ) -> tuple[AsyncConnection, str, PlacementDatabase | None]:
        """An open transaction on the tenant's placement, scoped to it, its gate and where.

        A database the organization departed sends us to the directory once more: a fresh
        answer elsewhere wins; the same answer means a move died before its switch, and
        this database is still the organization's (the directory is the commit point)."""
        database = await self.database_of(tenant)

        def opening(connection: AsyncConnection) -> Awaitable[str]:
            return open_tenant_transaction(connection, tenant)

        # Retried once on a fresh connection if the pooled one turns out dead (ADR 0341).
        connection, gate = await begin_unit(self.engine_of(database), opening)
        if gate == DEPARTED:
            try:
                here = await self.still_here(tenant, database)
                moved_to = database if here else await self.database_of(tenant)
            except BaseException:
                await release(connection)
                raise
            if moved_to != database:
                await release(connection)
                database = moved_to
                connection, gate = await begin_unit(self.engine_of(database), opening)
        return connection, gate, database

    @contextlib.asynccontextmanager
    async def transaction(self, tenant: TenantId) -> AsyncIterator[AsyncConnection]:
        """A transaction on the tenant's placement, scoped to it (RLS), committed on success."""
        connection, gate, _ = await self.connect(tenant)
        try:
            yield connection
            await connection.commit()
        except (DBAPIError, psycopg.Error) as error:
            raise moving_or(error, gate) from error
        finally:
            await release(connection)

    async def dispose(self) -> None:
        await self._engines.close()


def moving_or(error: BaseException, gate: str) -> BaseException:
    """A write refused by a move's fence is ``OrganizationMoving`` (503), a transaction given
    up under contention ``ContendedTransaction`` (503, ADR 0355); others unchanged.

    The error comes from SQLAlchemy (wrapping psycopg's) or from psycopg itself (pipelined
    and binary statements go to the driver directly)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if (
        gate != OPEN
        and isinstance(cause, psycopg.Error)
        and cause.sqlstate == READ_ONLY_TRANSACTION
    ):
        return OrganizationMoving()
    return contended_or(error)


def as_placements(engine: AsyncEngine | PlacementEngines) -> PlacementEngines:
    """One database and no directory (tests, tools): every organization is shared."""
    return engine if isinstance(engine, PlacementEngines) else PlacementEngines(engine)
