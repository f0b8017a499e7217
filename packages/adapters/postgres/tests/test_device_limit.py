"""The limit of enrolled devices per organization (ADR 0361) against the real database,
through the enrolment use case: the registration past it is refused with ``storage_full`` and
leaves nothing behind, registrations racing at the limit cannot pass it together, revoking a
device frees its place, another organization is not counted, and an operator's own limit for
one organization replaces the deployment's."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.application.sensors import DeviceEnrolment
from bijmantra.domain.tenancy.storage import StorageCaps, StoredResource
from bijmantra.kernel import FixedClock, Principal, StorageFull, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.sensors import place_to_put_devices
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
DEVICES = StoredResource.ENROLLED_DEVICES
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
PROFILE = {
    "name": "station",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


class Organization:
    """One organization enrolling devices under a deployment limit of ``limit`` devices."""

    def __init__(self, engine: AsyncEngine, limit: int) -> None:
        self.tenant = TenantId(uuid.uuid4())
        self.manager = Principal("m", self.tenant, frozenset({"data-manager"}))
        self.uow = unit_of_work_factory(engine, source="test", caps=StorageCaps({DEVICES: limit}))
        self.enrolment = DeviceEnrolment(self.uow, FixedClock(NOW))
        self._body: dict[str, Any] | None = None

    async def register(self, name: str = "d") -> str:
        if self._body is None:
            profile = await self.enrolment.create_profile(
                self.manager, json.dumps(PROFILE).encode()
            )
            location = await place_to_put_devices(self.uow, self.tenant, "location", "field-1")
            self._body = {"profileId": profile["profileId"], "locationDbId": location}
        body = json.dumps({**self._body, "name": name}).encode()
        return str((await self.enrolment.register(self.manager, body))["deviceId"])


def _count(database: ProvisionedDatabase, query: str, tenant: TenantId) -> int:
    with psycopg.connect(database.owner_url) as conn:
        row = conn.execute(query, (tenant,)).fetchone()
    assert row is not None
    return int(row[0])


def _devices(database: ProvisionedDatabase, tenant: TenantId) -> int:
    return _count(
        database, "SELECT count(*) FROM domain.sensor_devices WHERE tenant_id = %s", tenant
    )


def _registered_events(database: ProvisionedDatabase, tenant: TenantId) -> int:
    return _count(
        database,
        "SELECT count(*) FROM domain.outbox WHERE tenant_id = %s "
        "AND type = 'sensors.device.registered'",
        tenant,
    )


async def test_the_registration_past_the_limit_is_refused_and_leaves_nothing(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    org = Organization(engine, limit=3)
    for i in range(3):
        await org.register(f"d{i}")
    with pytest.raises(StorageFull) as refused:
        await org.register("one too many")
    assert refused.value.message.startswith(
        "This organization has reached its limit of 3 enrolled devices: the device was not "
        "registered"
    )
    details = {d.location: d.message for d in refused.value.details}
    assert details == {"resource": "stored_enrolled_devices", "used": "3", "cap": "3"}
    assert _devices(database, org.tenant) == 3
    assert _registered_events(database, org.tenant) == 3


async def test_registrations_racing_at_the_limit_cannot_pass_it_together(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """Six registrations race for the two places left of three: each passes the early read,
    and their commits count in turn, each seeing the ones committed before it."""
    org = Organization(engine, limit=3)
    await org.register("first")
    results = await asyncio.gather(
        *(org.register(f"racer {i}") for i in range(6)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, StorageFull)]
    assert len(refused) == 4, results
    assert all(isinstance(r, str) for r in results if r not in refused)
    assert _devices(database, org.tenant) == 3
    assert _registered_events(database, org.tenant) == 3


async def test_revoking_a_device_frees_its_place(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    org = Organization(engine, limit=2)
    first = await org.register("first")
    claimed = await org.register("second")
    await org.enrolment.issue_claim(org.manager, claimed)  # a device on any step counts
    with pytest.raises(StorageFull):
        await org.register("third")
    await org.enrolment.revoke(org.manager, first)
    await org.register("third")
    with pytest.raises(StorageFull):
        await org.register("fourth")
    assert _devices(database, org.tenant) == 3  # the revoked device's row stays, as history


async def test_another_organization_is_not_counted(engine: AsyncEngine) -> None:
    full, other = Organization(engine, limit=1), Organization(engine, limit=1)
    await full.register()
    with pytest.raises(StorageFull):
        await full.register()
    await other.register()


async def test_an_operators_own_limit_replaces_the_deployments_for_that_organization(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    larger, smaller = Organization(engine, limit=1), Organization(engine, limit=1)
    with psycopg.connect(database.owner_url) as conn:
        for org, limit in ((larger, 2), (smaller, 0)):
            conn.execute(
                "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                "VALUES (%s, 'stored_enrolled_devices', %s)",
                (org.tenant, limit),
            )
    await larger.register()
    await larger.register()
    with pytest.raises(StorageFull, match="its limit of 2"):
        await larger.register()
    with pytest.raises(StorageFull, match="its limit of 0 enrolled devices"):
        await smaller.register()
