"""Alerts with a clock moved by hand: threshold held for its duration, rate of change, no data
for N intervals, the cooldown, and the open -> acknowledged -> cleared lifecycle. Evaluation
is the analytics-worker's (its state faked here), domain-api's worker calls run in process."""

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
    DeviceEnrolment,
    IngestTelemetry,
)
from bijmantra.application.sensors.alerts import AlertDocument, RuleDocument
from bijmantra.application.sensors.evaluation import CheckSilences, EvaluateTelemetry
from bijmantra.domain import DomainEvent
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
from bijmantra.testkit.sensor_evaluation import WorkerSensors
from bijmantra.testkit.sensors import (
    SensorTables,
    SettableClock,
    fake_sensors_unit_of_work_factory,
)

T0 = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
ORG = TenantId(uuid.uuid4())
MANAGER = Principal("manager", ORG, frozenset({"data-manager"}))
PROFILE = {
    "name": "cold store",
    "metrics": [
        {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70},
        {"name": "relative_humidity", "unit": "%", "minimum": 0, "maximum": 100},
    ],
}


# Presence is tested on its own (the last tests); the alert tests see no device go offline.
NEVER_OFFLINE = timedelta(days=3650)


class Store:
    """A seed store's logger, its rules, and the evaluation pipeline with a hand-moved clock."""

    def __init__(
        self, tables: SensorTables | None = None, offline_after: timedelta = NEVER_OFFLINE
    ) -> None:
        self.tables = tables or SensorTables()
        self.clock = SettableClock(T0)
        uow = fake_sensors_unit_of_work_factory(self.tables)
        self.enrolment = DeviceEnrolment(uow, self.clock)
        self.ingest = IngestTelemetry(uow, self.clock)
        self.rules = AlertRules(uow)
        self.inbox = AlertInbox(uow, self.clock)
        worker = WorkerSensors(self.tables)
        self.worker_tables = worker.tables
        self.evaluate = EvaluateTelemetry(worker.state, worker.domain, offline_after)
        self.silences = CheckSilences(
            worker.state, worker.due, worker.domain, self.clock, offline_after
        )
        self.seen_events = 0

    async def device(self) -> None:
        profile = await self.enrolment.create_profile(MANAGER, json.dumps(PROFILE).encode())
        self.profile_id = profile["profileId"]
        store = self.tables.place(MANAGER.tenant_id, "location", "store")
        body = {"name": "logger", "profileId": self.profile_id, "locationDbId": store}
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
    event = envelope_for(
        next(e for e in store.tables.events if e.type == "sensors.telemetry.received"),
        source="test",
    )
    await store.evaluate(event)  # the worker's inbox knows it
    assert len(await store.open_alerts()) == 1
    store.worker_tables.processed.clear()  # as if the worker died before its commit
    store.worker_tables.watches.clear()
    await store.evaluate(event)  # evaluated again: the same alert id, opened before
    assert len(await store.open_alerts()) == 1
    opened = [e for e in store.tables.events if e.type == "sensors.alert.opened"]
    assert len(opened) == 1


async def test_another_organizations_device_is_never_evaluated_with_these_rules() -> None:
    tables = SensorTables()
    mine = Store(tables)
    await mine.device()
    await mine.rule(kind="threshold", comparison="above", threshold=8.0)
    await mine.reading(9.0)
    [alert] = await mine.open_alerts()
    event = next(e for e in tables.events if e.type == "sensors.telemetry.received")
    # The same readings, as if another organization's stream named this device.
    other = TenantId(uuid.uuid4())
    forged = envelope_for(
        DomainEvent(event.type, other, event.aggregate_id, event.data, occurred_at=T0),
        source="test",
    )
    await mine.evaluate(forged)
    assert [a["alertId"] for a in await mine.open_alerts()] == [alert["alertId"]]
    assert {t for t, _, _ in mine.worker_tables.watches} == {ORG}
    assert [a for (t, _), a in tables.alerts.items() if t == other] == []


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


