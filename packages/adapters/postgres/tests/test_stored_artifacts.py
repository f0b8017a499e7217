"""The analysis store keeps a matrix its producer packed as sent, and refuses a false claim."""

from __future__ import annotations

import io

import numpy as np
import pytest
from bijmantra.adapters.postgres.analyses import NPY, _stored_artifact
from bijmantra.application.ports.analysis import Artifact
from bijmantra.genomics.symmetric import UPPER_TRIANGLE, pack_symmetric, packed_served_size
from bijmantra.kernel import ValidationFailed


def npy(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, matrix, allow_pickle=False)
    return buffer.getvalue()


def symmetric(n: int) -> np.ndarray:
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    return a @ a.T  # SYRK: bitwise symmetric, like a GRM


def test_a_matrix_its_producer_packed_is_stored_as_sent_and_served_whole() -> None:
    data = npy(symmetric(6))
    packed = pack_symmetric(data)
    assert packed is not None
    assert packed_served_size(packed) == len(data)
    stored = _stored_artifact(Artifact("grm.npy", NPY, packed, upper_triangle=True))
    assert stored == (UPPER_TRIANGLE, packed, len(data))


@pytest.mark.parametrize(
    "claimed",
    [
        npy(symmetric(6)),  # whole, not packed
        (pack_symmetric(npy(symmetric(6))) or b"")[:-4],  # one value short
        npy(np.arange(12, dtype=np.float64).reshape(3, 4))[:-8],  # not square
        b"\x89PNG\r\n\x1a\n...",  # not .npy at all
    ],
)
def test_a_claimed_packed_matrix_that_is_not_one_is_refused(claimed: bytes) -> None:
    assert packed_served_size(claimed) is None
    with pytest.raises(ValidationFailed, match="not a packed symmetric"):
        _stored_artifact(Artifact("grm.npy", NPY, claimed, upper_triangle=True))
