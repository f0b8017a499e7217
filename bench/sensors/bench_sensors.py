"""Sensor telemetry through the whole platform, each figure against a baseline of the same run.

* Ingestion: one device's year of 1-minute readings (``BENCH_SENSOR_READINGS``, 525,600) sent
  as ``POST /api/v1/telemetry`` batches of ``BENCH_SENSOR_BATCH`` (5,000) through gateway ->
  gRPC -> domain-api (credential, profile rules, rollups, event) -> PostgreSQL, in readings
  per second; baseline: a raw ``COPY`` of the very rows stored, in batches of the same size,
  into an equivalent table (``LIKE domain.sensor_readings INCLUDING ALL``: same columns and
  primary key; no RLS, no partitions, no rollups). The year goes in ``BENCH_SENSOR_ROUNDS``
  (5) parts, each sent and then COPY'd, so both sides of a round share the host's moment;
  the ratio of the totals and the median of the rounds' ratios are reported. Target: >= 30 %.
* MQTT: ``BENCH_SENSOR_MQTT_READINGS`` (100,000) readings of a second device published with
  paho-mqtt (QoS 1, same batch size) to NATS's MQTT listener, until all are stored; same
  baseline (COPY's rate of this run). Target: >= 30 %.
* History: that year read at 1-hour resolution (``GET /api/v1/devices/{id}/telemetry``,
  8,760 buckets with min/max/mean/count) p50/p95 through the gateway, once the ingestion's
  events are all published (reads are not measured against the backlog); baseline: the same
  buckets aggregated from the raw rows by PostgreSQL alone (``GROUP BY date_trunc``).
  Target: p95 <= 50 ms and >= 10x faster than the raw aggregation.

``BENCH_SENSOR_PARTS`` picks the parts (default ``ingest,history``; ``ingest`` alone runs
HTTPS, its COPY baseline and MQTT, and skips the history reads).

    uv run python bench/sensors/bench_sensors.py
    BENCH_SENSOR_READINGS=100000 uv run python bench/sensors/bench_sensors.py
    BENCH_SENSOR_PARTS=ingest uv run python -m bench.sensors.bench_sensors
"""

from __future__ import annotations

import io
import json
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
from bijmantra.devstack.stack import DevStack, running_stack

ROOT = Path(__file__).resolve().parents[2]


RESULTS = ROOT / "bench" / "results" / "sensors.json"
READINGS = int(os.environ.get("BENCH_SENSOR_READINGS", "525600"))
BATCH = int(os.environ.get("BENCH_SENSOR_BATCH", "5000"))
READS = int(os.environ.get("BENCH_SENSOR_READS", "40"))
MQTT_READINGS = int(os.environ.get("BENCH_SENSOR_MQTT_READINGS", "100000"))
ROUNDS = int(os.environ.get("BENCH_SENSOR_ROUNDS", "5"))
PARTS = set(os.environ.get("BENCH_SENSOR_PARTS", "ingest,history").split(","))
PASSWORD = "bench-sensors-1"
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
START = END - timedelta(minutes=READINGS)


def value(i: int) -> float:
    return round(15.0 + 10.0 * ((i % 1440) / 1440.0) - (i % 7) * 0.3, 3)


