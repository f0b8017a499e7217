"""HapMap and Flapjack readers: what the exports write reads back to the same calls, and
a bad file is refused naming its line, with the VCF reader's size bounds."""

from __future__ import annotations

import asyncio
import gzip
import io
import zipfile
from collections.abc import AsyncIterator, Sequence

import numpy as np
import pytest
from bijmantra.genomics.bundles import flapjack_zip
from bijmantra.genomics.calls import ABSENT, MISSING, CallMatrix, from_dosages
from bijmantra.genomics.streams import FormatError
from bijmantra.genomics.text_readers import (
    FlapjackReader,
    HapMapParser,
    read_flapjack_map,
)
from bijmantra.genomics.writers import Sites, hapmap_header, hapmap_lines
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

SAMPLES = ["a", "b", "c"]


def snp_sites(n: int) -> Sites:
    return Sites(["1"] * n, [10 * (i + 1) for i in range(n)], [f"m{i}" for i in range(n)],
                 ["A"] * n, ["G"] * n)  # fmt: skip


def parse_hapmap(
    text: bytes, **bounds: int
) -> tuple[list[str] | None, list[np.ndarray], list[np.ndarray]]:
    parser = HapMapParser(block_lines=2, **bounds)
    blocks = parser.feed(text) + parser.finish()
    assert all(b.calls is not None for b in blocks)
    return (
        parser.samples,
        [b.calls.alleles for b in blocks if b.calls is not None],
        [b.dosages for b in blocks],
    )


@settings(max_examples=30, deadline=None)
@given(arrays(np.int8, st.tuples(st.integers(1, 9), st.just(3)), elements=st.integers(-1, 2)))
def test_hapmap_export_reads_back_to_the_same_dosages(dosages: np.ndarray) -> None:
    sites = snp_sites(len(dosages))
    text = hapmap_header(SAMPLES).encode() + hapmap_lines(sites, from_dosages(dosages))
    samples, _, read = parse_hapmap(gzip.compress(text))
    assert samples == SAMPLES
    np.testing.assert_array_equal(np.concatenate(read), dosages)


def test_hapmap_reads_iupac_letters_tetraploids_and_indel_signs() -> None:
    fixed = "\t+\tNA\tNA\tNA\tNA\tNA\tNA"
    text = (
        "rs#\talleles\tchrom\tpos\tstrand\tassembly#\tcenter\tprotLSID\tassayLSID\tpanelLSID"
        "\tQCcode\ta\tb\tc\n"
        f"s1\tA/G\t1\t5{fixed}\tR\tG\tN\n"
        f"s2\tC/T\t1\t9{fixed}\tCCTT\tCT\tNN\n"
        f"s3\t+/-\t2\t3{fixed}\t++\t-+\t+\n"
    ).encode()
    _, alleles, dosages = parse_hapmap(text)
    got = np.concatenate([np.pad(a, ((0, 0), (0, 0), (0, 4 - a.shape[2])), constant_values=ABSENT)
                          for a in alleles])  # fmt: skip
    assert got[0, :, :2].tolist() == [[0, 1], [1, 1], [MISSING, MISSING]]
    assert got[1].tolist() == [[0, 0, 1, 1], [0, 1, ABSENT, ABSENT], [MISSING] * 2 + [ABSENT] * 2]
    assert got[2, :, :2].tolist() == [[0, 0], [1, 0], [0, 0]]
    assert np.concatenate(dosages)[0].tolist() == [1, 2, -1]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("chrom\tpos\n", 1, "not a HapMap header"),
        ("rs#\talleles\tchrom\tpos\ts\tx\tc\tp\ta\tp\tq\ta\nx\tA/G\t1\t5\t+\n", 2, "columns"),
        (
            "rs#\talleles\tchrom\tpos\ts\tx\tc\tp\ta\tp\tq\ta\n\nx\tA/G\t1\t5\t+"
            + "\tN" * 6
            + "\tAC\n",
            3,
            "genotype 'AC' for sample 'a'",
        ),
        (
            "rs#\talleles\tchrom\tpos\ts\tx\tc\tp\ta\tp\tq\ta\nx\tA/G\t1\t5.5\t+"
            + "\tN" * 6
            + "\tAA\n",
            2,
            "position",
        ),
        *(  # digits int() refuses or the store's bigint cannot hold; a NUL
            (
                f"rs#\talleles\tchrom\tpos\ts\tx\tc\tp\ta\tp\tq\ta\nx\tA/G\t{chrom}\t{pos}\t+"
                + "\tN" * 6
                + "\tAA\n",
                2,
                reason,
            )
            for chrom, pos, reason in [
                ("1", "\u00b2", "position"),
                ("1", "9" * 20, "position"),
                ("1\x00", "5", "NUL"),
            ]
        ),
    ],
)
def test_a_bad_hapmap_line_is_named(text: str, line: int, reason: str) -> None:
    with pytest.raises(FormatError) as caught:
        parse_hapmap(text.encode())
    assert caught.value.line == line
    assert reason in str(caught.value)


