"""What an organization has used today of what every organization shares (ADR 0340), read
inside its unit of work before a heavy write starts, so that a day already used up is refused
before an import streams, an upload is stored or an analysis is queued."""

from __future__ import annotations

from datetime import date
from typing import Protocol

from bijmantra.domain.tenancy.quotas import DayStanding, Resource


class UsageReader(Protocol):
    async def standing(self, resource: Resource, period: date) -> DayStanding | None:
        """The organization's committed usage of ``resource`` on ``period`` and its limit (its
        own, else the deployment's); ``None``, reading nothing, when the resource is not
        bounded."""
        ...
