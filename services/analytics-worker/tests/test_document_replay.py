"""Replaying a dead letter to the document renderer does only what is left (ADR 0372).

Real PostgreSQL: the distribution use cases, their outbox, and the renderer storing through
the use case domain-api's worker service calls. A replay of an event that never rendered
stores its PDF once; a replay after the PDF was stored (the worker killed before its ack)
changes nothing, even when the release that replays renders other bytes than the one that
stored it: the partner's PDF stays the one the audit trail names."""

from __future__ import annotations

import hashlib
import uuid

import msgspec
import psycopg
import pytest
from bijmantra.analytics_worker.documents import RenderDocuments, render_pdf
from bijmantra.application.distribution.rendering import RENDERED_BY
from bijmantra.application.events import EventEnvelope
from bijmantra.application.events.envelope import decode_envelope
from bijmantra.kernel import Principal, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.provision import ProvisionedDatabase

from .conftest import NOW, WORKER, issued_invoice, member

pytestmark = pytest.mark.integration


def renderer(world: DistributionWorld) -> RenderDocuments:
    """The consumer, storing as domain-api's DistributionWorkerService does."""

    async def store(tenant: TenantId, kind: str, owner: str, content: bytes, source: str) -> str:
        sha256: str = await world.documents.store(
            Principal("worker", tenant, WORKER), kind, owner, content, source
        )
        return sha256

    return RenderDocuments(store, world.mail_recipient)


async def outbox(database: ProvisionedDatabase, tenant: TenantId, kind: str) -> list[EventEnvelope]:
    """The organization's events of type ``kind`` its writes put in the outbox, in order."""
    query = "SELECT envelope FROM domain.outbox WHERE tenant_id = %s AND type = %s ORDER BY seq"
    async with await psycopg.AsyncConnection.connect(database.owner_url) as conn:
        rows = await (await conn.execute(query, (tenant, kind))).fetchall()
    return [decode_envelope(bytes(envelope)) for (envelope,) in rows]


async def issued(
    world: DistributionWorld, database: ProvisionedDatabase
) -> tuple[Principal, str, EventEnvelope]:
    who = member()
    invoice = await issued_invoice(world, who, f"{uuid.uuid4().hex[:8]}@partner.example")
    [event] = await outbox(database, who.tenant_id, "distribution.invoice_issued")
    return who, invoice, event


async def test_a_replayed_invoice_event_renders_its_pdf_once(
    world: DistributionWorld, database: ProvisionedDatabase
) -> None:
    who, invoice, event = await issued(world, database)
    consumer = renderer(world)
    await consumer(event)  # the replay of a letter that never rendered
    first = await world.documents.pdf(who, invoice, "invoice")
    await consumer(event)  # replayed again: it was stored, then the worker died before its ack
    again = await world.documents.pdf(who, invoice, "invoice")
    assert again.content == first.content
    assert first.content.startswith(b"%PDF-")
    assert len(await outbox(database, who.tenant_id, "distribution.document_rendered")) == 1


async def test_a_replay_rendered_by_another_release_keeps_the_pdf_already_stored(
    world: DistributionWorld, database: ProvisionedDatabase
) -> None:
    """Before: the kept PDF was swapped for the new bytes, a second ``document_rendered``."""
    who, invoice, event = await issued(world, database)
    page = RENDERED_BY[event.type](event.data)
    source = hashlib.sha256(msgspec.json.encode(event.data)).hexdigest()
    # What the release before this one stored (its renderer drew other bytes: here its
    # document date differs), before it was killed ahead of its ack.
    earlier = render_pdf(page, NOW.replace(year=NOW.year - 1))
    kept = await world.documents.store(
        Principal("worker", who.tenant_id, WORKER), "invoice", invoice, earlier, source
    )
    await renderer(world)(event)  # the replay, rendered by this release
    stored = await world.documents.pdf(who, invoice, "invoice")
    assert stored.content == earlier
    assert stored.sha256 == kept
    rendered = await outbox(database, who.tenant_id, "distribution.document_rendered")
    assert [e.data["sha256"] for e in rendered] == [kept]
