"""The distribution use cases against the in-memory fakes: the whole chain, and attacks."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from bijmantra.application.distribution import Kind, read_models
from bijmantra.application.distribution.notifications import (
    COMPOSED,
    MAILED_KIND,
    notification_for,
)
from bijmantra.application.distribution.recipients import with_recipient
from bijmantra.application.distribution.rendering import RENDERED_BY, RENDERED_FOR
from bijmantra.kernel import (
    Conflict,
    FixedClock,
    Forbidden,
    Malformed,
    NotFound,
    PageRequest,
    Principal,
    TenantId,
    Unprocessable,
    ValidationFailed,
)
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.documents import answers_as
from bijmantra.testkit.fakes import InMemoryDatabase, fake_unit_of_work_factory

TENANT = TenantId(uuid.UUID(int=11))
MANAGER = Principal("manager", TENANT, frozenset({"data-manager"}))
VIEWER = Principal("viewer", TENANT, frozenset({"viewer"}))
OUTSIDER = Principal("other", TenantId(uuid.UUID(int=12)), frozenset({"data-manager"}))
NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
j = msgspec.json.encode
PAGE = PageRequest(0, 10)


@pytest.fixture
def db() -> InMemoryDatabase:
    return InMemoryDatabase()


@pytest.fixture
def world(db: InMemoryDatabase) -> DistributionWorld:
    return DistributionWorld(fake_unit_of_work_factory(db), FixedClock(NOW))


async def lot_amount(world: DistributionWorld, lot_id: str) -> float:
    async with world.uow(TENANT) as uow:
        return float((await uow.resources.documents("seedlot", [lot_id]))[lot_id]["amount"])


async def test_a_shipped_dispatch_debits_the_lot_and_fulfils_the_request(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, lot = await world.germplasm_lot(MANAGER, 100)
    request = await world.approved_request(MANAGER, partner, germplasm)
    agreement = await world.active_agreement(MANAGER, partner, [germplasm])
    assert agreement["status"] == "active"
    dispatch = await world.packed_dispatch(MANAGER, request, lot, "30")
    shipped = await world.dispatches.act(MANAGER, dispatch, j({"action": "shipped"}))
    assert shipped["status"] == "shipped"
    assert shipped["agreement_ids"] == [agreement["id"]]
    assert await lot_amount(world, lot) == 70
    async with world.uow(TENANT) as uow:
        [transaction] = await uow.resources.matching(
            "seedlottransaction", ((({"fromSeedLotDbId": lot}),),), 10
        )
    assert transaction["transactionDbId"] == shipped["transaction_ids"][0]
    assert transaction["amount"] == 30
    got = await world.requests.get(MANAGER, request)
    assert got["status"] == "fulfilled"
    assert got["requires_smta"] is True  # rice is an Annex I crop
    types = [e.type for e in db.outbox]
    assert "distribution.dispatch_shipped" in types
    assert "distribution.request_submitted" in types


async def test_over_shipping_is_409_and_changes_nothing(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, lot = await world.germplasm_lot(MANAGER, 10)
    request = await world.approved_request(MANAGER, partner, germplasm)
    await world.active_agreement(MANAGER, partner, [germplasm])
    dispatch = await world.packed_dispatch(MANAGER, request, lot, "10.5")
    before = (copy.deepcopy(db.documents), copy.deepcopy(db.distribution.records), len(db.outbox))
    with pytest.raises(Conflict, match="Not enough seed"):
        await world.dispatches.act(MANAGER, dispatch, j({"action": "shipped"}))
    assert (db.documents, db.distribution.records, len(db.outbox)) == before
    assert (await world.dispatches.get(MANAGER, dispatch))["status"] == "packed"


async def test_shipping_without_a_covering_agreement_is_409_and_changes_nothing(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, lot = await world.germplasm_lot(MANAGER, 100)
    request = await world.approved_request(MANAGER, partner, germplasm)
    dispatch = await world.packed_dispatch(MANAGER, request, lot, "5")
    before = (copy.deepcopy(db.documents), copy.deepcopy(db.distribution.records), len(db.outbox))
    with pytest.raises(Conflict, match="agreement"):
        await world.dispatches.act(MANAGER, dispatch, j({"action": "shipped"}))
    # An agreement for other material does not cover it either.
    other, _ = await world.germplasm_lot(MANAGER, 5, genus="Zea", crop="Maize")
    await world.active_agreement(MANAGER, partner, [other])
    before = (copy.deepcopy(db.documents), copy.deepcopy(db.distribution.records), len(db.outbox))
    with pytest.raises(Conflict):
        await world.dispatches.act(MANAGER, dispatch, j({"action": "shipped"}))
    assert (db.documents, db.distribution.records, len(db.outbox)) == before


async def test_annex1_material_needs_an_smta_not_a_research_agreement(
    world: DistributionWorld,
) -> None:
    partner = await world.partner(MANAGER)
    rice, _ = await world.germplasm_lot(MANAGER, 10)
    with pytest.raises(Unprocessable, match="SMTA"):
        await world.active_agreement(MANAGER, partner, [rice], kind="research")
    quinoa, _ = await world.germplasm_lot(MANAGER, 10, genus="Chenopodium", crop="Quinoa")
    research = await world.active_agreement(MANAGER, partner, [quinoa], kind="research")
    assert research["status"] == "active"


async def test_a_signature_over_another_text_or_twice_is_refused(world: DistributionWorld) -> None:
    partner = await world.partner(MANAGER)
    germplasm, _ = await world.germplasm_lot(MANAGER)
    body = {
        "type": "smta",
        "partner_id": partner,
        "provider": {"name": "GB", "email": "gb@example.org", "country": "DE"},
        "material": [germplasm],
    }
    agreement = await world.agreements.create(MANAGER, j(body))
    with pytest.raises(Conflict):  # a draft is not signed
        await world.agreements.sign(
            MANAGER, agreement["id"], j({"party_role": "provider", "document_sha256": "0" * 64})
        )
    sent = await world.agreements.act(MANAGER, agreement["id"], j({"action": "sent for signature"}))
    assert sent["status"] == "pending_signature"
    with pytest.raises(Conflict, match="not the one"):
        await world.agreements.sign(
            MANAGER, agreement["id"], j({"party_role": "provider", "document_sha256": "0" * 64})
        )
    good = {"party_role": "provider", "document_sha256": sent["document_sha256"]}
    once = await world.agreements.sign(MANAGER, agreement["id"], j(good))
    assert once["status"] == "pending_signature"
    assert once["signatures"][0]["signer"] == "manager"
    with pytest.raises(Conflict):
        await world.agreements.sign(MANAGER, agreement["id"], j(good))
    recipient = {"party_role": "recipient", "document_sha256": sent["document_sha256"]}
    active = await world.agreements.sign(MANAGER, agreement["id"], j(recipient))
    assert active["status"] == "active"
    assert active["activated_at"] == NOW.isoformat().replace("+00:00", "Z")
    with pytest.raises(Conflict, match="still valid"):
        await world.agreements.act(MANAGER, agreement["id"], j({"action": "expired"}))


async def test_invoices_number_without_gaps_and_issued_ones_are_never_edited(
    world: DistributionWorld,
) -> None:
    partner = await world.partner(MANAGER)
    line = {
        "description": "Seed handling",
        "quantity": "3",
        "unit_price": "12.345",
        "tax_rate": "0.19",
    }
    body = j({"partner_id": partner, "currency": "EUR", "lines": [line]})
    ids = [(await world.invoices.create(MANAGER, body))["id"] for _ in range(3)]
    draft = await world.invoices.get(MANAGER, ids[0])
    assert draft["totals"] == {"net": "37.04", "tax": "7.04", "gross": "44.08"}
    issued = [await world.invoices.act(MANAGER, i, j({"action": "issued"})) for i in ids[1:]]
    assert [i["number"] for i in issued] == ["2026-000001", "2026-000002"]
    with pytest.raises(Conflict):
        await world.invoices.act(MANAGER, ids[1], j({"action": "issued"}))
    with pytest.raises(Conflict, match="credit note"):
        await world.invoices.edit(MANAGER, ids[1], j({"lines": [line]}))
    credit = await world.invoices.credit(MANAGER, ids[1])
    assert credit["totals"] == {"net": "-37.04", "tax": "-7.04", "gross": "-44.08"}
    assert credit["credit_for"] == ids[1]
    credit_issued = await world.invoices.act(MANAGER, credit["id"], j({"action": "issued"}))
    assert credit_issued["number"] == "2026-000003"
    with pytest.raises(Conflict, match="already reversed"):  # a replayed request
        await world.invoices.credit(MANAGER, ids[1])
    await world.invoices.act(MANAGER, credit["id"], j({"action": "voided"}))
    again = await world.invoices.credit(MANAGER, ids[1])  # the void one no longer stands
    assert again["credit_for"] == ids[1]


async def test_bad_input_is_a_400_and_stores_nothing(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER)

    def body(line: dict[str, object] | None = None, **fields: object) -> bytes:
        good_line = {"description": "x", "quantity": "1", "unit_price": "1"}
        invoice = {
            "partner_id": partner,
            "currency": "EUR",
            "lines": [{**good_line, **(line or {})}],
        }
        return j({**invoice, **fields})

    bad_bodies = [
        body(lines=[]),
        body(currency="eur"),
        body({"quantity": 1.5}),
        body({"quantity": "NaN"}),
        body({"unit_price": "-1"}),
        body({"quantity": "1e400"}),
        body({"quantity": "0.0000001"}),
        body({"description": "x" * 301}),
        body(extra=1),
        body(partner_id="not-a-uuid"),
        body(lines=[{"description": "x", "quantity": "1", "unit_price": "1"}] * 501),
    ]
    before = copy.deepcopy(db.distribution.records)
    for body in bad_bodies:
        with pytest.raises(ValidationFailed):
            await world.invoices.create(MANAGER, body)
    for unreadable in (b"not json", b"[" * 5_000 + b"]" * 5_000):
        with pytest.raises(Malformed):
            await world.invoices.create(MANAGER, unreadable)
    assert db.distribution.records == before
    partner_body = {"name": "X", "country": "Kenya", "type": "ngo", "contacts": []}
    with pytest.raises(ValidationFailed):
        await world.partners.create(MANAGER, j(partner_body))


async def test_an_unknown_status_action_or_document_kind_is_a_422_naming_the_allowed_values(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, _ = await world.germplasm_lot(MANAGER, 10)
    request = await world.approved_request(MANAGER, partner, germplasm)
    before = copy.deepcopy(db.distribution.records)
    with pytest.raises(ValidationFailed) as status:
        await world.invoices.list(MANAGER, PAGE, "unpaid")
    with pytest.raises(ValidationFailed) as action:
        await world.requests.act(MANAGER, request, j({"action": "shipped"}))
    with pytest.raises(ValidationFailed) as kind:
        await world.documents.pdf(MANAGER, request, "receipt")
    answers = [(e.value.message, e.value.details[0]) for e in (status, action, kind)]
    assert [(message, d.location, d.message) for message, d in answers] == [
        ("Unknown status", "status", "draft, issued, paid, void"),
        ("Unknown action", "action", "submitted, approved, rejected, fulfilled, cancelled"),
        ("Unknown document kind", "kind", "agreement, packing_list, invoice"),
    ]
    assert db.distribution.records == before


async def test_other_organizations_records_are_404_and_viewers_cannot_write(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, lot = await world.germplasm_lot(MANAGER, 100)
    request = await world.approved_request(MANAGER, partner, germplasm)
    await world.active_agreement(MANAGER, partner, [germplasm])
    dispatch = await world.packed_dispatch(MANAGER, request, lot, "1")
    for getter, record in (
        (world.partners.get, partner),
        (world.requests.get, request),
        (world.dispatches.get, dispatch),
        (world.invoices.get, str(uuid.uuid4())),
        (world.agreements.get, "garbage"),
    ):
        with pytest.raises(NotFound):
            await getter(OUTSIDER, record)
    with pytest.raises(NotFound):
        await world.dispatches.act(OUTSIDER, dispatch, j({"action": "shipped"}))
    assert (await world.partners.list(OUTSIDER, PageRequest(0, 10))).total_count == 0
    with pytest.raises(Forbidden):
        await world.dispatches.act(VIEWER, dispatch, j({"action": "shipped"}))
    with pytest.raises(Forbidden):
        await world.partner(VIEWER)
    # Another organization's records named in a body are 422 naming the field, as for any
    # other reference in a body, and nothing is written (ADR 0325).
    own = await world.partner(OUTSIDER)
    before = copy.deepcopy(db.distribution.records)
    provider = {"name": "G", "email": "mta@genebank.example", "country": "DE"}
    line = {"description": "x", "quantity": "1", "unit_price": "1"}
    named = [
        (world.approved_request, (OUTSIDER, partner, germplasm), "partner_id"),
        (
            world.invoices.create,
            (OUTSIDER, j({"partner_id": partner, "currency": "EUR", "lines": [line]})),
            "partner_id",
        ),
        (
            world.invoices.create,
            (
                OUTSIDER,
                j({"partner_id": own, "currency": "EUR", "lines": [line], "dispatch_id": dispatch}),
            ),
            "dispatch_id",
        ),
        (
            world.dispatches.create,
            (OUTSIDER, j({"request_id": request, "lines": [{"seed_lot_id": lot, "amount": "1"}]})),
            "request_id",
        ),
        (
            world.agreements.create,
            (
                OUTSIDER,
                j(
                    {
                        "type": "smta",
                        "partner_id": partner,
                        "provider": provider,
                        "material": [germplasm],
                    }
                ),
            ),
            "partner_id",
        ),
        (
            world.agreements.create,
            (
                OUTSIDER,
                j(
                    {
                        "type": "smta",
                        "partner_id": own,
                        "provider": provider,
                        "material": [germplasm],
                        "request_id": request,
                    }
                ),
            ),
            "request_id",
        ),
    ]
    for call, arguments, field in named:
        with pytest.raises(Unprocessable) as refused:
            await call(*arguments)
        assert [e.location for e in refused.value.details] == [field]
    assert db.distribution.records == before


async def test_a_dispatch_needs_an_approved_request_and_lots_of_requested_germplasm(
    world: DistributionWorld,
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, lot = await world.germplasm_lot(MANAGER, 100)
    _, other_lot = await world.germplasm_lot(MANAGER, 100, genus="Zea", crop="Maize")
    body = {
        "partner_id": partner,
        "purpose": "breeding",
        "items": [{"germplasm_id": germplasm, "quantity": "5", "units": "seeds"}],
    }
    draft = (await world.requests.create(MANAGER, j(body)))["id"]
    with pytest.raises(Conflict, match="draft seed request cannot be dispatched"):
        await world.packed_dispatch(MANAGER, draft, lot, "1")
    request = await world.approved_request(MANAGER, partner, germplasm)
    with pytest.raises(Unprocessable, match="did not ask"):
        await world.packed_dispatch(MANAGER, request, other_lot, "1")
    with pytest.raises(Unprocessable):
        await world.approved_request(MANAGER, partner, "no-such-germplasm")
    async with world.uow(TENANT) as uow:
        assert (await uow.distribution.page(Kind.DISPATCH, PageRequest(0, 10), {})).total_count == 0


async def test_smta_export_has_the_treaty_fields_one_row_per_sample(
    world: DistributionWorld,
) -> None:
    partner = await world.partner(MANAGER)
    germplasm, _ = await world.germplasm_lot(MANAGER)
    await world.active_agreement(MANAGER, partner, [germplasm])
    rows = (await world.agreements.smta_csv(MANAGER)).decode().splitlines()
    header = rows[0].split(",")
    assert {
        "smta_id",
        "smta_date",
        "provider_country",
        "recipient_country",
        "annex1",
        "crop",
    } <= set(header)
    [row] = rows[1:]
    values = dict(zip(header, row.split(","), strict=True))
    assert values["sample_id"] == germplasm
    assert values["annex1"] == "yes"
    assert values["recipient_country"] == "KE"
    assert values["smta_date"] == "2026-12-06"


async def test_every_event_that_mails_or_renders_carries_what_its_consumer_reads(
    world: DistributionWorld, db: InMemoryDatabase
) -> None:
    partner = await world.partner(MANAGER, email="kari@partner.example")
    germplasm, lot = await world.germplasm_lot(MANAGER, 100)
    request = await world.approved_request(MANAGER, partner, germplasm)
    await world.active_agreement(MANAGER, partner, [germplasm])
    dispatch = await world.packed_dispatch(MANAGER, request, lot, "3")
    await world.dispatches.act(MANAGER, dispatch, j({"action": "shipped"}))
    line = {"description": "Seeds", "quantity": "3", "unit_price": "2", "tax_rate": "0"}
    body = j({"partner_id": partner, "currency": "USD", "lines": [line]})
    invoice = await world.invoices.create(MANAGER, body)
    await world.invoices.act(MANAGER, invoice["id"], j({"action": "issued"}))
    for event in db.outbox:  # ids, never the partner's address or its contact's name
        assert "kari@partner.example" not in str(event.data)
        assert "Wanjiru" not in str(event.data)
    tenant = MANAGER.tenant_id
    mailed = {
        e.type: notification_for(
            e, await world.mail_recipient(tenant, MAILED_KIND[e.type], e.subject)
        )
        for e in db.outbox
        if e.type in COMPOSED
    }
    assert set(mailed) == set(COMPOSED)
    for email in mailed.values():
        assert email is not None
        assert email.to == "kari@partner.example"
    pages = {
        e.type: RENDERED_BY[e.type](
            with_recipient(
                e.data, await world.mail_recipient(tenant, RENDERED_FOR[e.type], e.subject)
            )
        )
        for e in db.outbox
        if e.type in RENDERED_BY
    }
    assert set(pages) == set(RENDERED_BY)
    agreement_page = pages["distribution.agreement_pending_signature"]
    assert "Standard Material Transfer Agreement" in agreement_page.title
    assert any(germplasm in p for p in agreement_page.paragraphs)
    packing = pages["distribution.dispatch_packed"]
    assert packing.table is not None
    assert packing.table.rows == ((lot, germplasm, "3", "seeds"),)
    assert pages["distribution.invoice_issued"].totals[-1] == ("Total", "6.00 USD")


async def test_concurrent_issues_go_in_batches_and_a_refused_one_takes_no_number(
    world: DistributionWorld,
) -> None:
    partner = await world.partner(MANAGER)
    line = {"description": "Seeds", "quantity": "1", "unit_price": "1"}
    body = j({"partner_id": partner, "currency": "EUR", "lines": [line]})
    drafts = [(await world.invoices.create(MANAGER, body))["id"] for _ in range(6)]
    await world.invoices.act(MANAGER, drafts[0], j({"action": "issued"}))  # number 1
    attempts = [drafts[0], *drafts[1:], drafts[1], str(uuid.uuid4())]
    outcomes = await asyncio.gather(
        *(world.invoices.act(MANAGER, i, j({"action": "issued"})) for i in attempts),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], Conflict)  # already issued
    assert isinstance(outcomes[-2], Conflict)  # the same draft twice in one batch
    assert isinstance(outcomes[-1], NotFound)
    numbers = sorted(o["number"] for o in outcomes if isinstance(o, dict))
    assert numbers == [f"2026-{n:06d}" for n in range(2, 7)]
    with pytest.raises(NotFound):
        await world.invoices.act(OUTSIDER, drafts[2], j({"action": "issued"}))


async def test_every_answer_is_the_document_the_contract_publishes(
    world: DistributionWorld,
) -> None:
    """Each collection's answers decode strictly into the structs ``/openapi.json`` publishes
    (``read_models``): a field added to a domain value but not declared there fails here."""
    partner = await world.partner(MANAGER)
    germplasm, lot = await world.germplasm_lot(MANAGER, 100)
    request = await world.approved_request(MANAGER, partner, germplasm)
    agreement = await world.active_agreement(MANAGER, partner, [germplasm])
    dispatch = await world.packed_dispatch(MANAGER, request, lot, "30")
    shipped = await world.dispatches.act(MANAGER, dispatch, j({"action": "shipped"}))
    line = {"description": "Seed", "quantity": "3", "unit_price": "1.5", "tax_rate": "0.19"}
    invoice = await world.invoices.create(
        MANAGER, j({"partner_id": partner, "currency": "EUR", "lines": [line]})
    )
    issued = await world.invoices.act(MANAGER, invoice["id"], j({"action": "issued"}))
    shown = {
        "partners": (partner, read_models.PartnerDocument, read_models.PartnerDocument),
        "seed-requests": (request, read_models.SeedRequestDocument, read_models.SeedRequestRecord),
        "agreements": (agreement["id"], read_models.AgreementDocument, read_models.AgreementRecord),
        "dispatches": (dispatch, read_models.DispatchDocument, read_models.DispatchRecord),
        "invoices": (invoice["id"], read_models.InvoiceDocument, read_models.InvoiceRecord),
    }
    for collection, (record_id, one, listed) in shown.items():
        use_cases = world.distribution.of(collection)
        answers_as(await use_cases.get(MANAGER, record_id), one)
        assert [answers_as(d, listed) for d in (await use_cases.list(MANAGER, PAGE)).items]
    answers_as(agreement, read_models.AgreementDocument)
    answers_as(shipped, read_models.DispatchDocument)
    assert answers_as(issued, read_models.InvoiceDocument).number == "2026-000001"
    credit = await world.invoices.credit(MANAGER, invoice["id"])
    assert answers_as(credit, read_models.InvoiceDocument).totals.gross < 0
    item = {"germplasm_id": germplasm, "quantity": "5", "units": "seeds"}
    body = j({"partner_id": partner, "purpose": "research", "items": [item]})
    draft = answers_as(await world.requests.create(MANAGER, body), read_models.SeedRequestRecord)
    cancelled = await world.requests.act(MANAGER, draft.id, j({"action": "cancelled"}))
    answers_as(cancelled, read_models.SeedRequestRecord)
