"""The analytics-worker's sensors state (ADR 0290): watches per (rule, device) and presence per
device in its schema, one tenant's transaction at a time, and the cross-tenant read of what is
due for a check (routing columns only, as the NOLOGIN checks role of migration 0180)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from bijmantra.adapters.postgres.ddl import set_local_role
from bijmantra.adapters.postgres.engine import opened_transaction
from bijmantra.adapters.postgres.inbox import first_delivery
from bijmantra.adapters.postgres.placement import PlacementEngines, as_placements
from bijmantra.adapters.postgres.uow import TenantTransaction
from bijmantra.application.events import EventEnvelope
from bijmantra.domain.sensors import Presence, Watch
from bijmantra.kernel import TenantId
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

CHECKS_ROLE = os.environ.get("SENSOR_CHECKS_DB_ROLE", "bijmantra_sensor_checks")
_WATCH = text(
    "SELECT breach_since, last_at, last_value, last_fired, silence_reported_for "
    "FROM analytics.sensor_watches WHERE rule_id = :rule_id AND device_id = :device_id "
    "FOR UPDATE"
)
_SAVE_WATCH = text(
    "INSERT INTO analytics.sensor_watches (tenant_id, rule_id, device_id, breach_since, "
    "last_at, last_value, last_fired, silence_reported_for, due_at) VALUES "
    "(nullif(current_setting('app.tenant_id', true), '')::uuid, :rule_id, :device_id, "
    ":breach_since, :last_at, :last_value, :last_fired, "
    ":silence_reported_for, :due_at) ON CONFLICT (tenant_id, rule_id, device_id) DO UPDATE SET "
    "breach_since = excluded.breach_since, last_at = excluded.last_at, "
    "last_value = excluded.last_value, last_fired = excluded.last_fired, "
    "silence_reported_for = excluded.silence_reported_for, due_at = excluded.due_at"
)
_PRESENCE = text(
    "SELECT last_seen_at, offline FROM analytics.sensor_presence "
    "WHERE device_id = :device_id FOR UPDATE"
)
_SAVE_PRESENCE = text(
    "INSERT INTO analytics.sensor_presence (tenant_id, device_id, last_seen_at, offline, due_at) "
    "VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :device_id, "
    ":last_seen_at, :offline, :due_at) "
    "ON CONFLICT (tenant_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at, "
    "offline = excluded.offline, due_at = excluded.due_at"
)
_DUE_WATCHES = text(
    "SELECT due_at, tenant_id, rule_id, device_id FROM analytics.sensor_watches "
    "WHERE due_at <= :now ORDER BY due_at LIMIT :limit"
)
_DUE_PRESENCES = text(
    "SELECT due_at, tenant_id, device_id FROM analytics.sensor_presence "
    "WHERE due_at <= :now ORDER BY due_at LIMIT :limit"
)


class PostgresEvaluationState(TenantTransaction):
    """``EvaluationState``: rows read here stay locked until the transaction ends."""

    def _bind(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def first_delivery(self, consumer: str, event: EventEnvelope) -> bool:
        return await first_delivery(self._conn, consumer, event)

    async def watch(self, rule_id: str, device_id: str) -> Watch:
        params = {"rule_id": rule_id, "device_id": device_id}
        row = (await self._conn.execute(_WATCH, params)).first()
        return Watch(**row._asdict()) if row else Watch()

    async def save_watch(
        self, rule_id: str, device_id: str, watch: Watch, due: datetime | None
    ) -> None:
        await self._conn.execute(
            _SAVE_WATCH,
            {
                "rule_id": rule_id,
                "device_id": device_id,
                "breach_since": watch.breach_since,
                "last_at": watch.last_at,
                "last_value": watch.last_value,
                "last_fired": watch.last_fired,
                "silence_reported_for": watch.silence_reported_for,
                "due_at": due,
            },
        )

    async def presence(self, device_id: str) -> Presence:
        row = (await self._conn.execute(_PRESENCE, {"device_id": device_id})).first()
        return Presence(**row._asdict()) if row else Presence()

    async def save_presence(self, device_id: str, presence: Presence, due: datetime | None) -> None:
        await self._conn.execute(
            _SAVE_PRESENCE,
            {
                "device_id": device_id,
                "last_seen_at": presence.last_seen_at,
                "offline": presence.offline,
                "due_at": due,
            },
        )

    async def commit(self) -> None:
        await self._conn.commit()


def _as_checks(connection: AsyncConnection) -> Awaitable[Any]:
    return connection.execute(text(set_local_role(CHECKS_ROLE)))


class PostgresDueChecks:
    """``DueChecks`` over every placement (ADR 0102), as the checks role."""

    def __init__(self, engine: AsyncEngine | PlacementEngines) -> None:
        self._placements = as_placements(engine)

    async def _due(self, query: Any, now: datetime, limit: int) -> list[Any]:
        rows: list[Any] = []
        for database in await self._placements.placements():
            engine = self._placements.engine_of(database)
            # Opened like a unit of work: survives a restart's dead connections (ADR 0346).
            async with opened_transaction(engine, _as_checks) as (connection, _):
                rows += (await connection.execute(query, {"now": now, "limit": limit})).all()
        rows.sort(key=lambda row: row[0])
        return rows[:limit]

    async def due_watches(self, now: datetime, limit: int) -> list[tuple[TenantId, str, str]]:
        rows = await self._due(_DUE_WATCHES, now, limit)
        return [(TenantId(uuid.UUID(str(t))), r, d) for _, t, r, d in rows]

    async def due_presences(self, now: datetime, limit: int) -> list[tuple[TenantId, str]]:
        rows = await self._due(_DUE_PRESENCES, now, limit)
        return [(TenantId(uuid.UUID(str(t))), d) for _, t, d in rows]
