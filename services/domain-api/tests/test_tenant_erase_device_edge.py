"""``bijmantra-tenant erase --device-edge-url`` deletes the erased organization's device
stream with the batches still waiting in it (ADR 0386), on a real edge, PostgreSQL and Redis:
the sweep reclaims only empty streams, so they would sit there until their age ran out.
Another organization's stream and its batches stay."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import psycopg
import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.device_stream import (
    DeviceStreamBounds,
    OrganizationStreams,
    ensure_device_stream,
    organization_stream,
)
from bijmantra.domain_api.tenant_cli import main as tenant_cli
from bijmantra.testkit.device_nats import LocalDeviceNats
from bijmantra.testkit.organizations import insert_organization
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.servers import free_port
from nats.js.errors import NotFoundError

pytestmark = [pytest.mark.integration]
SHARE = 5 * 1024 * 1024
BOUNDS = DeviceStreamBounds(max_bytes=SHARE, max_age_seconds=600, max_bytes_per_organization=SHARE)


async def waiting_batches(
    edge_url: str, tenants: list[uuid.UUID], batches: int = 0
) -> list[int | None]:
    """Each organization's waiting batches on the edge (``None``: it has no stream), after
    admitting it and publishing ``batches`` to each, as its devices would."""
    nc = await connect(edge_url, name="test-edge")
    js = nc.jetstream()
    await ensure_device_stream(js, BOUNDS)
    streams = OrganizationStreams(js, BOUNDS)
    found: list[int | None] = []
    try:
        for tenant in tenants:
            if batches:
                await streams.admit(str(tenant))
            for n in range(batches):
                await js.publish(f"bijmantra.t.{tenant}.device-{n}", b'{"readings":[]}')
            try:
                found.append(
                    (await js.stream_info(organization_stream(str(tenant)))).state.messages
                )
            except NotFoundError:
                found.append(None)
    finally:
        await nc.close()
    return found


def erase(
    database: ProvisionedDatabase, tenant: uuid.UUID, archive: Path, edge: str, redis: str
) -> None:
    tenant_cli(
        [
            *("--database-url", database.owner_url, "--redis-url", redis),
            *("--device-edge-url", edge, "erase", str(tenant), str(archive)),
            *("--by", "ops@example.org"),
        ]
    )


def test_erasing_an_organization_deletes_its_device_stream_with_its_waiting_batches(
    database: ProvisionedDatabase,
    device_edge: LocalDeviceNats,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(database.owner_url) as conn:
        for tenant in (erased, kept):
            insert_organization(conn, tenant, f"edge-{tenant}", ["admin"])
    assert asyncio.run(waiting_batches(device_edge.ingest_url, [erased, kept], 3)) == [3, 3]
    archive = tmp_path / "erased.tar"
    tenant_cli(["--database-url", database.owner_url, "export", str(erased), str(archive)])
    capsys.readouterr()

    erase(database, erased, archive, device_edge.ingest_url, redis_url)
    assert json.loads(capsys.readouterr().out)["device_batches"] == 3
    assert asyncio.run(waiting_batches(device_edge.ingest_url, [erased, kept])) == [None, 3]


def test_an_edge_that_does_not_answer_is_reported_after_the_erasure(
    database: ProvisionedDatabase,
    redis_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The rows are gone (the erasure committed); the operator is told the stream stays."""
    tenant = uuid.uuid4()
    with psycopg.connect(database.owner_url) as conn:
        insert_organization(conn, tenant, f"edge-{tenant}", ["admin"])
    archive = tmp_path / "a.tar"
    tenant_cli(["--database-url", database.owner_url, "export", str(tenant), str(archive)])
    with pytest.raises(SystemExit) as refused:
        erase(database, tenant, archive, f"nats://127.0.0.1:{free_port()}", redis_url)
    assert refused.value.code == 2
    assert "Erased, but its device stream stays" in capsys.readouterr().err
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM identity.organization_erasures WHERE organization_id = %s",
            (tenant,),
        ).fetchone()
    assert row == (1,)
