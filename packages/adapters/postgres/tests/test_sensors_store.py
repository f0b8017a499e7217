"""Sensors storage against real PostgreSQL: idempotent batches, rollups equal to a plain SQL
aggregate of the raw rows, row-level security, partitions created ahead and dropped whole."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np
import psycopg
import pytest
from bijmantra.adapters.postgres import create_engine, unit_of_work_factory
from bijmantra.adapters.postgres.binary_arrays import microseconds_since_2000
from bijmantra.adapters.postgres.sensor_folds import folded_batch
from bijmantra.adapters.postgres.sensor_partitions import maintain_partitions
from bijmantra.application.sensors import DeviceEnrolment, IngestTelemetry, ReadHistory
from bijmantra.domain.sensors import RETENTION, Reading, Resolution, Window, with_gaps
from bijmantra.kernel import FixedClock, NotFound, PageRequest, Principal, TenantId, Unauthorized
from bijmantra.testkit.provision import ProvisionedDatabase
from bijmantra.testkit.sensors import place_to_put_devices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)
PROFILE = {
    "name": "station",
    "metrics": [
        {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70},
        {"name": "rainfall", "unit": "mm", "minimum": 0, "maximum": 500},
    ],
}


class Org:
    """One organization with one claimed device, through the real use cases."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.tenant = TenantId(uuid.uuid4())
        self.manager = Principal("m", self.tenant, frozenset({"data-manager"}))
        self.uow = unit_of_work_factory(engine, source="test")
        clock = FixedClock(NOW)
        self.enrolment = DeviceEnrolment(self.uow, clock)
        self.ingest = IngestTelemetry(self.uow, clock)
        self.history = ReadHistory(self.uow)

    async def device(self) -> tuple[str, str]:
        device_id, code = await self.claim_code()
        claimed = await self.enrolment.claim(json.dumps({"claimCode": code}).encode())
        return device_id, claimed["credential"]

    async def claim_code(self) -> tuple[str, str]:
        """A device registered and given its claim code, not claimed yet: id and code."""
        profiles = await self.enrolment.profiles(self.manager)
        if profiles:
            profile_id = profiles[0]["profileId"]
        else:
            created = await self.enrolment.create_profile(
                self.manager, json.dumps(PROFILE).encode()
            )
            profile_id = created["profileId"]
        location = await place_to_put_devices(self.uow, self.tenant, "location", uuid.uuid4().hex)
        body = {"name": "d", "profileId": profile_id, "locationDbId": location}
        device = await self.enrolment.register(self.manager, json.dumps(body).encode())
        code = (await self.enrolment.issue_claim(self.manager, device["deviceId"]))["claimCode"]
        return device["deviceId"], code

    async def send(self, credential: str, readings: list[dict[str, Any]]) -> dict[str, Any]:
        return await self.ingest(credential, json.dumps({"readings": readings}).encode())


def item(seconds: int, value: float, metric: str = "air_temperature") -> dict[str, Any]:
    return {
        "metric": metric,
        "time": (NOW - timedelta(seconds=seconds)).isoformat(),
        "value": value,
    }


async def count_rows(engine: AsyncEngine, tenant: TenantId, table: str) -> int:
    async with unit_of_work_factory(engine, source="t")(tenant) as uow:
        conn = uow._connection
        assert conn is not None
        return int((await conn.execute(text(f"SELECT count(*) FROM domain.{table}"))).scalar_one())


async def counted_by_day_rollups(org: Org) -> int:
    """Readings the organization's 1 d rollups count: each stored reading once."""
    async with org.uow(org.tenant) as uow:
        conn = uow._connection
        assert conn is not None
        total = await conn.execute(
            text("SELECT sum(count) FROM domain.sensor_rollups WHERE resolution = '1d'")
        )
        return int(total.scalar_one())


async def test_a_resent_batch_is_stored_once_and_rollups_do_not_double(engine: AsyncEngine) -> None:
    org = Org(engine)
    _, credential = await org.device()
    batch = [item(60 * i, 10.0 + i % 50) for i in range(500)]
    first = await org.send(credential, batch)
    again = await org.send(credential, batch)
    assert (first["stored"], again["stored"], again["duplicates"]) == (500, 0, 500)
    assert await count_rows(engine, org.tenant, "sensor_readings") == 500
    assert await counted_by_day_rollups(org) == 500


