"""The enrolment state machine and batch rules, through the use cases with the in-memory fake."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from bijmantra.application.sensors import (
    DeviceEnrolment,
    IngestTelemetry,
    ReadHistory,
    ReleaseEdgeShare,
)
from bijmantra.application.sensors.documents import (
    ClaimCodeDocument,
    ClaimedDocument,
    DeviceDocument,
    HistoryDocument,
    IngestReport,
    ProfileDocument,
)
from bijmantra.domain.sensors import CLAIM_CODE_TTL, COMMISSION_WINDOW
from bijmantra.kernel import (
    Conflict,
    Forbidden,
    Gone,
    Malformed,
    NotFound,
    PageRequest,
    Principal,
    TenantId,
    Unauthorized,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.sensors import SensorTables, SettableClock, fake_sensors_unit_of_work_factory

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ORG = TenantId(uuid.uuid4())
OTHER = TenantId(uuid.uuid4())
MANAGER = Principal("manager", ORG, frozenset({"data-manager"}))
PROFILE = {
    "name": "weather station",
    "metrics": [
        {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70},
        {"name": "rainfall", "unit": "mm", "minimum": 0, "maximum": 500},
    ],
}


class World:
    def __init__(self) -> None:
        self.tables = SensorTables()
        self.clock = SettableClock(T0)
        uow = fake_sensors_unit_of_work_factory(self.tables)
        self.enrolment = DeviceEnrolment(uow, self.clock)
        self.ingest = IngestTelemetry(uow, self.clock)
        self.history = ReadHistory(uow)
        self.profile_id: str | None = None
        self.tables.place(ORG, "location", "loc-1")

    async def registered(self, principal: Principal = MANAGER, **placement: str) -> str:
        if self.profile_id is None:
            profile = await self.enrolment.create_profile(MANAGER, json.dumps(PROFILE).encode())
            self.profile_id = profile["profileId"]
        body = {"name": "ws-1", "profileId": self.profile_id, "locationDbId": "loc-1", **placement}
        device = await self.enrolment.register(principal, json.dumps(body).encode())
        return str(device["deviceId"])

    async def claim(self, code: str) -> str:
        reply = await self.enrolment.claim(json.dumps({"claimCode": code}).encode())
        return str(reply["credential"])

    async def claimed(self) -> tuple[str, str]:
        device_id = await self.registered()
        code = (await self.enrolment.issue_claim(MANAGER, device_id))["claimCode"]
        return device_id, await self.claim(code)

    async def send(self, credential: str, readings: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.ingest(credential, json.dumps({"readings": readings}).encode())


def reading(minutes: int, value: float = 20.0, metric: str = "air_temperature") -> dict[str, Any]:
    return {"metric": metric, "time": (T0 - timedelta(minutes=minutes)).isoformat(), "value": value}


def state(world: World, device_id: str) -> str:
    return world.tables.devices[(ORG, device_id)].state.value


async def test_four_steps_in_order_end_commissioned_by_the_first_valid_reading() -> None:
    world = World()
    device_id = await world.registered()
    assert state(world, device_id) == "registered"
    code = (await world.enrolment.issue_claim(MANAGER, device_id))["claimCode"]
    assert state(world, device_id) == "claim_issued"
    credential = await world.claim(code)
    assert state(world, device_id) == "claimed"
    stored = world.tables.devices[(ORG, device_id)]
    assert credential.split(".")[-1] not in repr(stored)  # only the hash is kept
    assert code.split(".")[-1] not in repr(stored)
    with pytest.raises(Unprocessable):  # a batch of bad readings commissions nothing
        await world.send(credential, [reading(1, 999.0)])
    assert state(world, device_id) == "claimed"
    await world.send(credential, [reading(1)])
    assert state(world, device_id) == "commissioned"
    types = [e.type for e in world.tables.events]
    assert types == [
        "sensors.profile.created",
        "sensors.device.registered",
        "sensors.device.claim_issued",
        "sensors.device.claimed",
        "sensors.device.commissioned",
        "sensors.telemetry.received",
    ]


async def test_every_out_of_order_step_is_a_conflict() -> None:
    world = World()
    device_id = await world.registered()
    forged = f"bjc.{ORG}.{device_id}.guess"
    with pytest.raises(Conflict):  # claim before any code was issued
        await world.claim(forged)
    with pytest.raises(Unauthorized):  # readings before a credential exists
        await world.send(f"bjd.{ORG}.{device_id}.guess", [reading(1)])
    device_id, credential = await world.claimed()
    with pytest.raises(Conflict):  # a claimed device gets no new claim code
        await world.enrolment.issue_claim(MANAGER, device_id)
    await world.send(credential, [reading(1)])
    with pytest.raises(Conflict):  # nor does a commissioned one
        await world.enrolment.issue_claim(MANAGER, device_id)
    await world.enrolment.revoke(MANAGER, device_id)
    with pytest.raises(Conflict):
        await world.enrolment.revoke(MANAGER, device_id)
    with pytest.raises(Conflict):  # a revoked device cannot be claimed again
        await world.enrolment.issue_claim(MANAGER, device_id)


async def test_a_claim_code_works_once_and_a_reissued_code_replaces_the_old_one() -> None:
    world = World()
    device_id = await world.registered()
    first = (await world.enrolment.issue_claim(MANAGER, device_id))["claimCode"]
    second = (await world.enrolment.issue_claim(MANAGER, device_id))["claimCode"]
    with pytest.raises(Conflict):
        await world.claim(first)
    await world.claim(second)
    with pytest.raises(Conflict):  # reused
        await world.claim(second)


async def test_an_expired_claim_code_is_gone_and_a_late_first_reading_too() -> None:
    world = World()
    device_id = await world.registered()
    code = (await world.enrolment.issue_claim(MANAGER, device_id))["claimCode"]
    world.clock.advance(CLAIM_CODE_TTL)
    with pytest.raises(Gone):
        await world.claim(code)
    assert state(world, device_id) == "claim_issued"  # nothing changed
    code = (await world.enrolment.issue_claim(MANAGER, device_id))["claimCode"]
    credential = await world.claim(code)
    world.clock.advance(COMMISSION_WINDOW)
    with pytest.raises(Gone) as late:
        await world.send(credential, [reading(1)])
    assert state(world, device_id) == "claimed"
    # What the refusal advises can be done (ADR 0365): it said "issue a new claim code", which
    # a claimed device is refused (409), so an operator followed it into a conflict.
    assert "revoke the device and register it again" in late.value.message
    with pytest.raises(Conflict):
        await world.enrolment.issue_claim(MANAGER, device_id)
    await world.enrolment.revoke(MANAGER, device_id)


async def test_revoking_stops_the_credential_at_once() -> None:
    world = World()
    device_id, credential = await world.claimed()
    await world.send(credential, [reading(1)])
    await world.enrolment.revoke(MANAGER, device_id)
    with pytest.raises(Unauthorized):
        await world.send(credential, [reading(2)])
    # An MQTT connection opened before the revocation: its next batch is refused too.
    batch = json.dumps({"readings": [reading(3)]}).encode()
    with pytest.raises(Unauthorized):
        await world.ingest.from_connected_device(ORG, device_id, batch)
    assert len(world.tables.readings) == 1


@pytest.mark.parametrize(
    "presented",
    ["", "bjd", "bjc.x.y.z", f"bjd.{ORG}.not-a-uuid.s", "bjd.not-a-tenant.x.s", "x" * 500],
)
async def test_malformed_credentials_are_unauthorized(presented: str) -> None:
    world = World()
    with pytest.raises(Unauthorized):
        await world.send(presented, [reading(1)])


async def test_a_wrong_credential_is_refused_before_its_body_is_read() -> None:
    """401, not the 400 the unreadable body would earn: nothing of the body is decoded for a
    caller who is not the device."""
    world = World()
    device_id, _ = await world.claimed()
    with pytest.raises(Unauthorized):
        await world.ingest(f"bjd.{ORG}.{device_id}.wrong-secret", b"{not json")


async def test_a_credential_of_one_device_cannot_be_bent_to_another() -> None:
    world = World()
    device_a, credential_a = await world.claimed()
    device_b, _ = await world.claimed()
    secret = credential_a.split(".")[-1]
    with pytest.raises(Unauthorized):
        await world.send(f"bjd.{ORG}.{device_b}.{secret}", [reading(1)])
    with pytest.raises(Unauthorized):  # the same device id under another organization
        await world.send(f"bjd.{OTHER}.{device_a}.{secret}", [reading(1)])


async def test_another_organization_and_a_lower_role_are_refused() -> None:
    world = World()
    device_id = await world.registered()
    stranger = Principal("x", OTHER, frozenset({"admin"}))
    with pytest.raises(NotFound):
        await world.enrolment.issue_claim(stranger, device_id)
    with pytest.raises(NotFound):
        await world.enrolment.get(stranger, device_id)
    breeder = Principal("b", ORG, frozenset({"breeder"}))
    with pytest.raises(Forbidden):
        await world.enrolment.issue_claim(breeder, device_id)
    with pytest.raises(Forbidden):
        await world.registered(breeder)
    assert (await world.enrolment.get(breeder, device_id))["state"] == "registered"


async def test_a_device_is_placed_only_at_the_organizations_own_location_and_study() -> None:
    """An unknown or another organization's location or study is a 422 naming the field (ADR
    0325); nothing is stored. Before, any text was kept, and the study's environment read it."""
    world = World()
    world.tables.place(OTHER, "location", "theirs")
    world.tables.place(OTHER, "study", "their-study")
    study = world.tables.place(ORG, "study", "trial-1")
    refusals = [
        ({"locationDbId": "nowhere"}, ["locationDbId"]),
        ({"locationDbId": "theirs"}, ["locationDbId"]),
        ({"studyDbId": "their-study"}, ["studyDbId"]),
        ({"locationDbId": "theirs", "studyDbId": "nope"}, ["locationDbId", "studyDbId"]),
        ({"studyDbId": "loc-1"}, ["studyDbId"]),  # a location's id is not a study's
    ]
    for placement, fields in refusals:
        with pytest.raises(Unprocessable) as refused:
            await world.registered(**placement)
        assert [e.location for e in refused.value.details] == fields, placement
    # Only the profile the first attempt set up (its own write) left an event.
    events = [e.type for e in world.tables.events]
    assert (world.tables.devices, events) == ({}, ["sensors.profile.created"])
    device_id = await world.registered(studyDbId=study)
    placed = await world.enrolment.get(MANAGER, device_id)
    assert (placed["locationDbId"], placed["studyDbId"]) == ("loc-1", "trial-1")


