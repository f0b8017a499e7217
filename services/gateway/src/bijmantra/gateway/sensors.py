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
from bijmantra.application.sensors.credentials import MAX_LENGTH as CREDENTIAL_LENGTH
from bijmantra.application.sensors.documents import (
    ClaimCodeDocument,
    ClaimedDocument,
    DeviceDocument,
    EnvironmentDocument,
    HistoryDocument,
    IngestReport,
    ProfileDocument,
)
from bijmantra.domain.sensors.alerts import AlertStatus
from bijmantra.domain.sensors.series import Resolution
from bijmantra.edge import QUERY, Query, content_disposition, query_value
from bijmantra.edge.envelopes import Envelope, ListEnvelope, PageEnvelope
from bijmantra.gateway.compliance import PAGING
from bijmantra.gateway.forwarding import BODYLESS, Forward, document_body, forward
from bijmantra.kernel import Unauthorized
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler

READ = {"permission": Permission("sensors", Action.READ)}
WRITE = {"permission": Permission("sensors", Action.WRITE)}
DEVICE = {"public": True}
SMALL_BODY = 64 * 1024
# 10,000 readings of ~80 bytes each, with room for whitespace; larger is refused (413).
TELEMETRY_BODY = 4 * 1024 * 1024
DEVICES = "/api/v1/devices"
DEVICE_PATH = DEVICES + "/{device_id:str}"
ALERT = "/api/v1/alerts/{alert_id:str}"
HISTORY = (
    Query("metric", required=True, description="a metric of the device's profile"),
    Query("from", required=True, description="ISO 8601 time"),
    Query("to", required=True, description="ISO 8601 time"),
    Query("resolution", enum=tuple(r.value for r in Resolution), description="default raw"),
    Query("format", description="csv: the history as CSV (as Accept: text/csv)"),
)
ENVIRONMENT = (
    Query("from", description="ISO 8601 date; default the study's start"),
    Query("to", description="ISO 8601 date; default the study's end"),
    Query("gddBase", description="base temperature of growing degree days, a number"),
)


def _query(request: Request[Any, Any, Any], name: str) -> str:
    return query_value(request, name)


def _one(answer: Any) -> dict[str, Any]:
    return {"returns": Envelope[answer]}


def _created_and_listed(
    noun: str, path: str, answer: Any, create: Forward, listed: Forward
) -> list[HTTPRouteHandler]:
    """A POST that creates one (a profile, an alert rule) and a GET of the short list."""
    return [
        forward(
            f"create_{noun}",
            post(path, opt={**WRITE, **_one(answer)}, request_max_body_size=SMALL_BODY),
            create,
        ),
        forward(f"list_{noun}s", get(path, opt={**READ, "returns": ListEnvelope[answer]}), listed),
    ]


def _act(name: str, path: str, answer: Any, act: Forward, *, status: int = 200) -> HTTPRouteHandler:
    """A POST that acts on the path's one record (revoke a device, clear an alert); no body."""
    opt = {**WRITE, **_one(answer), BODYLESS: True}
    return forward(
        name, post(path, opt=opt, status_code=status, request_max_body_size=SMALL_BODY), act
    )


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
    if len(credential) > CREDENTIAL_LENGTH:  # in gRPC metadata, 16 KiB were a 503 (ADR 0376)
        raise Unauthorized("Malformed device credential or claim code")
    document = await state.sensors.ingest(credential.strip(), await request.body())
    return document_body(request, document)


@get(
    "/api/v1/devices/{device_id:str}/telemetry",
    opt={**READ, "returns": Envelope[HistoryDocument], QUERY: HISTORY},
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
            headers={"Content-Disposition": content_disposition(name)},
        )
    return document_body(request, document)


ROUTES = [
    *_created_and_listed(
        "alert_rule",
        "/api/v1/alert-rules",
        RuleDocument,
        lambda s, c: s.sensors.create_rule(c.auth, c.body),
        lambda s, c: s.sensors.rules(c.auth),
    ),
    forward(
        "list_alerts",
        get(
            "/api/v1/alerts",
            opt={
                **READ,
                "returns": PageEnvelope[AlertDocument],
                QUERY: (Query("status", enum=tuple(s.value for s in AlertStatus)), *PAGING),
            },
        ),
        lambda s, c: s.sensors.alerts(c.auth, c.page(), c.query("status")),
        summary="The inbox, newest first; ``status=open|acknowledged|cleared`` narrows it.",
    ),
    _act(
        "acknowledge_alert",
        ALERT + "/acknowledge",
        AlertDocument,
        lambda s, c: s.sensors.acknowledge(c.auth, c.key),
    ),
    _act(
        "clear_alert",
        ALERT + "/clear",
        AlertDocument,
        lambda s, c: s.sensors.clear(c.auth, c.key),
    ),
    *_created_and_listed(
        "profile",
        "/api/v1/device-profiles",
        ProfileDocument,
        lambda s, c: s.sensors.create_profile(c.auth, c.body),
        lambda s, c: s.sensors.profiles(c.auth),
    ),
    forward(
        "register_device",
        post(DEVICES, opt={**WRITE, **_one(DeviceDocument)}, request_max_body_size=SMALL_BODY),
        lambda s, c: s.sensors.register(c.auth, c.body),
    ),
    forward(
        "list_devices",
        get(DEVICES, opt={**READ, "returns": PageEnvelope[DeviceDocument], QUERY: PAGING}),
        lambda s, c: s.sensors.devices(c.auth, c.page()),
    ),
    forward(
        "get_device",
        get(DEVICE_PATH, opt={**READ, **_one(DeviceDocument)}),
        lambda s, c: s.sensors.device(c.auth, c.path("device_id")),
    ),
    _act(
        "issue_claim_code",
        DEVICE_PATH + "/claim-code",
        ClaimCodeDocument,
        lambda s, c: s.sensors.issue_claim(c.auth, c.key),
        status=201,
    ),
    _act(
        "revoke_device",
        DEVICE_PATH + "/revoke",
        DeviceDocument,
        lambda s, c: s.sensors.revoke(c.auth, c.key),
    ),
    forward(
        "claim_device",
        post(
            DEVICES + "/claim",
            opt={**DEVICE, **_one(ClaimedDocument)},
            status_code=200,
            request_max_body_size=SMALL_BODY,
        ),
        lambda s, c: s.sensors.claim(c.body),
    ),
    ingest_telemetry,
    device_history,
    forward(
        "study_environment",
        get(
            "/api/v1/studies/{study_db_id:str}/environment",
            opt={**READ, **_one(EnvironmentDocument), QUERY: ENVIRONMENT},
        ),
        lambda s, c: s.sensors.environment(
            c.auth, c.path("study_db_id"), c.query("from"), c.query("to"), c.query("gddBase")
        ),
    ),
]
