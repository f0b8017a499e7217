"""Partners: the institutions seed goes to."""

from __future__ import annotations

from typing import Any

from bijmantra.application.distribution.common import UseCases, save
from bijmantra.application.distribution.inputs import PartnerIn
from bijmantra.application.ports.distribution import Kind
from bijmantra.domain.distribution.model import Contact, Partner, check_partner
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
            document = await save(uow, Kind.PARTNER, partner, new=True)
            await uow.commit()
        return document
