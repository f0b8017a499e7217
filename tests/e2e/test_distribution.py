"""Seed distribution through the running services: gateway -> gRPC -> domain-api (the
germplasm ledger in the same transaction) -> outbox -> worker (PDFs, partner mail)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import mailbox
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pypdf
import pytest
from bijmantra.devstack.stack import DevStack, running_stack

pytestmark = [pytest.mark.e2e]
PARTNER_EMAIL = "seeds@kari.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("distribution-stack")) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    token = stack.login()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as c:
        yield c


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()["data"]


async def brapi(client: httpx.AsyncClient, path: str, body: list[dict[str, Any]]) -> dict[str, Any]:
    response = await client.post(f"/brapi/v2/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]["data"][0]


async def act(client: httpx.AsyncClient, path: str, action: str, **extra: str) -> dict[str, Any]:
    return await ok(await client.post(f"{path}/actions", json={"action": action, **extra}))


async def eventually(probe: Any) -> Any:
    """``probe()`` until it answers something true, for up to 30 s (what the worker needs)."""
    deadline = time.monotonic() + 30.0
    while True:
        result = await probe()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


async def lot_state(client: httpx.AsyncClient, lot_id: str) -> tuple[Any, list[Any]]:
    lot = (await client.get(f"/brapi/v2/seedlots/{lot_id}")).json()["result"]
    transactions = (await client.get(f"/brapi/v2/seedlots/{lot_id}/transactions")).json()
    return lot["amount"], transactions["result"]["data"]


async def test_request_agreement_dispatch_and_invoice_through_the_gateway(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    germplasm = await brapi(
        client,
        "germplasm",
        [
            {
                "germplasmName": "IR64",
                "germplasmPUI": f"urn:e2e:{uuid.uuid4()}",
                "commonCropName": "Rice",
                "genus": "Oryza",
            }
        ],
    )
    g = germplasm["germplasmDbId"]
    lot = (
        await brapi(
            client,
            "seedlots",
            [
                {
                    "seedLotName": "IR64-2026",
                    "amount": 40,
                    "units": "seeds",
                    "contentMixture": [{"germplasmDbId": g}],
                }
            ],
        )
    )["seedLotDbId"]
    partner = await ok(
        await client.post(
            "/api/v1/partners",
            json={
                "name": "Kenya Agricultural Research",
                "country": "KE",
                "type": "research_institute",
                "contacts": [{"name": "W", "email": PARTNER_EMAIL}],
            },
        ),
        201,
    )
    request = await ok(
        await client.post(
            "/api/v1/seed-requests",
            json={
                "partner_id": partner["id"],
                "purpose": "breeding",
                "items": [{"germplasm_id": g, "quantity": "30", "units": "seeds"}],
            },
        ),
        201,
    )
    for action in ("submitted", "approved"):
        await act(client, f"/api/v1/seed-requests/{request['id']}", action)
    assert (await ok(await client.get(f"/api/v1/seed-requests/{request['id']}")))["requires_smta"]

    async def packed(amount: str) -> str:
        body = {"request_id": request["id"], "lines": [{"seed_lot_id": lot, "amount": amount}]}
        dispatch = await ok(await client.post("/api/v1/dispatches", json=body), 201)
        for action in ("approved", "picking", "packed"):
            await act(client, f"/api/v1/dispatches/{dispatch['id']}", action)
        return str(dispatch["id"])

    uncovered = await packed("30")
    before = await lot_state(client, lot)
    refused = await client.post(
        f"/api/v1/dispatches/{uncovered}/actions", json={"action": "shipped"}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "conflict"
    assert "agreement" in refused.json()["error"]["message"]
    assert await lot_state(client, lot) == before

    agreement = await ok(
        await client.post(
            "/api/v1/agreements",
            json={
                "type": "smta",
                "partner_id": partner["id"],
                "material": [g],
                "provider": {
                    "name": "Our Genebank",
                    "email": "mta@genebank.example",
                    "country": "DE",
                },
            },
        ),
        201,
    )
    path = f"/api/v1/agreements/{agreement['id']}"
    sent = await act(client, path, "sent for signature")
    for role in ("provider", "recipient"):
        signed = await ok(
            await client.post(
                f"{path}/signatures",
                json={"party_role": role, "document_sha256": sent["document_sha256"]},
            )
        )
    assert signed["status"] == "active"

    too_much = await packed("41")
    refused = await client.post(
        f"/api/v1/dispatches/{too_much}/actions", json={"action": "shipped"}
    )
    assert refused.status_code == 409, refused.text
    assert await lot_state(client, lot) == before
    assert (await ok(await client.get(f"/api/v1/dispatches/{too_much}")))["status"] == "packed"

    shipped = await act(client, f"/api/v1/dispatches/{uncovered}", "shipped", tracking="DHL 42")
    amount, transactions = await lot_state(client, lot)
    assert amount == 10
    [transaction] = transactions
    assert transaction["transactionDbId"] == shipped["transaction_ids"][0]
    assert (transaction["amount"], transaction["fromSeedLotDbId"]) == (30, lot)

    line = {
        "description": "Seed handling IR64",
        "quantity": "30",
        "unit_price": "0.35",
        "tax_rate": "0.16",
    }
    invoice = await ok(
        await client.post(
            "/api/v1/invoices",
            json={
                "partner_id": partner["id"],
                "currency": "KES",
                "lines": [line],
                "dispatch_id": uncovered,
            },
        ),
        201,
    )
    issued = await act(client, f"/api/v1/invoices/{invoice['id']}", "issued")
    assert issued["number"] == f"{datetime.now(UTC).year}-000001"
    assert issued["totals"] == {"net": "10.50", "tax": "1.68", "gross": "12.18"}
    edit = await client.put(f"/api/v1/invoices/{invoice['id']}/lines", json={"lines": [line]})
    assert edit.status_code == 409
    credits = await asyncio.gather(  # one request sent four times: the invoice reversed once
        *(client.post(f"/api/v1/invoices/{invoice['id']}/credit-notes") for _ in range(4))
    )
    assert sorted(c.status_code for c in credits) == [201, 409, 409, 409], credits

    async def pdf() -> httpx.Response | None:
        response = await client.get(f"/api/v1/invoices/{invoice['id']}/pdf")
        return response if response.status_code == 200 else None

    rendered = await eventually(pdf)
    assert rendered is not None, "the worker rendered the invoice"
    assert rendered.headers["content-type"] == "application/pdf"
    sha256 = hashlib.sha256(rendered.content).hexdigest()
    assert rendered.headers["x-content-sha256"] == sha256
    text = " ".join(
        " ".join(p.extract_text().split())
        for p in pypdf.PdfReader(io.BytesIO(rendered.content)).pages
    )
    for expected in (
        issued["number"],
        "Kenya Agricultural Research",
        "Seed handling IR64",
        "Total: 12.18 KES",
    ):
        assert expected in text

    async def audited() -> bool:
        entries = (await client.get("/api/v1/audit", params={"page_size": 500})).json()["data"]
        return any(
            e.get("event_type") == "distribution.document_rendered" and sha256 in str(e)
            for e in entries
        )

    assert await eventually(audited), "the PDF's SHA-256 is in the audit trail"

    assert stack.maildir is not None
    subjects = {
        "Seed request received",
        "Material transfer agreement to sign (SMTA)",
        "Your seed has shipped",
        f"Invoice {issued['number']}",
    }

    async def all_mail() -> list[str] | None:
        found = [
            str(m["Subject"])
            for m in mailbox.Maildir(stack.maildir)
            if PARTNER_EMAIL in str(m["To"])
        ]
        return found if set(found) >= subjects else None

    received = await eventually(all_mail)
    found = [
        str(m["Subject"]) for m in mailbox.Maildir(stack.maildir) if PARTNER_EMAIL in str(m["To"])
    ]
    assert received is not None, (found, stack.log_tails(3000))
    await asyncio.sleep(1.0)
    found = [
        str(m["Subject"]) for m in mailbox.Maildir(stack.maildir) if PARTNER_EMAIL in str(m["To"])
    ]
    assert sorted(found) == sorted(subjects), "each notification exactly once"

    async def told() -> dict[str, str] | None:
        """The worker reported each mail back: the records say sent (ADR 0363)."""
        paths = {
            "request": f"/api/v1/seed-requests/{request['id']}",
            "invoice": f"/api/v1/invoices/{invoice['id']}",
        }
        mails = {k: (await ok(await client.get(p)))["notification"] for k, p in paths.items()}
        statuses = {k: m["status"] for k, m in mails.items()}
        return statuses if set(statuses.values()) == {"sent"} else None

    assert await eventually(told), stack.log_tails(3000)

    report = await client.get("/api/v1/agreements/smta-report")
    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/csv")
    assert g in report.text
    assert agreement["id"] in report.text


async def test_another_organization_sees_404_and_bad_input_changes_nothing(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    partner = await ok(
        await client.post(
            "/api/v1/partners",
            json={
                "name": "CIMMYT",
                "country": "MX",
                "type": "research_institute",
                "contacts": [{"name": "M", "email": "m@cimmyt.example"}],
            },
        ),
        201,
    )
    invoice = await ok(
        await client.post(
            "/api/v1/invoices",
            json={
                "partner_id": partner["id"],
                "currency": "MXN",
                "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}],
            },
        ),
        201,
    )
    # register_member runs its own event loop: off this one, in a thread.
    organization = await asyncio.to_thread(
        stack.register_member, "other@org.example", "other-secret-2026", ["admin"]
    )
    other = await asyncio.to_thread(
        stack.login, "other@org.example", "other-secret-2026", str(organization)
    )
    headers = {"Authorization": f"Bearer {other}"}
    for path in (
        f"/api/v1/partners/{partner['id']}",
        f"/api/v1/invoices/{invoice['id']}",
        f"/api/v1/invoices/{invoice['id']}/pdf",
    ):
        response = await client.get(path, headers=headers)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    issue = await client.post(
        f"/api/v1/invoices/{invoice['id']}/actions", json={"action": "issued"}, headers=headers
    )
    assert issue.status_code == 404
    # Named in a body, another organization's partner is unprocessable input (ADR 0325).
    named = await client.post(
        "/api/v1/invoices",
        json={
            "partner_id": partner["id"],
            "currency": "MXN",
            "lines": [{"description": "x", "quantity": "1", "unit_price": "1"}],
        },
        headers=headers,
    )
    assert named.status_code == 422, named.text
    assert named.json()["error"]["code"] == "unprocessable"
    assert named.json()["error"]["details"] == [
        {"location": "partner_id", "message": repr(partner["id"])}
    ]
    assert (await client.get("/api/v1/partners", headers=headers)).json()["meta"][
        "total_count"
    ] == 0
    assert (await ok(await client.get(f"/api/v1/invoices/{invoice['id']}")))["status"] == "draft"

    before = (await client.get("/api/v1/invoices")).json()["meta"]["total_count"]
    line = {"description": "x", "quantity": 0.1, "unit_price": "1"}
    malformed = await client.post(
        "/api/v1/invoices", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400, malformed.text
    assert malformed.json()["error"]["code"] == "malformed"
    nul = {"name": "a\u0000b", "country": "KE", "type": "research_institute", "contacts": []}
    refused = await client.post("/api/v1/partners", json=nul)  # PostgreSQL text refuses NUL
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["details"] == [{"location": "body.name", "message": "holds NUL"}]
    for body in (
        json.dumps({"partner_id": partner["id"], "currency": "MXN", "lines": [line]}).encode(),
        json.dumps({"partner_id": partner["id"], "currency": "MXN", "lines": []}).encode(),
    ):
        response = await client.post(
            "/api/v1/invoices", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation"

    async def over_a_mebibyte() -> AsyncIterator[bytes]:  # streamed: no Content-Length
        for _ in range(17):
            yield b" " * (64 * 1024)

    huge = await client.post("/api/v1/invoices", content=over_a_mebibyte())
    assert huge.status_code == 413
    assert (await client.get("/api/v1/invoices")).json()["meta"]["total_count"] == before
