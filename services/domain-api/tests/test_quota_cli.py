"""``bijmantra-tenant quota`` as an operator runs it, on real PostgreSQL (ADR 0340): one
organization's own daily limit replaces the deployment's until cleared, and its usage of the
last days is shown, and so are its standing caps and what it stores (ADR 0343); a resource
or limit the platform does not know is refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.domain import DomainEvent
from bijmantra.domain.tenancy.quotas import DailyQuotas, Resource
from bijmantra.domain.tenancy.storage import StorageCaps, StoredResource
from bijmantra.domain_api.tenant_cli import main as tenant_cli
from bijmantra.kernel import FixedClock, RateLimited, StorageFull, TenantId
from bijmantra.testkit.provision import ProvisionedDatabase

pytestmark = pytest.mark.integration
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


async def _write(database: ProvisionedDatabase, tenant: TenantId) -> None:
    engine = create_engine(database.domain_url, pool_size=1)
    quotas = DailyQuotas({Resource.EVENT_BYTES: 1 << 30})
    try:
        async with unit_of_work_factory(engine, source="t", quotas=quotas, clock=FixedClock(NOW))(
            tenant
        ) as uow:
            uow.record(DomainEvent("test.cli", tenant, "a", {"n": "x" * 300}, occurred_at=NOW))
            await uow.commit()
    finally:
        await engine.dispose()


async def test_an_operator_sets_reads_and_clears_an_organizations_limit(
    database: ProvisionedDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    organization = uuid.uuid4()
    cli = ["--database-url", database.owner_url, "quota", str(organization)]
    tenant_cli([*cli, "--set", "event_bytes=1000", "--set", "genotype_calls=5"])
    shown = json.loads(capsys.readouterr().out)
    assert shown["limits"] == {"event_bytes": 1000, "genotype_calls": 5}
    assert shown["usage"] == []

    tenant = TenantId(organization)
    await _write(database, tenant)  # ~700 bytes of its 1000
    with pytest.raises(RateLimited):
        await _write(database, tenant)  # the deployment's 1 GiB does not apply to it
    tenant_cli(cli)
    shown = json.loads(capsys.readouterr().out)
    [day] = shown["usage"]
    assert (day["day"], day["resource"]) == ("2026-12-07", "event_bytes")
    assert 0 < day["used"] <= 1000

    tenant_cli([*cli, "--clear", "event_bytes"])
    assert json.loads(capsys.readouterr().out)["limits"] == {"genotype_calls": 5}
    await _write(database, tenant)  # the deployment's limit again


async def test_an_operator_sets_an_organizations_standing_cap_and_reads_what_it_stores(
    database: ProvisionedDatabase, capsys: pytest.CaptureFixture[str]
) -> None:
    """ADR 0343: a ``stored_*`` cap (0 allowed: nothing more may be stored) beside the daily
    limits, and the organization's totals as its rows hold them."""
    organization = uuid.uuid4()
    tenant = TenantId(organization)
    engine = create_engine(database.domain_url, pool_size=1)
    caps = StorageCaps({StoredResource.UPLOAD_BYTES: 1 << 30})
    try:
        async with unit_of_work_factory(engine, source="t", caps=caps)(tenant) as uow:
            await uow.resources.insert("image", [("i1", {"imageDbId": "i1"})])
            await uow.resources.put_content("image", "i1", "image/png", bytes(700))
            await uow.commit()
        cli = ["--database-url", database.owner_url, "quota", str(organization)]
        tenant_cli([*cli, "--set", "stored_upload_bytes=700"])
        shown = json.loads(capsys.readouterr().out)
        assert shown["limits"] == {"stored_upload_bytes": 700}
        assert shown["stored"] == {
            "stored_genotype_calls": 0,
            "stored_analysis_result_bytes": 0,
            "stored_upload_bytes": 700,
            "stored_enrolled_devices": 0,
        }
        async with unit_of_work_factory(engine, source="t", caps=caps)(tenant) as uow:
            await uow.resources.insert("image", [("i2", {"imageDbId": "i2"})])
            await uow.resources.put_content("image", "i2", "image/png", b"x")
            with pytest.raises(StorageFull, match=r"\(701\) would pass its cap \(700\)"):
                await uow.commit()
        tenant_cli([*cli, "--clear", "stored_upload_bytes"])
        assert json.loads(capsys.readouterr().out)["limits"] == {}
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    "bad", ["nonsense=5", "event_bytes=0", "event_bytes=many", "stored_upload_bytes=-1"]
)
def test_an_unknown_resource_or_a_bad_limit_is_refused(
    database: ProvisionedDatabase, bad: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        tenant_cli(["--database-url", database.owner_url, "quota", str(uuid.uuid4()), "--set", bad])
    assert refused.value.code == 2
