"""The in-memory ``UsageReader``: an organization's day of shared resources (ADR 0340), as a
test sets it (the fake unit of work charges nothing at commit; PostgreSQL's does)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from bijmantra.domain.tenancy.quotas import DayStanding, Resource
from bijmantra.kernel import TenantId


@dataclass
class UsageTables:
    """``limits``: the deployment's (a resource not named is not bounded); ``own``: an
    operator's limit for one organization; ``used``: committed usage per organization,
    resource and day (the shards summed)."""

    limits: dict[Resource, int] = field(default_factory=dict)
    own: dict[tuple[TenantId, Resource], int] = field(default_factory=dict)
    used: dict[tuple[TenantId, Resource, date], int] = field(default_factory=dict)
    reads: int = 0  # how many standings were read (a bounded resource's only)


class FakeUsageReader:
    def __init__(self, tables: UsageTables, tenant: TenantId) -> None:
        self._tables, self._tenant = tables, tenant

    async def standing(self, resource: Resource, period: date) -> DayStanding | None:
        deployment = self._tables.limits.get(resource)
        if deployment is None:
            return None
        self._tables.reads += 1
        limit = self._tables.own.get((self._tenant, resource), deployment)
        return DayStanding(
            resource, self._tables.used.get((self._tenant, resource, period), 0), limit
        )
