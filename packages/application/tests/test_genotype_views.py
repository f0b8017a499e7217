"""BrAPI genotype views over the store, against the in-memory fakes: a random VCF's calls
come back exactly from allele-matrix pages and from calls pages of any size."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pytest
from bijmantra.application.genotyping import ImportGenotypes, ImportSpec
from bijmantra.application.genotyping.brapi import GenotypeViews
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

    async def blocks(self) -> AsyncIterator[Any]:
        for block in self._blocks:
            yield block


async def imported(db: InMemoryDatabase, written: WrittenVcf) -> tuple[GenotypeViews, str]:
    uow = fake_unit_of_work_factory(db)
    upload = ParsedUpload(written.text().encode(), {})
    summary = await ImportGenotypes(uow)(BREEDER, ImportSpec("set", "vcf", "Cassava"), upload)
    return GenotypeViews(uow, FakeSearchResultStore()), str(summary["variantSetDbId"])


def decode(page: Any) -> Any:
    return msgspec.json.decode(page.documents)


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
