"""Alert rules as values and their evaluation as pure functions over readings and the clock.

A rule watches one metric of one device (or of every device of a profile): a threshold held
for a duration, a rate of change, or no data for N intervals. Each (rule, device) pair has a
``Watch`` (what evaluation remembers). A firing opens an alert unless the rule's cooldown
since its last firing for that device has not passed. Alerts go open -> acknowledged ->
cleared (``ALERT_LIFECYCLE``), each step recording who and when.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bijmantra.kernel import FieldError, TenantId, ValidationFailed
from bijmantra.kernel.lifecycle import StateMachine

MAX_INTERVALS = 1000


class RuleKind(StrEnum):
    THRESHOLD = "threshold"
    RATE_OF_CHANGE = "rate_of_change"
    NO_DATA = "no_data"


# The kinds that read every reading of their metric (a no-data rule reads only the newest).
FOLLOWING_KINDS = frozenset({RuleKind.THRESHOLD, RuleKind.RATE_OF_CHANGE})


class Comparison(StrEnum):
    ABOVE = "above"
    BELOW = "below"


@dataclass(frozen=True, slots=True)
class AlertRule:
    rule_id: str
    tenant_id: TenantId
    name: str
    metric: str
    kind: RuleKind
    device_id: str | None
    profile_id: str | None
    cooldown: timedelta
    comparison: Comparison | None = None
    threshold: float | None = None
    hold: timedelta = timedelta(0)
    max_change: float | None = None  # per ``per``
    per: timedelta = timedelta(minutes=1)
    interval: timedelta = timedelta(minutes=1)
    intervals: int = 1

    def applies_to(self, device_id: str, profile_id: str) -> bool:
        return self.device_id == device_id or (
            self.device_id is None and self.profile_id == profile_id
        )

    @property
    def silence(self) -> timedelta:
        return self.interval * self.intervals

    @property
    def reads_every_reading(self) -> bool:
        """Threshold and rate rules follow the sequence; a no-data rule only the newest."""
        return self.kind in FOLLOWING_KINDS


def followed_metrics(rules: Sequence[AlertRule]) -> frozenset[str]:
    """The metrics whose every reading a rule reads: the telemetry event carries those
    readings in full, the others only as a summary (ADR 0304)."""
    return frozenset(rule.metric for rule in rules if rule.reads_every_reading)


def checked_rule(rule: AlertRule) -> AlertRule:
    """Refuse a rule that could never fire or that names no target (422)."""
    problems: list[FieldError] = []
    if (rule.device_id is None) == (rule.profile_id is None):
        problems.append(FieldError("deviceId", "give exactly one of deviceId and profileId"))
    if rule.cooldown < timedelta(0):
        problems.append(FieldError("cooldownSeconds", "must not be negative"))
    if rule.kind is RuleKind.THRESHOLD:
        if rule.comparison is None or rule.threshold is None or not math.isfinite(rule.threshold):
            problems.append(FieldError("threshold", "give comparison and a finite threshold"))
        if rule.hold < timedelta(0):
            problems.append(FieldError("holdSeconds", "must not be negative"))
    if rule.kind is RuleKind.RATE_OF_CHANGE and not (
        rule.max_change is not None and math.isfinite(rule.max_change) and rule.max_change > 0
    ):
        problems.append(FieldError("maxChange", "give a positive change per period"))
    if rule.kind is RuleKind.RATE_OF_CHANGE and rule.per <= timedelta(0):
        problems.append(FieldError("perSeconds", "must be positive"))
    if rule.kind is RuleKind.NO_DATA and not (
        rule.interval > timedelta(0) and 1 <= rule.intervals <= MAX_INTERVALS
    ):
        problems.append(FieldError("intervals", f"a positive interval, 1 to {MAX_INTERVALS}"))
    if problems:
        raise ValidationFailed("Invalid alert rule", problems)
    return rule


@dataclass(frozen=True, slots=True)
class Watch:
    """What evaluation remembers about one rule on one device."""

    breach_since: datetime | None = None
    last_at: datetime | None = None
    last_value: float | None = None
    last_fired: datetime | None = None
    silence_reported_for: datetime | None = None  # the last reading a no-data alert was about


@dataclass(frozen=True, slots=True)
class Firing:
    rule_id: str
    device_id: str
    metric: str
    kind: RuleKind
    at: datetime
    value: float | None
    message: str
    # What the firing is about: the reading (threshold, rate) or the last reading before a
    # silence (no data). Evaluated again from the same state, a firing has the same ``about``.
    about: datetime | None = None

    def alert_id(self, tenant_id: TenantId) -> str:
        """The alert's id, derived from what fired: a redelivered event opens the same id."""
        about = (self.about or self.at).isoformat()
        return str(uuid.uuid5(ALERT_IDS, f"{tenant_id}/{self.rule_id}/{self.device_id}/{about}"))


ALERT_IDS = uuid.UUID("6f3a1c52-8d0e-4b7f-9a21-5e4c3b2d1a0f")  # the uuid5 namespace of alerts


def _firing(
    rule: AlertRule,
    device_id: str,
    at: datetime,
    value: float | None,
    message: str,
    *,
    about: datetime | None = None,
) -> Firing:
    """What ``rule`` raises on ``device_id``: the rule names the alert's metric and kind."""
    return Firing(rule.rule_id, device_id, rule.metric, rule.kind, at, value, message, about)


