"""The sensors context from outside: enrolment over REST, telemetry from a device over HTTPS,
history (JSON, CSV, gaps), readings on /ws, alerts and device status evaluated by the
analytics-worker and pushed on /ws, another organization kept out."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.mqtt_device import MqttDevice
from websockets.asyncio.client import connect

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-sensors-manager-1"
WAIT = 30.0  # seconds before a missing frame counts as a failure (not a performance bound)
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
# The worker reports a device offline after this long without a reading (production: 15 min),
# checking every second: the status test waits seconds, not minutes.
SENSOR_ENV = {"DEVICE_OFFLINE_AFTER_SECONDS": "3", "SENSOR_CHECK_SECONDS": "1"}
PROFILE = {
    "name": "cold store logger",
    "metrics": [
        {"name": "air_temperature", "unit": "degC", "minimum": -50, "maximum": 70},
        {"name": "relative_humidity", "unit": "%", "minimum": 0, "maximum": 100},
    ],
}


class Site:
    def __init__(self, stack: DevStack) -> None:
        self.stack = stack
        self.email = f"manager-{uuid.uuid4().hex[:8]}@sensors.example.org"
        stack.register_member(self.email, PASSWORD, ["data-manager"])
        self.token = stack.login(self.email, PASSWORD)
        self.other_email = f"manager-{uuid.uuid4().hex[:8]}@other.example.org"
        stack.register_member(self.other_email, PASSWORD, ["data-manager"])
        self.other_token = stack.login(self.other_email, PASSWORD)
        self.mqtt_port = 0
        with self.client() as client:
            self.location = new_place(client, "location", {"locationName": "seed store 1"})

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.stack.gateway_url, headers=headers, timeout=30)


def new_place(client: httpx.Client, entity: str, document: dict[str, Any]) -> str:
    """A new ``location`` or ``study`` of the client's organization, for a device: its DbId."""
    collection = {"location": "locations", "study": "studies"}[entity]
    created = client.post(f"/brapi/v2/{collection}", json=[document])
    assert created.status_code == 200, created.text
    [record] = created.json()["result"]["data"]
    return str(record[f"{entity}DbId"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_stack(
        tmp_path_factory.mktemp("sensors"), device_edge=True, env=SENSOR_ENV
    ) as stack:
        assert stack.devices is not None
        site = Site(stack)
        site.mqtt_port = stack.devices.mqtt_port
        yield site


def profile_of(client: httpx.Client) -> str:
    """The organization's logger profile (made by the first caller)."""
    profiles = client.get("/api/v1/device-profiles").json()["data"]
    if profiles:
        return str(profiles[0]["profileId"])
    created = client.post("/api/v1/device-profiles", json=PROFILE)
    assert created.status_code == 201, created.text
    return str(created.json()["data"]["profileId"])


def enrol(site: Site) -> tuple[str, str]:
    """Steps 1-3 over REST; returns (device id, device credential)."""
    with site.client() as client:
        profile_id = profile_of(client)
        body = {"name": "store 1", "profileId": profile_id, "locationDbId": site.location}
        device = client.post("/api/v1/devices", json=body)
        assert device.status_code == 201, device.text
        device_id = device.json()["data"]["deviceId"]
        code = client.post(f"/api/v1/devices/{device_id}/claim-code")
        assert code.status_code == 201, code.text
    with httpx.Client(base_url=site.stack.gateway_url, timeout=30) as device_client:
        claimed = device_client.post(
            "/api/v1/devices/claim", json={"claimCode": code.json()["data"]["claimCode"]}
        )
        assert claimed.status_code == 200, claimed.text
        again = device_client.post(
            "/api/v1/devices/claim", json={"claimCode": code.json()["data"]["claimCode"]}
        )
        assert again.status_code == 409, again.text
        assert again.json()["error"]["code"] == "conflict"
    return device_id, claimed.json()["data"]["credential"]


@asynccontextmanager
async def feed(site: Site, events: list[str], device_id: str | None = None) -> AsyncIterator[Any]:
    """The member's /ws, subscribed to ``events`` (of one device when given)."""
    url = site.stack.gateway_url.replace("http://", "ws://") + "/ws"
    async with connect(url, additional_headers={"Authorization": f"Bearer {site.token}"}) as ws:
        assert json.loads(await ws.recv())["type"] == "ready"
        subscription: dict[str, Any] = {"type": "subscribe", "events": events}
        if device_id is not None:
            subscription["resources"] = [device_id]
        await ws.send(json.dumps(subscription))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        yield ws


def send(site: Site, credential: str, readings: list[dict[str, Any]]) -> httpx.Response:
    with httpx.Client(base_url=site.stack.gateway_url, timeout=60) as client:
        return client.post(
            "/api/v1/telemetry",
            json={"readings": readings},
            headers={"Authorization": f"Device {credential}"},
        )


def reading(minutes_ago: int, value: float, metric: str = "air_temperature") -> dict[str, Any]:
    at = NOW - timedelta(minutes=minutes_ago)
    return {"metric": metric, "time": at.isoformat(), "value": value}


def test_enrolment_and_a_batch_over_https_with_history_json_and_csv(site: Site) -> None:
    device_id, credential = enrol(site)
    batch = [reading(m, 4.0 + (m % 3)) for m in range(1, 121) if m not in range(30, 40)]
    batch.append(reading(5, 120.0))  # out of range: reported, not stored
    first = send(site, credential, batch)
    assert first.status_code == 200, first.text
    data = first.json()["data"]
    assert (data["stored"], data["duplicates"]) == (110, 0)
    assert data["rejected"] == [{"index": 110, "reason": data["rejected"][0]["reason"]}]
    again = send(site, credential, batch)
    assert again.json()["data"]["stored"] == 0
    with site.client() as client:
        device = client.get(f"/api/v1/devices/{device_id}").json()["data"]
        assert (device["state"], device["status"]) == ("commissioned", "online")
        query = {
            "metric": "air_temperature",
            "from": (NOW - timedelta(hours=2)).isoformat(),
            "to": NOW.isoformat(),
            "resolution": "1m",
        }
        history = client.get(f"/api/v1/devices/{device_id}/telemetry", params=query)
        assert history.status_code == 200, history.text
        points = history.json()["data"]["points"]
        assert len(points) == 120
        assert sum(p["count"] for p in points) == 110
        assert sum(1 for p in points if p["count"] == 0) == 10  # the gap is shown as a gap
        csv = client.get(
            f"/api/v1/devices/{device_id}/telemetry", params={**query, "format": "csv"}
        )
        assert csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.splitlines()
        assert lines[0] == "time,min,max,mean,count"
        assert len(lines) == 121
        assert sum(1 for line in lines[1:] if line.endswith(",,,0")) == 10
    with site.client(site.other_token) as stranger:
        assert stranger.get(f"/api/v1/devices/{device_id}").status_code == 404
        assert (
            stranger.get(f"/api/v1/devices/{device_id}/telemetry", params=query).status_code == 404
        )


def test_bad_credentials_and_bad_bodies_are_refused_and_change_nothing(site: Site) -> None:
    device_id, credential = enrol(site)
    assert send(site, "bjd.nonsense", [reading(1, 1.0)]).status_code == 401
    forged = credential.rsplit(".", 1)[0] + ".forged"
    assert send(site, forged, [reading(1, 1.0)]).status_code == 401
    with httpx.Client(base_url=site.stack.gateway_url, timeout=30) as client:
        no_auth = client.post("/api/v1/telemetry", json={"readings": [reading(1, 1.0)]})
        assert no_auth.status_code == 401
        bad = client.post(
            "/api/v1/telemetry",
            content=b"{not json",
            headers={"Authorization": f"Device {credential}"},
        )
        assert bad.status_code == 400, bad.text
        assert bad.json()["error"]["code"] == "malformed"
    assert send(site, credential, [reading(1, 99.0)]).status_code == 422
    with site.client() as client:
        device = client.get(f"/api/v1/devices/{device_id}").json()["data"]
        assert device["state"] == "claimed"  # nothing valid arrived: not commissioned
        revoked = client.post(f"/api/v1/devices/{device_id}/revoke")
        assert revoked.status_code == 200
    assert send(site, credential, [reading(1, 1.0)]).status_code == 401
    with site.client() as client:  # a device body missing every field
        assert client.post("/api/v1/devices", content=b"{}").status_code == 422


def test_a_device_is_placed_only_at_its_organizations_own_location_and_study(
    site: Site,
) -> None:
    """Another organization's or an unknown location or study is a 422 naming the field (ADR
    0325), nothing registered; the organization's own study and location are taken."""
    with site.client(site.other_token) as stranger:
        theirs = new_place(stranger, "location", {"locationName": "their store"})
        their_study = new_place(stranger, "study", {"studyName": "their trial"})
    with site.client() as client:
        study = new_place(client, "study", {"studyName": "trial", "locationDbId": site.location})
        profile_id = profile_of(client)
        before = client.get("/api/v1/devices").json()["meta"]["total_count"]
        for placement, fields in [
            ({"locationDbId": theirs}, ["locationDbId"]),
            ({"locationDbId": "nowhere"}, ["locationDbId"]),
            ({"locationDbId": site.location, "studyDbId": their_study}, ["studyDbId"]),
            ({"locationDbId": study, "studyDbId": site.location}, ["locationDbId", "studyDbId"]),
        ]:
            body = {"name": "placed", "profileId": profile_id, **placement}
            refused = client.post("/api/v1/devices", json=body)
            assert refused.status_code == 422, refused.text
            error = refused.json()["error"]
            assert error["code"] == "unprocessable"
            assert [d["location"] for d in error["details"]] == fields, placement
        after = client.get("/api/v1/devices").json()["meta"]["total_count"]
        assert after == before
        body = {"name": "in trial", "profileId": profile_id, "locationDbId": site.location}
        placed = client.post("/api/v1/devices", json={**body, "studyDbId": study})
        assert placed.status_code == 201, placed.text
        assert placed.json()["data"]["studyDbId"] == study


def test_huge_batches_are_refused_whole_and_a_replayed_batch_is_stored_once(site: Site) -> None:
    device_id, credential = enrol(site)
    week = [reading(m, 5.0 + (m % 11) / 10) for m in range(1, 5_001)]
    first = send(site, credential, week)
    replay = send(site, credential, week)
    assert first.status_code == replay.status_code == 200, replay.text
    assert first.json()["data"]["stored"] == 5_000
    assert (replay.json()["data"]["stored"], replay.json()["data"]["duplicates"]) == (0, 5_000)
    query = {
        "metric": "air_temperature",
        "from": (NOW - timedelta(days=4)).isoformat(),
        "to": NOW.isoformat(),
        "resolution": "1h",
    }
    with site.client() as client:
        hours = client.get(f"/api/v1/devices/{device_id}/telemetry", params=query)
    assert sum(p["count"] for p in hours.json()["data"]["points"]) == 5_000  # not 10,000
    too_many = [reading(m, 1.0) for m in range(5_001, 15_002)]  # 10,001 readings
    refused = send(site, credential, too_many)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["location"] == "readings"
    padded = b'{"readings": [' + b" " * (5 * 1024 * 1024) + b"]}"  # over the 4 MiB bound
    with httpx.Client(base_url=site.stack.gateway_url, timeout=60) as client:
        oversize = client.post(
            "/api/v1/telemetry",
            content=padded,
            headers={"Authorization": f"Device {credential}"},
        )
    assert oversize.status_code == 413
    with site.client() as client:
        again = client.get(f"/api/v1/devices/{device_id}/telemetry", params=query)
        # A CSV of years at one minute is never built: over 10,000 buckets is refused first.
        years = {**query, "from": "2000-01-01T00:00:00+00:00", "resolution": "1m", "format": "csv"}
        huge = client.get(f"/api/v1/devices/{device_id}/telemetry", params=years)
        assert huge.status_code == 422, huge.text
    assert again.json()["data"]["points"] == hours.json()["data"]["points"]  # nothing changed


async def test_a_reading_appears_on_the_live_feed(site: Site) -> None:
    device_id, credential = enrol(site)
    async with feed(site, ["sensors.telemetry.received"], device_id) as socket:
        response = await asyncio.to_thread(send, site, credential, [reading(1, 7.5)])
        assert response.status_code == 200, response.text
        while True:
            message = json.loads(await asyncio.wait_for(socket.recv(), WAIT))
            if message["type"] == "event":
                break
        event = message["event"]
        assert event["type"] == "sensors.telemetry.received"
        assert event["subject"] == device_id
        [summary] = event["data"]["series"]  # no rule follows it: a summary, no readings
        assert (summary["metric"], summary["count"], summary["lastValue"]) == (
            "air_temperature",
            1,
            7.5,
        )
        assert "readings" not in event["data"]


async def test_a_threshold_alert_opens_from_a_reading_is_pushed_live_and_is_acknowledged(
    site: Site,
) -> None:
    device_id, credential = enrol(site)
    rule = {
        "name": "cold store too warm",
        "metric": "air_temperature",
        "kind": "threshold",
        "deviceId": device_id,
        "comparison": "above",
        "threshold": 8.0,
    }
    with site.client() as client:
        created = client.post("/api/v1/alert-rules", json=rule)
        assert created.status_code == 201, created.text
        bad = client.post("/api/v1/alert-rules", json={**rule, "threshold": None})
        assert bad.status_code == 422
    async with feed(site, ["sensors.alert.opened"]) as ws:
        response = await asyncio.to_thread(send, site, credential, [reading(1, 9.5)])
        assert response.status_code == 200, response.text
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            if message["type"] == "event" and message["event"]["data"]["deviceId"] == device_id:
                break
    alert = message["event"]["data"]
    assert (alert["status"], alert["value"]) == ("open", 9.5)
    with site.client() as client:
        inbox = client.get("/api/v1/alerts", params={"status": "open"}).json()["data"]
        assert alert["alertId"] in {a["alertId"] for a in inbox}
        acked = client.post(f"/api/v1/alerts/{alert['alertId']}/acknowledge")
        assert acked.status_code == 200, acked.text
        assert acked.json()["data"]["acknowledgedBy"]
        assert client.post(f"/api/v1/alerts/{alert['alertId']}/acknowledge").status_code == 409
        cleared = client.post(f"/api/v1/alerts/{alert['alertId']}/clear")
        assert cleared.json()["data"]["status"] == "cleared"
    with site.client(site.other_token) as stranger:
        assert stranger.get("/api/v1/alerts").json()["data"] == []
        assert stranger.post(f"/api/v1/alerts/{alert['alertId']}/clear").status_code == 404


async def test_a_reading_older_than_one_evaluated_opens_its_alert_over_readings_around(
    site: Site,
) -> None:
    """ADR 0380 through the real worker and its gRPC calls: a breach sent after a newer
    reading was evaluated is judged among the stored readings (ReadingsAround) and opens."""
    device_id, credential = enrol(site)
    rule = {"name": "warm", "metric": "air_temperature", "kind": "threshold"}
    rule |= {"deviceId": device_id, "comparison": "above", "threshold": 8.0}
    with site.client() as client:
        created = client.post("/api/v1/alert-rules", json={**rule, "cooldownSeconds": 0})
        assert created.status_code == 201, created.text
    async with feed(site, ["sensors.alert.opened"]) as ws:
        for batch in ([reading(2, 9.5)], [reading(4, 9.7)]):  # the second is the older
            response = await asyncio.to_thread(send, site, credential, batch)
            assert response.status_code == 200, response.text
            async with asyncio.timeout(WAIT):  # pings answered, so bound the whole wait
                message = await alert_of(ws, device_id)
            assert message["event"]["data"]["value"] == batch[0]["value"]


async def alert_of(ws: Any, device_id: str) -> dict[str, Any]:
    """The next frame of an alert of ``device_id`` (its subject is the alert, its data names
    the device), answering the feed's pings meanwhile."""
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "ping":
            await ws.send('{"type":"pong"}')
        elif message["type"] == "event" and message["event"]["data"]["deviceId"] == device_id:
            return dict(message)


async def next_event_of(ws: Any, device_id: str) -> dict[str, Any]:
    """The next event frame about ``device_id`` (other tests' devices come and go too)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        if message["type"] == "event" and message["event"]["subject"] == device_id:
            return dict(message["event"])


def device_status(site: Site, device_id: str) -> str:
    with site.client() as client:
        return str(client.get(f"/api/v1/devices/{device_id}").json()["data"]["status"])


async def test_a_silent_device_is_reported_offline_on_the_feed_then_online_again(
    site: Site,
) -> None:
    device_id, credential = enrol(site)
    async with feed(site, ["sensors.device.offline", "sensors.device.online"], device_id) as ws:
        response = await asyncio.to_thread(send, site, credential, [reading(3, 5.0)])
        assert response.status_code == 200, response.text
        offline = await next_event_of(ws, device_id)  # silent for 3 s
        assert (offline["type"], offline["data"]["status"]) == ("sensors.device.offline", "offline")
        assert offline["data"]["lastSeenAt"]
        assert await asyncio.to_thread(device_status, site, device_id) == "offline"  # as /ws said
        response = await asyncio.to_thread(send, site, credential, [reading(2, 5.5)])
        assert response.status_code == 200, response.text
        online = await next_event_of(ws, device_id)
        assert (online["type"], online["data"]["status"]) == ("sensors.device.online", "online")
        assert await asyncio.to_thread(device_status, site, device_id) == "online"
    with site.client(site.other_token) as stranger:  # another organization: not its device
        assert stranger.get(f"/api/v1/devices/{device_id}").status_code == 404


def topic(credential: str) -> str:
    _, tenant, device, _ = credential.split(".")
    return f"bijmantra/t/{tenant}/{device}"


def mqtt_device(site: Site, credential: str) -> MqttDevice:
    return MqttDevice(site.mqtt_port, credential, wait=WAIT)


def history_count(site: Site, device_id: str) -> int:
    query = {
        "metric": "air_temperature",
        "from": (NOW - timedelta(hours=1)).isoformat(),
        "to": (NOW + timedelta(minutes=5)).isoformat(),
    }
    with site.client() as client:
        response = client.get(f"/api/v1/devices/{device_id}/telemetry", params=query)
        assert response.status_code == 200, response.text
        return len(response.json()["data"]["points"])


async def eventually(check: Any, expected: Any) -> None:
    """Poll ``check`` (in a thread) until it returns ``expected``; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while (found := await asyncio.to_thread(check)) != expected:
        assert time.monotonic() < deadline, f"still {found!r}, wanted {expected!r}"
        await asyncio.sleep(0.3)


async def test_mqtt_a_published_reading_reaches_history_and_the_live_feed(site: Site) -> None:
    device_id, credential = enrol(site)
    async with feed(site, ["sensors.telemetry.received"], device_id) as ws:
        device = mqtt_device(site, credential)
        assert await asyncio.to_thread(device.connect) == "Success"
        await asyncio.to_thread(device.publish, topic(credential), [reading(2, 3.25)])
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            if message["type"] == "event":
                break
        device.close()
    assert [s["lastValue"] for s in message["event"]["data"]["series"]] == [3.25]
    assert await asyncio.to_thread(history_count, site, device_id) == 1


async def test_mqtt_wrong_and_revoked_credentials_are_refused_at_connect(site: Site) -> None:
    device_id, credential = enrol(site)
    forged = mqtt_device(site, credential.rsplit(".", 1)[0] + ".forged")
    assert await asyncio.to_thread(forged.connect) != "Success"
    forged.close()
    with site.client() as client:
        assert client.post(f"/api/v1/devices/{device_id}/revoke").status_code == 200
    revoked = mqtt_device(site, credential)
    assert await asyncio.to_thread(revoked.connect) != "Success"
    revoked.close()


def refused_batch_logged(site: Site, device_id: str) -> bool:
    """Whether domain-api's bridge logged a refused batch of this device."""
    assert site.stack.log_dir is not None
    domain_log = (site.stack.log_dir / "domain-api.log").read_text(errors="replace")
    return any(
        "device batch refused" in line and device_id in line for line in domain_log.splitlines()
    )


async def test_mqtt_a_connection_open_when_its_device_is_revoked_stores_nothing_more(
    site: Site,
) -> None:
    device_id, credential = enrol(site)
    device = mqtt_device(site, credential)
    assert await asyncio.to_thread(device.connect) == "Success"
    await asyncio.to_thread(device.publish, topic(credential), [reading(2, 1.0)])
    await eventually(lambda: history_count(site, device_id), 1)
    with site.client() as client:
        assert client.post(f"/api/v1/devices/{device_id}/revoke").status_code == 200
    await asyncio.to_thread(device.publish, topic(credential), [reading(1, 2.0)])
    await eventually(lambda: refused_batch_logged(site, device_id), True)
    device.close()
    assert await asyncio.to_thread(history_count, site, device_id) == 1


async def test_mqtt_a_device_cannot_publish_into_another_devices_topic(site: Site) -> None:
    mine, my_credential = enrol(site)
    theirs, their_credential = enrol(site)
    device = mqtt_device(site, my_credential)
    assert await asyncio.to_thread(device.connect) == "Success"
    # Another device of the same organization, and a made-up organization's device.
    await asyncio.to_thread(device.publish, topic(their_credential), [reading(3, 1.0)])
    stranger = f"bijmantra/t/{uuid.uuid4()}/{theirs}"
    await asyncio.to_thread(device.publish, stranger, [reading(4, 1.0)])
    await asyncio.to_thread(device.publish, topic(my_credential), [reading(5, 2.0)])
    await eventually(lambda: history_count(site, mine), 1)  # its own topic still works
    device.close()
    assert await asyncio.to_thread(history_count, site, theirs) == 0


async def test_mqtt_a_device_subscribes_to_nothing_so_reads_no_other_devices_readings(
    site: Site,
) -> None:
    _, spy_credential = enrol(site)
    sender_id, sender_credential = enrol(site)
    spy, granted = mqtt_device(site, spy_credential), threading.Event()
    heard: list[str] = []
    spy.client.on_message = lambda _client, _userdata, message: heard.append(message.topic)
    codes: list[list[bool]] = []

    def on_subscribe(client: Any, userdata: Any, mid: Any, reasons: Any, props: Any) -> None:
        codes.append([reason.is_failure for reason in reasons])
        granted.set()

    spy.client.on_subscribe = on_subscribe
    assert await asyncio.to_thread(spy.connect) == "Success"
    for pattern in ("bijmantra/t/#", "#", topic(spy_credential)):
        granted.clear()
        spy.client.subscribe(pattern, qos=1)
        assert await asyncio.to_thread(granted.wait, WAIT), pattern
    assert codes == [[True], [True], [True]]  # every SUBSCRIBE refused in its SUBACK
    sender = mqtt_device(site, sender_credential)
    assert await asyncio.to_thread(sender.connect) == "Success"
    await asyncio.to_thread(sender.publish, topic(sender_credential), [reading(2, 1.5)])
    await eventually(lambda: history_count(site, sender_id), 1)
    sender.close()
    spy.close()
    assert heard == []


async def test_mqtt_takes_what_https_takes_and_one_batch_over_it_closes_only_its_connection(
    site: Site,
) -> None:
    """A batch body may be 4 MiB on both paths. MQTT 3.1.1 cannot refuse one PUBLISH, so one
    over the bound ends that connection (the device's only signal); the device may come back
    at once, and nobody else notices."""
    big_id, big_credential = enrol(site)
    other_id, other_credential = enrol(site)
    big, other = mqtt_device(site, big_credential), mqtt_device(site, other_credential)
    assert await asyncio.to_thread(big.connect) == "Success"
    assert await asyncio.to_thread(other.connect) == "Success"
    within = 3 * 1024 * 1024  # over NATS's default max_payload (1 MiB), as HTTPS allows
    await asyncio.to_thread(big.publish, topic(big_credential), [reading(2, 1.0)], within)
    await eventually(lambda: history_count(site, big_id), 1)
    assert not big.dropped.is_set()
    big.client.publish(topic(big_credential), b" " * (4 * 1024 * 1024 + 1), qos=1)
    assert await asyncio.to_thread(big.dropped.wait, WAIT), "the connection stayed open"
    big.close()
    await asyncio.to_thread(other.publish, topic(other_credential), [reading(3, 2.0)])
    await eventually(lambda: history_count(site, other_id), 1)  # another device: unaffected
    assert not other.dropped.is_set()
    other.close()
    again = mqtt_device(site, big_credential)  # the device comes back and sends smaller batches
    assert await asyncio.to_thread(again.connect) == "Success"
    await asyncio.to_thread(again.publish, topic(big_credential), [reading(4, 3.0)])
    await eventually(lambda: history_count(site, big_id), 2)
    again.close()


async def test_another_organization_and_a_viewer_change_nothing_on_any_sensors_url(
    site: Site,
) -> None:
    """Every sensors URL with this organization's ids: another organization's manager gets
    404 (422 where the id is in a body), a viewer 403 on every write; nothing changes."""
    device_id, credential = enrol(site)
    with site.client() as client:
        profile_id = client.get(f"/api/v1/devices/{device_id}").json()["data"]["profileId"]
        rule = {"name": "warm", "metric": "air_temperature", "kind": "threshold"}
        rule |= {"deviceId": device_id, "comparison": "above", "threshold": 8.0}
        assert client.post("/api/v1/alert-rules", json=rule).status_code == 201
    assert send(site, credential, [reading(1, 9.5)]).status_code == 200

    def my_open_alerts() -> list[str]:
        with site.client() as client:
            alerts = client.get("/api/v1/alerts", params={"status": "open"}).json()["data"]
        return [a["alertId"] for a in alerts if a["deviceId"] == device_id]

    await eventually(lambda: len(my_open_alerts()), 1)  # opened by the worker
    [alert_id] = my_open_alerts()
    window = {"metric": "air_temperature", "from": (NOW - timedelta(hours=1)).isoformat()}
    window["to"] = NOW.isoformat()
    device, alert = f"/api/v1/devices/{device_id}", f"/api/v1/alerts/{alert_id}"
    writes: list[tuple[str, dict[str, Any] | None]] = [
        (f"{device}/claim-code", None),
        (f"{device}/revoke", None),
        (f"{alert}/acknowledge", None),
        (f"{alert}/clear", None),
        ("/api/v1/alert-rules", rule),
        ("/api/v1/devices", {"name": "x", "profileId": profile_id, "locationDbId": site.location}),
    ]
    with site.client(site.other_token) as stranger:
        assert stranger.get(device).status_code == 404
        for params in (window, {**window, "format": "csv"}):
            assert stranger.get(f"{device}/telemetry", params=params).status_code == 404
        for path, body in writes:
            expected = 422 if body else 404  # an id in a body is a field that names nothing
            assert stranger.post(path, json=body).status_code == expected, path
        assert device_id not in str(stranger.get("/api/v1/devices").json()["data"])
        assert device_id not in str(stranger.get("/api/v1/alert-rules").json()["data"])
    viewer_email = f"viewer-{uuid.uuid4().hex[:8]}@sensors.example.org"
    await asyncio.to_thread(site.stack.register_member, viewer_email, PASSWORD, ["viewer"])
    with site.client(site.stack.login(viewer_email, PASSWORD)) as viewer:
        for path, body in [*writes, ("/api/v1/device-profiles", PROFILE)]:
            assert viewer.post(path, json=body).status_code == 403, path
    with site.client() as client:
        mine = client.get(device).json()["data"]
        assert (mine["state"], mine["revokedAt"]) == ("commissioned", None)
    assert my_open_alerts() == [alert_id]
    assert send(site, credential, [reading(2, 5.0)]).status_code == 200  # still its credential


def drop(device: MqttDevice) -> None:
    """End the connection without DISCONNECT, as a device losing power: its will goes out."""
    device.client.loop_stop()
    sock = device.client.socket()
    assert sock is not None
    sock.close()


async def test_mqtt_a_devices_last_will_goes_only_to_its_own_topic(site: Site) -> None:
    """A will is published by the server in the device's name: one naming another device's
    topic must be refused like a PUBLISH there (ADR 0331)."""
    honest_id, honest_credential = enrol(site)
    _, forger_credential = enrol(site)
    victim_id, victim_credential = enrol(site)
    will = json.dumps({"readings": [reading(6, 9.0)]})
    honest, forger = mqtt_device(site, honest_credential), mqtt_device(site, forger_credential)
    honest.client.will_set(topic(honest_credential), will, qos=1)
    forger.client.will_set(topic(victim_credential), will, qos=1)
    assert await asyncio.to_thread(honest.connect) == "Success"
    forged = await asyncio.to_thread(forger.connect)  # accepted today; its will is dropped
    if forged == "Success":
        drop(forger)
    drop(honest)  # after the forger: its will reaches the bridge after the forged one would
    await eventually(lambda: history_count(site, honest_id), 1)  # wills do go out
    await asyncio.sleep(1)  # and the forged one's transaction, had it run, has committed
    assert await asyncio.to_thread(history_count, site, victim_id) == 0
