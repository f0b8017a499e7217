"""A transaction PostgreSQL gave up under concurrency (ADR 0355), from domain-api's use case
over gRPC to every client: 503 with ``Retry-After`` in the BrAPI and platform envelopes, the
console's error page saying when to try again, and a keyed write not kept, so sending the
same request again runs it."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import pytest
from bijmantra.adapters.postgres.contention import ContendedTransaction
from bijmantra.edge.envelopes import brapi_error_body, platform_error_body
from bijmantra.kernel import Principal, TenantId, Unavailable
from bijmantra.testkit.fakes import FakeUnitOfWork

TOKEN = "breeder-token"
MESSAGE = ContendedTransaction().message


@pytest.fixture
def contended(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """While ``contended["on"]``, every unit of work of domain-api's fakes loses to a
    concurrent one, as the PostgreSQL unit of work reports a deadlock."""
    state = {"on": True}
    opened = FakeUnitOfWork._open

    def losing(self: FakeUnitOfWork) -> None:
        if state["on"]:
            raise ContendedTransaction()
        opened(self)

    monkeypatch.setattr(FakeUnitOfWork, "_open", losing)
    return state


async def test_a_contended_transaction_is_a_503_to_retry_on_every_edge(
    gateway_on_fakes: Any, contended: dict[str, bool]
) -> None:
    principal = Principal("u1", TenantId(uuid.uuid4()), frozenset({"breeder"}))
    auth = {"Authorization": f"Bearer {TOKEN}", "X-Request-ID": "req-1"}
    async with gateway_on_fakes({TOKEN: principal}) as on:
        brapi = await on.client.get("/brapi/v2/germplasm", headers=auth)
        assert brapi.status_code == 503
        assert brapi.headers["retry-after"] == "1"
        assert brapi.headers["cache-control"] == "no-store"
        assert brapi.content == msgspec.json.encode(brapi_error_body(Unavailable(MESSAGE)))

        api = await on.client.get("/api/v1/seasons", headers=auth)
        assert api.status_code == 503
        assert api.headers["retry-after"] == "1"
        assert api.content == msgspec.json.encode(
            platform_error_body(Unavailable(MESSAGE), "req-1")
        )

        page = await on.client.get("/app/germplasm", cookies=on.signed_in(principal, TOKEN))
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert page.headers["retry-after"] == "1"
        assert "<h1>Unavailable for a moment</h1>" in page.text
        assert "Please wait 1 second, then" in page.text
        assert '<a href="/app/germplasm">try again</a>' in page.text

        # A keyed write that lost is not kept for its key: sent again, it runs.
        keyed = {**auth, "Idempotency-Key": "k-1"}
        body = [{"germplasmName": "G1", "germplasmPUI": "doi:10.1/G1", "commonCropName": "Maize"}]
        lost = await on.client.post("/brapi/v2/germplasm", headers=keyed, json=body)
        assert lost.status_code == 503
        assert lost.headers["retry-after"] == "1"
        contended["on"] = False
        again = await on.client.post("/brapi/v2/germplasm", headers=keyed, json=body)
        assert again.status_code == 200, again.text
        assert again.json()["result"]["data"][0]["germplasmName"] == "G1"
