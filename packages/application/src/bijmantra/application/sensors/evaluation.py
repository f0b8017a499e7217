"""The analytics-worker's sensors work: alert rules and device presence evaluated from
telemetry events and from the clock (ADR 0290).

What evaluation remembers (a watch per rule and device, a presence per device) is the
worker's own state, in its schema; rules are read from domain-api, and what evaluation finds
goes back to domain-api (``SensorsDomain``), which stores it and emits the events. Every
finding carries an id derived from what it is about, and the state changes commit only after
domain-api accepted it, so a redelivered event or a retried check stores nothing twice.
Time comes from the readings (rules), the event's time (presence) or the injected ``Clock``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bijmantra.application.events.envelope import EventEnvelope
from bijmantra.application.ports.transaction import Transaction
from bijmantra.application.sensors.worker_calls import MAX_FIRINGS, PresenceReport
from bijmantra.domain.sensors import (
    AlertRule,
    Firing,
    Presence,
    PresenceChange,
    TimedValue,
    Watch,
    check,
    late_window,
    observe,
    observe_late,
    presence_due,
    seen,
    silence,
    silent_due,
    with_standing,
)
from bijmantra.domain.sensors.presence import OFFLINE_AFTER
from bijmantra.kernel import Clock, SystemClock, TenantId

EVALUATION_CONSUMER = "analytics-sensors"
TELEMETRY_RECEIVED = "sensors.telemetry.received"
CHECK_BATCH = 500
PRESENCE_REPORTS = uuid.UUID("0b9e4f8a-2c61-4d7e-8f3a-9d5c1e7b2a64")  # uuid5 namespace


class SensorsDomain(Protocol):
    """domain-api's SensorsWorkerService, for one organization at a time."""

    async def rules_for(self, tenant: TenantId, device_id: str) -> list[AlertRule]: ...

    async def open_alerts(self, tenant: TenantId, firings: Sequence[Firing]) -> set[str]:
        """The alert ids of the firings whose alert stands (opened now or before)."""
        ...

    async def report_presence(self, tenant: TenantId, report: PresenceReport) -> bool: ...

    async def readings_around(
        self, tenant: TenantId, device_id: str, metric: str, start: datetime, end: datetime
    ) -> list[TimedValue]: ...


class EvaluationState(Transaction, Protocol):
    """One organization's watches, presences and inbox, in one transaction (row-locked)."""

    async def first_delivery(self, consumer: str, event: EventEnvelope) -> bool: ...

    async def watch(self, rule_id: str, device_id: str) -> Watch: ...

    async def save_watch(
        self, rule_id: str, device_id: str, watch: Watch, due: datetime | None
    ) -> None: ...

    async def presence(self, device_id: str) -> Presence: ...

    async def save_presence(
        self, device_id: str, presence: Presence, due: datetime | None
    ) -> None: ...


EvaluationStateFactory = Callable[[TenantId], EvaluationState]


class DueChecks(Protocol):
    """The one cross-tenant read: watches and devices whose check time has come."""

    async def due_watches(self, now: datetime, limit: int) -> list[tuple[TenantId, str, str]]: ...

    async def due_presences(self, now: datetime, limit: int) -> list[tuple[TenantId, str]]: ...


def presence_report(
    tenant: TenantId, device_id: str, change: PresenceChange, at: datetime, presence: Presence
) -> PresenceReport:
    """A report whose id names the device, the change and its time: made again, it is the
    same report."""
    key = f"{tenant}/{device_id}/{change.value}/{at.isoformat()}"
    return PresenceReport(
        str(uuid.uuid5(PRESENCE_REPORTS, key)), device_id, change, at, presence.last_seen_at
    )


def _readings(data: dict[str, Any], metrics: set[str]) -> dict[str, list[tuple[datetime, float]]]:
    """The event's readings of the given metrics, by metric, in the batch's order.

    The event carries every reading only of the metrics a threshold or rate rule followed
    when the batch was stored; of the others, its summary's newest reading, which is all a
    no-data rule reads (ADR 0304). A rule added since sees that newest reading first.
    Events stored before ADR 0304 carry every reading at the top level."""
    columns = data.get("readings", data)
    by_metric: dict[str, list[tuple[datetime, float]]] = {}
    for metric, at, value in zip(
        columns.get("metrics", ()), columns.get("times", ()), columns.get("values", ()), strict=True
    ):
        if metric in metrics:
            by_metric.setdefault(metric, []).append((datetime.fromisoformat(at), float(value)))
    for summary in data.get("series", ()):
        metric = summary["metric"]
        if metric in metrics and metric not in by_metric:
            newest = (datetime.fromisoformat(summary["last"]), float(summary["lastValue"]))
            by_metric[metric] = [newest]
    return by_metric


