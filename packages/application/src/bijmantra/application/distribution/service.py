"""The distribution context's use cases, wired once and found by collection name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bijmantra.application.brapi.commands import ResourceCommands
from bijmantra.application.distribution.agreements import Agreements
from bijmantra.application.distribution.common import UseCases
from bijmantra.application.distribution.dispatches import Dispatches
from bijmantra.application.distribution.documents import Documents
from bijmantra.application.distribution.invoices import Invoices
from bijmantra.application.distribution.mail import MailReport, report_mail
from bijmantra.application.distribution.partners import Partners
from bijmantra.application.distribution.recipients import partner_mail_recipient
from bijmantra.application.distribution.requests import SeedRequests
from bijmantra.application.distribution.seedlots import GermplasmSeedLots
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.distribution import Kind
from bijmantra.domain.distribution.mail import PARTNER_MAILS_PER_DAY, RESENDABLE
from bijmantra.kernel import Clock, FieldError, NotFound, Principal, ValidationFailed

# The collections of the API (``/api/v1/<name>``) and the aggregates they hold.
COLLECTIONS = {
    "partners": Kind.PARTNER,
    "seed-requests": Kind.SEED_REQUEST,
    "agreements": Kind.AGREEMENT,
    "dispatches": Kind.DISPATCH,
    "invoices": Kind.INVOICE,
}


@dataclass
class Distribution:
    partners: Partners
    requests: SeedRequests
    agreements: Agreements
    dispatches: Dispatches
    invoices: Invoices
    documents: Documents

    @classmethod
    def build(
        cls,
        uow: UnitOfWorkFactory,
        clock: Clock,
        resources: ResourceCommands,
        mails_per_day: int = PARTNER_MAILS_PER_DAY,
    ) -> Distribution:
        """``resources`` is the germplasm context's application service (seed-lot ledger);
        ``mails_per_day`` the organization's partner mails a day (ADR 0348, 0354)."""
        seeds = GermplasmSeedLots(resources)
        cap = {"mails_per_day": mails_per_day}
        return cls(
            Partners(uow, clock),
            SeedRequests(uow, clock, seeds),
            Agreements(uow, clock, seeds, **cap),
            Dispatches(uow, clock, seeds, **cap),
            Invoices(uow, clock, **cap),
            Documents(uow, clock),
        )

    def kind(self, collection: str) -> Kind:
        try:
            return COLLECTIONS[collection]
        except KeyError:
            raise NotFound(f"No collection {collection!r}") from None

    def of(self, collection: str) -> UseCases:
        return self.of_kind(self.kind(collection))

    def of_kind(self, kind: Kind) -> UseCases:
        return {
            Kind.PARTNER: self.partners,
            Kind.SEED_REQUEST: self.requests,
            Kind.AGREEMENT: self.agreements,
            Kind.DISPATCH: self.dispatches,
            Kind.INVOICE: self.invoices,
        }[kind]

    async def partner_mail_recipient(
        self, principal: Principal, kind: str, owner_id: str
    ) -> dict[str, Any]:
        """Who a record's partner mail goes to, asked by the mailer (ADR 0389)."""
        return await partner_mail_recipient(self.partners.uow, principal, kind, owner_id)

    async def report_mail(self, principal: Principal, report: MailReport) -> dict[str, Any]:
        """The mailer's report of how a record's mail attempt ended (ADR 0363)."""
        if report.kind not in RESENDABLE:
            raise ValidationFailed(
                "Not a kind of record that mails its partner", [FieldError("kind", report.kind)]
            )
        return await report_mail(self.of_kind(Kind(report.kind)), principal, report)
