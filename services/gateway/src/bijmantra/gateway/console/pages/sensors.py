"""Sensors in the console: devices with their status, a device's history at a chosen
resolution and the alert rules that watch it (threshold, rate-of-change and no-data rules
are added there), and the alerts inbox (acknowledge, clear). Same gRPC client as the REST
routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from bijmantra.application.security import Action, permissions
from bijmantra.domain.sensors.alerts import Comparison
from bijmantra.gateway.console.charts import polyline
from bijmantra.gateway.console.names import names
from bijmantra.gateway.console.paging import document
from bijmantra.gateway.console.web import PREFIX, View, said, view
from bijmantra.kernel import (
    BijmantraError,
    ErrorCode,
    FieldError,
    PageRequest,
    ValidationFailed,
)
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.handlers import HTTPRouteHandler
from litestar.response import Redirect, Template

READ, WRITE = permissions("sensors", Action.READ, Action.WRITE)
SPANS = {"1m": timedelta(hours=6), "1h": timedelta(days=7), "1d": timedelta(days=90)}
PAGE = PageRequest(0, 100)
LIVE_SPAN, LIVE_AHEAD, LIVE_POINTS = timedelta(hours=1), timedelta(minutes=5), 600
# Per kind of rule, its numbers: (form field, API field, default when left empty, type).
RULE_NUMBERS: dict[str, tuple[tuple[str, str, str, type[float] | type[int]], ...]] = {
    "threshold": (
        ("threshold", "threshold", "", float),
        ("hold_seconds", "holdSeconds", "0", float),
    ),
    "rate_of_change": (
        ("max_change", "maxChange", "", float),
        ("per_seconds", "perSeconds", "60", float),
    ),
    "no_data": (
        ("interval_seconds", "intervalSeconds", "60", float),
        ("intervals", "intervals", "1", int),
    ),
}
RULE_FIELDS = (
    "kind",
    "name",
    "metric",
    "comparison",
    *{f for n in RULE_NUMBERS.values() for f, *_ in n},
)
Req = Request[Any, Any, Any]


@get(f"{PREFIX}/devices", name="console:devices")
async def devices(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, READ)
    found = await state.sensors.devices(page.token, PAGE)
    rows = [msgspec.json.decode(d) for d in found.items]
    places = await names(state, page, "location", (d.get("locationDbId") for d in rows))
    return page.render("sensors/devices.html", devices=rows, total=found.total_count, places=places)


@get(f"{PREFIX}/devices/{{device_id:str}}", name="console:device")
async def device(request: Req, state: State, device_id: str) -> Template:
    """The device and one metric's history; ``resolution`` picks 1m (6 h), 1h (7 d), 1d (90 d)."""
    return await _device_page(request, state, view(request, READ), device_id)


async def _device_page(
    request: Req,
    state: State,
    page: View,
    device_id: str,
    given: dict[str, str] | None = None,
    error: str = "",
) -> Template:
    """The device page; ``given`` and ``error``: the rule form as typed, and why it was
    refused."""
    found = document(await state.sensors.device(page.token, device_id))
    profiles = msgspec.json.decode(await state.sensors.profiles(page.token))
    places = await names(state, page, "location", [found.get("locationDbId")])
    profile = next((p for p in profiles if p["profileId"] == found["profileId"]), None)
    metrics = [m["name"] for m in profile["metrics"]] if profile else []
    resolution = request.query_params.get("resolution", "1h")
    resolution = resolution if resolution in SPANS else "1h"
    metric = request.query_params.get("metric", "")
    metric = metric if metric in metrics else (metrics[0] if metrics else "")
    history: dict[str, Any] = {"points": []}
    if metric:
        now = datetime.now(UTC)
        history = document(
            await state.sensors.history(
                page.token,
                device_id,
                metric,
                (now - SPANS[resolution]).isoformat(),
                now.isoformat(),
                resolution,
            )
        )
    points = [p for p in history["points"] if p["count"]]
    live = await _recent(state, page.token, device_id, metric) if metric else []
    chart = polyline(live)
    rules = [
        r
        for r in msgspec.json.decode(await state.sensors.rules(page.token))
        if r.get("deviceId") == device_id
        or (r.get("deviceId") is None and r.get("profileId") == found["profileId"])
    ]
    return page.render(
        "sensors/device.html",
        device=found,
        place=places.get(found.get("locationDbId") or ""),
        metrics=metrics,
        metric=metric,
        resolution=resolution,
        resolutions=list(SPANS),
        points=points,
        gaps=len(history["points"]) - len(points),
        live=msgspec.json.encode(live).decode(),
        chart=chart,
        latest=live[-1] if live else None,
        unit=history.get("unit", ""),
        rules=rules,
        comparisons=[c.value for c in Comparison],
        given=given or {},
        error=error,
        status_code=422 if error else 200,
    )


