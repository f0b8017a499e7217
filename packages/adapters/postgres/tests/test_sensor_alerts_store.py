"""Alert rules and alerts (domain-api's role) and the analytics-worker's evaluation state (its
role) in real PostgreSQL: evaluation end to end, the cross-tenant due read (checks role),
redelivery, presence, and row-level security."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.sensor_evaluation import (
    PostgresDueChecks,
    PostgresEvaluationState,
)
from bijmantra.application.events.envelope import EventEnvelope, decode_envelope
from bijmantra.application.sensors import (
    AlertInbox,
    AlertRules,
    DeviceEnrolment,
    IngestTelemetry,
)
from bijmantra.application.sensors import alerts as alert_rules
from bijmantra.application.sensors import enrolment as enrolment_rules
from bijmantra.application.sensors.evaluation import CheckSilences, EvaluateTelemetry
from bijmantra.application.sensors.worker_calls import SensorsWorkerCalls, firings_body
from bijmantra.domain.sensors import Firing, RuleKind
from bijmantra.kernel import NotFound, PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.sensor_evaluation import InProcessSensorsDomain
from bijmantra.testkit.sensors import SettableClock, place_to_put_devices
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
OFFLINE_AFTER = timedelta(minutes=10)
PROFILE = {
    "name": "freezer",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


@pytest.fixture(scope="module")
async def worker_engine(database: ProvisionedDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database.analytics_url, pool_size=2)
    yield engine
    await engine.dispose()


def worker_of(tenant: TenantId) -> Principal:
    return Principal("analytics-worker", tenant, frozenset({"analysis-worker"}))


async def _claimed_device(enrolment: DeviceEnrolment, manager: Principal) -> tuple[str, str]:
    """A freezer's logger, registered and claimed: its id and its credential."""
    profile = await enrolment.create_profile(manager, json.dumps(PROFILE).encode())
    store = await place_to_put_devices(
        enrolment.uow, manager.tenant_id, "location", uuid.uuid4().hex
    )
    body = {"name": "f", "profileId": profile["profileId"], "locationDbId": store}
    device_id = (await enrolment.register(manager, json.dumps(body).encode()))["deviceId"]
    code = (await enrolment.issue_claim(manager, device_id))["claimCode"]
    credential = (await enrolment.claim(json.dumps({"claimCode": code}).encode()))["credential"]
    return device_id, credential


