"""Who a record's partner mail goes to, asked by the mailer at send time: events carry ids,
not people's addresses or names (ADR 0388, 0389), so the mail and the agreement PDF read
them here, under the organization's row-level security (another organization's id: 404)."""

from __future__ import annotations

from typing import Any

from bijmantra.application.distribution.common import WRITE, load
from bijmantra.application.distribution.inputs import record_id, to_builtins
from bijmantra.application.ports import UnitOfWorkFactory
from bijmantra.application.ports.distribution import Kind
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.distribution.agreements import Agreement, agreement_text
from bijmantra.domain.distribution.model import Partner, PartnerType
from bijmantra.kernel import FieldError, Principal, ValidationFailed

MAILED_KINDS = (Kind.SEED_REQUEST, Kind.AGREEMENT, Kind.DISPATCH, Kind.INVOICE)


def partner_in_event(partner: Partner) -> dict[str, Any]:
    """What an event says of a partner: its id and country, and its name unless the partner
    is a person (ADR 0388)."""
    shown = {"id": partner.id, "country": partner.country}
    if partner.type is not PartnerType.INDIVIDUAL:
        shown["name"] = partner.name
    return shown


def agreement_in_event(document: dict[str, Any]) -> dict[str, Any]:
    """An agreement's document as its events carry it: no text, each party its role and
    country (the text names the parties; its ``document_sha256`` stays)."""
    shown = {k: v for k, v in document.items() if k != "text"}
    shown["parties"] = [{"role": p["role"], "country": p["country"]} for p in document["parties"]]
    return shown


async def partner_mail_recipient(
    uow_factory: UnitOfWorkFactory, principal: Principal, kind: str, owner_id: str
) -> dict[str, Any]:
    """The recipient of a record's mail (``email``, ``name``) and, for an agreement, the
    ``text`` to sign and its ``parties`` in full. Asked with the mailer's own grant (the
    worker's distribution write; domain-api takes it only on the worker service)."""
    if kind not in {k.value for k in MAILED_KINDS}:
        raise ValidationFailed(
            "Not a kind of record that mails its partner", [FieldError("kind", kind)]
        )
    record_kind = Kind(kind)
    async with organization_unit(uow_factory, principal, WRITE) as uow:
        owner = record_id(owner_id, kind)
        if record_kind is Kind.AGREEMENT:
            agreement = await load(uow, Kind.AGREEMENT, owner, Agreement)
            recipient = next(p for p in agreement.parties if p.role == "recipient")
            return {
                "email": recipient.email,
                "name": recipient.name,
                "text": agreement_text(agreement),
                "parties": [to_builtins(p) for p in agreement.parties],
            }
        record = await load(uow, record_kind, owner, dict)
        partner = await load(uow, Kind.PARTNER, str(record["partner_id"]), Partner)
        return {"email": partner.email, "name": partner.name}


def with_recipient(data: dict[str, Any], recipient: dict[str, Any]) -> dict[str, Any]:
    """An event's data as it was before events left people out (ADR 0389): what the mail and
    the PDFs print, filled in from ``recipient`` (``partner_mail_recipient``'s answer)."""
    filled = {**data, "email": recipient["email"], "partner_name": recipient["name"]}
    if "agreement" in data and "text" in recipient:
        parties = recipient["parties"]
        filled["agreement"] = {**data["agreement"], "text": recipient["text"], "parties": parties}
    if "partner" in data:
        filled["partner"] = {**data["partner"], "name": recipient["name"]}
    return filled
