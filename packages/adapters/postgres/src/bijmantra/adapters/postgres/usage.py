"""Organizations' daily usage of shared resources, charged in the write's transaction (ADR 0340).

``domain.charge_usage`` (migrations 0244-0246) adds each amount to the organization's row of
the day in the connection's shard, under row-level security, and raises SQLSTATE ``BQ429``
when the day's total would pass its limit (the organization's own, else the one sent). The
statement reads no answer, so it rides in the commit's pipeline (ADR 0321); its error fails
the ``COMMIT`` and nothing is kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import psycopg
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.placement_admin import current_placement, database_owner_url
from bijmantra.adapters.postgres.storage import STANDING
from bijmantra.domain.tenancy.quotas import (
    Charge,
    DailyQuotas,
    DayStanding,
    Resource,
    period_of,
    quota_refusal,
)
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.observability.metrics import QUOTA_REFUSALS
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

QUOTA_EXCEEDED = "BQ429"
_CHARGE = (
    "SELECT domain.charge_usage(%s, CAST(%s AS text[]), CAST(%s AS bigint[]), CAST(%s AS bigint[]))"
)

# The day's committed usage over every shard and the organization's own limit, in one
# statement under row-level security (the tenant named as ``charge_usage`` names it, so the
# primary keys are used).
_STANDING = text(
    "SELECT (SELECT coalesce(sum(u.used), 0)::bigint FROM domain.organization_usage u "
    "WHERE u.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND u.resource = :resource AND u.period = :period), "
    "(SELECT q.daily_limit FROM domain.organization_quotas q "
    "WHERE q.tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid "
    "AND q.resource = :resource)"
)


class PostgresUsageReader:
    """The ``UsageReader`` of a unit of work: what its organization used today, read before a
    heavy write starts (the early refusal, ADR 0340); ``quotas`` are the deployment's."""

    def __init__(self, connection: AsyncConnection, quotas: DailyQuotas) -> None:
        self._connection, self._quotas = connection, quotas

    async def standing(self, resource: Resource, period: date) -> DayStanding | None:
        deployment = self._quotas.limits.get(resource)
        if deployment is None:  # not charged at commit either: nothing to read
            return None
        params = {"resource": resource.value, "period": period}
        used, own = (await self._connection.execute(_STANDING, params)).one()
        return DayStanding(resource, int(used), deployment if own is None else int(own))


async def charge_usage(
    connection: AsyncConnection, charges: Sequence[Charge], now: datetime
) -> None:
    """Send the charges of a write made at ``now`` (answer unread: pipeline-safe)."""
    if not charges:
        return
    driver = await driver_connection(connection)
    await driver.execute(
        _CHARGE,
        (
            period_of(now),
            [c.resource.value for c in charges],
            [c.amount for c in charges],
            [c.limit for c in charges],
        ),
    )


def quota_or(error: BaseException, now: datetime) -> BaseException:
    """A write refused by ``charge_usage`` is the quota's 429; other errors unchanged. The
    error comes from SQLAlchemy (wrapping psycopg's) or from psycopg itself (pipelined)."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    if not isinstance(cause, psycopg.Error) or cause.sqlstate != QUOTA_EXCEEDED:
        return error
    diagnostic = cause.diag
    resource = Resource(diagnostic.message_primary or "")
    QUOTA_REFUSALS.labels(resource.value).inc()  # which organization: the request's own log
    return quota_refusal(resource, int(diagnostic.message_hint or 0), now)


def organization_quotas(
    owner_url: str,
    organization: uuid.UUID,
    limits: Mapping[Resource | StoredResource, int | None],
    days: int = 7,
) -> dict[str, object]:
    """An operator's view and change, as the owner, in the organization's placement: set its
    own daily limits and standing caps (``None`` removes one: the deployment's applies
    again); return them, its usage of the last ``days`` days and what it stores (ADR 0343)."""
    url = database_owner_url(owner_url, current_placement(owner_url, organization))
    with psycopg.connect(url) as conn:
        for resource, limit in sorted(limits.items()):
            if limit is None:
                conn.execute(
                    "DELETE FROM domain.organization_quotas WHERE tenant_id = %s AND resource = %s",
                    (organization, resource.value),
                )
            else:
                conn.execute(
                    "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                    "VALUES (%s, %s, %s) ON CONFLICT (tenant_id, resource) "
                    "DO UPDATE SET daily_limit = excluded.daily_limit",
                    (organization, resource.value, limit),
                )
        own = conn.execute(
            "SELECT resource, daily_limit FROM domain.organization_quotas WHERE tenant_id = %s "
            "ORDER BY resource",
            (organization,),
        ).fetchall()
        used = conn.execute(
            "SELECT period, resource, sum(used)::bigint FROM domain.organization_usage "
            "WHERE tenant_id = %s AND period > (SELECT max(period) "
            "FROM domain.organization_usage WHERE tenant_id = %s) - %s "
            "GROUP BY period, resource ORDER BY period DESC, resource",
            (organization, organization, days),
        ).fetchall()
        conn.execute("SELECT set_config('app.tenant_id', %s, true)", (str(organization),))
        stored = {
            r.value: conn.execute(sql, {"resource": r.value}).fetchone()
            for r, sql in STANDING.items()
        }
    return {
        "organization": str(organization),
        "limits": {resource: limit for resource, limit in own},
        "usage": [{"day": str(day), "resource": r, "used": n} for day, r, n in used],
        "stored": {r: int(row[0]) if row else 0 for r, row in stored.items()},
    }
