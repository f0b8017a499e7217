"""Dispatches: seed picked from lots for an approved request, packed and shipped.

Shipping is the one step with effects outside the context: in one transaction it checks
that an active agreement covers every item, writes the seed-lot withdrawals through the
germplasm context (its ledger rule refuses an overdraft) and fulfils the request. Any
refusal rolls everything back: lots, dispatch and events stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from bijmantra.application.distribution.common import (
    UseCases,
    load,
    load_named,
    save,
)
from bijmantra.application.distribution.inputs import (
    ActionIn,
    DispatchIn,
    from_document,
    lifecycle_document,
    reference,
    to_builtins,
)
from bijmantra.application.distribution.mail import addressed, resend_mail, with_partner_mail
from bijmantra.application.distribution.requests import parse_action, requested_germplasm
from bijmantra.application.distribution.seedlots import GermplasmSeedLots, Withdrawal
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.distribution import Kind
from bijmantra.domain.distribution.agreements import Agreement, uncovered
from bijmantra.domain.distribution.model import (
    Dispatch,
    DispatchLine,
    Partner,
    SeedRequest,
    move_dispatch,
    move_request,
    new_dispatch,
)
from bijmantra.domain.distribution.money import MAX_QUANTITY, parse_decimal
from bijmantra.domain.distribution.states import (
    DISPATCH_LIFECYCLE,
    AgreementStatus,
    DispatchAction,
    DispatchStatus,
    RequestAction,
)
from bijmantra.kernel import (
    Conflict,
    FieldError,
    Principal,
    Unprocessable,
    new_id,
)

MAX_AGREEMENTS = 1000


def _mail_data(dispatch: Dispatch) -> dict[str, Any]:
    """The data of a dispatch's event; the shipping one mails the partner (ADR 0354: no
    attempt when the day's partner mail was used up)."""
    return {"dispatch": to_builtins(dispatch), **addressed(dispatch.notification)}


def dispatch_document(dispatch: Dispatch) -> dict[str, Any]:
    return lifecycle_document(dispatch, DISPATCH_LIFECYCLE)


@dataclass
class Dispatches(
    UseCases,
    kind=Kind.DISPATCH,
    record=Dispatch,
    statuses=DispatchStatus,
    shown_as=dispatch_document,
):
    seeds: GermplasmSeedLots

    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        """A draft from an approved request; every line's lot holds requested germplasm."""
        given = self.written(principal, body, DispatchIn)
        request_id = reference(given.request_id, "request_id")
        amounts = [
            parse_decimal(line.amount, f"lines[{n}].amount", low=Decimal(0), high=MAX_QUANTITY)
            for n, line in enumerate(given.lines)
        ]
        async with self.uow(principal.tenant_id) as uow:
            request = await load_named(
                uow, Kind.SEED_REQUEST, request_id, SeedRequest, "request_id"
            )
            lots = await self.seeds.lots(uow, [line.seed_lot_id for line in given.lines])
            wanted = await requested_germplasm(uow, self.seeds, request)
            lines = []
            for n, (line, amount) in enumerate(zip(given.lines, amounts, strict=True)):
                lot = lots[line.seed_lot_id]
                if not lot.germplasm_ids or not set(lot.germplasm_ids) <= wanted:
                    raise Unprocessable(
                        "The seed lot holds germplasm the request did not ask for",
                        [FieldError(f"lines[{n}].seed_lot_id", line.seed_lot_id)],
                    )
                lines.append(
                    DispatchLine(
                        lot.seed_lot_id, lot.germplasm_ids, amount, line.units or lot.units
                    )
                )
            dispatch = new_dispatch(new_id(), request, tuple(lines), self.clock.now())
            data = {"request_id": request.id, "partner_id": request.partner_id, "lines": len(lines)}
            await self.add(uow, principal, dispatch, data)
            await uow.commit()
        return dispatch_document(dispatch)

    async def act(self, principal: Principal, dispatch_id: str, body: bytes) -> dict[str, Any]:
        """approved | picking | packed | shipped | delivered | cancelled."""
        given = self.written(principal, body, ActionIn)
        action = parse_action(given.action, DispatchAction)
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            dispatch = await load(uow, Kind.DISPATCH, dispatch_id, Dispatch, for_update=True)
            dispatch = move_dispatch(dispatch, action, now)
            partner = await load(uow, Kind.PARTNER, dispatch.partner_id, Partner)
            if action == DispatchAction.SHIP:
                dispatch = await self._ship(uow, principal, dispatch, partner, given.tracking)
                dispatch = await with_partner_mail(uow, dispatch, now, self.mails_per_day)
            await save(uow, Kind.DISPATCH, dispatch)
            self.record_step(uow, principal, dispatch, _mail_data(dispatch), self.clock.now())
            await uow.commit()
        return dispatch_document(dispatch)

    async def resend_notification(self, principal: Principal, record_id: str) -> dict[str, Any]:
        """Tell the partner again, by mail, that the dispatch shipped (the day's cap allowing)."""

        async def compose(uow: UnitOfWork, dispatch: Dispatch) -> dict[str, Any]:
            return _mail_data(dispatch)

        return await resend_mail(
            self,
            principal,
            record_id,
            DispatchStatus.SHIPPED,
            compose,
        )

    async def _ship(
        self,
        uow: UnitOfWork,
        principal: Principal,
        dispatch: Dispatch,
        partner: Partner,
        tracking: str,
    ) -> Dispatch:
        now = dispatch.updated_at
        request = await load(
            uow, Kind.SEED_REQUEST, dispatch.request_id, SeedRequest, for_update=True
        )
        germplasm = sorted({g for line in dispatch.lines for g in line.germplasm_ids})
        material = await self.seeds.material(uow, germplasm)
        agreements = [
            from_document(d, Agreement)
            for d in await uow.distribution.matching(
                Kind.AGREEMENT,
                {"partner_id": partner.id, "status": AgreementStatus.ACTIVE.value},
                MAX_AGREEMENTS,
            )
        ]
        missing = uncovered([(g, material[g].annex1) for g in germplasm], agreements, now)
        if missing:
            raise Conflict(
                "No active agreement covers every item (Annex I crops need an SMTA)",
                [FieldError("germplasm_id", m) for m in missing],
            )
        covering = tuple(
            a.id
            for a in agreements
            if any(a.covers(g, now, annex1=material[g].annex1) for g in germplasm)
        )
        transactions = await self.seeds.withdraw(
            uow,
            principal,
            [
                Withdrawal(
                    line.seed_lot_id,
                    line.amount,
                    line.units,
                    f"Dispatch {dispatch.id} to {partner.name}",
                    dispatch.id,
                )
                for line in dispatch.lines
            ],
        )
        request = move_request(request, RequestAction.FULFIL, now)
        await save(uow, Kind.SEED_REQUEST, request)
        return replace(
            dispatch,
            shipped_at=now,
            agreement_ids=covering,
            transaction_ids=tuple(transactions),
            tracking=tracking,
        )
