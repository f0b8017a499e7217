"""Issuing invoices in batches: concurrent issues of one organization share a transaction.

Gapless numbers need the organization's counter row locked from the moment a number is taken
until the transaction commits, so issuers of one organization queue behind each other's
commit. Requests that arrive while a batch is being issued wait and go together as the next
batch: one counter update and one commit for all of them, numbers in arrival order. A request
that cannot be issued (unknown, not a draft) is refused alone and takes no number.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from typing import Any

from bijmantra.application.distribution.common import load, record_event, save
from bijmantra.application.distribution.mail import addressed, mail_budget
from bijmantra.application.distribution.recipients import partner_in_event
from bijmantra.application.ports import UnitOfWork, UnitOfWorkFactory
from bijmantra.application.ports.distribution import Kind
from bijmantra.domain.distribution.model import Invoice, Partner, issue_invoice
from bijmantra.domain.distribution.money import invoice_number
from bijmantra.domain.distribution.states import INVOICE_LIFECYCLE, InvoiceAction
from bijmantra.kernel import BijmantraError, Clock, Conflict, FieldError, Principal, TenantId

MAX_BATCH = 64


def invoice_mail_data(invoice: Invoice, document: Any, partner: Partner) -> dict[str, Any]:
    """The data of the event of an issued invoice (``document``: as the API shows it), which
    mails the partner (ADR 0354: no attempt when the day's partner mail was used up); of the
    partner only its id, country and, unless a person, name (ADR 0389)."""
    return {
        "invoice": document,
        "partner": partner_in_event(partner),
        **addressed(invoice.notification),
    }


@dataclass
class _Waiting:
    principal: Principal
    invoice_id: str
    done: asyncio.Future[dict[str, Any]]


@dataclass
class IssueBatches:
    uow: UnitOfWorkFactory
    clock: Clock
    present: Any  # Invoice -> the API document
    mails_per_day: int
    _waiting: dict[TenantId, list[_Waiting]] = field(default_factory=dict)
    _draining: dict[TenantId, asyncio.Task[None]] = field(default_factory=dict)

    async def issue(self, principal: Principal, invoice_id: str) -> dict[str, Any]:
        tenant = principal.tenant_id
        waiting = _Waiting(principal, invoice_id, asyncio.get_running_loop().create_future())
        self._waiting.setdefault(tenant, []).append(waiting)
        if tenant not in self._draining:
            # Its own task: a caller that goes away does not stop the others' batch.
            self._draining[tenant] = asyncio.create_task(self._drain(tenant))
        return await asyncio.shield(waiting.done)

    async def _drain(self, tenant: TenantId) -> None:
        try:
            while self._waiting.get(tenant):
                batch = self._waiting[tenant][:MAX_BATCH]
                del self._waiting[tenant][:MAX_BATCH]
                try:
                    await self._issue_batch(tenant, batch)
                except asyncio.CancelledError:
                    for waiting in batch:
                        waiting.done.cancel()
                    raise
                except Exception as error:  # the transaction failed: every member failed
                    for waiting in batch:
                        if not waiting.done.done():
                            waiting.done.set_exception(error)
        finally:
            self._draining.pop(tenant, None)
            for waiting in self._waiting.pop(tenant, []):  # only when cancelled mid-way
                waiting.done.cancel()

    async def _issue_batch(self, tenant: TenantId, batch: list[_Waiting]) -> None:
        async with self.uow(tenant) as uow:
            ready = await self._issuable(uow, batch)
            if not ready:
                return
            now = self.clock.now()
            numbers = await uow.distribution.take_invoice_numbers(now.year, len(ready))
            budget = await mail_budget(uow, now, self.mails_per_day)
            partners: dict[str, Partner] = {}
            results = []
            for (waiting, invoice), number in zip(ready, numbers, strict=True):
                issued = issue_invoice(invoice, now, invoice_number(now.year, number), now.year)
                issued = replace(issued, notification=budget.decide(now))
                await save(uow, Kind.INVOICE, issued)
                if issued.partner_id not in partners:
                    partners[issued.partner_id] = await load(
                        uow, Kind.PARTNER, issued.partner_id, Partner
                    )
                document = self.present(issued)
                data = invoice_mail_data(issued, document, partners[issued.partner_id])
                record_event(
                    uow, waiting.principal, "invoice_issued", issued.id, data, self.clock.now()
                )
                results.append((waiting, document))
            await uow.commit()
        for waiting, document in results:
            if not waiting.done.done():
                waiting.done.set_result(document)

    async def _issuable(
        self, uow: UnitOfWork, batch: list[_Waiting]
    ) -> list[tuple[_Waiting, Invoice]]:
        """Lock the batch's invoices (in id order: batches never deadlock) and keep the
        drafts, in arrival order; the others are refused one by one before any number."""
        order = {id(w): n for n, w in enumerate(batch)}
        ready, seen = [], set()
        for waiting in sorted(batch, key=lambda w: w.invoice_id):
            try:
                if waiting.invoice_id in seen:
                    raise Conflict(
                        "The invoice is being issued by another request",
                        [FieldError("status", "issuing")],
                    )
                invoice = await load(
                    uow, Kind.INVOICE, waiting.invoice_id, Invoice, for_update=True
                )
                INVOICE_LIFECYCLE.next(invoice.status, InvoiceAction.ISSUE)
            except BijmantraError as error:
                with contextlib.suppress(asyncio.InvalidStateError):
                    waiting.done.set_exception(error)
                continue
            seen.add(waiting.invoice_id)
            ready.append((waiting, invoice))
        return sorted(ready, key=lambda pair: order[id(pair[0])])
