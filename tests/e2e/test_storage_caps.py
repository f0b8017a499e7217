"""Standing storage caps per organization (ADR 0343) through the whole topology: an upload or
an import past what the organization may keep is refused with a 409 ``storage_full`` in each
API's envelope (resource, used, cap) and stores nothing; deleting an image frees its bytes
for the next upload; an analysis whose results would pass the cap fails, once, keeping
nothing; an organization at its cap of results cannot queue another analysis; another
organization writes on."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.testkit.partial_requests import partly_sent as send_part
from bijmantra.testkit.vcf import diploid_gt_vcf

pytestmark = [pytest.mark.e2e]
PASSWORD = "pw-storage-manager-1"
UPLOAD_CAP = 100_000
CALLS_CAP = 2_000  # one import of 20 samples x 60 variants (1,200) fits, a second does not
RESULTS_CAP = 2_000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(60_000)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    env = {
        "STORAGE_CAP_UPLOAD_BYTES": str(UPLOAD_CAP),
        "STORAGE_CAP_GENOTYPE_CALLS": str(CALLS_CAP),
        "STORAGE_CAP_ANALYSIS_RESULT_BYTES": str(RESULTS_CAP),
    }
    with running_stack(tmp_path_factory.mktemp("storage"), env=env) as stack:
        yield stack


def member(stack: DevStack) -> tuple[uuid.UUID, httpx.Client]:
    """A data manager of a new organization: its id and a client."""
    email = f"manager-{uuid.uuid4().hex[:8]}@storage.example.org"
    organization = stack.register_member(email, PASSWORD, ["data-manager"])
    headers = {"Authorization": f"Bearer {stack.login(email, PASSWORD)}"}
    client = httpx.Client(base_url=stack.gateway_url, headers=headers, timeout=60)
    return organization, client


def owner(stack: DevStack, query: str, *args: object) -> Any:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        row = conn.execute(query, args).fetchone()
    return None if row is None else row[0]


def assert_storage_full(details: list[dict[str, str]], resource: str, cap: int) -> int:
    found = {d["location"]: d["message"] for d in details}
    assert (found["resource"], found["cap"]) == (resource, str(cap)), found
    return int(found["used"])


def partly_sent(
    stack: DevStack, client: httpx.Client, method: str, path: str, kind: str, first: bytes
) -> tuple[int, bytes]:
    """A request that declares 512 MiB of body (an image: its own length) and sends ``first``
    only, then waits for the answer. A timeout: the server waited for the rest."""
    declared = len(PNG) if kind == "image/png" else 512 << 20
    authorization = str(client.headers["Authorization"])
    status, _, body = send_part(
        stack.gateway_url, authorization, method, path, kind, declared, first
    )
    return status, body


def upload(client: httpx.Client) -> tuple[str, httpx.Response]:
    created = client.post("/brapi/v2/images", json=[{"imageName": "leaf"}])
    assert created.status_code == 200, created.text
    db_id = created.json()["result"]["data"][0]["imageDbId"]
    answer = client.put(
        f"/brapi/v2/images/{db_id}/imagecontent",
        content=PNG,
        headers={"Content-Type": "image/png"},
    )
    return db_id, answer


def test_an_upload_past_the_cap_is_refused_until_an_image_is_deleted(stack: DevStack) -> None:
    (_, client), (_, other) = member(stack), member(stack)
    with client, other:
        first, answer = upload(client)
        assert answer.status_code == 200, answer.text
        refused_id, refused = upload(client)  # 120 kB of the 100 kB it may keep
        assert refused.status_code == 409, refused.text
        assert "Retry-After" not in refused.headers  # it does not pass with time
        status, *details = refused.json()["metadata"]["status"]
        assert status["messageType"] == "ERROR"
        assert "stored bytes of uploaded files" in status["message"]
        said = [d["message"] for d in details]
        assert said == [
            "resource: stored_upload_bytes",
            f"used: {len(PNG)}",  # asked with its declared length, before its body was read
            f"cap: {UPLOAD_CAP}",
        ]
        image = client.get(f"/brapi/v2/images/{refused_id}").json()["result"]
        assert image.get("imageFileSize") in (None, 0)  # nothing of it was kept
        assert upload(other)[1].status_code == 200  # another organization's cap is its own
        # Its declared length has no room: refused before the body is read.
        created = client.post("/brapi/v2/images", json=[{"imageName": "leaf"}])
        path = f"/brapi/v2/images/{created.json()['result']['data'][0]['imageDbId']}/imagecontent"
        status, body = partly_sent(stack, client, "PUT", path, "image/png", PNG[:1000])
        assert status == 409, body
        assert b"stored_upload_bytes" in body
        metrics = httpx.get(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics").text
        assert 'storage_refusals_total{resource="stored_upload_bytes"} 2.0' in metrics

        deleted = client.post("/brapi/v2/delete/images", json={"imageDbIds": [first]})
        assert deleted.status_code == 200, deleted.text
        _, again = upload(client)  # the deleted image's bytes are room again
        assert again.status_code == 200, again.text


def imported_set(client: httpx.Client, samples: int, variants: int) -> httpx.Response:
    return client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"cap-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        content=diploid_gt_vcf(samples, variants),
    )


def test_an_import_past_the_cap_is_refused_in_the_platform_envelope(stack: DevStack) -> None:
    (organization, client), (_, other) = member(stack), member(stack)
    with client, other:
        assert imported_set(client, 20, 60).status_code == 201
        refused = imported_set(client, 20, 60)  # 2,400 calls of the 2,000 it may keep
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_full"
        used = assert_storage_full(error["details"], "stored_genotype_calls", CALLS_CAP)
        assert used == 2_400  # counted with the refused import's own calls, then rolled back
        sets = "SELECT count(*) FROM domain.variant_sets WHERE tenant_id = %s"
        assert owner(stack, sets, organization) == 1
        assert imported_set(other, 20, 60).status_code == 201

        # An extract knows its calls first: all 1,200 have no room, 4 x 20 have.
        [source] = [s for s in sets_of(client) if s["callSetCount"] == 20]
        whole = client.post(
            "/brapi/v2/variantsets/extract", json={"variantSetDbIds": [source["variantSetDbId"]]}
        )
        assert whole.status_code == 409, whole.text
        assert "resource: stored_genotype_calls" in whole.text
        rows = [f"{source['variantSetDbId']}:{i}" for i in range(4)]
        part = client.post("/brapi/v2/variantsets/extract", json={"variantDbIds": rows})
        assert part.status_code == 200, part.text

        # At its own cap (an operator's): refused before the file is read, raw or multipart.
        owner(
            stack,
            "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
            "VALUES (%s, 'stored_genotype_calls', 1280) RETURNING 1",
            organization,
        )
        path = f"/api/v1/genotypes/imports?name=early-{uuid.uuid4().hex[:6]}&commonCropName=C"
        head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS0\n"
        status, body = partly_sent(stack, client, "POST", path, "text/plain", head.encode())
        assert status == 409, body
        assert b"storage_full" in body
        boundary = "cap-boundary"
        part_head = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="bed"; filename="a.bed"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + b"\x6c\x1b\x01"
            + bytes(256 << 10)
        )
        form = f"multipart/form-data; boundary={boundary}"
        status, body = partly_sent(stack, client, "POST", path, form, part_head)
        assert status == 409, body
        assert owner(stack, sets, organization) == 2  # the first import and the small extract

        # A keyed import refused for the cap is not kept for its key: once there is room
        # (here its operator's larger cap), the very same request runs, once.
        keyed = {"Idempotency-Key": uuid.uuid4().hex}
        vcf = vcf_text(20, 10)
        params = {"name": "keyed", "commonCropName": "Cassava"}

        def send() -> httpx.Response:
            return client.post(
                "/api/v1/genotypes/imports", params=params, content=vcf, headers=keyed
            )

        assert send().status_code == 409
        owner(
            stack,
            "UPDATE domain.organization_quotas SET daily_limit = 100000 WHERE tenant_id = %s "
            "AND resource = 'stored_genotype_calls' RETURNING 1",
            organization,
        )
        applied = send()
        assert applied.status_code == 201, applied.text
        again = send()
        assert again.json()["data"] == applied.json()["data"]  # the kept answer, not a 2nd run
        assert owner(stack, sets, organization) == 3


def vcf_text(samples: int, variants: int) -> str:
    names = "\t".join(f"S{i}" for i in range(samples))
    head = f"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{names}\n"
    row = "\t".join(["0/1"] * samples)
    return head + "".join(
        f"chr1\t{100 + i}\tm{i}\tA\tG\t50\tPASS\t.\tGT\t{row}\n" for i in range(variants)
    )


def sets_of(client: httpx.Client) -> list[dict[str, Any]]:
    listed = client.get("/brapi/v2/variantsets")
    assert listed.status_code == 200, listed.text
    return list(listed.json()["result"]["data"])


def finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline, document = time.monotonic() + 90, {}
    while time.monotonic() < deadline:
        document = client.get(f"/api/v1/analyses/{job_id}").json()["data"]
        if document["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.2)
    return document


def test_results_past_the_cap_fail_the_job_and_a_full_organization_queues_none(
    stack: DevStack,
) -> None:
    organization, client = member(stack)
    with client:
        created = imported_set(client, 20, 60)
        assert created.status_code == 201, created.text
        set_id = created.json()["data"]["variantSetDbId"]
        request = {"type": "qc", "variantSetDbId": set_id}
        answer = client.post("/api/v1/analyses", json=request)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["data"]["analysisDbId"]
        document = finished(client, job_id)
        assert document["status"] == "failed", document
        assert "stored bytes of analysis results" in document["error"], document
        assert document["attempt"] == 1  # final: not redelivered for the same refusal
        results = "SELECT count(*) FROM domain.analysis_results WHERE tenant_id = %s"
        assert owner(stack, results, organization) == 0

        assert stack.database is not None
        with psycopg.connect(stack.database.owner_url) as conn:
            conn.execute(
                "INSERT INTO domain.organization_quotas (tenant_id, resource, daily_limit) "
                "VALUES (%s, 'stored_analysis_result_bytes', 1000000000)",
                (organization,),
            )
        again = client.post("/api/v1/analyses", json=request)
        assert again.status_code == 202, again.text
        done = finished(client, again.json()["data"]["analysisDbId"])
        assert done["status"] == "completed", done
        kept = owner(
            stack,
            "SELECT sum(octet_length(data)) FROM domain.analysis_results WHERE tenant_id = %s",
            organization,
        )
        with psycopg.connect(stack.database.owner_url) as conn:
            conn.execute(  # its operator's cap: exactly what it keeps now
                "UPDATE domain.organization_quotas SET daily_limit = %s "
                "WHERE tenant_id = %s AND resource = 'stored_analysis_result_bytes'",
                (kept, organization),
            )
        jobs = "SELECT count(*) FROM domain.analysis_jobs WHERE tenant_id = %s"
        before = owner(stack, jobs, organization)
        refused = client.post("/api/v1/analyses", json=request)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["code"] == "storage_full"
        used = assert_storage_full(error["details"], "stored_analysis_result_bytes", int(kept))
        assert used == kept
        assert owner(stack, jobs, organization) == before  # refused before it was queued
