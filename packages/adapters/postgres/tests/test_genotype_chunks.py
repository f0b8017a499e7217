"""Stored genotype chunks: 2-bit codes, zlib chunks of earlier imports, and call payloads."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

import numpy as np
import pytest
from bijmantra.adapters.postgres import set_tenant
from bijmantra.adapters.postgres.genotype_calls import read_calls
from bijmantra.adapters.postgres.genotypes import (
    PostgresGenotypeStore,
    PostgresVariantSetWriter,
    decode,
    recode_chunk,
)
from bijmantra.domain.genotyping import CallSet, VariantSet
from bijmantra.genomics.calls import genotype_text
from bijmantra.genomics.formats import VcfParser
from bijmantra.genomics.packing import pack_dosages, unpack_dosages
from bijmantra.kernel import TenantId
from bijmantra.testkit.vcf import WrittenVcf, random_vcf
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

G = np.random.default_rng(7).integers(-1, 3, size=(9, 7)).astype(np.int8)
STORED = {"2bit": pack_dosages(G).tobytes(), "zlib": zlib.compress(G.tobytes(), 1)}


@pytest.mark.parametrize("codec", ["2bit", "zlib"])
def test_either_codec_decodes_to_the_dosages(codec: str) -> None:
    np.testing.assert_array_equal(decode(codec, STORED[codec], 7), G)


@pytest.mark.parametrize("codec", ["2bit", "zlib"])
def test_a_chunk_is_recoded_for_its_reader_with_the_columns_asked_for(codec: str) -> None:
    columns = np.array([6, 0, 3])
    packed = recode_chunk(codec, STORED[codec], 7, columns, packed=True)
    np.testing.assert_array_equal(unpack_dosages(packed, 3), G[:, columns])
    raw = recode_chunk(codec, STORED[codec], 7, None, packed=False)
    np.testing.assert_array_equal(np.frombuffer(raw, np.int8).reshape(9, 7), G)


def test_an_unknown_codec_is_refused() -> None:
    with pytest.raises(ValueError, match="lz4"):
        decode("lz4", b"", 7)


# ---- calls beside the codes, against PostgreSQL ------------------------------------------


def _vcf_blocks(seed: int, n_variants: int, n_samples: int) -> tuple[WrittenVcf, list[Any]]:
    written = random_vcf(np.random.default_rng(seed), n_variants, n_samples)
    parser = VcfParser(block_lines=4)
    return written, parser.feed(written.text().encode()) + parser.finish()


async def _store(engine: AsyncEngine, tenant: TenantId, blocks: list[Any], n: int) -> str:
    call_sets = [CallSet(f"cs-{uuid.uuid4()}", f"s{j}", "g", j) for j in range(n)]
    variant_set = VariantSet(tenant, f"vs-{uuid.uuid4()}", "calls", "vcf", call_sets)
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        store = PostgresGenotypeStore(conn)
        await store.create(variant_set)
        writer = PostgresVariantSetWriter(conn, variant_set, chunk_variants=3)
        for block in blocks:
            await writer.append(block)
        await writer.close()
    return variant_set.variant_set_db_id


async def _read(
    engine: AsyncEngine, tenant: TenantId, set_id: str, lo: int, hi: int, columns: Any
) -> list[Any]:
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        return [c async for c in read_calls(conn, set_id, lo, hi, columns)]


@pytest.mark.integration
async def test_calls_of_any_ploidy_read_back_exactly_for_any_range_and_call_sets(
    engine: AsyncEngine,
) -> None:
    tenant, other = TenantId(uuid.uuid4()), TenantId(uuid.uuid4())
    written, blocks = _vcf_blocks(11, 14, 6)
    set_id = await _store(engine, tenant, blocks, 6)
    columns = [5, 0, 3]
    chunks = await _read(engine, tenant, set_id, 2, 12, columns)
    assert [c.variant_start for c in chunks] == [2, 3, 6, 9]  # chunks of three variants
    for chunk in chunks:
        for r in range(len(chunk.chrom)):
            site = written.sites[chunk.variant_start + r]
            assert (chunk.pos[r], chunk.ref[r], chunk.alt[r]) == (
                site.pos,
                site.ref,
                ",".join(site.alt),
            )
            for k, column in enumerate(columns):
                alleles, phased = chunk.calls.alleles[r, k], chunk.calls.phased[r, k]
                assert genotype_text(alleles, bool(phased)) == site.calls[column].gt
    assert sum(len(c.chrom) for c in chunks) == 10
    assert await _read(engine, other, set_id, 0, 14, None) == []  # row-level security


@pytest.mark.integration
async def test_a_chunk_the_dosage_codes_describe_stores_no_call_payload(
    engine: AsyncEngine,
) -> None:
    tenant = TenantId(uuid.uuid4())
    text_ = "##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n"
    text_ += "".join(f"1\t{i + 1}\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\n" for i in range(3))
    text_ += "1\t9\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0/0/1/1\n"
    parser = VcfParser()
    set_id = await _store(engine, tenant, parser.feed(text_.encode()) + parser.finish(), 2)
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        rows = await conn.execute(
            text(
                "SELECT calls IS NULL FROM domain.genotype_chunks "
                "WHERE variant_set_db_id = :s ORDER BY chunk_index"
            ),
            {"s": set_id},
        )
        assert rows.scalars().all() == [True, False]
        ploidy = await conn.execute(
            text(
                "SELECT ploidy FROM domain.call_sets WHERE variant_set_db_id = :s "
                "ORDER BY column_index"
            ),
            {"s": set_id},
        )
        assert ploidy.scalars().all() == [2, 4]
    [first, second] = await _read(engine, tenant, set_id, 0, 4, None)
    assert genotype_text(first.calls.alleles[2, 0], False) == "0/1"
    assert genotype_text(second.calls.alleles[0, 1], False) == "0/0/1/1"
