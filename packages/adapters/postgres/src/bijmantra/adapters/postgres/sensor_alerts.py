"""Alert rules and alerts (tenant tables); what evaluation remembers is the analytics-worker's
(``sensor_evaluation``, ADR 0290)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from bijmantra.adapters.postgres.connection_store import ConnectionStore
from bijmantra.adapters.postgres.rows import parameters, record
from bijmantra.domain.sensors import (
    Alert,
    AlertRule,
    AlertStatus,
    Comparison,
    PresenceChange,
    RuleKind,
)
from bijmantra.kernel import Page, PageRequest, TenantId
from sqlalchemy import text

# The domain inbox's consumer name under which presence reports are remembered.
PRESENCE_REPORTS = "sensors-presence"
_INSERT_RULE = text(
    "INSERT INTO domain.sensor_alert_rules (tenant_id, rule_id, name, metric, kind, device_id, "
    "profile_id, cooldown_seconds, comparison, threshold, hold_seconds, max_change, "
    "per_seconds, interval_seconds, intervals) VALUES (nullif(current_setting('app.tenant_id', "
    "true), '')::uuid, :rule_id, :name, :metric, :kind, :device_id, :profile_id, "
    ":cooldown_seconds, :comparison, :threshold, :hold_seconds, :max_change, :per_seconds, "
    ":interval_seconds, :intervals)"
)
_INSERT_ALERT = text(
    "INSERT INTO domain.sensor_alerts (tenant_id, alert_id, rule_id, device_id, metric, kind, "
    "opened_at, value, message, status, acknowledged_by, acknowledged_at, cleared_by, "
    "cleared_at) VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :alert_id, "
    ":rule_id, :device_id, :metric, :kind, :opened_at, :value, :message, :status, "
    ":acknowledged_by, :acknowledged_at, :cleared_by, :cleared_at) ON CONFLICT DO NOTHING"
)
# One organization's openings of one rule/device pair take turns (a transaction lock).
_LOCK_PAIR = text(
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'sensor-alerts/' || current_setting('app.tenant_id', true) || '/' || :pair, 0))"
)
# One organization's rule creations take turns, so each counts what the one before added.
_LOCK_RULES = text(
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'sensor-rules/' || current_setting('app.tenant_id', true), 0))"
)
_PRESENCE_REPORT = text(
    "INSERT INTO domain.processed_events (tenant_id, consumer, event_id, event_type, subject) "
    "VALUES (nullif(current_setting('app.tenant_id', true), '')::uuid, :consumer, "
    "CAST(:report_id AS uuid), :event_type, :subject) "
    "ON CONFLICT (consumer, event_id) DO NOTHING"
)


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _tenant(row: Any) -> TenantId:
    return TenantId(uuid.UUID(str(row.tenant_id)))


def _rule(row: Any) -> AlertRule:
    return record(
        AlertRule,
        row,
        tenant_id=_tenant(row),
        kind=RuleKind(row.kind),
        cooldown=_seconds(row.cooldown_seconds),
        comparison=Comparison(row.comparison) if row.comparison else None,
        hold=_seconds(row.hold_seconds),
        per=_seconds(row.per_seconds),
        interval=_seconds(row.interval_seconds),
    )


def _rule_row(rule: AlertRule) -> dict[str, Any]:
    return parameters(
        rule,
        kind=rule.kind.value,
        cooldown_seconds=rule.cooldown.total_seconds(),
        comparison=rule.comparison.value if rule.comparison else None,
        hold_seconds=rule.hold.total_seconds(),
        per_seconds=rule.per.total_seconds(),
        interval_seconds=rule.interval.total_seconds(),
    )


def _alert(row: Any) -> Alert:
    return record(
        Alert, row, tenant_id=_tenant(row), kind=RuleKind(row.kind), status=AlertStatus(row.status)
    )


def _alert_row(alert: Alert) -> dict[str, Any]:
    return parameters(alert, kind=alert.kind.value, status=alert.status.value)


_ALERT = (
    "SELECT tenant_id, alert_id, rule_id, device_id, metric, kind, opened_at, value, message, "
    "status, acknowledged_by, acknowledged_at, cleared_by, cleared_at FROM domain.sensor_alerts "
    "WHERE alert_id = :id"
)
_ALERT_FOR_UPDATE = (
    "SELECT tenant_id, alert_id, rule_id, device_id, metric, kind, opened_at, value, message, "
    "status, acknowledged_by, acknowledged_at, cleared_by, cleared_at FROM domain.sensor_alerts "
    "WHERE alert_id = :id FOR UPDATE"
)
# The newest alerts first, of every status or of one.
_ALERTS = (
    "SELECT tenant_id, alert_id, rule_id, device_id, metric, kind, opened_at, value, message, "
    "status, acknowledged_by, acknowledged_at, cleared_by, cleared_at FROM domain.sensor_alerts "
    "ORDER BY opened_at DESC, alert_id DESC LIMIT :limit OFFSET :offset"
)
_ALERTS_COUNT = "SELECT count(*) AS n FROM domain.sensor_alerts"
_ALERTS_WITH_STATUS = (
    "SELECT tenant_id, alert_id, rule_id, device_id, metric, kind, opened_at, value, message, "
    "status, acknowledged_by, acknowledged_at, cleared_by, cleared_at FROM domain.sensor_alerts "
    "WHERE status = :status ORDER BY opened_at DESC, alert_id DESC LIMIT :limit OFFSET :offset"
)
_ALERTS_WITH_STATUS_COUNT = "SELECT count(*) AS n FROM domain.sensor_alerts WHERE status = :status"


class PostgresAlertStore(ConnectionStore):
    async def add_rule(self, rule: AlertRule) -> None:
        await self._connection.execute(_INSERT_RULE, _rule_row(rule))

    async def rule(self, rule_id: str) -> AlertRule | None:
        return await self._first(
            "SELECT * FROM domain.sensor_alert_rules WHERE rule_id = :id", _rule, id=rule_id
        )

    async def rules(self) -> list[AlertRule]:
        return await self._all("SELECT * FROM domain.sensor_alert_rules ORDER BY rule_id", _rule)

    async def rule_count(self) -> int:
        await self._connection.execute(_LOCK_RULES)
        result = await self._connection.execute(
            text("SELECT count(*) FROM domain.sensor_alert_rules")
        )
        return int(result.scalar_one())

    async def rules_for(self, device_id: str, profile_id: str) -> list[AlertRule]:
        return await self._all(
            "SELECT * FROM domain.sensor_alert_rules WHERE device_id = :device "
            "OR (device_id IS NULL AND profile_id = :profile) ORDER BY rule_id",
            _rule,
            device=device_id,
            profile=profile_id,
        )

    async def add_alert(self, alert: Alert) -> bool:
        result = await self._connection.execute(_INSERT_ALERT, _alert_row(alert))
        return bool(result.rowcount)

    async def opened_between(
        self, rule_id: str, device_id: str, window: tuple[datetime, datetime]
    ) -> bool:
        await self._connection.execute(_LOCK_PAIR, {"pair": f"{rule_id}/{device_id}"})
        rows = await self._rows(
            "SELECT 1 FROM domain.sensor_alerts WHERE rule_id = :rule AND device_id = :device "
            "AND opened_at > :start AND opened_at < :end LIMIT 1",
            rule=rule_id,
            device=device_id,
            start=window[0],
            end=window[1],
        )
        return bool(rows)

    async def first_presence_report(self, report_id: str, change: PresenceChange) -> bool:
        event_type = f"sensors.device.{change.value}"
        result = await self._connection.execute(
            _PRESENCE_REPORT,
            {
                "consumer": PRESENCE_REPORTS,
                "report_id": report_id,
                "event_type": event_type,
                "subject": f"bijmantra.events.{event_type}",
            },
        )
        return bool(result.rowcount)

    async def alert(self, alert_id: str, *, for_update: bool = False) -> Alert | None:
        statement = _ALERT_FOR_UPDATE if for_update else _ALERT
        return await self._first(statement, _alert, id=alert_id)

    async def save_alert(self, alert: Alert) -> None:
        await self._execute(
            "UPDATE domain.sensor_alerts SET status = :status, "
            "acknowledged_by = :acknowledged_by, acknowledged_at = :acknowledged_at, "
            "cleared_by = :cleared_by, cleared_at = :cleared_at WHERE alert_id = :alert_id",
            **_alert_row(alert),
        )

    async def alerts(self, page: PageRequest, status: AlertStatus | None) -> Page[Alert]:
        select, count = (
            (_ALERTS_WITH_STATUS, _ALERTS_WITH_STATUS_COUNT) if status else (_ALERTS, _ALERTS_COUNT)
        )
        params = {"status": status.value if status else None}
        rows = await self._rows(select, limit=page.page_size, offset=page.offset, **params)
        total = await self._rows(count, **params)
        return Page([_alert(r) for r in rows], page, int(total[0].n))
