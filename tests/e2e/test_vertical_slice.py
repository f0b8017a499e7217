"""The four services as processes, driven over HTTP: token -> gateway -> gRPC -> domain-api ->
PostgreSQL (RLS) -> outbox -> JetStream -> analytics-worker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DEMO_ORGANIZATION_ID, DevStack, running_stack
from prometheus_client.parser import text_string_to_metric_families

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("stack"), testdata=True) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_germplasm(name: str) -> list[dict[str, object]]:
    return [{"germplasmName": name, "germplasmPUI": f"doi:e2e/{name}", "commonCropName": "Cassava"}]


async def test_without_a_token_the_answer_is_401_in_the_brapi_envelope(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/brapi/v2/germplasm", f"/brapi/v2/germplasm/{uuid.uuid4()}"):
        response = await client.get(path)
        assert response.status_code == 401
        body = response.json()
        assert body["result"] is None
        assert body["metadata"]["status"][0]["messageType"] == "ERROR"
    forged = await client.get("/brapi/v2/germplasm", headers=auth("not.a.jwt"))
    assert forged.status_code == 401


async def test_created_germplasm_round_trips_and_its_event_reaches_the_worker(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    token = stack.login()
    created = await client.post(
        "/brapi/v2/germplasm", json=new_germplasm("E2E-1"), headers=auth(token)
    )
    assert created.status_code == 200, created.text
    [document] = created.json()["result"]["data"]
    db_id = document["germplasmDbId"]
    fetched = await client.get(f"/brapi/v2/germplasm/{db_id}", headers=auth(token))
    assert fetched.status_code == 200
    assert fetched.json()["result"] == document
    assert fetched.headers["x-request-id"]

    assert stack.database is not None
    deadline = time.monotonic() + 20
    seen = None
    while time.monotonic() < deadline and seen is None:
        with psycopg.connect(stack.database.owner_url) as conn:
            seen = conn.execute(
                "SELECT event_type, tenant_id::text FROM analytics.processed_events "
                "WHERE consumer = 'analytics-germplasm' AND subject = %s",
                (db_id,),
            ).fetchone()
        await asyncio.sleep(0.2)
    assert seen == ("germplasm.created", DEMO_ORGANIZATION_ID)


async def test_paging_reports_correct_totals_over_the_imported_test_data(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    token = stack.login()
    first = (
        await client.get("/brapi/v2/germplasm", params={"pageSize": 50}, headers=auth(token))
    ).json()
    total = first["metadata"]["pagination"]["totalCount"]
    assert total >= 276, "the BrAPI Test Server's germplasm were imported"
    assert first["metadata"]["pagination"]["totalPages"] == -(-total // 50)
    last_page = first["metadata"]["pagination"]["totalPages"] - 1
    last = (
        await client.get(
            "/brapi/v2/germplasm", params={"pageSize": 50, "page": last_page}, headers=auth(token)
        )
    ).json()
    assert len(last["result"]["data"]) == total - 50 * last_page
    by_ref = (
        await client.get(
            "/brapi/v2/germplasm", params={"externalReferenceId": "germplasm1"}, headers=auth(token)
        )
    ).json()
    [imported] = by_ref["result"]["data"]
    assert imported["germplasmName"] == "Tomatillo Fantastico"
    assert imported["commonCropName"] == "Tomatillo"


async def test_bad_input_is_a_clear_400_and_stores_nothing(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    token = stack.login()
    before = (
        await client.get("/brapi/v2/germplasm", params={"pageSize": 1}, headers=auth(token))
    ).json()
    bad = [
        new_germplasm("ok")[0],
        {"germplasmName": 7, "germplasmPUI": "x", "commonCropName": "Maize"},
    ]
    response = await client.post("/brapi/v2/germplasm", json=bad, headers=auth(token))
    assert response.status_code == 400
    messages = [s["message"] for s in response.json()["metadata"]["status"]]
    assert any(m.startswith("[1]") for m in messages), messages
    for query in ({"pageSize": "lots"}, {"page": "-1"}, {"pageSize": "0"}):
        assert (
            await client.get("/brapi/v2/germplasm", params=query, headers=auth(token))
        ).status_code == 400
    malformed = await client.post(
        "/brapi/v2/germplasm",
        content=b"{not json",
        headers={**auth(token), "content-type": "application/json"},
    )
    assert malformed.status_code == 400
    after = (
        await client.get("/brapi/v2/germplasm", params={"pageSize": 1}, headers=auth(token))
    ).json()
    assert (
        after["metadata"]["pagination"]["totalCount"]
        == before["metadata"]["pagination"]["totalCount"]
    )
    missing = await client.get(f"/brapi/v2/germplasm/{uuid.uuid4()}", headers=auth(token))
    assert missing.status_code == 404
    assert missing.json()["result"] is None


async def page_cache_hits(client: httpx.AsyncClient, stack: DevStack) -> float:
    """From the gateway's metrics listener (not its public port)."""
    metrics = (await client.get(f"http://127.0.0.1:{stack.ports.gateway_metrics}/metrics")).text
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if (
                sample.name == "gateway_page_cache_requests_total"
                and sample.labels["result"] == "hit"
            ):
                return sample.value
    return 0.0