@post(f"{PREFIX}/devices/{{device_id:str}}/alert-rules", name="console:device-rule")
async def add_rule(request: Req, state: State, device_id: str) -> Redirect | Template:
    """A rule on this device: a threshold held, a rate of change or no data (profile-wide
    rules through ``/api/v1/alert-rules``); a refused rule shows the device page again with
    its form as typed and the reason next to it."""
    page = view(request, WRITE)
    form = await request.form()
    given = {n: v.strip() for n in RULE_FIELDS if isinstance(v := form.get(n, ""), str)}
    kind = given.get("kind", "")
    if kind not in RULE_NUMBERS:  # no form of the page sends it: the error page
        raise ValidationFailed("Unknown kind of rule", [FieldError("kind", kind or "missing")])
    try:
        body = _rule_body(given, device_id)
        await state.sensors.create_rule(page.token, msgspec.json.encode(body))
    except BijmantraError as error:
        if error.code not in (ErrorCode.VALIDATION, ErrorCode.UNPROCESSABLE):
            raise
        return await _device_page(request, state, page, device_id, given, said(error))
    return Redirect(f"{PREFIX}/devices/{device_id}#rules")


def _rule_body(given: dict[str, str], device_id: str) -> dict[str, Any]:
    """The API's rule document from the form of its kind; a number that is none is refused
    here, naming the field as typed (the use case checks the rest)."""
    kind = given["kind"]
    body: dict[str, Any] = {
        "name": given.get("name", ""),
        "metric": given.get("metric", ""),
        "kind": kind,
        "deviceId": device_id,
    }
    if kind == "threshold":
        body["comparison"] = given.get("comparison", "")
    for name, key, default, number in RULE_NUMBERS[kind]:
        raw = given.get(name, "") or default
        try:
            body[key] = number(raw)
        except ValueError:
            whole = " whole" if number is int else ""
            wrong = f"{name}: {raw!r} is not a{whole} number" if raw else f"{name}: give a number"
            raise ValidationFailed(wrong) from None
    return body


async def _recent(state: State, token: str, device_id: str, metric: str) -> list[tuple[int, float]]:
    """The live chart's first points: the last hour's raw readings (newest 600), as
    (epoch milliseconds, value); none when the hour holds more than a raw read returns."""
    now = datetime.now(UTC)
    try:
        raw = document(
            await state.sensors.history(
                token,
                device_id,
                metric,
                (now - LIVE_SPAN).isoformat(),
                (now + LIVE_AHEAD).isoformat(),
                "raw",
            )
        )
    except ValidationFailed:
        return []
    return [
        (int(datetime.fromisoformat(p["time"]).timestamp() * 1000), float(p["value"]))
        for p in raw["points"][-LIVE_POINTS:]
    ]


@get(f"{PREFIX}/alerts", name="console:alerts")
async def alerts(request: Request[Any, Any, Any], state: State) -> Template:
    page = view(request, READ)
    status = request.query_params.get("status", "")
    status = status if status in ("open", "acknowledged", "cleared") else ""
    found = await state.sensors.alerts(page.token, PAGE, status)
    rows = [msgspec.json.decode(a) for a in found.items]
    return page.render(
        "sensors/alerts.html",
        alerts=rows,
        status=status,
        devices=await names(state, page, "device", (a.get("deviceId") for a in rows)),
    )


def _alert_action(action: str) -> HTTPRouteHandler:
    """The inbox's buttons: ``acknowledge`` or ``clear`` one alert, then show the inbox again."""

    async def act(request: Request[Any, Any, Any], state: State, alert_id: str) -> Redirect:
        page = view(request, WRITE)
        await getattr(state.sensors, action)(page.token, alert_id)
        return Redirect(f"{PREFIX}/alerts")

    act.__name__ = act.__qualname__ = action
    route = post(f"{PREFIX}/alerts/{{alert_id:str}}/{action}", name=f"console:alert-{action}")
    return route(act)


ROUTES = [
    devices,
    device,
    add_rule,
    alerts,
    _alert_action("acknowledge"),
    _alert_action("clear"),
]
