"""Genotype store and analysis jobs through the whole topology: HTTP upload -> gateway ->
gRPC client stream -> domain-api (one transaction) -> outbox -> JetStream work queue ->
analytics-worker replicas -> gRPC chunk stream -> kernels -> results on the job resource.

Test files are written the plain way (string formatting, bit twiddling), independent of
``bijmantra.genomics.formats``, so a parser bug cannot hide behind a writer with the same bug.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import numpy as np
import psycopg
import pytest
from bijmantra.adapters.grpc import AnalysisWorkerClient, ResourceClient
from bijmantra.adapters.grpc.sensors import SensorsWorkerClient
from bijmantra.analytics_worker.analyses import ld_by_chromosome
from bijmantra.analytics_worker.credentials import IdentityClientCredentials
from bijmantra.devstack.stack import (
    DEMO_ORGANIZATION_ID,
    WORKER_CLIENT_ID,
    DevStack,
    running_stack,
)
from bijmantra.domain.analysis import MAX_ATTEMPTS
from bijmantra.genomics import grm, gwas, ld_r2, pca, qc_stats, reml_gblup
from bijmantra.kernel import Forbidden, NotFound, TenantId, Unauthorized
from bijmantra.testkit.analysis_polling import FINISHED, finished_analysis
from bijmantra.testkit.servers import LocalRedis, free_port
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection, connect

pytestmark = [pytest.mark.e2e]

GT_TEXT = {-1: "./.", 0: "0/0", 1: "0|1", 2: "1/1"}


def vcf_text(
    dosages: np.ndarray, samples: list[str], *, extra_lines: dict[int, str] | None = None
) -> str:
    """A VCF 4.2 with GT:DP calls; ``extra_lines`` inserts raw lines before variant i."""
    lines = [
        "##fileformat=VCFv4.2",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples),
    ]
    for i, row in enumerate(dosages):
        for extra in (extra_lines or {}).get(i, "").splitlines():
            lines.append(extra)
        calls = "\t".join(f"{GT_TEXT[int(d)]}:7" for d in row)
        lines.append(f"chr{1 + i % 3}\t{1000 + 10 * i}\tsnp{i}\tA\tG\t50\tPASS\t.\tGT:DP\t{calls}")
    return "\n".join(lines) + "\n"


def bgzip_like(text: str, members: int = 3) -> bytes:
    """Several gzip members back to back, as BGZF writes them."""
    data = text.encode()
    step = -(-len(data) // members)
    return b"".join(gzip.compress(data[k : k + step]) for k in range(0, len(data), step))


PLINK_CODE = {2: 0b00, -1: 0b01, 1: 0b10, 0: 0b11}  # dosage of A1 -> PLINK 2-bit code


def plink_files(dosages: np.ndarray, samples: list[str]) -> tuple[bytes, bytes, bytes]:
    n_variants, n_samples = dosages.shape
    bed = bytearray(b"\x6c\x1b\x01")
    for row in dosages:
        for start in range(0, n_samples, 4):
            byte = 0
            for k, d in enumerate(row[start : start + 4]):
                byte |= PLINK_CODE[int(d)] << (2 * k)
            bed.append(byte)
    bim = "".join(f"1\tsnp{i}\t0\t{500 + i}\tG\tA\n" for i in range(n_variants)).encode()
    fam = "".join(f"FAM {s} 0 0 0 -9\n" for s in samples).encode()
    return bytes(bed), bim, fam


ACK_WAIT = "3"  # seconds: a dead worker's job is redelivered within a few seconds


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(
        tmp_path_factory.mktemp("genotype-stack"), env={"ANALYSIS_ACK_WAIT": ACK_WAIT}
    ) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    token = stack.login()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=120, headers=headers
    ) as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def random_dosages(n_variants: int, n_samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.1, 0.9, size=(n_variants, 1))
    g = rng.binomial(2, p, size=(n_variants, n_samples)).astype(np.int8)
    g[rng.random(g.shape) < 0.03] = -1
    return g


async def import_vcf(client: httpx.AsyncClient, body: bytes, name: str) -> httpx.Response:
    return await client.post(
        "/api/v1/genotypes/imports",
        params={"name": name, "commonCropName": "Cassava"},
        content=body,
    )


async def member_headers(stack: DevStack, role: str) -> dict[str, str]:
    """A new member of the stack's organization with ``role`` ("outsider": of another)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.org"
    roles = ["breeder"] if role == "outsider" else [role]
    await asyncio.to_thread(stack.register_member, email, "pw-123456", roles)
    return {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}


async def imported_set(
    client: httpx.AsyncClient, g: np.ndarray, prefix: str
) -> tuple[list[str], httpx.Response, str]:
    """A VCF of ``g`` with new sample names, imported: names, the answer, the set's id."""
    samples = [unique(prefix) for _ in range(g.shape[1])]
    answer = await import_vcf(client, vcf_text(g, samples).encode(), unique(prefix))
    assert answer.status_code == 201, answer.text
    return samples, answer, answer.json()["data"]["variantSetDbId"]


async def read_back(
    client: httpx.AsyncClient, variant_set_db_id: str, call_sets: list[str] | None = None
) -> np.ndarray:
    params = [("callSetDbId", c) for c in call_sets or []]
    response = await client.get(
        f"/api/v1/variantsets/{variant_set_db_id}/dosages.npy", params=params
    )
    assert response.status_code == 200, response.text
    return np.load(io.BytesIO(response.content), allow_pickle=False)


def count_rows(stack: DevStack, sql: str, *args: Any) -> int:
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        return int(conn.execute(sql, args).fetchone()[0])


COMPLETED_RUNS = (
    "SELECT count(*) FROM analytics.analysis_runs "
    "WHERE analysis_db_id = ANY(%s) AND outcome = 'completed'"
)


async def completed_runs(stack: DevStack, jobs: list[str], patience: float = 30) -> int:
    """Completed attempts in the workers' ledger, once every job has one (or patience ends).

    A worker records its attempt just after domain-api accepted the outcome, so the ledger
    may trail the job's status by a moment; more rows than jobs still fail the caller."""
    deadline = time.monotonic() + patience
    while (runs := count_rows(stack, COMPLETED_RUNS, jobs)) < len(jobs):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    return runs


async def outbox_drained(stack: DevStack, patience: float = 30) -> None:
    """Until the relay has published every committed event (or patience ends): counting the
    stream's events after a fixed sleep raced the relay on a loaded host."""
    deadline = time.monotonic() + patience
    while count_rows(stack, PENDING_EVENTS):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)


PENDING_EVENTS = "SELECT count(*) FROM domain.outbox WHERE published_at IS NULL"


async def test_a_bgzipped_vcf_round_trips_to_the_same_dosage_matrix(
    client: httpx.AsyncClient,
) -> None:
    samples = [unique("S") for _ in range(13)]
    g = random_dosages(300, 13, seed=1)
    extra = {
        5: "chr1\t1051\tmulti\tA\tG,T\t50\tPASS\t.\tGT\t" + "\t".join(["0/1"] * 13),
        9: "chr1\t1091\tindel\tAT\tA\t50\tPASS\t.\tGT\t" + "\t".join(["0/1"] * 13),
    }
    response = await import_vcf(
        client, bgzip_like(vcf_text(g, samples, extra_lines=extra)), unique("vcf")
    )
    assert response.status_code == 201, response.text
    summary = response.json()["data"]
    assert summary["variantsImported"] == 302
    assert summary["samplesImported"] == 13
    assert summary["variantsSkipped"] == {}
    assert summary["germplasmCreated"] == 13
    stored = await read_back(client, summary["variantSetDbId"])
    # Every site is kept; in the dosage view the multi-allelic one is missing and the
    # biallelic indel counts its ALT copies.
    expected = np.insert(g, [5, 9], [[-1] * 13, [1] * 13], axis=0)
    np.testing.assert_array_equal(stored, expected)

    document = (await client.get(f"/api/v1/variantsets/{summary['variantSetDbId']}")).json()["data"]
    assert [c["sampleName"] for c in document["callSets"]] == samples
    subset = [document["callSets"][i]["callSetDbId"] for i in (7, 2, 11)]
    np.testing.assert_array_equal(
        await read_back(client, summary["variantSetDbId"], subset), expected[:, [7, 2, 11]]
    )


async def test_plink_bed_round_trips_and_samples_match_existing_germplasm(
    client: httpx.AsyncClient,
) -> None:
    existing = unique("Known")
    created = await client.post(
        "/brapi/v2/germplasm",
        json=[
            {
                "germplasmName": existing,
                "germplasmPUI": f"doi:t/{existing}",
                "commonCropName": "Cassava",
            }
        ],
    )
    assert created.status_code == 200, created.text
    known_id = created.json()["result"]["data"][0]["germplasmDbId"]
    samples = [existing] + [unique("P") for _ in range(8)]
    g = random_dosages(1234, 9, seed=2)
    bed, bim, fam = plink_files(g, samples)
    response = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("plink"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed), "bim": ("x.bim", bim), "fam": ("x.fam", fam)},
    )
    assert response.status_code == 201, response.text
    summary = response.json()["data"]
    assert (summary["variantsImported"], summary["samplesImported"]) == (1234, 9)
    assert (summary["germplasmMatched"], summary["germplasmCreated"]) == (1, 8)
    np.testing.assert_array_equal(await read_back(client, summary["variantSetDbId"]), g)
    document = (await client.get(f"/api/v1/variantsets/{summary['variantSetDbId']}")).json()["data"]
    assert document["callSets"][0]["germplasmDbId"] == known_id


