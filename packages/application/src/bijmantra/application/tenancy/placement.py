"""The placement directory port: where each organization's data lives (ADR 0102)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bijmantra.domain.tenancy.placement import Placement, PlacementDatabase
from bijmantra.kernel import TenantId


class PlacementDirectory(Protocol):
    """Read side, used on every request (adapters cache it); writes are the operator CLI's."""

    async def placement_of(self, organization: TenantId) -> Placement:
        """The organization's placement; an organization not listed is in the shared database."""
        ...

    async def dedicated_databases(self) -> Sequence[PlacementDatabase]:
        """Every dedicated database registered, placed organizations or not (migrations,
        relays and projections visit each)."""
        ...

    def forget(self) -> None:
        """Drop what is cached: the next question reads the directory again."""
        ...