async def test_a_batch_filling_gaps_repeating_and_extending_stores_only_the_new(
    engine: AsyncEngine,
) -> None:
    """Readings after the newest stored one are appended without a conflict probe; older
    ones (a gap filled late, or a repeat) go through ``ON CONFLICT``: each is stored once."""
    org = Org(engine)
    device_id, credential = await org.device()
    await org.send(credential, [item(600 - 60 * i, 10.0 + i) for i in range(0, 10, 2)])
    reply = await org.send(credential, [item(600 - 60 * i, 10.0 + i) for i in range(12)])
    assert (reply["stored"], reply["duplicates"]) == (7, 5)
    assert await count_rows(engine, org.tenant, "sensor_readings") == 12
    async with org.uow(org.tenant) as uow:
        await assert_rollups_match_the_raw_rows(uow, device_id)


async def test_a_metric_sent_after_another_metrics_newer_readings_is_stored_once(
    engine: AsyncEngine,
) -> None:
    """The append split compares with the newest reading of any metric in the batch: a
    metric whose readings come later for earlier times goes through ``ON CONFLICT`` and is
    still stored exactly once, and so is a batch mixing it with newer readings."""
    org = Org(engine)
    device_id, credential = await org.device()
    await org.send(credential, [item(60 * i, 10.0 + i) for i in range(10)])
    rain = [item(60 * i + 30, float(i), "rainfall") for i in range(10)]
    assert (await org.send(credential, rain))["stored"] == 10
    # a repeat newer than every rainfall reading, two new readings, five repeated rainfalls
    mixed = [*rain[:5], item(0, 10.0), item(5, 21.0), item(4, 2.0, "rainfall")]
    reply = await org.send(credential, mixed)
    assert (reply["stored"], reply["duplicates"]) == (2, 6)
    assert await count_rows(engine, org.tenant, "sensor_readings") == 22
    async with org.uow(org.tenant) as uow:
        conn = uow._connection
        assert conn is not None
        raw = "SELECT metric, date_trunc('minute', at, 'UTC'), min(value), max(value), count(*) "
        raw += "FROM domain.sensor_readings WHERE device_id = :d GROUP BY 1, 2 ORDER BY 1, 2"
        rolled = (
            "SELECT m.metric, m.hour + (s.i - 1) * interval '1 minute', s.lo, s.hi, s.n "
            "FROM domain.sensor_minute_rollups m, unnest(m.minimum, m.maximum, m.count) "
            "WITH ORDINALITY AS s(lo, hi, n, i) WHERE m.device_id = :d AND s.n > 0 ORDER BY 1, 2"
        )
        expected = (await conn.execute(text(raw), {"d": device_id})).all()
        assert (await conn.execute(text(rolled), {"d": device_id})).all() == expected
        days = "SELECT metric, sum(count) FROM domain.sensor_rollups WHERE device_id = :d "
        days += "AND resolution = '1d' GROUP BY 1 ORDER BY 1"
        counts = (await conn.execute(text(days), {"d": device_id})).all()
        assert counts == [("air_temperature", 11), ("rainfall", 11)]


