"""The alerts inbox names each alert's device in one read of the devices it shows (it read
them one by one: 100 alerts over 100 devices made 101 gRPC calls); a device of another
organization, or gone, stays its id. Through the gateway, domain-api and the use cases, on
fakes, counting the gateway's calls to domain-api."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from bijmantra.domain.sensors import Alert, Device, EnrolmentState, Placement, RuleKind
from bijmantra.kernel import PageRequest, Principal, TenantId, ValidationFailed

TOKEN = "manager-token"
DEVICES = 100


def _device(tenant: TenantId, device_id: str, name: str, fakes: Any) -> Device:
    return Device(
        tenant, device_id, name, "p1", Placement("l1"), EnrolmentState.REGISTERED, fakes.clock.now()
    )


def _alert(tenant: TenantId, age: int, device_id: str, fakes: Any) -> Alert:
    """An open alert on ``device_id`` raised ``age`` minutes ago (the inbox shows newest first)."""
    opened = fakes.clock.now() - timedelta(minutes=age)
    return Alert(f"a{age:03}", tenant, "r1", device_id, "t", RuleKind.NO_DATA, opened, None, "-")


async def test_the_inbox_names_a_pages_devices_in_one_call(gateway_on_fakes: Any) -> None:
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    other = TenantId(uuid.uuid4())
    async with gateway_on_fakes({TOKEN: manager}) as on:
        tables, tenant = on.fakes.sensors, manager.tenant_id
        for n in range(DEVICES):
            device = _device(tenant, f"d{n:03}", f"Station {n}", on.fakes)
            tables.devices[(tenant, device.device_id)] = device
            tables.alerts[(tenant, f"a{n + 1:03}")] = _alert(
                tenant, n + 1, device.device_id, on.fakes
            )
        tables.devices[(other, "theirs")] = _device(other, "theirs", "Not yours", on.fakes)
        tables.alerts[(tenant, "a000")] = _alert(tenant, 0, "theirs", on.fakes)
        cookies = on.signed_in(manager, TOKEN)
        on.rpcs.clear()

        page = await on.client.get("/app/alerts", cookies=cookies)

        assert page.status_code == 200, page.text
        links = dict(re.findall(r'<a href="/app/devices/([^"]+)">([^<]*)</a>', page.text))
        assert links == {
            **{f"d{n:03}": f"Station {n}" for n in range(DEVICES - 1)},  # newest 100 of 101
            "theirs": "theirs",
        }
        sensors = "/bijmantra.sensors.v1.SensorsService/"
        assert sorted(on.rpcs) == [f"{sensors}ListAlerts", f"{sensors}ListDevices"]


async def test_more_devices_asked_for_than_a_page_holds_are_refused(
    gateway_on_fakes: Any,
) -> None:
    """The ids are bounded by the page size they are read in (at most 10,000)."""
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}) as on:
        with pytest.raises(ValidationFailed, match="Too many devices"):
            await on.app.state.sensors.devices(TOKEN, PageRequest(0, 2), ["a", "b", "c"])
        found = await on.app.state.sensors.devices(TOKEN, PageRequest(0, 3), ["a", "b", "c"])
        assert (found.items, found.total_count) == ([], 0)
