"""What an analysis reports as ``nVariants`` is the count it was built on (ADR 0360).

GRM and PCA with ``minMaf`` reported the whole set's count: a breeder read 200 markers where
the matrix had used far fewer. A GWAS counted the variants it could not test (no variation
among the phenotyped samples). And a phenotype of 1e300 failed in the worker as "no
variation"; it is a 422 at the request now. One stack for the module.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import numpy as np
import pytest
from bijmantra.devstack.stack import DevStack
from bijmantra.testkit.analysis_polling import finished_analysis

pytestmark = [pytest.mark.e2e]

N_VARIANTS, N_SAMPLES = 240, 24
GT = {-1: "./.", 0: "0/0", 1: "0/1", 2: "1/1"}


@pytest.fixture(scope="module")
def stack(shared_stack: DevStack) -> DevStack:
    """The e2e modules' shared stack: this module's data is its own (conftest.py)."""
    return shared_stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=120, headers=headers) as c:
        yield c


def dosages() -> np.ndarray:
    """Rare, common and monomorphic variants, some calls missing."""
    rng = np.random.default_rng(360)
    p = rng.beta(0.3, 0.3, size=(N_VARIANTS, 1))
    g = rng.binomial(2, p, size=(N_VARIANTS, N_SAMPLES)).astype(np.int8)
    g[rng.random(g.shape) < 0.05] = -1
    return g


def used(g: np.ndarray, min_maf: float) -> int:
    """Plain count: variants called, polymorphic and with MAF >= min_maf."""
    count = 0
    for row in g:
        called = row[row >= 0].astype(np.float64)
        p = called.sum() / (2 * called.size) if called.size else 0.0
        count += bool(min(p, 1 - p) > 0 and min(p, 1 - p) >= min_maf)
    return count


@pytest.fixture(scope="module")
async def variant_set(client: httpx.AsyncClient) -> tuple[str, list[str], np.ndarray]:
    g = dosages()
    prefix = f"n{uuid.uuid4().hex[:6]}-"
    names = [f"{prefix}{j}" for j in range(N_SAMPLES)]
    lines = ["##fileformat=VCFv4.2", '##FORMAT=<ID=GT,Number=1,Type=String,Description="GT">']
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names))
    for i, row in enumerate(g):
        calls = "\t".join(GT[int(d)] for d in row)
        lines.append(f"chr1\t{100 + i}\tm{i}\tA\tG\t50\tPASS\t.\tGT\t{calls}")
    imported = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"nv-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        content=("\n".join(lines) + "\n").encode(),
    )
    assert imported.status_code == 201, imported.text
    return imported.json()["data"]["variantSetDbId"], names, g


async def completed(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    accepted = await client.post("/api/v1/analyses", json=body)
    assert accepted.status_code == 202, accepted.text
    document = await finished_analysis(client, accepted.json()["data"]["analysisDbId"])
    assert document["status"] == "completed", document
    return document["summary"]


@pytest.mark.parametrize(("kind", "min_maf"), [("grm", 0.2), ("pca", 0.2), ("grm", 0.0)])
async def test_a_relationship_matrix_reports_the_variants_it_used(
    client: httpx.AsyncClient,
    variant_set: tuple[str, list[str], np.ndarray],
    kind: str,
    min_maf: float,
) -> None:
    set_id, _, g = variant_set
    parameters: dict[str, Any] = {"minMaf": min_maf} | ({"k": 3} if kind == "pca" else {})
    summary = await completed(
        client, {"type": kind, "variantSetDbId": set_id, "parameters": parameters}
    )
    assert summary["nVariants"] == used(g, min_maf)
    assert summary["nVariants"] < N_VARIANTS  # the whole set's count was reported before


async def test_pca_without_min_maf_and_gwas_count_what_they_used(
    client: httpx.AsyncClient, variant_set: tuple[str, list[str], np.ndarray]
) -> None:
    set_id, names, g = variant_set
    pca = await completed(client, {"type": "pca", "variantSetDbId": set_id, "parameters": {"k": 2}})
    assert pca["nVariants"] == used(g, 0.0)
    y = np.random.default_rng(7).normal(size=N_SAMPLES)
    phenotypes = {name: float(v) for name, v in zip(names, y, strict=True)}
    body = {"type": "gwas", "variantSetDbId": set_id, "phenotypes": phenotypes}
    gwas = await completed(client, body | {"parameters": {"kinship": False}})
    varying = sum(len(set(row[row >= 0].tolist())) > 1 for row in g)
    assert gwas["nVariants"] == varying < N_VARIANTS
    assert gwas["bonferroni5"] == pytest.approx(0.05 / varying)
    assert gwas["kinshipVariants"] is None


async def test_a_gwas_reports_the_variants_its_kinship_was_built_on(
    client: httpx.AsyncClient, variant_set: tuple[str, list[str], np.ndarray]
) -> None:
    """EMMAX's GRM is built on the phenotyped samples only: its count is theirs, not the set's."""
    set_id, names, g = variant_set
    phenotyped = N_SAMPLES * 2 // 3
    y = np.random.default_rng(11).normal(size=phenotyped)
    phenotypes = {name: float(v) for name, v in zip(names[:phenotyped], y, strict=True)}
    body = {"type": "gwas", "variantSetDbId": set_id, "phenotypes": phenotypes}
    gwas = await completed(client, body)
    assert gwas["model"] == "EMMAX (GRM kinship)"
    assert gwas["kinshipVariants"] == used(g[:, :phenotyped], 0.0)
    assert gwas["kinshipVariants"] != used(g, 0.0)


async def test_a_phenotype_that_overflows_the_sums_of_squares_is_a_422(
    client: httpx.AsyncClient, variant_set: tuple[str, list[str], np.ndarray]
) -> None:
    """±1e300 squared is inf: the job failed in the worker with "no variation"."""
    set_id, names, _ = variant_set
    phenotypes = {name: (1e300 if j % 2 else -1e300) for j, name in enumerate(names)}
    for kind in ("gwas", "gblup"):
        body = {"type": kind, "variantSetDbId": set_id, "phenotypes": phenotypes}
        answer = await client.post("/api/v1/analyses", json=body)
        assert answer.status_code == 422, answer.text
        [detail] = answer.json()["error"]["details"]
        assert detail["location"] == "phenotypes"
        assert "1e+100" in detail["message"]
