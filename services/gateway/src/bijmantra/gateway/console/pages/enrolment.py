"""The enrolment wizard: the four steps of ADR 0207 as pages, each one call and one state.

1. Register (profile, placement) → 2. issue a one-time claim code, shown once → 3. the
device claims it (the page waits) → 4. commissioned by its first valid reading (the page
waits). Which step a device is on is its enrolment state, read from domain-api each time;
the waiting steps follow the device's ``sensors.device.*`` events over ``/app/ws``. The
first step's page also makes a profile, and a location to place devices at.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from bijmantra.application.security import Action, Permission
from bijmantra.gateway.console.paging import choices, document
from bijmantra.gateway.console.web import PREFIX, View, fragment, said, view
from bijmantra.kernel import BijmantraError, ErrorCode, FieldError, ValidationFailed
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.response import Redirect, Template

WRITE = Permission("sensors", Action.WRITE)
WRITE_PLACES = Permission("core", Action.WRITE)  # a location is a core (BrAPI) record
# Enrolment state -> the wizard step it waits on (1-based); commissioned is past the last.
STEPS = ("Register", "Issue a claim code", "Device claims it", "First reading")
STEP_OF = {"registered": 2, "claim_issued": 3, "claimed": 4, "commissioned": 5, "revoked": 0}
# Up to this many of the organization's locations (and studies) are offered in a list; an
# organization with more types the id, which registration checks all the same (ADR 0318).
PLACES_LISTED = 500
REFUSED_FORM = (ErrorCode.VALIDATION, ErrorCode.UNPROCESSABLE)


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


@get(f"{PREFIX}/devices/new", name="console:device-new")
async def new_device(request: Request[Any, Any, Any], state: State) -> Template:
    """Step 1: the placement and the profile (a profile can be made here first)."""
    return await _new_page(state, view(request, WRITE))


async def _new_page(
    state: State,
    page: View,
    refused: str = "",
    given: dict[str, str] | None = None,
    error: str = "",
) -> Template:
    """The first step; ``refused`` names the form (``profile`` or ``device``) that was sent
    back with ``error``, kept as typed (``given``)."""
    profiles, locations, studies = await asyncio.gather(
        state.sensors.profiles(page.token),
        choices(state, page, "location", PLACES_LISTED),
        choices(state, page, "study", PLACES_LISTED),
    )
    return page.render(
        "sensors/enrol_new.html",
        profiles=msgspec.json.decode(profiles),
        locations=locations,
        studies=studies,
        steps=STEPS,
        step=1,
        refused=refused,
        given=given or {},
        error=error,
        status_code=422 if error else 200,
    )


def _typed(form: Any, names: tuple[str, ...]) -> dict[str, str]:
    return {n: _field(form, n) for n in names}


@post(f"{PREFIX}/devices/new/location", name="console:device-location")
async def add_location(request: Request[Any, Any, Any], state: State) -> Redirect:
    """A location to place devices at, made from the wizard's first step: an organization
    without one could not register a device in the console (BrAPI ``POST /locations``)."""
    page = view(request, WRITE, WRITE_PLACES)
    form = await request.form()
    name = _field(form, "locationName")
    if not name:
        raise ValidationFailed("Name the location", [FieldError("locationName", "required")])
    body: dict[str, Any] = {"locationName": name[:200]}
    if country := _field(form, "countryCode").upper():
        body["countryCode"] = country[:3]
    await state.brapi.create(page.token, "location", msgspec.json.encode([body]))
    return Redirect(f"{PREFIX}/devices/new")


@post(f"{PREFIX}/device-profiles", name="console:profile-create")
async def create_profile(request: Request[Any, Any, Any], state: State) -> Redirect | Template:
    page = view(request, WRITE)
    form = await request.form()
    given = _typed(form, ("name", "metric", "unit", "minimum", "maximum"))
    try:
        try:
            low, high = float(given["minimum"]), float(given["maximum"])
        except ValueError:
            raise ValidationFailed(
                "Minimum and maximum must be numbers", [FieldError("minimum", "not a number")]
            ) from None
        metric = {"name": given["metric"], "unit": given["unit"], "minimum": low, "maximum": high}
        body = {"name": given["name"], "metrics": [metric]}
        await state.sensors.create_profile(page.token, msgspec.json.encode(body))
    except BijmantraError as error:
        if error.code not in REFUSED_FORM:
            raise
        return await _new_page(state, page, "profile", given, said(error))
    return Redirect(f"{PREFIX}/devices/new")


@post(f"{PREFIX}/devices", name="console:device-register")
async def register(request: Request[Any, Any, Any], state: State) -> Redirect | Template:
    """A refused registration (an unknown place, a name too long) shows the step again as
    typed; the organization's limit of devices stays the 'Limit reached' page."""
    page = view(request, WRITE)
    form = await request.form()
    given = _typed(form, ("name", "profileId", "locationDbId", "studyDbId", "seedStore"))
    body: dict[str, Any] = {k: given[k] for k in ("name", "profileId", "locationDbId")}
    for optional in ("studyDbId", "seedStore"):
        if value := given[optional]:
            body[optional] = value
    try:
        created = document(await state.sensors.register(page.token, msgspec.json.encode(body)))
    except BijmantraError as error:
        if error.code not in REFUSED_FORM:
            raise
        return await _new_page(state, page, "device", given, said(error))
    return Redirect(f"{PREFIX}/devices/{created['deviceId']}/enrol")


def _render(
    request: Request[Any, Any, Any],
    page: View,
    device: dict[str, Any],
    claim: dict[str, Any] | None,
) -> Template:
    template = "sensors/_enrol_steps.html" if fragment(request) else "sensors/enrol.html"
    return page.render(
        template,
        device=device,
        steps=STEPS,
        step=STEP_OF.get(device["state"], 0),
        claim=claim,
    )


@get(f"{PREFIX}/devices/{{device_id:str}}/enrol", name="console:device-enrol")
async def enrol(request: Request[Any, Any, Any], state: State, device_id: str) -> Template:
    """Steps 2-4 of one device: what it waits on now, from its enrolment state."""
    page = view(request, WRITE)
    return _render(request, page, document(await state.sensors.device(page.token, device_id)), None)


@post(f"{PREFIX}/devices/{{device_id:str}}/claim-code", name="console:device-claim-code")
async def issue_claim_code(
    request: Request[Any, Any, Any], state: State, device_id: str
) -> Template:
    """Step 2: the code is shown in this response only (never in a URL, never stored)."""
    page = view(request, WRITE)
    issued = document(await state.sensors.issue_claim(page.token, device_id))
    return _render(request, page, issued, issued)


ROUTES = [new_device, add_location, create_profile, register, enrol, issue_claim_code]