async def test_rules_and_profiles_past_the_organizations_limit_are_refused(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bijmantra.application.sensors.alerts.MAX_RULES", 1)
    monkeypatch.setattr("bijmantra.application.sensors.enrolment.MAX_PROFILES", 1)
    await store.rule(kind="threshold", comparison="above", threshold=8.0)
    with pytest.raises(ValidationFailed, match="Too many alert rules") as rules:
        await store.rule(kind="threshold", comparison="below", threshold=2.0)
    with pytest.raises(ValidationFailed, match="Too many device profiles") as profiles:
        await store.enrolment.create_profile(MANAGER, json.dumps(PROFILE).encode())
    for refused in (rules.value, profiles.value):
        assert [(e.location, e.message) for e in refused.details] == [("body", "limit")]
    assert len(await store.rules.list(MANAGER)) == 1
    assert len(await store.enrolment.profiles(MANAGER)) == 1


async def test_a_silent_device_goes_offline_once_and_online_when_it_reports() -> None:
    store = Store(offline_after=timedelta(minutes=15))
    await store.device()
    await store.reading(4.0)  # commissioned and seen at T0
    store.clock.advance(timedelta(minutes=14, seconds=59))
    assert await store.silences() == 0
    store.clock.advance(timedelta(seconds=1))
    assert await store.silences() == 1
    store.clock.advance(timedelta(hours=3))
    assert await store.silences() == 0  # one offline per silence
    await store.reading(4.5)
    await store.reading(4.6)  # already online: nothing more
    presence = [e for e in store.tables.events if e.type.startswith("sensors.device.o")]
    assert [(e.type, e.data["status"]) for e in presence] == [
        ("sensors.device.offline", "offline"),
        ("sensors.device.online", "online"),
    ]
    offline, online = presence
    assert offline.data["at"] == (T0 + timedelta(minutes=15)).isoformat()
    assert offline.data["lastSeenAt"] == T0.isoformat()
    assert online.data["at"] == (T0 + timedelta(hours=3, minutes=15)).isoformat()


async def test_the_device_document_says_what_the_live_feed_last_said() -> None:
    """The worker's offline limit is its own setting (5 minutes here); the document follows
    its reports, not a limit of its own."""
    store = Store(offline_after=timedelta(minutes=5))
    await store.device()

    async def document_and_feed() -> tuple[str, str | None]:
        document = await store.enrolment.get(MANAGER, store.device_id)
        feed = [
            e.data["status"] for e in store.tables.events if e.type.startswith("sensors.device.o")
        ]
        return document["status"], feed[-1] if feed else None

    assert await document_and_feed() == ("offline", None)  # never heard from
    await store.reading(4.0)
    assert await document_and_feed() == ("online", None)
    store.clock.advance(timedelta(minutes=4, seconds=59))
    await store.silences()
    assert await document_and_feed() == ("online", None)
    store.clock.advance(timedelta(seconds=1))
    assert await store.silences() == 1
    assert await document_and_feed() == ("offline", "offline")
    store.clock.advance(timedelta(hours=1))
    await store.reading(4.5)
    assert await document_and_feed() == ("online", "online")


async def test_a_retried_offline_check_reports_once() -> None:
    store = Store(offline_after=timedelta(minutes=15))
    await store.device()
    await store.reading(4.0)
    store.clock.advance(timedelta(minutes=20))
    before = dict(store.worker_tables.presences)
    assert await store.silences() == 1
    store.worker_tables.presences = before  # as if the worker died before its commit
    store.clock.advance(timedelta(minutes=1))
    assert await store.silences() == 1  # evaluated again: the same report, not emitted twice
    offline = [e for e in store.tables.events if e.type == "sensors.device.offline"]
    assert len(offline) == 1


# The telemetry event (ADR 0304): a summary per metric, every reading only where a rule reads
# every reading; evaluation over it must be what it was over the whole batch.


def minutes(metric: str, values: list[float], start: datetime = T0) -> list[dict[str, Any]]:
    return [
        {"metric": metric, "time": (start + timedelta(minutes=i)).isoformat(), "value": v}
        for i, v in enumerate(values)
    ]


def rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def ingest_batch(store: Store, readings: list[dict[str, Any]]) -> dict[str, Any]:
    """Store one batch; the data of the event it recorded (not delivered yet)."""
    await store.ingest(store.credential, json.dumps({"readings": readings}).encode())
    return store.tables.events[-1].data


async def test_the_event_summarizes_each_metric_and_carries_no_reading_without_a_rule(
    store: Store,
) -> None:
    store.clock.advance(timedelta(minutes=10))
    batch = minutes("air_temperature", [4.0, 6.5, 5.0]) + minutes("relative_humidity", [80, 82])
    data = await ingest_batch(store, batch)
    assert "readings" not in data
    assert data["series"] == [
        {
            "metric": "air_temperature",
            "count": 3,
            "first": rfc3339(T0),
            "last": rfc3339(T0 + timedelta(minutes=2)),
            "minimum": 4.0,
            "maximum": 6.5,
            "lastValue": 5.0,
        },
        {
            "metric": "relative_humidity",
            "count": 2,
            "first": rfc3339(T0),
            "last": rfc3339(T0 + timedelta(minutes=1)),
            "minimum": 80.0,
            "maximum": 82.0,
            "lastValue": 82.0,
        },
    ]
    await store.rule(kind="no_data", intervalSeconds=60, intervals=5)
    data = await ingest_batch(store, minutes("air_temperature", [4.0], T0 + timedelta(minutes=3)))
    assert "readings" not in data  # a no-data rule reads only the newest reading


async def test_the_event_carries_every_reading_of_a_metric_a_threshold_rule_follows(
    store: Store,
) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=8.0, holdSeconds=600)
    store.clock.advance(timedelta(minutes=15))
    above = [9.0] * 10 + [9.5] + [4.0]  # above from minute 0; the 10th minute fires
    data = await ingest_batch(
        store, minutes("air_temperature", above) + minutes("relative_humidity", [70])
    )
    assert data["readings"]["metrics"] == ["air_temperature"] * 12
    assert data["readings"]["values"] == above
    await store.deliver()
    [alert] = await store.open_alerts()  # the hold is met inside one batch
    assert (alert["value"], alert["openedAt"]) == (9.5, (T0 + timedelta(minutes=10)).isoformat())


