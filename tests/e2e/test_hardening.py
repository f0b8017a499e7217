"""The attacks of issue 17 against the four services as processes: each probe that once cost
gigabytes, a wrong status or a lost event is a permanent test here (one stack for all)."""

from __future__ import annotations

import io
import json
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator

import httpx
import numpy as np
import psutil
import pytest
from bijmantra.testkit.devstack import DevStack, running_stack

pytestmark = [pytest.mark.e2e]
MiB = 1 << 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("stack"), testdata=True) as stack:
        yield stack


@pytest.fixture(scope="module")
async def client(stack: DevStack) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60, headers=headers) as c:
        yield c


def peak_and_current_rss(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of a process in bytes: its high-water mark and what it holds now."""
    fields = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                fields[name] = int(value.split()[0]) * 1024
    return fields["VmHWM"], fields["VmRSS"]


async def test_memory_attacks_are_refused_and_domain_api_stays_near_its_start(
    client: httpx.AsyncClient, stack: DevStack
) -> None:
    domain_api = psutil.Process(stack.services["domain-api"].pid)
    warm = await client.get("/brapi/v2/germplasm", params={"pageSize": 10})
    assert warm.status_code == 200
    _, start = peak_and_current_rss(domain_api.pid)

    million = b"[" + b",".join([b"{}"] * 1_000_000) + b"]"
    bulk = await client.post(
        "/brapi/v2/germplasm", content=million, headers={"Content-Type": "application/json"}
    )
    assert bulk.status_code == 400, bulk.text
    assert "Too many items" in json.dumps(bulk.json()["metadata"]["status"])

    ids = [str(uuid.uuid4()) for _ in range(60_000)]
    search = await client.post("/brapi/v2/search/germplasm", json={"germplasmDbIds": ids})
    assert search.status_code == 400, search.text
    assert "at most 10000 values per filter" in json.dumps(search.json()["metadata"]["status"])

    header = b"##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n"
    deflate = zlib.compressobj(9, wbits=31)  # gzip of a 64 MiB line, twice the line cap
    zeros = b"0" * MiB
    bomb = b"".join(
        [deflate.compress(header + b"2\t1\t"), *(deflate.compress(zeros) for _ in range(64))]
    )
    bomb += deflate.flush()
    assert len(bomb) < MiB
    upload = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": "bomb", "commonCropName": "Cassava"},
        content=bomb,
    )
    assert upload.status_code == 422, upload.text
    assert "line longer than" in upload.json()["error"]["message"]

    peak, now = peak_and_current_rss(domain_api.pid)
    # Unbounded, these three took domain-api from ~130 MB to 1.9-4.2 GB and kept it there.
    assert now < 1.5 * start, (start, now)
    assert peak < 2 * start, (start, peak)


async def test_dosages_npy_is_streamed_not_built_whole(client: httpx.AsyncClient) -> None:
    rows = [f"2\t{i + 1}\tv{i}\tC\tT\t.\t.\t.\tGT\t0/1\t1/1\t0/0".encode() for i in range(5000)]
    vcf = b"##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    vcf += b"a\tb\tc\n" + b"\n".join(rows) + b"\n"
    imported = await client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"stream-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        content=vcf,
    )
    assert imported.status_code == 201, imported.text
    variant_set = imported.json()["data"]["variantSetDbId"]
    async with client.stream("GET", f"/api/v1/variantsets/{variant_set}/dosages.npy") as reply:
        assert reply.status_code == 200
        # Sent as it is read (chunked), not as one body of known length built first.
        assert reply.headers.get("transfer-encoding") == "chunked"
        assert "content-length" not in reply.headers
        body = b"".join([piece async for piece in reply.aiter_bytes()])
    matrix = np.load(io.BytesIO(body))
    assert matrix.shape == (5000, 3)
    assert matrix[0].tolist() == [1, 2, 0]
    unknown = await client.get(
        f"/api/v1/variantsets/{variant_set}/dosages.npy", params={"callSetDbId": "nope"}
    )
    assert unknown.status_code in (404, 422), unknown.text
