"""Platform API of the sensors context (``/api/v1``): profiles, devices and their enrolment,
telemetry from devices, history (JSON or CSV) and a study's environment.

``POST /api/v1/devices/claim`` and ``POST /api/v1/telemetry`` are called by devices: they
take no member token; the claim code (body) or the device credential (``Authorization:
Device <credential>``, ``Bearer`` accepted too) is checked by domain-api.
"""

from __future__ import annotations

from typing import Any

import msgspec
from bijmantra.application.security import Action, Permission
from bijmantra.application.sensors import history_csv
from bijmantra.application.sensors.alerts import AlertDocument, RuleDocument
from bijmantra.application.sensors.documents import (
    ClaimCodeDocument,
    ClaimedDocument,
    DeviceDocument,
    EnvironmentDocument,
    HistoryDocument,
    IngestReport,
    ProfileDocument,
)
from bijmantra.edge.envelopes import Envelope, ListEnvelope, PageEnvelope
from bijmantra.gateway.compliance import page_body, page_query
from bijmantra.kernel import Unauthorized
from litestar import Request, Response, get, post
from litestar.datastructures import State

JSON = "application/json"
READ = {"permission": Permission("sensors", Action.READ)}
WRITE = {"permission": Permission("sensors", Action.WRITE)}
DEVICE = {"public": True}
SMALL_BODY = 64 * 1024
# 10,000 readings of ~80 bytes each, with room for whitespace; larger is refused (413).
TELEMETRY_BODY = 4 * 1024 * 1024
_encode = msgspec.json.encode


def _wrap(request: Request[Any, Any, Any], document: bytes, status: int = 200) -> Response[bytes]:
    meta = _encode({"request_id": request.scope.get("state", {}).get("request_id")})
    body = b"".join((b'{"data":', document, b',"meta":', meta, b',"links":{}}'))
    return Response(body, status_code=status, media_type=JSON)


def _query(request: Request[Any, Any, Any], name: str) -> str:
    return request.query_params.get(name, "")


