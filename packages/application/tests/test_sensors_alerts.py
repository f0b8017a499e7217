"""Alerts with a clock moved by hand: threshold held for its duration, rate of change, no data
for N intervals, the cooldown, and the open -> acknowledged -> cleared lifecycle."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bijmantra.application.events import envelope_for
from bijmantra.application.sensors import (
    AlertInbox,
    AlertRules,
    CheckSilences,
    DeviceEnrolment,
    EvaluateTelemetry,
    IngestTelemetry,
)
from bijmantra.application.sensors.alerts import AlertDocument, RuleDocument
from bijmantra.kernel import (
    Conflict,
    Forbidden,
    NotFound,
    PageRequest,
    Principal,
    TenantId,
    ValidationFailed,
)
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.sensors import (
    FakeSilenceSchedule,
    SensorTables,
    SettableClock,
    fake_sensors_unit_of_work_factory,
)

T0 = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
ORG = TenantId(uuid.uuid4())
MANAGER = Principal("manager", ORG, frozenset({"data-manager"}))
PROFILE = {
    "name": "cold store",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


class Store:
    """A seed store's logger, its rules, and the evaluation pipeline with a hand-moved clock."""

    def __init__(self) -> None:
        self.tables = SensorTables()
        self.clock = SettableClock(T0)
        uow = fake_sensors_unit_of_work_factory(self.tables)
        self.enrolment = DeviceEnrolment(uow, self.clock)
        self.ingest = IngestTelemetry(uow, self.clock)
        self.rules = AlertRules(uow)
        self.inbox = AlertInbox(uow, self.clock)
        self.evaluate = EvaluateTelemetry(uow)
        self.silences = CheckSilences(uow, FakeSilenceSchedule(self.tables), self.clock)
        self.seen_events = 0

    async def device(self) -> None:
        profile = await self.enrolment.create_profile(MANAGER, json.dumps(PROFILE).encode())
        self.profile_id = profile["profileId"]
        body = {"name": "logger", "profileId": self.profile_id, "locationDbId": "store"}
        self.device_id = (await self.enrolment.register(MANAGER, json.dumps(body).encode()))[
            "deviceId"
        ]
        code = (await self.enrolment.issue_claim(MANAGER, self.device_id))["claimCode"]
        claimed = await self.enrolment.claim(json.dumps({"claimCode": code}).encode())
        self.credential = claimed["credential"]

    async def rule(self, **fields: Any) -> dict[str, Any]:
        body = {"name": "r", "metric": "air_temperature", "deviceId": self.device_id, **fields}
        return await self.rules.create(MANAGER, json.dumps(body).encode())

    async def reading(self, value: float) -> None:
        """The logger reports now; the telemetry event is delivered to evaluation."""
        body = {
            "readings": [
                {"metric": "air_temperature", "time": self.clock.now().isoformat(), "value": value}
            ]
        }
        await self.ingest(self.credential, json.dumps(body).encode())
        await self.deliver()

    async def deliver(self) -> None:
        events = self.tables.events[self.seen_events :]
        self.seen_events = len(self.tables.events)
        for event in events:
            if event.type == "sensors.telemetry.received":
                await self.evaluate(envelope_for(event, source="test"))

    async def open_alerts(self) -> list[dict[str, Any]]:
        return (await self.inbox.list(MANAGER, PageRequest(0, 100), "open")).items

    async def every_minute(self, values: list[float]) -> None:
        for value in values:
            await self.reading(value)
            self.clock.advance(timedelta(minutes=1))


@pytest.fixture
async def store() -> Store:
    s = Store()
    await s.device()
    return s


async def test_a_threshold_alert_fires_only_after_its_duration(store: Store) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=8.0, holdSeconds=600)
    await store.every_minute([9.0] * 10)  # above for 9 minutes: not yet
    assert await store.open_alerts() == []
    await store.every_minute([9.5])  # the 10th minute above: fires
    [alert] = await store.open_alerts()
    assert alert["value"] == 9.5
    assert alert["openedAt"] == (T0 + timedelta(minutes=10)).isoformat()


async def test_a_dip_below_the_threshold_restarts_the_duration(store: Store) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=8.0, holdSeconds=300)
    await store.every_minute([9, 9, 9, 9, 7, 9, 9, 9, 9])
    assert await store.open_alerts() == []
    await store.every_minute([9, 9])
    assert len(await store.open_alerts()) == 1


async def test_the_cooldown_holds_then_lets_the_next_alert_through(store: Store) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=-18.0, cooldownSeconds=1800)
    await store.every_minute([-10.0] * 29)  # 29 minutes warm: one alert, then the cooldown
    assert len(await store.open_alerts()) == 1
    await store.every_minute([-10.0])  # minute 29: still within 30 min of the first
    assert len(await store.open_alerts()) == 1
    await store.every_minute([-10.0])  # minute 30: the cooldown has passed
    assert len(await store.open_alerts()) == 2


