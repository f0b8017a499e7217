"""A partner mail whose server did not take a try yet says when the next try is (ADR 0381):
the worker reports the try over domain-api's worker service, and the ``/api/v1`` answer,
the record's console page and the list of seed requests say "next try at …" until the
attempt ends; an older try's late report moves nothing. Through the gateway, domain-api and
the use cases, on fakes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import msgspec
from bijmantra.adapters.grpc.distribution import DistributionWorkerClient
from bijmantra.application.distribution.mail import MailReport
from bijmantra.application.distribution.read_models import PartnerMailDocument
from bijmantra.domain.distribution.mail import MAIL_RETRY_WAITS, MailStatus
from bijmantra.kernel import Principal, TenantId

TOKEN = "manager-token"


async def _submitted_request(on: Any, auth: dict[str, str]) -> str:
    """A seed request of one germplasm, submitted: its partner mail is queued. Its id."""
    germplasm = {"germplasmName": "TDr 89/02665", "germplasmPUI": "urn:n:1"}
    made = await on.client.post(
        "/brapi/v2/germplasm", json=[{**germplasm, "commonCropName": "Yam"}], headers=auth
    )
    item = {
        "germplasm_id": made.json()["result"]["data"][0]["germplasmDbId"],
        "quantity": "5",
        "units": "tubers",
    }
    body = {"partner_id": await on.partner(TOKEN), "purpose": "research", "items": [item]}
    created = await on.client.post("/api/v1/seed-requests", json=body, headers=auth)
    request_id: str = created.json()["data"]["id"]
    submitted = await on.client.post(
        f"/api/v1/seed-requests/{request_id}/actions", json={"action": "submitted"}, headers=auth
    )
    assert submitted.json()["data"]["notification"]["status"] == "queued"
    return request_id


async def test_a_queued_mail_says_when_its_next_try_is(gateway_on_fakes: Any) -> None:
    manager = Principal("m1", TenantId(uuid.uuid4()), frozenset({"data-manager"}))
    worker = Principal("w", manager.tenant_id, frozenset({"analysis-worker"}))
    async with gateway_on_fakes({TOKEN: manager, "worker-token": worker}) as on:
        api, auth = on.client, {"Authorization": f"Bearer {TOKEN}"}
        request_id = await _submitted_request(on, auth)
        path = f"/api/v1/seed-requests/{request_id}"
        cookies = on.signed_in(manager, TOKEN)

        async def token_for(tenant: TenantId) -> str:
            return "worker-token"

        channel = grpc.aio.insecure_channel(on.domain_target)
        client = DistributionWorkerClient(channel, token_for)
        try:
            failed_at = on.fakes.clock.now()
            first, second = (failed_at + w for w in MAIL_RETRY_WAITS[:2])
            for tries, next_try in ((1, first), (2, second)):
                report = MailReport(
                    "seed_request",
                    request_id,
                    1,
                    MailStatus.QUEUED,
                    failed_at,
                    None,
                    tries,
                    next_try,
                )
                await client.report_mail(manager.tenant_id, report)
            late = MailReport(
                "seed_request", request_id, 1, MailStatus.QUEUED, failed_at, None, 1, first
            )
            await client.report_mail(manager.tenant_id, late)  # the first try's, redelivered

            answer = (await api.get(path, headers=auth)).json()["data"]["notification"]
            shown = msgspec.convert(answer, PartnerMailDocument, strict=False)
            assert (shown.status, shown.tries, shown.next_try_at) == ("queued", 2, second)
            when = f"{second:%Y-%m-%d %H:%M} UTC"
            page = (await api.get(f"/app/seed-requests/{request_id}", cookies=cookies)).text
            assert f"next try at {when} (their mail server did not take it in 2 tries)" in page
            listed = (await api.get("/app/seed-requests", cookies=cookies)).text
            assert f"partner mail queued: next try at {when}" in listed

            sent_at = second + timedelta(seconds=2)
            on.fakes.clock.at = sent_at
            sent = MailReport("seed_request", request_id, 1, MailStatus.SENT, sent_at)
            await client.report_mail(manager.tenant_id, sent)
            done = (await api.get(path, headers=auth)).json()["data"]["notification"]
            assert (done["status"], done["tries"], done["next_try_at"]) == ("sent", 2, None)
            page = (await api.get(f"/app/seed-requests/{request_id}", cookies=cookies)).text
            assert "next try at" not in page
            reported = [e for e in on.fakes.database.outbox if e.type.endswith("mail_reported")]
            assert [(e.data["status"], e.data.get("tries")) for e in reported] == [
                ("queued", 1),
                ("queued", 2),
                ("sent", None),
            ]
        finally:
            await channel.close()