def _cooled(rule: AlertRule, watch: Watch, at: datetime) -> bool:
    return watch.last_fired is None or at - watch.last_fired >= rule.cooldown


def cooldown_window(rule: AlertRule, at: datetime) -> tuple[datetime, datetime]:
    """The open interval around a firing at ``at`` in which another alert of the same rule and
    device means the cooldown has not passed. The worker's watch enforces the cooldown for one
    replica; where alerts are opened the window enforces it across replicas (ADR 0306)."""
    return at - rule.cooldown, at + rule.cooldown


def breached(rule: AlertRule, value: float) -> bool:
    assert rule.threshold is not None
    if rule.comparison is Comparison.ABOVE:
        return value > rule.threshold
    return value < rule.threshold


def breach_firing(
    rule: AlertRule, device_id: str, at: datetime, value: float, since: datetime
) -> Firing:
    """A threshold breach held from ``since`` to the reading at ``at``."""
    message = f"{rule.metric} {value} {rule.comparison} {rule.threshold} for {at - since}"
    return _firing(rule, device_id, at, value, message)


def change_firing(
    rule: AlertRule, device_id: str, at: datetime, value: float, change: float
) -> Firing:
    """A reading that changed ``change`` per ``rule.per`` from the one before it in time."""
    message = f"{rule.metric} changed {change:.3g} per {rule.per} (limit {rule.max_change})"
    return _firing(rule, device_id, at, value, message)


def observe(
    rule: AlertRule,
    watch: Watch,
    device_id: str,
    readings: list[tuple[datetime, float]],
    late: list[tuple[datetime, float]] | None = None,
) -> tuple[Watch, list[Firing]]:
    """Fold readings of the rule's metric into its watch; the alerts they raise.

    Readings at or before the last one seen are skipped (and added to ``late`` when given,
    for ``observe_late``): a redelivered or resent batch changes nothing here."""
    fired: list[Firing] = []
    for at, value in sorted(readings):
        if watch.last_at is not None and at <= watch.last_at:
            if late is not None:
                late.append((at, value))
            continue
        firing: Firing | None = None
        if rule.kind is RuleKind.THRESHOLD:
            if breached(rule, value):
                since = watch.breach_since or at
                watch = replace(watch, breach_since=since)
                if at - since >= rule.hold and _cooled(rule, watch, at):
                    firing = breach_firing(rule, device_id, at, value, since)
            else:
                watch = replace(watch, breach_since=None)
        elif rule.kind is RuleKind.RATE_OF_CHANGE and watch.last_at is not None:
            assert watch.last_value is not None
            assert rule.max_change is not None
            change = abs(value - watch.last_value) / ((at - watch.last_at) / rule.per)
            if change > rule.max_change and _cooled(rule, watch, at):
                firing = change_firing(rule, device_id, at, value, change)
        watch = replace(watch, last_at=at, last_value=value)
        if firing is not None:
            watch = replace(watch, last_fired=firing.at)
            fired.append(firing)
    return watch, fired


def silence(
    rule: AlertRule, watch: Watch, device_id: str, now: datetime
) -> tuple[Watch, Firing | None]:
    """A no-data rule fires once per silence, after ``intervals`` intervals without a reading."""
    if rule.kind is not RuleKind.NO_DATA or watch.last_at is None:
        return watch, None
    if watch.silence_reported_for == watch.last_at or now - watch.last_at < rule.silence:
        return watch, None
    if not _cooled(rule, watch, now):
        return watch, None
    firing = _firing(
        rule,
        device_id,
        now,
        None,
        f"no {rule.metric} reading for {now - watch.last_at} ({rule.intervals} x {rule.interval})",
        about=watch.last_at,
    )
    return replace(watch, last_fired=now, silence_reported_for=watch.last_at), firing


def silent_due(rule: AlertRule, watch: Watch) -> datetime | None:
    """When a no-data rule should next be checked for this device (None: nothing to wait for)."""
    if rule.kind is not RuleKind.NO_DATA or watch.last_at is None:
        return None
    if watch.silence_reported_for == watch.last_at:
        return None
    due = watch.last_at + rule.silence
    if watch.last_fired is not None:
        due = max(due, watch.last_fired + rule.cooldown)
    return due


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledged"
    CLEAR = "cleared"


ALERT_LIFECYCLE: StateMachine[AlertStatus, AlertAction] = StateMachine.by_action(
    "alert",
    {
        AlertAction.ACKNOWLEDGE: ((AlertStatus.OPEN,), AlertStatus.ACKNOWLEDGED),
        AlertAction.CLEAR: ((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), AlertStatus.CLEARED),
    },
)


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str
    tenant_id: TenantId
    rule_id: str
    device_id: str
    metric: str
    kind: RuleKind
    opened_at: datetime
    value: float | None
    message: str
    status: AlertStatus = AlertStatus.OPEN
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    cleared_by: str | None = None
    cleared_at: datetime | None = None

    def acknowledge(self, who: str, now: datetime) -> Alert:
        status = ALERT_LIFECYCLE.next(self.status, AlertAction.ACKNOWLEDGE)
        return replace(self, status=status, acknowledged_by=who, acknowledged_at=now)

    def clear(self, who: str, now: datetime) -> Alert:
        status = ALERT_LIFECYCLE.next(self.status, AlertAction.CLEAR)
        return replace(self, status=status, cleared_by=who, cleared_at=now)
