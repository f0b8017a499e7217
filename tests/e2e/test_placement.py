"""Two organizations placed differently, through the four services (ADR 0102).

``bijmantra up --dedicated-org``'s stack: the demo organization in the shared database, the
dedicated demo organization in ``bijmantra_demo_dedicated``. A write of each lands in its own
database only; its event goes through that database's outbox relay to JetStream and comes back
to the analytics-worker's projection and domain-api's audit consumer, each writing into the
organization's own database; neither organization can read the other's ids.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from bijmantra.adapters.postgres.placement_admin import database_owner_url
from bijmantra.devstack.stack import (
    DEDICATED_DEMO_DATABASE,
    DEDICATED_DEMO_EMAIL,
    DEDICATED_DEMO_ORGANIZATION_ID,
    DEMO_ORGANIZATION_ID,
    DEMO_PASSWORD,
    DevStack,
    running_stack,
)

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("placed"), dedicated_org=True) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


def _count(owner_url: str, sql: str, *params: object) -> int:
    with psycopg.connect(owner_url) as conn:
        conn.execute("SET row_security = off")
        row = conn.execute(sql, params).fetchone()
    assert row is not None
    return int(row[0])


PROJECTED = (
    "SELECT count(*) FROM analytics.processed_events "
    "WHERE consumer = 'analytics-germplasm' AND subject = %s"
)
AUDITED = "SELECT count(*) FROM domain.audit_log WHERE subject = %s"


async def _until_recorded(owner_url: str, sql: str, db_id: str) -> None:
    """The consumers work after the write's response: wait (bounded) for their row."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _count(owner_url, sql, db_id) >= 1:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{sql} found nothing for {db_id}")


async def test_each_organization_writes_reads_and_projects_in_its_own_database(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    assert stack.database is not None
    shared_url = stack.database.owner_url
    dedicated_url = database_owner_url(shared_url, DEDICATED_DEMO_DATABASE)
    tokens = {
        DEMO_ORGANIZATION_ID: stack.login(),
        DEDICATED_DEMO_ORGANIZATION_ID: stack.login(DEDICATED_DEMO_EMAIL, DEMO_PASSWORD),
    }
    created: dict[str, str] = {}
    for organization, token in tokens.items():
        name = f"Placed-{uuid.uuid4().hex[:8]}"
        response = await client.post(
            "/brapi/v2/germplasm",
            json=[{"germplasmName": name, "germplasmPUI": f"p:{name}", "commonCropName": "Rice"}],
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        created[organization] = response.json()["result"]["data"][0]["germplasmDbId"]
    for organization, db_id in created.items():
        home, away = (
            (dedicated_url, shared_url)
            if organization == DEDICATED_DEMO_ORGANIZATION_ID
            else (shared_url, dedicated_url)
        )
        sql = "SELECT count(*) FROM domain.resources WHERE db_id = %s AND tenant_id = %s"
        assert _count(home, sql, db_id, organization) == 1
        assert _count(away, sql, db_id, organization) == 0
        for reader, token in tokens.items():
            got = await client.get(
                f"/brapi/v2/germplasm/{db_id}", headers={"Authorization": f"Bearer {token}"}
            )
            assert got.status_code == (200 if reader == organization else 404)
        # The event went through this database's outbox and came back to both consumers,
        # which wrote into the same database.
        await _until_recorded(home, PROJECTED, db_id)
        await _until_recorded(home, AUDITED, db_id)
        assert _count(home, PROJECTED, db_id) == 1
        assert _count(away, PROJECTED, db_id) == 0
        assert _count(away, AUDITED, db_id) == 0
