"""Background passes after a PostgreSQL restart (ADR 0346, extending 0341), against a server
of this module's own (restarting the session's would cut every other test's connections).

Each loop's pass (the outbox relay's claim, backlog and purge, the analysis scheduler, the
sensor due-checks, partition maintenance, the audit consumer's append, the invitation
mailer, the signing-key reload) opens its transaction the way a unit of work does: a pooled
connection the restart ended is found dead at the first statement, and that statement runs
once more on a fresh connection. So the first pass after a restart succeeds, where it used
to fail, log a warning and wait for the loop's next turn.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.adapters.postgres.analysis_scheduler import PostgresAnalysisScheduler
from bijmantra.adapters.postgres.audit import PostgresAuditStore
from bijmantra.adapters.postgres.export_runner import run_exports_once
from bijmantra.adapters.postgres.identity import PostgresSigningKeys
from bijmantra.adapters.postgres.invitations import PostgresDueInvitations
from bijmantra.adapters.postgres.outbox import PostgresOutboxStore
from bijmantra.adapters.postgres.placement import PlacementEngines
from bijmantra.adapters.postgres.relay_loop import OutboxWakeups, listen
from bijmantra.adapters.postgres.sensor_evaluation import PostgresDueChecks
from bijmantra.adapters.postgres.sensor_partitions import maintain_partitions
from bijmantra.application.events import encode_envelope
from bijmantra.testkit.envelopes import germplasm_created
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import LocalPostgres, restart_in_place
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


@pytest.fixture
async def domain(restartable_database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(restartable_database.domain_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def analytics(restartable_database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(restartable_database.analytics_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
async def identity(restartable_database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(restartable_database.identity_url, pool_size=1, max_overflow=0)
    yield engine
    await engine.dispose()


async def _after_a_restart(
    restartable_server: tuple[LocalPostgres, str],
    engine: AsyncEngine,
    first_pass: Callable[[], Awaitable[Any]],
) -> None:
    """Pool a connection, restart the server under it, then run one pass: it must succeed."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
    assert engine.sync_engine.pool.checkedin() == 1  # type: ignore[attr-defined]
    await restart_in_place(restartable_server)
    await first_pass()


async def test_the_outbox_relays_passes_succeed_after_a_restart(
    restartable_server: tuple[LocalPostgres, str], domain: AsyncEngine, identity: AsyncEngine
) -> None:
    for engine, schema in [(domain, "domain"), (identity, "identity")]:
        store = PostgresOutboxStore(engine, schema=schema)

        async def claim(store: PostgresOutboxStore = store) -> None:
            async with store.claim(10) as batch:
                assert batch.records == []

        await _after_a_restart(restartable_server, engine, claim)
        await _after_a_restart(restartable_server, engine, store.pending)
        await _after_a_restart(
            restartable_server, engine, lambda store=store: store.purge_published(timedelta(days=1))
        )


async def test_the_analysis_scheduler_and_due_checks_succeed_after_a_restart(
    restartable_server: tuple[LocalPostgres, str], domain: AsyncEngine, analytics: AsyncEngine
) -> None:
    """The scheduler serves the worker's claims (domain-api); the due checks are the
    worker's 15-second pass over every placement."""
    scheduler = PostgresAnalysisScheduler(PlacementEngines(domain))
    checks = PostgresDueChecks(PlacementEngines(analytics))
    now = datetime.now(UTC)
    await _after_a_restart(restartable_server, domain, lambda: scheduler.reserve("delivery-1"))
    await _after_a_restart(restartable_server, analytics, lambda: checks.due_watches(now, 10))
    await _after_a_restart(restartable_server, analytics, lambda: checks.due_presences(now, 10))


async def test_partition_maintenance_and_the_audit_consumer_succeed_after_a_restart(
    restartable_server: tuple[LocalPostgres, str], domain: AsyncEngine
) -> None:
    now = datetime.now(UTC)
    await _after_a_restart(
        restartable_server, domain, lambda: maintain_partitions(domain, now, timedelta(days=400))
    )
    audit, recorded = PostgresAuditStore(domain), germplasm_created(uuid.uuid4())
    await _after_a_restart(
        restartable_server,
        domain,
        lambda: audit.append("audit", recorded, encode_envelope(recorded)),
    )


async def test_the_mailer_and_the_signing_key_reload_succeed_after_a_restart(
    restartable_server: tuple[LocalPostgres, str], identity: AsyncEngine
) -> None:
    invitations, keys = PostgresDueInvitations(identity), PostgresSigningKeys(identity)
    await _after_a_restart(
        restartable_server, identity, lambda: invitations.due(datetime.now(UTC), 10, 5)
    )
    await _after_a_restart(restartable_server, identity, keys.active)


def test_the_export_runner_needs_nothing_after_a_restart(
    restartable_server: tuple[LocalPostgres, str],
    restartable_database: ProvisionedDatabase,
    tmp_path: Path,
) -> None:
    """It keeps no pool: each pass connects afresh, so a restart between passes costs none."""
    assert (
        run_exports_once(restartable_database.owner_url, lambda: datetime.now(UTC), tmp_path) == 0
    )
    asyncio.run(restart_in_place(restartable_server))
    assert (
        run_exports_once(restartable_database.owner_url, lambda: datetime.now(UTC), tmp_path) == 0
    )


async def test_the_relays_wake_up_and_listener_carry_on_across_a_restart(
    restartable_server: tuple[LocalPostgres, str],
    restartable_database: ProvisionedDatabase,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The relay's own sessions: NOTIFY after a commit (``OutboxWakeups``) and LISTEN."""
    caplog.set_level(logging.INFO, logger="bijmantra.adapters.postgres.relay_loop")
    channel, stop, woken = "bijmantra_outbox", asyncio.Event(), asyncio.Event()
    wakeups = OutboxWakeups(restartable_database.domain_url, channel)
    tasks = [
        asyncio.create_task(wakeups.run(stop)),
        asyncio.create_task(listen(restartable_database.domain_url, channel, woken, stop)),
    ]
    try:
        await asyncio.wait_for(woken.wait(), 10)  # listening
        await asyncio.sleep(0.2)
        caplog.clear()
        await restart_in_place(restartable_server)
        async with await psycopg.AsyncConnection.connect(
            restartable_database.domain_url, autocommit=True
        ) as watcher:
            await watcher.execute(f"LISTEN {channel}")
            wakeups.wake()  # a commit's wake-up, the first after the restart
            notified = watcher.notifies(timeout=5, stop_after=1)
            assert [n.channel async for n in notified] == [channel]
        woken.clear()
        wakeups.wake()
        await asyncio.wait_for(woken.wait(), 10)  # the listener is back
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        ended = [r.getMessage() for r in caplog.records if "session ended" in r.getMessage()]
        assert sorted(ended) == [
            f"{verb} {channel} session ended; reconnecting" for verb in ("LISTEN", "NOTIFY")
        ]
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
