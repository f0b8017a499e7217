"""The transaction bookkeeping every in-memory unit of work shares.

Each fake unit of work differs only in which stores it opens and how ``commit`` publishes
their staged rows; entering, recording events and discarding them on exit (the fake's
rollback) is the same everywhere, so it lives here once.
"""

from __future__ import annotations

from typing import ClassVar, Generic, Self, TypeVar

from bijmantra.domain import DomainEvent
from bijmantra.kernel import TenantId

Tables = TypeVar("Tables")


class FakeTransaction(Generic[Tables]):
    """Events recorded inside the unit wait for ``commit``; leaving the unit drops them.

    ``_tables`` is the in-memory database the unit works on. Subclasses attach their stores
    in ``_open`` and drain ``_take_events`` in ``commit``. ``checks_tenant`` mirrors
    row-level security: an event for another tenant is a bug.
    """

    checks_tenant: ClassVar[bool] = False

    def __init__(self, tables: Tables, tenant: TenantId) -> None:
        self._tables, self.tenant_id = tables, tenant
        self._events: list[DomainEvent] = []

    def _open(self) -> None:
        """Attach the stores this unit offers; runs on every entry."""

    async def __aenter__(self) -> Self:
        self._events = []
        self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._events = []  # uncommitted work is discarded, like a rollback

    def record(self, event: DomainEvent) -> None:
        if self.checks_tenant:
            assert event.tenant_id == self.tenant_id, "row-level security would reject this"
        self._events.append(event)

    def _take_events(self) -> list[DomainEvent]:
        """The events recorded since entry (or the last commit), leaving none pending."""
        events, self._events = self._events, []
        return events
