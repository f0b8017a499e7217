"""BrAPI genotype views over the store, against the in-memory fakes: a random VCF's calls
come back exactly from allele-matrix pages and from calls pages of any size; what PUT
/calls, extract, the exports and the variant filters write or read matches the file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pytest
from bijmantra.application.genotyping import ExportGenotypes, ImportGenotypes, ImportSpec
from bijmantra.application.genotyping.brapi import GenotypeViews
from bijmantra.application.genotyping.edits import GenotypeWrites
from bijmantra.application.genotyping.imports import MAX_NEW_GERMPLASM
from bijmantra.application.ports.genotypes import GenotypeFilter
from bijmantra.genomics.formats import VcfParser
from bijmantra.kernel import NotFound, PageRequest, Principal, TenantId, ValidationFailed
from bijmantra.testkit.fakes import (
    FakeSearchResultStore,
    InMemoryDatabase,
    fake_unit_of_work_factory,
)
from bijmantra.testkit.vcf import WrittenVcf, random_vcf
from hypothesis import given, settings
from hypothesis import strategies as st

TENANT = TenantId(uuid.UUID(int=1))
BREEDER = Principal("breeder", TENANT, frozenset({"breeder"}))
OUTSIDER = Principal("other", TenantId(uuid.UUID(int=2)), frozenset({"breeder"}))


@dataclass
class ParsedUpload:
    text: bytes
    skipped: dict[str, int]

    def __post_init__(self) -> None:
        self._parser = VcfParser(block_lines=3)
        self._blocks = self._parser.feed(self.text) + self._parser.finish()

    async def sample_names(self) -> list[str]:
        return list(self._parser.samples or [])

    @property
    def contig_lengths(self) -> dict[str, int | None]:
        return dict(self._parser.contigs)

    async def blocks(self) -> AsyncIterator[Any]:
        for block in self._blocks:
            yield block


async def imported(db: InMemoryDatabase, written: WrittenVcf) -> tuple[GenotypeViews, str]:
    uow = fake_unit_of_work_factory(db)
    upload = ParsedUpload(written.text().encode(), {})
    summary = await ImportGenotypes(uow)(BREEDER, ImportSpec("set", "vcf", "Cassava"), upload)
    return GenotypeViews(uow, FakeSearchResultStore()), str(summary["variantSetDbId"])


def decode(page: Any) -> Any:
    return msgspec.json.decode(page.json())


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    shape=st.tuples(st.integers(1, 12), st.integers(1, 6)),
    sizes=st.tuples(st.integers(1, 7), st.integers(1, 5), st.integers(1, 30)),
)
async def test_allele_matrix_and_calls_pages_give_back_every_call_written(
    seed: int, shape: tuple[int, int], sizes: tuple[int, int, int]
) -> None:
    written = random_vcf(np.random.default_rng(seed), *shape)
    views, set_id = await imported(InMemoryDatabase(), written)
    n_variants, n_samples = shape
    v_size, c_size, call_size = sizes
    expected = [[c.gt for c in site.calls] for site in written.sites]

    got = [[""] * n_samples for _ in range(n_variants)]
    for vp in range(-(-n_variants // v_size)):
        for cp in range(-(-n_samples // c_size)):
            params = {
                "variantSetDbId": [set_id],
                "dimensionVariantPage": [str(vp)],
                "dimensionVariantPageSize": [str(v_size)],
                "dimensionCallSetPage": [str(cp)],
                "dimensionCallSetPageSize": [str(c_size)],
                "dataMatrixAbbreviations": ["GT,DS"],
            }
            matrix = decode(await views.list(BREEDER, "allelematrix", params, PageRequest(0, 1)))
            [gt, ds] = matrix["dataMatrices"]
            assert gt["dataMatrixAbbreviation"] == "GT"
            for r, row in enumerate(gt["dataMatrix"]):
                for c, text in enumerate(row):
                    got[vp * v_size + r][cp * c_size + c] = text
            for r, row in enumerate(ds["dataMatrix"]):
                for c, text in enumerate(row):
                    site = written.sites[vp * v_size + r]
                    value = site.calls[cp * c_size + c].fields.get("DS")
                    assert text == ("." if value is None else f"{value:g}")
    assert got == expected

    calls: list[dict[str, Any]] = []
    page = 0
    while True:
        found = await views.list(
            BREEDER, "call", {"variantSetDbId": [set_id]}, PageRequest(page, call_size)
        )
        calls += decode(found)
        assert found.total_count == n_variants * n_samples
        if not found.count:
            break
        page += 1
    assert [c["genotypeValue"] for c in calls] == [t for row in expected for t in row]


async def test_filters_spelling_and_out_of_range_pages() -> None:
    written = random_vcf(np.random.default_rng(3), 10, 4)
    views, set_id = await imported(InMemoryDatabase(), written)
    call_sets = decode(await views.list(BREEDER, "callset", {}, PageRequest(0, 10)))
    picked = call_sets[2]["callSetDbId"]
    params = {
        "callSetDbId": [picked],
        "positionRange": [f"chr2:1-{10**9}"],
        "expandHomozygotes": ["false"],
        "unknownString": ["N"],
        "sepUnphased": ["-"],
    }
    matrix = decode(await views.list(BREEDER, "allelematrix", params, PageRequest(0, 1)))
    chr2 = [s for s in written.sites if s.chrom == "chr2"]
    assert len(matrix["variantDbIds"]) == len(chr2)
    assert matrix["callSetDbIds"] == [picked]
    for row, site in zip(matrix["dataMatrices"][0]["dataMatrix"], chr2, strict=True):
        alleles = site.calls[2].gt.replace("|", "/").split("/")
        if len(set(alleles)) == 1:
            alleles = alleles[:1]
        spelled = ("|" if "|" in site.calls[2].gt else "-").join(
            "N" if a == "." else a for a in alleles
        )
        assert row == [spelled]
    past = {"variantSetDbId": [set_id], "dimensionVariantPage": ["1"]}
    with pytest.raises(ValidationFailed, match="out of range"):
        await views.list(BREEDER, "allelematrix", past, PageRequest(0, 1))
    with pytest.raises(ValidationFailed, match="not supported"):
        await views.list(BREEDER, "variant", {"studyDbId": ["x"]}, PageRequest(0, 1))
    for digits in ("\uff10", "+0", "0_0", True):  # ASCII digits or a JSON integer (ADR 0387)
        odd = {"variantSetDbId": [set_id], "dimensionVariantPage": [digits]}
        with pytest.raises(ValidationFailed, match="Invalid dimension page"):
            await views.list(BREEDER, "allelematrix", odd, PageRequest(0, 1))
    searched = {"variantSetDbIds": [set_id], "pagination": [{"dimension": "VARIANTS", "page": 0}]}
    assert decode(await views.list(BREEDER, "allelematrix", searched, PageRequest(0, 1)))
    variant = decode(await views.list(BREEDER, "variant", {}, PageRequest(3, 1)))[0]
    assert variant["start"] == written.sites[3].pos - 1
    assert variant["alternateBases"] == written.sites[3].alt


async def test_another_organization_sees_nothing() -> None:
    written = random_vcf(np.random.default_rng(4), 5, 3)
    views, set_id = await imported(InMemoryDatabase(), written)
    with pytest.raises(NotFound):
        await views.get(OUTSIDER, "variantset", set_id)
    with pytest.raises(NotFound):
        await views.get(OUTSIDER, "variant", f"{set_id}:0")
    empty = await views.list(OUTSIDER, "call", {"variantSetDbId": [set_id]}, PageRequest(0, 9))
    assert (empty.count, empty.total_count) == (0, 0)
    assert (await views.get(BREEDER, "variant", f"{set_id}:0")).startswith(b"{")
    search = await views.search(BREEDER, "call", {"variantSetDbIds": [set_id]})
    with pytest.raises(NotFound):
        await views.search_results(OUTSIDER, "call", search, PageRequest(0, 5))
    found = await views.search_results(BREEDER, "call", search, PageRequest(0, 5))
    assert found.total_count == 15


@pytest.mark.parametrize(
    "params",
    [
        {"positionRange": ["chr1:\u00b2-\u00b3"]},  # digits to isdigit(), not to int()
        {"positionRange": [f"chr1:1-{'9' * 5000}"]},  # past int()'s digit limit
        {"variantSetDbId": ["a\x00b"]},  # text PostgreSQL cannot hold
        {"callSetDbIds": ["\x00"]},
    ],
)
async def test_filters_the_store_cannot_read_are_a_400(params: dict[str, list[str]]) -> None:
    views, _ = await imported(InMemoryDatabase(), random_vcf(np.random.default_rng(5), 4, 2))
    for entity in ("variant", "call", "allelematrix"):
        with pytest.raises(ValidationFailed):
            await views.list(BREEDER, entity, params, PageRequest(0, 5))


@pytest.mark.parametrize("suffix", ["\u00b2", "99999999999", "9" * 5000])
async def test_a_variant_id_whose_index_the_store_cannot_number_names_no_variant(
    suffix: str,
) -> None:
    views, set_id = await imported(InMemoryDatabase(), random_vcf(np.random.default_rng(6), 4, 2))
    found = await views.list(BREEDER, "variant", {"variantDbId": [f"{set_id}:{suffix}"]}, PAGE)
    assert found.total_count == 0
    with pytest.raises(NotFound):
        await views.get(BREEDER, "variant", f"{set_id}:{suffix}")


PAGE = PageRequest(0, 5)


async def test_a_file_naming_more_new_samples_than_a_bulk_write_stores_nothing() -> None:
    names = [f"made-up-{i}" for i in range(MAX_NEW_GERMPLASM + 1)]
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    text = header + "\t".join(names) + "\n1\t5\t.\tA\tG\t.\t.\t.\tGT" + "\t0/1" * len(names)
    db = InMemoryDatabase()
    with pytest.raises(ValidationFailed, match="new samples"):
        await ImportGenotypes(fake_unit_of_work_factory(db))(
            BREEDER, ImportSpec("set", "vcf", "Cassava"), ParsedUpload(text.encode() + b"\n", {})
        )
    assert (db.documents, db.variant_sets) == ({}, {})


def _calls(views_page: Any) -> dict[tuple[str, str], str]:
    return {(c["variantDbId"], c["callSetDbId"]): c["genotypeValue"] for c in decode(views_page)}


async def _all_calls(views: GenotypeViews, set_id: str) -> dict[tuple[str, str], str]:
    params = {"variantSetDbId": [set_id]}
    return _calls(await views.list(BREEDER, "call", params, PageRequest(0, 1000)))


async def test_put_calls_reads_back_and_grows_ploidy() -> None:
    db = InMemoryDatabase()
    views, set_id = await imported(db, random_vcf(np.random.default_rng(7), 6, 3))
    writes = GenotypeWrites(fake_unit_of_work_factory(db))
    call_sets = decode(await views.list(BREEDER, "callset", {}, PageRequest(0, 10)))
    before = await _all_calls(views, set_id)
    target = call_sets[1]["callSetDbId"]
    body = [
        {"variantDbId": f"{set_id}:2", "callSetDbId": target, "genotypeValue": "0/0/1/1"},
        {"variantDbId": f"{set_id}:4", "callSetDbId": target, "genotypeValue": "./."},
    ]
    answer = decode(await writes.update_calls(BREEDER, msgspec.json.encode(body)))
    assert [c["genotypeValue"] for c in answer] == ["0/0/1/1", "./."]

    after = await _all_calls(views, set_id)
    assert after[(f"{set_id}:2", target)] == "0/0/1/1"
    assert after[(f"{set_id}:4", target)] == "./."
    untouched = {k for k in before if k not in {(f"{set_id}:2", target), (f"{set_id}:4", target)}}
    assert {k: after[k] for k in untouched} == {k: before[k] for k in untouched}
    async with fake_unit_of_work_factory(db)(TENANT) as uow:
        where = GenotypeFilter(call_set_db_ids=(target,))
        [row], _ = await uow.genotypes.call_set_rows(where, 0, 1)
    assert row.ploidy == 4


async def test_put_calls_of_another_organization_is_not_found_and_changes_nothing() -> None:
    db = InMemoryDatabase()
    views, set_id = await imported(db, random_vcf(np.random.default_rng(8), 4, 2))
    writes = GenotypeWrites(fake_unit_of_work_factory(db))
    call_set = decode(await views.list(BREEDER, "callset", {}, PageRequest(0, 1)))[0]
    before = await _all_calls(views, set_id)
    body = [
        {
            "variantDbId": f"{set_id}:0",
            "callSetDbId": call_set["callSetDbId"],
            "genotypeValue": "1/1",
        }
    ]
    with pytest.raises(NotFound):
        await writes.update_calls(OUTSIDER, msgspec.json.encode(body))
    assert await _all_calls(views, set_id) == before


async def test_extract_copies_the_chosen_calls_into_a_new_set() -> None:
    db = InMemoryDatabase()
    written = random_vcf(np.random.default_rng(9), 9, 4)
    views, set_id = await imported(db, written)
    writes = GenotypeWrites(fake_unit_of_work_factory(db))
    call_sets = decode(await views.list(BREEDER, "callset", {}, PageRequest(0, 10)))
    chosen_sets = [call_sets[3]["callSetDbId"], call_sets[1]["callSetDbId"]]
    chosen_variants = [f"{set_id}:{i}" for i in (1, 4, 5, 8)]
    request = {"callSetDbIds": chosen_sets, "variantDbIds": chosen_variants}
    [created] = decode(await writes.create(BREEDER, "variantset", msgspec.json.encode(request)))
    new_id = created["variantSetDbId"]
    assert new_id != set_id
    assert created["variantCount"] == 4

    matrix = decode(
        await views.list(BREEDER, "allelematrix", {"variantSetDbId": [new_id]}, PageRequest(0, 1))
    )
    new_sets = decode(
        await views.list(BREEDER, "callset", {"variantSetDbId": [new_id]}, PageRequest(0, 10))
    )
    names = {c["callSetDbId"]: c["callSetName"] for c in new_sets}
    columns = {names[db_id]: k for k, db_id in enumerate(matrix["callSetDbIds"])}
    assert sorted(columns) == sorted(written.samples[s] for s in (3, 1))
    gt = matrix["dataMatrices"][0]["dataMatrix"]
    for row, index in zip(gt, (1, 4, 5, 8), strict=True):
        for source in (3, 1):
            expected = written.sites[index].calls[source].gt
            assert row[columns[written.samples[source]]] == expected

    with pytest.raises(NotFound):
        await writes.create(OUTSIDER, "variantset", msgspec.json.encode(request))
    with pytest.raises(ValidationFailed):
        await writes.create(BREEDER, "variantset", b"{}")


@pytest.mark.parametrize("file_format", ["vcf", "hapmap"])
async def test_export_streams_a_file_that_holds_the_set(file_format: str) -> None:
    db = InMemoryDatabase()
    written = random_vcf(np.random.default_rng(10), 7, 3)
    _, set_id = await imported(db, written)
    pieces = [
        p
        async for p in ExportGenotypes(fake_unit_of_work_factory(db))(BREEDER, set_id, file_format)
    ]
    text = b"".join(pieces)
    assert len(pieces) > 1  # header, then one piece per block
    if file_format == "vcf":
        parser = VcfParser(block_lines=100)
        blocks = parser.feed(text) + parser.finish()
        assert parser.samples == written.samples
        assert [p for b in blocks for p in b.pos] == [s.pos for s in written.sites]
        original = VcfParser(block_lines=100)
        expected = original.feed(written.text().encode()) + original.finish()
        assert np.array_equal(
            np.concatenate([b.dosages for b in blocks]),
            np.concatenate([b.dosages for b in expected]),
        )
    else:
        lines = text.decode().splitlines()
        assert lines[0].split("\t")[11:] == written.samples
        assert [int(line.split("\t")[3]) for line in lines[1:]] == [s.pos for s in written.sites]
    with pytest.raises(NotFound):
        await anext(aiter(ExportGenotypes(fake_unit_of_work_factory(db))(OUTSIDER, set_id, "vcf")))


@pytest.mark.parametrize(("file_format", "members"), [("plink", 3), ("flapjack", 2)])
async def test_multi_file_exports_are_zips_of_the_set(file_format: str, members: int) -> None:
    import io
    import zipfile

    db = InMemoryDatabase()
    written = random_vcf(np.random.default_rng(12), 9, 4)
    _, set_id = await imported(db, written)
    export = ExportGenotypes(fake_unit_of_work_factory(db))
    data = b"".join([p async for p in export(BREEDER, set_id, file_format)])
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert len(archive.namelist()) == members
    if file_format == "flapjack":
        rows = archive.read(f"{set_id}.genotype").decode().splitlines()[2:]
        assert [row.split("\t")[0] for row in rows] == written.samples
        assert all(len(row.split("\t")) == 10 for row in rows)


async def test_variant_filter_keeps_the_variants_called_often_enough() -> None:
    db = InMemoryDatabase()
    written = random_vcf(np.random.default_rng(11), 12, 4)
    views, set_id = await imported(db, written)
    params = {"variantSetDbId": [set_id], "minCallRate": ["0.5"]}
    matrix = decode(await views.list(BREEDER, "allelematrix", params, PageRequest(0, 1)))
    parser = VcfParser(block_lines=100)
    blocks = parser.feed(written.text().encode()) + parser.finish()
    dosages = np.concatenate([b.dosages for b in blocks])
    expected = [f"{set_id}:{i}" for i, row in enumerate(dosages) if (row >= 0).mean() >= 0.5]
    assert 0 < len(expected) < len(written.sites)
    assert matrix["variantDbIds"] == expected


async def test_an_import_creates_the_reference_set_of_its_contigs() -> None:
    from bijmantra.application.brapi.modules import catalog
    from bijmantra.application.brapi.queries import ResourceQueries

    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    text = (
        b"##fileformat=VCFv4.2\n##contig=<ID=chr2,length=5000>\n##contig=<ID=chrU>\n"
        b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n"
        b"chr1\t5\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\n"
        b"chr2\t9\t.\tC\tT\t.\t.\t.\tGT\t0/0\t./.\n"
    )
    summary = await ImportGenotypes(uow)(
        BREEDER, ImportSpec("contigs", "vcf", "Cassava"), ParsedUpload(text, {})
    )
    reference_set = summary["referenceSetDbId"]
    views = GenotypeViews(uow, FakeSearchResultStore())
    [variant_set] = decode(
        await views.list(
            BREEDER,
            "variantset",
            {"variantSetDbId": [summary["variantSetDbId"]]},
            PageRequest(0, 5),
        )
    )
    assert variant_set["referenceSetDbId"] == reference_set
    queries = ResourceQueries(catalog(), uow, FakeSearchResultStore())
    page = await queries.list(
        BREEDER, "reference", {"referenceSetDbId": [reference_set]}, PageRequest(0, 10)
    )
    assert [(r["referenceName"], r["length"]) for r in decode(page)] == [
        ("chr2", 5000),
        ("chrU", None),
        ("chr1", None),
    ]
    outsider = await queries.list(
        OUTSIDER, "reference", {"referenceSetDbId": [reference_set]}, PageRequest(0, 10)
    )
    assert decode(outsider) == []

    # Each variant names the reference it is on, and filters by references select them.
    reference_of = {r["referenceName"]: r["referenceDbId"] for r in decode(page)}
    variants = decode(await views.list(BREEDER, "variant", {}, PageRequest(0, 10)))
    assert [(v["referenceName"], v["referenceDbId"], v["referenceSetDbId"]) for v in variants] == [
        ("chr1", reference_of["chr1"], reference_set),
        ("chr2", reference_of["chr2"], reference_set),
    ]

    async def variant_names(params: dict[str, Any]) -> list[str]:
        found = decode(await views.list(BREEDER, "variant", params, PageRequest(0, 10)))
        return [v["referenceName"] for v in found]

    assert await variant_names({"referenceDbId": [reference_of["chr2"]]}) == ["chr2"]
    assert await variant_names({"referenceDbIds": list(reference_of.values())}) == ["chr1", "chr2"]
    assert await variant_names({"referenceSetDbId": [reference_set]}) == ["chr1", "chr2"]
    assert await variant_names({"referenceDbId": ["no-such-reference"]}) == []
    assert await variant_names({"referenceSetDbIds": ["no-such-set"]}) == []
    for params, expected in [
        ({"referenceSetDbId": [reference_set]}, 1),
        ({"referenceDbIds": [reference_of["chrU"]]}, 1),
        ({"referenceSetDbId": ["no-such-set"]}, 0),
    ]:
        sets = decode(await views.list(BREEDER, "variantset", params, PageRequest(0, 10)))
        assert len(sets) == expected
    with pytest.raises(ValidationFailed):  # BrAPI lists the filter for variants only
        await views.list(BREEDER, "callset", {"referenceDbId": ["x"]}, PageRequest(0, 10))

    no_calls = ParsedUpload(text.replace(b"\tGT\t", b"\tDP\t"), {})  # no site has GT
    with pytest.raises(ValidationFailed):
        await ImportGenotypes(uow)(BREEDER, ImportSpec("bad", "vcf", "Cassava"), no_calls)
    everything = await queries.list(BREEDER, "referenceset", {}, PageRequest(0, 10))
    assert [s["referenceSetDbId"] for s in decode(everything)] == [reference_set]


async def test_a_vendor_orders_results_list_the_imported_set() -> None:
    from bijmantra.application.brapi.modules import catalog
    from bijmantra.application.brapi.queries import ResourceQueries

    db = InMemoryDatabase()
    uow = fake_unit_of_work_factory(db)
    async with uow(TENANT) as unit:
        order = {"orderId": "o1", "status": "inProgress", "submissionId": "s1"}
        await unit.resources.insert("vendororder", [("o1", order)])
        await unit.commit()
    written = random_vcf(np.random.default_rng(13), 4, 3)
    importer = ImportGenotypes(uow, public_url="https://bijmantra.example")
    spec = ImportSpec("results", "vcf", "Cassava", vendor_order_id="o1")
    summary = await importer(BREEDER, spec, ParsedUpload(written.text().encode(), {}))
    queries = ResourceQueries(catalog(), uow, FakeSearchResultStore())
    [result] = decode(
        await queries.children(BREEDER, "vendororder", "o1", "results", {}, PageRequest(0, 5))
    )
    set_id = summary["variantSetDbId"]
    assert result["fileURL"] == f"https://bijmantra.example/api/v1/variantsets/{set_id}/files/vcf"
    assert (result["fileType"], result["clientSampleIds"]) == ("VCF", written.samples)

    for order_id, error in (("no-such-order", NotFound), ("o1", NotFound)):
        who = BREEDER if order_id != "o1" else OUTSIDER  # another organization's order: 404
        spec = ImportSpec("x", "vcf", "Cassava", vendor_order_id=order_id)
        with pytest.raises(error):
            await importer(who, spec, ParsedUpload(written.text().encode(), {}))
    sets = decode(
        await GenotypeViews(uow, FakeSearchResultStore()).list(
            BREEDER, "variantset", {}, PageRequest(0, 10)
        )
    )
    assert [s["variantSetName"] for s in sets] == ["results"]
