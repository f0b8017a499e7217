"""PLINK and Flapjack zips: the .bed read back by the PLINK importer and by a plain NumPy
decoding of its bytes; Flapjack against a small example worked out by hand."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import AsyncIterator, Callable, Sequence

import numpy as np
from bijmantra.genomics.bundles import (
    BED_MAGIC,
    bed_rows,
    flapjack_zip,
    plink_zip,
    sample_block,
)
from bijmantra.genomics.calls import ABSENT, MISSING, CallMatrix, from_dosages
from bijmantra.genomics.formats import BedDecoder, read_bim, read_fam
from bijmantra.genomics.writers import Sites
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def unzip(pieces: list[bytes]) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces))) as archive:
        assert archive.testzip() is None
        return {name: archive.read(name) for name in archive.namelist()}


def run(bundle: AsyncIterator[bytes]) -> dict[str, bytes]:
    async def collect() -> list[bytes]:
        return [piece async for piece in bundle]

    return unzip(asyncio.run(collect()))


Pass = Callable[[Sequence[int] | None], AsyncIterator[tuple[Sites, CallMatrix]]]


def passes(blocks: list[tuple[Sites, CallMatrix]], seen: list[Sequence[int] | None]) -> Pass:
    """The chunks of ``blocks`` for some columns, noting which columns each pass asked for."""

    async def chunks(columns: Sequence[int] | None) -> AsyncIterator[tuple[Sites, CallMatrix]]:
        seen.append(None if columns is None else tuple(columns))
        for sites, calls in blocks:
            yield sites, calls if columns is None else calls.columns(list(columns))

    return chunks


def snp_sites(n: int, start: int = 0) -> Sites:
    return Sites(
        ["1"] * n,
        [100 + start + i for i in range(n)],
        [f"rs{start + i}" for i in range(n)],
        ["A"] * n,
        ["G"] * n,
    )


def numpy_bed(data: bytes, n_variants: int, n_samples: int) -> np.ndarray:
    """PLINK's documented encoding, decoded the plain way: A1 copies, -1 missing."""
    assert data[:3] == BED_MAGIC
    width = -(-n_samples // 4)
    raw = np.frombuffer(data[3:], dtype=np.uint8).reshape(n_variants, width)
    two_bits = (raw[:, :, None] >> np.array([0, 2, 4, 6])) & 3
    meaning = np.array([2, -1, 1, 0])  # 00 hom A1, 01 missing, 10 het, 11 hom A2
    return meaning[two_bits.reshape(n_variants, -1)[:, :n_samples]]


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.int8, st.tuples(st.integers(1, 30), st.integers(1, 11)), elements=st.integers(-1, 2)),
    st.integers(1, 7),
)
def test_plink_bed_reads_back_through_the_importer_and_numpy(dosages: np.ndarray, cut: int) -> None:
    n_variants, n_samples = dosages.shape
    blocks = [
        (snp_sites(len(part), start), from_dosages(part))
        for start, part in ((s, dosages[s : s + cut]) for s in range(0, n_variants, cut))
    ]
    samples = [f"s {i}" for i in range(n_samples)]
    files = run(plink_zip("set", samples, passes(blocks, [])))
    assert sorted(files) == ["set.bed", "set.bim", "set.fam"]
    np.testing.assert_array_equal(numpy_bed(files["set.bed"], n_variants, n_samples), dosages)
    assert read_fam(files["set.fam"]) == [f"s_{i}" for i in range(n_samples)]
    bim = read_bim(files["set.bim"])
    assert bim.ids == [f"rs{i}" for i in range(n_variants)]
    assert bim.alt[0] == "G"
    decoder = BedDecoder(bim, n_samples, block_variants=3)
    read = decoder.feed(files["set.bed"]) + decoder.finish()
    np.testing.assert_array_equal(np.concatenate([b.dosages for b in read]), dosages)
    last = files["set.bed"][-1] if n_samples % 4 else 0
    assert last >> (2 * (n_samples % 4)) == 0  # padding bits are zero


def test_plink_leaves_out_multiallelic_sites_and_counts_haploid_as_homozygous() -> None:
    alleles = np.full((3, 2, 2), ABSENT, dtype=np.int8)
    alleles[0] = [[0, 1], [2, 2]]  # A/C,G: left out
    alleles[1] = [[1, ABSENT], [0, 1]]  # haploid ALT = 2 copies; het
    alleles[2] = [[0, 0], [0, 0]]  # no ALT at all: A1 is "0"
    calls = CallMatrix(alleles, np.zeros((3, 2), dtype=np.bool_), {})
    sites = Sites(["1"] * 3, [1, 2, 3], ["a", "", "c"], ["A", "A", "T"], ["C,G", "G", ""])
    assert bed_rows(sites, calls) == bytes([0b0000_1000, 0b0000_1111])
    files = run(plink_zip("x", ["p", "q"], passes([(sites, calls)], [])))
    assert files["x.bim"] == b"1\t.\t0\t2\tG\tA\n1\tc\t0\t3\t0\tT\n"


def test_flapjack_genotype_and_map_match_a_hand_worked_example() -> None:
    # Three samples, three variants: a SNP, an indel, a multi-allelic site.
    alleles = np.array(
        [
            [[0, 0], [0, 1], [MISSING, MISSING]],
            [[1, 1], [1, 0], [0, ABSENT]],
            [[2, 1], [0, MISSING], [2, 2]],
        ],
        dtype=np.int8,
    )
    phased = np.array([[False, True, False], [False] * 3, [False] * 3])
    calls = CallMatrix(alleles, phased, {})
    sites = Sites(
        ["1H", "1H", "2H"], [10, 25, 7], ["m1", "", "m3"], ["A", "CT", "G"], ["G", "C", "T,A"]
    )
    blocks = [(part(sites, 0, 2), calls.rows(0, 2)), (part(sites, 2, 3), calls.rows(2, 3))]
    seen: list[Sequence[int] | None] = []
    files = run(flapjack_zip("fj", ["L1", "L2", "L3"], passes(blocks, seen), budget=2 * 4 * 3))
    assert files["fj.map"] == b"# fjFile = MAP\nm1\t1H\t10\n1H_25\t1H\t25\nm3\t2H\t7\n"
    assert files["fj.genotype"] == (
        b"# fjFile = GENOTYPE\n\tm1\t1H_25\tm3\nL1\tA\tC\tA/T\nL2\tA/G\tC/CT\t-\nL3\t-\tCT\tA\n"
    )
    # a budget of two samples: the map, the marker line, then two sample blocks
    assert seen == [(), (), (0, 1), (2,)]


def part(sites: Sites, lo: int, hi: int) -> Sites:
    return Sites(
        sites.chrom[lo:hi], sites.pos[lo:hi], sites.names[lo:hi], sites.ref[lo:hi], sites.alt[lo:hi]
    )


def test_sample_blocks_fit_the_budget() -> None:
    assert sample_block(1000, 50, budget=4 * 1000 * 7) == 7
    assert sample_block(10**9, 50) == 1  # one sample per pass at worst, never zero
    assert sample_block(0, 50) == 50
