"""A write whose last statements outgrow the socket's buffer still commits (ADR 0321).

The commit pipeline sends the outbox rows, the usage charge and ``COMMIT`` together. A bulk
write of 10,000 germplasm makes ~8 MB of outbox rows; with psycopg's ``commit()`` inside the
pipeline the client waited for the commit's answer before the rows were sent whole, and the
server waited for their rest (``ClientRead``) until the request's deadline, every time."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.domain import DomainEvent
from bijmantra.kernel import TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

EVENTS = 2_000
PAYLOAD = "x" * 4_000  # 2,000 events of ~4 kB: ~8 MB, far past a socket's send buffer
HANG_GUARD_SECONDS = 120  # liveness only: the commit takes well under a second when it works


async def test_a_commit_larger_than_the_socket_buffer_completes(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    now = datetime.now(UTC)
    events = [
        DomainEvent("test.large", tenant, str(uuid.uuid4()), {"body": PAYLOAD}, occurred_at=now)
        for _ in range(EVENTS)
    ]
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        async with unit_of_work_factory(engine, source="t")(tenant) as uow:
            for event in events:
                uow.record(event)
            await uow.commit()
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s", (str(tenant),)
        ).fetchone()
    assert row is not None
    assert row[0] == EVENTS
    # The connection went back to the pool usable: the next unit commits as usual.
    async with unit_of_work_factory(engine, source="t")(tenant) as uow:
        uow.record(DomainEvent("test.large", tenant, "after", {}, occurred_at=now))
        await uow.commit()
