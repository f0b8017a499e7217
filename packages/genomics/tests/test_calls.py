"""Genotype calls: a VCF's calls survive parsing and the stored payload exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from bijmantra.genomics import calls as c
from bijmantra.genomics.formats import FormatError, VcfParser
from bijmantra.testkit.vcf import random_vcf
from hypothesis import given, settings
from hypothesis import strategies as st


def parse(data: bytes) -> tuple[VcfParser, list]:
    parser = VcfParser(block_lines=5)
    blocks = parser.feed(data) + parser.finish()
    return parser, blocks


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n_variants=st.integers(1, 14), n_samples=st.integers(1, 7))
def test_every_call_of_a_random_vcf_survives_parsing_and_the_stored_payload(
    seed: int, n_variants: int, n_samples: int
) -> None:
    written = random_vcf(np.random.default_rng(seed), n_variants, n_samples)
    _, blocks = parse(written.text().encode())
    given = [b.calls if b.calls is not None else c.from_dosages(b.dosages) for b in blocks]
    stored = c.decode(c.encode(c.concat(given)))
    alt = [a for b in blocks for a in b.alt]
    assert alt == [",".join(s.alt) for s in written.sites]
    for v, site in enumerate(written.sites):
        for s, call in enumerate(site.calls):
            text = c.genotype_text(stored.alleles[v, s], bool(stored.phased[v, s]))
            assert text == call.gt, (v, s)
            for key in c.FIELDS:
                value = stored.fields[key][v, s] if key in stored.fields else math.nan
                expected = call.fields.get(key)
                if expected is None:
                    assert math.isnan(value)
                else:
                    assert value == np.float32(expected)


def test_the_dosage_view_counts_alt_copies_only_where_a_dosage_means_something() -> None:
    text = (
        "##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc\n"
        "1\t1\t.\tA\tG\t.\t.\t.\tGT\t0|1\t1\t./1\n"
        "1\t2\t.\tA\tG\t.\t.\t.\tGT\t0/0/1/1\t1/1\t.\n"
        "1\t3\t.\tA\tG,T\t.\t.\t.\tGT\t0/1\t0/0\t2/2\n"
    )
    _, blocks = parse(text.encode())
    np.testing.assert_array_equal(blocks[0].dosages, [[1, 2, -1], [-1, 2, -1], [-1, -1, -1]])
    assert blocks[0].calls.ploidy().tolist() == [[2, 1, 2], [4, 2, 1], [2, 2, 2]]


def test_chunks_the_dosages_say_everything_about_need_no_payload() -> None:
    d = np.array([[0, 1, 2, -1]], dtype=np.int8)
    assert c.said_by_dosages(c.from_dosages(d), d)
    phased = c.from_dosages(d)
    phased.phased[0, 1] = True
    assert not c.said_by_dosages(phased, d)
    flipped = c.from_dosages(d)
    flipped.alleles[0, 1] = [1, 0]  # "1/0" is kept as written, so it needs the payload
    assert not c.said_by_dosages(flipped, d)


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        ("0/2\t0/0", "line 3: invalid genotype '0/2' for sample 'a'"),
        ("0/1/0/1/0/1/0/1/0\t0/0", "ploidy at most 8"),
        ("0/x\t0/0", "invalid genotype '0/x'"),
        ("0/1:abc\t0/0:1", "line 3: DS 'abc' for sample 'a' is not a number"),
    ],
)
def test_bad_calls_name_their_line_and_sample(calls: str, message: str) -> None:
    fmt = "GT:DS" if ":" in calls else "GT"
    text = (
        "##fileformat=VCFv4.3\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n"
        f"1\t1\t.\tA\tG\t.\t.\t.\t{fmt}\t{calls}\n"
    )
    with pytest.raises(FormatError, match=message.replace("(", r"\(")):
        parse(text.encode())
