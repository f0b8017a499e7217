"""Partners: the institutions seed goes to."""

from __future__ import annotations

from typing import Any

from bijmantra.application.distribution.common import UseCases
from bijmantra.application.distribution.inputs import PartnerIn
from bijmantra.application.ports.distribution import Kind
from bijmantra.domain.distribution.model import Contact, Partner, PartnerType, check_partner
from bijmantra.kernel import Principal, new_id


class Partners(UseCases, kind=Kind.PARTNER, record=Partner):
    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        given = self.written(principal, body, PartnerIn)
        partner = check_partner(
            Partner(
                new_id(),
                given.name,
                given.country,
                given.type,
                tuple(Contact(c.name, c.email, c.role, c.phone) for c in given.contacts),
                self.clock.now(),
                given.address,
            )
        )
        async with self.uow(principal.tenant_id) as uow:
            document = await self.add(uow, principal, partner, partner_event(partner))
            await uow.commit()
        return document


def partner_event(partner: Partner) -> dict[str, Any]:
    """The institution and how many contacts it has, not who they are: the audit trail is
    append-only, so it keeps no person's name or address (as ``tenancy.invitation.created``
    keeps no invitee's address, ADR 0388), nor an individual partner's name; the record
    itself holds them."""
    named = {} if partner.type == PartnerType.INDIVIDUAL else {"name": partner.name}
    return {
        **named,
        "country": partner.country,
        "type": partner.type,
        "contacts": len(partner.contacts),
    }