@dataclass
class EvaluateTelemetry:
    """Consumer of ``sensors.telemetry.received``: the device is seen, its rules run over
    the batch; once per event (the worker's inbox)."""

    state: EvaluationStateFactory
    domain: SensorsDomain
    offline_after: timedelta = OFFLINE_AFTER

    async def __call__(self, event: EventEnvelope) -> None:
        if event.type != TELEMETRY_RECEIVED:
            return
        tenant = TenantId(uuid.UUID(event.tenant_id))
        device_id = str(event.data["deviceId"])
        async with self.state(tenant) as state:
            if not await state.first_delivery(EVALUATION_CONSUMER, event):
                return
            before = await state.presence(device_id)
            presence, change = seen(before, event.time)
            due = presence_due(presence, self.offline_after)
            await state.save_presence(device_id, presence, due)
            fired = await self._evaluate(state, tenant, device_id, event.data)
            await self._open(tenant, fired)
            if change is not None:
                report = presence_report(tenant, device_id, change, event.time, before)
                await self.domain.report_presence(tenant, report)
            await state.commit()

    async def _evaluate(
        self, state: EvaluationState, tenant: TenantId, device_id: str, data: dict[str, Any]
    ) -> list[Firing]:
        rules = await self.domain.rules_for(tenant, device_id)
        if not rules:
            return []  # most batches: nothing to parse (a batch holds up to 10,000 readings)
        by_metric = _readings(data, {rule.metric for rule in rules})
        fired: list[Firing] = []
        for rule in rules:
            readings = by_metric.get(rule.metric)
            if not readings:
                continue
            watch = await state.watch(rule.rule_id, device_id)
            late: list[TimedValue] = []
            folded, firings = observe(rule, watch, device_id, readings, late)
            if late and rule.reads_every_reading and data.get("stored") != 0:
                # Stored after newer readings were evaluated (ADR 0380): judged first, then
                # the newer ones folded again from the corrected watch. A resend that stored
                # nothing (``stored`` 0) has only readings judged with their own batch.
                watch = await self._judge_late(tenant, device_id, rule, watch, late)
                folded, firings = observe(rule, watch, device_id, readings)
            watch = folded
            await state.save_watch(rule.rule_id, device_id, watch, silent_due(rule, watch))
            fired += firings
        return fired

    async def _judge_late(
        self,
        tenant: TenantId,
        device_id: str,
        rule: AlertRule,
        watch: Watch,
        late: list[TimedValue],
    ) -> Watch:
        """Late readings judged among the stored ones around them, their alerts opened; the
        watch with its last firing the newest alert that stands."""
        start, end = late_window(rule, late)
        around = await self.domain.readings_around(tenant, device_id, rule.metric, start, end)
        watch, firings = observe_late(rule, watch, device_id, late, around)
        standing = await self._open(tenant, firings)
        return with_standing(watch, [f for f in firings if f.alert_id(tenant) in standing])

    async def _open(self, tenant: TenantId, firings: list[Firing]) -> set[str]:
        """Open the firings in time order, ``MAX_FIRINGS`` a call (a late batch may judge
        thousands): the ids of those whose alert stands."""
        firings = sorted(firings, key=lambda f: (f.rule_id, f.at))
        standing: set[str] = set()
        for start in range(0, len(firings), MAX_FIRINGS):
            standing |= await self.domain.open_alerts(tenant, firings[start : start + MAX_FIRINGS])
        return standing


@dataclass
class CheckSilences:
    """Periodic: no-data rules whose devices stayed silent for their N intervals fire, and
    devices silent for ``offline_after`` are reported offline (once per silence)."""

    state: EvaluationStateFactory
    due: DueChecks
    domain: SensorsDomain
    clock: Clock = field(default_factory=SystemClock)
    offline_after: timedelta = OFFLINE_AFTER

    async def __call__(self) -> int:
        """How many alerts and offline reports this pass made."""
        now = self.clock.now()
        made = 0
        for tenant, rule_id, device_id in await self.due.due_watches(now, CHECK_BATCH):
            made += await self._silence(tenant, rule_id, device_id, now)
        for tenant, device_id in await self.due.due_presences(now, CHECK_BATCH):
            made += await self._offline(tenant, device_id, now)
        return made

    async def _silence(self, tenant: TenantId, rule_id: str, device_id: str, now: datetime) -> int:
        rules = {r.rule_id: r for r in await self.domain.rules_for(tenant, device_id)}
        rule = rules.get(rule_id)
        async with self.state(tenant) as state:
            watch = await state.watch(rule_id, device_id)
            firing = None
            if rule is not None:
                watch, firing = silence(rule, watch, device_id, now)
            due = silent_due(rule, watch) if rule is not None else None  # no rule: not again
            await state.save_watch(rule_id, device_id, watch, due)
            if firing is not None:
                await self.domain.open_alerts(tenant, [firing])
            await state.commit()
        return int(firing is not None)

    async def _offline(self, tenant: TenantId, device_id: str, now: datetime) -> int:
        async with self.state(tenant) as state:
            before = await state.presence(device_id)
            presence, change = check(before, now, self.offline_after)
            due = presence_due(presence, self.offline_after)
            await state.save_presence(device_id, presence, due)
            if change is not None:
                # At the moment the silence passed the limit: a retried check reports the same.
                at = before.last_seen_at + self.offline_after if before.last_seen_at else now
                report = presence_report(tenant, device_id, change, at, before)
                await self.domain.report_presence(tenant, report)
            await state.commit()
        return int(change is not None)
