"""The per-crop germplasm counts the worker projects from events, in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine
from bijmantra.analytics_worker.handlers import GermplasmProjection
from bijmantra.application.events import EventEnvelope, bulk_data
from bijmantra.kernel import uuid7
from bijmantra.testkit.provision import ProvisionedDatabase
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.analytics_url, pool_size=1)
    yield engine
    await engine.dispose()


def created(tenant: uuid.UUID, *crops: str) -> EventEnvelope:
    """``germplasm.created`` for one crop, its bulk form for several."""
    documents = [(str(uuid7()), {"commonCropName": crop}) for crop in crops]
    return EventEnvelope(
        id=str(uuid7()),
        type="germplasm.created" if len(crops) == 1 else "germplasm.created.bulk",
        source="domain-api",
        tenant_id=str(tenant),
        subject=documents[0][0],
        time=datetime.now(UTC),
        schema_version=2,
        data=documents[0][1] if len(crops) == 1 else bulk_data(documents),
    )


async def test_single_and_bulk_creations_count_every_germplasm_once_per_crop(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = uuid.uuid4()
    project = GermplasmProjection(engine)
    bulk = created(tenant, "Maize", "Sorghum", "Maize", "Maize")
    for event in (created(tenant, "Maize"), bulk, bulk):  # the bulk one is redelivered
        await project(event)
    with psycopg.connect(database.owner_url) as conn:
        counts = dict(
            conn.execute(
                "SELECT common_crop_name, germplasm_count FROM analytics.crop_germplasm_counts "
                "WHERE tenant_id = %s",
                (tenant,),
            ).fetchall()
        )
    assert counts == {"Maize": 4, "Sorghum": 1}


async def test_an_event_that_changes_no_count_leaves_no_trace(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """Nothing to count, so nothing recorded: no transaction (and commit) per such event."""
    tenant = uuid.uuid4()
    renamed = EventEnvelope(
        id=str(uuid7()),
        type="germplasm.updated",
        source="domain-api",
        tenant_id=str(tenant),
        subject=str(uuid7()),
        time=datetime.now(UTC),
        schema_version=2,
        data={"commonCropName": "Maize"},
    )
    await GermplasmProjection(engine)(renamed)
    with psycopg.connect(database.owner_url) as conn:
        recorded = conn.execute(
            "SELECT count(*) FROM analytics.processed_events WHERE tenant_id = %s", (tenant,)
        ).fetchone()
        counted = conn.execute(
            "SELECT count(*) FROM analytics.crop_germplasm_counts WHERE tenant_id = %s", (tenant,)
        ).fetchone()
    assert (recorded, counted) == ((0,), (0,))
