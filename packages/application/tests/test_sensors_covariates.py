"""A study's environment: daily temperature, growing degree days and rainfall from its devices."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime

import pytest
from bijmantra.application.sensors import (
    DeviceEnrolment,
    IngestTelemetry,
    StudyEnvironment,
    StudyPlace,
)
from bijmantra.application.sensors.documents import EnvironmentDocument
from bijmantra.domain.sensors import growing_degree_days
from bijmantra.kernel import NotFound, Principal, TenantId, ValidationFailed
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.sensors import SensorTables, SettableClock, fake_sensors_unit_of_work_factory
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
ORG = TenantId(uuid.uuid4())
MANAGER = Principal("m", ORG, frozenset({"data-manager"}))
PROFILE = {
    "name": "station",
    "metrics": [
        {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70},
        {"name": "rainfall", "unit": "mm", "minimum": 0, "maximum": 500},
    ],
}


class Places:
    async def __call__(self, principal: Principal, study_db_id: str) -> StudyPlace:
        if study_db_id != "study-1":
            raise NotFound("no such study")
        return StudyPlace("field-7", date(2026, 6, 1), date(2026, 6, 5))


async def device(enrolment: DeviceEnrolment, profile_id: str, **placement: str) -> str:
    body = {"name": "ws", "profileId": profile_id, **placement}
    device_id = (await enrolment.register(MANAGER, json.dumps(body).encode()))["deviceId"]
    code = (await enrolment.issue_claim(MANAGER, device_id))["claimCode"]
    claimed = await enrolment.claim(json.dumps({"claimCode": code}).encode())
    return str(claimed["credential"])


def at(day: int, hour: int) -> str:
    return datetime(2026, 6, day, hour, tzinfo=UTC).isoformat()


async def test_daily_environment_from_the_devices_in_the_study_or_at_its_location() -> None:
    tables = SensorTables()
    uow = fake_sensors_unit_of_work_factory(tables)
    clock = SettableClock(T0)
    enrolment, ingest = DeviceEnrolment(uow, clock), IngestTelemetry(uow, clock)
    profile = await enrolment.create_profile(MANAGER, json.dumps(PROFILE).encode())
    for entity, db_id in [("location", p) for p in ("x", "field-7", "field-9")] + [
        ("study", "study-1")
    ]:
        tables.place(MANAGER.tenant_id, entity, db_id)
    in_study = await device(enrolment, profile["profileId"], locationDbId="x", studyDbId="study-1")
    at_site = await device(enrolment, profile["profileId"], locationDbId="field-7")
    elsewhere = await device(enrolment, profile["profileId"], locationDbId="field-9")
    readings = {
        in_study: [
            ("air_temperature", 1, 6, 12.0),
            ("air_temperature", 1, 14, 24.0),
            ("rainfall", 1, 8, 3.0),
            ("rainfall", 3, 8, 2.0),
        ],
        at_site: [
            ("air_temperature", 1, 10, 16.0),
            ("air_temperature", 3, 12, 8.0),
            ("rainfall", 3, 9, 0.5),
        ],
        elsewhere: [("air_temperature", 1, 12, 60.0), ("rainfall", 1, 12, 100.0)],
    }
    for credential, items in readings.items():
        body = {"readings": [{"metric": m, "time": at(d, h), "value": v} for m, d, h, v in items]}
        await ingest(credential, json.dumps(body).encode())
    environment = StudyEnvironment(uow, Places())
    result = await environment(MANAGER, "study-1", "", "", "10")
    assert answers_as(result, EnvironmentDocument).gdd_base == 10  # the published document
    days = {d["date"]: d for d in result["days"]}
    assert list(days) == [f"2026-06-0{i}" for i in range(1, 6)]  # the study's own dates
    first = days["2026-06-01"]
    assert (first["tMin"], first["tMax"], first["tMean"]) == (12.0, 24.0, pytest.approx(52 / 3))
    assert first["gdd"] == pytest.approx(8.0)  # (24 + 12) / 2 - 10
    assert first["rainfall"] == 3.0
    assert days["2026-06-02"]["gdd"] is None  # no data: a gap, nothing added
    assert days["2026-06-03"]["gdd"] == 0.0  # (8 + 8) / 2 < 10
    assert days["2026-06-05"]["cumulativeGdd"] == pytest.approx(8.0)
    assert days["2026-06-05"]["cumulativeRainfall"] == pytest.approx(5.5)
    warmer = await environment(MANAGER, "study-1", "2026-06-01", "2026-06-01", "5")
    assert warmer["days"][0]["gdd"] == pytest.approx(13.0)
    with pytest.raises(ValidationFailed):
        await environment(MANAGER, "study-1", "2026-06-05", "2026-06-01", "")
    for base in ("warm", "nan", "inf", "-inf", "1e300"):  # no base a day could be measured by
        with pytest.raises(ValidationFailed):
            await environment(MANAGER, "study-1", "", "", base)
    for start, end in (("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02")):
        with pytest.raises(ValidationFailed):  # the store would step past the calendar's end
            await environment(MANAGER, "study-1", start, end, "")
    with pytest.raises(NotFound):
        await environment(MANAGER, "study-2", "", "", "")


@given(t_min=st.floats(-40, 50), spread=st.floats(0, 30), base=st.floats(0, 15))
def test_growing_degree_days_are_never_negative_and_grow_with_temperature(
    t_min: float, spread: float, base: float
) -> None:
    gdd = growing_degree_days(t_min, t_min + spread, base)
    assert gdd >= 0
    assert growing_degree_days(t_min + 1, t_min + spread + 1, base) >= gdd
    assert gdd == pytest.approx(max(0.0, t_min + spread / 2 - base), abs=1e-9)
