"""Profiles and devices: the four enrolment steps, each its own call and transaction."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bijmantra.application.json_input import decode_body
from bijmantra.application.security import Action, Permission, authorize
from bijmantra.application.sensors.credentials import (
    CLAIM_PREFIX,
    CREDENTIAL_PREFIX,
    new_secret,
    parse_secret,
)
from bijmantra.application.sensors.documents import (
    ClaimBody,
    DeviceBody,
    ProfileBody,
    device_document,
    profile_document,
)
from bijmantra.application.sensors.ports import SensorsUnitOfWork, SensorsUnitOfWorkFactory
from bijmantra.application.use_case import (
    ClockedUseCase,
    existing,
    organization_unit,
    records_exist,
    refuse_full,
)
from bijmantra.domain import DomainEvent
from bijmantra.domain.sensors import (
    CONNECTABLE,
    Device,
    DeviceProfile,
    EnrolmentState,
    MetricSpec,
    Placement,
    parse_metrics,
)
from bijmantra.domain.tenancy.storage import StoredResource
from bijmantra.kernel import (
    FieldError,
    Page,
    PageRequest,
    Principal,
    TenantId,
    Unauthorized,
    ValidationFailed,
    new_id,
)

READ = Permission("sensors", Action.READ)
WRITE = Permission("sensors", Action.WRITE)


def set_up(
    principal: Principal, name: str, aggregate_id: str, data: dict[str, Any], at: datetime
) -> DomainEvent:
    """``sensors.<name>``: what a member set up (a profile, an alert rule), for the outbox of
    the write's own transaction."""
    return DomainEvent.done_by(principal, f"sensors.{name}", aggregate_id, data, at)


MAX_TEXT = 200
MAX_PROFILES = 1000  # the profile list is one answer, not paged: every profile must fit in it
Row = TypeVar("Row")


def _bounded(**values: str | None) -> None:
    problems = [
        FieldError(name, f"1 to {MAX_TEXT} characters")
        for name, value in values.items()
        if value is not None and not (0 < len(value.strip()) <= MAX_TEXT)
    ]
    if problems:
        raise ValidationFailed("Invalid text field", problems)


def device_event(
    device: Device, verb: str, actor: str | None, *, at: datetime, **data: Any
) -> DomainEvent:
    return DomainEvent(
        type=f"sensors.device.{verb}",
        tenant_id=device.tenant_id,
        aggregate_id=device.device_id,
        data={"deviceId": device.device_id, "state": device.state.value, **data},
        actor=actor,
        occurred_at=at,
    )