async def test_a_kept_page_shows_every_committed_write_at_once(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    token = stack.login()
    params = {"pageSize": 1000, "commonCropName": "Cassava"}

    async def listing() -> tuple[list[str], int]:
        body = (await client.get("/brapi/v2/germplasm", params=params, headers=auth(token))).json()
        names = sorted(d["germplasmName"] for d in body["result"]["data"])
        return names, body["metadata"]["pagination"]["totalCount"]

    before, total = await listing()
    hits = await page_cache_hits(client, stack)
    assert await listing() == (before, total)
    assert await page_cache_hits(client, stack) == hits + 1  # the gateway answered its kept page
    created = await client.post(
        "/brapi/v2/germplasm", json=new_germplasm("E2E-kept"), headers=auth(token)
    )
    [document] = created.json()["result"]["data"]
    assert await listing() == (sorted([*before, "E2E-kept"]), total + 1)
    renamed = await client.put(
        f"/brapi/v2/germplasm/{document['germplasmDbId']}",
        json=new_germplasm("E2E-renamed")[0],
        headers=auth(token),
    )
    assert renamed.status_code == 200, renamed.text
    assert await listing() == (sorted([*before, "E2E-renamed"]), total + 1)


async def test_another_organization_sees_nothing_and_a_viewer_cannot_write(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["viewer"])
    demo_token = stack.login()
    [mine] = (
        await client.post(
            "/brapi/v2/germplasm", json=new_germplasm("E2E-private"), headers=auth(demo_token)
        )
    ).json()["result"]["data"]
    mine_listed = (
        await client.get("/brapi/v2/germplasm", headers=auth(demo_token))
    ).json()  # now kept by the gateway
    assert mine_listed["metadata"]["pagination"]["totalCount"] > 0
    other_token = stack.login(email, "pw-123456")
    assert (
        await client.get(f"/brapi/v2/germplasm/{mine['germplasmDbId']}", headers=auth(other_token))
    ).status_code == 404
    listing = (await client.get("/brapi/v2/germplasm", headers=auth(other_token))).json()
    assert listing["result"]["data"] == []
    assert listing["metadata"]["pagination"]["totalCount"] == 0
    denied = await client.post(
        "/brapi/v2/germplasm", json=new_germplasm("nope"), headers=auth(other_token)
    )
    assert denied.status_code == 403


def matrix_rows() -> list[str]:
    matrix = (
        Path(__file__).resolve().parents[2] / "api-contracts" / "brapi" / "calls-matrix-v2.1.tsv"
    )
    return matrix.read_text().splitlines()[1:]


async def test_serverinfo_lists_every_operation_of_the_served_modules(
    client: httpx.AsyncClient,
) -> None:
    calls = (await client.get("/brapi/v2/serverinfo")).json()["result"]["calls"]
    served = {(method, "/" + c["service"]) for c in calls for method in c["methods"]}
    rows = matrix_rows()
    expected = {
        (method, path)
        for module, method, path, *_ in (line.split("\t") for line in rows)
        if module in {"BrAPI-Core", "BrAPI-Germplasm", "BrAPI-Phenotyping"}
    }
    assert len(expected) == 91 + 49
    genotyping = {
        (method, path)
        for module, method, path, *_ in (line.split("\t") for line in rows)
        if module == "BrAPI-Genotyping"
    }
    # Genotyping: all 61 operations — the views over the genotype store (ADR 0191), the
    # documents: samples, plates, maps, marker positions and the vendor surface (ADR 0192),
    # references (ADR 0196), PUT /calls (0197) and /variantsets/extract (0198).
    served_genotyping = genotyping
    assert len(served_genotyping) == 61
    # Extensions: reading back an image file (the spec only defines its upload), and the
    # lab moving a vendor order's status (the spec only reads it).
    image = ("GET", "/images/{imageDbId}/imagecontent")
    order_status = ("POST", "/vendor/orders/{orderId}/status")
    assert served == expected | served_genotyping | {image, order_status}
    # The table endpoints also answer CSV and TSV (``Accept``); everything else JSON only.
    tables = {"observationunits/table", "observations/table"}
    data_types = {c["service"]: c["dataTypes"] for c in calls}
    assert {s for s, types in data_types.items() if types != ["application/json"]} == tables
    assert all(data_types[s] == ["application/json", "text/csv", "text/tsv"] for s in tables)


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).status_code == 200
    assert (await client.get("/health/startup")).status_code == 200
    ready = (await client.get("/health/ready")).json()
    assert ready["checks"] == {"domain-api": "SERVING", "identity": "SERVING"}
