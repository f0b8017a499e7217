"""The distribution mail consumer's ledger: the event id is recorded in the analytics schema
in a transaction that commits only after the SMTP server accepted the message."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bijmantra.adapters.postgres import first_delivery
from bijmantra.adapters.postgres.placement import PlacementEngines, as_placements
from bijmantra.application.distribution.notifications import MESSAGES
from bijmantra.application.events import EventEnvelope, subject_for
from bijmantra.kernel import TenantId
from sqlalchemy.ext.asyncio import AsyncEngine

MAIL_SUBJECTS = tuple(subject_for(t) for t in MESSAGES)


class PostgresDeliveryLedger:
    def __init__(self, engine: AsyncEngine | PlacementEngines) -> None:
        self._placements = as_placements(engine)

    @asynccontextmanager
    async def claim(self, consumer: str, envelope: EventEnvelope) -> AsyncIterator[bool]:
        """The row lock of the claim also makes a concurrent redelivery wait for the
        outcome of the first (send and commit, or fail and roll back) instead of sending."""
        async with self._placements.transaction(TenantId(uuid.UUID(envelope.tenant_id))) as conn:
            yield await first_delivery(conn, consumer, envelope)
