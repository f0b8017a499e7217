"""Application layer: use cases (commands and queries kept apart), ports and DTOs."""

from bijmantra.application.events.ports import EventPublisher, OutboxStore
from bijmantra.application.ports import TokenVerifier, UnitOfWork, UnitOfWorkFactory
from bijmantra.application.security import Permission, authorize, permissions_for

__all__ = [
    "EventPublisher",
    "OutboxStore",
    "Permission",
    "TokenVerifier",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "authorize",
    "permissions_for",
]
