"""domain-api's side of the analytics-worker's sensors calls: rules of a device, alerts opened
once per derived id, presence reported once per report id, and nothing across organizations."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from bijmantra.application.sensors import AlertRules, DeviceEnrolment
from bijmantra.application.sensors.worker_calls import (
    SensorsWorkerCalls,
    firings_body,
    presence_report,
    readings_from_body,
)
from bijmantra.domain.sensors import Firing, RuleKind
from bijmantra.kernel import Forbidden, Principal, TenantId, ValidationFailed
from bijmantra.testkit.sensors import SensorTables, fake_sensors_unit_of_work_factory

T0 = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
PROFILE = {
    "name": "cold store",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


class Organization:
    def __init__(self, tables: SensorTables) -> None:
        self.tenant = TenantId(uuid.uuid4())
        self.manager = Principal("manager", self.tenant, frozenset({"data-manager"}))
        self.worker = Principal("analytics-worker", self.tenant, frozenset({"analysis-worker"}))
        self.tables = tables
        uow = fake_sensors_unit_of_work_factory(tables)
        self.enrolment, self.rules = DeviceEnrolment(uow), AlertRules(uow)
        self.calls = SensorsWorkerCalls(uow)

    async def device_with_rule(self) -> tuple[str, str]:
        profile = await self.enrolment.create_profile(self.manager, json.dumps(PROFILE).encode())
        store = self.tables.place(self.tenant, "location", "store")
        body = {"name": "logger", "profileId": profile["profileId"], "locationDbId": store}
        device = await self.enrolment.register(self.manager, json.dumps(body).encode())
        rule = {
            "name": "warm",
            "metric": "air_temperature",
            "kind": "threshold",
            "comparison": "above",
            "threshold": 8,
            "profileId": profile["profileId"],
        }
        created = await self.rules.create(self.manager, json.dumps(rule).encode())
        return device["deviceId"], created["ruleId"]

    def firings(self, device_id: str, rule_id: str, *values: float, at: datetime = T0) -> bytes:
        fired = [
            Firing(rule_id, device_id, "air_temperature", RuleKind.THRESHOLD, at, v, "warm")
            for v in values
        ]
        return firings_body(self.tenant, fired)


@pytest.fixture
def tables() -> SensorTables:
    return SensorTables()


async def test_a_firing_opens_one_alert_however_often_it_is_sent(tables: SensorTables) -> None:
    org = Organization(tables)
    device_id, rule_id = await org.device_with_rule()
    [rule] = await org.calls.rules_for_device(org.worker, device_id)
    assert rule["ruleId"] == rule_id  # a profile's rule watches each of its devices
    body = org.firings(device_id, rule_id, 9.0)
    assert (await org.calls.standing_alerts(org.worker, body)).opened == 1
    assert (await org.calls.standing_alerts(org.worker, body)).opened == 0
    assert [e.type for e in tables.events if e.type.startswith("sensors.alert.")] == [
        "sensors.alert.opened"
    ]


async def test_the_cooldown_holds_when_two_replicas_open_one_pair(tables: SensorTables) -> None:
    """Each replica's watch of a new rule/device pair is empty, so each fires; the alerts
    table is what both see, and it keeps the rule's cooldown (one hour by default)."""
    org = Organization(tables)
    device_id, rule_id = await org.device_with_rule()

    async def replica_opens(minutes: int) -> int:
        body = org.firings(device_id, rule_id, 9.0, at=T0 + timedelta(minutes=minutes))
        return (await org.calls.standing_alerts(org.worker, body)).opened

    assert await replica_opens(0) == 1
    assert await replica_opens(3) == 0  # the other replica, three minutes later
    assert await replica_opens(-3) == 0  # or an earlier reading, handled later
    assert await replica_opens(60) == 1  # the cooldown has passed
    opened = [e for e in tables.events if e.type == "sensors.alert.opened"]
    assert len(opened) == len(tables.alerts) == 2