def batches(count: int = READINGS) -> list[list[dict[str, Any]]]:
    rows = [
        {
            "metric": "air_temperature",
            "time": (START + timedelta(minutes=i)).isoformat(),
            "value": value(i),
        }
        for i in range(count)
    ]
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def enrol(stack: DevStack, name: str = "bench station") -> tuple[str, str, str]:
    """(token, device id, device credential) in a fresh organization."""
    email = f"bench-{uuid.uuid4().hex[:8]}@sensors.example.org"
    stack.register_member(email, PASSWORD, ["data-manager"])
    token = stack.login(email, PASSWORD)
    with httpx.Client(
        base_url=stack.gateway_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        profile = client.post(
            "/api/v1/device-profiles",
            json={
                "name": name,
                "metrics": [
                    {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}
                ],
            },
        ).json()["data"]
        # A device is placed at one of its organization's locations (422 otherwise).
        place = client.post("/brapi/v2/locations", json=[{"locationName": name}])
        location = place.raise_for_status().json()["result"]["data"][0]["locationDbId"]
        body = {"name": "bench", "profileId": profile["profileId"], "locationDbId": location}
        device = client.post("/api/v1/devices", json=body).json()["data"]
        code = client.post(f"/api/v1/devices/{device['deviceId']}/claim-code").json()["data"]
        claimed = client.post("/api/v1/devices/claim", json={"claimCode": code["claimCode"]})
        claimed.raise_for_status()
    return token, device["deviceId"], claimed.json()["data"]["credential"]


def ingest(stack: DevStack, credential: str, bodies: list[bytes]) -> float:
    with httpx.Client(
        base_url=stack.gateway_url,
        timeout=300,
        headers={"Authorization": f"Device {credential}", "Content-Type": "application/json"},
    ) as client:
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/api/v1/telemetry", content=body)
            response.raise_for_status()
        return time.perf_counter() - started


def stored(conn: psycopg.Connection[Any], device_id: str) -> int:
    row = conn.execute(
        "SELECT count(*) FROM domain.sensor_readings WHERE device_id = %s", (device_id,)
    ).fetchone()
    return int(row[0]) if row else 0


def folded(conn: psycopg.Connection[Any], device_id: str) -> int:
    """Readings stored so far, from the device's day rollups: a few dozen rows, kept in the
    transaction that stores the readings (ADR 0207), so exact at every commit. The wait polls
    this, not ``count(*)`` over the raw rows, which cost PostgreSQL 60-100 ms (parallel
    workers) 20 times a second: the measurement took most of a core from what it measured."""
    row = conn.execute(
        "SELECT coalesce(sum(count), 0) FROM domain.sensor_rollups "
        "WHERE device_id = %s AND resolution = '1d'",
        (device_id,),
    ).fetchone()
    return int(row[0]) if row else 0


def ingest_mqtt(port: int, owner_url: str, device_id: str, credential: str) -> float:
    """Publish every batch (QoS 1), then wait until the platform stored all of them."""
    bodies = [json.dumps({"readings": b}).encode() for b in batches(MQTT_READINGS)]
    _, tenant, device, _ = credential.split(".")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device, protocol=mqtt.MQTTv311)
    client.username_pw_set("bench", credential)
    client.connect("127.0.0.1", port)
    client.loop_start()
    with psycopg.connect(owner_url, autocommit=True) as conn:  # one connection polls
        started = time.perf_counter()
        for body in bodies:
            client.publish(f"bijmantra/t/{tenant}/{device}", body, qos=1).wait_for_publish(120)
        while folded(conn, device_id) < MQTT_READINGS:
            if time.perf_counter() - started > 1800:
                raise SystemExit("MQTT readings were not all stored")
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        if stored(conn, device_id) != MQTT_READINGS:  # the raw rows agree, checked untimed
            raise SystemExit("the rollups and the raw readings disagree")
    client.loop_stop()
    client.disconnect()
    return elapsed


def interleaved(
    stack: DevStack, owner_url: str, device_id: str, credential: str, bodies: list[bytes]
) -> tuple[list[float], list[float]]:
    """The year in ``ROUNDS`` parts, each sent over HTTPS and then COPY'd as the very rows the
    platform stored into an equivalent plain table: per-round seconds of each side, so a
    neighbour's burst on the shared host falls on both sides of one round, not on one side."""
    per_round = -(-len(bodies) // ROUNDS)
    https: list[float] = []
    copies: list[float] = []
    with psycopg.connect(owner_url) as conn:
        conn.execute("DROP SCHEMA IF EXISTS baseline_sensors CASCADE")
        conn.execute("CREATE SCHEMA baseline_sensors")
        conn.execute(
            "CREATE TABLE baseline_sensors.readings (LIKE domain.sensor_readings INCLUDING ALL)"
        )
        conn.commit()
        for first in range(0, len(bodies), per_round):
            part = bodies[first : first + per_round]
            https.append(ingest(stack, credential, part))
            since = START + timedelta(minutes=first * BATCH)
            until = START + timedelta(minutes=min((first + len(part)) * BATCH, READINGS))
            copies.append(copy_rows(conn, device_id, since, until))
        conn.execute("DROP SCHEMA baseline_sensors CASCADE")
        conn.commit()
    return https, copies


def copy_rows(
    conn: psycopg.Connection[Any], device_id: str, since: datetime, until: datetime
) -> float:
    """COPY the rows the platform stored in [since, until), batch by batch, each committed;
    only the COPY into the baseline table is timed."""
    buffer = io.StringIO()
    with conn.cursor().copy(
        "COPY (SELECT tenant_id, device_id, metric, at, value FROM domain.sensor_readings "
        "WHERE device_id = %s AND at >= %s AND at < %s ORDER BY at) TO STDOUT",
        (device_id, since, until),
    ) as copy:
        for chunk in copy:
            buffer.write(bytes(chunk).decode())
    conn.commit()
    lines = buffer.getvalue().splitlines(keepends=True)
    assert len(lines) == round((until - since) / timedelta(minutes=1)), len(lines)
    chunks = ["".join(lines[i : i + BATCH]).encode() for i in range(0, len(lines), BATCH)]
    started = time.perf_counter()
    for chunk in chunks:
        with conn.cursor().copy("COPY baseline_sensors.readings FROM STDIN") as copy:
            copy.write(chunk)
        conn.commit()
    return time.perf_counter() - started


def settle(owner_url: str, limit: float = 600.0) -> float:
    """Wait until every event of the ingestion is published (the relay, the live feed and the
    alert consumer have the batches behind them), so history reads meet a quiet platform;
    returns how long that took."""
    started = time.perf_counter()
    with psycopg.connect(owner_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM domain.outbox WHERE published_at IS NULL"
            ).fetchone()
            if not row or not row[0]:
                break
            if time.perf_counter() - started > limit:
                raise SystemExit("the outbox did not drain")
            time.sleep(0.2)
    time.sleep(2.0)  # consumers finish what the relay handed them
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(1000 * statistics.median(ordered), 2),
        "p95_ms": round(1000 * ordered[max(0, int(len(ordered) * 0.95) - 1)], 2),
    }