async def test_malformed_files_name_the_line_and_store_nothing(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    samples = [unique("Bad") for _ in range(4)]
    g = random_dosages(50, 4, seed=3)
    lines = vcf_text(g, samples).splitlines()
    lines[3 + 20] = lines[3 + 20].replace("\t0/0:7", "\t0/2:7", 1).replace("\t1/1:7", "\t0/2:7", 1)
    before = count_rows(stack, "SELECT count(*) FROM domain.variant_sets")
    bad_call = await import_vcf(client, ("\n".join(lines) + "\n").encode(), unique("bad"))
    assert bad_call.status_code == 422, bad_call.text
    error = bad_call.json()["error"]
    assert error["code"] == "validation"
    assert "line 24" in error["message"]
    assert error["details"][0]["location"] == ".vcf:line 24"

    short_row = "\n".join(
        [*vcf_text(g, samples).splitlines()[:10], "chr1\t5\tx\tA\tG\t.\t.\t.\tGT\t0/1"]
    )
    short = await import_vcf(client, gzip.compress(short_row.encode()), unique("bad"))
    assert short.status_code == 422
    assert "line 11" in short.json()["error"]["message"]

    not_vcf = await import_vcf(client, b"hello\tworld\n", unique("bad"))
    assert not_vcf.status_code == 422
    assert "line 1" in not_vcf.json()["error"]["message"]

    bed, bim, fam = plink_files(g, samples)
    broken_bim = bim.replace(b"snp7\t0\t507\tG\tA", b"snp7\t0\tG\tA")
    plink = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("bad"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed), "bim": ("x.bim", broken_bim), "fam": ("x.fam", fam)},
    )
    assert plink.status_code == 422
    assert ".bim line 8" in plink.json()["error"]["message"]
    truncated = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("bad"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed[:-3]), "bim": ("x.bim", bim), "fam": ("x.fam", fam)},
    )
    assert truncated.status_code == 422
    assert "size does not match" in truncated.json()["error"]["message"]

    assert count_rows(stack, "SELECT count(*) FROM domain.variant_sets") == before
    assert (
        count_rows(
            stack,
            "SELECT count(*) FROM domain.resources "
            "WHERE entity = 'germplasm' AND document->>'germplasmName' = ANY(%s)",
            samples,
        )
        == 0
    )


# ---- analyses ---------------------------------------------------------------------------


@dataclass
class Dataset:
    variant_set_db_id: str
    call_sets: list[dict[str, Any]]
    dosages: np.ndarray


@pytest.fixture(scope="module")
async def dataset(client: httpx.AsyncClient) -> Dataset:
    samples = [unique("A") for _ in range(48)]
    g = random_dosages(600, 48, seed=11)
    response = await import_vcf(client, vcf_text(g, samples).encode(), unique("analysis-set"))
    assert response.status_code == 201, response.text
    set_id = response.json()["data"]["variantSetDbId"]
    document = (await client.get(f"/api/v1/variantsets/{set_id}")).json()["data"]
    return Dataset(set_id, document["callSets"], g)


