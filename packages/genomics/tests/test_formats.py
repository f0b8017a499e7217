"""VCF and PLINK readers against files written by hand, fed in arbitrary pieces."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import time
import tracemalloc
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from bijmantra.genomics.formats import BedDecoder, FormatError, VcfParser, read_bim, read_fam
from hypothesis import given, settings
from hypothesis import strategies as st

GT = {-1: "./.", 0: "0/0", 1: "1|0", 2: "1/1"}
PLINK = {2: 0b00, -1: 0b01, 1: 0b10, 0: 0b11}


def vcf(g: np.ndarray, fmt: str = "GT") -> bytes:
    header = "##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    header += "\t".join(f"s{j}" for j in range(g.shape[1])) + "\n"
    suffix = ":9" if fmt != "GT" else ""
    rows = [
        f"2\t{i + 1}\tv{i}\tC\tT\t.\t.\t.\t{fmt}\t" + "\t".join(GT[int(d)] + suffix for d in row)
        for i, row in enumerate(g)
    ]
    return (header + "\n".join(rows) + "\n").encode()


def parse(data: bytes, cuts: list[int], block_lines: int = 3) -> tuple[np.ndarray, VcfParser]:
    parser = VcfParser(block_lines=block_lines)
    blocks = []
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for lo, hi in itertools.pairwise(edges):
        blocks += parser.feed(data[lo:hi])
    blocks += parser.finish()
    return np.vstack([b.dosages for b in blocks]), parser


genotypes = st.tuples(st.integers(1, 12), st.integers(1, 9), st.integers(0, 2**31)).map(
    lambda a: np.random.default_rng(a[2]).integers(-1, 3, size=(a[0], a[1])).astype(np.int8)
)


@settings(max_examples=40, deadline=None)
@given(
    g=genotypes,
    cuts=st.lists(st.integers(0, 10**6), max_size=6),
    fmt=st.sampled_from(["GT", "GT:DP"]),
    zipped=st.booleans(),
)
def test_vcf_pieces_decode_to_the_written_matrix(
    g: np.ndarray, cuts: list[int], fmt: str, zipped: bool
) -> None:
    data = vcf(g, fmt)
    if zipped:
        data = gzip.compress(data[: len(data) // 2]) + gzip.compress(data[len(data) // 2 :])
    decoded, parser = parse(data, cuts)
    np.testing.assert_array_equal(decoded, g)
    assert parser.samples == [f"s{j}" for j in range(g.shape[1])]


def test_haploid_multiallelic_and_indel_sites_are_kept_and_sites_without_gt_counted() -> None:
    text = vcf(np.array([[0, 2]], dtype=np.int8)).decode()
    text += "2\t9\t.\tC\tT\t.\t.\t.\tGT\t1\t.\n"
    text += "2\t10\t.\tC\tT,G\t.\t.\t.\tGT\t0/1\t0/1\n2\t11\t.\tCA\tT\t.\t.\t.\tGT\t0/1\t0/1\n"
    text += "2\t12\t.\tC\tT\t.\t.\t.\tDP\t3\t4\n"
    decoded, parser = parse(text.encode(), [])
    # The dosage view: haploid calls count twice, a multi-allelic site is missing.
    np.testing.assert_array_equal(decoded, [[0, 2], [2, -1], [-1, -1], [1, 1]])
    assert parser.skipped == {"no_gt": 1}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("2\t5\t.\tC\tT\t.\t.\t.\tGT\t0/1", "line 4: expected 11 tab-separated columns, found 10"),
        ("2\tx5\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1", "line 4: POS must be a positive integer"),
        ("2\t5\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/3", "line 4: invalid genotype '1/3' for sample 's1'"),
        (
            "2\t5\t.\tC\tT\t.\t.\t.\tGT\t0/1\t0/11",
            "line 4: invalid genotype '0/11' for sample 's1'",
        ),
        ("#CHROM again", "line 4: header line after the #CHROM line"),
        ("2\t99999999999999999999\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1", "line 4: POS must be"),
        ("2\t5\tsn\x00p\tC\tT\t.\t.\t.\tGT\t0/1\t1/1", "line 4: NUL character"),
        ("2\xff\t5\t.\tC\tT\t.\t.\t.\tGT\t0/1\t1/1", "line 4: CHROM, ID, REF and ALT must"),
    ],
)
def test_malformed_lines_are_named(line: str, expected: str) -> None:
    data = vcf(np.zeros((1, 2), dtype=np.int8)) + line.encode("latin-1") + b"\n"
    with pytest.raises(FormatError) as raised:
        parse(data, [17])
    assert str(raised.value).startswith(expected)


def test_a_contig_length_int_cannot_read_is_an_unknown_length() -> None:
    header = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=\u00b2>\n"
    parser = VcfParser()
    parser.feed(header.encode() + vcf(np.zeros((1, 2), dtype=np.int8)).split(b"\n", 1)[1])
    parser.finish()
    assert parser.contigs == {"chr1": None}


def test_a_file_that_is_not_a_vcf_fails_on_line_one() -> None:
    with pytest.raises(FormatError, match=r"^line 1: not a VCF"):
        parse(b"chrom\tpos\n", [])
    with pytest.raises(FormatError, match="no #CHROM header"):
        parse(b"##fileformat=VCFv4.2\n", [])


@settings(max_examples=30, deadline=None)
@given(g=genotypes, cuts=st.lists(st.integers(0, 10**6), max_size=4))
def test_bed_decodes_to_the_written_matrix(g: np.ndarray, cuts: list[int]) -> None:
    n_variants, n_samples = g.shape
    bed = bytearray(b"\x6c\x1b\x01")
    for row in g:
        for start in range(0, n_samples, 4):
            bed.append(sum(PLINK[int(d)] << (2 * k) for k, d in enumerate(row[start : start + 4])))
    alleles = ["G\tA", "GA\tA"]  # the second kind is not a SNP and is skipped
    bim = read_bim(
        "".join(f"1\tv{i}\t0\t{i}\t{alleles[i % 5 == 4]}\n" for i in range(n_variants)).encode()
    )
    decoder = BedDecoder(bim, n_samples, block_variants=2)
    edges = [0, *sorted(c % (len(bed) + 1) for c in cuts), len(bed)]
    blocks = [b for lo, hi in itertools.pairwise(edges) for b in decoder.feed(bytes(bed[lo:hi]))]
    blocks += decoder.finish()
    kept = [i for i in range(n_variants) if i % 5 != 4]
    decoded = (
        np.vstack([b.dosages for b in blocks]) if blocks else np.empty((0, n_samples), np.int8)
    )
    np.testing.assert_array_equal(decoded, g[kept])
    assert bim.skipped.get("not_snp", 0) == n_variants - len(kept)


def test_plink_companions_name_their_bad_lines() -> None:
    with pytest.raises(FormatError, match=r"^\.fam line 2: expected 6 columns"):
        read_fam(b"F a 0 0 0 -9\nF b 0 0\n")
    with pytest.raises(FormatError, match=r"^\.bim line 1: position"):
        read_bim(b"1 v1 0 pos A G\n")
    for position in ("\u00b2", "9" * 20):  # int() refuses it; int64 cannot hold it
        with pytest.raises(FormatError, match=r"^\.bim line 1: position"):
            read_bim(f"1 v1 0 {position} A G\n".encode())
    with pytest.raises(FormatError, match=r"^\.fam line 1: NUL"):
        read_fam(b"F a\x00 0 0 0 -9\n")
    decoder = BedDecoder(read_bim(b"1 v1 0 1 A G\n"), 5)
    with pytest.raises(FormatError, match="bad magic"):
        decoder.feed(b"\x00\x00\x00\x00\x00")


def _peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    with contextlib.suppress(FormatError):
        action()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_a_gzip_bomb_is_refused_at_the_line_cap_without_inflating_it_whole() -> None:
    """64 MiB of one unterminated line in ~64 KB of gzip: refused at the line cap, and the
    parser never holds more than about the cap (not the inflated size)."""
    cap = 4 << 20
    bomb = gzip.compress(vcf(np.zeros((1, 2), np.int8)) + b"2\t1\t" + b"0" * (64 << 20))
    assert len(bomb) < 128 << 10
    with pytest.raises(FormatError, match="line longer than"):
        VcfParser(max_line_bytes=cap).feed(bomb)
    assert _peak(lambda: VcfParser(max_line_bytes=cap).feed(bomb)) < 3 * cap


def test_a_gzip_stream_cut_at_a_flush_point_is_refused() -> None:
    """A cut where the deflate stream was flushed inflates to whole lines: the first 40 of
    100 variants were read as the whole file (ADR 0358)."""
    text = vcf(np.ones((100, 3), np.int8))
    cut = text.index(b"\n2\t41\t") + 1
    first = text.index(b"\n2\t11\t") + 1
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    part = packer.compress(text[first:cut]) + packer.flush(zlib.Z_SYNC_FLUSH)
    cut_alone = zlib.compressobj(9, zlib.DEFLATED, 31)
    alone = cut_alone.compress(text[:cut]) + cut_alone.flush(zlib.Z_SYNC_FLUSH)
    for data in (alone, gzip.compress(text[:first]) + part):  # one member, or BGZF-like
        parser = VcfParser()
        with pytest.raises(FormatError, match="truncated gzip"):
            [*parser.feed(data), *parser.finish()]
    whole = VcfParser()
    assert sum(len(b) for b in [*whole.feed(gzip.compress(text)), *whole.finish()]) == 100


def test_decompressed_size_is_capped() -> None:
    data = gzip.compress(vcf(np.zeros((200, 4), np.int8)))
    with pytest.raises(FormatError, match="decompressed data exceeds 2000 bytes"):
        VcfParser(max_decompressed_bytes=2000).feed(data)
    whole = VcfParser(max_decompressed_bytes=len(gzip.decompress(data)))
    assert sum(len(b) for b in [*whole.feed(data), *whole.finish()]) == 200


def test_a_long_line_fed_in_small_pieces_costs_about_one_copy() -> None:
    """The unfinished line is joined once when it ends, not re-copied with every piece:
    8 MiB in 8 KiB pieces costs about what one piece of 8 MiB costs (a ratio, same run)."""
    head = b"##fileformat=VCFv4.3\n"
    line = b"##INFO=<ID=X,Description=" + b"x" * (8 << 20) + b">\n"

    def run(piece: int) -> float:
        parser = VcfParser()
        parser.feed(head)
        start = time.process_time()
        for lo in range(0, len(line), piece):
            parser.feed(line[lo : lo + piece])
        parser.feed(vcf(np.zeros((1, 2), np.int8)).split(b"\n", 1)[1])
        parser.finish()
        return time.process_time() - start

    whole = min(run(len(line)) for _ in range(2))
    pieces = min(run(8 << 10) for _ in range(2))
    assert pieces < 5 * whole + 0.05, (pieces, whole)