@post(
    "/api/v1/device-profiles",
    opt={**WRITE, "returns": Envelope[ProfileDocument]},
    request_max_body_size=SMALL_BODY,
)
async def create_profile(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    document = await state.sensors.create_profile(request.auth, await request.body())
    return _wrap(request, document, 201)


@get("/api/v1/device-profiles", opt={**READ, "returns": ListEnvelope[ProfileDocument]})
async def list_profiles(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return _wrap(request, await state.sensors.profiles(request.auth))


@post(
    "/api/v1/devices",
    opt={**WRITE, "returns": Envelope[DeviceDocument]},
    request_max_body_size=SMALL_BODY,
)
async def register_device(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    document = await state.sensors.register(request.auth, await request.body())
    return _wrap(request, document, 201)


@get("/api/v1/devices", opt={**READ, "returns": PageEnvelope[DeviceDocument]})
async def list_devices(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return page_body(request, await state.sensors.devices(request.auth, page_query(request)))


@get("/api/v1/devices/{device_id:str}", opt={**READ, "returns": Envelope[DeviceDocument]})
async def get_device(
    request: Request[Any, Any, Any], state: State, device_id: str
) -> Response[bytes]:
    return _wrap(request, await state.sensors.device(request.auth, device_id))


@post(
    "/api/v1/devices/{device_id:str}/claim-code",
    opt={**WRITE, "returns": Envelope[ClaimCodeDocument]},
    request_max_body_size=SMALL_BODY,
)
async def issue_claim_code(
    request: Request[Any, Any, Any], state: State, device_id: str
) -> Response[bytes]:
    return _wrap(request, await state.sensors.issue_claim(request.auth, device_id), 201)


@post(
    "/api/v1/devices/{device_id:str}/revoke",
    opt={**WRITE, "returns": Envelope[DeviceDocument]},
    status_code=200,
    request_max_body_size=SMALL_BODY,
)
async def revoke_device(
    request: Request[Any, Any, Any], state: State, device_id: str
) -> Response[bytes]:
    return _wrap(request, await state.sensors.revoke(request.auth, device_id))


@post(
    "/api/v1/devices/claim",
    opt={**DEVICE, "returns": Envelope[ClaimedDocument]},
    status_code=200,
    request_max_body_size=SMALL_BODY,
)
async def claim_device(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return _wrap(request, await state.sensors.claim(await request.body()))


@post(
    "/api/v1/telemetry",
    opt={**DEVICE, "returns": Envelope[IngestReport]},
    status_code=200,
    request_max_body_size=TELEMETRY_BODY,
)
async def ingest_telemetry(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() not in ("device", "bearer") or not credential.strip():
        raise Unauthorized("Missing device credential (Authorization: Device <credential>)")
    document = await state.sensors.ingest(credential.strip(), await request.body())
    return _wrap(request, document)


@get(
    "/api/v1/devices/{device_id:str}/telemetry", opt={**READ, "returns": Envelope[HistoryDocument]}
)
async def device_history(
    request: Request[Any, Any, Any], state: State, device_id: str
) -> Response[Any]:
    """JSON by default; CSV with ``format=csv`` or ``Accept: text/csv``."""
    document = await state.sensors.history(
        request.auth,
        device_id,
        _query(request, "metric"),
        _query(request, "from"),
        _query(request, "to"),
        _query(request, "resolution") or "raw",
    )
    wants_csv = _query(request, "format") == "csv" or "text/csv" in request.headers.get(
        "accept", ""
    )
    if wants_csv:
        history = msgspec.json.decode(document)
        name = f"{device_id}-{history['metric']}-{history['resolution']}.csv"
        return Response(
            history_csv(history),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return _wrap(request, document)


@get(
    "/api/v1/studies/{study_db_id:str}/environment",
    opt={**READ, "returns": Envelope[EnvironmentDocument]},
)
async def study_environment(
    request: Request[Any, Any, Any], state: State, study_db_id: str
) -> Response[bytes]:
    document = await state.sensors.environment(
        request.auth,
        study_db_id,
        _query(request, "from"),
        _query(request, "to"),
        _query(request, "gddBase"),
    )
    return _wrap(request, document)


@post(
    "/api/v1/alert-rules",
    opt={**WRITE, "returns": Envelope[RuleDocument]},
    request_max_body_size=SMALL_BODY,
)
async def create_alert_rule(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    document = await state.sensors.create_rule(request.auth, await request.body())
    return _wrap(request, document, 201)


@get("/api/v1/alert-rules", opt={**READ, "returns": ListEnvelope[RuleDocument]})
async def list_alert_rules(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    return _wrap(request, await state.sensors.rules(request.auth))


@get("/api/v1/alerts", opt={**READ, "returns": PageEnvelope[AlertDocument]})
async def list_alerts(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """The inbox, newest first; ``status=open|acknowledged|cleared`` narrows it."""
    found = await state.sensors.alerts(request.auth, page_query(request), _query(request, "status"))
    return page_body(request, found)


@post(
    "/api/v1/alerts/{alert_id:str}/acknowledge",
    opt={**WRITE, "returns": Envelope[AlertDocument]},
    status_code=200,
    request_max_body_size=SMALL_BODY,
)
async def acknowledge_alert(
    request: Request[Any, Any, Any], state: State, alert_id: str
) -> Response[bytes]:
    return _wrap(request, await state.sensors.acknowledge(request.auth, alert_id))


@post(
    "/api/v1/alerts/{alert_id:str}/clear",
    opt={**WRITE, "returns": Envelope[AlertDocument]},
    status_code=200,
    request_max_body_size=SMALL_BODY,
)
async def clear_alert(
    request: Request[Any, Any, Any], state: State, alert_id: str
) -> Response[bytes]:
    return _wrap(request, await state.sensors.clear(request.auth, alert_id))


ROUTES = [
    create_alert_rule,
    list_alert_rules,
    list_alerts,
    acknowledge_alert,
    clear_alert,
    create_profile,
    list_profiles,
    register_device,
    list_devices,
    get_device,
    issue_claim_code,
    revoke_device,
    claim_device,
    ingest_telemetry,
    device_history,
    study_environment,
]