async def test_a_mixed_batch_stores_exactly_its_good_items(engine: AsyncEngine) -> None:
    org = Org(engine)
    device_id, credential = await org.device()
    batch = [item(10, 20.0), item(20, 80.0), item(30, 1.0, "co2"), item(40, 2.5, "rainfall")]
    reply = await org.send(credential, batch)
    assert [r["index"] for r in reply["rejected"]] == [1, 2]
    history = await org.history(
        org.manager,
        device_id,
        "air_temperature",
        (NOW - timedelta(hours=1)).isoformat(),
        (NOW + timedelta(minutes=1)).isoformat(),
        "raw",
    )
    assert [p["value"] for p in history["points"]] == [20.0]
    hours = await org.history(
        org.manager,
        device_id,
        "air_temperature",
        (NOW - timedelta(hours=3)).isoformat(),
        (NOW + timedelta(hours=1)).isoformat(),
        "1h",
    )
    points = msgspec.json.decode(msgspec.json.encode(hours))["points"]
    # every hour bucket starting in the window (the last one partly), the empty ones as gaps
    assert len(points) == 5
    assert [p["count"] for p in points].count(0) == 4
    [full] = [p for p in points if p["count"]]
    assert (full["min"], full["max"], full["mean"], full["count"]) == (20.0, 20.0, 20.0, 1)
    gap = next(p for p in points if not p["count"])
    assert (gap["min"], gap["mean"]) == (None, None)
    assert datetime.fromisoformat(points[0]["time"]) == (NOW - timedelta(hours=3)).replace(
        minute=0, second=0
    )
    minutes = await org.history(
        org.manager,
        device_id,
        "air_temperature",
        (NOW - timedelta(minutes=5)).isoformat(),
        NOW.isoformat(),
        "1m",
    )
    by_minute = msgspec.json.decode(msgspec.json.encode(minutes))["points"]
    first = (NOW - timedelta(minutes=5)).replace(second=0)
    assert len(by_minute) == math.ceil((NOW - first) / timedelta(minutes=1))
    [reading] = [p for p in by_minute if p["count"]]  # served from the 60-slot hour rows
    assert datetime.fromisoformat(reading["time"]) == (NOW - timedelta(seconds=10)).replace(
        second=0
    )
    assert (reading["min"], reading["mean"], reading["count"]) == (20.0, 20.0, 1)
    assert await count_rows(engine, org.tenant, "sensor_readings") == 2


async def test_another_organization_sees_nothing_and_cannot_send(engine: AsyncEngine) -> None:
    org, other = Org(engine), Org(engine)
    device_id, credential = await org.device()
    await org.send(credential, [item(5, 1.0)])
    with pytest.raises(NotFound):
        await other.enrolment.get(other.manager, device_id)
    assert await count_rows(engine, other.tenant, "sensor_readings") == 0
    assert await count_rows(engine, other.tenant, "sensor_rollups") == 0
    assert await count_rows(engine, other.tenant, "sensor_minute_rollups") == 0
    assert await count_rows(engine, other.tenant, "sensor_hour_rollups") == 0
    assert await count_rows(engine, other.tenant, "sensor_devices") == 0
    secret = credential.split(".")[-1]
    with pytest.raises(Unauthorized):  # the device id under another organization's id
        await org.send(f"bjd.{other.tenant}.{device_id}.{secret}", [item(6, 1.0)])


ROLLED = {
    "1m": "SELECT m.hour + (s.i - 1) * interval '1 minute', s.lo, s.hi, s.total / s.n, s.n "
    "FROM domain.sensor_minute_rollups m, unnest(m.minimum, m.maximum, m.total, m.count) "
    "WITH ORDINALITY AS s(lo, hi, total, n, i) WHERE s.n > 0 ORDER BY 1",
    "1h": "SELECT h.day + (s.i - 1) * interval '1 hour', s.lo, s.hi, s.total / s.n, s.n "
    "FROM domain.sensor_hour_rollups h, unnest(h.minimum, h.maximum, h.total, h.count) "
    "WITH ORDINALITY AS s(lo, hi, total, n, i) WHERE s.n > 0 ORDER BY 1",
    "1d": "SELECT bucket, minimum, maximum, total / count, count "
    "FROM domain.sensor_rollups WHERE resolution = :r ORDER BY bucket",
}

