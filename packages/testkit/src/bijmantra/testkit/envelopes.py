"""Event envelopes as domain-api writes them, for tests of what consumes them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from bijmantra.application.events import EventEnvelope
from bijmantra.kernel import uuid7


def germplasm_created(
    tenant: uuid.UUID, subject: str = "g-1", actor: str = "user-1"
) -> EventEnvelope:
    """One ``germplasm.created`` of ``tenant``, stamped now; vary it with ``structs.replace``."""
    return EventEnvelope(
        id=str(uuid7()),
        type="germplasm.created",
        source="domain-api",
        tenant_id=str(tenant),
        subject=subject,
        time=datetime.now(UTC),
        schema_version=1,
        data={"common_crop_name": "Maize"},
        actor=actor,
    )