async def test_a_resent_batch_is_stored_once() -> None:
    world = World()
    _, credential = await world.claimed()
    batch = [reading(m, 10.0 + m) for m in range(1, 31)]
    first = await world.send(credential, batch)
    again = await world.send(credential, batch)
    assert (first["stored"], first["duplicates"]) == (30, 0)
    assert (again["stored"], again["duplicates"]) == (0, 30)
    assert len(world.tables.readings) == 30
    day = next(b for k, b in world.tables.rollups.items() if k[3] == "1d")
    assert day.count == 30


async def test_a_reading_repeated_within_a_batch_is_stored_once_and_counted_a_duplicate() -> None:
    """Every item is accounted for: accepted (stored or duplicate) or rejected by index."""
    world = World()
    _, credential = await world.claimed()
    reply = await world.send(credential, [reading(5, 1.0), reading(5, 2.0), reading(6, 3.0)])
    assert (reply["accepted"], reply["stored"], reply["duplicates"]) == (3, 2, 1)
    assert sorted(world.tables.readings.values()) == [1.0, 3.0]  # the first value wins


async def test_a_mixed_batch_stores_exactly_the_good_items_and_names_each_bad_one() -> None:
    world = World()
    _, credential = await world.claimed()
    batch: list[Any] = [
        reading(1, 21.5),
        reading(2, 71.0),  # out of range
        {"metric": "co2", "time": T0.isoformat(), "value": 400},  # unknown metric
        reading(-60),  # an hour in the future
        reading(60 * 24 * 500),  # beyond retention
        {"metric": "air_temperature", "value": 3},  # no time
        "not an object",
        {"metric": "rainfall", "time": "2026-06-01T11:00:00", "value": 1.0},  # no offset
        reading(3, 0.0, "rainfall"),
    ]
    reply = await world.send(credential, batch)
    assert reply["accepted"] == 2
    assert [r["index"] for r in reply["rejected"]] == [1, 2, 3, 4, 5, 6, 7]
    reasons = {r["index"]: r["reason"] for r in reply["rejected"]}
    assert "outside" in reasons[1]
    assert "unknown metric" in reasons[2]
    assert "future" in reasons[3]
    assert "retention" in reasons[4]
    assert "malformed" in reasons[5]
    assert "offset" in reasons[7]
    assert sorted(k[2] for k in world.tables.readings) == ["air_temperature", "rainfall"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", Malformed),
        (b"{", Malformed),
        (b"[]", ValidationFailed),
        (b'{"readings": 3}', ValidationFailed),
        (json.dumps({"readings": []}).encode(), ValidationFailed),
        # nested past the decoder's depth inside an item (a RecursionError, 500, before)
        (b'{"readings": [{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}", Malformed),
    ],
)
async def test_a_malformed_or_empty_batch_changes_nothing(
    body: bytes, error: type[Exception]
) -> None:
    world = World()
    _, credential = await world.claimed()
    with pytest.raises(error):
        await world.ingest(credential, body)
    assert world.tables.readings == {}


