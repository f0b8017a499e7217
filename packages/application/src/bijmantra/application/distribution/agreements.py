"""Material transfer agreements: drafted from a versioned template, sent, signed by every
party over the SHA-256 of the exact text, active until they expire or are terminated."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace
from typing import Any

from bijmantra.application.distribution.common import (
    READ,
    UseCases,
    load,
    load_named,
    record_event,
    save,
)
from bijmantra.application.distribution.inputs import (
    ActionIn,
    AgreementIn,
    SignIn,
    from_document,
    lifecycle_document,
    reference,
    to_builtins,
)
from bijmantra.application.distribution.mail import addressed, resend_mail, with_partner_mail
from bijmantra.application.distribution.recipients import agreement_in_event
from bijmantra.application.distribution.requests import parse_action
from bijmantra.application.distribution.seedlots import GermplasmSeedLots
from bijmantra.application.ports import UnitOfWork
from bijmantra.application.ports.distribution import Kind
from bijmantra.application.use_case import organization_unit
from bijmantra.domain.distribution.agreements import (
    TEMPLATES,
    Agreement,
    AgreementType,
    Party,
    Signature,
    agreement_text,
    document_sha256,
    latest_template,
)
from bijmantra.domain.distribution.export import SMTA_COLUMNS, smta_rows
from bijmantra.domain.distribution.model import COUNTRY, EMAIL, Partner, SeedRequest
from bijmantra.domain.distribution.states import (
    AGREEMENT_LIFECYCLE,
    AgreementAction,
    AgreementStatus,
)
from bijmantra.kernel import (
    Conflict,
    FieldError,
    Principal,
    Unprocessable,
    ValidationFailed,
    new_id,
)

MAX_EXPORT = 10_000


def agreement_document(agreement: Agreement) -> dict[str, Any]:
    return lifecycle_document(agreement, AGREEMENT_LIFECYCLE, text=agreement_text(agreement))


def _in_event(agreement: Agreement) -> dict[str, Any]:
    return agreement_in_event(agreement_document(agreement))


@dataclass
class Agreements(
    UseCases,
    kind=Kind.AGREEMENT,
    record=Agreement,
    statuses=AgreementStatus,
    shown_as=agreement_document,
):
    seeds: GermplasmSeedLots

    async def create(self, principal: Principal, body: bytes) -> dict[str, Any]:
        given = self.written(principal, body, AgreementIn)
        kind = given.type
        template = latest_template(kind)
        if given.template_version is not None:
            if (kind, given.template_version) not in TEMPLATES:
                raise ValidationFailed(
                    "Unknown template version", [FieldError("template_version", "not published")]
                )
            template = TEMPLATES[(kind, given.template_version)]
        provider = given.provider
        if not COUNTRY.fullmatch(provider.country) or not EMAIL.fullmatch(provider.email):
            raise ValidationFailed(
                "Invalid provider", [FieldError("provider", "country (ISO alpha-2) and email")]
            )
        partner_id = reference(given.partner_id, "partner_id")
        request_id = reference(given.request_id, "request_id") if given.request_id else None
        async with self.uow(principal.tenant_id) as uow:
            partner = await load_named(uow, Kind.PARTNER, partner_id, Partner, "partner_id")
            if request_id is not None:
                await load_named(uow, Kind.SEED_REQUEST, request_id, SeedRequest, "request_id")
            material = await self.seeds.material(uow, given.material)
            annex1 = sorted(m for m, info in material.items() if info.annex1)
            if annex1 and kind != AgreementType.SMTA:
                raise Unprocessable(
                    "Annex I material is transferred under an SMTA only",
                    [FieldError("material", f"Annex I: {', '.join(annex1)}")],
                )
            agreement = Agreement(
                new_id(),
                kind,
                template.version,
                partner_id,
                (
                    Party("provider", provider.name, provider.email, provider.country),
                    Party("recipient", partner.name, partner.email, partner.country),
                ),
                tuple(dict.fromkeys(given.material)),
                AgreementStatus.DRAFT,
                self.clock.now(),
                given.valid_until,
                request_id,
            )
            data = {"type": kind, "partner_id": partner_id, "material": list(agreement.material)}
            await self.add(uow, principal, agreement, {**data, "request_id": request_id})
            await uow.commit()
        return agreement_document(agreement)

    async def act(self, principal: Principal, agreement_id: str, body: bytes) -> dict[str, Any]:
        """send (fixes the text and its hash) | terminate | expire (only once past validity)."""
        move = parse_action(self.written(principal, body, ActionIn).action, AgreementAction)
        if move == AgreementAction.ACTIVATE:
            raise ValidationFailed(
                "An agreement becomes active when its last party signs",
                [FieldError("action", "use /sign")],
            )
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            agreement = await load(uow, Kind.AGREEMENT, agreement_id, Agreement, for_update=True)
            status = AGREEMENT_LIFECYCLE.next(agreement.status, move)
            if move == AgreementAction.EXPIRE and (
                agreement.valid_until is None or now.date() <= agreement.valid_until
            ):
                raise Conflict(
                    "The agreement is still valid", [FieldError("valid_until", "not yet passed")]
                )
            agreement = replace(agreement, status=status)
            if move == AgreementAction.SEND:
                agreement = replace(agreement, document_sha256=document_sha256(agreement))
                agreement = await with_partner_mail(uow, agreement, now, self.mails_per_day)
            await save(uow, Kind.AGREEMENT, agreement)
            data = await self._mail_data(uow, agreement)
            self.record_step(uow, principal, agreement, data, now)
            await uow.commit()
        return agreement_document(agreement)

    async def _mail_data(self, uow: UnitOfWork, agreement: Agreement) -> dict[str, Any]:
        """The data of the event that asks the recipient to sign (ADR 0354: no attempt when
        the day's partner mail was used up); the agreement without its parties' names and
        addresses (ADR 0389)."""
        return {"agreement": _in_event(agreement), **addressed(agreement.notification)}

    async def resend_notification(self, principal: Principal, record_id: str) -> dict[str, Any]:
        """Ask the recipient to sign again, by mail, once the day's cap has room."""
        return await resend_mail(
            self,
            principal,
            record_id,
            AgreementStatus.PENDING_SIGNATURE,
            self._mail_data,
        )

    async def sign(self, principal: Principal, agreement_id: str, body: bytes) -> dict[str, Any]:
        """One party signs the text whose hash it names; the last signature activates."""
        given = self.written(principal, body, SignIn)
        now = self.clock.now()
        async with self.uow(principal.tenant_id) as uow:
            agreement = await load(uow, Kind.AGREEMENT, agreement_id, Agreement, for_update=True)
            if agreement.status != AgreementStatus.PENDING_SIGNATURE:
                raise Conflict(
                    f"A {agreement.status} agreement cannot be signed",
                    [FieldError("status", str(agreement.status))],
                )
            if given.party_role not in agreement.unsigned_roles():
                raise Conflict(
                    "That party has signed already or is not a party",
                    [FieldError("party_role", ", ".join(agreement.unsigned_roles()))],
                )
            if given.document_sha256 != agreement.document_sha256:
                raise Conflict(
                    "The signed document is not the one sent for signature",
                    [FieldError("document_sha256", "does not match the agreement's text")],
                )
            signature = Signature(given.party_role, principal.subject, now, given.document_sha256)
            agreement = replace(agreement, signatures=(*agreement.signatures, signature))
            if not agreement.unsigned_roles():
                status = AGREEMENT_LIFECYCLE.next(agreement.status, AgreementAction.ACTIVATE)
                agreement = replace(agreement, status=status, activated_at=now)
            await save(uow, Kind.AGREEMENT, agreement)
            record_event(
                uow,
                principal,
                "agreement_signed",
                agreement.id,
                {"agreement": _in_event(agreement), "signature": to_builtins(signature)},
                self.clock.now(),
            )
            await uow.commit()
        return agreement_document(agreement)

    async def smta_csv(self, principal: Principal) -> bytes:
        """Every active, expired or terminated SMTA as the Treaty's reporting rows (CSV)."""
        async with organization_unit(self.uow, principal, READ) as uow:
            found = await uow.distribution.matching(
                Kind.AGREEMENT, {"type": AgreementType.SMTA.value}, MAX_EXPORT
            )
            agreements = [
                a
                for a in (from_document(d, Agreement) for d in found)
                if a.status != AgreementStatus.DRAFT
            ]
            material = await self.seeds.material(
                uow, sorted({m for a in agreements for m in a.material}), strict=False
            )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(SMTA_COLUMNS)
        writer.writerows(smta_rows(agreements, material))
        return out.getvalue().encode()