async def test_alerts_open_from_events_and_silences_and_stay_in_their_organization(
    engine: AsyncEngine, worker_engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m", tenant, frozenset({"data-manager"}))
    clock = SettableClock(NOW)
    uow = unit_of_work_factory(engine, source="test")
    enrolment = DeviceEnrolment(uow, clock)
    device_id, credential = await _claimed_device(enrolment, manager)
    rules = AlertRules(uow)
    for rule in (
        {"kind": "threshold", "comparison": "above", "threshold": -15, "profileId": None},
        {"kind": "no_data", "intervalSeconds": 60, "intervals": 5},
    ):
        rule_body = {"name": "r", "metric": "air_temperature", "deviceId": device_id, **rule}
        await rules.create(manager, json.dumps({k: v for k, v in rule_body.items() if v}).encode())
    ingest = IngestTelemetry(uow, clock)

    async def reading_at(at: datetime) -> EventEnvelope:
        """A reading stored at ``at``, and the telemetry event domain-api wrote for it, as
        the relay will read it from the outbox."""
        reading = {"metric": "air_temperature", "time": at.isoformat(), "value": -2.0}
        await ingest(credential, json.dumps({"readings": [reading]}).encode())
        with psycopg.connect(database.owner_url) as conn:
            row = conn.execute(
                "SELECT envelope FROM domain.outbox WHERE tenant_id = %s "
                "AND type = 'sensors.telemetry.received' ORDER BY seq DESC LIMIT 1",
                (tenant,),
            ).fetchone()
        assert row is not None
        return decode_envelope(bytes(row[0]))

    event = await reading_at(NOW)
    # The threshold rule follows air_temperature: its readings travel in full (ADR 0304).
    assert event.data["readings"]["values"] == [-2.0]
    assert [s["lastValue"] for s in event.data["series"]] == [-2.0]

    def state(tenant: TenantId) -> PostgresEvaluationState:
        return PostgresEvaluationState(worker_engine, tenant)

    domain = InProcessSensorsDomain(SensorsWorkerCalls(uow))
    evaluate = EvaluateTelemetry(state, domain, offline_after=OFFLINE_AFTER)
    await evaluate(event)
    await evaluate(event)  # redelivered: the worker's inbox knows it
    with psycopg.connect(database.owner_url) as conn:  # the worker died before its commit
        conn.execute("DELETE FROM analytics.processed_events WHERE tenant_id = %s", (tenant,))
        conn.execute("DELETE FROM analytics.sensor_watches WHERE tenant_id = %s", (tenant,))
    await evaluate(event)  # evaluated again: the same alert id, stored once
    inbox = AlertInbox(uow, clock)
    opened = (await inbox.list(manager, PageRequest(0, 10), "open")).items
    assert [a["kind"] for a in opened] == ["threshold"]
    due = PostgresDueChecks(worker_engine)
    silences = CheckSilences(state, due, domain, clock, offline_after=OFFLINE_AFTER)
    clock.advance(timedelta(minutes=4))
    assert await silences() == 0
    clock.advance(timedelta(minutes=1))
    watches = await due.due_watches(clock.now(), 100)
    assert (tenant, device_id) in {(t, d) for t, _, d in watches}
    assert await silences() >= 1
    kinds = sorted(a["kind"] for a in (await inbox.list(manager, PageRequest(0, 10), "")).items)
    assert kinds == ["no_data", "threshold"]
    stranger = Principal("x", TenantId(uuid.uuid4()), frozenset({"admin"}))
    assert (await inbox.list(stranger, PageRequest(0, 10), "")).items == []
    with pytest.raises(NotFound):
        await inbox.acknowledge(stranger, opened[0]["alertId"])
    async with state(stranger.tenant_id) as theirs:  # row-level security on the worker's rows
        assert (await theirs.presence(device_id)).last_seen_at is None
    async with state(tenant) as mine:
        assert (await mine.presence(device_id)).last_seen_at == NOW
    clock.advance(timedelta(minutes=5))  # 10 minutes silent: offline, reported once
    assert (tenant, device_id) in await due.due_presences(clock.now(), 100)
    await silences()
    await silences()
    with psycopg.connect(database.owner_url) as conn:
        reports = conn.execute(
            "SELECT count(*) FROM domain.processed_events WHERE tenant_id = %s "
            "AND event_type = 'sensors.device.offline'",
            (tenant,),
        ).fetchone()
    assert reports == (1,)
    assert (await enrolment.get(manager, device_id))["status"] == "offline"  # as /ws said
    await evaluate(await reading_at(clock.now()))
    assert (await enrolment.get(manager, device_id))["status"] == "online"


async def test_two_replicas_opening_one_pair_at_once_open_one_alert(engine: AsyncEngine) -> None:
    """Both replicas' watches of a new rule/device pair are empty, so both fire; the pair's
    lock where alerts are opened keeps the rule's cooldown (an hour) between them."""
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m", tenant, frozenset({"data-manager"}))
    worker = worker_of(tenant)
    uow = unit_of_work_factory(engine, source="test")
    device_id, _ = await _claimed_device(DeviceEnrolment(uow, SettableClock(NOW)), manager)
    rule = {"name": "warm", "metric": "air_temperature", "kind": "threshold"}
    rule |= {"comparison": "above", "threshold": 8, "deviceId": device_id}
    rule_id = (await AlertRules(uow).create(manager, json.dumps(rule).encode()))["ruleId"]
    calls = SensorsWorkerCalls(uow)
    for round_ in range(3):
        bodies = [
            firings_body(
                tenant,
                [
                    Firing(
                        rule_id,
                        device_id,
                        "air_temperature",
                        RuleKind.THRESHOLD,
                        NOW + timedelta(hours=2 * round_, minutes=minutes),
                        9.0,
                        "warm",
                    )
                ],
            )
            for minutes in (0, 1)
        ]
        answers = await asyncio.gather(*(calls.standing_alerts(worker, body) for body in bodies))
        assert sorted(a.opened for a in answers) == [0, 1]
    inbox = AlertInbox(uow, SettableClock(NOW))
    assert (await inbox.list(manager, PageRequest(0, 10), "")).total_count == 3


async def _four_at_once_with_room_for_one(
    create: Callable[[str], Awaitable[object]], listed: Callable[[], Awaitable[list[Any]]]
) -> None:
    """Creations that each count and then add take turns on the organization's rows, so four
    at once with room for one (the bound is 2, one exists) store one: each counted before any
    committed would store four."""
    await create("first")
    await asyncio.gather(*(listed() for _ in range(4)))  # four pooled connections
    created = await asyncio.gather(*(create(f"r{n}") for n in range(4)), return_exceptions=True)
    refused = [c for c in created if isinstance(c, ValidationFailed)]
    assert (len(created) - len(refused), len(refused)) == (1, 3)
    assert len(await listed()) == 2


async def test_concurrent_rule_creations_stop_at_the_organizations_bound(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(alert_rules, "MAX_RULES", 2)
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m", tenant, frozenset({"data-manager"}))
    uow = unit_of_work_factory(engine, source="test")
    device_id, _ = await _claimed_device(DeviceEnrolment(uow, SettableClock(NOW)), manager)
    rule = {"metric": "air_temperature", "kind": "threshold", "deviceId": device_id}
    rule |= {"comparison": "above", "threshold": 8}
    rules = AlertRules(uow)
    await _four_at_once_with_room_for_one(
        lambda name: rules.create(manager, json.dumps(rule | {"name": name}).encode()),
        lambda: rules.list(manager),
    )


async def test_concurrent_profile_creations_stop_at_the_organizations_bound(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enrolment_rules, "MAX_PROFILES", 2)
    manager = Principal("m", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    enrolment = DeviceEnrolment(unit_of_work_factory(engine, source="test"), SettableClock(NOW))
    await _four_at_once_with_room_for_one(
        lambda name: enrolment.create_profile(
            manager, json.dumps(PROFILE | {"name": name}).encode()
        ),
        lambda: enrolment.profiles(manager),
    )


async def test_a_batch_reads_the_metrics_its_device_and_profile_rules_follow(
    engine: AsyncEngine,
) -> None:
    """Read with the device row (ADR 0321): rules of the device or of its profile that read
    every reading; a no-data rule reads only the newest, so it follows nothing."""
    tenant = TenantId(uuid.uuid4())
    manager = Principal("m", tenant, frozenset({"data-manager"}))
    uow = unit_of_work_factory(engine, source="test")
    enrolment = DeviceEnrolment(uow)
    device_id, _ = await _claimed_device(enrolment, manager)
    profile_id = (await enrolment.profiles(manager))[0]["profileId"]

    async def followed() -> frozenset[str]:
        async with uow(tenant) as unit:
            found = await unit.sensors.device_for_batch(device_id)
        assert found is not None
        return found[2]

    rules = AlertRules(uow)
    assert await followed() == frozenset()
    silent = {"kind": "no_data", "intervalSeconds": 60, "intervals": 5, "deviceId": device_id}
    above = {"kind": "threshold", "comparison": "above", "threshold": 30, "profileId": profile_id}
    for rule, expected in ((silent, frozenset()), (above, frozenset({"air_temperature"}))):
        body = {"name": rule["kind"], "metric": "air_temperature", **rule}
        await rules.create(manager, json.dumps(body).encode())
        assert await followed() == expected
    async with uow(TenantId(uuid.uuid4())) as theirs:
        assert await theirs.sensors.device_for_batch(device_id) is None