async def test_an_item_that_is_not_utf8_is_named_and_the_good_ones_stored() -> None:
    world = World()
    _, credential = await world.claimed()
    good = json.dumps(reading(1)).encode()
    body = b'{"readings": [' + good + b', {"metric": "air_\xff", "value": 1}]}'
    reply = await world.ingest(credential, body)  # a UnicodeDecodeError (500) before
    assert reply["accepted"] == 1
    [rejected] = reply["rejected"]
    assert (rejected["index"], "UTF-8" in rejected["reason"]) == (1, True)


@pytest.mark.parametrize(
    ("start", "end", "resolution"),
    [
        ("9999-12-30T00:00:00+00:00", "9999-12-31T23:59:59+00:00", "1d"),  # past the calendar
        ("9999-12-31T00:00:00+00:00", "9999-12-31T23:59:59-14:00", "1h"),
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00+00:00", "1d"),  # before year 1 in UTC
        ("0001-01-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00", "raw"),
        ("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "raw"),  # empty
        ("2026-01-02T00:00:00+00:00", "2026-01-01T00:00:00+00:00", "1h"),  # reversed
        ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "5m"),
        ("2026-01-01", "2026-01-02", "1h"),  # no offset
        ("", "", "raw"),
    ],
)
async def test_an_absurd_history_window_is_refused(start: str, end: str, resolution: str) -> None:
    world = World()
    device_id, _ = await world.claimed()
    with pytest.raises(ValidationFailed):  # OverflowError (500) for the first three before
        await world.history(MANAGER, device_id, "air_temperature", start, end, resolution)