async def run_analysis(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/analyses", json=body)
    assert response.status_code == 202, response.text
    assert (
        response.headers["location"]
        == f"/api/v1/analyses/{response.json()['data']['analysisDbId']}"
    )
    document = await finished_analysis(client, response.json()["data"]["analysisDbId"])
    assert document["status"] == "completed", document
    return document


async def all_rows(
    client: httpx.AsyncClient, analysis_db_id: str, table: str, page_size: int = 250
) -> list[Any]:
    rows, page = [], 0
    while True:
        body = (
            await client.get(
                f"/api/v1/analyses/{analysis_db_id}/results/{table}",
                params={"page": page, "pageSize": page_size},
            )
        ).json()
        rows += body["data"]
        if page + 1 >= body["meta"]["pagination"]["totalPages"]:
            return rows
        page += 1


def column(rows: list[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)


async def artifact(client: httpx.AsyncClient, analysis_db_id: str, name: str) -> httpx.Response:
    response = await client.get(f"/api/v1/analyses/{analysis_db_id}/artifacts/{name}")
    assert response.status_code == 200, (name, response.text)
    return response


async def assert_pictures(client: httpx.AsyncClient, analysis_db_id: str, *stems: str) -> None:
    for stem in stems:
        png = await artifact(client, analysis_db_id, f"{stem}.png")
        assert png.headers["content-type"] == "image/png"
        assert png.content.startswith(b"\x89PNG")
        svg = await artifact(client, analysis_db_id, f"{stem}.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert b"<svg" in svg.content[:2000]
        # A document that can carry script: downloaded, and sandboxed if opened anyway.
        assert svg.headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in svg.headers["content-security-policy"]
        assert "default-src 'none'" in svg.headers["content-security-policy"]


async def test_qc_matches_the_kernel_and_draws_histograms(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    document = await run_analysis(
        client, {"type": "qc", "variantSetDbId": dataset.variant_set_db_id}
    )
    expected = qc_stats(dataset.dosages)
    variants = await all_rows(client, document["analysisDbId"], "variants")
    assert len(variants) == 600
    np.testing.assert_allclose(column(variants, "maf"), expected.maf, rtol=1e-12)
    np.testing.assert_allclose(column(variants, "hweP"), expected.hwe_p_exact, rtol=1e-12)
    samples = await all_rows(client, document["analysisDbId"], "samples")
    np.testing.assert_allclose(column(samples, "callRate"), expected.sample_call_rate, rtol=1e-12)
    assert document["summary"]["nSamples"] == 48
    assert document["timings"]["computeSeconds"] > 0
    await assert_pictures(
        client, document["analysisDbId"], "maf", "variant-call-rate", "sample-call-rate"
    )
    metrics = (await client.get(f"http://127.0.0.1:{stack.ports.worker_health}/metrics")).text
    qc_completed = {"analysis": "qc", "outcome": "completed"}
    [qc_jobs] = [
        s.value
        for f in text_string_to_metric_families(metrics)
        for s in f.samples
        if s.name == "analysis_job_duration_seconds_count" and s.labels == qc_completed
    ]
    assert qc_jobs >= 1
    # Streaming RPCs get RED metrics too: the upload (client stream) and the job's read.
    served = (await client.get(f"http://127.0.0.1:{stack.ports.domain_metrics}/metrics")).text
    handled = {
        s.labels["grpc_method"]: s.value
        for f in text_string_to_metric_families(served)
        for s in f.samples
        if s.name == "grpc_server_handled_total" and s.labels["grpc_code"] == "OK"
    }
    assert handled.get("ImportGenotypes", 0) >= 1
    assert handled.get("StreamJobGenotypes", 0) >= 1


async def test_grm_matches_the_kernel_as_npy_and_as_pages(
    stack: DevStack, client: httpx.AsyncClient, dataset: Dataset
) -> None:
    body = {
        "type": "grm",
        "variantSetDbId": dataset.variant_set_db_id,
        "parameters": {"method": "vanraden2"},
    }
    document = await run_analysis(client, body)
    expected = grm(dataset.dosages, method="vanraden2")
    npy = (await artifact(client, document["analysisDbId"], "grm.npy")).content
    stored = np.load(io.BytesIO(npy))
    np.testing.assert_allclose(stored, expected, rtol=1e-6)
    # Kept as its upper triangle (ADR 0070), served whole: the index gives the served size.
    listed = {a["name"]: a for a in document["results"]["artifacts"]}
    assert listed["grm.npy"]["size"] == len(npy)
    packed = count_rows(
        stack,
        "SELECT count(*) FROM domain.analysis_results WHERE analysis_db_id = %s "
        "AND name = 'grm.npy' AND layout = 'upper-triangle' AND served_size = %s "
        "AND octet_length(data) < %s",
        document["analysisDbId"],
        len(npy),
        len(npy) * 0.6,
    )
    assert packed == 1
    rows = await all_rows(client, document["analysisDbId"], "grm", page_size=7)
    np.testing.assert_allclose(np.array([r["values"] for r in rows]), expected, rtol=1e-6)
    await assert_pictures(client, document["analysisDbId"], "grm")


async def test_a_job_stream_read_dosages_only_carries_no_variant_metadata(
    stack: DevStack, client: httpx.AsyncClient, dataset: Dataset
) -> None:
    """What a GRM worker reads: the same dosages, without chrom/pos/ids (the completing
    attempt may read its job again, as when redrawing figures)."""
    body = {"type": "grm", "variantSetDbId": dataset.variant_set_db_id}
    document = await run_analysis(client, body)
    tenant = TenantId(uuid.UUID(DEMO_ORGANIZATION_ID))
    async with httpx.AsyncClient(verify=stack.http_verify(WORKER_CLIENT_ID)) as http:
        token = await IdentityClientCredentials(
            http, stack.identity_url, WORKER_CLIENT_ID, stack.worker_client_secret
        )(tenant)
    async with stack.grpc_channel(f"127.0.0.1:{stack.ports.domain_api}") as channel:
        worker = AnalysisWorkerClient(channel, fixed_token(token))
        job, attempt = document["analysisDbId"], document["attempt"]
        whole = [c async for c in worker.genotypes(tenant, job, attempt)]
        lean = [c async for c in worker.genotypes(tenant, job, attempt, variants=False)]
    assert [(c.variant_start, c.n_variants, c.dosages) for c in lean] == [
        (c.variant_start, c.n_variants, c.dosages) for c in whole
    ]
    assert [p for c in whole for p in c.pos] == [1000 + 10 * i for i in range(600)]
    assert [name for c in whole for name in c.chrom][:4] == ["chr1", "chr2", "chr3", "chr1"]
    assert all(not (c.chrom or c.pos or c.variant_db_ids) for c in lean)


async def test_pca_on_a_sample_subset_matches_the_kernel(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    subset = [2, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47]
    body = {
        "type": "pca",
        "variantSetDbId": dataset.variant_set_db_id,
        "callSetDbIds": [dataset.call_sets[i]["callSetDbId"] for i in subset],
        "parameters": {"k": 3, "colorBy": "commonCropName"},
    }
    document = await run_analysis(client, body)
    expected = pca(dataset.dosages[:, subset], k=3)
    scores = await all_rows(client, document["analysisDbId"], "scores")
    assert [r["sampleName"] for r in scores] == [dataset.call_sets[i]["sampleName"] for i in subset]
    assert {r["label"] for r in scores} == {"Cassava"}
    got = np.column_stack([column(scores, f"pc{i}") for i in (1, 2, 3)])
    np.testing.assert_allclose(got, expected.scores, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        document["summary"]["explainedVariance"], expected.explained_variance, rtol=1e-8
    )
    await assert_pictures(client, document["analysisDbId"], "pca")


async def test_ld_matches_the_kernel_within_each_chromosome(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    body = {"type": "ld", "variantSetDbId": dataset.variant_set_db_id, "parameters": {"window": 4}}
    document = await run_analysis(client, body)
    rows = await all_rows(client, document["analysisDbId"], "r2")
    got = np.array([[np.nan if v is None else v for v in r["r2"]] for r in rows])
    chrom = [f"chr{1 + i % 3}" for i in range(600)]
    expected = np.full((600, 4), np.nan)
    for name in ("chr1", "chr2", "chr3"):
        index = [i for i, c in enumerate(chrom) if c == name]
        expected[index] = ld_r2(dataset.dosages[index], window=4)
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(
        ld_by_chromosome(dataset.dosages, chrom, 4), expected, equal_nan=True
    )
    await assert_pictures(client, document["analysisDbId"], "ld-decay")


def phenotypes(dataset: Dataset, seed: int) -> tuple[dict[str, float], np.ndarray]:
    """Values for 40 of 48 samples, keyed by sample name or germplasmDbId alternately."""
    rng = np.random.default_rng(seed)
    effects = rng.normal(size=600) * (rng.random(600) < 0.02)
    y = np.where(dataset.dosages < 0, 1, dataset.dosages).T @ effects + rng.normal(size=48)
    keyed, full = {}, np.full(48, np.nan)
    for i in range(40):
        call_set = dataset.call_sets[i]
        keyed[call_set["sampleName"] if i % 2 else call_set["germplasmDbId"]] = float(y[i])
        full[i] = y[i]
    return keyed, full


async def test_gblup_with_inline_phenotypes_matches_the_kernel(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    values, y = phenotypes(dataset, seed=5)
    body = {"type": "gblup", "variantSetDbId": dataset.variant_set_db_id, "phenotypes": values}
    document = await run_analysis(client, body)
    expected = reml_gblup(y, grm(dataset.dosages, dtype=np.float64))
    rows = await all_rows(client, document["analysisDbId"], "breedingValues")
    np.testing.assert_allclose(column(rows, "gebv"), expected.blup, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(
        column(rows, "reliability"), expected.reliability, rtol=1e-8, atol=1e-12
    )
    assert document["summary"]["h2"] == pytest.approx(expected.h2, rel=1e-9)
    assert document["summary"]["nPhenotyped"] == 40


async def test_gwas_matches_the_kernel_and_draws_manhattan_and_qq(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    values, y = phenotypes(dataset, seed=6)
    body = {"type": "gwas", "variantSetDbId": dataset.variant_set_db_id, "phenotypes": values}
    document = await run_analysis(client, body)
    observed = np.flatnonzero(~np.isnan(y))
    g = dataset.dosages[:, observed]
    expected = gwas(y[observed], g, K=grm(g, dtype=np.float64))
    rows = await all_rows(client, document["analysisDbId"], "associations")
    np.testing.assert_allclose(column(rows, "pValue"), expected.p_value, rtol=1e-8)
    np.testing.assert_allclose(column(rows, "effect"), expected.effect, rtol=1e-8, atol=1e-12)
    await assert_pictures(client, document["analysisDbId"], "manhattan", "qq")


async def test_bad_analysis_requests_are_clear_4xx(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    set_id = dataset.variant_set_db_id
    cases = [
        ({"type": "kinship", "variantSetDbId": set_id}, "type"),
        ({"type": "grm", "variantSetDbId": "nope"}, "variantSetDbId"),
        (
            {"type": "grm", "variantSetDbId": set_id, "parameters": {"method": "vanraden3"}},
            "parameters.method",
        ),
        ({"type": "pca", "variantSetDbId": set_id, "parameters": {"k": 0}}, "parameters.k"),
        ({"type": "gwas", "variantSetDbId": set_id}, "phenotypes"),
        (
            {
                "type": "gwas",
                "variantSetDbId": set_id,
                "phenotypes": {"nobody": 1.0, "x": 2.0, "y": 3.0},
            },
            "phenotypes.nobody",
        ),
        (
            {"type": "gblup", "variantSetDbId": set_id, "observationVariableDbId": "v1"},
            "observationVariableDbId",
        ),
        (  # nothing observed for this variable and study: no phenotypes at all
            {
                "type": "gblup",
                "variantSetDbId": set_id,
                "observationVariableDbId": "v1",
                "studyDbId": "s1",
            },
            "phenotypes",
        ),
        ({"type": "grm", "variantSetDbId": set_id, "callSetDbIds": ["not-here"]}, "callSetDbIds"),
    ]
    for body, location in cases:
        response = await client.post("/api/v1/analyses", json=body)
        assert response.status_code == 422, (body, response.text)
        assert location in [d["location"] for d in response.json()["error"]["details"]], (
            response.text
        )
    assert (await client.get(f"/api/v1/analyses/{uuid.uuid4()}")).status_code == 404
    finished = await run_analysis(client, {"type": "qc", "variantSetDbId": set_id})
    conflict = await client.delete(f"/api/v1/analyses/{finished['analysisDbId']}")
    assert conflict.status_code == 409
    assert (
        await client.get(f"/api/v1/analyses/{finished['analysisDbId']}/artifacts/nope.png")
    ).status_code == 404


async def analysis_events(stack: DevStack, event_type: str) -> dict[str, int]:
    """How many ``event_type`` events the stream holds per analysis (what the feed forwards)."""
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe(
            f"bijmantra.events.{event_type}",
            durable=None,
            stream="BIJMANTRA_EVENTS",
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL),
        )
        counts: dict[str, int] = {}
        while True:
            try:
                messages = await subscription.fetch(500, timeout=1)
            except (TimeoutError, nats.errors.TimeoutError):
                return counts
            for message in messages:
                subject = json.loads(message.data)["subject"]
                counts[subject] = counts.get(subject, 0) + 1
    finally:
        await nc.close()


def worker_env(stack: DevStack) -> dict[str, str]:
    return {"WORKER_HEALTH_PORT": str(free_port())}


async def test_two_workers_ten_jobs_each_completes_exactly_once(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    stack.start_service("analytics-worker", replica="-2", env=worker_env(stack))
    submitted = []
    for i in range(10):
        body = {"type": ("grm", "qc", "ld")[i % 3], "variantSetDbId": dataset.variant_set_db_id}
        response = await client.post("/api/v1/analyses", json=body)
        assert response.status_code == 202
        submitted.append(response.json()["data"]["analysisDbId"])
    documents = [await finished_analysis(client, job) for job in submitted]
    assert [d["status"] for d in documents] == ["completed"] * 10
    assert await completed_runs(stack, submitted) == 10
    await outbox_drained(stack)  # every event committed so far is in the stream
    completed = await analysis_events(stack, "analysis.completed")
    assert {job: completed.get(job) for job in submitted} == {job: 1 for job in submitted}
    progress = await analysis_events(stack, "analysis.progress")
    assert all(progress.get(job, 0) >= 1 for job in submitted)


async def test_a_worker_killed_mid_job_leaves_it_to_the_other(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    samples = [unique("K") for _ in range(700)]
    g = random_dosages(30000, 700, seed=21)
    bed, bim, _ = plink_files_fast(g)
    response = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("kill"), "commonCropName": "Cassava"},
        files={"bed": ("k.bed", bed), "bim": ("k.bim", bim), "fam": ("k.fam", fam_for(samples))},
    )
    assert response.status_code == 201, response.text
    set_id = response.json()["data"]["variantSetDbId"]
    if "analytics-worker-2" not in stack.services:
        stack.start_service("analytics-worker", replica="-2", env=worker_env(stack))
    body = {"type": "pca", "variantSetDbId": set_id, "parameters": {"k": 4}}
    job = (await client.post("/api/v1/analyses", json=body)).json()["data"]["analysisDbId"]
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        document = (await client.get(f"/api/v1/analyses/{job}")).json()["data"]
        assert document["status"] != "completed", (
            "the job finished before the test could kill its worker"
        )
        if document["status"] == "running":
            pid = int(document["worker"].rsplit(":", 1)[1])
            victim = next(name for name, p in stack.services.items() if p.pid == pid)
            stack.services[victim].send_signal(signal.SIGKILL)
        await asyncio.sleep(0.02)
    assert victim is not None
    finished = await finished_analysis(client, job, patience=180)
    assert finished["status"] == "completed"
    assert finished["attempt"] == 2
    assert finished["worker"] != document["worker"]
    assert await completed_runs(stack, [job]) == 1
    expected = pca(g, k=4)
    scores = await all_rows(client, job, "scores", page_size=1000)
    got = np.column_stack([column(scores, f"pc{i}") for i in (1, 2, 3, 4)])
    np.testing.assert_allclose(got, expected.scores, rtol=1e-6, atol=1e-9)
    stack.services.pop(victim).wait()
    if victim == "analytics-worker":  # keep a worker under the usual name for later tests
        stack.services["analytics-worker"] = stack.services.pop("analytics-worker-2")


async def test_a_job_that_ends_its_worker_in_every_attempt_fails_naming_why(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    """ADR 0336: the worker running a job is killed in each attempt (as a job too large for a
    worker's memory would end it); the claim after the last attempt fails the job. Before,
    the job-request message's redeliveries ran out and the job stayed running for ever,
    counted among the organization's active analyses."""
    samples = [unique("X") for _ in range(700)]
    bed, bim, _ = plink_files_fast(random_dosages(30000, 700, seed=23))
    response = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("poison"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed), "bim": ("x.bim", bim), "fam": ("x.fam", fam_for(samples))},
    )
    assert response.status_code == 201, response.text
    set_id = response.json()["data"]["variantSetDbId"]
    if "analytics-worker-2" not in stack.services:  # a redelivery always finds a live worker
        stack.start_service("analytics-worker", replica="-2", env=worker_env(stack))
    body = {"type": "pca", "variantSetDbId": set_id, "parameters": {"k": 4}}
    job = (await client.post("/api/v1/analyses", json=body)).json()["data"]["analysisDbId"]
    killed: list[str] = []
    deadline = time.monotonic() + 120
    while len(killed) < MAX_ATTEMPTS and time.monotonic() < deadline:
        document = (await client.get(f"/api/v1/analyses/{job}")).json()["data"]
        assert document["status"] in ("queued", "running"), document
        if document["status"] == "running" and document["attempt"] == len(killed) + 1:
            pid = int(document["worker"].rsplit(":", 1)[1])
            victim = next(name for name, p in stack.services.items() if p.pid == pid)
            stack.services[victim].send_signal(signal.SIGKILL)
            stack.services.pop(victim).wait()
            killed.append(victim)
            replica = f"-{uuid.uuid4().hex[:6]}"
            stack.start_service("analytics-worker", replica=replica, env=worker_env(stack))
        await asyncio.sleep(0.02)
    assert len(killed) == MAX_ATTEMPTS, killed
    failed = await finished_analysis(client, job, patience=60)
    assert (failed["status"], failed["attempt"]) == ("failed", MAX_ATTEMPTS), failed
    assert f"{MAX_ATTEMPTS} attempts" in failed["error"]
    assert await completed_runs(stack, [job], patience=0) == 0
    await outbox_drained(stack)
    assert (await analysis_events(stack, "analysis.failed")).get(job) == 1
    if "analytics-worker" not in stack.services:  # the usual name, for later tests
        name = next(n for n in stack.services if n.startswith("analytics-worker-"))
        stack.services["analytics-worker"] = stack.services.pop(name)


async def test_an_organization_queueing_after_a_long_queue_is_not_served_last(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    """Workers hand jobs out fairly between organizations (ADR 0329). With the workers
    paused, this organization queues twelve jobs and another queues one afterwards; resumed,
    the workers start the other's job among their first, not thirteenth as in arrival order."""
    other = await member_headers(stack, "outsider")
    g = random_dosages(200, 12, seed=31)
    samples = [unique("F") for _ in range(12)]
    imported = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("fair"), "commonCropName": "Cassava"},
        content=vcf_text(g, samples).encode(),
        headers=other,
    )
    assert imported.status_code == 201, imported.text
    workers = [p for name, p in stack.services.items() if name.startswith("analytics-worker")]
    for worker in workers:
        worker.send_signal(signal.SIGSTOP)
    try:
        ours = [
            (await client.post("/api/v1/analyses", json=body)).json()["data"]["analysisDbId"]
            for body in [{"type": "qc", "variantSetDbId": dataset.variant_set_db_id}] * 12
        ]
        body = {"type": "qc", "variantSetDbId": imported.json()["data"]["variantSetDbId"]}
        theirs = await client.post("/api/v1/analyses", json=body, headers=other)
        assert theirs.status_code == 202, theirs.text
        await outbox_drained(stack)  # every request is in the stream before a worker runs
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
    their_job = await finished_analysis(
        client, theirs.json()["data"]["analysisDbId"], headers=other
    )
    our_jobs = [await finished_analysis(client, job) for job in ours]
    assert [d["status"] for d in [their_job, *our_jobs]] == ["completed"] * 13
    started = sorted(d["started"] for d in [their_job, *our_jobs])
    # each free worker takes one of ours first (older wait, none running yet), then theirs
    assert started.index(their_job["started"]) <= len(workers), (len(workers), started)


def plink_files_fast(g: np.ndarray) -> tuple[bytes, bytes, bytes]:
    """Vectorised twin of ``plink_files`` for a matrix too large for the per-call loop."""
    n_variants, n_samples = g.shape
    codes = np.select([g == 2, g == -1, g == 1], [0, 1, 2], 3).astype(np.uint8)
    padded = np.full((n_variants, -(-n_samples // 4) * 4), 3, dtype=np.uint8)
    padded[:, :n_samples] = codes
    quads = padded.reshape(n_variants, -1, 4)
    packed = quads[..., 0] | quads[..., 1] << 2 | quads[..., 2] << 4 | quads[..., 3] << 6
    bim = "".join(f"1\tsnp{i}\t0\t{500 + i}\tG\tA\n" for i in range(n_variants)).encode()
    return b"\x6c\x1b\x01" + packed.astype(np.uint8).tobytes(), bim, b""


def fam_for(samples: list[str]) -> bytes:
    return "".join(f"FAM {s} 0 0 0 -9\n" for s in samples).encode()


def test_the_cli_uploads_with_a_progress_bar_and_prints_the_summary(
    stack: DevStack, tmp_path: Path
) -> None:
    samples = [unique("C") for _ in range(6)]
    g = random_dosages(400, 6, seed=31)
    vcf_path = tmp_path / "small.vcf.gz"
    vcf_path.write_bytes(bgzip_like(vcf_text(g, samples)))
    bed, bim, fam = plink_files(g, samples)
    for suffix, data in ((".bed", bed), (".bim", bim), (".fam", fam)):
        (tmp_path / f"small{suffix}").write_bytes(data)
    env = {**os.environ, "BIJMANTRA_TOKEN": stack.login()}
    for path in (vcf_path, tmp_path / "small.bed"):
        done = run_cli(stack, path, env)
        assert done.returncode == 0, done.stderr
        assert "400 variants x 6 samples imported" in done.stdout
        assert "100%" in done.stderr  # tqdm draws the bar on stderr
    broken = tmp_path / "broken.vcf"
    lines = vcf_text(g, samples).splitlines()
    lines[3] = lines[3][: lines[3].rfind("\t")] + "\t0/7:7"  # the first variant's last call
    broken.write_text("\n".join(lines) + "\n")
    failed = run_cli(stack, broken, env)
    assert failed.returncode != 0
    assert "line 4" in failed.stderr


def run_cli(stack: DevStack, path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    candidate = Path(sys.executable).parent / "bijmantra"
    command = [str(candidate) if candidate.exists() else "bijmantra", "import-genotypes", str(path)]
    command += ["--crop", "Cassava", "--gateway", stack.gateway_url]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_job_progress_reaches_the_websocket_feed(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    url = stack.gateway_url.replace("http://", "ws://") + "/ws"
    token = client.headers["Authorization"]
    async with connect(url, additional_headers={"Authorization": token}) as socket:
        assert (await ws_frame(socket))["type"] == "ready"
        await socket.send(json.dumps({"type": "subscribe", "events": ["analysis.*"]}))
        assert (await ws_frame(socket))["type"] == "subscribed"
        body = {"type": "qc", "variantSetDbId": dataset.variant_set_db_id}
        job = (await client.post("/api/v1/analyses", json=body)).json()["data"]["analysisDbId"]
        seen: list[str] = []
        while "analysis.completed" not in seen:
            message = await ws_frame(socket)
            assert message["type"] == "event", message
            if message["event"]["subject"] == job:
                seen.append(message["event"]["type"])
    assert seen[:2] == ["analysis.requested", "analysis.started"]
    assert "analysis.progress" in seen
    assert seen[-1] == "analysis.completed"


async def ws_frame(socket: ClientConnection) -> dict[str, Any]:
    """The next frame that is not a keep-alive ping (answered, as a client must)."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 60))
        if message["type"] != "ping":
            return message
        await socket.send('{"type":"pong"}')


async def test_gblup_reads_phenotypes_from_observations_of_a_variable_in_a_study(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    async def create(path: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = await client.post(f"/brapi/v2{path}", json=items)
        assert response.status_code == 200, (path, response.text)
        return response.json()["result"]["data"]

    [program] = await create("/programs", [{"programName": unique("GS program")}])
    [trial] = await create("/trials", [{"trialName": "GS", "programDbId": program["programDbId"]}])
    [study] = await create("/studies", [{"studyName": "GS 2026", "trialDbId": trial["trialDbId"]}])
    [scale] = await create("/scales", [{"scaleName": unique("kg"), "dataType": "Numerical"}])
    [trait] = await create("/traits", [{"traitName": unique("yield"), "traitClass": "agronomic"}])
    [method] = await create(
        "/methods", [{"methodName": unique("weigh"), "methodClass": "Measurement"}]
    )
    [variable] = await create(
        "/variables",
        [
            {
                "observationVariableName": unique("Yield"),
                "trait": {"traitDbId": trait["traitDbId"], "traitName": trait["traitName"]},
                "method": {"methodDbId": method["methodDbId"], "methodName": method["methodName"]},
                "scale": {"scaleDbId": scale["scaleDbId"], "scaleName": scale["scaleName"]},
            }
        ],
    )
    rng = np.random.default_rng(9)
    phenotyped = [*list(range(0, 48, 2)), 1, 3, 5]
    units, values = [], {}
    for i in phenotyped:
        for rep in (1, 2):  # two plots per germplasm: their mean is the phenotype
            units.append(
                {
                    "observationUnitName": f"plot-{i}-{rep}",
                    "studyDbId": study["studyDbId"],
                    "germplasmDbId": dataset.call_sets[i]["germplasmDbId"],
                    "observationUnitPosition": {
                        "observationLevel": {"levelName": "plot", "levelCode": f"{i}-{rep}"}
                    },
                }
            )
            values[(i, rep)] = round(float(rng.normal(10, 2)), 3)
    stored_units = await create("/observationunits", units)
    observations = [
        {
            "observationUnitDbId": unit["observationUnitDbId"],
            "observationVariableDbId": variable["observationVariableDbId"],
            "studyDbId": study["studyDbId"],
            "germplasmDbId": unit["germplasmDbId"],
            "value": str(values[key]),
        }
        for unit, key in zip(
            stored_units, [(i, r) for i in phenotyped for r in (1, 2)], strict=True
        )
    ]
    await create("/observations", observations)
    body = {
        "type": "gblup",
        "variantSetDbId": dataset.variant_set_db_id,
        "observationVariableDbId": variable["observationVariableDbId"],
        "studyDbId": study["studyDbId"],
    }
    document = await run_analysis(client, body)
    y = np.full(48, np.nan)
    for i in phenotyped:
        y[i] = (values[(i, 1)] + values[(i, 2)]) / 2
    expected = reml_gblup(y, grm(dataset.dosages, dtype=np.float64))
    rows = await all_rows(client, document["analysisDbId"], "breedingValues")
    np.testing.assert_allclose(column(rows, "phenotype"), y, rtol=1e-12)
    np.testing.assert_allclose(column(rows, "gebv"), expected.blup, rtol=1e-8, atol=1e-12)
    assert document["phenotypeCount"] == len(phenotyped)


async def test_a_job_the_kernel_refuses_fails_with_its_reason(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    # PCA's k above the samples (ADR 0358), then values of 1e300 (ADR 0360) were this test's
    # refusal until the request refused them; phenotypes that differ only in their last bit
    # pass the request (they are not all equal) and leave the kernel nothing to fit.
    subset = [c["callSetDbId"] for c in dataset.call_sets[:5]]
    body = {
        "type": "gblup",
        "variantSetDbId": dataset.variant_set_db_id,
        "callSetDbIds": subset,
        "phenotypes": {
            c["sampleName"]: (1.0, 1.0 + 2**-52)[i % 2] for i, c in enumerate(dataset.call_sets[:5])
        },
    }
    response = await client.post("/api/v1/analyses", json=body)
    assert response.status_code == 202, response.text
    document = await finished_analysis(client, response.json()["data"]["analysisDbId"])
    assert document["status"] == "failed"
    assert document["error"] == "y has no variation beyond X: variance components are undefined"
    assert document["results"] == {"tables": [], "artifacts": []}


async def test_a_cancelled_job_never_completes(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    values, _ = phenotypes(dataset, seed=8)
    body = {"type": "gwas", "variantSetDbId": dataset.variant_set_db_id, "phenotypes": values}
    # The workers are held while the job is requested and cancelled: a small GWAS can be
    # claimed and completed between the two requests (32 ms apart in one CI run).
    workers = [p for name, p in stack.services.items() if name.startswith("analytics-worker")]
    for worker in workers:
        worker.send_signal(signal.SIGSTOP)
    try:
        job = (await client.post("/api/v1/analyses", json=body)).json()["data"]["analysisDbId"]
        cancelled = await client.delete(f"/api/v1/analyses/{job}")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGCONT)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    await asyncio.sleep(3)  # time for a worker to have claimed, read and computed it
    document = (await client.get(f"/api/v1/analyses/{job}")).json()["data"]
    assert document["status"] == "cancelled"
    assert document["results"] == {"tables": [], "artifacts": []}
    completed = count_rows(
        stack,
        "SELECT count(*) FROM analytics.analysis_runs "
        "WHERE analysis_db_id = %s AND outcome = 'completed'",
        job,
    )
    assert completed == 0


async def test_another_organization_sees_no_genotypes_or_analyses(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    email = f"breeder-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["breeder"])
    mine = await run_analysis(client, {"type": "qc", "variantSetDbId": dataset.variant_set_db_id})
    other = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    set_path = f"/api/v1/variantsets/{dataset.variant_set_db_id}"
    job_path = f"/api/v1/analyses/{mine['analysisDbId']}"
    for path in (
        set_path,
        f"{set_path}/dosages.npy",
        job_path,
        f"{job_path}/results/variants",
        f"{job_path}/artifacts/maf.png",
    ):
        response = await client.get(path, headers=other)
        assert response.status_code == 404, (path, response.text)
    assert (await client.delete(job_path, headers=other)).status_code == 404
    foreign = {"type": "grm", "variantSetDbId": dataset.variant_set_db_id}
    refused = await client.post("/api/v1/analyses", json=foreign, headers=other)
    assert refused.status_code == 422
    assert (await client.get(job_path)).json()["data"]["status"] == "completed"


STALLED_JOB = """
    INSERT INTO domain.analysis_jobs (tenant_id, analysis_db_id, type, variant_set_db_id,
        call_set_db_ids, parameters, phenotypes, created_at, status, progress, stage, attempt,
        summary, timings)
    VALUES (%s, %s, 'qc', %s, '[]', '{}', '{}', '2020-01-01T00:00:00Z', 'running', 0.4, 'reading',
        1, '{}', '{}')
"""


async def test_the_organization_lists_its_analyses_running_first(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    """GET /api/v1/analyses: queued and running jobs before finished ones however old, then
    newest first; ``active=true`` only those; another organization sees none of them."""
    finished = await run_analysis(
        client, {"type": "qc", "variantSetDbId": dataset.variant_set_db_id}
    )
    running = unique("running-job")  # a job older than every other, still running
    assert stack.database is not None
    with psycopg.connect(stack.database.owner_url) as conn:
        conn.execute(STALLED_JOB, (DEMO_ORGANIZATION_ID, running, dataset.variant_set_db_id))
    listed = (await client.get("/api/v1/analyses", params={"limit": 100})).json()["data"]
    ids = [d["analysisDbId"] for d in listed]
    assert running in ids
    assert finished["analysisDbId"] in ids
    active = [d["status"] in ("queued", "running") for d in listed]
    assert active == sorted(active, reverse=True), "queued and running first"
    finished_times = [d["created"] for d in listed if d["status"] in FINISHED]
    assert finished_times == sorted(finished_times, reverse=True), "then newest first"
    stalled = next(d for d in listed if d["analysisDbId"] == running)
    assert (stalled["progress"], stalled["stage"]) == (0.4, "reading")
    only_active = (await client.get("/api/v1/analyses?active=true")).json()["data"]
    assert running in [d["analysisDbId"] for d in only_active]
    assert all(d["status"] in ("queued", "running") for d in only_active)
    assert len((await client.get("/api/v1/analyses?limit=1")).json()["data"]) == 1
    for bad in ("limit=0", "limit=101", "limit=ten", "active=maybe"):
        refused = await client.get(f"/api/v1/analyses?{bad}")
        assert refused.status_code == 422, (bad, refused.text)
    email = f"breeder-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["breeder"])
    other = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    assert (await client.get("/api/v1/analyses", headers=other)).json()["data"] == []
    with psycopg.connect(stack.database.owner_url) as conn:  # no stalled job for later tests
        conn.execute("DELETE FROM domain.analysis_jobs WHERE analysis_db_id = %s", (running,))


def fixed_token(token: str) -> Callable[[TenantId], Awaitable[str]]:
    async def token_for(_: TenantId) -> str:
        return token

    return token_for


async def test_worker_and_user_tokens_each_open_only_their_own_services(stack: DevStack) -> None:
    """Both kinds are identity's RS256 tokens; domain-api keeps them apart by role and service."""
    tenant = TenantId(uuid.UUID(DEMO_ORGANIZATION_ID))
    user_token = stack.login()
    async with httpx.AsyncClient(verify=stack.http_verify(WORKER_CLIENT_ID)) as http:
        worker_tokens = IdentityClientCredentials(
            http, stack.identity_url, WORKER_CLIENT_ID, stack.worker_client_secret
        )
        worker_token = await worker_tokens(tenant)
        assert await worker_tokens(tenant) == worker_token  # cached until shortly before expiry
        wrong = IdentityClientCredentials(
            http, stack.identity_url, WORKER_CLIENT_ID, "not-the-secret"
        )
        with pytest.raises(Unauthorized, match="401"):
            await wrong(tenant)
    async with stack.grpc_channel(f"127.0.0.1:{stack.ports.domain_api}") as channel:
        resources = ResourceClient(channel)
        with pytest.raises(NotFound):  # the user reads BrAPI data (this id does not exist)
            await resources.get(user_token, "germplasm", "no-such-germplasm")
        with pytest.raises(Forbidden):  # the worker may not
            await resources.get(worker_token, "germplasm", "no-such-germplasm")
        job = str(uuid.uuid4())
        as_user = AnalysisWorkerClient(channel, fixed_token(user_token))
        with pytest.raises(Forbidden):
            await as_user.claim(tenant, job, "impostor")
        as_worker = AnalysisWorkerClient(channel, fixed_token(worker_token))
        with pytest.raises(NotFound):  # authenticated and admitted; the job just does not exist
            await as_worker.claim(tenant, job, "worker-x")
        # Alerts and device presence are the worker's to report: a member (here an admin,
        # who may write sensors) cannot forge them by calling domain-api's gRPC port.
        with pytest.raises(Forbidden):
            await SensorsWorkerClient(channel, fixed_token(user_token)).open_alerts(tenant, [])
        assert (
            await SensorsWorkerClient(channel, fixed_token(worker_token)).open_alerts(tenant, [])
            == set()  # admitted: no firing, so no alert stands
        )


# ---- BrAPI genotype views (ADR 0191) -------------------------------------------------------


def _schema_validate() -> Callable[..., None]:
    """The conformance module's validator against the official v2.1 schemas."""
    import importlib.util

    path = Path(__file__).with_name("test_brapi_conformance.py")
    spec = importlib.util.spec_from_file_location("brapi_conformance_checks", path)
    assert spec is not None
    assert spec.loader is not None
    module = sys.modules.get(spec.name) or importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.validate


async def test_brapi_allele_matrix_and_calls_give_back_the_vcf_and_conform(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    from bijmantra.testkit.vcf import random_vcf

    validate = _schema_validate()
    written = random_vcf(np.random.default_rng(19), 9, 5, prefix=unique("G") + "-")
    response = await import_vcf(client, written.text().encode(), unique("brapi-calls"))
    assert response.status_code == 201, response.text
    set_id = response.json()["data"]["variantSetDbId"]
    expected = [[c.gt for c in site.calls] for site in written.sites]

    async def get(template: str, path: str, **params: Any) -> Any:
        answer = await client.get(f"/brapi/v2{path}", params=params)
        assert answer.status_code == 200, answer.text
        validate("GET", template, params, 200, answer.content)
        return answer.json()["result"]

    got = [[""] * 5 for _ in range(9)]
    for vp in range(3):
        for cp in range(3):
            matrix = await get(
                "/allelematrix",
                "/allelematrix",
                variantSetDbId=set_id,
                dimensionVariantPage=vp,
                dimensionVariantPageSize=4,
                dimensionCallSetPage=cp,
                dimensionCallSetPageSize=2,
            )
            for r, row in enumerate(matrix["dataMatrices"][0]["dataMatrix"]):
                for c, text in enumerate(row):
                    got[vp * 4 + r][cp * 2 + c] = text
    assert got == expected
    calls = []
    for page in range(4):
        calls += (await get("/calls", "/calls", variantSetDbId=set_id, page=page, pageSize=13))[
            "data"
        ]
    assert [c["genotypeValue"] for c in calls] == [t for row in expected for t in row]

    variant_set = await get("/variantsets/x", f"/variantsets/{set_id}")
    assert (variant_set["variantCount"], variant_set["callSetCount"]) == (9, 5)
    call_sets = (await get("/variantsets/x/callsets", f"/variantsets/{set_id}/callsets"))["data"]
    variants = (await get("/variantsets/x/variants", f"/variantsets/{set_id}/variants"))["data"]
    assert [v["start"] + 1 for v in variants] == [s.pos for s in written.sites]
    call_set_id, variant_id = call_sets[1]["callSetDbId"], variants[2]["variantDbId"]
    await get("/callsets/x", f"/callsets/{call_set_id}")
    await get("/variants/x", f"/variants/{variant_id}")
    mine = (await get("/callsets/x/calls", f"/callsets/{call_set_id}/calls"))["data"]
    assert [c["genotypeValue"] for c in mine] == [row[1] for row in expected]
    across = (await get("/variants/x/calls", f"/variants/{variant_id}/calls"))["data"]
    assert [c["genotypeValue"] for c in across] == expected[2]
    await get("/variantsets/x/calls", f"/variantsets/{set_id}/calls", pageSize=7)
    for entity in ("variantsets", "callsets", "variants", "calls", "allelematrix"):
        ticket = await client.post(f"/brapi/v2/search/{entity}", json={"variantSetDbIds": [set_id]})
        assert ticket.status_code == 202, ticket.text
        search_id = ticket.json()["result"]["searchResultsDbId"]
        await get(f"/search/{entity}/x", f"/search/{entity}/{search_id}")

    past = await client.get(
        "/brapi/v2/allelematrix", params={"variantSetDbId": set_id, "dimensionVariantPage": 5}
    )
    assert past.status_code == 400, past.text
    email = f"outsider-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["breeder"])
    headers = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    for path in (f"/variantsets/{set_id}", f"/callsets/{call_set_id}", f"/variants/{variant_id}"):
        foreign = await client.get(f"/brapi/v2{path}", headers=headers)
        assert foreign.status_code == 404, (path, foreign.text)
    foreign_calls = await client.get(
        "/brapi/v2/calls", params={"variantSetDbId": set_id}, headers=headers
    )
    assert foreign_calls.json()["result"]["data"] == []


# ---- PUT /calls (ADR 0197) ------------------------------------------------------------------


async def test_put_calls_rewrites_the_chunk_in_one_transaction_and_keeps_dosages_in_step(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    validate = _schema_validate()
    dosages = random_dosages(40, 6, seed=97)
    dosages[dosages < 0] = 0
    samples = [unique("P") for _ in range(6)]
    imported = await import_vcf(client, vcf_text(dosages, samples).encode(), unique("put-calls"))
    assert imported.status_code == 201, imported.text
    set_id = imported.json()["data"]["variantSetDbId"]
    listed = await client.get(f"/brapi/v2/variantsets/{set_id}/callsets")
    call_sets = [c["callSetDbId"] for c in listed.json()["result"]["data"]]

    async def calls_of(headers: dict[str, str] | None = None) -> list[str]:
        answer = await client.get(
            "/brapi/v2/calls",
            params={"variantSetDbId": set_id, "pageSize": 1000},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        return [c["genotypeValue"] for c in answer.json()["result"]["data"]]

    before = await calls_of()
    edits = [
        {"variantDbId": f"{set_id}:0", "callSetDbId": call_sets[1], "genotypeValue": "1|1"},
        {
            "variantDbId": f"{set_id}:33",
            "callSetDbId": call_sets[5],
            "variantSetDbId": set_id,
            "genotypeValue": "0/0/1/1",
            "genotypeMetadata": [{"fieldAbbreviation": "DS", "fieldValue": "2"}],
        },
        {
            "variantDbId": f"{set_id}:7",
            "callSetDbId": call_sets[0],
            "genotype": {"values": [".", "1"]},
        },
    ]
    answer = await client.put("/brapi/v2/calls", json=edits)
    assert answer.status_code == 200, answer.text
    validate("PUT", "/calls", {}, 200, answer.content)
    after = await calls_of()
    changed = {k for k, (a, b) in enumerate(zip(before, after, strict=True)) if a != b}
    assert changed == {0 * 6 + 1, 33 * 6 + 5, 7 * 6 + 0}
    assert (after[1], after[33 * 6 + 5], after[7 * 6]) == ("1|1", "0/0/1/1", "./1")
    ds = await client.get(
        "/brapi/v2/allelematrix",
        params={
            "variantSetDbId": set_id,
            "dataMatrixAbbreviations": "DS",
            "dimensionVariantPage": 0,
        },
    )
    assert ds.json()["result"]["dataMatrices"][0]["dataMatrix"][33][5] == "2"
    expected = dosages.copy()
    expected[0, 1], expected[33, 5], expected[7, 0] = 2, -1, -1  # tetraploid, half-missing
    assert np.array_equal(await read_back(client, set_id), expected)
    call_set = await client.get(f"/brapi/v2/callsets/{call_sets[5]}")
    assert call_set.json()["result"]["additionalInfo"]["ploidy"] == "4"
    events = count_rows(
        stack,
        "SELECT count(*) FROM domain.outbox WHERE type = 'call.updated.bulk' AND aggregate_id = %s",
        f"{set_id}:0/{call_sets[1]}",
    )
    assert events == 1

    refused = {
        "allele past the variant's ALT": [{**edits[0], "genotypeValue": "0/2"}],
        "mixed separators": [{**edits[0], "genotypeValue": "0/1|1"}],
        "ploidy nine": [{**edits[0], "genotypeValue": "/".join("0" * 9)}],
        "the same call twice": [edits[0], edits[0]],
        "no genotype": [{"variantDbId": f"{set_id}:0", "callSetDbId": call_sets[1]}],
        "a DS that is not a number": [
            {**edits[0], "genotypeMetadata": [{"fieldAbbreviation": "DS", "fieldValue": "x"}]}
        ],
        "an empty body": [],
        "too many calls": [edits[0]] * 10_001,
    }
    for reason, body in refused.items():
        response = await client.put("/brapi/v2/calls", json=body)
        assert response.status_code == 400, (reason, response.text)
    unknown = [
        [{**edits[0], "callSetDbId": "no-such-call-set"}],
        [{**edits[0], "variantDbId": f"{set_id}:40"}],
        [{**edits[0], "variantDbId": "elsewhere:0"}],
    ]
    for body in unknown:
        response = await client.put("/brapi/v2/calls", json=[edits[1], *body])
        assert response.status_code == 404, response.text
    assert await calls_of() == after  # every refusal left every call as it was

    email = f"viewer-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["viewer"])
    viewer = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    assert (await client.put("/brapi/v2/calls", json=edits, headers=viewer)).status_code == 403
    email = f"outsider-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["breeder"])
    outsider = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    response = await client.put("/brapi/v2/calls", json=edits, headers=outsider)
    assert response.status_code == 404, response.text
    assert await calls_of() == after


async def test_extract_copies_the_chosen_calls_into_a_new_variant_set(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    from bijmantra.testkit.vcf import random_vcf

    validate = _schema_validate()
    written = random_vcf(np.random.default_rng(23), 12, 5, prefix=unique("X") + "-")
    response = await import_vcf(client, written.text().encode(), unique("extract-from"))
    assert response.status_code == 201, response.text
    source = response.json()["data"]["variantSetDbId"]
    listed = await client.get(f"/brapi/v2/variantsets/{source}/callsets")
    call_sets = [c["callSetDbId"] for c in listed.json()["result"]["data"]]
    rows, columns = [1, 4, 5, 11], [0, 3]
    body = {
        "variantDbIds": [f"{source}:{i}" for i in rows],
        "callSetDbIds": [call_sets[c] for c in columns],
        "sepPhased": "|",
    }
    answer = await client.post("/brapi/v2/variantsets/extract", json=body)
    assert answer.status_code == 200, answer.text
    validate("POST", "/variantsets/extract", {}, 200, answer.content)
    extracted = answer.json()["result"]
    assert (extracted["variantCount"], extracted["callSetCount"]) == (4, 2)
    new_id = extracted["variantSetDbId"]
    matrix = await client.get(
        "/brapi/v2/allelematrix",
        params={"variantSetDbId": new_id, "dataMatrixAbbreviations": "GT,DS"},
    )
    layers = {
        m["dataMatrixAbbreviation"]: m["dataMatrix"]
        for m in matrix.json()["result"]["dataMatrices"]
    }
    assert layers["GT"] == [[written.sites[r].calls[c].gt for c in columns] for r in rows]
    original = await client.get(
        "/brapi/v2/allelematrix",
        params={"variantSetDbId": source, "dataMatrixAbbreviations": "DS"},
    )
    whole = original.json()["result"]["dataMatrices"][0]["dataMatrix"]
    assert layers["DS"] == [[whole[r][c] for c in columns] for r in rows]
    assert np.array_equal(
        await read_back(client, new_id), (await read_back(client, source))[np.ix_(rows, columns)]
    )
    variants = await client.get(f"/brapi/v2/variantsets/{new_id}/variants")
    positions = [v["start"] + 1 for v in variants.json()["result"]["data"]]
    assert positions == [written.sites[r].pos for r in rows]

    other = await import_vcf(client, written.text().encode(), unique("extract-other"))
    other_id = other.json()["data"]["variantSetDbId"]
    for bad in (
        {},
        {"variantSetDbIds": [source, other_id]},
        {"variantSetDbIds": [source], "studyDbIds": ["s"]},
        {"variantDbIds": [1, 2]},
    ):
        response = await client.post("/brapi/v2/variantsets/extract", json=bad)
        assert response.status_code == 400, (bad, response.text)
    missing = await client.post("/brapi/v2/variantsets/extract", json={"variantSetDbIds": ["none"]})
    assert missing.status_code == 404, missing.text

    email = f"viewer-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["viewer"])
    viewer = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    refused = await client.post("/brapi/v2/variantsets/extract", json=body, headers=viewer)
    assert refused.status_code == 403, refused.text
    email = f"outsider-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["breeder"])
    outsider = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    foreign = await client.post("/brapi/v2/variantsets/extract", json=body, headers=outsider)
    assert foreign.status_code == 404, foreign.text


# ---- exports: availableFormats and their files (ADR 0199) -----------------------------------


async def test_available_formats_download_and_the_vcf_reimports_to_the_same_calls(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    from bijmantra.testkit.vcf import random_vcf

    written = random_vcf(np.random.default_rng(29), 30, 7, prefix=unique("E") + "-")
    response = await import_vcf(client, written.text().encode(), unique("export-from"))
    assert response.status_code == 201, response.text
    source = response.json()["data"]["variantSetDbId"]
    variant_set = (await client.get(f"/brapi/v2/variantsets/{source}")).json()["result"]
    formats = {f["dataFormat"]: f["fileURL"] for f in variant_set["availableFormats"]}
    assert set(formats) == {"VCF", "Hapmap", "tabular"}  # tabular: the Flapjack, PLINK zips
    assert all(url.startswith(stack.gateway_url) for url in formats.values())

    vcf = await client.get(formats["VCF"])
    assert vcf.status_code == 200, vcf.text
    assert vcf.headers["content-type"].startswith("text/tab-separated-values")
    again = await import_vcf(client, vcf.content, unique("export-again"))
    assert again.status_code == 201, again.text
    copy = again.json()["data"]["variantSetDbId"]

    async def layers(set_id: str) -> list[Any]:
        answer = await client.get(
            "/brapi/v2/allelematrix",
            params={"variantSetDbId": set_id, "dataMatrixAbbreviations": "GT,DS,GQ,DP"},
        )
        return [m["dataMatrix"] for m in answer.json()["result"]["dataMatrices"]]

    assert await layers(copy) == await layers(source)
    assert (await layers(source))[0] == [[c.gt for c in site.calls] for site in written.sites]

    hapmap = await client.get(formats["Hapmap"])
    assert hapmap.status_code == 200, hapmap.text
    header, *lines = hapmap.text.splitlines()
    assert header.split("\t")[11:] == [f"{written.samples[j]}" for j in range(7)]
    assert [int(line.split("\t")[3]) for line in lines] == [s.pos for s in written.sites]

    unknown = await client.get(f"/api/v1/variantsets/{source}/files/plink-text")
    assert unknown.status_code == 422, unknown.text  # the platform API's validation status
    email = f"outsider-{uuid.uuid4().hex[:8]}@example.org"
    await asyncio.to_thread(stack.register_member, email, "pw-123456", ["breeder"])
    outsider = {"Authorization": f"Bearer {stack.login(email, 'pw-123456')}"}
    foreign = await client.get(formats["VCF"], headers=outsider)
    assert foreign.status_code == 404, foreign.text


async def test_plink_and_flapjack_zips_hold_the_set_and_the_bed_reimports_to_the_same_dosages(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    g = random_dosages(41, 6, seed=43)
    samples, imported, set_id = await imported_set(client, g, "Z")
    variant_set = (await client.get(f"/brapi/v2/variantsets/{set_id}")).json()["result"]
    reference_set = imported.json()["data"]["referenceSetDbId"]
    assert variant_set["referenceSetDbId"] == reference_set  # the file's contigs (ADR 0273)
    contigs = await client.get("/brapi/v2/references", params={"referenceSetDbId": reference_set})
    assert [r["referenceName"] for r in contigs.json()["result"]["data"]] == [
        "chr1",
        "chr2",
        "chr3",
    ]
    # Variants name their reference (ADR 0296) and a referenceDbId filter picks its contig.
    reference_of = {
        r["referenceName"]: r["referenceDbId"] for r in contigs.json()["result"]["data"]
    }
    listed = await client.get(
        "/brapi/v2/variants", params={"variantSetDbId": set_id, "pageSize": 100}
    )
    variants = listed.json()["result"]["data"]
    assert all(v["referenceDbId"] == reference_of[v["referenceName"]] for v in variants)
    assert {v["referenceSetDbId"] for v in variants} == {reference_set}
    on_chr2 = await client.get(
        "/brapi/v2/variants", params={"referenceDbId": reference_of["chr2"], "pageSize": 100}
    )
    expected = [v["variantDbId"] for v in variants if v["referenceName"] == "chr2"]
    assert [v["variantDbId"] for v in on_chr2.json()["result"]["data"]] == expected != []
    urls = {f["fileURL"].rsplit("/", 1)[1]: f for f in variant_set["availableFormats"]}
    assert set(urls) == {"vcf", "hapmap", "flapjack", "plink"}
    assert urls["plink"]["fileFormat"] == urls["flapjack"]["fileFormat"] == "application/zip"

    plink = await client.get(urls["plink"]["fileURL"])
    assert plink.status_code == 200, plink.text
    assert plink.headers["content-type"].startswith("application/zip")
    files = zipfile.ZipFile(io.BytesIO(plink.content))
    bed, bim, fam = (files.read(f"{set_id}.{ext}") for ext in ("bed", "bim", "fam"))
    expected_bed, _, _ = plink_files(g, samples)  # the plain encoder this module tests with
    assert bed == expected_bed
    assert [line.split("\t")[1] for line in bim.decode().splitlines()] == [
        f"snp{i}" for i in range(41)
    ]
    again = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("from-plink"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed), "bim": ("x.bim", bim), "fam": ("x.fam", fam)},
    )
    assert again.status_code == 201, again.text
    np.testing.assert_array_equal(
        await read_back(client, again.json()["data"]["variantSetDbId"]), g
    )

    flapjack = await client.get(urls["flapjack"]["fileURL"])
    assert flapjack.status_code == 200, flapjack.text
    files = zipfile.ZipFile(io.BytesIO(flapjack.content))
    spelled = {-1: "-", 0: "A", 1: "A/G", 2: "G"}
    expected = ["# fjFile = GENOTYPE", "\t" + "\t".join(f"snp{i}" for i in range(41))] + [
        "\t".join([name, *(spelled[int(d)] for d in g[:, j])]) for j, name in enumerate(samples)
    ]
    assert files.read(f"{set_id}.genotype").decode().splitlines() == expected
    assert files.read(f"{set_id}.map").decode().splitlines()[1] == "snp0\tchr1\t1000"

    outsider = await member_headers(stack, "outsider")
    foreign = await client.get(urls["plink"]["fileURL"], headers=outsider)
    assert foreign.status_code == 404, foreign.text


async def test_hapmap_and_flapjack_files_import_and_bad_ones_name_the_line_and_store_nothing(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    g = random_dosages(37, 5, seed=47)
    _, _, set_id = await imported_set(client, g, "H")
    hapmap = (await client.get(f"/api/v1/variantsets/{set_id}/files/hapmap")).content
    flapjack = zipfile.ZipFile(
        io.BytesIO((await client.get(f"/api/v1/variantsets/{set_id}/files/flapjack")).content)
    )
    genotype, genetic_map = (flapjack.read(f"{set_id}.{ext}") for ext in ("genotype", "map"))

    async def import_hapmap(body: bytes) -> httpx.Response:
        params = {"name": unique("hmp"), "commonCropName": "Cassava", "format": "hapmap"}
        return await client.post("/api/v1/genotypes/imports", params=params, content=body)

    async def import_flapjack(genotype: bytes, genetic_map: bytes) -> httpx.Response:
        return await client.post(
            "/api/v1/genotypes/imports",
            params={"name": unique("fj"), "commonCropName": "Cassava"},
            files={"genotype": ("x.genotype", genotype), "map": ("x.map", genetic_map)},
        )

    from_hapmap = await import_hapmap(gzip.compress(hapmap))
    assert from_hapmap.status_code == 201, from_hapmap.text
    np.testing.assert_array_equal(
        await read_back(client, from_hapmap.json()["data"]["variantSetDbId"]), g
    )
    from_flapjack = await import_flapjack(genotype, genetic_map)
    assert from_flapjack.status_code == 201, from_flapjack.text
    copy = from_flapjack.json()["data"]["variantSetDbId"]
    variants = await client.get("/brapi/v2/variants", params={"variantSetDbId": copy})
    refs = [v["referenceBases"] for v in variants.json()["result"]["data"]]
    # Flapjack names no REF: the first allele seen is stored as REF, so count copies of G
    # there; a marker with one allele seen has no ALT, so no dosage (its calls are kept).
    flipped = np.array([r == "G" for r in refs])[:, None]
    seen_a, seen_g = ((g == 0) | (g == 1)).any(axis=1), ((g == 1) | (g == 2)).any(axis=1)
    expected = np.where((g >= 0) & flipped, 2 - g, g)
    expected[~(seen_a & seen_g)] = -1
    np.testing.assert_array_equal(await read_back(client, copy), expected)

    before = count_rows(stack, "SELECT count(*) FROM domain.variant_sets")
    lines = hapmap.decode().splitlines()
    lines[7] = lines[7].rsplit("\t", 1)[0] + "\tAC"
    bad = await import_hapmap(("\n".join(lines) + "\n").encode())
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["details"][0]["location"] == ".hmp.txt:line 8"
    assert "genotype 'AC'" in bad.json()["error"]["message"]
    bad_map = await import_flapjack(genotype, genetic_map.replace(b"\t1010\n", b"\t10.1\n"))
    assert bad_map.status_code == 422, bad_map.text
    assert bad_map.json()["error"]["details"][0]["location"] == ".map:line 3"
    rows = genotype.decode().splitlines()
    rows[3] = rows[3].rsplit("\t", 1)[0]  # a sample row one cell short
    bad_rows = await import_flapjack(("\n".join(rows) + "\n").encode(), genetic_map)
    assert bad_rows.status_code == 422, bad_rows.text
    assert bad_rows.json()["error"]["details"][0]["location"] == ".genotype:line 4"
    raw_plink = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("x"), "commonCropName": "Cassava", "format": "plink"},
        content=b"x",
    )
    assert raw_plink.status_code == 422, raw_plink.text

    viewer = await member_headers(stack, "viewer")
    refused = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("v"), "commonCropName": "Cassava", "format": "hapmap"},
        content=hapmap,
        headers=viewer,
    )
    assert refused.status_code == 403, refused.text
    assert count_rows(stack, "SELECT count(*) FROM domain.variant_sets") == before


async def test_a_tetraploid_set_round_trips_through_flapjack(client: httpx.AsyncClient) -> None:
    """VCF -> Flapjack export -> Flapjack import keeps every tetraploid call (ADR 0296);
    alleles are renumbered by first appearance, so the calls are compared as bases."""
    rng = np.random.default_rng(19)
    samples = [unique("T4") for _ in range(5)]
    header = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)
    lines = ["##fileformat=VCFv4.2", header]
    for v in range(9):
        calls = ["/".join(map(str, rng.integers(0, 3, 4))) for _ in samples]
        calls[v % 5] = "./././." if v > 4 else calls[v % 5]
        lines.append(f"chr1\t{100 + v}\tm{v}\tA\tT,G\t.\t.\t.\tGT\t" + "\t".join(calls))
    source = await import_vcf(client, ("\n".join(lines) + "\n").encode(), unique("t4"))
    assert source.status_code == 201, source.text
    source_id = source.json()["data"]["variantSetDbId"]
    archive = await client.get(f"/api/v1/variantsets/{source_id}/files/flapjack")
    files = zipfile.ZipFile(io.BytesIO(archive.content))
    copy = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": unique("t4fj"), "commonCropName": "Cassava"},
        files={
            "genotype": ("x.genotype", files.read(f"{source_id}.genotype")),
            "map": ("x.map", files.read(f"{source_id}.map")),
        },
    )
    assert copy.status_code == 201, copy.text

    async def bases(set_id: str) -> list[list[str]]:
        variants = await client.get("/brapi/v2/variants", params={"variantSetDbId": set_id})
        alleles = [
            [v["referenceBases"], *v["alternateBases"]] for v in variants.json()["result"]["data"]
        ]
        page = await client.get("/brapi/v2/allelematrix", params={"variantSetDbId": set_id})
        matrix = page.json()["result"]["dataMatrices"][0]["dataMatrix"]
        return [
            [
                "".join("-" if a == "." else alleles[v][int(a)] for a in call.split("/"))
                for call in row
            ]
            for v, row in enumerate(matrix)
        ]

    assert await bases(copy.json()["data"]["variantSetDbId"]) == await bases(source_id)
    ploidies = await client.get(
        "/brapi/v2/callsets", params={"variantSetDbId": copy.json()["data"]["variantSetDbId"]}
    )
    assert {c["additionalInfo"]["ploidy"] for c in ploidies.json()["result"]["data"]} == {"4"}


async def test_allele_matrix_variant_filters_keep_what_numpy_keeps(
    client: httpx.AsyncClient,
) -> None:
    g = random_dosages(120, 9, seed=41)
    samples = [unique("F") for _ in range(9)]
    imported = await import_vcf(client, vcf_text(g, samples).encode(), unique("filters"))
    assert imported.status_code == 201, imported.text
    set_id = imported.json()["data"]["variantSetDbId"]
    listed = await client.get(f"/brapi/v2/variantsets/{set_id}/callsets")
    call_sets = [c["callSetDbId"] for c in listed.json()["result"]["data"]]
    chosen = [0, 2, 3, 5, 8]
    sub = g[:, chosen].astype(np.int64)
    called = (sub >= 0).sum(axis=1)
    alt = np.where(sub >= 0, sub, 0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = alt / (2 * called)
        maf, het = np.minimum(p, 1 - p), (sub == 1).sum(axis=1) / called
    keep = (maf >= 0.2) & (called / len(chosen) >= 0.8) & (het <= 0.6)
    expected = [f"{set_id}:{i}" for i in np.flatnonzero(keep)]
    params: list[tuple[str, str | int]] = [("variantSetDbId", set_id)]
    params += [("callSetDbId", call_sets[j]) for j in chosen]
    params += [("minMaf", "0.2"), ("minCallRate", "0.8"), ("maxHeterozygosity", "0.6")]
    got: list[str] = []
    for page in range(3):
        answer = await client.get(
            "/brapi/v2/allelematrix",
            params=[*params, ("dimensionVariantPage", page), ("dimensionVariantPageSize", 50)],
        )
        if page * 50 >= len(expected) and page:
            assert answer.status_code == 400, answer.text
            break
        assert answer.status_code == 200, answer.text
        result = answer.json()["result"]
        assert result["pagination"][0]["totalCount"] == len(expected)
        got += result["variantDbIds"]
    assert 0 < len(expected) < 120
    assert got == expected
    for bad in (("minMaf", "2"), ("minCallRate", "x"), ("maxHeterozygosity", "-0.1")):
        refused = await client.get(
            "/brapi/v2/allelematrix", params=[("variantSetDbId", set_id), bad]
        )
        assert refused.status_code == 400, refused.text
    ticket = await client.post("/brapi/v2/search/allelematrix", json={"minMaf": 3})
    assert ticket.status_code == 400, ticket.text


async def test_genotype_reads_matching_nothing_are_empty_and_unstorable_filters_are_400(
    client: httpx.AsyncClient, dataset: Dataset
) -> None:
    """Found by attacking: a filter matching nothing once sent PostgreSQL a NUL sentinel, and
    digits ``int`` refuses or an index past ``integer`` reached it too: all 500s."""
    for query in ({"callSetDbId": "no-such"}, {"germplasmName": "no-such"}):
        empty = await client.get("/brapi/v2/allelematrix", params=query)
        assert empty.status_code == 200, empty.text
        assert empty.json()["result"]["variantDbIds"] == []
    past = f"{dataset.variant_set_db_id}:99999999999"
    none = await client.get("/brapi/v2/variants", params={"variantDbId": past})
    assert (none.status_code, none.json()["result"]["data"]) == (200, [])
    assert (await client.get(f"/brapi/v2/variants/{past}")).status_code == 404
    for path, query in [
        ("/brapi/v2/allelematrix", {"germplasmName": "a\x00b"}),
        ("/brapi/v2/variants", {"positionRange": "chr1:\u00b2-\u00b3"}),
        ("/brapi/v2/calls", {"variantSetDbId": "\x00"}),
        ("/api/v1/analyses", {"limit": "99999999999"}),
    ]:
        refused = await client.get(path, params=query)
        assert 400 <= refused.status_code < 500, (path, query, refused.text)


async def test_an_unstorable_vcf_line_is_named_and_nothing_is_stored(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    good = vcf_text(random_dosages(3, 2, seed=5), [unique("u"), unique("u")])
    contig = good.replace("##FORMAT", "##contig=<ID=chr1,length=\u00b2>\n##FORMAT", 1)
    assert (await import_vcf(client, contig.encode(), unique("c"))).status_code == 201
    before = count_rows(stack, "SELECT count(*) FROM domain.variant_sets")
    lines = good.splitlines()
    for bad in (
        lines[3].replace("\t1000\t", "\t99999999999999999999\t"),  # past bigint
        lines[3].replace("snp0", "sn\x00p"),  # PostgreSQL text cannot hold a NUL
    ):
        body = "\n".join([*lines[:3], bad, *lines[4:]]) + "\n"
        refused = await import_vcf(client, body.encode(), unique("bad"))
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["details"][0]["location"] == ".vcf:line 4"
    assert count_rows(stack, "SELECT count(*) FROM domain.variant_sets") == before


async def test_after_redis_restarts_empty_old_tokens_are_refused_and_the_worker_renews_its(
    client: httpx.AsyncClient, dataset: Dataset, stack: DevStack
) -> None:
    """ADR 0336, last in this module (it renews the module's token). Redis restarts without
    its data: a token issued before is refused (the revocation list cannot vouch for it),
    a new sign-in works, and the worker, whose cached service tokens are all older, renews
    them when refused, so an analysis requested now completes."""
    body = {"type": "qc", "variantSetDbId": dataset.variant_set_db_id}
    before = (await client.post("/api/v1/analyses", json=body)).json()["data"]["analysisDbId"]
    assert (await finished_analysis(client, before))[
        "status"
    ] == "completed"  # the worker holds a token
    await asyncio.sleep(1.1)  # the list begins a second before its Redis started
    redis = stack.local_server(LocalRedis)
    await asyncio.to_thread(redis.stop)
    await asyncio.to_thread(redis.start)
    refused = await client.get("/api/v1/analyses")
    assert refused.status_code == 401, refused.text
    await asyncio.sleep(1.0)  # a token issued now carries a later second than the start
    client.headers["Authorization"] = f"Bearer {stack.login()}"
    requested = await client.post("/api/v1/analyses", json=body)
    assert requested.status_code == 202, requested.text
    finished = await finished_analysis(
        client, requested.json()["data"]["analysisDbId"], patience=60
    )
    assert finished["status"] == "completed", finished
