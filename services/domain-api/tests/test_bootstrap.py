"""domain-api's composition root wired to the testkit's fakes alone: no PostgreSQL, NATS,
Redis or identity. A BrAPI write goes through the real gRPC server, interceptors and use
cases, and its event reaches the audit consumer that ``bootstrap`` subscribed."""

from __future__ import annotations

import uuid

import grpc
import msgspec
import pytest
from bijmantra.adapters.grpc import ResourceClient
from bijmantra.application.compliance import AUDIT_CONSUMER
from bijmantra.domain_api.bootstrap import DomainAdapters, bootstrap
from bijmantra.domain_api.config import Settings
from bijmantra.kernel import PageRequest, Principal, TenantId, Unauthorized
from bijmantra.observability.tracing_setup import Tracing
from bijmantra.testkit.console_fakes import FakeTokenVerifier
from bijmantra.testkit.servers import free_port
from bijmantra.testkit.service_fakes import DomainFakes

TOKEN = "breeder-token"
TENANT = TenantId(uuid.uuid4())
GERMPLASM = [{"germplasmName": "IR64", "germplasmPUI": "p:IR64", "commonCropName": "Rice"}]


async def test_a_write_through_the_fakes_only() -> None:
    fakes = DomainFakes()
    breeder = Principal(subject="u1", tenant_id=TENANT, roles=frozenset({"breeder"}))
    adapters = DomainAdapters(**fakes.ports(), verifier=FakeTokenVerifier({TOKEN: breeder}))
    port = free_port()
    settings = Settings(
        database_url="postgresql://unused",
        nats_url="nats://unused",
        identity_target="unused:1",
        token_issuer="https://identity.test",
        token_audience="bijmantra",
        port=port,
    )
    app = await bootstrap(settings, adapters, Tracing())
    assert set(fakes.subscriptions.consumers) == {c.durable for c in app.consumers}
    await app.server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            client = ResourceClient(channel)
            created = await client.create(TOKEN, "germplasm", msgspec.json.encode(GERMPLASM))
            [item] = msgspec.json.decode(created.documents)
            db_id = item["germplasmDbId"]
            fetched = msgspec.json.decode(await client.get(TOKEN, "germplasm", db_id))
            with pytest.raises(Unauthorized):
                await client.get("someone-else", "germplasm", db_id)
    finally:
        await app.server.stop(None)
    assert fetched["germplasmName"] == "IR64"

    outbox = fakes.database.outbox
    await fakes.subscriptions.deliver(AUDIT_CONSUMER, *outbox)
    trail = await fakes.audit.page(TENANT, PageRequest(), resource=db_id)
    assert [entry.event_type for entry in trail.items] == [outbox[0].type]
