"""Domain events: facts an aggregate records and the outbox later publishes.

The envelope fields (id, type, tenant, time, schema version, trace context) travel with
every event so consumers never need to call back to learn whose event it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bijmantra.kernel import Principal, TenantId, uuid7


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """``type`` is ``<context>.<event>``; it becomes the subject ``bijmantra.events.<type>``."""

    type: str
    tenant_id: TenantId
    aggregate_id: str
    data: dict[str, Any]
    schema_version: int = 1
    id: str = field(default_factory=lambda: str(uuid7()))
    actor: str | None = None
    # When the fact happened, as the use case's ``Clock`` says: no default, never the OS clock.
    occurred_at: datetime = field(kw_only=True)

    @classmethod
    def done_by(
        cls,
        principal: Principal,
        type: str,
        aggregate_id: str,
        data: dict[str, Any],
        at: datetime,
    ) -> DomainEvent:
        """What a signed-in caller did, in their own organization's stream."""
        return cls(
            type=type,
            tenant_id=principal.tenant_id,
            aggregate_id=aggregate_id,
            data=data,
            actor=principal.subject,
            occurred_at=at,
        )

    @property
    def context(self) -> str:
        return self.type.split(".", 1)[0]


class EventSource:
    """Mixin for aggregates: collects events until the unit of work writes them to the outbox."""

    def __init__(self) -> None:
        self._pending_events: list[DomainEvent] = []

    def record(self, event: DomainEvent) -> None:
        self._pending_events.append(event)

    def pull_events(self) -> list[DomainEvent]:
        events, self._pending_events = self._pending_events, []
        return events
