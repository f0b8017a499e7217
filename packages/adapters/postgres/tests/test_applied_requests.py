"""A keyed write's record commits with it (ADR 0336), against the real database: a second
request with the key is refused and writes nothing; the same request's later commits, a
rolled-back first run and another organization are not affected; a record past its two
days is taken again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.ports.transaction import KeyedRequest
from bijmantra.domain import DomainEvent
from bijmantra.kernel import Conflict, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


async def _write(engine: AsyncEngine, tenant: TenantId, keyed: KeyedRequest | None) -> str:
    """One committed event (what every state change writes); its id."""
    event = DomainEvent(
        "test.applied", tenant, str(uuid.uuid4()), {}, occurred_at=datetime.now(UTC)
    )
    async with unit_of_work_factory(engine, source="t", keyed_request=lambda: keyed)(tenant) as uow:
        uow.record(event)
        await uow.commit()
    return event.id


def _events(database: ProvisionedDatabase, ids: list[str]) -> int:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM domain.outbox WHERE id = ANY(%s::uuid[])", (ids,)
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_second_request_with_a_recorded_key_is_refused_and_writes_nothing(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    key = f"{tenant}:{uuid.uuid4().hex}#1"
    first = KeyedRequest(key)
    written = [await _write(engine, tenant, first), await _write(engine, tenant, first)]
    assert first.recorded  # the same request's second commit records nothing more
    with pytest.raises(Conflict, match="already applied"):
        await _write(engine, tenant, KeyedRequest(key))  # the retry after a lost answer
    written.append(await _write(engine, other, KeyedRequest(key)))  # keys are per organization
    written.append(await _write(engine, tenant, KeyedRequest(f"{key}2")))
    written.append(await _write(engine, tenant, None))  # unkeyed writes are untouched
    assert _events(database, written) == 5


async def test_a_record_older_than_two_days_is_taken_again(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    key = f"{tenant}:{uuid.uuid4().hex}#1"
    await _write(engine, tenant, KeyedRequest(key))
    with psycopg.connect(database.owner_url) as conn:
        conn.execute(
            "UPDATE domain.applied_requests SET applied_at = now() - interval '3 days' "
            "WHERE tenant_id = %s",
            (tenant,),
        )
    await _write(engine, tenant, KeyedRequest(key))  # the gateway forgot it a day ago
    with pytest.raises(Conflict):
        await _write(engine, tenant, KeyedRequest(key))
