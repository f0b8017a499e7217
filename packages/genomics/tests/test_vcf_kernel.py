"""The C VCF writer gives byte for byte the text of the Python reference writer, over
random call arrays of every kind the store keeps."""

from __future__ import annotations

import numpy as np
from bijmantra.genomics.calls import (
    ABSENT,
    FIELDS,
    MISSING,
    CallMatrix,
    from_dosages,
    genotype_text,
    n_alt_of,
)
from bijmantra.genomics.formats import FormatError, VcfParser
from bijmantra.genomics.writers import Sites, vcf_lines
from hypothesis import example, given, settings
from hypothesis import strategies as st
from vcf_reference import reference_vcf_lines

SPECIAL_VALUES = np.array(
    [0.0, -0.0, 1.0, -3.0, 0.5, 1e-8, 16777215.0, 16777216.0, 3.4e38, np.inf, -np.inf, 0.1],
    dtype=np.float32,
)


def random_calls(seed: int, n_variants: int, n_samples: int, ploidy: int) -> CallMatrix:
    """Multi-allelic sites (allele indexes up to 126), mixed ploidies up to ``ploidy``,
    whole and half missing calls, phase per call, and FORMAT values of every shape."""
    rng = np.random.default_rng(seed)
    top = int(rng.choice([1, 3, 12, 126]))
    alleles = rng.integers(0, top + 1, size=(n_variants, n_samples, ploidy)).astype(np.int8)
    alleles[rng.random(alleles.shape) < 0.15] = MISSING
    per_call = rng.choice(sorted({1, 2, ploidy}), size=(n_variants, n_samples))
    alleles[np.arange(ploidy)[None, None, :] >= per_call[..., None]] = ABSENT
    phased = rng.random((n_variants, n_samples)) < 0.5
    fields = {}
    for name in FIELDS:
        if rng.random() < 0.5:
            continue
        shape = (n_variants, n_samples)
        kind = int(rng.integers(0, 3))
        if kind == 0:
            values = rng.integers(0, 100, shape).astype(np.float32)
        elif kind == 1:
            values = (rng.random(shape) * 2).astype(np.float32)
        else:
            values = rng.choice(SPECIAL_VALUES, shape)
        values[rng.random(values.shape) < 0.2] = np.nan
        fields[name] = values.astype(np.float32)
    return CallMatrix(alleles, phased, fields)


def random_sites(seed: int, n_variants: int) -> Sites:
    rng = np.random.default_rng(seed)
    return Sites(
        [f"chr{rng.integers(1, 12)}" for _ in range(n_variants)],
        sorted(rng.integers(1, 10**9, n_variants).tolist()),
        [rng.choice(["", "rs1", "v\u00e9"]) for _ in range(n_variants)],
        ["A"] * n_variants,
        [rng.choice(["", "G", "G,T,AT"]) for _ in range(n_variants)],
    )


@settings(max_examples=120, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 12),
    st.integers(0, 9),
    st.sampled_from([1, 2, 4]),
)
@example(seed=0, n_variants=3, n_samples=0, ploidy=2)
def test_the_kernel_writes_what_the_python_writer_wrote(
    seed: int, n_variants: int, n_samples: int, ploidy: int
) -> None:
    calls = random_calls(seed, n_variants, n_samples, ploidy)
    sites = random_sites(seed, n_variants)
    assert vcf_lines(sites, calls) == reference_vcf_lines(sites, calls)


def test_every_allele_index_and_missing_pattern_of_a_tetraploid() -> None:
    values = np.array([-2, -1, 0, 1, 9, 10, 99, 100, 126], dtype=np.int8)
    grid = np.stack(np.meshgrid(values, values, values, values), axis=-1).reshape(1, -1, 4)
    calls = CallMatrix(grid, np.arange(grid.shape[1]).reshape(1, -1) % 2 == 0, {})
    sites = Sites(["1"], [7], [""], ["A"], ["C"])
    assert vcf_lines(sites, calls) == reference_vcf_lines(sites, calls)


CELLS = ["0/0", "0/1", "1/1", "./.", "1/0", "0|1", "1|1", "./1", "2/1", ".|.", "0/2"]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["G", "G,T", "."]),
            st.lists(st.sampled_from(CELLS), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=9,
    )
)
def test_gt_lines_decode_in_c_as_line_by_line_and_plain_blocks_keep_no_calls(
    lines: list[tuple[str, list[str]]],
) -> None:
    """Lines the C decoder takes and lines it hands back (an allele past the site's ALT
    alleles: a 422 from the line-by-line decoder) give the calls the text says."""
    head = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc\n"
    body = "".join(
        f"1\t{i + 1}\t.\tA\t{alt}\t.\t.\t.\tGT\t" + "\t".join(cells) + "\n"
        for i, (alt, cells) in enumerate(lines)
    )
    parser = VcfParser(block_lines=4)
    try:
        blocks = parser.feed((head + body).encode()) + parser.finish()
    except FormatError:
        assert any(
            int(allele) > (0 if alt == "." else alt.count(",") + 1)
            for alt, cells in lines
            for cell in cells
            for allele in cell.replace("|", "/").split("/")
            if allele != "."
        )
        return
    texts = []
    for block in blocks:
        calls = block.calls if block.calls is not None else from_dosages(block.dosages)
        texts += [
            [genotype_text(a, p) for a, p in zip(r, q, strict=True)]
            for r, q in zip(calls.alleles, calls.phased, strict=True)
        ]
        if block.calls is not None:
            assert np.array_equal(block.dosages, block.calls.dosages(n_alt_of(block.alt)))
    assert texts == [cells for _, cells in lines]
