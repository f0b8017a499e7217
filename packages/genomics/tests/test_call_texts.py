"""The spelled call matrix (BrAPI ``dataMatrix``) against spelling every call one by one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from bijmantra.genomics import calls as c
from bijmantra.genomics._matrix_json import expand_codes
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
    coded = c.genotype_codes(calls, style)
    if n_variants * n_samples:
        assert coded is not None
        assert expand_codes(b"{", coded.codes, n_variants, n_samples, coded.tokens, b"}") == (
            b"{" + written + b"}"
        )


def test_past_256_distinct_calls_the_rows_are_joined_from_their_spellings() -> None:
    """One byte cannot name them all: no codes, and the JSON is still every call."""
    k = np.arange(40 * 40)
    alleles = np.stack([k % 127, k // 127], axis=1).reshape(40, 40, 2)
    calls = c.CallMatrix(alleles.astype(np.int8), np.zeros((40, 40), dtype=np.bool_), {})
    style = c.TextStyle()
    assert c.genotype_codes(calls, style) is None
    written = c.genotype_json(calls, style)
    assert json.loads(written) == _one_by_one(calls, style)


def test_codes_that_name_no_token_are_refused() -> None:
    with pytest.raises(ValueError, match="names no token"):
        expand_codes(b"", b"\x00\x02", 1, 2, [b'"a"', b'"b"'], b"")
    with pytest.raises(ValueError, match="do not fit"):
        expand_codes(b"", b"\x00", 1, 2, [b'"a"'], b"")


def test_a_dosage_block_is_written_in_fixed_size_records() -> None:
    dosages = np.array([[-1, 0, 1, 2], [2, 2, 0, -1]], dtype=np.int8)
    written = c.from_dosages(dosages).texts_json("|", "/", ".", True)
    assert written == b'[["./.","0/0","0/1","1/1"],["1/1","1/1","0/0","./."]]'
