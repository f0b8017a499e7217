"""The tenth adversarial review (ADR 0358): what one request makes the platform compute or
store. Each hole it found, as an attack on a running stack (one stack for the module)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bijmantra.devstack.stack import DevStack
from bijmantra.testkit.analysis_polling import finished_analysis
from bijmantra.testkit.vcf import diploid_gt_vcf

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's data is its own (conftest.py)."""
    return shared_stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120, headers=headers) as c:
        yield c


async def import_vcf(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"r10-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        content=body,
    )


async def test_a_gzip_vcf_cut_where_the_stream_was_flushed_is_refused(
    client: httpx.AsyncClient,
) -> None:
    """The cut inflates to whole lines: the first 40 of 100 variants were imported (201) as if
    they were the file."""
    text = diploid_gt_vcf(5, 100, sample_prefix=f"t{uuid.uuid4().hex[:6]}")
    cut = text.index(b"\nchr1\t140\t") + 1  # the 41st variant
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    answer = await import_vcf(client, packer.compress(text[:cut]) + packer.flush(zlib.Z_SYNC_FLUSH))
    assert answer.status_code == 422, answer.text
    assert "truncated gzip" in answer.json()["error"]["message"]
    whole = zlib.compressobj(9, zlib.DEFLATED, 31)
    assert (await import_vcf(client, whole.compress(text) + whole.flush())).status_code == 201


async def test_a_phenotype_of_one_value_is_refused_not_scanned(client: httpx.AsyncClient) -> None:
    """GWAS of a constant phenotype completed with p-values fitted to rounding noise (a
    minimum p of 7e-4 at 30 samples); GBLUP failed in the worker. Both are 422 now."""
    prefix = f"c{uuid.uuid4().hex[:6]}"
    samples = [f"{prefix}{j}" for j in range(30)]
    imported = await import_vcf(client, diploid_gt_vcf(30, 200, sample_prefix=prefix))
    assert imported.status_code == 201, imported.text
    set_id = imported.json()["data"]["variantSetDbId"]
    for kind, kinship in (("gwas", True), ("gwas", False), ("gblup", None)):
        body: dict[str, Any] = {
            "type": kind,
            "variantSetDbId": set_id,
            "phenotypes": dict.fromkeys(samples, 5.0),
        }
        if kinship is not None:
            body["parameters"] = {"kinship": kinship}
        answer = await client.post("/api/v1/analyses", json=body)
        assert answer.status_code == 422, (kind, answer.text)
        assert "phenotypes" in [d["location"] for d in answer.json()["error"]["details"]]
    body = {
        "type": "gwas",
        "variantSetDbId": set_id,
        "phenotypes": {s: float(j % 5) for j, s in enumerate(samples)},
    }
    accepted = await client.post("/api/v1/analyses", json=body)
    assert accepted.status_code == 202, accepted.text
    document = await finished_analysis(client, accepted.json()["data"]["analysisDbId"])
    assert document["status"] == "completed", document


async def test_pca_components_beyond_the_samples_are_a_422(client: httpx.AsyncClient) -> None:
    """PCA with k above the samples analysed was queued, held the matrix and failed in the
    worker ("k = 31 exceeds the number of samples")."""
    imported = await import_vcf(
        client, diploid_gt_vcf(30, 50, sample_prefix=f"k{uuid.uuid4().hex[:6]}")
    )
    assert imported.status_code == 201, imported.text
    set_id = imported.json()["data"]["variantSetDbId"]
    call_sets = [
        c["callSetDbId"]
        for c in (await client.get(f"/api/v1/variantsets/{set_id}")).json()["data"]["callSets"]
    ]
    for chosen, k in (([], 31), (call_sets[:5], 6)):
        body = {"type": "pca", "variantSetDbId": set_id, "callSetDbIds": chosen}
        answer = await client.post("/api/v1/analyses", json=body | {"parameters": {"k": k}})
        assert answer.status_code == 422, answer.text
        assert [d["location"] for d in answer.json()["error"]["details"]] == ["parameters.k"]
    body = {"type": "pca", "variantSetDbId": set_id, "callSetDbIds": call_sets[:5]}
    accepted = await client.post("/api/v1/analyses", json=body | {"parameters": {"k": 5}})
    assert accepted.status_code == 202, accepted.text
    document = await finished_analysis(client, accepted.json()["data"]["analysisDbId"])
    assert document["status"] == "completed", document
