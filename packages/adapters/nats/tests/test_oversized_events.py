"""A write whose event could not travel as one stream message is refused (ADR 0335): a
writer's single oversized document no longer stalls the outbox relay for every
organization."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import msgspec
import pytest
from bijmantra.adapters.nats import EVENTS_STREAM, JetStreamPublisher
from bijmantra.adapters.postgres import PostgresOutboxStore, create_engine, unit_of_work_factory
from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.brapi.modules import catalog
from bijmantra.application.brapi.queries import ResourceQueries
from bijmantra.application.events import OutboxRecord, OutboxRelay
from bijmantra.kernel import PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.event_streams import germplasm_events
from bijmantra.testkit.fakes import FakeSearchResultStore
from bijmantra.testkit.provision import ProvisionedDatabase
from nats.js import JetStreamContext

pytestmark = pytest.mark.integration


def writer() -> Principal:
    return Principal(subject="u", tenant_id=TenantId(uuid.uuid4()), roles=frozenset({"breeder"}))


def germplasm(name: str) -> dict[str, str]:
    return {"germplasmName": name, "germplasmPUI": name, "commonCropName": "Maize"}


async def test_a_document_too_large_for_one_event_is_refused_and_others_keep_flowing(
    js: JetStreamContext, database: ProvisionedDatabase
) -> None:
    engine = create_engine(database.domain_url, pool_size=2)
    commands = ResourceCommands(catalog(), unit_of_work_factory(engine, source="domain-api"))
    attacker, other = writer(), writer()
    # 1.5 MB in one document: within the gateway's 10 MB body, past NATS's 1 MB message.
    big = {**germplasm("big"), "additionalInfo": {"padding": "x" * 1_500_000}}
    with pytest.raises(ValidationFailed) as refused:
        await commands.create(attacker, "germplasm", [big])
    assert "too large" in refused.value.message
    queries = ResourceQueries(
        catalog(), unit_of_work_factory(engine, source="test"), FakeSearchResultStore()
    )
    page = await queries.list(attacker, "germplasm", {}, PageRequest())
    assert msgspec.json.decode(page.documents) == [], "nothing is stored"

    crop = f"crop-{uuid.uuid4().hex[:6]}"
    await commands.create(other, "germplasm", [{**germplasm("ok"), "commonCropName": crop}])
    async with germplasm_events(js, str(other.tenant_id)) as received:
        relay = OutboxRelay(PostgresOutboxStore(engine), JetStreamPublisher(js))
        for _ in range(100):
            with contextlib.suppress(Exception):  # a stalled relay fails here on every pass
                await relay.relay_once()
            if received:
                break
            await asyncio.sleep(0.1)
    await engine.dispose()
    assert [e.data["commonCropName"] for e in received] == [crop]


async def test_an_event_the_server_cannot_take_is_dead_lettered_not_retried(
    js: JetStreamContext, probe: Callable[..., OutboxRecord]
) -> None:
    """A row past the bound (written before it, or a server with a smaller ``max_payload``)
    is set aside under its id; the events of the same batch are published."""
    big, small = probe(padding="x" * 1_100_000), probe(crop="Maize")
    acked = await JetStreamPublisher(js).publish_batch([big, small])
    assert acked == [big.id, small.id], "both leave the outbox"
    published = await js.get_last_msg(EVENTS_STREAM, f"bijmantra.events.{small.type}")
    assert published.data == small.payload
    dead = await js.get_last_msg(EVENTS_STREAM, "bijmantra.deadletter.relay")
    assert dead.headers is not None
    assert dead.headers["Bijmantra-Event-Id"] == big.id