async def test_a_rate_of_change_alert(store: Store) -> None:
    await store.rule(kind="rate_of_change", maxChange=2.0, perSeconds=60, cooldownSeconds=0)
    await store.every_minute([4.0, 5.5, 7.0])  # 1.5 per minute: fine
    assert await store.open_alerts() == []
    await store.every_minute([12.0])  # 5 per minute
    [alert] = await store.open_alerts()
    assert alert["kind"] == "rate_of_change"


async def test_a_no_data_alert_fires_after_n_missed_intervals_once(store: Store) -> None:
    await store.rule(kind="no_data", intervalSeconds=300, intervals=3, cooldownSeconds=0)
    await store.reading(4.0)
    store.clock.advance(timedelta(minutes=14, seconds=59))
    assert await store.silences() == 0
    store.clock.advance(timedelta(seconds=1))  # 3 x 5 minutes without a reading
    assert await store.silences() == 1
    store.clock.advance(timedelta(hours=2))
    assert await store.silences() == 0  # one alert per silence
    [alert] = await store.open_alerts()
    assert alert["kind"] == "no_data"
    await store.reading(4.0)  # the logger is back; a new silence may fire again
    store.clock.advance(timedelta(minutes=15))
    assert await store.silences() == 1


async def test_a_redelivered_telemetry_event_raises_nothing_twice(store: Store) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=8.0, cooldownSeconds=0)
    await store.reading(9.0)
    event = next(e for e in store.tables.events if e.type == "sensors.telemetry.received")
    await store.evaluate(envelope_for(event, source="test"))
    assert len(await store.open_alerts()) == 1


async def test_acknowledge_and_clear_record_who_and_when(store: Store) -> None:
    rule = await store.rule(kind="threshold", comparison="above", threshold=8.0)
    assert answers_as(rule, RuleDocument).comparison == "above"  # as the contract says
    assert [answers_as(r, RuleDocument) for r in await store.rules.list(MANAGER)]
    await store.reading(9.0)
    [alert] = await store.open_alerts()
    assert answers_as(alert, AlertDocument).acknowledged_at is None
    store.clock.advance(timedelta(minutes=3))
    acked = await store.inbox.acknowledge(MANAGER, alert["alertId"])
    assert (acked["status"], acked["acknowledgedBy"]) == ("acknowledged", "manager")
    assert acked["acknowledgedAt"] == (T0 + timedelta(minutes=3)).isoformat()
    with pytest.raises(Conflict):
        await store.inbox.acknowledge(MANAGER, alert["alertId"])
    store.clock.advance(timedelta(minutes=5))
    cleared = await store.inbox.clear(MANAGER, alert["alertId"])
    assert (cleared["status"], cleared["clearedBy"]) == ("cleared", "manager")
    assert answers_as(cleared, AlertDocument).cleared_at is not None
    assert cleared["clearedAt"] == (T0 + timedelta(minutes=8)).isoformat()
    with pytest.raises(Conflict):
        await store.inbox.clear(MANAGER, alert["alertId"])
    types = [e.type for e in store.tables.events if e.type.startswith("sensors.alert.")]
    assert types == ["sensors.alert.opened", "sensors.alert.acknowledged", "sensors.alert.cleared"]


async def test_another_organization_and_a_viewer_cannot_touch_alerts_or_rules(
    store: Store,
) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=8.0)
    await store.reading(9.0)
    [alert] = await store.open_alerts()
    stranger = Principal("x", TenantId(uuid.uuid4()), frozenset({"admin"}))
    with pytest.raises(NotFound):
        await store.inbox.acknowledge(stranger, alert["alertId"])
    assert (await store.inbox.list(stranger, PageRequest(0, 10), "")).items == []
    assert await store.rules.list(stranger) == []
    with pytest.raises(ValidationFailed):  # a rule on another organization's device
        await store.rules.create(
            stranger,
            json.dumps(
                {
                    "name": "r",
                    "metric": "air_temperature",
                    "kind": "no_data",
                    "deviceId": store.device_id,
                }
            ).encode(),
        )
    viewer = Principal("v", ORG, frozenset({"viewer"}))
    with pytest.raises(Forbidden):
        await store.inbox.clear(viewer, alert["alertId"])


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "threshold"},  # no threshold
        {"kind": "threshold", "comparison": "above", "threshold": 1, "holdSeconds": -5},
        {"kind": "rate_of_change", "maxChange": 0},
        {"kind": "no_data", "intervals": 0},
        {"kind": "no_data", "metric": "co2"},
        {"kind": "sometimes"},
        {"kind": "no_data", "profileId": "also"},
    ],
)
async def test_rules_that_could_never_fire_are_refused(
    store: Store, fields: dict[str, Any]
) -> None:
    with pytest.raises(ValidationFailed):
        await store.rule(**fields)
    assert await store.rules.list(MANAGER) == []
