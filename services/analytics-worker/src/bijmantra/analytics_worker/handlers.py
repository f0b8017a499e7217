"""Event handlers: each applies its effect and records the event id in one transaction."""

from __future__ import annotations

import uuid
from collections import Counter

from bijmantra.adapters.postgres import first_delivery
from bijmantra.adapters.postgres.placement import PlacementEngines, as_placements
from bijmantra.adapters.postgres.worker_tables import add_crop_counts
from bijmantra.application.events import EventEnvelope, bulk_type, is_bulk, item_type, subject_for
from bijmantra.kernel import TenantId
from bijmantra.observability import get_logger
from sqlalchemy.ext.asyncio import AsyncEngine

log = get_logger(__name__)
GERMPLASM_CONSUMER = "analytics-germplasm"
GERMPLASM_CREATED = "germplasm.created"
# Only creations change a count, so the consumer asks the stream for creations only.
GERMPLASM_SUBJECTS = (subject_for(GERMPLASM_CREATED), subject_for(bulk_type(GERMPLASM_CREATED)))


class GermplasmProjection:
    """Keeps per-crop germplasm counts, the catalogue analyses draw samples from."""

    def __init__(self, engine: AsyncEngine | PlacementEngines) -> None:
        self._placements = as_placements(engine)

    async def __call__(self, envelope: EventEnvelope) -> None:
        """Only creations change a count. The consumer is filtered to them; another event
        can still arrive once (redelivered from before a durable's filter was narrowed). It
        has no effect, so there is nothing to record either: it is acked without a transaction."""
        if item_type(envelope.type) != GERMPLASM_CREATED:
            return
        tenant = TenantId(uuid.UUID(envelope.tenant_id))
        async with self._placements.transaction(tenant) as conn:
            if not await first_delivery(conn, GERMPLASM_CONSUMER, envelope):
                log.info("duplicate event ignored", event_id=envelope.id)
                return
            created = envelope.data["items"] if is_bulk(envelope.type) else [envelope.data]
            crops = Counter(g.get("commonCropName") or "" for g in created)
            await add_crop_counts(conn, tenant, crops)
            log.info("event processed", event_id=envelope.id, event_type=envelope.type)
