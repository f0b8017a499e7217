"""Event handlers: each applies its effect and records the event id in one transaction."""

from __future__ import annotations

import uuid

from bijmantra.adapters.postgres import first_delivery, set_tenant
from bijmantra.application.events import EventEnvelope
from bijmantra.kernel import TenantId
from bijmantra.observability import get_logger
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = get_logger(__name__)
GERMPLASM_CONSUMER = "analytics-germplasm"


class GermplasmProjection:
    """Keeps per-crop germplasm counts, the catalogue analyses draw samples from."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def __call__(self, envelope: EventEnvelope) -> None:
        async with self._engine.connect() as conn, conn.begin():
            await set_tenant(conn, TenantId(uuid.UUID(envelope.tenant_id)))
            if not await first_delivery(conn, GERMPLASM_CONSUMER, envelope):
                log.info("duplicate event ignored", event_id=envelope.id)
                return
            if envelope.type == "germplasm.created":
                await conn.execute(
                    text(
                        "INSERT INTO analytics.crop_germplasm_counts (tenant_id, common_crop_name, germplasm_count) "
                        "VALUES (:tenant, :crop, 1) ON CONFLICT (tenant_id, common_crop_name) "
                        "DO UPDATE SET germplasm_count = analytics.crop_germplasm_counts.germplasm_count + 1"
                    ),
                    {"tenant": uuid.UUID(envelope.tenant_id), "crop": envelope.data.get("commonCropName") or ""},
                )
            log.info("event processed", event_id=envelope.id, event_type=envelope.type)
