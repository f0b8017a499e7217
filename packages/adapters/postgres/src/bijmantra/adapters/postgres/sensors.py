"""Sensors storage: profiles, devices, month-partitioned readings and 1m/1h/1d rollups.

A batch is one statement (``sensor_store_sql``): the readings not stored yet are inserted
and exactly those are folded into the rollups, so a resent batch changes neither table and
the rollups always equal an aggregate over the raw rows (ADR 0207). A batch newer than all
its device has stored comes with its rollups computed here (``sensor_folds``, ADR 0337).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from string import Template
from typing import Any

import msgspec
import numpy as np
from bijmantra.adapters.postgres.binary_arrays import (
    float8_array,
    int2_array,
    microseconds_since_2000,
    register_array_dumpers,
    timestamptz_array,
)
from bijmantra.adapters.postgres.connection_store import ConnectionStore
from bijmantra.adapters.postgres.device_edge import devices_can_connect
from bijmantra.adapters.postgres.engine import driver_connection
from bijmantra.adapters.postgres.sensor_folds import NOTHING_FOLDED, folded_batch
from bijmantra.adapters.postgres.sensor_partitions import (
    PARTITIONS,
    PartitionCache,
    month_of,
    months_between,
    partitions_made,
)
from bijmantra.adapters.postgres.sensor_series import ROW_PERIOD, first_row, points_json
from bijmantra.adapters.postgres.sensor_store_sql import STORE
from bijmantra.adapters.postgres.storage import lock_stored
from bijmantra.domain.sensors import (
    FOLLOWING_KINDS,
    Bucket,
    Device,
    DeviceProfile,
    EnrolmentState,
    MetricSpec,
    Placement,
    PresenceChange,
    Reading,
    ReadingLike,
    Resolution,
    Window,
    columns,
)
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import Conflict, Page, PageRequest, TenantId
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

_DEVICE_NAMES = (
    "device_id",
    "name",
    "profile_id",
    "location_db_id",
    "study_db_id",
    "seed_store",
    "state",
    "created_at",
    "claim_hash",
    "claim_expires_at",
    "claimed_at",
    "credential_hash",
    "commissioned_at",
    "revoked_at",
    "last_seen_at",
)
# One organization's profile creations take turns, so each counts what the one before added.
_LOCK_PROFILES = text(
    "SELECT pg_advisory_xact_lock(hashtextextended("
    "'sensor-profiles/' || current_setting('app.tenant_id', true), 0))"
)
# Read with the device, written only by ``record_presence`` (the worker's reports, ADR 0306).
_PRESENCE = "presence"
_DEVICE = (
    "SELECT tenant_id, device_id, name, profile_id, location_db_id, study_db_id, seed_store, "
    "state, created_at, claim_hash, claim_expires_at, claimed_at, credential_hash, "
    "commissioned_at, revoked_at, last_seen_at, presence FROM domain.sensor_devices WHERE "
    "device_id = :id"
)
_DEVICE_FOR_UPDATE = _DEVICE + " FOR UPDATE"
_DEVICES = (
    "SELECT tenant_id, device_id, name, profile_id, location_db_id, study_db_id, seed_store, "
    "state, created_at, claim_hash, claim_expires_at, claimed_at, credential_hash, "
    "commissioned_at, revoked_at, last_seen_at, presence FROM domain.sensor_devices "
    "WHERE (CAST(:ids AS text[]) IS NULL OR device_id = ANY(CAST(:ids AS text[]))) "
    "ORDER BY device_id LIMIT :limit OFFSET :offset"
)
_DEVICES_COUNT = (
    "SELECT count(*) AS n FROM domain.sensor_devices "
    "WHERE (CAST(:ids AS text[]) IS NULL OR device_id = ANY(CAST(:ids AS text[])))"
)
_DEVICES_PLACED = (
    "SELECT tenant_id, device_id, name, profile_id, location_db_id, study_db_id, seed_store, "
    "state, created_at, claim_hash, claim_expires_at, claimed_at, credential_hash, "
    "commissioned_at, revoked_at, last_seen_at, presence FROM domain.sensor_devices WHERE "
    "study_db_id = :study OR (CAST(:location AS text) IS NOT NULL AND location_db_id = "
    ":location) ORDER BY device_id LIMIT 1000"
)
_INSERT_DEVICE = text(
    "INSERT INTO domain.sensor_devices (tenant_id, device_id, name, profile_id, location_db_id, "
    "study_db_id, seed_store, state, created_at, claim_hash, claim_expires_at, claimed_at, "
    "credential_hash, commissioned_at, revoked_at, last_seen_at) VALUES "
    "(nullif(current_setting('app.tenant_id', true), '')::uuid, :device_id, :name, :profile_id, "
    ":location_db_id, :study_db_id, :seed_store, :state, :created_at, :claim_hash, "
    ":claim_expires_at, :claimed_at, :credential_hash, :commissioned_at, :revoked_at, "
    ":last_seen_at)"
)
# Sent at commit, pipelined with the outbox rows and the COMMIT (ADR 0321): psycopg style.
_UPDATE_DEVICE = (
    "UPDATE domain.sensor_devices SET name = %(name)s, profile_id = %(profile_id)s, "
    "location_db_id = %(location_db_id)s, study_db_id = %(study_db_id)s, "
    "seed_store = %(seed_store)s, state = %(state)s, created_at = %(created_at)s, "
    "claim_hash = %(claim_hash)s, claim_expires_at = %(claim_expires_at)s, "
    "claimed_at = %(claimed_at)s, credential_hash = %(credential_hash)s, "
    "commissioned_at = %(commissioned_at)s, revoked_at = %(revoked_at)s, "
    "last_seen_at = %(last_seen_at)s WHERE device_id = %(device_id)s"
)
# A device with its profile, in one round trip (every batch and every history read needs both).
_DEVICE_AND_PROFILE = (
    "SELECT d.tenant_id, d.device_id, d.name, d.profile_id, d.location_db_id, d.study_db_id, "
    "d.seed_store, d.state, d.created_at, d.claim_hash, d.claim_expires_at, d.claimed_at, "
    "d.credential_hash, d.commissioned_at, d.revoked_at, d.last_seen_at, d.presence, p.name AS "
    "profile_name, p.metrics AS profile_metrics, p.created_at AS profile_created_at FROM "
    "domain.sensor_devices d JOIN domain.sensor_profiles p ON p.profile_id = d.profile_id WHERE "
    "d.device_id = :id"
)
_DEVICE_AND_PROFILE_FOR_UPDATE = _DEVICE_AND_PROFILE + " FOR UPDATE OF d"

# A telemetry batch's device, profile and followed metrics (ADR 0321): the rules read with the
# device row instead of a round trip of their own. ``:following`` is ``FOLLOWING_KINDS``.
_DEVICE_FOR_BATCH = text(
    _DEVICE_AND_PROFILE_FOR_UPDATE.replace(
        " FROM domain.sensor_devices d",
        ", ARRAY(SELECT DISTINCT r.metric FROM domain.sensor_alert_rules r WHERE "
        "(r.device_id = d.device_id OR (r.device_id IS NULL AND r.profile_id = d.profile_id)) "
        "AND r.kind = ANY(CAST(:following AS text[]))) AS followed FROM domain.sensor_devices d",
    )
)


# A row wholly inside the window comes as its points' JSON text, an edge row as its arrays
# (``points_json``). Hours keep that text in the row; minutes and days have it made here.
_INSIDE = "$key >= %(start)s AND $key + %(period)s <= %(end)s"
_SLOT_ROWS = {
    resolution: Template(
        "SELECT $key, CASE WHEN $inside THEN $points END, "
        "CASE WHEN NOT ($inside) THEN $lo END, CASE WHEN NOT ($inside) THEN $hi END, "
        "CASE WHEN NOT ($inside) THEN $total END, CASE WHEN NOT ($inside) THEN $n END "
        "FROM domain.$table WHERE device_id = %(device)s AND metric = %(metric)s$only "
        "AND $key >= %(first)s AND $key < %(end)s"
    ).substitute(inside=Template(_INSIDE).substitute(key=key), key=key, **parts)
    for resolution, key, parts in (
        (
            Resolution.MINUTE,
            "hour",
            {
                "table": "sensor_minute_rollups",
                "only": "",
                "points": "domain.sensor_points(hour, interval '1 minute', "
                "minimum, maximum, total, count)",
                "lo": "minimum",
                "hi": "maximum",
                "total": "total",
                "n": "count",
            },
        ),
        (
            Resolution.HOUR,
            "day",
            {
                "table": "sensor_hour_rollups",
                "only": "",
                "points": "points",
                "lo": "minimum",
                "hi": "maximum",
                "total": "total",
                "n": "count",
            },
        ),
        (
            Resolution.DAY,
            "bucket",
            {
                "table": "sensor_rollups",
                "only": " AND resolution = '1d'",
                "points": "domain.sensor_points(bucket, interval '1 day', ARRAY[minimum], "
                "ARRAY[maximum], ARRAY[total], ARRAY[count])",
                "lo": "ARRAY[minimum]",
                "hi": "ARRAY[maximum]",
                "total": "ARRAY[total]",
                "n": "ARRAY[count]",
            },
        ),
    )
}


def _device(row: Any) -> Device:
    v = row._asdict()
    return Device(
        tenant_id=TenantId(uuid.UUID(str(v["tenant_id"]))),
        device_id=v["device_id"],
        name=v["name"],
        profile_id=v["profile_id"],
        placement=Placement(v["location_db_id"], v["study_db_id"], v["seed_store"]),
        state=EnrolmentState(v["state"]),
        created_at=v["created_at"],
        claim_hash=v["claim_hash"],
        claim_expires_at=v["claim_expires_at"],
        claimed_at=v["claimed_at"],
        credential_hash=v["credential_hash"],
        commissioned_at=v["commissioned_at"],
        revoked_at=v["revoked_at"],
        last_seen_at=v["last_seen_at"],
        reported=PresenceChange(v[_PRESENCE]) if v[_PRESENCE] else None,
    )


def _device_row(device: Device) -> dict[str, Any]:
    row = {n: getattr(device, n, None) for n in _DEVICE_NAMES}
    row.update(
        location_db_id=device.placement.location_db_id,
        study_db_id=device.placement.study_db_id,
        seed_store=device.placement.seed_store,
        state=device.state.value,
    )
    return row


def _profile_of(
    profile_id: str, name: str, metrics: list[dict[str, Any]], created_at: datetime
) -> DeviceProfile:
    specs = tuple(
        MetricSpec(m["name"], m["unit"], float(m["minimum"]), float(m["maximum"])) for m in metrics
    )
    return DeviceProfile(profile_id, name, specs, created_at)


def _profile(row: Any) -> DeviceProfile:
    return _profile_of(row.profile_id, row.name, row.metrics, row.created_at)


_ONE_METRIC = "FROM domain.sensor_readings WHERE device_id = :device AND metric = :metric"
# A late batch's neighbours (ADR 0380): three walks of the primary key, each bounded.
_AROUND = (
    f"(SELECT at, value {_ONE_METRIC} AND at < :start ORDER BY at DESC LIMIT 1) UNION ALL "
    f"(SELECT at, value {_ONE_METRIC} AND at >= :start AND at <= :end ORDER BY at LIMIT :limit) "
    f"UNION ALL (SELECT at, value {_ONE_METRIC} AND at > :end ORDER BY at LIMIT 1) ORDER BY at"
)


class PostgresSensorStore(ConnectionStore):
    def __init__(self, connection: AsyncConnection, partitions: PartitionCache = PARTITIONS):
        super().__init__(connection)
        self._partitions = partitions
        self._unsaved: dict[str, dict[str, Any]] = {}
        self.stored = 0  # readings this transaction stored, charged at its commit (ADR 0340)
        # Devices this transaction registered: its commit checks the organization's limit of
        # enrolled devices with them counted (ADR 0361).
        self.added_devices = 0

    async def add_profile(self, profile: DeviceProfile) -> None:
        metrics = [
            {"name": m.name, "unit": m.unit, "minimum": m.minimum, "maximum": m.maximum}
            for m in profile.metrics
        ]
        try:
            async with self._connection.begin_nested():
                await self._connection.execute(
                    text(
                        "INSERT INTO domain.sensor_profiles "
                        "(tenant_id, profile_id, name, metrics, created_at) VALUES "
                        "(nullif(current_setting('app.tenant_id', true), '')::uuid, "
                        ":id, :name, CAST(:metrics AS jsonb), :at)"
                    ),
                    {
                        "id": profile.profile_id,
                        "name": profile.name,
                        "metrics": msgspec.json.encode(metrics).decode(),
                        "at": profile.created_at,
                    },
                )
        except IntegrityError:
            raise Conflict(f"A device profile named {profile.name!r} exists") from None

    async def profile(self, profile_id: str) -> DeviceProfile | None:
        return await self._first(
            "SELECT * FROM domain.sensor_profiles WHERE profile_id = :id", _profile, id=profile_id
        )

    async def profiles(self) -> list[DeviceProfile]:
        rows = await self._rows("SELECT * FROM domain.sensor_profiles ORDER BY name LIMIT 1000")
        return [_profile(r) for r in rows]

    async def profile_count(self) -> int:
        await self._connection.execute(_LOCK_PROFILES)
        result = await self._connection.execute(text("SELECT count(*) FROM domain.sensor_profiles"))
        return int(result.scalar_one())

    async def add_device(self, device: Device) -> None:
        # Held to the commit, capped or not: the device edge's reclaiming waits on it.
        await lock_stored(self._connection, StoredResource.ENROLLED_DEVICES)
        await self._connection.execute(_INSERT_DEVICE, _device_row(device))
        self.added_devices += 1

    async def save_device(self, device: Device) -> None:
        """Deferred to ``flush``: the unit of work sends it with the ``COMMIT`` (one round
        trip for both), and every read of devices here flushes first."""
        self._unsaved[device.device_id] = _device_row(device)

    async def flush(self) -> None:
        """Send the deferred device updates (answers unread, so a pipeline can carry them)."""
        if not self._unsaved:
            return
        rows, self._unsaved = list(self._unsaved.values()), {}
        driver = await driver_connection(self._connection)
        for row in rows:
            await driver.execute(_UPDATE_DEVICE, row)

    async def devices_can_connect(self) -> bool:
        await self.flush()
        return await devices_can_connect(self._connection)

    async def record_presence(self, device_id: str, change: PresenceChange) -> None:
        await self.flush()
        await self._connection.execute(
            text("UPDATE domain.sensor_devices SET presence = :change WHERE device_id = :id"),
            {"id": device_id, "change": change.value},
        )

    async def device(self, device_id: str, *, for_update: bool = False) -> Device | None:
        await self.flush()
        statement = _DEVICE_FOR_UPDATE if for_update else _DEVICE
        return await self._first(statement, _device, id=device_id)

    async def device_and_profile(
        self, device_id: str, *, for_update: bool = False
    ) -> tuple[Device, DeviceProfile] | None:
        await self.flush()
        statement = _DEVICE_AND_PROFILE_FOR_UPDATE if for_update else _DEVICE_AND_PROFILE
        rows = await self._rows(statement, id=device_id)
        if not rows:
            return None
        row = rows[0]
        profile = _profile_of(
            row.profile_id, row.profile_name, row.profile_metrics, row.profile_created_at
        )
        return _device(row), profile

    async def device_for_batch(
        self, device_id: str
    ) -> tuple[Device, DeviceProfile, frozenset[str]] | None:
        await self.flush()
        following = sorted(kind.value for kind in FOLLOWING_KINDS)
        result = await self._connection.execute(
            _DEVICE_FOR_BATCH, {"id": device_id, "following": following}
        )
        row = result.first()
        if row is None:
            return None
        profile = _profile_of(
            row.profile_id, row.profile_name, row.profile_metrics, row.profile_created_at
        )
        return _device(row), profile, frozenset(row.followed)

    async def devices(self, page: PageRequest, ids: Sequence[str] = ()) -> Page[Device]:
        await self.flush()
        only = list(ids) if ids else None
        rows = await self._rows(_DEVICES, limit=page.page_size, offset=page.offset, ids=only)
        total = (await self._rows(_DEVICES_COUNT, ids=only))[0].n
        return Page([_device(r) for r in rows], page, total)

    async def devices_placed(self, study_db_id: str, location_db_id: str | None) -> list[Device]:
        await self.flush()
        rows = await self._rows(
            _DEVICES_PLACED,
            study=study_db_id,
            location=location_db_id,
        )
        return [_device(r) for r in rows]

    async def _ensure_partitions(self, times: Sequence[datetime]) -> None:
        """Create missing monthly partitions in a transaction of their own (committed even
        if the batch's is rolled back, so the cache never names a partition that is not)."""
        database = self._connection.engine.url  # hashable; rendering it cost more than the rest
        first, last = month_of(min(times)), month_of(max(times))
        months = {(database, month) for month in months_between(first, last)}
        if months <= self._partitions.months:
            return
        midnight = datetime.min.time()
        made = (datetime.combine(first, midnight, UTC), datetime.combine(last, midnight, UTC))
        async with partitions_made(self._connection.engine, *made):
            pass
        self._partitions.months |= months

    async def store_readings(self, device_id: str, readings: Sequence[ReadingLike]) -> int:
        if not readings:
            return 0
        metrics, times, values = columns(readings)
        await self._ensure_partitions(times)
        names = sorted(set(metrics))
        number = {name: i for i, name in enumerate(names, start=1)}
        numbers = np.fromiter(map(number.__getitem__, metrics), np.int16, len(metrics))
        micros = microseconds_since_2000(times)
        driver = await driver_connection(self._connection)
        register_array_dumpers(driver.adapters)
        # Prepared at its first run on a connection: parsing and planning it again cost each
        # batch ~1.5 ms of PostgreSQL's time (ADR 0334).
        cursor = await driver.execute(
            STORE,
            {
                "device": device_id,
                "metrics": names,
                "metric_numbers": int2_array(numbers),
                "times": timestamptz_array(micros),
                "values": float8_array(values),
                "first": min(times),
                "count": len(values),
                # The batch's own rollups, merged as they are if it is newer than all the
                # device has stored (ADR 0337).
                **(folded_batch(numbers, micros, values) or NOTHING_FOLDED),
            },
            prepare=True,
        )
        row = await cursor.fetchone()
        self.stored += (stored := int(row[0]) if row else 0)
        return stored

    async def raw(self, device_id: str, metric: str, window: Window, limit: int) -> list[Reading]:
        rows = await self._rows(
            "SELECT metric, at, value FROM domain.sensor_readings WHERE device_id = :device "
            "AND metric = :metric AND at >= :start AND at < :end ORDER BY at LIMIT :limit",
            device=device_id,
            metric=metric,
            start=window.start,
            end=window.end,
            limit=limit,
        )
        return [Reading(r.metric, r.at, r.value) for r in rows]

    async def around(
        self, device_id: str, metric: str, start: datetime, end: datetime, limit: int
    ) -> list[Reading]:
        rows = await self._rows(
            _AROUND, device=device_id, metric=metric, start=start, end=end, limit=limit
        )
        return [Reading(metric, r.at, r.value) for r in rows]

    async def series(self, device_id: str, metric: str, window: Window) -> bytes:
        """Gap-filled buckets as one JSON array, from the few rows of slot arrays covering
        the window (366 for a year at 1 h), read in binary and written as text at once."""
        driver = await driver_connection(self._connection)
        cursor = await driver.cursor(binary=True).execute(
            _SLOT_ROWS[window.resolution],
            {
                "device": device_id,
                "metric": metric,
                "first": first_row(window),
                "start": window.start,
                "end": window.end,
                "period": ROW_PERIOD[window.resolution].step,
            },
        )
        return points_json(window, await cursor.fetchall())

    async def daily(
        self, device_ids: Sequence[str], metric: str, first: date, last: date
    ) -> dict[date, Bucket]:
        if not device_ids:
            return {}
        start = datetime.combine(first, datetime.min.time(), UTC)
        end = datetime.combine(last, datetime.min.time(), UTC) + timedelta(days=1)
        rows = await self._rows(
            "SELECT bucket, min(minimum) AS lo, max(maximum) AS hi, sum(total) AS total, "
            "sum(count) AS n FROM domain.sensor_rollups WHERE device_id = ANY(:devices) "
            "AND metric = :metric AND resolution = '1d' AND bucket >= :start AND bucket < :end "
            "GROUP BY bucket",
            devices=list(device_ids),
            metric=metric,
            start=start,
            end=end,
        )
        return {
            r.bucket.astimezone(UTC).date(): Bucket(r.bucket, r.lo, r.hi, r.total, int(r.n))
            for r in rows
        }
