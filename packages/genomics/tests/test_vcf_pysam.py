"""Our VCF export read back by an independent reader (pysam, i.e. htslib) agrees call by call:
alleles, missing alleles, ploidy, phase and the DS/GQ/DP values (issue 19)."""

from __future__ import annotations

import math

import numpy as np
import pysam
import pytest
from bijmantra.genomics.calls import ABSENT, MISSING, CallMatrix, concat, from_dosages
from bijmantra.genomics.formats import VariantBlock, VcfParser
from bijmantra.genomics.writers import Sites, vcf_header, vcf_lines
from bijmantra.testkit.vcf import random_vcf
from hypothesis import given, settings
from hypothesis import strategies as st


def _blocks(text: str) -> tuple[list[str], list[VariantBlock]]:
    parser = VcfParser(block_lines=5)
    blocks = parser.feed(text.encode()) + parser.finish()
    assert parser.samples is not None
    return parser.samples, blocks


def _exported(samples: list[str], blocks: list[VariantBlock]) -> str:
    """What the variant set export writes for these blocks."""
    return vcf_header(samples, "test") + "".join(
        vcf_lines(
            Sites(b.chrom, b.pos.tolist(), b.ids, b.ref, b.alt),
            b.calls if b.calls is not None else from_dosages(b.dosages),
        ).decode()
        for b in blocks
    )


def _expected_gt(alleles: np.ndarray) -> tuple[int | None, ...]:
    return tuple(None if a == MISSING else int(a) for a in alleles if a != ABSENT)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 25), st.integers(1, 8))
def test_pysam_reads_our_vcf_export_call_by_call(
    tmp_path_factory: pytest.TempPathFactory, seed: int, n_variants: int, n_samples: int
) -> None:
    written = random_vcf(np.random.default_rng(seed), n_variants, n_samples)
    samples, blocks = _blocks(written.text())
    calls: CallMatrix = concat(
        [b.calls if b.calls is not None else from_dosages(b.dosages) for b in blocks]
    )
    path = tmp_path_factory.mktemp("vcf") / "export.vcf"
    path.write_text(_exported(samples, blocks))

    with pysam.VariantFile(str(path)) as reader:
        assert list(reader.header.samples) == samples
        records = list(reader)
    assert [r.pos for r in records] == [p for b in blocks for p in b.pos.tolist()]
    for v, record in enumerate(records):
        for s, name in enumerate(samples):
            sample = record.samples[name]
            expected = _expected_gt(calls.alleles[v, s])
            assert sample["GT"] == expected, (v, s)
            if len(expected) > 1 and None not in expected:
                assert sample.phased == bool(calls.phased[v, s]), (v, s)
            for key, values in calls.fields.items():
                value = float(values[v, s])
                got = sample.get(key)
                if math.isnan(value):
                    assert got is None, (v, s, key)
                else:
                    assert got is not None, (v, s, key)
                    assert math.isclose(float(got), value, rel_tol=1e-6, abs_tol=1e-6), (v, s, key)
