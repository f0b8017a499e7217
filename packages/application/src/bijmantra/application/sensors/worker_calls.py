"""What the analytics-worker asks of domain-api for sensors: the rules watching a device, and
storing what its evaluation found (alerts opened, devices offline or back online).

The worker evaluates (ADR 0207, 0290); domain-api stores and emits, because only its role
writes the domain outbox that carries events to the live feed. Every call is idempotent: an
alert's id and a presence report's id are derived from what they are about, so a redelivered
telemetry event or a retried call stores and emits nothing twice.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from bijmantra.application.json_input import decode_body
from bijmantra.application.security import authorize
from bijmantra.application.sensors.alerts import (
    RuleDocument,
    alert_event,
    rule_document,
    rule_from_document,
)
from bijmantra.application.sensors.documents import iso_time
from bijmantra.application.sensors.enrolment import READ, WRITE
from bijmantra.application.sensors.ports import SensorsUnitOfWorkFactory
from bijmantra.application.use_case import organization_unit
from bijmantra.domain import DomainEvent
from bijmantra.domain.sensors import (
    Alert,
    AlertRule,
    Firing,
    PresenceChange,
    RuleKind,
    TimedValue,
    cooldown_window,
)
from bijmantra.kernel import FieldError, Principal, TenantId, ValidationFailed

MAX_FIRINGS = 1000
# The stored readings a late batch is judged among: a batch (10,000) and its rule's reach.
MAX_AROUND = 20_000
_FIRING_FIELDS = tuple(field.name for field in dataclasses.fields(Firing))


class FiringDocument(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """One firing as the worker sends it; ``alert_id`` derived by ``Firing.alert_id``."""

    alert_id: str
    rule_id: str
    device_id: str
    metric: str
    kind: RuleKind
    at: datetime
    value: float | None
    message: str
    about: datetime | None = None

    def firing(self) -> Firing:
        """The firing this document carries (``firing_document`` the other way round)."""
        return Firing(**{name: getattr(self, name) for name in _FIRING_FIELDS})


def firing_document(alert_id: str, firing: Firing) -> FiringDocument:
    """The firing's own fields and the alert id derived from them."""
    fired = {name: getattr(firing, name) for name in _FIRING_FIELDS}
    return FiringDocument(alert_id=alert_id, **fired)


def firings_body(tenant: TenantId, firings: Sequence[Firing]) -> bytes:
    """What the worker sends to ``open_alerts``."""
    return msgspec.json.encode([firing_document(f.alert_id(tenant), f) for f in firings])


def rules_from_body(tenant: TenantId, body: bytes) -> list[AlertRule]:
    """What the worker makes of ``rules_for_device``'s answer."""
    documents = msgspec.json.decode(body, type=list[RuleDocument])
    return [rule_from_document(tenant, document) for document in documents]


class StoredReadings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``readings_around``'s answer: one metric's readings as two columns, in time order."""

    times: list[datetime]
    values: list[float]


def readings_from_body(body: bytes) -> list[TimedValue]:
    """What the worker makes of ``readings_around``'s answer."""
    found = msgspec.json.decode(body, type=StoredReadings)
    return list(zip(found.times, found.values, strict=True))


@dataclass
class StandingAlerts:
    """What ``standing_alerts`` did: alerts opened now, and the ids of every firing whose
    alert is stored (now or before)."""

    opened: int = 0
    alert_ids: list[str] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, slots=True)
class PresenceReport:
    report_id: str
    device_id: str
    change: PresenceChange
    at: datetime
    last_seen_at: datetime | None


def presence_report(
    report_id: str, device_id: str, status: str, at: str, last_seen_at: str
) -> PresenceReport:
    """A report as it crosses the wire (strings), checked: 422 when a field is not what it says."""
    try:
        return PresenceReport(
            str(uuid.UUID(report_id)),
            device_id,
            PresenceChange(status),
            _aware(datetime.fromisoformat(at)),
            _aware(datetime.fromisoformat(last_seen_at)) if last_seen_at else None,
        )
    except ValueError:
        raise ValidationFailed(
            "Invalid presence report",
            [FieldError("report", "a UUID, online or offline, and ISO 8601 times with offset")],
        ) from None


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time without an offset")
    return value


