"""Alert rules, watches and alerts in real PostgreSQL: evaluation through the store, the
cross-tenant silence schedule (scheduler role), and row-level security."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from bijmantra.adapters.postgres import unit_of_work_factory
from bijmantra.adapters.postgres.sensor_alerts import PostgresSilenceSchedule
from bijmantra.application.events import envelope_for
from bijmantra.application.sensors import (
    AlertInbox,
    AlertRules,
    CheckSilences,
    DeviceEnrolment,
    EvaluateTelemetry,
    IngestTelemetry,
)
from bijmantra.domain import DomainEvent
from bijmantra.kernel import NotFound, PageRequest, Principal, TenantId
from bijmantra.testkit.sensors import SettableClock
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
PROFILE = {
    "name": "freezer",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


async def test_alerts_open_from_events_and_silences_and_stay_in_their_organization(
    engine: AsyncEngine,
) -> None:
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m", tenant, frozenset({"data-manager"}))
    clock = SettableClock(NOW)
    uow = unit_of_work_factory(engine, source="test")
    enrolment = DeviceEnrolment(uow, clock)
    profile = await enrolment.create_profile(manager, json.dumps(PROFILE).encode())
    body = {"name": "f", "profileId": profile["profileId"], "locationDbId": "store"}
    device_id = (await enrolment.register(manager, json.dumps(body).encode()))["deviceId"]
    code = (await enrolment.issue_claim(manager, device_id))["claimCode"]
    credential = (await enrolment.claim(json.dumps({"claimCode": code}).encode()))["credential"]
    rules = AlertRules(uow)
    for rule in (
        {"kind": "threshold", "comparison": "above", "threshold": -15, "profileId": None},
        {"kind": "no_data", "intervalSeconds": 60, "intervals": 5},
    ):
        rule_body = {"name": "r", "metric": "air_temperature", "deviceId": device_id, **rule}
        await rules.create(manager, json.dumps({k: v for k, v in rule_body.items() if v}).encode())
    reading = {"metric": "air_temperature", "time": NOW.isoformat(), "value": -2.0}
    await IngestTelemetry(uow, clock)(credential, json.dumps({"readings": [reading]}).encode())
    data = {
        "deviceId": device_id,
        "metrics": ["air_temperature"],
        "times": [NOW.isoformat()],
        "values": [-2.0],
    }
    event = envelope_for(
        DomainEvent("sensors.telemetry.received", tenant, device_id, data, occurred_at=NOW),
        source="test",
    )
    evaluate = EvaluateTelemetry(uow)
    await evaluate(event)
    await evaluate(event)  # redelivered: nothing new
    inbox = AlertInbox(uow, clock)
    opened = (await inbox.list(manager, PageRequest(0, 10), "open")).items
    assert [a["kind"] for a in opened] == ["threshold"]
    schedule = PostgresSilenceSchedule(engine)
    silences = CheckSilences(uow, schedule, clock)
    clock.advance(timedelta(minutes=4))
    assert await silences() == 0
    clock.advance(timedelta(minutes=1))
    due = await schedule.due(clock.now(), 100)
    assert (tenant, device_id) in {(t, d) for t, _, d in due}
    assert await silences() >= 1
    kinds = sorted(a["kind"] for a in (await inbox.list(manager, PageRequest(0, 10), "")).items)
    assert kinds == ["no_data", "threshold"]
    stranger = Principal("x", TenantId(uuid.uuid4()), frozenset({"admin"}))
    assert (await inbox.list(stranger, PageRequest(0, 10), "")).items == []
    with pytest.raises(NotFound):
        await inbox.acknowledge(stranger, opened[0]["alertId"])