async def read_all(
    uow_factory: SensorsUnitOfWorkFactory,
    principal: Principal,
    fetch: Callable[[SensorsUnitOfWork], Awaitable[list[Row]]],
    document: Callable[[Row], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every row ``fetch`` reads for a member allowed to read sensors, as documents."""
    async with organization_unit(uow_factory, principal, READ) as uow:
        return [document(row) for row in await fetch(uow)]


def refuse_past_limit(count: int, limit: int, what: str) -> None:
    """An organization keeps at most ``limit`` of ``what`` (device profiles, alert rules): one
    more is refused with the same 400."""
    if count >= limit:
        raise ValidationFailed(f"Too many {what}", [FieldError("body", "limit")])


async def device_or_404(uow: SensorsUnitOfWork, device_id: str) -> Device:
    return existing(await uow.sensors.device(device_id, for_update=True), f"Device {device_id}")


class DeviceEnrolment(ClockedUseCase[SensorsUnitOfWork]):
    async def create_profile(self, principal: Principal, body: bytes) -> dict[str, Any]:
        authorize(principal, WRITE)
        request: ProfileBody = decode_body(body, ProfileBody, "device profile")
        _bounded(name=request.name)
        metrics = parse_metrics(
            [MetricSpec(m.name, m.unit, m.minimum, m.maximum) for m in request.metrics]
        )
        profile = DeviceProfile(new_id(), request.name.strip(), metrics, self.clock.now())
        async with self.uow(principal.tenant_id) as uow:
            refuse_past_limit(await uow.sensors.profile_count(), MAX_PROFILES, "device profiles")
            await uow.sensors.add_profile(profile)
            document = profile_document(profile)
            at = profile.created_at
            uow.record(set_up(principal, "profile.created", profile.profile_id, document, at))
            await uow.commit()
        return document

    async def profiles(self, principal: Principal) -> list[dict[str, Any]]:
        return await read_all(
            self.uow, principal, lambda uow: uow.sensors.profiles(), profile_document
        )

    async def register(self, principal: Principal, body: bytes) -> dict[str, Any]:
        """Step 1: the device exists, with a profile and a place, and nothing to sign in with.
        The location and study it is placed at are the organization's records (422 otherwise):
        the study's environment is read from the devices placed there. An organization at its
        limit of enrolled devices is refused (409 ``storage_full``, ADR 0361): here, and again
        at the commit, which counts this device in turn with the organization's other
        registrations, so racing ones cannot pass the limit together."""
        authorize(principal, WRITE)
        request: DeviceBody = decode_body(body, DeviceBody, "device")
        _bounded(
            name=request.name,
            locationDbId=request.location_db_id,
            studyDbId=request.study_db_id,
            seedStore=request.seed_store,
        )
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            if await uow.sensors.profile(request.profile_id) is None:
                raise ValidationFailed(
                    "Unknown device profile", [FieldError("profileId", "no such profile")]
                )
            await records_exist(
                uow.resources,
                [
                    ("locationDbId", "location", request.location_db_id),
                    ("studyDbId", "study", request.study_db_id),
                ],
            )
            await refuse_full(uow, StoredResource.ENROLLED_DEVICES)
            device = Device(
                tenant_id=principal.tenant_id,
                device_id=new_id(),
                name=request.name.strip(),
                profile_id=request.profile_id,
                placement=Placement(
                    request.location_db_id, request.study_db_id, request.seed_store
                ),
                state=EnrolmentState.REGISTERED,
                created_at=now,
            )
            await uow.sensors.add_device(device)
            uow.record(device_event(device, "registered", principal.subject, at=now))
            await uow.commit()
        return device_document(device)

    async def _step(
        self,
        principal: Principal,
        device_id: str,
        verb: str,
        move: Callable[[Device, datetime], Device],
    ) -> dict[str, Any]:
        """A member's enrolment step on one device: moved, saved and recorded as ``verb``."""
        now = self.clock.now()
        async with organization_unit(self.uow, principal, WRITE) as uow:
            device = move(await device_or_404(uow, device_id), now)
            await uow.sensors.save_device(device)
            uow.record(device_event(device, verb, principal.subject, at=now))
            await uow.commit()
        return device_document(device)

    async def issue_claim(self, principal: Principal, device_id: str) -> dict[str, Any]:
        """Step 2: a one-time claim code, shown once (only its hash is stored)."""
        code = new_secret(principal.tenant_id, device_id)
        document = await self._step(
            principal, device_id, "claim_issued", lambda d, now: d.issue_claim(code.hash, now)
        )
        return {**document, "claimCode": code.text(CLAIM_PREFIX)}

    async def claim(self, body: bytes) -> dict[str, Any]:
        """Step 3, called by the device itself: the code buys its own credential, once."""
        request: ClaimBody = decode_body(body, ClaimBody, "claim")
        code = parse_secret(request.claim_code, CLAIM_PREFIX)
        credential = new_secret(code.tenant_id, code.device_id)
        now = self.clock.now()
        async with self.uow(code.tenant_id) as uow:
            device = await uow.sensors.device(code.device_id, for_update=True)
            if device is None:
                raise Unauthorized("Unknown claim code")
            device = device.claim(code.hash, credential.hash, now)
            await uow.sensors.save_device(device)
            uow.record(device_event(device, "claimed", None, at=now))
            await uow.commit()
        return {
            "deviceId": device.device_id,
            "profileId": device.profile_id,
            "credential": credential.text(CREDENTIAL_PREFIX),
        }

    async def revoke(self, principal: Principal, device_id: str) -> dict[str, Any]:
        """The credential stops working at once, on HTTPS and MQTT alike."""
        return await self._step(principal, device_id, "revoked", Device.revoke)

    async def get(self, principal: Principal, device_id: str) -> dict[str, Any]:
        async with organization_unit(self.uow, principal, READ) as uow:
            device = await uow.sensors.device(device_id)
        return device_document(existing(device, f"Device {device_id}"))

    async def list(
        self, principal: Principal, page: PageRequest, ids: Sequence[str] = ()
    ) -> Page[dict[str, Any]]:
        """A page of devices; ``ids`` (at most a page of them) narrows it to those, so a
        page that names the devices it shows reads them in one call."""
        if len(ids) > page.page_size:
            raise ValidationFailed(
                "Too many devices asked for",
                [FieldError("deviceIds", f"at most {page.page_size}, the page size")],
            )
        async with organization_unit(self.uow, principal, READ) as uow:
            found = await uow.sensors.devices(page, ids)
        return Page([device_document(d) for d in found.items], page, found.total_count)


@dataclass
class AuthenticateDevice:
    """Answers "is this a live device credential, and whose?" (the MQTT listener asks).

    Revocation takes effect on the next connection attempt: nothing is cached."""

    uow: SensorsUnitOfWorkFactory

    async def __call__(self, credential: str) -> dict[str, Any]:
        secret = parse_secret(credential, CREDENTIAL_PREFIX)
        async with self.uow(secret.tenant_id) as uow:
            device = await uow.sensors.device(secret.device_id)
        if (
            device is None
            or device.state not in CONNECTABLE
            or not secret.matches(device.credential_hash)
        ):
            raise Unauthorized("Device credential not valid")
        return {
            "tenantId": str(device.tenant_id),
            "deviceId": device.device_id,
            "profileId": device.profile_id,
        }


@dataclass
class ReleaseEdgeShare:
    """Lets the device edge reclaim an organization's share (its stream, ADR 0386) when no
    device of it can connect: ``release`` runs while the organization's devices and
    registrations are held, so a device claimed meanwhile connects only after it, and its
    stream is made again then. True when ``release`` ran and said the share is free."""

    uow: SensorsUnitOfWorkFactory

    async def __call__(self, tenant: TenantId, release: Callable[[], Awaitable[bool]]) -> bool:
        async with self.uow(tenant) as uow:
            if await uow.sensors.devices_can_connect():
                return False
            return await release()