def presence_event(principal: Principal, report: PresenceReport) -> DomainEvent:
    return DomainEvent(
        type=f"sensors.device.{report.change.value}",
        tenant_id=principal.tenant_id,
        aggregate_id=report.device_id,
        data={
            "deviceId": report.device_id,
            "status": report.change.value,
            "at": report.at.isoformat(),
            "lastSeenAt": iso_time(report.last_seen_at),
        },
        occurred_at=report.at,
    )


@dataclass
class SensorsWorkerCalls:
    uow: SensorsUnitOfWorkFactory

    async def rules_for_device(self, principal: Principal, device_id: str) -> list[dict[str, Any]]:
        """The device's own rules and its profile's; none for a device this tenant lacks."""
        async with organization_unit(self.uow, principal, READ) as uow:
            device = await uow.sensors.device(device_id)
            if device is None:
                return []
            rules = await uow.alerts.rules_for(device_id, device.profile_id)
        return [rule_document(rule) for rule in rules]

    async def readings_around(
        self, principal: Principal, device_id: str, metric: str, start: str, end: str
    ) -> StoredReadings:
        """The device's stored readings of ``metric`` in [start, end] and the nearest one on
        each side (at most ``MAX_AROUND``): what a late batch is judged among (ADR 0380)."""
        try:
            window = _aware(datetime.fromisoformat(start)), _aware(datetime.fromisoformat(end))
        except ValueError:
            problem = FieldError("from", "ISO 8601 times with offset")
            raise ValidationFailed("Invalid window", [problem]) from None
        async with organization_unit(self.uow, principal, READ) as uow:
            found = await uow.sensors.around(device_id, metric, *window, MAX_AROUND)
        return StoredReadings(times=[r.at for r in found], values=[r.value for r in found])

    async def standing_alerts(self, principal: Principal, body: bytes) -> StandingAlerts:
        """Open each firing's alert unless its id is stored or the cooldown of another alert
        of its rule and device has not passed; one transaction for the batch. The answer
        names the firings whose alert stands (opened now or before): the worker's watch
        keeps its last firing from those alone (ADR 0380)."""
        authorize(principal, WRITE)
        firings: list[FiringDocument] = decode_body(body, list[FiringDocument], "firings")
        if len(firings) > MAX_FIRINGS:
            raise ValidationFailed("Too many firings", [FieldError("body", f"{MAX_FIRINGS} max")])
        answer = StandingAlerts()
        async with self.uow(principal.tenant_id) as uow:
            # Pair by pair in one order: two batches never wait on each other's pairs crosswise.
            for item in sorted(firings, key=lambda f: (f.rule_id, f.device_id, f.at)):
                firing = item.firing()
                if firing.alert_id(principal.tenant_id) != item.alert_id:
                    raise ValidationFailed(
                        "Alert id does not match its firing", [FieldError("alertId", "derived")]
                    )
                rule = await uow.alerts.rule(item.rule_id)
                device = await uow.sensors.device(item.device_id)
                if (
                    rule is None
                    or device is None
                    or not rule.applies_to(device.device_id, device.profile_id)
                ):
                    raise ValidationFailed(
                        "Unknown rule or device", [FieldError("ruleId", "not this device's")]
                    )
                window = cooldown_window(rule, firing.at)
                if await uow.alerts.opened_between(rule.rule_id, device.device_id, window):
                    # Opened before (a redelivery), or another alert within the cooldown.
                    if await uow.alerts.alert(item.alert_id) is not None:
                        answer.alert_ids.append(item.alert_id)
                    continue
                alert = Alert(
                    alert_id=item.alert_id,
                    tenant_id=principal.tenant_id,
                    rule_id=firing.rule_id,
                    device_id=firing.device_id,
                    metric=firing.metric,
                    kind=firing.kind,
                    opened_at=firing.at,
                    value=firing.value,
                    message=firing.message,
                )
                if await uow.alerts.add_alert(alert):
                    uow.record(alert_event(alert, "opened", None, firing.at))
                    answer.opened += 1
                answer.alert_ids.append(item.alert_id)
            await uow.commit()
        return answer

    async def report_presence(self, principal: Principal, report: PresenceReport) -> bool:
        """Record the device's online/offline status and emit its event, once per report id;
        False (nothing changed) for a repeated report or a device this organization lacks."""
        async with organization_unit(self.uow, principal, WRITE) as uow:
            if await uow.sensors.device(report.device_id) is None:
                return False
            if not await uow.alerts.first_presence_report(report.report_id, report.change):
                return False
            await uow.sensors.record_presence(report.device_id, report.change)
            uow.record(presence_event(principal, report))
            await uow.commit()
        return True
