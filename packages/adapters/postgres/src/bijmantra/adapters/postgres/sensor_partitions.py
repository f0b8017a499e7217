"""Monthly partitions of sensor readings (ADR 0207): made on demand for a batch, made ahead
and dropped past retention by domain-api's periodic maintenance."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bijmantra.adapters.postgres.engine import opened_transaction
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def month_of(at: datetime) -> date:
    return at.astimezone(UTC).date().replace(day=1)


def months_between(first: date, last: date) -> Iterator[date]:
    while first <= last:
        yield first
        first = (first + timedelta(days=32)).replace(day=1)


class PartitionCache:
    """Months whose reading partition is known to exist, per database (each placement has
    its own partitions); per process, created on demand."""

    def __init__(self) -> None:
        self.months: set[tuple[URL, date]] = set()


PARTITIONS = PartitionCache()


_MAKE_PARTITIONS = text("SELECT domain.sensor_reading_partitions(:first, :last)")


def partitions_made(
    engine: AsyncEngine, first: datetime, last: datetime
) -> AbstractAsyncContextManager[tuple[AsyncConnection, Any]]:
    """A transaction of its own that makes the months' partitions first, opened like a unit
    of work: a pooled connection a restart ended is replaced (ADR 0341, 0346)."""
    bounds = {"first": first, "last": last}
    return opened_transaction(engine, lambda conn: conn.execute(_MAKE_PARTITIONS, bounds))


async def maintain_partitions(engine: AsyncEngine, now: datetime, retention: timedelta) -> int:
    """Create reading partitions two months ahead; drop those wholly past retention.

    Returns how many partitions were dropped."""
    ahead = (now - timedelta(days=1), now + timedelta(days=62))
    async with partitions_made(engine, *ahead) as (connection, _):
        dropped = await connection.execute(
            text("SELECT domain.sensor_drop_reading_partitions(:before)"),
            {"before": now - retention},
        )
    count = int(dropped.scalar_one())
    if count:
        PARTITIONS.months.clear()  # re-checked (and re-made if still wanted) on the next batch
    return count