async def test_the_answer_names_the_alerts_that_stand(tables: SensorTables) -> None:
    """ADR 0380: the worker keeps its watch's last firing from alerts that exist, so the
    answer names a firing opened now or before, and not one refused for the cooldown."""
    org = Organization(tables)
    device_id, rule_id = await org.device_with_rule()
    body = org.firings(device_id, rule_id, 9.0)
    first = await org.calls.standing_alerts(org.worker, body)
    again = await org.calls.standing_alerts(org.worker, body)
    refused = org.firings(device_id, rule_id, 9.5, at=T0 + timedelta(minutes=3))
    assert (first.opened, again.opened) == (1, 0)
    assert first.alert_ids == again.alert_ids == [next(iter(tables.alerts))[1]]
    assert (await org.calls.standing_alerts(org.worker, refused)).alert_ids == []


async def test_another_organization_sees_no_rules_and_opens_nothing(tables: SensorTables) -> None:
    owner, stranger = Organization(tables), Organization(tables)
    device_id, rule_id = await owner.device_with_rule()
    assert await stranger.calls.rules_for_device(stranger.worker, device_id) == []
    firings = stranger.firings(device_id, rule_id, 9.0)
    with pytest.raises(ValidationFailed):
        await stranger.calls.standing_alerts(stranger.worker, firings)
    forged = owner.firings(device_id, rule_id, 9.0).replace(b'"alertId":"', b'"alertId":"x')
    with pytest.raises(ValidationFailed):  # an id not derived from its firing
        await owner.calls.standing_alerts(owner.worker, forged)
    viewer = Principal("v", owner.tenant, frozenset({"viewer"}))
    with pytest.raises(Forbidden):  # a viewer is not the worker
        await owner.calls.standing_alerts(viewer, owner.firings(device_id, rule_id, 9.0))
    assert tables.alerts == {}


async def test_presence_is_reported_once_per_report(tables: SensorTables) -> None:
    org = Organization(tables)
    device_id, _ = await org.device_with_rule()
    report_id = str(uuid.uuid4())
    seen = (T0 - timedelta(minutes=20)).isoformat()
    report = presence_report(report_id, device_id, "offline", T0.isoformat(), seen)
    assert await org.calls.report_presence(org.worker, report)
    assert not await org.calls.report_presence(org.worker, report)
    [event] = [e for e in tables.events if e.type == "sensors.device.offline"]
    assert event.data == {
        "deviceId": device_id,
        "status": "offline",
        "at": T0.isoformat(),
        "lastSeenAt": seen,
    }
    for bad in (("x", "offline", T0.isoformat()), (report_id, "away", T0.isoformat())):
        with pytest.raises(ValidationFailed):
            presence_report(bad[0], device_id, bad[1], bad[2], "")
    with pytest.raises(ValidationFailed):  # a time without an offset
        presence_report(report_id, device_id, "online", "2026-01-15T02:00:00", "")


async def test_readings_around_a_window_reach_one_past_each_end_in_their_organization(
    tables: SensorTables,
) -> None:
    """What a late batch is judged among (ADR 0380); a window that is no window is a 422."""
    org = Organization(tables)
    device_id, _ = await org.device_with_rule()
    minute = [T0 + timedelta(minutes=m) for m in range(10)]
    for m, at in enumerate(minute):
        tables.readings[(org.tenant, device_id, "air_temperature", at)] = float(m)
    window = minute[3].isoformat(), minute[5].isoformat()
    found = await org.calls.readings_around(org.worker, device_id, "air_temperature", *window)
    assert readings_from_body(msgspec.json.encode(found)) == [(minute[m], m) for m in range(2, 7)]
    other = Organization(tables)
    nothing = await other.calls.readings_around(other.worker, device_id, "air_temperature", *window)
    assert nothing.times == []
    with pytest.raises(ValidationFailed):
        await org.calls.readings_around(org.worker, device_id, "air_temperature", "soon", "")