def read_history(stack: DevStack, token: str, device_id: str) -> tuple[list[float], int]:
    params = {
        "metric": "air_temperature",
        "from": START.isoformat(),
        "to": END.isoformat(),
        "resolution": "1h",
    }
    samples: list[float] = []
    points = 0
    with httpx.Client(
        base_url=stack.gateway_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        for i in range(READS + 3):
            started = time.perf_counter()
            response = client.get(f"/api/v1/devices/{device_id}/telemetry", params=params)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            points = len(response.json()["data"]["points"])
            if i >= 3:  # warm-up: connections, plans, caches
                samples.append(elapsed)
    return samples, points


def raw_aggregation(owner_url: str, device_id: str) -> tuple[list[float], int]:
    samples: list[float] = []
    rows = 0
    with psycopg.connect(owner_url) as conn:
        for i in range(6):
            started = time.perf_counter()
            found = conn.execute(
                "SELECT date_trunc('hour', at, 'UTC') AS b, min(value), max(value), avg(value), "
                "count(*) FROM domain.sensor_readings WHERE device_id = %s "
                "AND metric = 'air_temperature' AND at >= %s AND at < %s GROUP BY b ORDER BY b",
                (device_id, START, END),
            ).fetchall()
            elapsed = time.perf_counter() - started
            rows = len(found)
            if i >= 1:
                samples.append(elapsed)
    return samples, rows


def history_figures(
    settled: float, api_samples: list[float], points: int, raw_samples: list[float], raw_rows: int
) -> dict[str, Any]:
    api = percentiles(api_samples)
    raw = percentiles(raw_samples)
    return {
        "buckets": points,
        "outbox_drained_after_s": round(settled, 1),
        **api,
        "raw_aggregation": raw,
        "raw_rows_grouped": raw_rows,
        "speedup_p50_vs_raw": round(raw["p50_ms"] / api["p50_ms"], 1),
        "speedup_p95_vs_raw": round(raw["p95_ms"] / api["p95_ms"], 1),
        "target_p95_ms": 50,
        "target_speedup": 10,
    }


def main() -> None:
    print(f"sensors: {READINGS} readings in batches of {BATCH}", flush=True)
    load_at_start = [round(x, 1) for x in os.getloadavg()]
    bodies = [json.dumps({"readings": b}).encode() for b in batches()]
    workdir = (
        Path(os.environ.get("BENCH_WORKDIR", "/tmp")) / f"bench-sensors-{uuid.uuid4().hex[:6]}"
    )
    with running_stack(workdir, device_edge=True) as stack:
        assert stack.database is not None
        assert stack.devices is not None
        owner = stack.database.owner_url
        token, device_id, credential = enrol(stack)
        https_rounds, copy_rounds = interleaved(stack, owner, device_id, credential, bodies)
        _, mqtt_device, mqtt_credential = enrol(stack, "mqtt station")
        mqtt_port = stack.devices.mqtt_port
        mqtt_seconds = ingest_mqtt(mqtt_port, owner, mqtt_device, mqtt_credential)
        history: dict[str, Any] = {}
        if "history" in PARTS:
            settled = settle(owner)
            api_samples, points = read_history(stack, token, device_id)
            raw_samples, raw_rows = raw_aggregation(owner, device_id)
            history = history_figures(settled, api_samples, points, raw_samples, raw_rows)
    mqtt_rate = MQTT_READINGS / mqtt_seconds
    platform_rate = READINGS / sum(https_rounds)
    copy_rate = READINGS / sum(copy_rounds)
    round_ratios = [round(c / h, 3) for h, c in zip(https_rounds, copy_rounds, strict=True)]
    report: dict[str, Any] = {
        "meta": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "readings": READINGS,
            "batch": BATCH,
            "parts": sorted(PARTS),
            "load_average_at_start": load_at_start,
            "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        },
        "ingest_https": {
            "readings_per_s": round(platform_rate),
            "copy_readings_per_s": round(copy_rate),
            "ratio_vs_copy": round(platform_rate / copy_rate, 3),
            "round_ratios": round_ratios,
            "median_round_ratio": statistics.median(round_ratios),
            "target_ratio": 0.30,
        },
        "ingest_mqtt": {
            "readings": MQTT_READINGS,
            "readings_per_s": round(mqtt_rate),
            "copy_readings_per_s": round(copy_rate),
            "ratio_vs_copy": round(mqtt_rate / copy_rate, 3),
            "target_ratio": 0.30,
        },
    }
    if history:
        report["history_1h_year"] = history
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2), flush=True)
    print(f"wrote {RESULTS}", flush=True)


if __name__ == "__main__":
    main()
