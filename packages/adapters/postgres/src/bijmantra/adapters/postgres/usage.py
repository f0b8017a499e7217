"""Organizations' daily usage of shared resources, charged in the write's transaction (ADR 0340).

``domain.charge_usage`` (migration 0244) adds each amount to the organization's row of the day
under row-level security and raises SQLSTATE ``BQ429`` when one would pass its limit (the
organization's own, else the one sent). The statement reads no answer, so it rides in the
commit's pipeline (ADR 0321); its error fails the ``COMMIT`` and nothing is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.domain.tenancy.quotas import Charge, Resource, period_of, quota_refusal
from bijmantra.observability.metrics import QUOTA_REFUSALS
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

QUOTA_EXCEEDED = "BQ429"
_CHARGE = (
    "SELECT domain.charge_usage(%s, CAST(%s AS text[]), CAST(%s AS bigint[]), CAST(%s AS bigint[]))"
)


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
