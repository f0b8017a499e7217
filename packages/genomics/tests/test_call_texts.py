"""The spelled call matrix (BrAPI ``dataMatrix``) against spelling every call one by one."""

from __future__ import annotations

import json

import numpy as np
from bijmantra.genomics import calls as c
from hypothesis import given
from hypothesis import strategies as st

_TEXT = st.text(st.characters(codec="utf-8"), max_size=3)
_STYLES = st.builds(c.TextStyle, _TEXT, _TEXT, _TEXT, st.booleans())


def _one_by_one(calls: c.CallMatrix, style: c.TextStyle) -> list[list[str]]:
    """The plain definition: each call spelled on its own."""
    return [
        [style.spell(alleles, phase) for alleles, phase in zip(row, phases, strict=True)]
        for row, phases in zip(calls.alleles.tolist(), calls.phased.tolist(), strict=True)
    ]


@given(
    seed=st.integers(0, 2**32 - 1),
    n_variants=st.integers(0, 9),
    n_samples=st.integers(0, 9),
    width=st.integers(1, 4),
    top=st.sampled_from([2, 11, 126]),
    style=_STYLES,
)
def test_the_spelled_matrix_and_its_json_say_each_call_as_spelling_it_alone(
    seed: int, n_variants: int, n_samples: int, width: int, top: int, style: c.TextStyle
) -> None:
    rng = np.random.default_rng(seed)
    alleles = rng.integers(-2, top + 1, (n_variants, n_samples, width)).astype(np.int8)
    phased = rng.random((n_variants, n_samples)) < 0.3
    calls = c.CallMatrix(alleles, phased, {})
    expected = _one_by_one(calls, style)
    assert c.genotype_texts(calls, style) == expected
    written = c.genotype_json(calls, style)
    assert written == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
    assert json.loads(written) == expected


def test_a_dosage_block_is_written_in_fixed_size_records() -> None:
    dosages = np.array([[-1, 0, 1, 2], [2, 2, 0, -1]], dtype=np.int8)
    written = c.from_dosages(dosages).texts_json("|", "/", ".", True)
    assert written == b'[["./.","0/0","0/1","1/1"],["1/1","1/1","0/0","./."]]'
