"""Alert rules and the alerts inbox for members. Rules are evaluated by the analytics-worker
(``evaluation``), which hands what fired to ``worker_calls`` (ADR 0290)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec
from bijmantra.application.json_input import decode_body
from bijmantra.application.security import authorize
from bijmantra.application.sensors.documents import iso_time
from bijmantra.application.sensors.enrolment import (
    READ,
    WRITE,
    read_all,
    refuse_past_limit,
    set_up,
)
from bijmantra.application.sensors.ports import SensorsUnitOfWork
from bijmantra.application.use_case import ClockedUseCase, existing, organization_unit
from bijmantra.domain import DomainEvent
from bijmantra.domain.sensors import (
    Alert,
    AlertRule,
    AlertStatus,
    Comparison,
    RuleKind,
    checked_rule,
)
from bijmantra.kernel import (
    FieldError,
    Page,
    PageRequest,
    Principal,
    TenantId,
    ValidationFailed,
    new_id,
)

MAX_RULES = 1000


class RuleBody(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    name: str
    metric: str
    kind: RuleKind
    device_id: str | None = None
    profile_id: str | None = None
    cooldown_seconds: float = 3600
    comparison: Comparison | None = None
    threshold: float | None = None
    hold_seconds: float = 0
    max_change: float | None = None
    per_seconds: float = 60
    interval_seconds: float = 60
    intervals: int = 1


class RuleDocument(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    rule_id: str
    name: str
    metric: str
    kind: RuleKind
    device_id: str | None
    profile_id: str | None
    cooldown_seconds: float
    comparison: Comparison | None
    threshold: float | None
    hold_seconds: float
    max_change: float | None
    per_seconds: float
    interval_seconds: float
    intervals: int


class AlertDocument(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    alert_id: str
    rule_id: str
    device_id: str
    metric: str
    kind: RuleKind
    opened_at: datetime
    value: float | None
    message: str
    status: AlertStatus
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    cleared_by: str | None
    cleared_at: datetime | None


def rule_document(rule: AlertRule) -> dict[str, Any]:
    return {
        "ruleId": rule.rule_id,
        "name": rule.name,
        "metric": rule.metric,
        "kind": rule.kind.value,
        "deviceId": rule.device_id,
        "profileId": rule.profile_id,
        "cooldownSeconds": rule.cooldown.total_seconds(),
        "comparison": rule.comparison.value if rule.comparison else None,
        "threshold": rule.threshold,
        "holdSeconds": rule.hold.total_seconds(),
        "maxChange": rule.max_change,
        "perSeconds": rule.per.total_seconds(),
        "intervalSeconds": rule.interval.total_seconds(),
        "intervals": rule.intervals,
    }


def rule_from_document(tenant_id: TenantId, document: RuleDocument) -> AlertRule:
    """A rule as ``rule_document`` wrote it (the worker reads rules over gRPC)."""
    return AlertRule(
        rule_id=document.rule_id,
        tenant_id=tenant_id,
        name=document.name,
        metric=document.metric,
        kind=document.kind,
        device_id=document.device_id,
        profile_id=document.profile_id,
        cooldown=timedelta(seconds=document.cooldown_seconds),
        comparison=document.comparison,
        threshold=document.threshold,
        hold=timedelta(seconds=document.hold_seconds),
        max_change=document.max_change,
        per=timedelta(seconds=document.per_seconds),
        interval=timedelta(seconds=document.interval_seconds),
        intervals=document.intervals,
    )


def alert_document(alert: Alert) -> dict[str, Any]:
    return {
        "alertId": alert.alert_id,
        "ruleId": alert.rule_id,
        "deviceId": alert.device_id,
        "metric": alert.metric,
        "kind": alert.kind.value,
        "openedAt": iso_time(alert.opened_at),
        "value": alert.value,
        "message": alert.message,
        "status": alert.status.value,
        "acknowledgedBy": alert.acknowledged_by,
        "acknowledgedAt": iso_time(alert.acknowledged_at),
        "clearedBy": alert.cleared_by,
        "clearedAt": iso_time(alert.cleared_at),
    }


def _seconds(value: float, name: str) -> timedelta:
    if not 0 <= value <= 366 * 86_400:
        raise ValidationFailed("Invalid alert rule", [FieldError(name, "0 to 366 days")])
    return timedelta(seconds=value)


def alert_event(alert: Alert, verb: str, actor: str | None, at: datetime) -> DomainEvent:
    return DomainEvent(
        type=f"sensors.alert.{verb}",
        tenant_id=alert.tenant_id,
        aggregate_id=alert.alert_id,
        data=alert_document(alert),
        actor=actor,
        occurred_at=at,
    )


class AlertRules(ClockedUseCase[SensorsUnitOfWork]):
    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        authorize(principal, WRITE)
        request: RuleBody = decode_body(body, RuleBody, "alert rule")
        if not 0 < len(request.name.strip()) <= 200:
            raise ValidationFailed("Invalid alert rule", [FieldError("name", "1-200 characters")])
        rule = checked_rule(
            AlertRule(
                rule_id=new_id(),
                tenant_id=principal.tenant_id,
                name=request.name.strip(),
                metric=request.metric,
                kind=request.kind,
                device_id=request.device_id,
                profile_id=request.profile_id,
                cooldown=_seconds(request.cooldown_seconds, "cooldownSeconds"),
                comparison=request.comparison,
                threshold=request.threshold,
                hold=_seconds(request.hold_seconds, "holdSeconds"),
                max_change=request.max_change,
                per=_seconds(request.per_seconds, "perSeconds"),
                interval=_seconds(request.interval_seconds, "intervalSeconds"),
                intervals=request.intervals,
            )
        )
        async with self.uow(principal.tenant_id) as uow:
            await _check_target(uow, rule)
            refuse_past_limit(await uow.alerts.rule_count(), MAX_RULES, "alert rules")
            await uow.alerts.add_rule(rule)
            document = rule_document(rule)
            at = self.clock.now()
            uow.record(set_up(principal, "alert_rule.created", rule.rule_id, document, at))
            await uow.commit()
        return document

    async def list(self, principal: Principal) -> list[dict[str, Any]]:
        return await read_all(self.uow, principal, lambda uow: uow.alerts.rules(), rule_document)


async def _check_target(uow: SensorsUnitOfWork, rule: AlertRule) -> None:
    """The device or profile must be this organization's, and know the metric."""
    profile_id = rule.profile_id
    if rule.device_id is not None:
        device = await uow.sensors.device(rule.device_id)
        if device is None:
            raise ValidationFailed("Unknown device", [FieldError("deviceId", "no such device")])
        profile_id = device.profile_id
    profile = await uow.sensors.profile(profile_id or "")
    if profile is None:
        raise ValidationFailed("Unknown profile", [FieldError("profileId", "no such profile")])
    if profile.metric(rule.metric) is None:
        raise ValidationFailed("Unknown metric", [FieldError("metric", "not in the profile")])