async def test_a_rule_added_after_the_batch_reads_its_newest_reading() -> None:
    store = Store()
    await store.device()
    store.clock.advance(timedelta(minutes=5))
    await ingest_batch(store, minutes("air_temperature", [9.0, 9.0, 9.2]))  # no rule yet
    await store.rule(kind="threshold", comparison="above", threshold=8.0, cooldownSeconds=0)
    await store.deliver()
    [alert] = await store.open_alerts()
    assert (alert["value"], alert["openedAt"]) == (9.2, (T0 + timedelta(minutes=2)).isoformat())


async def test_an_event_stored_before_the_summaries_is_still_evaluated(store: Store) -> None:
    await store.rule(kind="threshold", comparison="above", threshold=8.0, cooldownSeconds=0)
    legacy = {
        "deviceId": store.device_id,
        "stored": 1,
        "metrics": ["air_temperature"],
        "times": [T0.isoformat()],
        "values": [9.0],
    }
    event = DomainEvent("sensors.telemetry.received", ORG, store.device_id, legacy, occurred_at=T0)
    await store.evaluate(envelope_for(event, source="test"))
    [alert] = await store.open_alerts()
    assert alert["value"] == 9.0


async def test_a_batch_resent_after_its_answer_was_lost_fires_nothing_again(store: Store) -> None:
    """ADR 0367: domain-api killed after the batch's commit, before its answer: the device
    sends the same batch again. It stores nothing, but its event still carries the readings;
    evaluation skips readings at or before the last it saw, so no alert fires twice, even
    with no cooldown and a rate rule that would read the repeat as a jump."""
    await store.rule(kind="threshold", comparison="above", threshold=8.0, cooldownSeconds=0)
    await store.rule(kind="rate_of_change", maxChange=0.5, perSeconds=60, cooldownSeconds=0)
    body = {
        "readings": [
            {"metric": "air_temperature", "time": store.clock.now().isoformat(), "value": 2.0},
            {
                "metric": "air_temperature",
                "time": (store.clock.now() + timedelta(minutes=1)).isoformat(),
                "value": 9.0,
            },
        ]
    }
    first = await store.ingest(store.credential, json.dumps(body).encode())
    await store.deliver()
    assert len(await store.open_alerts()) == 2  # above 8, and a jump of 7 in a minute
    store.clock.advance(timedelta(seconds=90))
    again = await store.ingest(store.credential, json.dumps(body).encode())
    await store.deliver()
    assert (first["stored"], again["stored"], again["duplicates"]) == (2, 0, 2)
    assert len(await store.open_alerts()) == 2
    opened = [e for e in store.tables.events if e.type == "sensors.alert.opened"]
    assert len(opened) == 2


async def test_a_batch_evaluated_after_a_newer_one_fires_among_its_neighbours(
    store: Store,
) -> None:
    """ADR 0380: the older batch's event reaches evaluation after the newer one's (a replayed
    dead letter, a redelivery after a crash). Its breach fires, its jump is judged against
    the readings beside it in time, and delivering it again opens nothing more."""
    await store.rule(kind="threshold", comparison="above", threshold=8.0, cooldownSeconds=0)
    await store.rule(kind="rate_of_change", maxChange=3.0, perSeconds=60, cooldownSeconds=0)

    def batch(first_minute: int, values: list[float]) -> bytes:
        times = [T0 + timedelta(minutes=first_minute + i) for i in range(len(values))]
        items = [
            {"metric": "air_temperature", "time": at.isoformat(), "value": value}
            for at, value in zip(times, values, strict=True)
        ]
        return json.dumps({"readings": items}).encode()

    for body in (batch(0, [2.0, 2.0]), batch(2, [9.0]), batch(3, [2.5, 2.5])):
        await store.ingest(store.credential, body)
    older, late, newer = [envelope_for(e, source="test") for e in store.tables.events[-3:]]
    for event in (older, newer, late, late):
        await store.evaluate(event)
    alerts = sorted((a["kind"], a["openedAt"]) for a in await store.open_alerts())
    minute = [(T0 + timedelta(minutes=m)).isoformat() for m in (2, 3)]
    assert alerts == [
        ("rate_of_change", minute[0]),  # 2 -> 9 in the minute before it
        ("rate_of_change", minute[1]),  # 9 -> 2.5 in the minute after it
        ("threshold", minute[0]),
    ]
