"""Seed requests: a partner asks for germplasm or specific seed lots."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bijmantra.application.distribution.common import (
    UseCases,
    get_one,
    load,
    load_named,
    save,
)
from bijmantra.application.distribution.inputs import (
    ActionIn,
    E,
    SeedRequestIn,
    choice,
    reference,
    to_builtins,
)
from bijmantra.application.distribution.mail import addressed, resend_mail, with_partner_mail
from bijmantra.application.distribution.seedlots import GermplasmSeedLots
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.distribution import Kind
from bijmantra.domain.distribution.model import (
    Partner,
    RequestItem,
    SeedRequest,
    check_items,
    move_request,
)
from bijmantra.domain.distribution.money import MAX_QUANTITY, parse_decimal
from bijmantra.domain.distribution.states import RequestAction, RequestStatus
from bijmantra.kernel import FieldError, Principal, ValidationFailed, new_id


def parse_action(value: str, actions: type[E]) -> E:
    return choice(value, actions, "action")


async def requested_germplasm(
    uow: UnitOfWork, seeds: GermplasmSeedLots, request: SeedRequest
) -> set[str]:
    """Germplasm a request names, directly or through the seed lots it names."""
    named = {i.germplasm_id for i in request.items if i.germplasm_id}
    lot_ids = [i.seed_lot_id for i in request.items if i.seed_lot_id]
    if lot_ids:
        for lot in (await seeds.lots(uow, lot_ids)).values():
            named.update(lot.germplasm_ids)
    return named


@dataclass
class SeedRequests(
    UseCases, kind=Kind.SEED_REQUEST, record=SeedRequest, statuses=RequestStatus, event="request"
):
    seeds: GermplasmSeedLots

    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        """A draft request; its germplasm and seed lots must exist in the organization."""
        given = self.written(principal, body, SeedRequestIn)
        partner_id = reference(given.partner_id, "partner_id")
        items = tuple(
            RequestItem(
                parse_decimal(
                    i.quantity, f"items[{n}].quantity", low=Decimal(0), high=MAX_QUANTITY
                ),
                i.units,
                i.germplasm_id,
                i.seed_lot_id,
            )
            for n, i in enumerate(given.items)
        )
        check_items(items)
        now = self.clock.now()
        request = SeedRequest(
            new_id(), partner_id, given.purpose, items, RequestStatus.DRAFT, now, now, given.notes
        )
        async with self.uow(principal.tenant_id) as uow:
            await load_named(uow, Kind.PARTNER, partner_id, Partner, "partner_id")
            await self.seeds.material(uow, [i.germplasm_id for i in items if i.germplasm_id])
            await self.seeds.lots(uow, [i.seed_lot_id for i in items if i.seed_lot_id])
            data = {"partner_id": partner_id, "items": len(items)}
            document = await self.add(uow, principal, request, data)
            await uow.commit()
        return document

    async def get(self, principal: Principal, request_id: str) -> dict[str, Any]:
        request = await get_one(self.uow, principal, Kind.SEED_REQUEST, request_id, SeedRequest)
        async with self.uow(principal.tenant_id) as uow:
            material = await self.seeds.material(
                uow, sorted(await requested_germplasm(uow, self.seeds, request))
            )
        return {
            **to_builtins(request),
            "requires_smta": any(m.annex1 for m in material.values()),
        }

    async def act(self, principal: Principal, request_id: str, body: bytes) -> dict[str, Any]:
        """submit | approve | reject | cancel (fulfilled comes from a shipped dispatch)."""
        given = self.written(principal, body, ActionIn)
        action = parse_action(given.action, RequestAction)
        if action == RequestAction.FULFIL:
            raise ValidationFailed(
                "A request is fulfilled by shipping its dispatch",
                [FieldError("action", "submitted, approved, rejected, cancelled")],
            )
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            request = await load(uow, Kind.SEED_REQUEST, request_id, SeedRequest, for_update=True)
            request = move_request(request, action, now, given.reason)
            data: dict[str, Any] = {"request": to_builtins(request)}
            if action == RequestAction.SUBMIT:
                request = await with_partner_mail(uow, request, now, self.mails_per_day)
                data = await _mail_data(uow, request)
            document = await save(uow, Kind.SEED_REQUEST, request)
            self.record_step(uow, principal, request, data, now)
            await uow.commit()
        return document

    async def resend_notification(self, principal: Principal, record_id: str) -> dict[str, Any]:
        """Tell the partner again, by mail, that its request arrived (the day's cap allowing)."""
        return await resend_mail(
            self,
            principal,
            record_id,
            RequestStatus.SUBMITTED,
            _mail_data,
        )


async def _mail_data(uow: UnitOfWork, request: SeedRequest) -> dict[str, Any]:
    """The data of a submitted request's event, which tells the partner it arrived (ADR
    0354: with no address when the day's partner mail was used up)."""
    return {"request": to_builtins(request), **addressed(request.notification)}
