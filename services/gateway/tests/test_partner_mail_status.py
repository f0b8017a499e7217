"""A record whose partner mail the organization's daily cap held back says so, in the
``/api/v1`` answer and on its console page, and the writer sends it again once the day has
rolled over (ADR 0354): through the gateway, domain-api and the use cases, on fakes."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from bijmantra.adapters.grpc.distribution import DistributionWorkerClient
from bijmantra.application.distribution.mail import MailReport
from bijmantra.domain.distribution.mail import QUEUED_PATIENCE, MailFailure, MailStatus
from bijmantra.kernel import NotFound, Principal, TenantId
from bijmantra.testkit.distribution import DistributionWorld
from bijmantra.testkit.fakes import fake_unit_of_work_factory

TOKEN = "manager-token"
LINE = {"description": "Handling", "quantity": "1", "unit_price": "5", "tax_rate": "0"}


async def test_an_invoice_past_the_mail_cap_says_so_and_is_sent_again_next_day(
    gateway_on_fakes: Any,
) -> None:
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}, domain={"partner_mails_per_day": 1}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        cookies = on.signed_in(manager, TOKEN)
        partner_id = await on.partner(TOKEN)
        invoices = []
        for _ in range(2):
            body = {"partner_id": partner_id, "currency": "EUR", "lines": [LINE]}
            invoices.append((await api.post("/api/v1/invoices", json=body, headers=auth)).json())
        first, second = (i["data"]["id"] for i in invoices)
        issue = {"action": "issued"}
        mailed = await api.post(f"/api/v1/invoices/{first}/actions", json=issue, headers=auth)
        assert mailed.json()["data"]["notification"]["status"] == "queued"
        held = await api.post(f"/api/v1/invoices/{second}/actions", json=issue, headers=auth)
        assert held.status_code == 200, held.text
        assert held.json()["data"]["status"] == "issued"

        shown = (await api.get(f"/api/v1/invoices/{second}", headers=auth)).json()["data"]
        notice = shown["notification"]
        assert notice["status"] == "not_sent"
        assert notice["held_by"] == "daily_limit"
        day = datetime.fromisoformat(notice["at"]).date()
        assert notice["resend_from"] == f"{day + timedelta(days=1)}T00:00:00Z"
        page = (await api.get(f"/app/invoices/{second}", cookies=cookies)).text
        assert "<strong>Not sent</strong>" in page
        assert "daily limit of partner mail was reached" in page
        assert f"It can be sent again from {day + timedelta(days=1)} 00:00 UTC." in page
        assert f'action="/app/invoices/{second}/notification"' in page
        assert "Send the mail again" in page
        assert '<input type="hidden" name="csrf_token" value="csrf">' in page
        listed = (await api.get("/app/invoices", cookies=cookies)).text
        assert listed.count("partner mail not sent") == 1

        # The same day: refused with when to retry, as a page for the console, JSON for the API.
        form = {"csrf_token": "csrf"}
        early = await api.post(f"/app/invoices/{second}/notification", cookies=cookies, data=form)
        assert early.status_code == 429
        assert early.headers["content-type"].startswith("text/html")
        wait = int(early.headers["retry-after"])
        assert f"Please wait {wait} seconds" in early.text
        refused = await api.post(f"/api/v1/invoices/{second}/notification", headers=auth)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["retry-after"] == str(wait)

        # The next day the console's button queues it; a replay through the API sends nothing.
        on.fakes.clock.at += timedelta(seconds=wait)
        sent = await api.post(f"/app/invoices/{second}/notification", cookies=cookies, data=form)
        assert sent.status_code in (302, 303)
        assert sent.headers["location"] == f"/app/invoices/{second}"
        page = (await api.get(f"/app/invoices/{second}", cookies=cookies)).text
        assert re.search(r"Queued for the partner [0-9-]+ 00:00 UTC \(sent again\)", page)
        assert "Send the mail again" not in page
        replay = await api.post(f"/api/v1/invoices/{second}/notification", headers=auth)
        assert replay.status_code == 200
        assert replay.json()["data"]["notification"]["attempts"] == 2
        resent = [e for e in on.fakes.database.outbox if e.type.endswith("partner_mail_resent")]
        assert [(e.subject, e.data["mail_attempt"]) for e in resent] == [(second, 2)]
        assert "seeds@kari.example" not in str(resent[0].data)  # the mailer asks (ADR 0389)
        assert resent[0].data["resends"] == "distribution.invoice_issued"


async def test_a_shipment_whose_mail_was_held_back_shows_its_record_not_the_board(
    gateway_on_fakes: Any,
) -> None:
    """The board is where a dispatch is shipped from: a writer sent back there never saw that
    the partner was not told. Now such a move shows the record, and the board and the lists
    mark what was not mailed."""
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}, domain={"partner_mails_per_day": 1}) as on:
        cookies = on.signed_in(manager, TOKEN)
        # The same database domain-api reads, written through the use cases directly.
        world = DistributionWorld(
            fake_unit_of_work_factory(on.fakes.database), on.fakes.clock, mails_per_day=1
        )
        partner = await world.partner(manager)
        germplasm, lot = await world.germplasm_lot(manager, 20)
        request = await world.approved_request(manager, partner, germplasm)  # the day's mail
        agreement = await world.active_agreement(manager, partner, [germplasm])  # not mailed
        dispatch = await world.packed_dispatch(manager, request, lot, "5")

        form = {"csrf_token": "csrf", "action": "shipped", "tracking": "DHL 1"}
        shipped = await on.client.post(
            f"/app/dispatches/{dispatch}/actions", cookies=cookies, data=form
        )
        assert shipped.status_code in (302, 303)
        assert shipped.headers["location"] == f"/app/dispatches/{dispatch}"
        record = (await on.client.get(f"/app/dispatches/{dispatch}", cookies=cookies)).text
        assert "<strong>Not sent</strong>" in record
        board = (await on.client.get("/app/dispatches", cookies=cookies)).text
        assert "Partner mail not sent (daily limit)" in board
        # The agreement's "please sign" was held back too, but it is signed now: nothing to
        # send again, and the page says why rather than offering a button that would fail.
        signed = await on.client.get(f"/app/agreements/{agreement['id']}", cookies=cookies)
        assert "<strong>Not sent</strong>" in signed.text
        assert "Now that it is active, it is no longer sent." in signed.text
        assert "Send the mail again" not in signed.text
        agreements = (await on.client.get("/app/agreements", cookies=cookies)).text
        assert "partner mail not sent" not in agreements


async def test_the_mailers_reports_show_as_sent_or_failed_and_a_failed_mail_is_sent_again(
    gateway_on_fakes: Any,
) -> None:
    """ADR 0363: the worker reports over domain-api's worker service (gRPC, its own token);
    the API, the record's page and the list then say sent, or failed with what to do and a
    button; a report of the replaced attempt, or from another organization, changes nothing."""
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    worker = Principal("w", manager.tenant_id, frozenset({"analysis-worker"}))
    stranger = Principal("w2", TenantId(uuid.uuid4()), frozenset({"analysis-worker"}))
    tokens = {TOKEN: manager, "worker-token": worker, "stranger-token": stranger}
    async with gateway_on_fakes(tokens) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        cookies = on.signed_in(manager, TOKEN)
        world = DistributionWorld(fake_unit_of_work_factory(on.fakes.database), on.fakes.clock)
        partner = await world.partner(manager)
        body = {"partner_id": partner, "currency": "EUR", "lines": [LINE]}
        invoice = (await api.post("/api/v1/invoices", json=body, headers=auth)).json()["data"]
        path = f"/api/v1/invoices/{invoice['id']}"
        await api.post(f"{path}/actions", json={"action": "issued"}, headers=auth)
        channel = grpc.aio.insecure_channel(on.domain_target)
        tokens_of = {manager.tenant_id: "worker-token", stranger.tenant_id: "stranger-token"}

        async def token_for(tenant: TenantId) -> str:
            return tokens_of[tenant]

        client = DistributionWorkerClient(channel, token_for)
        try:
            at = on.fakes.clock.now()
            refused = MailFailure.ADDRESS_REFUSED
            report = MailReport("invoice", invoice["id"], 1, MailStatus.FAILED, at, refused)
            with pytest.raises(NotFound):  # another organization's worker token
                await client.report_mail(stranger.tenant_id, report)
            # Who the mail goes to, asked at send time (ADR 0389); never another's.
            found = await client.partner_mail_recipient(manager.tenant_id, "invoice", invoice["id"])
            assert found == {
                "email": "seeds@partner.example",
                "name": "Kenya Agricultural Research",
            }
            with pytest.raises(NotFound):
                await client.partner_mail_recipient(stranger.tenant_id, "invoice", invoice["id"])
            queued = (await api.get(path, headers=auth)).json()["data"]["notification"]
            assert queued["status"] == "queued"
            await client.report_mail(manager.tenant_id, report)

            failed = (await api.get(path, headers=auth)).json()["data"]["notification"]
            assert (failed["status"], failed["failure"]) == ("failed", "address_refused")
            page = (await api.get(f"/app/invoices/{invoice['id']}", cookies=cookies)).text
            assert "<strong>Failed</strong>" in page
            assert "Check the partner&#39;s email address, then send the mail again." in page
            assert "Send the mail again" in page
            listed = (await api.get("/app/invoices", cookies=cookies)).text
            assert listed.count("partner mail failed") == 1

            again = await api.post(f"{path}/notification", headers=auth)
            assert again.status_code == 200, again.text
            assert again.json()["data"]["notification"]["attempts"] == 2
            await client.report_mail(manager.tenant_id, report)  # attempt 1's, redelivered
            assert (await api.get(path, headers=auth)).json()["data"]["notification"] == (
                again.json()["data"]["notification"]
            )
            sent = MailReport("invoice", invoice["id"], 2, MailStatus.SENT, at)
            await client.report_mail(manager.tenant_id, sent)
            shown = (await api.get(path, headers=auth)).json()["data"]["notification"]
            assert (shown["status"], shown["attempts"], shown["failure"]) == ("sent", 2, None)
            page = (await api.get(f"/app/invoices/{invoice['id']}", cookies=cookies)).text
            assert "Sent to the partner" in page
            assert "Send the mail again" not in page
            listed = (await api.get("/app/invoices", cookies=cookies)).text
            assert "partner mail failed" not in listed
            reported = [e for e in on.fakes.database.outbox if e.type.endswith("mail_reported")]
            assert [(e.data["attempt"], e.data["status"]) for e in reported] == [
                (1, "failed"),
                (2, "sent"),
            ]
        finally:
            await channel.close()


async def test_a_queued_mail_without_a_report_for_an_hour_is_offered_again_on_its_page(
    gateway_on_fakes: Any,
) -> None:
    """ADR 0367: the mailer's report can be lost for good (dead-lettered while domain-api was
    away). Within the wait the page says queued and offers nothing; past it, it says no word
    came and offers the button, which sends it again as attempt 2."""
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    async with gateway_on_fakes({TOKEN: manager}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        cookies = on.signed_in(manager, TOKEN)
        world = DistributionWorld(fake_unit_of_work_factory(on.fakes.database), on.fakes.clock)
        partner = await world.partner(manager)
        body = {"partner_id": partner, "currency": "EUR", "lines": [LINE]}
        invoice = (await api.post("/api/v1/invoices", json=body, headers=auth)).json()["data"]
        await api.post(
            f"/api/v1/invoices/{invoice['id']}/actions", json={"action": "issued"}, headers=auth
        )
        page = (await api.get(f"/app/invoices/{invoice['id']}", cookies=cookies)).text
        assert "Queued for the partner" in page
        assert "Send the mail again" not in page

        on.fakes.clock.at += QUEUED_PATIENCE
        page = (await api.get(f"/app/invoices/{invoice['id']}", cookies=cookies)).text
        assert "no word from the mailer since" in page
        assert "Send the mail again" in page
        form = {"csrf_token": "csrf"}
        sent = await api.post(
            f"/app/invoices/{invoice['id']}/notification", cookies=cookies, data=form
        )
        assert sent.status_code in (302, 303)
        shown = (await api.get(f"/api/v1/invoices/{invoice['id']}", headers=auth)).json()
        assert shown["data"]["notification"]["attempts"] == 2
        page = (await api.get(f"/app/invoices/{invoice['id']}", cookies=cookies)).text
        assert "Send the mail again" not in page
