"""The limit of enrolled devices and the bound on retained publishes (ADR 0361) through the
whole topology: the registration past an organization's limit is a 409 ``storage_full`` in
the platform envelope and stores nothing; registrations racing for the last place pass one
at a time; revoking frees a place; another organization registers on. Over MQTT, a device's
large retained batch is stored as readings and not kept by the device edge."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from bijmantra.adapters.nats import connect
from bijmantra.adapters.nats.retained import MAX_RETAINED, RETAINED_STREAM
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.mqtt_device import MqttDevice

pytestmark = [pytest.mark.e2e]
LIMIT = 3
PASSWORD = "pw-device-limit-1"
PROFILE = {
    "name": "logger",
    "metrics": [{"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70}],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {"MAX_ENROLLED_DEVICES": str(LIMIT)}
    with running_stack(tmp_path_factory.mktemp("limit"), env=env, device_edge=True) as stack:
        yield stack


class Organization:
    """A data manager of a new organization, with a profile and a location to place at."""

    def __init__(self, stack: DevStack) -> None:
        email = f"manager-{uuid.uuid4().hex[:8]}@limit.example.org"
        stack.register_member(email, PASSWORD, ["data-manager"])
        headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
        self.stack = stack
        self.client = httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)
        created = self.client.post("/brapi/v2/locations", json=[{"locationName": "field"}])
        assert created.status_code == 200, created.text
        profile = self.client.post("/api/v1/device-profiles", json=PROFILE)
        assert profile.status_code == 201, profile.text
        self.body = {
            "profileId": profile.json()["data"]["profileId"],
            "locationDbId": created.json()["result"]["data"][0]["locationDbId"],
        }

    def register(self, name: str) -> httpx.Response:
        return self.client.post("/api/v1/devices", json={**self.body, "name": name})

    def names(self) -> list[str]:
        return sorted(d["name"] for d in self.client.get("/api/v1/devices").json()["data"])


def test_the_registration_past_the_limit_is_refused_racing_ones_too_and_revoking_frees_one(
    stack: DevStack,
) -> None:
    org, other = Organization(stack), Organization(stack)
    first = org.register("first")
    assert first.status_code == 201, first.text
    assert org.register("second").status_code == 201
    with ThreadPoolExecutor(5) as pool:  # five for the last place
        racing = list(pool.map(org.register, [f"racer {i}" for i in range(5)]))
    assert sorted(r.status_code for r in racing) == [201, 409, 409, 409, 409]
    refused = next(r for r in racing if r.status_code == 409).json()["error"]
    assert refused["code"] == "storage_full"
    assert refused["message"].startswith(
        f"This organization has reached its limit of {LIMIT} enrolled devices: the device "
        "was not registered"
    )
    details = {d["location"]: d["message"] for d in refused["details"]}
    assert details.pop("used") in (str(LIMIT), str(LIMIT + 1))  # read early, or at the commit
    assert details == {"resource": "stored_enrolled_devices", "cap": str(LIMIT)}
    assert len(org.names()) == LIMIT

    assert other.register("elsewhere").status_code == 201  # another organization registers on

    device_id = first.json()["data"]["deviceId"]
    assert org.client.post(f"/api/v1/devices/{device_id}/revoke").status_code == 200
    assert org.register("after revoking").status_code == 201
    assert org.register("one too many").status_code == 409
    assert len(org.names()) == LIMIT + 1  # the revoked device stays, as history


def test_a_large_retained_batch_is_stored_as_readings_but_not_kept_on_the_edge(
    stack: DevStack,
) -> None:
    org = Organization(stack)
    registered = org.register("retaining")
    assert registered.status_code == 201, registered.text
    device_id = registered.json()["data"]["deviceId"]
    code = org.client.post(f"/api/v1/devices/{device_id}/claim-code").json()["data"]["claimCode"]
    with httpx.Client(base_url=stack.gateway_url, timeout=60) as anonymous:
        claimed = anonymous.post("/api/v1/devices/claim", json={"claimCode": code})
    credential = claimed.json()["data"]["credential"]
    tenant = credential.split(".")[1]

    device = MqttDevice(stack.devices.mqtt_port if stack.devices else 0, credential)
    try:
        assert device.connect() == "Success"
        now = datetime.now(UTC).replace(microsecond=0)
        body = b'{"readings":[{"metric":"air_temperature","time":"%s","value":21.5}]}' % (
            now.isoformat().encode()
        )
        info = device.client.publish(
            f"bijmantra/t/{tenant}/{device_id}", body + b" " * 65536, qos=1, retain=True
        )
        info.wait_for_publish(30)
        query = {
            "metric": "air_temperature",
            "from": (now - timedelta(minutes=5)).isoformat(),
            "to": (now + timedelta(minutes=5)).isoformat(),
        }
        history = f"/api/v1/devices/{device_id}/telemetry"
        for _ in range(120):
            answer = org.client.get(history, params=query)
            assert answer.status_code == 200, answer.text
            points = answer.json()["data"]["points"]
            if points:
                break
            time.sleep(0.25)
        assert [p["value"] for p in points] == [21.5]
    finally:
        device.close()
    assert asyncio.run(_retained(stack)) == (0, MAX_RETAINED)


async def _retained(stack: DevStack) -> tuple[int, int]:
    assert stack.devices is not None
    nc = await connect(stack.devices.ingest_url, name="test-retained")
    try:
        info = await nc.jetstream().stream_info(RETAINED_STREAM)
    finally:
        await nc.close()
    return info.state.messages, info.config.max_msg_size