series = st.lists(
    st.tuples(
        # over three days (mostly a reading a minute) or a quarter hour (many a minute)
        st.one_of(st.integers(0, 3 * 86_400), st.integers(0, 900)),
        st.floats(-50, 70, allow_nan=False),
    ),
    min_size=1,
    max_size=80,
)
# (minutes ago, second in that minute, value): at most one reading a minute.
one_a_minute = st.lists(
    st.tuples(st.integers(0, 3 * 1440), st.integers(0, 59), st.floats(-50, 70, allow_nan=False)),
    min_size=1,
    max_size=80,
    unique_by=lambda point: point[0],
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(points=series, split=st.integers(1, 5), resend=st.booleans())
async def test_rollups_equal_a_plain_sql_aggregate_of_the_raw_rows(
    engine: AsyncEngine, points: list[tuple[int, float]], split: int, resend: bool
) -> None:
    readings = [Reading("air_temperature", NOW - timedelta(seconds=s), v) for s, v in points]
    await store_and_compare(engine, readings, split, resend)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(points=one_a_minute, split=st.integers(1, 5), resend=st.booleans())
async def test_rollups_of_a_reading_a_minute_equal_a_plain_sql_aggregate_of_the_raw_rows(
    engine: AsyncEngine, points: list[tuple[int, int, float]], split: int, resend: bool
) -> None:
    """A reading a minute (a station's usual series), in any order, split, resent."""
    last_minute = NOW.replace(second=0) - timedelta(minutes=1)
    readings = [
        Reading("air_temperature", last_minute - timedelta(minutes=m, seconds=-s), v)
        for m, s, v in points
    ]
    await store_and_compare(engine, readings, split, resend)


# (metric, seconds ago, value) of up to three metrics: several readings a minute, and
# minutes, hours and days both filled and partly filled.
several_metrics = st.lists(
    st.tuples(
        st.sampled_from(["air_temperature", "rainfall", "soil_moisture"]),
        st.one_of(st.integers(0, 3 * 86_400), st.integers(0, 7_200)),
        st.floats(-50, 70, allow_nan=False),
    ),
    min_size=1,
    max_size=120,
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(points=several_metrics, parts=st.integers(1, 5), resend=st.booleans())
async def test_batches_each_newer_than_the_last_fold_like_a_plain_sql_aggregate(
    engine: AsyncEngine, points: list[tuple[str, int, float]], parts: int, resend: bool
) -> None:
    """Batches in time order, each newer than all stored before it: each is stored with the
    rollups the adapter computed (ADR 0337), merged into rows earlier batches made; a resent
    one goes the statement's own way and changes nothing."""
    readings = sorted(
        (Reading(m, NOW - timedelta(seconds=s), v) for m, s, v in points), key=lambda r: r.at
    )
    size = -(-len(readings) // parts)
    batches = [readings[i : i + size] for i in range(0, len(readings), size)]
    await store_batches_and_compare(
        engine, batches + ([readings] if resend else []), per_metric=True
    )


async def test_a_sparse_batch_newer_than_all_stored_is_folded_by_the_statement(
    engine: AsyncEngine,
) -> None:
    """Readings four hours apart over most of a year: too sparse for the adapter's slot rows
    (ADR 0337), so the statement folds them; the rollups are the same aggregate."""
    first = NOW - timedelta(days=330)
    readings = [
        Reading("air_temperature" if i % 3 else "rainfall", first + timedelta(hours=4 * i), i % 40)
        for i in range(1_900)
    ]
    names = sorted({r.metric for r in readings})
    numbers = np.array([names.index(r.metric) + 1 for r in readings], np.int16)
    times = microseconds_since_2000([r.at for r in readings])
    assert folded_batch(numbers, times, [r.value for r in readings]) is None
    await store_batches_and_compare(engine, [readings, readings[-10:]], per_metric=True)


async def store_and_compare(
    engine: AsyncEngine, readings: list[Reading], split: int, resend: bool
) -> None:
    batches = [readings[i::split] for i in range(split)] + ([readings] if resend else [])
    await store_batches_and_compare(engine, batches)


async def store_batches_and_compare(
    engine: AsyncEngine, batches: list[list[Reading]], *, per_metric: bool = False
) -> None:
    tenant = TenantId(uuid.uuid4())
    device = str(uuid.uuid4())
    uow = unit_of_work_factory(engine, source="test")
    stored = 0
    for batch in batches:
        unique = list({(r.metric, r.at): r for r in reversed(batch)}.values())
        async with uow(tenant) as unit:
            stored += await unit.sensors.store_readings(device, unique)
            await unit.commit()
    async with uow(tenant) as unit:
        if per_metric:
            await assert_each_metrics_rollups_match_the_raw_rows(unit)
        else:
            await assert_rollups_match_the_raw_rows(unit, device)
    assert stored == len({(r.metric, r.at) for batch in batches for r in batch})


# Every filled slot of the stored rollups, per metric; and the slots whose emptiness is
# not what the tables promise (an empty slot has NULL extremes and zero sum and count).
SLOTS = {
    "minute": "SELECT metric, m.hour + (s.i - 1) * interval '1 minute', s.lo, s.hi, s.total, "
    "s.n FROM domain.sensor_minute_rollups m, unnest(m.minimum, m.maximum, m.total, m.count) "
    "WITH ORDINALITY AS s(lo, hi, total, n, i) WHERE s.n > 0 ORDER BY 1, 2",
    "hour": "SELECT metric, h.day + (s.i - 1) * interval '1 hour', s.lo, s.hi, s.total, s.n "
    "FROM domain.sensor_hour_rollups h, unnest(h.minimum, h.maximum, h.total, h.count) "
    "WITH ORDINALITY AS s(lo, hi, total, n, i) WHERE s.n > 0 ORDER BY 1, 2",
    "day": "SELECT metric, bucket, minimum, maximum, total, count FROM domain.sensor_rollups "
    "WHERE resolution = '1d' ORDER BY 1, 2",
}
MISSHAPEN_SLOTS = (
    "SELECT count(*) FROM (SELECT minimum, maximum, total, count "
    "FROM domain.sensor_minute_rollups UNION ALL SELECT minimum, maximum, total, count "
    "FROM domain.sensor_hour_rollups) r, unnest(r.minimum, r.maximum, r.total, r.count) "
    "AS s(lo, hi, total, n) "
    "WHERE (s.n = 0) <> (s.lo IS NULL) OR (s.n = 0) <> (s.hi IS NULL) OR (s.n = 0 AND s.total <> 0)"
)


async def assert_each_metrics_rollups_match_the_raw_rows(unit: Any) -> None:
    conn = unit._connection
    assert conn is not None
    for unit_name, stored in SLOTS.items():
        expected = (
            await conn.execute(
                text(
                    "SELECT metric, date_trunc(:unit, at, 'UTC') AS b, min(value), max(value), "
                    "sum(value), count(*) FROM domain.sensor_readings GROUP BY 1, 2 ORDER BY 1, 2"
                ),
                {"unit": unit_name},
            )
        ).all()
        rolled = (await conn.execute(text(stored))).all()
        assert [(*r[:4], r[5]) for r in rolled] == [(*e[:4], e[5]) for e in expected]
        for r, e in zip(rolled, expected, strict=True):
            assert math.isclose(r[4], e[4], rel_tol=1e-9, abs_tol=1e-9)
    assert (await conn.execute(text(MISSHAPEN_SLOTS))).scalar_one() == 0


async def test_full_hours_and_days_fold_like_partial_ones(engine: AsyncEngine) -> None:
    """Two days of one-minute readings: every minute slot of an hour and every hour slot of
    a day filled by one batch (the dense path), then a resent half (nothing changes)."""
    tenant = TenantId(uuid.uuid4())
    device = str(uuid.uuid4())
    day = NOW.replace(hour=0, minute=0, second=0) - timedelta(days=2)
    readings = [
        Reading("air_temperature", day + timedelta(minutes=i), 10 + (i % 97) / 7)
        for i in range(2 * 1440)
    ]
    uow = unit_of_work_factory(engine, source="test")
    for batch in (readings[:1440], readings[1440:], readings[:720]):
        async with uow(tenant) as unit:
            await unit.sensors.store_readings(device, batch)
            await unit.commit()
    async with uow(tenant) as unit:
        await assert_rollups_match_the_raw_rows(unit, device)


async def assert_rollups_match_the_raw_rows(unit: Any, device: str) -> None:
    """Each resolution's stored rollups, and its history series over a window cutting the
    first and last buckets, equal a plain SQL aggregate of the tenant's raw rows."""
    conn = unit._connection
    assert conn is not None
    for resolution, unit_name in (("1m", "minute"), ("1h", "hour"), ("1d", "day")):
        expected = (
            await conn.execute(
                text(
                    "SELECT date_trunc(:unit, at, 'UTC') AS b, min(value), max(value), "
                    "avg(value), count(*) FROM domain.sensor_readings GROUP BY b ORDER BY b"
                ),
                {"unit": unit_name},
            )
        ).all()
        rolled = (await conn.execute(text(ROLLED[resolution]), {"r": resolution})).all()
        assert [(r[0], r[1], r[2], r[4]) for r in rolled] == [
            (e[0], e[1], e[2], e[4]) for e in expected
        ]
        for r, e in zip(rolled, expected, strict=True):
            assert math.isclose(r[3], e[3], rel_tol=1e-9, abs_tol=1e-9)
        # The history series over a window cutting the first and last buckets: every
        # bucket start in it, these aggregates where readings are, gaps elsewhere.
        window = Window.of(
            NOW - timedelta(days=3, minutes=7),
            NOW + timedelta(minutes=2),
            Resolution(resolution),
        )
        points = msgspec.json.decode(await unit.sensors.series(device, "air_temperature", window))
        wanted = {e[0]: e for e in expected}
        assert [datetime.fromisoformat(p["time"]) for p in points] == [
            at for at, _ in with_gaps(window, [])
        ]
        for p in points:
            e = wanted.get(datetime.fromisoformat(p["time"]))
            got = (p["min"], p["max"], p["count"])
            assert got == ((e[1], e[2], e[4]) if e else (None, None, 0))
            if e:
                assert math.isclose(p["mean"], e[3], rel_tol=1e-9, abs_tol=1e-9)


async def test_partitions_are_made_ahead_and_dropped_whole_past_retention(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    org = Org(engine)
    _, credential = await org.device()
    old = NOW - RETENTION + timedelta(days=1)
    await org.send(credential, [{"metric": "rainfall", "time": old.isoformat(), "value": 1.0}])
    part = f"sensor_readings_{old:%Y_%m}"
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"domain.{part}",)).fetchone() == (
            f"domain.{part}",
        )
    await maintain_partitions(engine, NOW, RETENTION)
    ahead = NOW + timedelta(days=40)
    with psycopg.connect(database.owner_url) as conn:
        made = conn.execute("SELECT to_regclass(%s)", (f"domain.sensor_readings_{ahead:%Y_%m}",))
        assert made.fetchone() != (None,)
    # Retention moves on by two months: the old month's partition goes, as a whole.
    dropped = await maintain_partitions(engine, NOW + timedelta(days=62), RETENTION)
    assert dropped >= 1
    with psycopg.connect(database.owner_url) as conn:
        assert conn.execute("SELECT to_regclass(%s)", (f"domain.{part}",)).fetchone() == (None,)
    # The service role cannot reach a partition except through the parent (RLS there).
    with psycopg.connect(database.domain_url, autocommit=True) as conn:
        current = f"domain.sensor_readings_{NOW:%Y_%m}"
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT count(*) FROM {current}")
        with pytest.raises(psycopg.errors.RaiseException):  # the DDL it may ask for is bounded
            conn.execute(
                "SELECT domain.sensor_reading_partitions(now(), now() + interval '9 years')"
            )


def _refusing_outbox(tenant: TenantId) -> str:
    """DDL (run as the owner) making the outbox refuse ``tenant``'s events."""
    return f"""
        CREATE FUNCTION public.refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'outbox refused'; END $$;
        CREATE TRIGGER refuse_outbox BEFORE INSERT ON domain.outbox FOR EACH ROW
        WHEN (NEW.tenant_id = '{tenant}'::uuid) EXECUTE FUNCTION public.refuse_outbox();
    """


async def test_a_batch_whose_event_cannot_be_written_stores_nothing(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """The device's update, the outbox row and the COMMIT go as one pipeline (ADR 0321): a
    failing outbox insert must still leave no reading, rollup or device change behind, and
    the pooled connections must take the next batch."""
    org = Org(engine)
    device_id, credential = await org.device()
    with psycopg.connect(database.owner_url, autocommit=True) as owner:
        owner.execute(_refusing_outbox(org.tenant))
        try:
            with pytest.raises(Exception, match="outbox refused"):
                await org.send(credential, [item(60 * i, 10.0) for i in range(50)])
        finally:
            owner.execute("DROP FUNCTION public.refuse_outbox() CASCADE")
    for table in ("sensor_readings", "sensor_rollups", "sensor_minute_rollups"):
        assert await count_rows(engine, org.tenant, table) == 0, table
    async with org.uow(org.tenant) as uow:
        device = await uow.sensors.device(device_id)
        assert device is not None
        assert (device.state.value, device.last_seen_at) == ("claimed", None)
    assert (await org.send(credential, [item(60 * i, 10.0) for i in range(50)]))["stored"] == 50
    assert await count_rows(engine, org.tenant, "sensor_readings") == 50


async def test_a_device_saved_in_a_transaction_reads_back_as_saved(engine: AsyncEngine) -> None:
    """The update is sent with the COMMIT, so every read of devices sends it first."""
    org = Org(engine)
    device_id, _ = await org.device()
    async with org.uow(org.tenant) as uow:
        device = await uow.sensors.device(device_id, for_update=True)
        assert device is not None
        await uow.sensors.save_device(replace(device, name="renamed"))
        again = await uow.sensors.device(device_id)
        listed = await uow.sensors.devices(PageRequest(0, 10))
        assert again is not None
        assert again.name == "renamed"
        assert [d.name for d in listed.items] == ["renamed"]
    async with org.uow(org.tenant) as uow:  # not committed: nothing kept
        kept = await uow.sensors.device(device_id)
        assert kept is not None
        assert kept.name == "d"


async def test_a_rolled_back_batch_leaves_its_connection_able_to_store_the_next(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """A batch that rolls back on a connection (psycopg then forgets the statements it
    prepared there, and PostgreSQL drops them) leaves that connection storing the next
    batches, the store statement prepared again (ADR 0334)."""
    org = Org(engine)
    _, credential = await org.device()
    await org.send(credential, [item(60 * i, 1.0) for i in range(10, 20)])  # partitions made
    one = create_engine(database.domain_url, pool_size=1, max_overflow=0)
    try:
        alone = IngestTelemetry(unit_of_work_factory(one, source="test"), FixedClock(NOW))
        body = json.dumps({"readings": [item(60 * i, 2.0) for i in range(10)]}).encode()
        with psycopg.connect(database.owner_url, autocommit=True) as owner:
            owner.execute(_refusing_outbox(org.tenant))
            try:
                with pytest.raises(Exception, match="outbox refused"):
                    await alone(credential, body)
            finally:
                owner.execute("DROP FUNCTION public.refuse_outbox() CASCADE")
        assert (await alone(credential, body))["stored"] == 10
        more = json.dumps({"readings": [item(60 * i, 3.0) for i in range(20, 25)]}).encode()
        assert (await alone(credential, more))["stored"] == 5  # the table kept, not made again
    finally:
        await one.dispose()
    assert await count_rows(engine, org.tenant, "sensor_readings") == 25


async def test_a_steady_stream_of_batches_reuses_one_connection_with_its_store_prepared(
    engine: AsyncEngine, database: ProvisionedDatabase
) -> None:
    """The pool hands out the connection returned last, and the store statement is prepared
    on it: one device's batches do not each parse and plan it again on the pool's next
    connection in turn (ADR 0334)."""
    org = Org(engine)
    _, credential = await org.device()
    pooled = create_engine(database.domain_url, pool_size=3, max_overflow=0)
    try:
        uow = unit_of_work_factory(pooled, source="test")
        async with uow(org.tenant), uow(org.tenant), uow(org.tenant):
            pass  # three connections made and returned: the pool holds three idle ones
        ingest = IngestTelemetry(uow, FixedClock(NOW))
        for first in (100, 200):
            body = json.dumps({"readings": [item(60 * (first + i), 1.0) for i in range(50)]})
            assert (await ingest(credential, body.encode()))["stored"] == 50
        async with uow(org.tenant) as next_one:
            conn = next_one._connection
            assert conn is not None
            prepared = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_prepared_statements "
                    "WHERE statement LIKE '%INSERT INTO domain.sensor_readings%'"
                )
            )
            assert prepared.scalar_one() == 1
    finally:
        await pooled.dispose()


async def test_devices_read_by_id_are_only_the_organizations(engine: AsyncEngine) -> None:
    """The list narrowed to ids (the alerts inbox names its devices so) under row-level
    security: another organization's device id reads as nothing, and the count is of those
    found."""
    org, other = Org(engine), Org(engine)
    first, _ = await org.device()
    second, _ = await org.device()
    await org.device()  # not asked for
    theirs, _ = await other.device()
    asked = [second, theirs, first, "no-such-device"]
    async with org.uow(org.tenant) as uow:
        found = await uow.sensors.devices(PageRequest(0, len(asked)), asked)
        everything = await uow.sensors.devices(PageRequest(0, 10))
    assert [d.device_id for d in found.items] == sorted([first, second])
    assert (found.total_count, everything.total_count) == (2, 3)
