"""The alerts inbox's reads: one page of 100 alerts over 100 devices, its devices named.

The console's inbox reads the page of alerts (``ListAlerts``) and then its devices' names.
The baseline names them as it did before: one ``GetDevice`` per device, all at once (101
gRPC calls a page); the measured way as now: one ``ListDevices`` narrowed to the page's ids
(2 calls). Both through the gateway's own gRPC client to a real domain-api on PostgreSQL,
as one member, interleaved in ``BENCH_ROUNDS`` (5) rounds of ``BENCH_PAGES`` (20) pages per
side; the figure is the median of the rounds' ratios of median page times (the shared host's
load moves both sides alike), with the calls each side made a page.

    uv run python -m bench.sensors.bench_alert_inbox
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
from bijmantra.adapters.grpc.sensors import SensorsClient
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.kernel import PageRequest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results" / "alert_inbox.json"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PAGES = int(os.environ.get("BENCH_PAGES", "20"))
DEVICES = 100
PASSWORD = "bench-alert-inbox-1"
PAGE = PageRequest(0, 100)
Naming = Callable[["CountedSensors", str, list[str]], Awaitable[dict[str, str]]]


class CountedSensors(SensorsClient):
    """The gateway's client, counting the gRPC calls it makes."""

    calls = 0

    async def _call(self, method: str, request: Any, metadata: Any) -> Any:
        self.calls += 1
        return await super()._call(method, request, metadata)


async def one_by_one(client: CountedSensors, token: str, ids: list[str]) -> dict[str, str]:
    """Before: a ``GetDevice`` per device of the page."""
    found = await asyncio.gather(*(client.device(token, i) for i in ids))
    return {i: str(msgspec.json.decode(d)["name"]) for i, d in zip(ids, found, strict=True)}


async def by_ids(client: CountedSensors, token: str, ids: list[str]) -> dict[str, str]:
    """Now: the devices list narrowed to the page's ids."""
    found = await client.devices(token, PageRequest(0, len(ids)), ids)
    documents = [msgspec.json.decode(d) for d in found.items]
    return {str(d["deviceId"]): str(d["name"]) for d in documents}


async def page(client: CountedSensors, token: str, naming: Naming) -> tuple[float, int]:
    """Seconds and gRPC calls of one inbox page's reads."""
    calls, started = client.calls, time.perf_counter()
    alerts = await client.alerts(token, PAGE, "")
    ids = sorted({msgspec.json.decode(a)["deviceId"] for a in alerts.items})
    named = await naming(client, token, ids)
    assert len(named) == DEVICES, len(named)
    return time.perf_counter() - started, client.calls - calls


def organization(stack: DevStack) -> tuple[str, str]:
    """(token, tenant) of a fresh organization with 100 devices, each with one open alert of
    a profile-wide no-data rule (the alerts written as the worker's would be)."""
    email = f"bench-{uuid.uuid4().hex[:8]}@alerts.example.org"
    tenant = stack.register_member(email, PASSWORD, ["data-manager"])
    token = stack.login(email, PASSWORD)
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=60, headers=auth) as client:
        metric = {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}
        made = client.post("/api/v1/device-profiles", json={"name": "s", "metrics": [metric]})
        profile = made.raise_for_status().json()["data"]["profileId"]
        place = client.post("/brapi/v2/locations", json=[{"locationName": "field"}])
        location = place.raise_for_status().json()["result"]["data"][0]["locationDbId"]
        devices = []
        for n in range(DEVICES):
            body = {"name": f"Station {n}", "profileId": profile, "locationDbId": location}
            devices.append(client.post("/api/v1/devices", json=body).raise_for_status())
        rule = {"name": "quiet", "metric": "air_temperature", "kind": "no_data"}
        rule |= {"profileId": profile, "intervalSeconds": 60, "intervals": 1}
        rule_id = client.post("/api/v1/alert-rules", json=rule).raise_for_status()
    now = datetime.now(UTC)
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        for n, device in enumerate(devices):
            conn.execute(
                "INSERT INTO domain.sensor_alerts (tenant_id, alert_id, rule_id, device_id, "
                "metric, kind, opened_at, value, message, status) VALUES "
                "(%s, %s, %s, %s, 'air_temperature', 'no_data', %s, NULL, 'quiet', 'open')",
                (
                    tenant,
                    uuid.uuid4().hex,
                    rule_id.json()["data"]["ruleId"],
                    device.json()["data"]["deviceId"],
                    now - timedelta(minutes=n),
                ),
            )
    return token, str(tenant)


async def measure(stack: DevStack, token: str) -> dict[str, Any]:
    sides: dict[str, Naming] = {"one_by_one": one_by_one, "by_ids": by_ids}
    rounds: list[dict[str, Any]] = []
    calls: dict[str, int] = {}
    async with stack.grpc_channel(f"127.0.0.1:{stack.ports.domain_api}") as channel:
        client = CountedSensors(channel)
        for naming in sides.values():
            for _ in range(3):  # warm: connections, prepared statements
                await page(client, token, naming)
        for _ in range(ROUNDS):
            times: dict[str, list[float]] = {n: [] for n in sides}
            for _ in range(PAGES):
                for name, naming in sides.items():
                    seconds, calls[name] = await page(client, token, naming)
                    times[name].append(seconds)
            medians = {n: statistics.median(t) for n, t in times.items()}
            rounds.append(
                {
                    **{f"{n}_ms": round(m * 1000, 2) for n, m in medians.items()},
                    "ratio": round(medians["by_ids"] / medians["one_by_one"], 3),
                    "load_average": round(os.getloadavg()[0], 1),
                }
            )
            print(json.dumps(rounds[-1]), flush=True)
    return {
        "calls_per_page": calls,
        "rounds": rounds,
        "median_ratio_by_ids_to_one_by_one": statistics.median(r["ratio"] for r in rounds),
    }


def main() -> None:
    with running_stack(ROOT / ".bijmantra" / "bench-alert-inbox") as stack:
        token, _ = organization(stack)
        result = asyncio.run(measure(stack, token))
    report = {
        "meta": {
            "alerts_per_page": DEVICES,
            "devices": DEVICES,
            "rounds": ROUNDS,
            "pages_per_round": PAGES,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_end": os.getloadavg(),
        },
        **result,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    ratio = result["median_ratio_by_ids_to_one_by_one"]
    print(f"calls a page {result['calls_per_page']}; median time ratio {ratio}x; {RESULTS}")


if __name__ == "__main__":
    main()
