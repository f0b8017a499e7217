"""2-bit genotype codes: four dosages per byte, how the genotype store keeps its chunks.

A dosage needs two bits (0/1/2 and missing), so an int8 matrix packs 4:1 with no entropy
coder; decoding is a table look-up per byte, an order of magnitude faster than inflating
zlib and close to a memory copy. Layout: code = dosage + 1 (0 missing, 1..3 dosage 0..2),
each variant's row padded to whole bytes (``packed_width(n_samples)``), the first sample
of a byte in its low bits — PLINK .bed's shape with a simpler code table.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bijmantra.genomics import _kernels
from bijmantra.genomics import _validate as v
from numpy.typing import NDArray


def packed_width(n_samples: int) -> int:
    """Bytes per variant row for ``n_samples`` samples."""
    return -(-int(n_samples) // 4)


def pack_dosages(g: Any) -> NDArray[np.uint8]:
    """Pack an int8 ``(n_variants, n_samples)`` dosage matrix into 2-bit codes."""
    g = v.genotypes(g, check_values=False)
    out = np.empty((g.shape[0], packed_width(g.shape[1])), dtype=np.uint8)
    bad = _kernels.pack_codes(g, out)
    if bad:
        raise ValueError(f"g holds {bad} value(s) outside {{-1, 0, 1, 2}}")
    return out


def unpack_dosages(
    packed: Any, n_samples: int, out: NDArray[np.int8] | None = None
) -> NDArray[np.int8]:
    """Decode 2-bit codes (bytes or a uint8 array of ``n_variants`` rows) into int8 dosages.

    ``out`` (C-contiguous int8, ``(n_variants, n_samples)``) is filled in place when given,
    e.g. a slice of a preallocated matrix, so a reader assembles a matrix without copies.
    """
    width = packed_width(n_samples)
    codes = np.frombuffer(packed, dtype=np.uint8) if isinstance(packed, bytes) else packed
    codes = np.ascontiguousarray(codes, dtype=np.uint8)
    if width == 0 or codes.size % width:
        raise ValueError(f"{codes.size} bytes are not whole rows of {width} byte(s)")
    codes = codes.reshape(-1, width)
    shape = (codes.shape[0], int(n_samples))
    if out is None:
        out = np.empty(shape, dtype=np.int8)
    elif out.shape != shape or out.dtype != np.int8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous int8 array of shape {shape}")
    _kernels.unpack_codes(codes, out)
    return out