def test_hapmap_bounds_line_length_and_decompressed_size() -> None:
    header = hapmap_header(SAMPLES).encode()
    parser = HapMapParser(max_line_bytes=len(header) + 8)
    parser.feed(header)
    with pytest.raises(FormatError, match="longer than") as too_long:
        parser.feed(b"x" * (len(header) + 9))
    assert too_long.value.line == 2
    with pytest.raises(FormatError, match="exceeds 200 bytes") as caught:
        parse_hapmap(gzip.compress(header + b"\n" * 1000), max_decompressed_bytes=200)
    assert caught.value.line is not None


def read_flapjack(genotype: bytes, genetic_map: bytes) -> tuple[FlapjackReader, list[np.ndarray]]:
    reader = FlapjackReader(genetic_map=read_flapjack_map(genetic_map), block_variants=2)
    for start in range(0, len(genotype), 7):  # fed in small pieces
        reader.feed(genotype[start : start + 7])
    reader.finish()
    calls = [b.calls.alleles for b in reader.blocks() if b.calls is not None]
    reader.close()
    return reader, calls


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.int8, st.tuples(st.integers(1, 7), st.integers(1, 5)), elements=st.integers(-1, 2))
)
def test_flapjack_export_reads_back_to_the_same_genotypes(dosages: np.ndarray) -> None:
    n_variants, n_samples = dosages.shape
    sites = snp_sites(n_variants)
    calls = from_dosages(dosages)
    samples = [f"L{j}" for j in range(n_samples)]

    async def chunks(
        columns: Sequence[int] | None,
    ) -> AsyncIterator[tuple[Sites, CallMatrix]]:
        yield sites, calls if columns is None else calls.columns(list(columns))

    async def collect() -> bytes:
        return b"".join([p async for p in flapjack_zip("x", samples, chunks, budget=12)])

    files = zipfile.ZipFile(io.BytesIO(asyncio.run(collect())))
    reader, read = read_flapjack(files.read("x.genotype"), files.read("x.map"))
    assert reader.samples == samples
    stored = np.concatenate(read)
    # Alleles are numbered in order of appearance, so compare the bases, not the indexes.
    assert stored.shape == (n_variants, n_samples, 2)
    read_bases = [[tuple(sorted(reader_bases(reader, v, stored[v, s]))) for s in range(n_samples)]
                  for v in range(n_variants)]  # fmt: skip
    expected = [[tuple(sorted({0: "AA", 1: "AG", 2: "GG", -1: "--"}[int(d)])) for d in row]
                for row in dosages]  # fmt: skip
    assert read_bases == expected


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.int8, st.tuples(st.integers(1, 6), st.integers(1, 4), st.just(4)),
           elements=st.integers(0, 2)),
    st.data(),
)  # fmt: skip
def test_a_tetraploid_flapjack_export_reads_back_to_the_same_calls(
    alleles: np.ndarray, data: st.DataObject
) -> None:
    """Export -> import is the identity for tetraploid calls (homozygotes, A/T/T/T, missing),
    and a sample of another ploidy in the same file keeps its own."""
    n_variants, n_samples, _ = alleles.shape
    missing = data.draw(arrays(np.bool_, (n_variants, n_samples)))
    alleles[missing] = MISSING
    alleles[0, :, :] = 0  # one call per sample is known, so its ploidy shows in the file
    diploid = np.full((n_variants, 1, 4), ABSENT, dtype=np.int8)
    diploid[:, :, :2] = 1
    stored_in = np.concatenate([alleles, diploid], axis=1)
    calls = CallMatrix(stored_in, np.zeros(stored_in.shape[:2], dtype=np.bool_), {})
    sites = Sites(
        ["1H"] * n_variants, list(range(1, n_variants + 1)), [f"m{v}" for v in range(n_variants)],
        ["A"] * n_variants, ["T,G"] * n_variants,
    )  # fmt: skip
    samples = [f"L{j}" for j in range(n_samples + 1)]

    async def chunks(columns: Sequence[int] | None) -> AsyncIterator[tuple[Sites, CallMatrix]]:
        yield sites, calls if columns is None else calls.columns(list(columns))

    async def collect() -> bytes:
        return b"".join([p async for p in flapjack_zip("x", samples, chunks, budget=12)])

    files = zipfile.ZipFile(io.BytesIO(asyncio.run(collect())))
    reader, read = read_flapjack(files.read("x.genotype"), files.read("x.map"))
    stored = np.concatenate(read)
    assert stored.shape == stored_in.shape
    bases = "ATG"
    for v in range(n_variants):
        for s in range(n_samples + 1):
            assert reader_bases(reader, v, stored[v, s]) == "".join(
                "" if a == ABSENT else "-" if a == MISSING else bases[a]
                for a in stored_in[v, s].tolist()
            )


