"""Domain model: entities, value objects, invariants and domain events per bounded context."""

from bijmantra.domain.events import DomainEvent, EventSource

__all__ = ["DomainEvent", "EventSource"]
