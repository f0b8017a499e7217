"""Stored genotype chunks: 2-bit codes written now and zlib chunks of earlier imports."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from bijmantra.adapters.postgres.genotypes import decode, recode_chunk
from bijmantra.genomics.packing import pack_dosages, unpack_dosages

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