def reader_bases(reader: FlapjackReader, variant: int, call: np.ndarray) -> str:
    alleles = reader.alleles(variant)  # the marker's alleles in order of appearance
    return "".join(
        "" if a == ABSENT else "-" if a == MISSING else alleles[a] for a in call.tolist()
    )


def test_flapjack_reads_a_hand_written_file_and_skips_unmapped_markers() -> None:
    genotype = b"# fjFile = GENOTYPE\n\tm1\tm2\tm3\nL1\tA\tT/C\t-\nL2\tA/G\tC\tG\nL3\t\tTT\tG/G\n"
    genetic_map = b"# fjFile = MAP\nm1\t1H\t100\nm3\t2H\t7\n"
    reader, calls = read_flapjack(genotype, genetic_map)
    assert reader.samples == ["L1", "L2", "L3"]
    assert reader.skipped == {"not_in_map": 1}
    stored = np.concatenate(calls)
    assert stored[0].tolist() == [[0, 0], [0, 1], [MISSING, MISSING]]
    assert stored[1].tolist() == [[MISSING, MISSING], [0, 0], [0, 0]]
    assert reader_bases(reader, 0, stored[0, 1]) == "AG"
    assert reader.alleles(1) == ["T", "C", "TT"]  # an allele is any text: "TT" is one


@pytest.mark.parametrize(
    ("genotype", "genetic_map", "where", "reason"),
    [
        (b"\tm1\nL1\tA\tG\n", b"m1\t1\t5\n", 2, "expected 2 tab-separated columns"),
        (b"\tm1\nL1\t" + b"/".join([b"A"] * 9) + b"\n", b"m1\t1\t5\n", 2, "more than 8 alleles"),
        (b"\tm1\nL1\tA//G\n", b"m1\t1\t5\n", 2, "an empty allele"),
        (b"\tm1\tm1\n", b"m1\t1\t5\n", 1, "unique"),
        (b"\tm1\nL1\tA\n", b"m1\t1\t5.2\n", 1, "whole number"),
        (b"\tm1\nL1\tA\n", "m1\t1\t\u00b2\n".encode(), 1, "whole number"),
        (b"\tm1\nL1\tA\n", b"m1\t1\t99999999999999999999\n", 1, "whole number"),
        (b"\tm1\nL1\tA\n", b"m1\t1\x00\t5\n", 1, "NUL"),
        (b"\tm1\nL\x001\tA\n", b"m1\t1\t5\n", 2, "NUL"),
        (b"\tm1\nL1\tA\n", b"m1\t1\n", 1, "3 columns"),
        (b"# only comments\n", b"m1\t1\t5\n", 1, "no marker line"),
    ],
)
def test_a_bad_flapjack_file_is_named(
    genotype: bytes, genetic_map: bytes, where: int, reason: str
) -> None:
    with pytest.raises(FormatError) as caught:
        read_flapjack(genotype, genetic_map)
    assert caught.value.line == where
    assert reason in str(caught.value)


def test_flapjack_bounds_line_length() -> None:
    reader = FlapjackReader(genetic_map=read_flapjack_map(b"m\t1\t1\n"), max_line_bytes=32)
    reader.feed(b"\tm\n")
    with pytest.raises(FormatError, match="longer than 32 bytes") as too_long:
        reader.feed(b"L" * 40)
    assert too_long.value.line == 2
