"""Genotype store and analysis jobs through the whole topology: HTTP upload -> gateway ->
gRPC client stream -> domain-api (one transaction) -> outbox -> JetStream work queue ->
analytics-worker replicas -> gRPC chunk stream -> kernels -> results on the job resource.

Test files are written the plain way (string formatting, bit twiddling), independent of
``bijmantra.genomics.formats``, so a parser bug cannot hide behind a writer with the same bug.
"""

from __future__ import annotations

import gzip
import io
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psycopg
import pytest
from bijmantra.testkit.devstack import DevStack, Ports
from bijmantra.testkit.servers import free_port

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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    workdir = tmp_path_factory.mktemp("genotype-stack")
    stack = DevStack(workdir, Ports(gateway=free_port()), log_dir=workdir / "logs")
    try:
        stack.start_servers()
        stack.seed(testdata=False)
        stack.start_services()
        yield stack
    except Exception:
        _dump_logs(workdir / "logs")
        raise
    finally:
        stack.stop()


def _dump_logs(folder: Path) -> None:
    for log in sorted(folder.glob("*.log")):
        print(f"==== {log.name}\n{log.read_text()[-6000:]}")


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
    assert summary["variantsImported"] == 300
    assert summary["samplesImported"] == 13
    assert summary["variantsSkipped"] == {"multiallelic": 1, "not_snp": 1}
    assert summary["germplasmCreated"] == 13
    stored = await read_back(client, summary["variantSetDbId"])
    np.testing.assert_array_equal(stored, g)

    document = (await client.get(f"/api/v1/variantsets/{summary['variantSetDbId']}")).json()["data"]
    assert [c["sampleName"] for c in document["callSets"]] == samples
    subset = [document["callSets"][i]["callSetDbId"] for i in (7, 2, 11)]
    np.testing.assert_array_equal(
        await read_back(client, summary["variantSetDbId"], subset), g[:, [7, 2, 11]]
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
    assert short.status_code == 422 and "line 11" in short.json()["error"]["message"]

    not_vcf = await import_vcf(client, b"hello\tworld\n", unique("bad"))
    assert not_vcf.status_code == 422 and "line 1" in not_vcf.json()["error"]["message"]

    bed, bim, fam = plink_files(g, samples)
    broken_bim = bim.replace(b"snp7\t0\t507\tG\tA", b"snp7\t0\tG\tA")
    plink = await client.post(
        "/api/v1/genotypes/imports", params={"name": unique("bad"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed), "bim": ("x.bim", broken_bim), "fam": ("x.fam", fam)},
    )  # fmt: skip
    assert plink.status_code == 422 and ".bim line 8" in plink.json()["error"]["message"]
    truncated = await client.post(
        "/api/v1/genotypes/imports", params={"name": unique("bad"), "commonCropName": "Cassava"},
        files={"bed": ("x.bed", bed[:-3]), "bim": ("x.bim", bim), "fam": ("x.fam", fam)},
    )  # fmt: skip
    assert (
        truncated.status_code == 422
        and "size does not match" in truncated.json()["error"]["message"]
    )

    assert count_rows(stack, "SELECT count(*) FROM domain.variant_sets") == before
    assert (
        count_rows(
            stack, "SELECT count(*) FROM domain.germplasm WHERE germplasm_name = ANY(%s)", samples
        )
        == 0
    )