async def test_a_batch_over_ten_thousand_is_refused_whole() -> None:
    world = World()
    _, credential = await world.claimed()
    with pytest.raises(ValidationFailed):
        await world.send(credential, [reading(1)] * 10_001)
    assert world.tables.readings == {}


async def test_history_shows_gaps_as_gaps() -> None:
    world = World()
    device_id, credential = await world.claimed()
    await world.send(credential, [reading(m) for m in (5, 10, 11, 50)])
    start, end = (T0 - timedelta(hours=1)).isoformat(), T0.isoformat()
    found = await world.history(MANAGER, device_id, "air_temperature", start, end, "1m")
    history = msgspec.json.decode(msgspec.json.encode(found))  # as the servicer sends it
    assert len(history["points"]) == 60
    counts = [p["count"] for p in history["points"]]
    assert sum(counts) == 4
    assert counts.count(0) == 56
    gap = next(p for p in history["points"] if p["count"] == 0)
    assert gap["mean"] is None
    with pytest.raises(ValidationFailed):  # 10,000 buckets at most
        await world.history(MANAGER, device_id, "air_temperature", "2020-01-01T00:00Z", end, "1m")
    with pytest.raises(ValidationFailed):
        await world.history(MANAGER, device_id, "co2", start, end, "1h")


async def test_every_answer_is_the_document_the_contract_publishes() -> None:
    """The structs in ``sensors.documents`` are what ``/openapi.json`` describes; each answer
    must decode strictly into its struct (a missing, extra or mistyped field fails)."""
    world = World()
    device_id = await world.registered()
    [profile] = await world.enrolment.profiles(MANAGER)
    answers_as(profile, ProfileDocument)
    answers_as(await world.enrolment.get(MANAGER, device_id), DeviceDocument)
    issued = answers_as(await world.enrolment.issue_claim(MANAGER, device_id), ClaimCodeDocument)
    claim = json.dumps({"claimCode": issued.claim_code}).encode()
    credential = answers_as(await world.enrolment.claim(claim), ClaimedDocument).credential
    report = await world.send(credential, [reading(5), reading(6, 99.0)])
    assert answers_as(report, IngestReport).rejected[0].index == 1
    [listed] = (await world.enrolment.list(MANAGER, PageRequest(0, 10))).items
    assert answers_as(listed, DeviceDocument).last_seen_at is not None
    start, end = (T0 - timedelta(hours=1)).isoformat(), T0.isoformat()
    for resolution in ("raw", "1m"):
        found = await world.history(MANAGER, device_id, "air_temperature", start, end, resolution)
        assert answers_as(found, HistoryDocument).points
    answers_as(await world.enrolment.revoke(MANAGER, device_id), DeviceDocument)
    with pytest.raises(msgspec.ValidationError):  # the check can fail
        answers_as({**listed, "surprise": 1}, DeviceDocument)


async def test_an_organizations_edge_share_is_released_only_when_no_device_can_connect() -> None:
    """A claimed device keeps its organization's share (``release`` is not run); a device
    only registered does not; once the claimed one is revoked, ``release`` runs and its
    answer is the use case's."""
    world = World()
    share = ReleaseEdgeShare(fake_sensors_unit_of_work_factory(world.tables))
    released: list[str] = []

    async def release() -> bool:
        released.append("ran")
        return True

    claimed, _ = await world.claimed()
    await world.registered()
    assert await share(ORG, release) is False
    assert released == []
    await world.enrolment.revoke(MANAGER, claimed)
    assert await share(ORG, release) is True
    assert released == ["ran"]