class AlertInbox(ClockedUseCase[SensorsUnitOfWork]):
    async def list(
        self, principal: Principal, page: PageRequest, status: str
    ) -> Page[dict[str, Any]]:
        authorize(principal, READ)
        try:
            wanted = AlertStatus(status) if status else None
        except ValueError:
            raise ValidationFailed(
                "Unknown status", [FieldError("status", "open, acknowledged or cleared")]
            ) from None
        async with self.uow(principal.tenant_id) as uow:
            found = await uow.alerts.alerts(page, wanted)
        return Page([alert_document(a) for a in found.items], page, found.total_count)

    async def _step(self, principal: Principal, alert_id: str, verb: str) -> dict[str, Any]:
        now = self.clock.now()
        async with organization_unit(self.uow, principal, WRITE) as uow:
            alert = existing(await uow.alerts.alert(alert_id, for_update=True), f"Alert {alert_id}")
            if verb == "acknowledged":
                alert = alert.acknowledge(principal.subject, now)
            else:
                alert = alert.clear(principal.subject, now)
            await uow.alerts.save_alert(alert)
            uow.record(alert_event(alert, verb, principal.subject, now))
            await uow.commit()
        return alert_document(alert)

    async def acknowledge(self, principal: Principal, alert_id: str) -> dict[str, Any]:
        return await self._step(principal, alert_id, "acknowledged")

    async def clear(self, principal: Principal, alert_id: str) -> dict[str, Any]:
        return await self._step(principal, alert_id, "cleared")
