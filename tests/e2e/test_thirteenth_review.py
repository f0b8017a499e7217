"""The thirteenth adversarial review (ADR 0376): huge and hostile input. Each hole it found,
as an attack on a running stack (one stack for the module)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psutil
import pytest
from bijmantra.application.genotyping.imports import MAX_NAME_CHARS
from bijmantra.devstack.stack import DevStack, running_stack
from bijmantra.gateway.multipart_form import MAX_FIELD_BYTES, MAX_PARTS
from bijmantra.kernel.pagination import MAX_PAGE_BYTES

pytestmark = [pytest.mark.e2e]
BOUNDARY = "r13boundary"
MIB = 1 << 20


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_stack(tmp_path_factory.mktemp("review13")) as stack:
        yield stack


@pytest.fixture(scope="module")
def client(stack: DevStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.login()}"}
    with httpx.Client(base_url=stack.gateway_url, timeout=120, headers=headers) as c:
        yield c


def part(name: str, value: bytes, extra: str = "") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode()
        + value
        + b"\r\n"
    )


def post_form(client: httpx.Client, body: bytes | Iterator[bytes]) -> httpx.Response:
    return client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"r13-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        content=body,
    )


def high_water_mark(pid: int) -> int:
    """The sum of the highest resident memory (VmHWM) of a process and its workers."""
    processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    total = 0
    for process in processes:
        with open(f"/proc/{process.pid}/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
        total += int(line.split()[1]) * 1024
    return total


def test_a_huge_form_field_is_refused_as_it_arrives_not_held(
    stack: DevStack, client: httpx.Client
) -> None:
    """A multipart part without a file name was kept in the gateway's memory whole, up to the
    upload's 4 GiB bound (400 MB sent: the gateway grew by 690 MB), before the import
    looked at it. Now 413 in the platform's envelope past 128 KiB, and the gateway's
    memory does not follow the body."""

    def body() -> Iterator[bytes]:
        yield f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="bim"\r\n\r\n'.encode()
        for _ in range(256):
            yield b"a" * MIB
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    gateway = stack.services["gateway"].pid
    before = high_water_mark(gateway)
    try:
        answer = post_form(client, body())
    except httpx.WriteError:  # the gateway answered and closed before the body ended
        answer = post_form(client, part("bim", b"a" * (MAX_FIELD_BYTES + 1)))
    assert answer.status_code == 413, answer.text
    assert str(MAX_FIELD_BYTES) in answer.json()["error"]["message"]
    assert high_water_mark(gateway) - before < 64 * MIB


def test_many_file_parts_are_refused_past_the_forms_parts(client: httpx.Client) -> None:
    """Each of up to 1,000 file parts was held in memory up to 1 MiB (999 of them: the
    gateway grew by 1 GB)."""
    files = b"".join(
        part("bed", b"x" * 1024, extra=f'; filename="f{n}.bed"') for n in range(MAX_PARTS + 1)
    )
    answer = post_form(client, files + f"--{BOUNDARY}--\r\n".encode())
    assert answer.status_code == 413, answer.text
    assert answer.json()["error"]["message"] == f"A form has at most {MAX_PARTS} parts"


@pytest.mark.parametrize(
    ("value", "extra"),
    [
        (b"\xff\xfe\xfa", ""),  # not UTF-8
        (b"abc", "; charset=no-such-charset"),
        (b"abc", "; charset=utf-16"),  # an odd number of bytes
    ],
)
def test_a_field_its_charset_cannot_decode_is_a_400(
    client: httpx.Client, value: bytes, extra: str
) -> None:
    """Each answered 500 (UnicodeDecodeError, LookupError out of Litestar's parser)."""
    header = f"\r\nContent-Type: text/plain{extra}" if extra else ""
    answer = post_form(client, part("name", value, header) + f"--{BOUNDARY}--\r\n".encode())
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "validation"


def test_a_page_of_large_documents_is_refused_past_its_bytes(client: httpx.Client) -> None:
    """Documents of up to 1 MB each may be stored, and a page holds up to 10,000: a page of
    100 such was 100 MB, which took domain-api up 300 MB and the gateway 380 MB (10 GB
    at 10,000), built whole by PostgreSQL (whose values stop at 1 GB) on the way."""
    crop = f"r13-{uuid.uuid4().hex[:6]}"
    filler = "x" * 900_000
    count = MAX_PAGE_BYTES // 900_000 + 4
    for batch in range(0, count, 8):
        germplasm = [
            {
                "germplasmName": f"{crop}-{n}",
                "germplasmPUI": f"{crop}:{n}",
                "commonCropName": crop,
                "additionalInfo": {"filler": filler},
            }
            for n in range(batch, min(batch + 8, count))
        ]
        assert client.post("/brapi/v2/germplasm", json=germplasm).status_code == 200
    listed = client.get("/brapi/v2/germplasm", params={"commonCropName": crop, "pageSize": count})
    assert listed.status_code == 400, listed.text[:300]
    assert "pageSize" in listed.text
    half = client.get(
        "/brapi/v2/germplasm", params={"commonCropName": crop, "pageSize": count // 2}
    )
    assert half.status_code == 200
    assert len(half.json()["result"]["data"]) == count // 2

    search = client.post("/brapi/v2/search/germplasm", json={"commonCropNames": [crop]})
    assert search.status_code == 202, search.text[:300]
    results = f"/brapi/v2/search/germplasm/{search.json()['result']['searchResultsDbId']}"
    found = client.get(results, params={"pageSize": count})
    assert found.status_code == 400, found.text[:300]
    assert client.get(results, params={"pageSize": count // 2}).status_code == 200


def test_a_large_side_file_streams_through_the_gateway(
    stack: DevStack, client: httpx.Client
) -> None:
    """A side file (.map, .bim, .fam, up to 256 MiB) was read whole and sent inside the
    upload's first gRPC message: a 118 MiB map took the gateway up 2.2 GB. It follows the
    header in pieces now, as the main file does."""
    markers = 2_000_000
    genetic_map = b"".join(b"m%x\tchr1\t%d\n" % (n, n + 1) for n in range(markers))
    genotype = b"\tm0\tm1\nS1\tA\tC\nS2\tA\tA\n"
    gateway = stack.services["gateway"].pid
    before = high_water_mark(gateway)
    answer = client.post(
        "/api/v1/genotypes/imports",
        params={"name": f"r13-{uuid.uuid4().hex[:6]}", "commonCropName": "Cassava"},
        files={"genotype": ("g.genotype", genotype), "map": ("g.map", genetic_map)},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["variantsImported"] == 2
    assert high_water_mark(gateway) - before < 64 * MIB


@pytest.mark.parametrize("where", ["sample", "ID", "CHROM"])
def test_a_name_every_call_repeats_is_bounded(client: httpx.Client, where: str) -> None:
    """A calls page repeats its variant's, sample's and contig's names in each of up to
    10,000 calls: a 1 MB variant ID over 100 samples made a calls page of 100 MB (the
    gateway +300 MB), and a 30 MB one, within a VCF line's bound, 300 GB. 422 now, and
    nothing stored (the germplasm its samples would have created included)."""
    long = "n" * (MAX_NAME_CHARS + 1)
    prefix = f"r13n{uuid.uuid4().hex[:6]}"
    samples = [long if where == "sample" else f"{prefix}a", f"{prefix}b"]
    chrom = long if where == "CHROM" else "chr1"
    variant = long if where == "ID" else "v1"
    vcf = (
        "##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
        + "\t".join(samples)
        + f"\n{chrom}\t100\t{variant}\tA\tC\t.\t.\t.\tGT\t0/1\t1/1\n"
    )
    answer = client.post(
        "/api/v1/genotypes/imports",
        params={"name": prefix, "commonCropName": "Cassava"},
        content=vcf.encode(),
    )
    assert answer.status_code == 422, answer.text[:300]
    assert str(MAX_NAME_CHARS) in answer.text
    stored = client.get("/brapi/v2/germplasm", params={"germplasmName": f"{prefix}b"})
    assert stored.json()["metadata"]["pagination"]["totalCount"] == 0


def test_a_device_credential_too_long_for_grpc_metadata_is_a_401(client: httpx.Client) -> None:
    """The gateway forwards a device credential to domain-api as gRPC metadata, whose bound
    refused 16,000 characters as RESOURCE_EXHAUSTED: an anonymous caller got 503, as if
    the platform were down and a retry would help."""
    for length in (300, 16_000, 60_000):
        answer = client.post(
            "/api/v1/telemetry",
            json={"readings": []},
            headers={"Authorization": "Device " + "a" * length},
        )
        assert answer.status_code == 401, (length, answer.text)
        assert answer.json()["error"]["code"] == "unauthorized"


def test_a_page_of_long_alleles_is_refused_past_its_bytes(
    stack: DevStack, client: httpx.Client
) -> None:
    """REF and ALT are bounded only by a VCF line (32 MiB), and a variants page holds up to
    10,000: a page of 12 variants of 8 MiB ALTs was 96 MiB, built whole by PostgreSQL,
    domain-api and the gateway. Past MAX_PAGE_BYTES now the 400 of a document page, and
    what PostgreSQL sends stops at the bound; calls and the allele matrix, whose items carry
    no allele, read none."""
    allele = 8 * MIB
    count = MAX_PAGE_BYTES // allele * 3
    prefix = f"r13a{uuid.uuid4().hex[:6]}"
    lines = b"".join(
        b"chr1\t%d\tv%d\tC\t%s\t.\t.\t.\tGT\t0/1\n" % (n + 1, n, b"A" * allele)
        for n in range(count)
    )
    vcf = f"##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{prefix}\n"
    imported = client.post(
        "/api/v1/genotypes/imports",
        params={"name": prefix, "commonCropName": "Cassava"},
        content=vcf.encode() + lines,
    )
    assert imported.status_code == 201, imported.text[:300]
    set_id = imported.json()["data"]["variantSetDbId"]
    services = [stack.services[name].pid for name in ("domain-api", "gateway")]
    before = sum(high_water_mark(pid) for pid in services)

    search = client.post("/brapi/v2/search/variants", json={"variantSetDbIds": [set_id]})
    assert search.status_code == 202, search.text[:300]
    results = f"/brapi/v2/search/variants/{search.json()['result']['searchResultsDbId']}"
    pages = ("/brapi/v2/variants", f"/brapi/v2/variantsets/{set_id}/variants", results)
    for path in pages:
        listed = client.get(path, params={"variantSetDbId": set_id, "pageSize": count})
        assert listed.status_code == 400, listed.text[:300]
        status = [m["message"] for m in listed.json()["metadata"]["status"]]
        assert status[1].startswith("pageSize: "), status
    assert sum(high_water_mark(pid) for pid in services) - before < 2 * MAX_PAGE_BYTES

    calls = client.get("/brapi/v2/calls", params={"variantSetDbId": set_id, "pageSize": count})
    assert calls.status_code == 200, calls.text[:300]
    assert len(calls.json()["result"]["data"]) == count
    matrix = client.get(
        "/brapi/v2/allelematrix",
        params={"variantSetDbId": set_id, "dimensionVariantPageSize": count},
    )
    assert matrix.status_code == 200, matrix.text[:300]
    assert sum(high_water_mark(pid) for pid in services) - before < 2 * MAX_PAGE_BYTES

    fewer = count // 4
    for path in pages:
        page = client.get(path, params={"variantSetDbId": set_id, "pageSize": fewer})
        assert page.status_code == 200, page.text[:300]
        variants = page.json()["result"]["data"]
        assert [len(v["alternateBases"][0]) for v in variants] == [allele] * fewer

    call_set = client.get(f"/brapi/v2/variantsets/{set_id}/callsets").json()["result"]["data"][0]
    edits = [
        {
            "variantDbId": f"{set_id}:{n}",
            "callSetDbId": call_set["callSetDbId"],
            "genotypeValue": "1/1",
        }
        for n in range(count)
    ]
    before = sum(high_water_mark(pid) for pid in services)
    edited = client.put("/brapi/v2/calls", json=edits)
    assert edited.status_code == 200, edited.text[:300]  # was a 400 naming pageSize
    assert {c["genotypeValue"] for c in edited.json()["result"]["data"]} == {"1/1"}
    beyond = client.put("/brapi/v2/calls", json=[{**edits[0], "genotypeValue": "0/2"}])
    assert beyond.status_code == 400, beyond.text[:300]  # one ALT allele: index 2 is refused
    assert "genotypeValue" in beyond.text
    stored = client.get("/brapi/v2/calls", params={"variantSetDbId": set_id, "pageSize": count})
    assert {c["genotypeValue"] for c in stored.json()["result"]["data"]} == {"1/1"}
    assert sum(high_water_mark(pid) for pid in services) - before < 2 * MAX_PAGE_BYTES
